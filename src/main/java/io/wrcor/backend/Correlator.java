package io.wrcor.backend;

import io.wrcor.tensor.Tensor;

/**
 * Sums weighted absolute correlation matrices into K matrices where the backend keeps its data:
 * for each response, K_k += w_k |corrcoef(response)| for every accumulator k, unless the
 * response's correlation matrix would hold a NaN (a constant row), in which case it is skipped.
 * Only the K matrices and the counts come back, at the end.
 */
public interface Correlator extends AutoCloseable {
    /**
     * @param response [B, ...] response, row b = sample b
     * @param weights  w_k per accumulator (0 where the accumulator does not read this response)
     * @param counts   how many of accumulator k's terms this response is (for the used/skipped counts)
     */
    void add(Tensor response, double[] weights, int[] counts);

    /** A response that is exactly zero (no gradient reached it): skipped by every accumulator that reads it. */
    void addZero(int[] counts);

    /** K of each accumulator, B x B row-major. */
    double[][] kernels();

    int[] used();

    int[] skipped();

    @Override
    void close();

    /** The plain implementation: corrcoef on the backend, K on the host in float64. */
    static Correlator onHost(Backend backend, int batch, int accumulators) {
        return new Correlator() {
            final double[][] k = new double[accumulators][batch * batch];
            final int[] used = new int[accumulators], skipped = new int[accumulators];

            @Override
            public void add(Tensor response, double[] weights, int[] counts) {
                double[] r = backend.corrcoef(response);
                if (r == null) {
                    addZero(counts);
                    return;
                }
                for (int a = 0; a < accumulators; a++) {
                    used[a] += counts[a];
                    if (weights[a] == 0) continue;
                    for (int i = 0; i < r.length; i++) k[a][i] += weights[a] * Math.abs(r[i]);
                }
            }

            @Override
            public void addZero(int[] counts) {
                for (int a = 0; a < accumulators; a++) skipped[a] += counts[a];
            }

            @Override
            public double[][] kernels() {
                return k;
            }

            @Override
            public int[] used() {
                return used;
            }

            @Override
            public int[] skipped() {
                return skipped;
            }

            @Override
            public void close() {
            }
        };
    }
}
