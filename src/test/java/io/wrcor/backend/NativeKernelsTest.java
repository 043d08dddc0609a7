package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.cpu.NativeKernels;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The native CPU kernels (native/cpu_kernels.c): present where the build had a C compiler (required
 * in CI, whose script installs one), equal to a plain loop, bounds-checked before any native read,
 * and the fast backend's depthwise convolution with them equal to its BLAS form on random inputs.
 */
class NativeKernelsTest {
    final SplittableRandom rnd = new SplittableRandom(20261129);
    NativeKernels nk;

    @BeforeEach
    void load() {
        nk = NativeKernels.get();
        if (nk == null) {
            String why = "native CPU kernels unavailable: " + NativeKernels.failure();
            if ("true".equals(System.getenv("CI"))) throw new AssertionError(why);
            Assumptions.abort(why);
        }
    }

    @ParameterizedTest
    @CsvSource({"1,1", "7,9", "64,25", "71,49", "200,3", "1000,9"})
    void multiTapEqualsAPlainLoop(int n, int taps) {
        int span = 50;
        float[] w = new float[taps], src = new float[n + span], dst = new float[n + 5], want = new float[n];
        int[] off = new int[taps];
        for (int t = 0; t < taps; t++) {
            w[t] = (float) rnd.nextGaussian();
            off[t] = rnd.nextInt(span + 1);
        }
        for (int i = 0; i < src.length; i++) src[i] = (float) rnd.nextGaussian();
        dst[0] = dst[1] = 42f;
        double scale = 0;
        for (int j = 0; j < n; j++) {
            double a = 0;
            for (int t = 0; t < taps; t++) a += (double) w[t] * src[off[t] + j];
            want[j] = (float) a;
            scale = Math.max(scale, Math.abs(a));
        }
        nk.multiTap(n, taps, w, off, src, dst, 2);
        assertEquals(42f, dst[0]);
        assertEquals(42f, dst[1]);
        for (int j = 0; j < n; j++) assertEquals(want[j], dst[2 + j], 1e-5 * Math.max(1, scale) * taps, "output " + j);
        for (int j = n + 2; j < dst.length; j++) assertEquals(0f, dst[j], "past the outputs");
    }

    @Test
    void multiTapRefusesReadsAndWritesOutsideItsArrays() {
        float[] w = {1, 2}, src = new float[10], dst = new float[10];
        assertThrows(IndexOutOfBoundsException.class, () -> nk.multiTap(8, 2, w, new int[]{0, 3}, src, dst, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> nk.multiTap(4, 2, w, new int[]{0, -1}, src, dst, 0));
        assertThrows(IndexOutOfBoundsException.class, () -> nk.multiTap(4, 2, w, new int[]{0, 1}, src, dst, 7));
        assertThrows(IndexOutOfBoundsException.class, () -> nk.multiTap(4, 3, w, new int[]{0, 1, 2}, src, dst, 0));
    }

    @Test
    void batchNormKernelsRefuseSpansOutsideTheirSegments() {
        try (Arena a = Arena.ofConfined()) {
            var x = a.allocate(4 * 100);
            double[] out = new double[2];
            var p = new NativeKernels.Planes(3, 40, 20); // planes at 0, 40, 80: the last ends at float 100
            nk.bnStats(p, x, 0, out);
            assertThrows(IndexOutOfBoundsException.class, () -> nk.bnStats(p, x, 1, out));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.bnApply(p, x, a.allocate(4 * 99), 0, 1f, 0f, false));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.bnGradSums(p, x, a.allocate(4 * 50), x, 0, 0f, out));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.bnGradApply(p, x, null, x, -1, 0f, 1f, 0f, 0f, x));
            assertThrows(IllegalArgumentException.class, () -> new NativeKernels.Planes(2, 10, 20));
        }
    }

    /** The fused ReLU is Java's Math.max(v, 0f) to the bit: NaN stays, -0 and negatives become +0; its mask passes NaN's gradient. */
    @Test
    void batchNormReluMatchesMathMaxBitForBit() {
        float[] v = {1.5f, -2f, -0f, 0f, Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, 3e-39f, -3e-39f};
        try (Arena a = Arena.ofConfined()) {
            int n = 40; // the first 32 through the vector loop, the rest through the scalar tail
            var x = a.allocate(4L * n);
            var y = a.allocate(4L * n);
            for (int i = 0; i < n; i++) x.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, v[i % v.length]);
            nk.bnApply(new NativeKernels.Planes(1, n, n), x, y, 0, 1f, 0f, true);
            for (int i = 0; i < n; i++) {
                float want = Math.max(v[i % v.length], 0f), got = y.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i);
                assertEquals(Float.floatToRawIntBits(want), Float.floatToRawIntBits(got), "element " + i + " of relu(" + v[i % v.length] + ")");
            }
            // gradient 1 everywhere, masked by y: sum = number of elements that pass
            var ones = a.allocate(4L * n);
            for (int i = 0; i < n; i++) ones.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, 1f);
            double[] out = new double[2];
            nk.bnGradSums(new NativeKernels.Planes(1, n, n), ones, y, x.fill((byte) 0), 0, 0f, out);
            int pass = 0;
            for (int i = 0; i < n; i++) if (Float.floatToRawIntBits(y.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i)) > 0) pass++;
            assertEquals(pass, out[0]);
        }
    }

    /**
     * The native batch norm computes the Java loops' sums in their order, so the two forms agree to
     * the bit: forward (with and without the fused ReLU), backward, and backward through the ReLU's
     * mask against the Java ReLU backward followed by the Java BN backward. Plane sizes cover the
     * vector loops' remainders and an odd batch the side-by-side planes' remainder.
     */
    @ParameterizedTest
    @CsvSource({"5,3,9,9", "4,2,1,1", "3,4,33,31", "7,2,2,3", "2,3,56,56"})
    void batchNormWithNativeKernelsEqualsTheJavaLoopsBitForBit(int b, int c, int h, int w) {
        try (Arena a = Arena.ofShared(); FastCpuBackend fast = new FastCpuBackend(2, true); FastCpuBackend java = new FastCpuBackend(2, false)) {
            assertTrue(fast.fusesReluBackward(DType.F32) && !java.fusesReluBackward(DType.F32));
            Tensor x = normal(a, rnd, DType.F32, b, c, h, w), g = normal(a, rnd, DType.F32, c), be = normal(a, rnd, DType.F32, c);
            for (long i = 0; i < x.numel(); i++) x.set(i, 0.7 + 3 * x.get(i));
            Tensor dy = normal(a, rnd, DType.F32, b, c, h, w);
            for (boolean relu : new boolean[]{false, true}) {
                Tensor y1 = Tensor.allocate(a, DType.F32, x.shape()), y2 = Tensor.allocate(a, DType.F32, x.shape());
                Tensor m1 = Tensor.allocate(a, DType.F64, c), s1 = Tensor.allocate(a, DType.F64, c);
                Tensor m2 = Tensor.allocate(a, DType.F64, c), s2 = Tensor.allocate(a, DType.F64, c);
                if (relu) {
                    fast.batchNormReluForward(x, g, be, 1e-3, y1, m1, s1);
                    java.batchNormReluForward(x, g, be, 1e-3, y2, m2, s2);
                } else {
                    fast.batchNormForward(x, g, be, 1e-3, y1, m1, s1);
                    java.batchNormForward(x, g, be, 1e-3, y2, m2, s2);
                }
                assertBitsEqual(m2, m1, "mean");
                assertBitsEqual(s2, s1, "1/std");
                assertBitsEqual(y2, y1, relu ? "relu(bn(x))" : "bn(x)");
                Tensor dx1 = Tensor.allocate(a, DType.F32, x.shape()), dx2 = Tensor.allocate(a, DType.F32, x.shape());
                if (relu) {
                    Tensor dr = Tensor.allocate(a, DType.F32, x.shape());
                    fast.batchNormReluBackward(x, y1, dy, g, m1, s1, dx1);
                    java.reluBackward(y2, dy, dr);
                    java.batchNormBackward(x, dr, g, m2, s2, dx2);
                } else {
                    fast.batchNormBackward(x, dy, g, m1, s1, dx1);
                    java.batchNormBackward(x, dy, g, m2, s2, dx2);
                }
                assertBitsEqual(dx2, dx1, relu ? "bn backward through the relu mask" : "bn backward");
            }
        }
    }

    /** The average pool of NAS-Bench-201's cells, forward and backward, both count modes: the native kernel equals the Java loops to the bit. */
    @ParameterizedTest
    @CsvSource({"2,3,32,32", "3,5,2,2", "2,4,7,13", "1,2,16,3", "4,16,8,8"})
    void cellAveragePoolWithNativeKernelsEqualsTheJavaLoopsBitForBit(int b, int c, int h, int w) {
        try (Arena a = Arena.ofShared(); FastCpuBackend fast = new FastCpuBackend(2, true); FastCpuBackend java = new FastCpuBackend(2, false)) {
            Tensor x = normal(a, rnd, DType.F32, b, c, h, w);
            for (boolean includePad : new boolean[] {true, false}) {
                Tensor y1 = Tensor.allocate(a, DType.F32, b, c, h, w), y2 = Tensor.allocate(a, DType.F32, b, c, h, w);
                fast.avgPoolForward(x, 3, 1, 1, includePad, y1);
                java.avgPoolForward(x, 3, 1, 1, includePad, y2);
                assertBitsEqual(y2, y1, "avg pool forward, count_include_pad " + includePad);
                fast.avgPoolBackward(x, 3, 1, 1, includePad, y1);
                java.avgPoolBackward(x, 3, 1, 1, includePad, y2);
                assertBitsEqual(y2, y1, "avg pool backward, count_include_pad " + includePad);
            }
        }
    }

    /**
     * Convolutions with the native kernels against the Java loops: through the native im2col and
     * col2im, the same GEMM inputs and the same col2im sums, so the same outputs to the bit; through
     * the direct kernel (stride 1, k > 1, at most 64 output channels), another summation order, so
     * within float32 rounding of the sums' magnitude; through Winograd F(2x2, 3x3) (3 x 3, stride 1,
     * padding 1, at least 16 input channels, more than 64 output channels), likewise. Odd sizes, stride 2, 1x1 maps, no padding,
     * 'same' and other paddings (the data gradient of a 'same' stride-1 conv runs as a forward conv
     * with cin output channels).
     */
    @ParameterizedTest
    @CsvSource({"4,3,8,9,9,3,1,1", "3,5,4,7,6,3,2,1", "2,16,8,1,1,3,1,1", "2,3,6,11,13,5,2,2", "3,4,4,10,10,1,2,0", "2,6,5,8,8,3,1,0",
            "4,2,3,15,15,7,2,3", "2,8,8,32,32,3,1,1", "2,80,70,8,8,3,1,1", "2,16,65,9,7,3,1,1", "3,7,13,5,19,5,1,2",
            "3,128,128,8,8,3,1,1", "5,16,72,1,1,3,1,1", "4,20,66,7,5,3,1,1", "40,16,65,8,8,3,1,1", "2,70,16,6,6,3,1,1", "2,66,80,3,2,3,1,1"})
    void convolutionsWithNativeIm2colEqualTheJavaLoopsBitForBit(int b, int cin, int cout, int h, int w, int k, int stride, int pad) {
        try (Arena a = Arena.ofShared(); FastCpuBackend fast = new FastCpuBackend(2, true); FastCpuBackend java = new FastCpuBackend(2, false)) {
            int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
            Tensor x = normal(a, rnd, DType.F32, b, cin, h, w), wt = normal(a, rnd, DType.F32, cout, cin, k, k);
            Tensor dy = normal(a, rnd, DType.F32, b, cout, ho, wo);
            Tensor y1 = Tensor.allocate(a, DType.F32, b, cout, ho, wo), y2 = Tensor.allocate(a, DType.F32, b, cout, ho, wo);
            fast.convForward(x, wt, stride, pad, y1);
            java.convForward(x, wt, stride, pad, y2);
            boolean direct = stride == 1 && k > 1 && k <= 8, winograd = k == 3 && stride == 1 && pad == 1;
            assertConvEqual(y2, y1, direct && cout <= 64 || winograd && cin >= 16, "conv forward");
            Tensor dx1 = Tensor.allocate(a, DType.F32, x.shape()), dx2 = Tensor.allocate(a, DType.F32, x.shape());
            fast.convBackwardData(dy, wt, stride, pad, dx1);
            java.convBackwardData(dy, wt, stride, pad, dx2);
            assertConvEqual(dx2, dx1, direct && cin <= 64 && 2 * pad == k - 1 || winograd && cout >= 16, "conv data gradient");
            Tensor dw1 = Tensor.allocate(a, DType.F32, wt.shape()), dw2 = Tensor.allocate(a, DType.F32, wt.shape());
            fast.convBackwardWeight(x, dy, stride, pad, dw1);
            java.convBackwardWeight(x, dy, stride, pad, dw2);
            assertBitsEqual(dw2, dw1, "conv weight gradient");
        }
    }

    /**
     * Winograd F(2x2, 3x3) against a float64 sum of the plain definition (odd sizes, 1 x 1 and 1 x n
     * maps, channel counts off the vector width, several groups of samples), and the same bits
     * whatever the number of worker threads (groups of samples are fixed by the shape alone).
     */
    @ParameterizedTest
    @CsvSource({"3,16,65,1,1", "2,17,70,1,6", "3,19,67,5,3", "40,16,72,8,8", "2,33,129,32,32", "9,24,65,11,9"})
    void winogradMatchesAFloat64ConvolutionAndIgnoresTheThreadCount(int b, int cin, int cout, int h, int w) {
        try (Arena a = Arena.ofShared(); FastCpuBackend two = new FastCpuBackend(2, true); FastCpuBackend one = new FastCpuBackend(1, true)) {
            Tensor x = normal(a, rnd, DType.F32, b, cin, h, w), wt = normal(a, rnd, DType.F32, cout, cin, 3, 3);
            Tensor y1 = Tensor.allocate(a, DType.F32, b, cout, h, w), y2 = Tensor.allocate(a, DType.F32, b, cout, h, w);
            two.convForward(x, wt, 1, 1, y2);
            one.convForward(x, wt, 1, 1, y1);
            assertBitsEqual(y1, y2, "1 thread against 2");
            // the reference backend's convolution of the same values in float64: the plain definition, summed in double
            Tensor x64 = Tensor.allocate(a, DType.F64, x.shape()), w64 = Tensor.allocate(a, DType.F64, wt.shape()), want = Tensor.allocate(a, DType.F64, y2.shape());
            x64.copyFrom(x);
            w64.copyFrom(wt);
            new io.wrcor.backend.cpu.ReferenceBackend().convForward(x64, w64, 1, 1, want);
            double scale = 0, worst = 0;
            for (long i = 0; i < want.numel(); i++) {
                scale = Math.max(scale, Math.abs(want.get(i)));
                worst = Math.max(worst, Math.abs(y2.get(i) - want.get(i)));
            }
            assertTrue(worst <= 2e-6 * scale, "Winograd's largest error " + worst + " against float64, outputs up to " + scale);
        }
    }

    @Test
    void winogradAndFlipKernelsRefuseSpansOutsideTheirSegments() {
        try (Arena a = Arena.ofConfined()) {
            java.lang.foreign.MemorySegment x = a.allocate(4L * 2 * 3 * 4 * 4), v = a.allocate(64L * 3 * 2 * 4), sc = a.allocate(4 * NativeKernels.winogradScratchFloats(4, 4));
            nk.winogradInput(2, 3, 4, 4, x, v, sc); // fits exactly
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradInput(3, 3, 4, 4, x, v, sc));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradInput(2, 3, 4, 4, x, v.asSlice(4), sc));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradInput(2, 3, 4, 4, x, v, sc.asSlice(4)));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradOutput(2, 3, 4, 4, v, x.asSlice(4), sc));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradOutput(2, 4, 4, 4, v, x, sc));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradWeights(4, 3, a.allocate(36L * 12 - 4), a.allocate(64L * 12)));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.winogradWeights(4, 3, a.allocate(36L * 12), a.allocate(64L * 12 - 4)));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.flip(4, 3, 3, a.allocate(36L * 12 - 4), a.allocate(36L * 12)));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.flip(4, 3, 3, a.allocate(36L * 12), a.allocate(36L * 12 - 4)));
        }
    }

    /** Bit for bit, or (another summation order) within 1e-5 of the largest magnitude. */
    private static void assertConvEqual(Tensor want, Tensor got, boolean otherOrder, String what) {
        if (!otherOrder) {
            assertBitsEqual(want, got, what);
            return;
        }
        double scale = 0;
        for (long i = 0; i < want.numel(); i++) scale = Math.max(scale, Math.abs(want.get(i)));
        for (long i = 0; i < want.numel(); i++) {
            assertEquals(want.get(i), got.get(i), 1e-5 * scale, what + " (direct or Winograd) at " + i);
        }
    }

    @Test
    void poolKernelsRefuseSpansOutsideTheirSegments() {
        try (Arena a = Arena.ofConfined()) {
            java.lang.foreign.MemorySegment x = a.allocate(4 * 2 * 16), y = a.allocate(4 * 16);
            assertThrows(IndexOutOfBoundsException.class, () -> nk.box3(0, 3, 4, 4, x, x, new float[16], false, new float[32]));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.box3(0, 2, 4, 4, x, y, new float[16], false, new float[32]));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.maxPool(0, 3, 4, 4, 3, 1, 1, 4, 4, x, x, null, null, null));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.maxPool(0, 2, 4, 4, 3, 1, 1, 4, 4, x, y, null, null, null));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.maxPool(0, 1, 4, 4, 3, 1, 1, 4, 4, x, null, y, x, a.allocate(8)));
            NativeKernels.Conv g = new NativeKernels.Conv(2, 4, 4, 3, 1, 1, 4, 4); // col: 2 * 9 * 16 floats
            assertThrows(IndexOutOfBoundsException.class, () -> nk.im2col(g, x, a.allocate(4 * 2 * 9 * 16 - 4)));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.im2col(g, y, a.allocate(4 * 2 * 9 * 16)));
            assertThrows(IndexOutOfBoundsException.class, () -> nk.col2im(g, a.allocate(4 * 2 * 9 * 16), x, a.allocate(4 * 35)));
            assertThrows(IllegalArgumentException.class, () -> new NativeKernels.Conv(2, 4, 4, 3, 1, 0, 4, 4));
        }
    }

    private static void assertBitsEqual(Tensor want, Tensor got, String what) {
        for (long i = 0; i < want.numel(); i++) {
            assertEquals(Double.doubleToRawLongBits(want.get(i)), Double.doubleToRawLongBits(got.get(i)),
                    what + ": element " + i + " is " + got.get(i) + ", the Java loops give " + want.get(i));
        }
    }

    /** Batch 9: stacks of small planes with a partial last stack; stride 2 gathers phase by phase. */
    @ParameterizedTest
    @CsvSource({"9,5,14,14,3,1", "9,4,13,11,5,1", "3,3,23,23,7,1", "9,5,14,14,3,2", "4,3,17,16,5,2", "3,2,29,29,7,2", "2,3,60,60,3,1"})
    void depthwiseWithNativeKernelsEqualsItsBlasForm(int b, int c, int h, int w, int k, int stride) {
        int pad = k / 2, ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
        try (Arena a = Arena.ofShared(); FastCpuBackend fast = new FastCpuBackend(2, true); FastCpuBackend blas = new FastCpuBackend(2, false)) {
            assertTrue(fast.name().contains("native kernels"), fast.name());
            Tensor x = normal(a, rnd, DType.F32, b, c, h, w), wt = normal(a, rnd, DType.F32, c, 1, k, k), dy = normal(a, rnd, DType.F32, b, c, ho, wo);
            Tensor y1 = Tensor.allocate(a, DType.F32, b, c, ho, wo), y2 = Tensor.allocate(a, DType.F32, b, c, ho, wo);
            fast.depthwiseForward(x, wt, stride, pad, y1);
            blas.depthwiseForward(x, wt, stride, pad, y2);
            BackendContract.assertClose(y1, y2, 1e-6, "depthwise forward, native against BLAS");
            Tensor dx1 = Tensor.allocate(a, DType.F32, b, c, h, w), dx2 = Tensor.allocate(a, DType.F32, b, c, h, w);
            dx1.fill(Double.NaN);
            fast.depthwiseBackwardData(dy, wt, stride, pad, dx1);
            blas.depthwiseBackwardData(dy, wt, stride, pad, dx2);
            BackendContract.assertClose(dx1, dx2, 1e-6, "depthwise data gradient, native against BLAS");
        }
    }
}
