package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.opencl.OpenClBackend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.BeforeEach;

/**
 * The OpenCL backend's kernels against the reference ops (the {@link BackendContract}), and its
 * program cache. Skips, with the reason, where no OpenCL runtime exists; in CI, which installs
 * PoCL, a missing runtime fails.
 */
class OpenClBackendTest extends BackendContract {
    OpenClBackend cl;

    @BeforeEach
    void needsOpenCl() {
        cl = OpenClDevice.require();
    }

    @Override
    Backend be() {
        return cl;
    }

    /** Runs body with the convolution and Gram kernels in the shape the device would not pick (on PoCL: the GPU's tiles). */
    private void inOtherShape(Runnable body) {
        inShape(cl, cl.shape() == KernelBackend.Shape.ROWS ? KernelBackend.Shape.TILES : KernelBackend.Shape.ROWS, body);
    }

    /** Runs body with a device backend's kernels in the given shape, and with im2col chunks of {@code colsLimit} elements. */
    static void inShape(KernelBackend be, KernelBackend.Shape shape, long colsLimit, Runnable body) {
        KernelBackend.Shape own = be.shape();
        long ownLimit = be.colsLimit();
        be.shape(shape);
        be.colsLimit(colsLimit);
        try {
            body.run();
        } finally {
            be.shape(own);
            be.colsLimit(ownLimit);
        }
    }

    static void inShape(KernelBackend be, KernelBackend.Shape shape, Runnable body) {
        inShape(be, shape, be.colsLimit(), body);
    }

    /** The batched product that stands in for cuBLAS, against plain loops. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(DType.class)
    void gemmKernelMatchesPlainLoops(DType t) {
        GemmCheck.productsMatchPlainLoops(cl, t, rnd);
        cl.plainProducts(true);
        try {
            GemmCheck.productsMatchPlainLoops(cl, t, rnd);
        } finally {
            cl.plainProducts(false);
        }
    }

    /** A product whose matrices would reach past a buffer, or whose leading dimension is short, is refused before it runs (cuBLAS would not say). */
    @org.junit.jupiter.api.Test
    void gemmOperandsOutsideTheirBuffersAreRefused() {
        try (KernelBackend.Launch l = cl.new Launch(DType.F32)) {
            l.scratch(100, 4, null).scratch(100, 4, null).scratch(100, 4, null).drop();
            long a = l.handle(0), b = l.handle(1), c = l.handle(2);
            java.util.function.Function<KernelBackend.Operand, KernelBackend.Gemm> withC = oc -> new KernelBackend.Gemm(false, true, 10, 10, 10,
                    new KernelBackend.Operand(a, 0, 10, 0), new KernelBackend.Operand(b, 0, 10, 0), oc, 1, false);
            l.gemm(withC.apply(new KernelBackend.Operand(c, 0, 10, 0))); // 10 x 10 in 100 elements: fits
            String[][] refused = {
                    {"1", "10", "0", "gemm operand C: 1 matrices of 10 x 10 (leading dimension 10, offset 1, stride 0) reach element 100 of a buffer of 100"},
                    {"0", "9", "0", "gemm operand C: 1 matrices of 10 x 10 (leading dimension 9, offset 0, stride 0) reach element 90 of a buffer of 100"}};
            for (String[] r : refused) {
                IllegalStateException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class,
                        () -> l.gemm(withC.apply(new KernelBackend.Operand(c, Long.parseLong(r[0]), Integer.parseInt(r[1]), Long.parseLong(r[2])))));
                assertEquals(r[3], e.getMessage());
            }
            IllegalStateException two = org.junit.jupiter.api.Assertions.assertThrows(IllegalStateException.class, () -> l.gemm(new KernelBackend.Gemm(
                    false, false, 10, 10, 10, new KernelBackend.Operand(a, 0, 10, 100), new KernelBackend.Operand(b, 0, 10, 0),
                    new KernelBackend.Operand(c, 0, 10, 0), 2, false)));
            assertEquals("gemm operand A: 2 matrices of 10 x 10 (leading dimension 10, offset 0, stride 100) reach element 199 of a buffer of 100", two.getMessage());
            l.run();
        }
    }

    /**
     * The GEMM shape (CUDA's default: gradients through im2col, col2im and batched products) passes
     * the convolution contract, with the whole batch in one chunk and with one sample per chunk.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("convCases")
    void gemmShapeConvolutionsMatchTheReference(DType t, int b, int cin, int h, int w, int cout, int k, int stride, int pad) {
        inShape(cl, KernelBackend.Shape.GEMM, () -> convKernelsMatchTheReference(t, b, cin, h, w, cout, k, stride, pad));
        inShape(cl, KernelBackend.Shape.GEMM, 1, () -> convKernelsMatchTheReference(t, b, cin, h, w, cout, k, stride, pad));
    }

    /** The GEMM shape's batch norm: statistics and gradient sums by work groups (a device with fp64), planes shorter and longer than a group. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(DType.class)
    void gemmShapeBatchNormMatchesTheReference(DType t) {
        inShape(cl, KernelBackend.Shape.GEMM, () -> {
            batchNorm(t, 3, 5, 7, 3);
            batchNorm(t, 16, 4, 1, 1);
            batchNorm(t, 2, 3, 33, 31);
        });
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("correlationCases")
    void gemmShapeCorrelationMatchesTheReference(int b, int d) {
        inShape(cl, KernelBackend.Shape.GEMM, () -> correlationKernelsMatchTheReference(b, d));
        inShape(cl, KernelBackend.Shape.GEMM, this::deviceCorrelatorMatchesTheHostOne);
    }

    /** The kernels shaped for the other kind of device pass the same contract, so both shapes are tested wherever OpenCL runs. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("convCases")
    void otherShapesConvKernelsMatchTheReference(DType t, int b, int cin, int h, int w, int cout, int k, int stride, int pad) {
        inOtherShape(() -> convKernelsMatchTheReference(t, b, cin, h, w, cout, k, stride, pad));
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("poolCases")
    void otherShapesPoolKernelsMatchTheReference(int k, int stride, int pad, boolean includePad, int w) {
        inOtherShape(() -> poolKernelsMatchTheReference(k, stride, pad, includePad, w));
    }

    /** Average pooling in both shapes: the same sums in the same order, equal to the bit. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("poolCases")
    void bothShapesPoolTheSame(int k, int stride, int pad, boolean includePad, int w) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F32, 3, 2, 9, w);
            int ho = out(9, k, stride, pad), wo = out(w, k, stride, pad);
            Tensor y = Tensor.allocate(a, DType.F32, 3, 2, ho, wo), y2 = Tensor.allocate(a, DType.F32, 3, 2, ho, wo);
            Tensor dy = normal(a, rnd, DType.F32, 3, 2, ho, wo);
            Tensor dx = Tensor.allocate(a, DType.F32, x.shape()), dx2 = Tensor.allocate(a, DType.F32, x.shape());
            cl.avgPoolForward(x, k, stride, pad, includePad, y);
            cl.avgPoolBackward(dy, k, stride, pad, includePad, dx);
            inOtherShape(() -> {
                cl.avgPoolForward(x, k, stride, pad, includePad, y2);
                cl.avgPoolBackward(dy, k, stride, pad, includePad, dx2);
            });
            for (long i = 0; i < y.numel(); i++) assertEquals(y.get(i), y2.get(i), 0.0, "avgpool_forward element " + i);
            for (long i = 0; i < dx.numel(); i++) assertEquals(dx.get(i), dx2.get(i), 0.0, "avgpool_backward element " + i);
        }
    }

    /** Batch norm over 13 channels (one item of 8 and one of 5 by rows) in the other shape, then both shapes' outputs compared to the bit. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(DType.class)
    void bothShapesNormaliseTheSame(DType t) {
        inOtherShape(() -> batchNorm(t, 4, 13, 9, 7));
        try (Arena a = Arena.ofShared()) {
            int c = 13;
            Tensor x = normal(a, rnd, t, 4, c, 9, 7), g = normal(a, rnd, t, c), be = normal(a, rnd, t, c), dy = normal(a, rnd, t, x.shape());
            Tensor[] own = new Tensor[4], other = new Tensor[4];
            for (Tensor[] out : new Tensor[][] {own, other}) {
                out[0] = Tensor.allocate(a, t, x.shape());
                out[1] = Tensor.allocate(a, t, c);
                out[2] = Tensor.allocate(a, t, c);
                out[3] = Tensor.allocate(a, t, x.shape());
            }
            cl.batchNormForward(x, g, be, 1e-5, own[0], own[1], own[2]);
            cl.batchNormBackward(x, dy, g, own[1], own[2], own[3]);
            inOtherShape(() -> {
                cl.batchNormForward(x, g, be, 1e-5, other[0], other[1], other[2]);
                cl.batchNormBackward(x, dy, g, other[1], other[2], other[3]);
            });
            String[] names = {"bn output", "mean", "1/std", "bn input gradient"};
            for (int k = 0; k < 4; k++)
                for (long i = 0; i < own[k].numel(); i++) assertEquals(own[k].get(i), other[k].get(i), 0.0, names[k] + " element " + i);
        }
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("correlationCases")
    void otherShapesCorrelationKernelsMatchTheReference(int b, int d) {
        inOtherShape(() -> correlationKernelsMatchTheReference(b, d));
        inOtherShape(this::deviceCorrelatorMatchesTheHostOne);
    }

    /** Tiles and rows compute each output as the same compensated sum in the same order: equal to the bit, not only close. */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.MethodSource("convCases")
    void bothShapesComputeTheSameSums(DType t, int b, int cin, int h, int w, int cout, int k, int stride, int pad) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, t, b, cin, h, w), wt = normal(a, rnd, t, cout, cin, k, k);
            int ho = out(h, k, stride, pad), wo = out(w, k, stride, pad);
            Tensor dy = normal(a, rnd, t, b, cout, ho, wo);
            Tensor y = Tensor.allocate(a, t, b, cout, ho, wo), y2 = Tensor.allocate(a, t, b, cout, ho, wo);
            Tensor dx = Tensor.allocate(a, t, x.shape()), dx2 = Tensor.allocate(a, t, x.shape());
            Tensor dw = Tensor.allocate(a, t, wt.shape()), dw2 = Tensor.allocate(a, t, wt.shape());
            cl.convForward(x, wt, stride, pad, y);
            cl.convBackwardData(dy, wt, stride, pad, dx);
            cl.convBackwardWeight(x, dy, stride, pad, dw);
            inOtherShape(() -> {
                cl.convForward(x, wt, stride, pad, y2);
                cl.convBackwardData(dy, wt, stride, pad, dx2);
                cl.convBackwardWeight(x, dy, stride, pad, dw2);
            });
            for (long i = 0; i < dw.numel(); i++) assertEquals(dw.get(i), dw2.get(i), 0.0, "conv_backward_weight element " + i);
            for (long i = 0; i < y.numel(); i++) assertEquals(y.get(i), y2.get(i), 0.0, "conv_forward element " + i);
            for (long i = 0; i < dx.numel(); i++) assertEquals(dx.get(i), dx2.get(i), 0.0, "conv_backward_data element " + i);
            int rows = 3 + rnd.nextInt(70);
            Tensor r = normal(a, rnd, DType.F32, rows, 1 + rnd.nextInt(600));
            double[] own = cl.corrcoef(r);
            double[][] other = new double[1][];
            inOtherShape(() -> other[0] = cl.corrcoef(r));
            org.junit.jupiter.api.Assertions.assertArrayEquals(own, other[0], 0.0, "correlation of a " + rows + "-row response");
        }
    }

    /** The second start loads the device binaries the first one stored, and they compute the same. */
    @org.junit.jupiter.api.Test
    void programBinariesAreCachedAndReused(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir) throws Exception {
        String before = System.getProperty("wrcor.cache");
        System.setProperty("wrcor.cache", dir.toString());
        try {
            try (OpenClBackend first = OpenClBackend.open()) {
                assertTrue(first.name().startsWith("opencl"));
            }
            java.nio.file.Path cache = dir.resolve("opencl");
            long entries;
            try (var s = java.nio.file.Files.list(cache)) {
                entries = s.filter(p -> p.toString().endsWith(".bin")).count();
            }
            assertTrue(entries >= 1, "binaries stored in " + cache);
            java.nio.file.attribute.FileTime stamp;
            try (var s = java.nio.file.Files.list(cache)) {
                stamp = java.nio.file.Files.getLastModifiedTime(s.findFirst().orElseThrow());
            }
            try (OpenClBackend second = OpenClBackend.open(); Arena a = Arena.ofShared()) {
                Tensor x = normal(a, rnd, DType.F32, 1, 33), o = poisoned(a, DType.F32, 1, 33), o2 = Tensor.allocate(a, DType.F32, 1, 33);
                second.relu(x, o);
                REF.relu(x, o2);
                assertClose(o, o2, DType.F32, "relu from cached binaries");
            }
            try (var s = java.nio.file.Files.list(cache)) {
                assertEquals(entries, s.filter(p -> p.toString().endsWith(".bin")).count(), "no new entries on the second start");
            }
            try (var s = java.nio.file.Files.list(cache)) {
                assertEquals(stamp, java.nio.file.Files.getLastModifiedTime(s.findFirst().orElseThrow()), "entries are not rewritten");
            }
        } finally {
            if (before == null) System.clearProperty("wrcor.cache");
            else System.setProperty("wrcor.cache", before);
        }
    }
}
