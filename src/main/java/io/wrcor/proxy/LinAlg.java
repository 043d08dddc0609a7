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

    /**
     * Eigenvalues of a symmetric matrix (row-major n x n), in no particular order: Householder
     * reduction to tridiagonal form, then the implicit QL iteration with Wilkinson-style shifts;
     * about 4n^3/3 flops (the Jacobi rotations below, kept as the reference, take several sweeps of
     * 8n^3). Tested against them on random and degenerate matrices.
     */
    public static double[] symmetricEigenvalues(double[] a, int n) {
        if (n == 0) return new double[0];
        double[] m = a.clone(), d = new double[n], e = new double[n];
        double[] v = new double[n], p = new double[n];
        for (int k = 0; k < n - 2; k++) {
            // the Householder vector that zeroes column k below the subdiagonal
            double norm = 0;
            for (int i = k + 1; i < n; i++) norm += m[i * n + k] * m[i * n + k];
            norm = Math.sqrt(norm);
            double x0 = m[(k + 1) * n + k];
            double alpha = x0 > 0 ? -norm : norm;
            double vv = 0;
            for (int i = k + 1; i < n; i++) {
                v[i] = m[i * n + k];
                if (i == k + 1) v[i] -= alpha;
                vv += v[i] * v[i];
            }
            if (norm == 0 || vv == 0) continue; // already tridiagonal here
            // A22 <- H A22 H with H = I - 2 v v^T / (v^T v): p = 2 A22 v / vv, q = p - (v^T p / vv) v, A22 -= v q^T + q v^T
            double vp = 0;
            for (int i = k + 1; i < n; i++) {
                double s = 0;
                for (int j = k + 1; j < n; j++) s += m[i * n + j] * v[j];
                p[i] = 2 * s / vv;
                vp += v[i] * p[i];
            }
            double kk = vp / vv;
            for (int i = k + 1; i < n; i++) p[i] -= kk * v[i];
            for (int i = k + 1; i < n; i++)
                for (int j = k + 1; j < n; j++) m[i * n + j] -= v[i] * p[j] + p[i] * v[j];
            m[(k + 1) * n + k] = m[k * n + k + 1] = alpha;
            for (int i = k + 2; i < n; i++) m[i * n + k] = m[k * n + i] = 0;
        }
        for (int i = 0; i < n; i++) d[i] = m[i * n + i];
        for (int i = 0; i < n - 1; i++) e[i] = m[(i + 1) * n + i];
        tridiagonalQl(d, e, n);
        return d;
    }

    /**
     * Eigenvalues of the symmetric tridiagonal matrix with diagonal d and off-diagonal e (e[i]
     * couples d[i] and d[i+1]; e[n-1] unused), into d, by the implicit QL iteration.
     */
    private static void tridiagonalQl(double[] d, double[] e, int n) {
        e[n - 1] = 0;
        // an off-diagonal entry below the rounding of the whole matrix also splits it: between two
        // (near) zero diagonal entries the relative test alone may never be met
        double norm = 0;
        for (int i = 0; i < n; i++) norm = Math.max(norm, Math.abs(d[i]) + Math.abs(e[i]) + (i > 0 ? Math.abs(e[i - 1]) : 0));
        double floor = 0x1p-53 * norm;
        for (int l = 0; l < n; l++) {
            for (int iter = 0; ; iter++) {
                int m = l;
                for (; m < n - 1; m++) {
                    double dd = Math.abs(d[m]) + Math.abs(d[m + 1]);
                    if (Math.abs(e[m]) <= 0x1p-53 * dd || Math.abs(e[m]) <= floor) break;
                }
                if (m == l) break;
                if (iter == 200) throw new ArithmeticException("eigenvalues did not converge");
                double g = (d[l + 1] - d[l]) / (2 * e[l]);
                double r = Math.hypot(g, 1);
                g = d[m] - d[l] + e[l] / (g + Math.copySign(r, g));
                double s = 1, c = 1, pp = 0;
                int i = m - 1;
                boolean underflow = false;
                for (; i >= l; i--) {
                    double f = s * e[i], b = c * e[i];
                    r = Math.hypot(f, g);
                    e[i + 1] = r;
                    if (r == 0) {
                        d[i + 1] -= pp;
                        e[m] = 0;
                        underflow = true;
                        break;
                    }
                    s = f / r;
                    c = g / r;
                    g = d[i + 1] - pp;
                    r = (d[i] - g) * s + 2 * c * b;
                    pp = s * r;
                    d[i + 1] = g + pp;
                    g = c * r - b;
                }
                if (underflow) continue;
                d[l] -= pp;
                e[l] = g;
                e[m] = 0;
            }
        }
    }

    /** Eigenvalues of a symmetric matrix by cyclic Jacobi rotations, in no particular order (the reference for the above). */
    public static double[] symmetricEigenvaluesJacobi(double[] a, int n) {
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
