/*
 * Correlation of a response [B, D] (row b = sample b flattened): row means, a flag per row that is
 * constant (numpy's corrcoef gives NaN there and the published code skips the matrix), the Gram
 * matrix of the centred rows, and its accumulation w |R| into K on the device: the skip decision
 * is made there too, so nothing comes back per response; K and the counts are read once at the end.
 */
#include "compat.h"

/* n = rows: mean[r], and is_constant[r] = 1 when every element equals the first */
KERNEL void row_stats(GLOBAL const real *r, GLOBAL real *mean, GLOBAL int *is_constant, long n, long d) {
    long row = THREAD_INDEX();
    if (row >= n) return;
    GLOBAL const real *v = r + row * d;
    kahan s = {0, 0};
    int same = 1;
    for (long j = 0; j < d; j++) {
        kahan_add(&s, v[j]);
        same &= v[j] == v[0];
    }
    mean[row] = s.sum / (real) d;
    is_constant[row] = same;
}

/* n = rows * rows: gram[i,j] = sum_t (r[i,t] - mean[i]) (r[j,t] - mean[j]) */
KERNEL void centred_gram(GLOBAL const real *r, GLOBAL const real *mean, GLOBAL real *gram, long n, int rows, long d) {
    long idx = THREAD_INDEX();
    if (idx >= n) return;
    int i = (int) (idx / rows), j = (int) (idx % rows);
    GLOBAL const real *a = r + (long) i * d;
    GLOBAL const real *b = r + (long) j * d;
    real ma = mean[i], mb = mean[j];
    kahan s = {0, 0};
    for (long t = 0; t < d; t++) kahan_add(&s, (a[t] - ma) * (b[t] - mb));
    gram[idx] = s.sum;
}

/*
 * n = accumulators * rows * rows. K[a,i,j] += w[a] |R_ij|, R_ij = G_ij / sqrt(G_ii G_jj) clipped to
 * [-1, 1], unless the response is skipped (a constant row, or a diagonal that is not positive, where
 * numpy's matrix would hold NaN). Item (a, 0, 0) adds counts[a] to used[a] or skipped[a].
 */
KERNEL void accumulate_abs_corr(GLOBAL const real *gram, GLOBAL const int *is_constant, GLOBAL accum *k, GLOBAL const accum *w,
                                GLOBAL const int *counts, GLOBAL int *used, GLOBAL int *skipped, long n, int rows) {
    long idx = THREAD_INDEX();
    if (idx >= n) return;
    long rr = (long) rows * rows, e = idx % rr;
    int a = (int) (idx / rr), i = (int) (e / rows), j = (int) (e % rows);
    int skip = 0;
    for (int t = 0; t < rows; t++) skip |= is_constant[t] || !(gram[(long) t * rows + t] > 0);
    if (e == 0) {
        if (skip) skipped[a] += counts[a];
        else used[a] += counts[a];
    }
    if (skip || w[a] == 0) return;
    accum r = (accum) gram[e] / sqrt((accum) gram[(long) i * rows + i]) / sqrt((accum) gram[(long) j * rows + j]);
    r = r > 1 ? 1 : r < -1 ? -1 : r;
    k[idx] += w[a] * fabs(r);
}
