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
