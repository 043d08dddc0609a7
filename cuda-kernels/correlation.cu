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

/*
 * gram[i,j] = sum_t (r[i,t] - mean[i]) (r[j,t] - mean[j]), compensated, in t's order. Work groups of
 * TILE x TILE entries (dimension 0: j, 1: i) stage TILE-long slices of their rows in local memory,
 * so that each row value is read from global memory once per group instead of once per entry.
 */
KERNEL void centred_gram(GLOBAL const real *r, GLOBAL const real *mean, GLOBAL real *gram, int rows, long d) {
    LOCAL real as[TILE][TILE + 1];
    LOCAL real bs[TILE][TILE + 1];
    int tj = LOCAL_ID(0), ti = LOCAL_ID(1);
    int i0 = (int) (GROUP_ID(1) * TILE), j0 = (int) (GROUP_ID(0) * TILE);
    int i = i0 + ti, j = j0 + tj;
    kahan s = {0, 0};
    for (long t0 = 0; t0 < d; t0 += TILE) {
        /* item (tj, ti) loads row i0 + ti and row j0 + ti at column t0 + tj */
        long t = t0 + tj;
        int ra = i0 + ti, rb = j0 + ti;
        as[ti][tj] = (ra < rows && t < d) ? r[(long) ra * d + t] - mean[ra] : (real) 0;
        bs[ti][tj] = (rb < rows && t < d) ? r[(long) rb * d + t] - mean[rb] : (real) 0;
        BARRIER();
        int m = d - t0 < TILE ? (int) (d - t0) : TILE;
        for (int u = 0; u < m; u++) kahan_add(&s, as[ti][u] * bs[tj][u]);
        BARRIER();
    }
    if (i < rows && j < rows) gram[(long) i * rows + j] = s.sum;
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
