package io.wrcor.backend.cpu;

/** Shared last step of corrcoef: covariance (or Gram of centred rows) to a clipped correlation matrix. */
public final class Correlation {
    private Correlation() {
    }

    /**
     * R[i,j] = C[i,j] / sqrt(C[i,i] C[j,j]), clipped to [-1, 1] as numpy.corrcoef does. Returns null
     * when some C[i,i] is zero: numpy divides 0 by 0 there and the published code skips the matrix.
     */
    public static double[] normalise(double[] cov, int b) {
        double[] sd = new double[b];
        for (int i = 0; i < b; i++) {
            if (!(cov[i * b + i] > 0)) return null;
            sd[i] = Math.sqrt(cov[i * b + i]);
        }
        double[] r = new double[b * b];
        for (int i = 0; i < b; i++)
            for (int j = 0; j < b; j++) {
                double v = cov[i * b + j] / sd[i] / sd[j];
                if (Double.isNaN(v)) return null;
                r[i * b + j] = Math.max(-1.0, Math.min(1.0, v));
            }
        return r;
    }
}
