package io.wrcor.proxy;

/** Small dense float64 linear algebra on row-major n x n matrices, for the host side of the proxies. */
public final class LinAlg {
    private LinAlg() {
    }

    /**
     * log |det A| by LU with partial pivoting (numpy.linalg.slogdet's logabsdet); -inf when A is
     * singular.
     */
    public static double logAbsDet(double[] a, int n) {
        double[] m = a.clone();
        double logDet = 0;
        for (int k = 0; k < n; k++) {
            int p = k;
            double best = Math.abs(m[k * n + k]);
            for (int i = k + 1; i < n; i++) {
                double v = Math.abs(m[i * n + k]);
                if (v > best) { best = v; p = i; }
            }
            if (Double.isNaN(best)) return Double.NaN;
            if (best == 0.0) return Double.NEGATIVE_INFINITY;
            if (p != k) {
                for (int j = 0; j < n; j++) {
                    double t = m[k * n + j]; m[k * n + j] = m[p * n + j]; m[p * n + j] = t;
                }
            }
            double piv = m[k * n + k];
            logDet += Math.log(Math.abs(piv));
            for (int i = k + 1; i < n; i++) {
                double f = m[i * n + k] / piv;
                if (f == 0.0) continue;
                for (int j = k + 1; j < n; j++) m[i * n + j] -= f * m[k * n + j];
            }
        }
        return logDet;
    }

    /** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations, in no particular order. */
    public static double[] symmetricEigenvalues(double[] a, int n) {
        double[] m = a.clone();
        for (int sweep = 0; sweep < 100; sweep++) {
            double off = 0, diag = 0;
            for (int i = 0; i < n; i++)
                for (int j = 0; j < n; j++) {
                    if (i != j) off += m[i * n + j] * m[i * n + j];
                    else diag += m[i * n + j] * m[i * n + j];
                }
            if (off <= 1e-30 * Math.max(diag, Double.MIN_NORMAL)) break;
            for (int p = 0; p < n - 1; p++)
                for (int q = p + 1; q < n; q++) {
                    double apq = m[p * n + q];
                    if (apq == 0.0) continue;
                    double app = m[p * n + p], aqq = m[q * n + q];
                    double theta = (aqq - app) / (2 * apq);
                    double t = Math.signum(theta) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
                    if (theta == 0) t = 1;
                    double c = 1 / Math.sqrt(t * t + 1), s = t * c;
                    for (int k = 0; k < n; k++) {
                        double akp = m[k * n + p], akq = m[k * n + q];
                        m[k * n + p] = c * akp - s * akq;
                        m[k * n + q] = s * akp + c * akq;
                    }
                    for (int k = 0; k < n; k++) {
                        double apk = m[p * n + k], aqk = m[q * n + k];
                        m[p * n + k] = c * apk - s * aqk;
                        m[q * n + k] = s * apk + c * aqk;
                    }
                }
        }
        double[] ev = new double[n];
        for (int i = 0; i < n; i++) ev[i] = m[i * n + i];
        return ev;
    }
}
