/*
 * Correlation of a response [B, D] (row b = sample b flattened): row means, a flag per row that is
 * constant (numpy's corrcoef gives NaN there and the published code skips the matrix), and the
 * Gram matrix of the centred rows. Only the B x B matrix and the flags leave the device.
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
