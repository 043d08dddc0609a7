/*
 * Convolutions and Gram matrices as matrix products (KernelBackend's GEMM shape): the columns of a
 * convolution's input laid out as a matrix (im2col), their gradient gathered back onto the input
 * (col2im), a batched product with cuBLAS's conventions (gemm_batched: what CUDA runs through cuBLAS
 * instead, and OpenCL runs here), the sum of a batch of partial products, and a response's rows
 * centred for its Gram matrix.
 */
#include "compat.h"

/*
 * C_z = op(A_z) op(B_z) (+ C_z when accumulate) for z < gz, column-major as cuBLAS's
 * gemmStridedBatched with alpha 1: element (i, j) of C_z is c[oc + z sc + i + j ldc], op(A)[i][l] is
 * a[oa + z sa + (ta ? l + i lda : i + l lda)], op(B)[l][j] is b[ob + z sb + (tb ? j + l ldb : l + j ldb)];
 * m x n x k, o* element offsets into the buffers. Work groups of TILE x TILE entries (dimension 0:
 * i, 1: j, 2: z) stage TILE-long slices of op(A)'s rows and op(B)'s columns in local memory; each
 * entry is the compensated sum over l in order, or with plain = 1 a single fused multiply-add chain
 * in that order (tests use it to stand in for cuBLAS's float32 sums, which are no more accurate).
 */
KERNEL void gemm_batched(GLOBAL const real *a, GLOBAL const real *b, GLOBAL real *c, int ta, int tb, int m, int n, int k,
                         long oa, int lda, long sa, long ob, int ldb, long sb, long oc, int ldc, long sc, int accumulate, int plain) {
    LOCAL real as[TILE][TILE + 1]; /* as[l][i] */
    LOCAL real bs[TILE][TILE + 1]; /* bs[l][j] */
    int ti = LOCAL_ID(0), tj = LOCAL_ID(1);
    int i = (int) (GROUP_ID(0) * TILE) + ti, j = (int) (GROUP_ID(1) * TILE) + tj;
    long z = GROUP_ID(2);
    GLOBAL const real *az = a + oa + z * sa;
    GLOBAL const real *bz = b + ob + z * sb;
    kahan acc = {0, 0};
    for (int l0 = 0; l0 < k; l0 += TILE) {
        int la = l0 + tj, lb = l0 + ti; /* this item loads op(A)[i][la] and op(B)[lb][j] */
        as[tj][ti] = i < m && la < k ? az[ta ? la + (long) i * lda : i + (long) la * lda] : (real) 0;
        bs[ti][tj] = j < n && lb < k ? bz[tb ? j + (long) lb * ldb : lb + (long) j * ldb] : (real) 0;
        BARRIER();
        int steps = k - l0 < TILE ? k - l0 : TILE;
        if (plain) /* cuBLAS's rounding at its worst: one fused multiply-add chain per entry */
            for (int q = 0; q < steps; q++) acc.sum = fma(as[q][ti], bs[q][tj], acc.sum);
        else
            for (int q = 0; q < steps; q++) {
                real prod = as[q][ti] * bs[q][tj];
                kahan_add(&acc, prod);
            }
        BARRIER();
    }
    if (i < m && j < n) {
        long at = oc + z * sc + i + (long) j * ldc;
        c[at] = accumulate ? c[at] + acc.sum : acc.sum;
    }
}

/*
 * The columns of samples b0 .. b0 + nb - 1 of x [B, cin, h, wd] for a k x k convolution:
 * cols[s, (ci, ky, kx), (oy, ox)] = x[b0 + s, ci, oy stride - pad + ky, ox stride - pad + kx], zero in
 * the padding; n = nb cin k k ho wo.
 */
KERNEL void im2col(GLOBAL const real *x, GLOBAL real *cols, long n, int b0, int cin, int h, int wd, int k, int stride, int pad, int ho,
                   int wo) {
    long idx = THREAD_INDEX();
    if (idx >= n) return;
    long np = (long) ho * wo;
    int p = (int) (idx % np);
    long row = idx / np; /* s cin k k + (ci, ky, kx) */
    int kk2 = k * k, r = (int) (row % kk2);
    long sc = row / kk2; /* s cin + ci */
    int iy = (p / wo) * stride - pad + r / k, ix = (p % wo) * stride - pad + r % k;
    real v = 0;
    if (iy >= 0 && iy < h && ix >= 0 && ix < wd) v = x[(((long) b0 * cin + sc) * h + iy) * wd + ix];
    cols[idx] = v;
}

/*
 * The inverse gather: dx[b0 + s, ci, iy, ix] = sum over (ky, kx), in that order, of
 * cols[s, (ci, ky, kx), (oy, ox)] for the output cells whose window puts tap (ky, kx) on (iy, ix)
 * (oy stride = iy + pad - ky); n = nb cin h wd. Each input cell is one item: no atomics.
 */
KERNEL void col2im(GLOBAL const real *cols, GLOBAL real *dx, long n, int b0, int cin, int h, int wd, int k, int stride, int pad, int ho,
                   int wo) {
    long idx = THREAD_INDEX();
    if (idx >= n) return;
    int ix = (int) (idx % wd), iy = (int) ((idx / wd) % h);
    long sc = idx / ((long) h * wd); /* s cin + ci */
    long np = (long) ho * wo;
    GLOBAL const real *base = cols + sc * k * k * np;
    kahan acc = {0, 0};
    for (int ky = 0; ky < k; ky++) {
        int oy = tap_source(iy, pad, ky, stride, ho);
        if (oy < 0) continue;
        for (int kx = 0; kx < k; kx++) {
            int ox = tap_source(ix, pad, kx, stride, wo);
            if (ox >= 0) kahan_add(&acc, base[(long) (ky * k + kx) * np + (long) oy * wo + ox]);
        }
    }
    dx[(long) b0 * cin * h * wd + idx] = acc.sum;
}

/*
 * out[e] = (accumulate ? out[e] : 0) + sum over z < count, in order, of parts[z n + e], compensated;
 * n entries. With rows > 0 the parts are rows x rows matrices whose entries (i, j) and (j, i) must
 * agree (Gram matrices): both take the upper one, parts[z n + min(i, j) rows + max(i, j)].
 */
KERNEL void sum_parts(GLOBAL const real *parts, GLOBAL real *out, long n, int count, int accumulate, int rows) {
    long e = THREAD_INDEX();
    if (e >= n) return;
    long src = e;
    if (rows > 0) {
        long i = e / rows, j = e % rows;
        src = i < j ? i * rows + j : j * rows + i;
    }
    kahan acc = {0, 0};
    if (accumulate) acc.sum = out[e];
    for (int z = 0; z < count; z++) kahan_add(&acc, parts[(long) z * n + src]);
    out[e] = acc.sum;
}

/* out[row, t] = r[row, t] - mean[row] for a [rows, d] response; n = rows d */
KERNEL void centre_rows(GLOBAL const real *r, GLOBAL const real *mean, GLOBAL real *out, long n, long d) {
    long idx = THREAD_INDEX();
    if (idx >= n) return;
    out[idx] = r[idx] - mean[idx / d];
}

/*
 * The long reductions as one work group per channel or row (TILE x TILE items, launched over a
 * 1 x 1 x n grid of groups), for a GPU, where a thread per channel would run a sample batch's
 * 65,536 values of a channel as one chain: each item sums a strided share in accum precision
 * (float64: the GEMM shape launches these only on devices that have it), then the group adds the
 * items' sums pairwise in local memory. In float64 the results, rounded to real, are those of the
 * per-channel kernels' float64 sums but for ties.
 */
#define GROUP_ITEMS (TILE * TILE)

/* part[0] = the sum of part[0 .. GROUP_ITEMS), by halves; every item of the group calls it */
DEVICE_FN void group_sum(LOCAL_PTR accum *part, int t) {
    BARRIER();
    for (int w = GROUP_ITEMS / 2; w > 0; w >>= 1) {
        if (t < w) part[t] += part[t + w];
        BARRIER();
    }
}

/* bn_stats's statistics and affine form for channel GROUP_ID(2); n = channels */
KERNEL void bn_stats_groups(GLOBAL const real *x, GLOBAL real *mean, GLOBAL real *invstd, GLOBAL const real *gamma, GLOBAL const real *beta,
                            GLOBAL real *scale, GLOBAL real *shift, long n, int batch, long hw, real eps) {
    LOCAL accum part[GROUP_ITEMS];
    int t = LOCAL_ID(0) + TILE * LOCAL_ID(1);
    long c = GROUP_ID(2), count = batch * hw;
    accum s = 0;
    for (long e = t; e < count; e += GROUP_ITEMS) s += (accum) x[((e / hw) * n + c) * hw + e % hw];
    part[t] = s;
    group_sum(part, t);
    accum m = part[0] / (accum) count;
    BARRIER(); /* every item has read part[0] */
    accum v = 0;
    for (long e = t; e < count; e += GROUP_ITEMS) {
        accum d = (accum) x[((e / hw) * n + c) * hw + e % hw] - m;
        v += d * d;
    }
    part[t] = v;
    group_sum(part, t);
    if (t == 0) {
        accum is = (accum) 1 / sqrt(part[0] / (accum) count + (accum) eps);
        mean[c] = (real) m;
        invstd[c] = (real) is;
        scale[c] = (real) (is * gamma[c]);
        shift[c] = (real) (beta[c] - m * is * gamma[c]);
    }
}

/* bn_backward_reduce's sums for channel GROUP_ID(2): sums[c] = sum dy, sums[n + c] = sum dy (x - mean) */
KERNEL void bn_backward_reduce_groups(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL const real *mean, GLOBAL real *sums,
                                      long n, int batch, long hw) {
    LOCAL accum part[GROUP_ITEMS];
    int t = LOCAL_ID(0) + TILE * LOCAL_ID(1);
    long c = GROUP_ID(2), count = batch * hw;
    accum a = 0, p = 0, m = mean[c];
    for (long e = t; e < count; e += GROUP_ITEMS) {
        long idx = ((e / hw) * n + c) * hw + e % hw;
        a += (accum) dy[idx];
        p += (accum) dy[idx] * ((accum) x[idx] - m);
    }
    part[t] = a;
    group_sum(part, t);
    if (t == 0) sums[c] = (real) part[0];
    BARRIER();
    part[t] = p;
    group_sum(part, t);
    if (t == 0) sums[n + c] = (real) part[0];
}

/* row_stats for row GROUP_ID(2) of a [rows, d] response: its mean, and whether every value equals the first */
KERNEL void row_stats_groups(GLOBAL const real *r, GLOBAL real *mean, GLOBAL int *is_constant, long n, long d) {
    LOCAL accum part[GROUP_ITEMS];
    LOCAL int same[GROUP_ITEMS];
    int t = LOCAL_ID(0) + TILE * LOCAL_ID(1);
    long row = GROUP_ID(2);
    GLOBAL const real *v = r + row * d;
    real first = v[0];
    accum s = 0;
    int eq = 1;
    for (long j = t; j < d; j += GROUP_ITEMS) {
        s += (accum) v[j];
        eq &= v[j] == first;
    }
    part[t] = s;
    same[t] = eq;
    group_sum(part, t);
    for (int w = GROUP_ITEMS / 2; w > 0; w >>= 1) {
        if (t < w) same[t] &= same[t + w];
        BARRIER();
    }
    if (t == 0) {
        mean[row] = (real) (part[0] / (accum) d);
        is_constant[row] = same[0];
    }
}
