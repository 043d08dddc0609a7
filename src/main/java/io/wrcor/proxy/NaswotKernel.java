package io.wrcor.proxy;

import io.wrcor.tensor.Tensor;

/** naswot's per-site kernel c c^T + (1-c)(1-c)^T for binary codes c = 1[x > 0], by popcount. */
public final class NaswotKernel {
    private NaswotKernel() {
    }

    /** K[i,j] = number of positions where samples i and j agree on x > 0; B x B float64. */
    public static double[] codeAgreement(Tensor x) {
        int b = x.dim(0);
        long d = x.rowSize();
        int words = Math.toIntExact((d + 63) / 64);
        long[][] bits = new long[b][words];
        for (int i = 0; i < b; i++) {
            long base = i * d;
            long[] row = bits[i];
            for (long j = 0; j < d; j++) {
                if (x.get(base + j) > 0) row[(int) (j >>> 6)] |= 1L << (j & 63);
            }
        }
        double[] k = new double[b * b];
        for (int i = 0; i < b; i++)
            for (int j = i; j < b; j++) {
                long differ = 0;
                for (int w = 0; w < words; w++) differ += Long.bitCount(bits[i][w] ^ bits[j][w]);
                k[i * b + j] = k[j * b + i] = d - differ;
            }
        return k;
    }
}
