package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** The fast CPU backend against the reference ops (the {@link BackendContract}), and its corrcoef's two paths. */
class FastCpuBackendTest extends BackendContract {
    static FastCpuBackend fast;

    @BeforeAll
    static void start() {
        fast = new FastCpuBackend(3); // more workers than this machine's cores: exercises uneven chunks
    }

    @AfterAll
    static void stop() {
        fast.close();
    }

    @Override
    Backend be() {
        return fast;
    }

    /** Rows with small means take the uncentred SSYRK path, rows with large means the centred recomputation. */
    @ParameterizedTest
    @CsvSource({"5,0.0", "300,0.5", "4099,1.0", "16384,0.3", "16384,1.9", "16384,30"})
    void corrcoefMatchesReferenceForRowsWithMeans(int d, double meanOverStd) {
        try (Arena a = Arena.ofShared()) {
            int b = 16;
            Tensor r = normal(a, rnd, DType.F32, b, d);
            for (long i = 0; i < r.numel(); i++) r.set(i, 0.1 * (r.get(i) + meanOverStd * ((i / d) % 2 == 0 ? 1 : -1)));
            assertArrayEquals(REF.corrcoef(r), fast.corrcoef(r), 2e-5);
        }
    }

    /**
     * Average pools whose windows tile the map (NAS-Bench-201's 2x2 stride-2 shortcut): the fast path
     * sums as the reference does, so both directions equal it to the bit, signed zeros and the
     * uncovered last row and column of odd maps included, in both precisions.
     */
    @ParameterizedTest
    @CsvSource({"2,3,32,32,2", "2,3,7,9,2", "1,4,9,10,3", "2,2,5,5,1", "1,2,1,1,1", "3,5,16,17,4"})
    void tiledAveragePoolEqualsTheReferenceToTheBit(int b, int c, int h, int w, int k) {
        for (DType t : DType.values()) {
            try (Arena a = Arena.ofShared()) {
                Tensor x = normal(a, rnd, t, b, c, h, w);
                for (long i = 0; i < x.numel(); i++) if (rnd.nextInt(10) == 0) x.set(i, rnd.nextBoolean() ? -0.0 : 0.0);
                int ho = out(h, k, k, 0), wo = out(w, k, k, 0);
                Tensor y = poisoned(a, t, b, c, ho, wo), y2 = Tensor.allocate(a, t, b, c, ho, wo);
                fast.avgPoolForward(x, k, k, 0, true, y);
                REF.avgPoolForward(x, k, k, 0, true, y2);
                assertBitsEqual(y2, y, t, "avgpool_forward");
                Tensor dx = poisoned(a, t, x.shape()), dx2 = Tensor.allocate(a, t, x.shape());
                fast.avgPoolBackward(y, k, k, 0, false, dx);
                REF.avgPoolBackward(y, k, k, 0, false, dx2);
                assertBitsEqual(dx2, dx, t, "avgpool_backward");
            }
        }
    }

    /**
     * The ReLU fused into a convolution (reluConvForward, convBackwardDataMasked) gives the bits of
     * the separate ops on every path: the direct kernel (3 x 3 and 5 x 5, stride 1, up to 64 output
     * channels), the GEMM per sample (1 x 1, stride 2, wide), fewer samples than workers, and Winograd;
     * inputs with signed zeros. Zeros where the mask is not positive.
     */
    @ParameterizedTest
    @CsvSource({"4,16,32,32,16,3,1,1,auto", "5,8,7,9,13,3,1,1,auto", "3,6,9,11,5,5,1,2,auto", "4,16,16,16,16,1,1,0,auto", "3,8,9,9,70,3,1,1,auto",
            "4,5,9,9,6,3,2,1,auto", "1,4,8,8,4,3,1,1,auto", "2,4,8,8,4,1,1,0,auto", "4,8,10,10,8,3,1,1,everywhere", "3,20,6,6,66,3,1,1,auto"})
    void reluFusedIntoAConvolutionGivesTheSeparateOpsBits(int b, int cin, int h, int w, int cout, int k, int stride, int pad, String winograd) {
        try (Arena a = Arena.ofShared(); FastCpuBackend be = new FastCpuBackend(3).winograd(FastCpuBackend.Winograd.valueOf(winograd.toUpperCase()))) {
            DType t = DType.F32;
            Tensor x = normal(a, rnd, t, b, cin, h, w), wt = normal(a, rnd, t, cout, cin, k, k);
            for (long i = 0; i < x.numel(); i++) if (rnd.nextInt(16) == 0) x.set(i, rnd.nextBoolean() ? -0.0 : 0.0);
            int ho = out(h, k, stride, pad), wo = out(w, k, stride, pad);
            Tensor r = Tensor.allocate(a, t, x.shape()), y = poisoned(a, t, b, cout, ho, wo), y2 = Tensor.allocate(a, t, b, cout, ho, wo);
            be.relu(x, r);
            be.convForward(r, wt, stride, pad, y2);
            be.reluConvForward(x, wt, stride, pad, y);
            assertBitsEqual(y2, y, t, "reluConvForward");
            Tensor dy = normal(a, rnd, t, b, cout, ho, wo), g = Tensor.allocate(a, t, x.shape());
            Tensor dx = poisoned(a, t, x.shape()), dx2 = Tensor.allocate(a, t, x.shape());
            be.convBackwardData(dy, wt, stride, pad, g);
            be.reluBackward(r, g, dx2);
            be.convBackwardDataMasked(dy, wt, stride, pad, x, dx);
            assertBitsEqual(dx2, dx, t, "convBackwardDataMasked");
            for (long i = 0; i < x.numel(); i++) if (!(x.get(i) > 0)) assertEquals(0L, Double.doubleToRawLongBits(dx.get(i)), "masked to +0 at " + i);
        }
    }

    private static void assertBitsEqual(Tensor want, Tensor got, DType t, String what) {
        for (long i = 0; i < want.numel(); i++) {
            if (t == DType.F32) assertEquals(Float.floatToIntBits((float) want.get(i)), Float.floatToIntBits((float) got.get(i)), what + " at " + i);
            else assertEquals(Double.doubleToLongBits(want.get(i)), Double.doubleToLongBits(got.get(i)), what + " at " + i);
        }
    }
}
