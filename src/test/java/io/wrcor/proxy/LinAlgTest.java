package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Arrays;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class LinAlgTest {
    @Test
    void logAbsDetOfKnownMatricesIgnoresTheSign() {
        // det [[2,1],[1,3]] = 5; det [[0,1],[1,0]] = -1 (a pivot swap); det diag(4,-0.5,3) = -6
        assertEquals(Math.log(5), LinAlg.logAbsDet(new double[]{2, 1, 1, 3}, 2), 1e-15);
        assertEquals(0.0, LinAlg.logAbsDet(new double[]{0, 1, 1, 0}, 2), 1e-15);
        assertEquals(Math.log(6), LinAlg.logAbsDet(new double[]{4, 0, 0, 0, -0.5, 0, 0, 0, 3}, 3), 1e-15);
    }

    @Test
    void singularMatrixGivesMinusInfinity() {
        assertEquals(Double.NEGATIVE_INFINITY, LinAlg.logAbsDet(new double[]{1, 2, 2, 4}, 2));
        assertEquals(Double.NEGATIVE_INFINITY, LinAlg.logAbsDet(new double[4], 2));
    }

    @Test
    void eigenvaluesOfASymmetricMatrixMatchItsConstruction() {
        // A = Q diag(v) Q^T with Q a random rotation
        int n = 7;
        double[] v = {3.5, 1.25, 1e-4, 0.5, 2, 0.75, 9};
        double[] q = randomOrthogonal(n, new SplittableRandom(42));
        double[] a = new double[n * n];
        for (int i = 0; i < n; i++)
            for (int j = 0; j < n; j++)
                for (int k = 0; k < n; k++) a[i * n + j] += q[i * n + k] * v[k] * q[j * n + k];
        double[] got = LinAlg.symmetricEigenvalues(a, n);
        Arrays.sort(got);
        double[] want = v.clone();
        Arrays.sort(want);
        assertArrayEquals(want, got, 1e-12);
    }

    /**
     * Large Gram matrices of low rank (AZ-NAS's covariances and gradient products of wide layers):
     * hundreds of eigenvalues at rounding level, where the relative splitting test alone never
     * converged; against the Jacobi reference, to the rounding of the whole matrix.
     */
    @Test
    void largeLowRankGramMatricesConverge() {
        SplittableRandom rnd = new SplittableRandom(11);
        for (int[] nr : new int[][]{{300, 4}, {300, 40}, {512, 12}}) {
            int n = nr[0], rank = nr[1];
            double[][] x = new double[n][rank];
            for (double[] row : x) for (int k = 0; k < rank; k++) row[k] = 1e-3 * rnd.nextGaussian();
            double[] a = new double[n * n];
            for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) for (int k = 0; k < rank; k++) a[i * n + j] += x[i][k] * x[j][k];
            double[] got = LinAlg.symmetricEigenvalues(a, n), want = LinAlg.symmetricEigenvaluesJacobi(a, n);
            Arrays.sort(got);
            Arrays.sort(want);
            double scale = Math.abs(want[n - 1]);
            for (int i = 0; i < n; i++) assertEquals(want[i], got[i], 1e-10 * scale, "n=" + n + " rank=" + rank + " eigenvalue " + i);
        }
    }

    /** The tridiagonal QL eigenvalues against the Jacobi reference: random, correlation-like rank-deficient, repeated, diagonal, 1x1 and 2x2. */
    @Test
    void householderQlEigenvaluesEqualTheJacobiReference() {
        SplittableRandom rnd = new SplittableRandom(7);
        for (int trial = 0; trial < 40; trial++) {
            int n = 1 + rnd.nextInt(70);
            double[] a = new double[n * n];
            switch (trial % 4) {
                case 0 -> { // random symmetric
                    for (int i = 0; i < n; i++) for (int j = i; j < n; j++) a[i * n + j] = a[j * n + i] = rnd.nextGaussian();
                }
                case 1 -> { // a correlation matrix of n rows over fewer columns: rank-deficient, eigenvalues near 0
                    int cols = 1 + rnd.nextInt(Math.max(1, n / 2));
                    double[][] x = new double[n][cols];
                    for (double[] row : x) for (int k = 0; k < cols; k++) row[k] = rnd.nextGaussian();
                    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) for (int k = 0; k < cols; k++) a[i * n + j] += x[i][k] * x[j][k] / cols;
                }
                case 2 -> { // repeated eigenvalues: I + a few rank-one terms
                    for (int i = 0; i < n; i++) a[i * n + i] = 1;
                    double[] u = new double[n];
                    for (int i = 0; i < n; i++) u[i] = rnd.nextGaussian();
                    for (int i = 0; i < n; i++) for (int j = 0; j < n; j++) a[i * n + j] += u[i] * u[j];
                }
                default -> { // diagonal with zeroed rows (meco's constant channels)
                    for (int i = 0; i < n; i++) a[i * n + i] = rnd.nextInt(3) == 0 ? 0 : rnd.nextDouble();
                }
            }
            double[] got = LinAlg.symmetricEigenvalues(a, n), want = LinAlg.symmetricEigenvaluesJacobi(a, n);
            Arrays.sort(got);
            Arrays.sort(want);
            double scale = 1;
            for (double w : want) scale = Math.max(scale, Math.abs(w));
            assertArrayEquals(want, got, 1e-11 * scale, "trial " + trial + ", n " + n);
        }
    }

    private static double[] randomOrthogonal(int n, SplittableRandom rnd) {
        double[] q = new double[n * n];
        for (int i = 0; i < q.length; i++) q[i] = rnd.nextGaussian();
        for (int c = 0; c < n; c++) { // Gram-Schmidt on columns
            for (int p = 0; p < c; p++) {
                double d = 0;
                for (int r = 0; r < n; r++) d += q[r * n + c] * q[r * n + p];
                for (int r = 0; r < n; r++) q[r * n + c] -= d * q[r * n + p];
            }
            double norm = 0;
            for (int r = 0; r < n; r++) norm += q[r * n + c] * q[r * n + c];
            for (int r = 0; r < n; r++) q[r * n + c] /= Math.sqrt(norm);
        }
        return q;
    }
}
