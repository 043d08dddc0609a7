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
 * row_stats shaped for a CPU device: an item takes ROW_C rows and runs their sums side by side (one
 * chain per row, each the same compensated sum in the same order as row_stats's), so that a core
 * overlaps ROW_C dependent chains instead of waiting on one. n = rows; items = ceil(n / ROW_C).
 */
KERNEL void row_stats_rows(GLOBAL const real *r, GLOBAL real *mean, GLOBAL int *is_constant, long n, long d) {
    long row0 = THREAD_INDEX() * ROW_C;
    if (row0 >= n) return;
    int nr = n - row0 < ROW_C ? (int) (n - row0) : ROW_C;
    kahan s[ROW_C];
    int same[ROW_C];
    real first[ROW_C];
    for (int q = 0; q < ROW_C; q++) {
        s[q].sum = s[q].carry = 0;
        same[q] = 1;
        first[q] = q < nr ? r[(row0 + q) * d] : (real) 0;
    }
    for (long j = 0; j < d; j++)
        for (int q = 0; q < nr; q++) {
            real v = r[(row0 + q) * d + j];
            kahan_add(&s[q], v);
            same[q] &= v == first[q];
        }
    for (int q = 0; q < nr; q++) {
        mean[row0 + q] = s[q].sum / (real) d;
        is_constant[row0 + q] = same[q];
    }
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
 * centred_gram shaped for a CPU device (PoCL), where only a loop inside one item is vectorised: an
 * item computes ROW_C rows i x ROW_W columns j of the matrix. Per GRAM_T values of t it stages its
 * columns' centred values transposed in private memory (bt[tt][jj]), then its innermost loop runs
 * along jj. Each entry is the same compensated sum in the same order as centred_gram's
 * ((r_i - mean_i)(r_j - mean_j) over t in order). The matrix is symmetric and both halves are the
 * same sums (a product does not depend on its operands' order), so items strictly below the diagonal
 * do nothing and the others write each entry and its mirror. Items take the row blocks from both
 * ends alternately (0, last, 1, last - 1, ...), so that contiguous ranges of items carry equal work.
 * n = ceil(rows / ROW_C) * ceil(rows / ROW_W) items.
 */
KERNEL void centred_gram_rows(GLOBAL const real *r, GLOBAL const real *mean, GLOBAL real *gram, long n, int rows, long d) {
    long item = THREAD_INDEX();
    if (item >= n) return;
    int jblocks = (rows + ROW_W - 1) / ROW_W, iblocks = (rows + ROW_C - 1) / ROW_C;
    int q = (int) (item / jblocks), ib = q % 2 == 0 ? q / 2 : iblocks - 1 - q / 2;
    int i0 = ib * ROW_C, j0 = (int) (item % jblocks) * ROW_W;
    if (j0 + ROW_W <= i0) return;
    real sum[ROW_C][ROW_W], carry[ROW_C][ROW_W], bt[GRAM_T][ROW_W], mj[ROW_W], mi[ROW_C];
    for (int c = 0; c < ROW_C; c++) {
        mi[c] = i0 + c < rows ? mean[i0 + c] : (real) 0;
        for (int u = 0; u < ROW_W; u++) sum[c][u] = carry[c][u] = 0;
    }
    for (int u = 0; u < ROW_W; u++) mj[u] = j0 + u < rows ? mean[j0 + u] : (real) 0;
    for (long t0 = 0; t0 < d; t0 += GRAM_T) {
        int m = d - t0 < GRAM_T ? (int) (d - t0) : GRAM_T;
        for (int u = 0; u < ROW_W; u++) {
            if (j0 + u < rows) {
                GLOBAL const real *rj = r + (long) (j0 + u) * d + t0;
                for (int tt = 0; tt < m; tt++) bt[tt][u] = rj[tt] - mj[u];
            } else {
                for (int tt = 0; tt < m; tt++) bt[tt][u] = 0;
            }
        }
        for (int tt = 0; tt < m; tt++)
            for (int c = 0; c < ROW_C; c++) {
                real a = i0 + c < rows ? r[(long) (i0 + c) * d + t0 + tt] - mi[c] : (real) 0;
                kahan_row(sum[c], carry[c], a, bt[tt], 1, ROW_W);
            }
    }
    for (int c = 0; c < ROW_C; c++)
        for (int u = 0; u < ROW_W; u++) {
            int i = i0 + c, j = j0 + u;
            if (i < rows && j < rows && j >= i) {
                gram[(long) i * rows + j] = sum[c][u];
                gram[(long) j * rows + i] = sum[c][u];
            }
        }
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
