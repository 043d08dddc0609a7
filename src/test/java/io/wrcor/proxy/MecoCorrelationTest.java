package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * meco's per-module term against the plain computation (the correlation matrix written out, every
 * eigenvalue by Jacobi rotations) on fresh random values: full-rank maps, rank-deficient ones (more
 * channels than positions, constant channels) where the fast path answers 0 without an
 * eigensolver, and a batch whose first sample alone counts; the dot products by plain loops and by
 * OpenBLAS's dgemm.
 */
class MecoCorrelationTest {
    /** The plain computation on sample 0: torch.corrcoef, NaN entries zeroed, clipped to [-1, 1]; the smallest eigenvalue. */
    static double plain(double[] x, int c, int hw) {
        double[] r = new double[c * c];
        for (int i = 0; i < c; i++)
            for (int j = 0; j < c; j++) {
                double mi = 0, mj = 0;
                for (int k = 0; k < hw; k++) {
                    mi += x[i * hw + k];
                    mj += x[j * hw + k];
                }
                mi /= hw;
                mj /= hw;
                double sij = 0, sii = 0, sjj = 0;
                for (int k = 0; k < hw; k++) {
                    double a = x[i * hw + k] - mi, b = x[j * hw + k] - mj;
                    sij += a * b;
                    sii += a * a;
                    sjj += b * b;
                }
                double v = sij / Math.sqrt(sii * sjj);
                r[i * c + j] = Double.isNaN(v) ? 0 : Math.max(-1, Math.min(1, v));
            }
        double min = Double.POSITIVE_INFINITY;
        for (double e : LinAlg.symmetricEigenvaluesJacobi(r, c)) min = Math.min(min, e);
        return min;
    }

    @Test
    void theFastTermMatchesThePlainOneOnFreshRandomMaps() {
        SplittableRandom rnd = new SplittableRandom(2026);
        io.wrcor.backend.cpu.OpenBlas blas = io.wrcor.backend.cpu.OpenBlas.get();
        // the dgemm path runs wherever the cpu backend does (CI included); the loops everywhere
        if (blas == null && System.getenv("CI") != null) throw new AssertionError("OpenBLAS did not load: " + io.wrcor.backend.cpu.OpenBlas.failure());
        int fastZeros = 0, full = 0;
        try (Arena arena = Arena.ofConfined()) {
            for (int trial = 0; trial < 60; trial++) {
                int b = 1 + rnd.nextInt(3), c = 1 + rnd.nextInt(24), h = 1 + rnd.nextInt(6), w = 1 + rnd.nextInt(6), hw = h * w;
                Tensor t = Tensor.allocate(arena, DType.F32, b, c, h, w);
                int constant = rnd.nextInt(4) == 0 ? rnd.nextInt(c) : -1; // sometimes one constant channel
                for (long i = 0; i < t.numel(); i++) {
                    long ch = (i / hw) % c;
                    t.setF(i, ch == constant ? 0.5f : (float) (rnd.nextGaussian() + (ch % 3) * 0.3));
                }
                double[] first = t.toDoubles(0, (long) c * hw);
                double want = plain(first, c, hw);
                assertEquals(want, Scorer.minEigenvalueOfChannelCorrelation(t, null), 1e-9, "loops: b=" + b + " c=" + c + " hw=" + hw + " constant=" + constant);
                if (blas != null) {
                    assertEquals(want, Scorer.minEigenvalueOfChannelCorrelation(t, blas), 1e-9, "dgemm: b=" + b + " c=" + c + " hw=" + hw + " constant=" + constant);
                }
                if (Math.min(c - (constant >= 0 ? 1 : 0), hw - 1) < c) fastZeros++;
                else full++;
            }
        }
        // both paths were exercised
        org.junit.jupiter.api.Assertions.assertTrue(fastZeros > 5 && full > 5, fastZeros + " rank-deficient, " + full + " full-rank");
    }
}
