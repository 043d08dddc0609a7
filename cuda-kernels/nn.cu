/*
 * The primitive ops of the engine (see io.wrcor.backend.Backend), one work item per output element,
 * NCHW activations, PyTorch weight layouts. Every kernel takes the element count n and returns for
 * indices past it, so any global size >= n works. Reference: io.wrcor.backend.cpu.ReferenceBackend.
 */
#include "compat.h"

/*
 * y[b,co,oy,ox] = sum_ci,ky,kx x[b,ci,oy*s-p+ky,ox*s-p+kx] w[co,ci,ky,kx] as an implicit GEMM: per
 * sample b, y_b [cout, P] = w [cout, K] . col_b [K, P] with
 * K = cin k k and P = ho wo, the columns of x read in place (no im2col buffer). Work groups of
 * TILE x TILE outputs (dimension 0: output cells, 1: output channels, 2: samples) step through K
 * one TILE-wide slice at a time, staging the slice of w and of x's columns in local memory. Each
 * output is the compensated sum, over the cells of x its window covers, in K's order (the order of the
 * per-output kernel this replaced; a plain float32 sum moved three fixtures' snip, grad_norm or wrcor
 * by 2e-4 to 5e-4, and so did summing the padding's zeros, which moves the compensation).
 */
KERNEL void conv_gemm_forward(GLOBAL const real *x, GLOBAL const real *w, GLOBAL real *y, int cin, int h, int wd, int cout, int k,
                              int stride, int pad, int ho, int wo) {
    LOCAL real ws[TILE][TILE + 1];
    LOCAL real xs[TILE][TILE + 1];
    LOCAL int xin[TILE][TILE + 1]; /* whether the column entry is a cell of x (not padding): only those are summed */
    int tp = LOCAL_ID(0), tc = LOCAL_ID(1);
    int p = (int) (GROUP_ID(0) * TILE) + tp, co = (int) (GROUP_ID(1) * TILE) + tc;
    long b = GROUP_ID(2);
    int np = ho * wo, kk2 = k * k, nk = cin * kk2;
    int oy = p / wo, ox = p % wo;
    kahan acc = {0, 0};
    for (int k0 = 0; k0 < nk; k0 += TILE) {
        int kw = k0 + tp; /* this item loads w[co_row = group's tc][kw] */
        ws[tc][tp] = (co < cout && kw < nk) ? w[(long) co * nk + kw] : (real) 0;
        int kr = k0 + tc; /* and col[kr][p] */
        real v = 0;
        int inside = 0;
        if (kr < nk && p < np) {
            int ci = kr / kk2, r = kr % kk2, iy = oy * stride - pad + r / k, ix = ox * stride - pad + r % k;
            if (iy >= 0 && iy < h && ix >= 0 && ix < wd) {
                v = x[((b * cin + ci) * h + iy) * wd + ix];
                inside = 1;
            }
        }
        xs[tc][tp] = v;
        xin[tc][tp] = inside;
        BARRIER();
        int m = nk - k0 < TILE ? nk - k0 : TILE;
        for (int j = 0; j < m; j++)
            if (xin[j][tp]) kahan_add(&acc, ws[tc][j] * xs[j][tp]);
        BARRIER();
    }
    if (co < cout && p < np) y[(b * cout + co) * (long) np + p] = acc.sum;
}

/*
 * A stride-1 convolution's data gradient as the same tiled implicit GEMM: per sample b,
 * dx_b [cin, P] = w' [cin, K] . col_b [K, P] with K = cout k k in conv_backward_data's order (co, ky,
 * kx), w'[ci][co,ky,kx] = w[co,ci,ky,kx] and col[(co,ky,kx)][(iy,ix)] = dy[co, iy + pad - ky, ix + pad - kx]
 * (only cells inside dy summed, in that order, compensated: the same sums as conv_backward_data).
 */
KERNEL void conv_gemm_backward_data(GLOBAL const real *dy, GLOBAL const real *w, GLOBAL real *dx, int cin, int h, int wd, int cout,
                                    int k, int pad, int ho, int wo) {
    LOCAL real ws[TILE][TILE + 1];
    LOCAL real gs[TILE][TILE + 1];
    LOCAL int gin[TILE][TILE + 1];
    int tp = LOCAL_ID(0), tc = LOCAL_ID(1);
    int p = (int) (GROUP_ID(0) * TILE) + tp, ci = (int) (GROUP_ID(1) * TILE) + tc;
    long b = GROUP_ID(2);
    int np = h * wd, kk2 = k * k, nk = cout * kk2;
    int iy = p / wd, ix = p % wd;
    kahan acc = {0, 0};
    for (int k0 = 0; k0 < nk; k0 += TILE) {
        int kw = k0 + tp;
        ws[tc][tp] = (ci < cin && kw < nk) ? w[((long) (kw / kk2) * cin + ci) * kk2 + kw % kk2] : (real) 0;
        int kr = k0 + tc;
        real v = 0;
        int inside = 0;
        if (kr < nk && p < np) {
            int co = kr / kk2, r = kr % kk2, ty = iy + pad - r / k, tx = ix + pad - r % k;
            if (ty >= 0 && ty < ho && tx >= 0 && tx < wo) {
                v = dy[((b * cout + co) * ho + ty) * wo + tx];
                inside = 1;
            }
        }
        gs[tc][tp] = v;
        gin[tc][tp] = inside;
        BARRIER();
        int m = nk - k0 < TILE ? nk - k0 : TILE;
        for (int j = 0; j < m; j++)
            if (gin[j][tp]) kahan_add(&acc, gs[j][tp] * ws[tc][j]);
        BARRIER();
    }
    if (ci < cin && p < np) dx[(b * cin + ci) * (long) np + p] = acc.sum;
}

/*
 * The same convolution shaped for a CPU device (PoCL), where a work group's items run one after the
 * other and only a loop inside one item is vectorised: an item computes ROW_C output channels x up
 * to ROW_W output cells of one output row of one sample. Per input row it stages the cells its
 * stretch reads in private memory (xs[j] is x at column x0 + j, zero outside x, xok[j] says whether
 * inside), and its innermost loop runs along the stretch: every cell computes the compensated add
 * and keeps it only where its tap is inside x (padding's zeros are not summed: they would move the
 * compensation), so the loop has no branch and the device compiler vectorises it. Each output is
 * the same compensated sum in the same order as conv_gemm_forward's (K's order).
 * Needs (ROW_W - 1) stride + k <= ROW_X. n = batch * ceil(cout / ROW_C) * ho * ceil(wo / ROW_W) items.
 */
KERNEL void conv_rows_forward(GLOBAL const real *x, GLOBAL const real *w, GLOBAL real *y, long n, int cin, int h, int wd, int cout,
                              int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int groups = (cout + ROW_C - 1) / ROW_C;
    row_stretch st = stretch_of(i, ho, wo);
    int ox0 = st.c0, oy = st.row, cells = st.cells, cw = st.cw, co0 = (int) (st.outer % groups) * ROW_C;
    long b = st.outer / groups;
    real sum[ROW_C][ROW_W], carry[ROW_C][ROW_W], xs[ROW_X];
    int xok[ROW_X];
    for (int c = 0; c < ROW_C; c++)
        for (int u = 0; u < ROW_W; u++) sum[c][u] = carry[c][u] = 0;
    int kk2 = k * k, x0 = ox0 * stride - pad, nx = (cw - 1) * stride + k;
    for (int j = 0; j < nx; j++) xok[j] = x0 + j >= 0 && x0 + j < wd;
    int full[ROW_X]; /* full[kx]: tap kx lies inside x for every cell computed (then no select is needed) */
    for (int kx = 0; kx < k; kx++) {
        int f = 1;
        for (int u = 0; u < cw; u++) f &= xok[u * stride + kx];
        full[kx] = f;
    }
    for (int ci = 0; ci < cin; ci++)
        for (int ky = 0; ky < k; ky++) {
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            GLOBAL const real *xr = x + ((b * cin + ci) * h + iy) * wd;
            for (int j = 0; j < nx; j++) xs[j] = xok[j] ? xr[x0 + j] : (real) 0;
            for (int kx = 0; kx < k; kx++)
                for (int c = 0; c < ROW_C; c++) {
                    real wv = co0 + c < cout ? w[((long) (co0 + c) * cin + ci) * kk2 + ky * k + kx] : (real) 0;
                    /* the literal steps let the compiler see contiguous rows at stride 1 */
                    if (stride == 1 && full[kx]) kahan_row(sum[c], carry[c], wv, xs + kx, 1, cw);
                    else if (stride == 1) kahan_row_where(sum[c], carry[c], wv, xs + kx, xok + kx, 1, cw);
                    else kahan_row_where(sum[c], carry[c], wv, xs + kx, xok + kx, stride, cw);
                }
        }
    for (int c = 0; c < ROW_C && co0 + c < cout; c++)
        for (int u = 0; u < cells; u++) y[((b * cout + co0 + c) * ho + oy) * (long) wo + ox0 + u] = sum[c][u];
}

/*
 * A convolution's data gradient shaped for a CPU device, as conv_rows_forward: an item computes
 * ROW_C input channels x up to ROW_W cells of one row of dx, each the same compensated sum in the
 * same order as conv_gemm_backward_data's and conv_backward_data's ((co, ky, kx), only the outputs
 * whose window reads the cell summed). Per row of dy it stages the row spread onto input columns
 * (gs[j] is dy at column tx = t0 + j when tx is a multiple of the stride inside dy, gok[j] says so),
 * so that cell u's tap kx is gs[u + k - 1 - kx] at any stride. Needs ROW_W + k - 1 <= ROW_X.
 * n = batch * ceil(cin / ROW_C) * h * ceil(wd / ROW_W) items.
 */
KERNEL void conv_rows_backward_data(GLOBAL const real *dy, GLOBAL const real *w, GLOBAL real *dx, long n, int cin, int h, int wd,
                                    int cout, int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int groups = (cin + ROW_C - 1) / ROW_C;
    row_stretch st = stretch_of(i, h, wd);
    int ix0 = st.c0, iy = st.row, cells = st.cells, cw = st.cw, ci0 = (int) (st.outer % groups) * ROW_C;
    long b = st.outer / groups;
    real sum[ROW_C][ROW_W], carry[ROW_C][ROW_W], gs[ROW_X];
    int gok[ROW_X];
    for (int c = 0; c < ROW_C; c++)
        for (int u = 0; u < ROW_W; u++) sum[c][u] = carry[c][u] = 0;
    int kk2 = k * k, t0 = ix0 + pad - (k - 1), nt = cw + k - 1;
    for (int j = 0; j < nt; j++) gok[j] = tap_source(t0 + j, 0, 0, stride, wo) >= 0; /* cells past the stretch compute too, and are not written */
    int full[ROW_X]; /* full[kx]: tap kx lands inside dy for every cell computed */
    for (int kx = 0; kx < k; kx++) {
        int f = 1;
        for (int u = 0; u < cw; u++) f &= gok[u + k - 1 - kx];
        full[kx] = f;
    }
    for (int co = 0; co < cout; co++)
        for (int ky = 0; ky < k; ky++) {
            int oy = tap_source(iy, pad, ky, stride, ho);
            if (oy < 0) continue;
            GLOBAL const real *gr = dy + ((b * cout + co) * ho + oy) * wo;
            for (int j = 0; j < nt; j++) gs[j] = gok[j] ? gr[(t0 + j) / stride] : (real) 0;
            for (int kx = 0; kx < k; kx++) {
                for (int c = 0; c < ROW_C; c++) {
                    real wv = ci0 + c < cin ? w[((long) co * cin + ci0 + c) * kk2 + ky * k + kx] : (real) 0;
                    if (full[kx]) kahan_row(sum[c], carry[c], wv, gs + (k - 1 - kx), 1, cw);
                    else kahan_row_where(sum[c], carry[c], wv, gs + (k - 1 - kx), gok + (k - 1 - kx), 1, cw);
                }
            }
        }
    for (int c = 0; c < ROW_C && ci0 + c < cin; c++)
        for (int u = 0; u < cells; u++) dx[((b * cin + ci0 + c) * h + iy) * (long) wd + ix0 + u] = sum[c][u];
}

/* dx[b,ci,iy,ix] = sum over the outputs whose window reads (iy, ix) of dy * w */
KERNEL void conv_backward_data(GLOBAL const real *dy, GLOBAL const real *w, GLOBAL real *dx, long n,
                               int cin, int h, int wd, int cout, int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ix = (int) (i % wd), iy = (int) ((i / wd) % h), ci = (int) ((i / ((long) wd * h)) % cin);
    long b = i / ((long) wd * h * cin);
    kahan s = {0, 0};
    for (int co = 0; co < cout; co++)
        for (int ky = 0; ky < k; ky++) {
            int oy = tap_source(iy, pad, ky, stride, ho);
            if (oy < 0) continue;
            for (int kx = 0; kx < k; kx++) {
                int ox = tap_source(ix, pad, kx, stride, wo);
                if (ox >= 0) kahan_add(&s, dy[((b * cout + co) * ho + oy) * wo + ox] * w[(((long) co * cin + ci) * k + ky) * k + kx]);
            }
        }
    dx[i] = s.sum;
}

/* dw[co,ci,ky,kx] = sum_b,oy,ox dy[b,co,oy,ox] x[b,ci,oy*s-p+ky,ox*s-p+kx] */
KERNEL void conv_backward_weight(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dw, long n,
                                 int batch, int cin, int h, int wd, int cout, int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int kx = (int) (i % k), ky = (int) ((i / k) % k), ci = (int) ((i / ((long) k * k)) % cin);
    int co = (int) (i / ((long) k * k * cin));
    kahan s = {0, 0};
    for (long b = 0; b < batch; b++)
        for (int oy = 0; oy < ho; oy++) {
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (int ox = 0; ox < wo; ox++) {
                int ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= wd) continue;
                kahan_add(&s, dy[((b * cout + co) * ho + oy) * wo + ox] * x[((b * cin + ci) * h + iy) * wd + ix]);
            }
        }
    dw[i] = s.sum;
}

/*
 * conv_backward_weight shaped for a CPU device: an item takes ROW_C output channels of one
 * (ci, ky, kx) and runs their sums side by side (one chain per weight, each the same compensated sum
 * in the same order as conv_backward_weight's: (b, oy, ox), cells outside x not summed), so that a
 * core overlaps ROW_C dependent chains and reads each x value once for all of them.
 * n = ceil(cout / ROW_C) * cin * k * k items.
 */
KERNEL void conv_rows_backward_weight(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dw, long n,
                                      int batch, int cin, int h, int wd, int cout, int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int kx = (int) (i % k), ky = (int) ((i / k) % k), ci = (int) ((i / ((long) k * k)) % cin);
    int co0 = (int) (i / ((long) k * k * cin)) * ROW_C;
    int nc = cout - co0 < ROW_C ? cout - co0 : ROW_C;
    kahan s[ROW_C];
    for (int q = 0; q < ROW_C; q++) s[q].sum = s[q].carry = 0;
    long plane = (long) ho * wo;
    for (long b = 0; b < batch; b++)
        for (int oy = 0; oy < ho; oy++) {
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            GLOBAL const real *g = dy + ((b * cout + co0) * ho + oy) * wo;
            for (int ox = 0; ox < wo; ox++) {
                int ix = ox * stride - pad + kx;
                if (ix < 0 || ix >= wd) continue;
                real xv = x[((b * cin + ci) * h + iy) * wd + ix];
                for (int q = 0; q < nc; q++) kahan_add(&s[q], g[q * plane + ox] * xv);
            }
        }
    for (int q = 0; q < nc; q++) dw[(((long) (co0 + q) * cin + ci) * k + ky) * k + kx] = s[q].sum;
}

/* Per channel: batch mean and 1/sqrt(biased variance + eps), two passes, and the affine form
   y = x * scale + shift that the apply kernel evaluates (PyTorch's CPU kernel does the same, with
   the statistics in float64; so here where the device has it). n = channels. */
KERNEL void bn_stats(GLOBAL const real *x, GLOBAL real *mean, GLOBAL real *invstd, GLOBAL const real *gamma, GLOBAL const real *beta,
                     GLOBAL real *scale, GLOBAL real *shift, long n, int batch, long hw, real eps) {
    long c = THREAD_INDEX();
    if (c >= n) return;
#if HAS_FP64 || !defined(__OPENCL_VERSION__)
    double s = 0;
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++) s += (double) x[(b * n + c) * hw + j];
    double m = s / (double) (batch * hw);
    double v = 0;
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++) {
            double d = (double) x[(b * n + c) * hw + j] - m;
            v += d * d;
        }
    double is = 1.0 / sqrt(v / (double) (batch * hw) + (double) eps);
#else
    kahan s = {0, 0};
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++) kahan_add(&s, x[(b * n + c) * hw + j]);
    real m = s.sum / (real) (batch * hw);
    kahan v = {0, 0};
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++) {
            real d = x[(b * n + c) * hw + j] - m;
            kahan_add(&v, d * d);
        }
    real is = (real) 1 / sqrt(v.sum / (real) (batch * hw) + eps);
#endif
    mean[c] = (real) m;
    invstd[c] = (real) is;
    scale[c] = (real) (is * gamma[c]);
    shift[c] = (real) (beta[c] - m * is * gamma[c]);
}

/*
 * bn_stats shaped for a CPU device: an item takes ROW_C channels and runs their sums side by side
 * (one chain per channel, each the same sum in the same order as bn_stats's), so that a core
 * overlaps ROW_C dependent chains instead of waiting on one. n = channels; items = ceil(n / ROW_C).
 */
KERNEL void bn_stats_rows(GLOBAL const real *x, GLOBAL real *mean, GLOBAL real *invstd, GLOBAL const real *gamma, GLOBAL const real *beta,
                          GLOBAL real *scale, GLOBAL real *shift, long n, int batch, long hw, real eps) {
    long c0 = THREAD_INDEX() * ROW_C;
    if (c0 >= n) return;
    int nc = n - c0 < ROW_C ? (int) (n - c0) : ROW_C;
#if HAS_FP64 || !defined(__OPENCL_VERSION__)
    double s[ROW_C], v[ROW_C], m[ROW_C];
    for (int q = 0; q < ROW_C; q++) s[q] = v[q] = 0;
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++)
            for (int q = 0; q < nc; q++) s[q] += (double) x[(b * n + c0 + q) * hw + j];
    for (int q = 0; q < nc; q++) m[q] = s[q] / (double) (batch * hw);
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++)
            for (int q = 0; q < nc; q++) {
                double d = (double) x[(b * n + c0 + q) * hw + j] - m[q];
                v[q] += d * d;
            }
    for (int q = 0; q < nc; q++) {
        double is = 1.0 / sqrt(v[q] / (double) (batch * hw) + (double) eps);
        long c = c0 + q;
        mean[c] = (real) m[q];
        invstd[c] = (real) is;
        scale[c] = (real) (is * gamma[c]);
        shift[c] = (real) (beta[c] - m[q] * is * gamma[c]);
    }
#else
    kahan s[ROW_C], v[ROW_C];
    real m[ROW_C];
    for (int q = 0; q < ROW_C; q++) s[q].sum = s[q].carry = v[q].sum = v[q].carry = 0;
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++)
            for (int q = 0; q < nc; q++) kahan_add(&s[q], x[(b * n + c0 + q) * hw + j]);
    for (int q = 0; q < nc; q++) m[q] = s[q].sum / (real) (batch * hw);
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++)
            for (int q = 0; q < nc; q++) {
                real d = x[(b * n + c0 + q) * hw + j] - m[q];
                kahan_add(&v[q], d * d);
            }
    for (int q = 0; q < nc; q++) {
        real is = (real) 1 / sqrt(v[q].sum / (real) (batch * hw) + eps);
        long c = c0 + q;
        mean[c] = (real) m[q];
        invstd[c] = (real) is;
        scale[c] = (real) (is * gamma[c]);
        shift[c] = (real) (beta[c] - m[q] * is * gamma[c]);
    }
#endif
}

KERNEL void bn_apply(GLOBAL const real *x, GLOBAL real *y, GLOBAL const real *scale, GLOBAL const real *shift, long n, int channels,
                     long hw) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int c = (int) ((i / hw) % channels);
    y[i] = x[i] * scale[c] + shift[c];
}

/* Per channel: sums[c] = sum dy, sums[channels + c] = sum dy * (x - mean). n = channels. */
KERNEL void bn_backward_reduce(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL const real *mean, GLOBAL real *sums,
                               long n, int batch, long hw) {
    long c = THREAD_INDEX();
    if (c >= n) return;
    kahan a = {0, 0}, p = {0, 0};
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++) {
            long idx = (b * n + c) * hw + j;
            kahan_add(&a, dy[idx]);
            kahan_add(&p, dy[idx] * (x[idx] - mean[c]));
        }
    sums[c] = a.sum;
    sums[n + c] = p.sum;
}

/* dx = gamma invstd (dy - mean(dy) - xhat mean(dy xhat)), means over batch and space */
/* bn_backward_reduce shaped for a CPU device, as bn_stats_rows: ROW_C channels' chains side by side per item */
KERNEL void bn_backward_reduce_rows(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL const real *mean, GLOBAL real *sums,
                                    long n, int batch, long hw) {
    long c0 = THREAD_INDEX() * ROW_C;
    if (c0 >= n) return;
    int nc = n - c0 < ROW_C ? (int) (n - c0) : ROW_C;
    kahan a[ROW_C], p[ROW_C];
    real m[ROW_C];
    for (int q = 0; q < ROW_C; q++) {
        a[q].sum = a[q].carry = p[q].sum = p[q].carry = 0;
        m[q] = q < nc ? mean[c0 + q] : (real) 0;
    }
    for (long b = 0; b < batch; b++)
        for (long j = 0; j < hw; j++)
            for (int q = 0; q < nc; q++) {
                long idx = (b * n + c0 + q) * hw + j;
                kahan_add(&a[q], dy[idx]);
                kahan_add(&p[q], dy[idx] * (x[idx] - m[q]));
            }
    for (int q = 0; q < nc; q++) {
        sums[c0 + q] = a[q].sum;
        sums[n + c0 + q] = p[q].sum;
    }
}

KERNEL void bn_backward_apply(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dx, GLOBAL const real *mean,
                              GLOBAL const real *invstd, GLOBAL const real *gamma, GLOBAL const real *sums,
                              long n, int channels, long hw, long count) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int c = (int) ((i / hw) % channels);
    real is = invstd[c];
    real xhat = (x[i] - mean[c]) * is;
    real mdy = sums[c] / (real) count, mdyx = sums[channels + c] * is / (real) count;
    dx[i] = gamma[c] * is * (dy[i] - mdy - xhat * mdyx);
}

/*
 * bn_apply and bn_backward_apply shaped for a CPU device: an item per plane (sample, channel), its
 * loop along the plane's cells (vectorised; no division per element to find the channel). The same
 * expressions as the per-element kernels. n = batch * channels items.
 */
KERNEL void bn_apply_rows(GLOBAL const real *x, GLOBAL real *y, GLOBAL const real *scale, GLOBAL const real *shift, long n, int channels,
                          long hw) {
    long p = THREAD_INDEX();
    if (p >= n) return;
    int c = (int) (p % channels);
    real sc = scale[c], sh = shift[c];
    GLOBAL const real *xp = x + p * hw;
    GLOBAL real *yp = y + p * hw;
    for (long j = 0; j < hw; j++) yp[j] = xp[j] * sc + sh;
}

KERNEL void bn_backward_apply_rows(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dx, GLOBAL const real *mean,
                                   GLOBAL const real *invstd, GLOBAL const real *gamma, GLOBAL const real *sums,
                                   long n, int channels, long hw, long count) {
    long p = THREAD_INDEX();
    if (p >= n) return;
    int c = (int) (p % channels);
    real is = invstd[c], m = mean[c], g = gamma[c];
    real mdy = sums[c] / (real) count, mdyx = sums[channels + c] * is / (real) count;
    GLOBAL const real *xp = x + p * hw, *gp = dy + p * hw;
    GLOBAL real *dp = dx + p * hw;
    for (long j = 0; j < hw; j++) {
        real xhat = (xp[j] - m) * is;
        dp[j] = g * is * (gp[j] - mdy - xhat * mdyx);
    }
}

KERNEL void relu_forward(GLOBAL const real *x, GLOBAL real *y, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    y[i] = x[i] > 0 ? x[i] : 0;
}

KERNEL void relu_backward(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dx, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    dx[i] = x[i] > 0 ? dy[i] : 0;
}

/* pointwise activations (Op.Pointwise): kind 0 leaky relu, 1 hard sigmoid, 2 hard swish */
KERNEL void pointwise_forward(GLOBAL const real *x, GLOBAL real *y, int kind, real a, real b, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    real v = x[i], z;
    if (kind == 0) {
        y[i] = v > 0 ? v : a * v;
    } else if (kind == 1) {
        z = a * v + b;
        y[i] = z < 0 ? 0 : z > 1 ? 1 : z;
    } else {
        z = v / (real) 6 + (real) 0.5;
        y[i] = v * (z < 0 ? 0 : z > 1 ? 1 : z);
    }
}

/* dx = dy * f'(x), with PyTorch's choices at the kinks */
KERNEL void pointwise_backward(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dx, int kind, real a, real b, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    real v = x[i], d, z;
    if (kind == 0) {
        d = v > 0 ? 1 : a;
    } else if (kind == 1) {
        z = a * v + b;
        d = z > 0 && z < 1 ? a : 0;
    } else {
        d = v < -3 ? 0 : v > 3 ? 1 : v / (real) 3 + (real) 0.5;
    }
    dx[i] = dy[i] * d;
}

KERNEL void clip_forward(GLOBAL const real *x, GLOBAL real *y, real lo, real hi, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    real v = x[i];
    y[i] = v < lo ? lo : v > hi ? hi : v;
}

/* the gradient passes where lo < y < hi (the clip's output: exactly where lo < x < hi) */
KERNEL void clip_backward(GLOBAL const real *y, GLOBAL const real *dy, GLOBAL real *dx, real lo, real hi, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    dx[i] = y[i] > lo && y[i] < hi ? dy[i] : 0;
}

KERNEL void add(GLOBAL const real *a, GLOBAL const real *b, GLOBAL real *out, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    out[i] = a[i] + b[i];
}

KERNEL void mul(GLOBAL const real *a, GLOBAL const real *b, GLOBAL real *out, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    out[i] = a[i] * b[i];
}

KERNEL void scale(GLOBAL const real *x, GLOBAL real *y, real s, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    y[i] = x[i] * s;
}

DEVICE_FN int pool_count(int oy, int ox, int k, int stride, int pad, int h, int w, int include_pad) {
    if (include_pad) return k * k;
    int y0 = max(oy * stride - pad, 0), y1 = min(oy * stride - pad + k, h);
    int x0 = max(ox * stride - pad, 0), x1 = min(ox * stride - pad + k, w);
    return (y1 - y0) * (x1 - x0);
}

/* planes = batch * channels; n = planes * ho * wo */
KERNEL void avgpool_forward(GLOBAL const real *x, GLOBAL real *y, long n, int h, int w, int k, int stride, int pad,
                            int include_pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ox = (int) (i % wo), oy = (int) ((i / wo) % ho);
    long p = i / ((long) wo * ho);
    real s = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += x[(p * h + iy) * w + ix];
        }
    y[i] = s / (real) pool_count(oy, ox, k, stride, pad, h, w, include_pad);
}

/*
 * avgpool_forward shaped for a CPU device, as conv_rows_forward: an item computes up to ROW_W cells
 * of one output row of one plane, staging each input row its windows read; the same sums in the same
 * order ((ky, kx), cells outside x not added). n = planes * ho * ceil(wo / ROW_W) items.
 */
KERNEL void avgpool_rows_forward(GLOBAL const real *x, GLOBAL real *y, long n, int h, int w, int k, int stride, int pad,
                                 int include_pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    row_stretch st = stretch_of(i, ho, wo);
    int ox0 = st.c0, oy = st.row, cells = st.cells, cw = st.cw;
    long p = st.outer;
    real s[ROW_W], xs[ROW_X];
    int xok[ROW_X];
    for (int u = 0; u < ROW_W; u++) s[u] = 0;
    int x0 = ox0 * stride - pad, nx = (cw - 1) * stride + k;
    for (int j = 0; j < nx; j++) xok[j] = x0 + j >= 0 && x0 + j < w;
    for (int ky = 0; ky < k; ky++) {
        int iy = oy * stride - pad + ky;
        if (iy < 0 || iy >= h) continue;
        GLOBAL const real *xr = x + (p * h + iy) * w;
        for (int j = 0; j < nx; j++) xs[j] = xok[j] ? xr[x0 + j] : (real) 0;
        for (int kx = 0; kx < k; kx++)
            for (int u = 0; u < cw; u++) s[u] = xok[u * stride + kx] ? s[u] + xs[u * stride + kx] : s[u];
    }
    for (int u = 0; u < cells; u++) y[(p * ho + oy) * (long) wo + ox0 + u] = s[u] / (real) pool_count(oy, ox0 + u, k, stride, pad, h, w, include_pad);
}

/*
 * avgpool_backward shaped for a CPU device, as conv_rows_backward_data: an item computes up to ROW_W
 * cells of one row of dx; per row of dy it stages dy / count spread onto input columns; the same
 * sums in the same order as avgpool_backward's. n = planes * h * ceil(w / ROW_W) items.
 */
KERNEL void avgpool_rows_backward(GLOBAL const real *dy, GLOBAL real *dx, long n, int h, int w, int k, int stride, int pad,
                                  int include_pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    row_stretch st = stretch_of(i, h, w);
    int ix0 = st.c0, iy = st.row, cells = st.cells, cw = st.cw;
    long p = st.outer;
    real s[ROW_W], gs[ROW_X];
    int gok[ROW_X];
    for (int u = 0; u < ROW_W; u++) s[u] = 0;
    int t0 = ix0 + pad - (k - 1), nt = cw + k - 1;
    for (int j = 0; j < nt; j++) gok[j] = tap_source(t0 + j, 0, 0, stride, wo) >= 0;
    for (int ky = 0; ky < k; ky++) {
        int oy = tap_source(iy, pad, ky, stride, ho);
        if (oy < 0) continue;
        GLOBAL const real *gr = dy + (p * ho + oy) * wo;
        for (int j = 0; j < nt; j++) {
            int ox = (t0 + j) / stride;
            gs[j] = gok[j] ? gr[ox] / (real) pool_count(oy, ox, k, stride, pad, h, w, include_pad) : (real) 0;
        }
        for (int kx = 0; kx < k; kx++)
            for (int u = 0; u < cw; u++) s[u] = gok[u + k - 1 - kx] ? s[u] + gs[u + k - 1 - kx] : s[u];
    }
    for (int u = 0; u < cells; u++) dx[(p * h + iy) * (long) w + ix0 + u] = s[u];
}

/* n = planes * h * w: each input cell gathers dy / count of every window that holds it */
KERNEL void avgpool_backward(GLOBAL const real *dy, GLOBAL real *dx, long n, int h, int w, int k, int stride, int pad,
                             int include_pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ix = (int) (i % w), iy = (int) ((i / w) % h);
    long p = i / ((long) w * h);
    real s = 0;
    for (int ky = 0; ky < k; ky++) {
        int oy = tap_source(iy, pad, ky, stride, ho);
        if (oy < 0) continue;
        for (int kx = 0; kx < k; kx++) {
            int ox = tap_source(ix, pad, kx, stride, wo);
            if (ox >= 0) s += dy[(p * ho + oy) * wo + ox] / (real) pool_count(oy, ox, k, stride, pad, h, w, include_pad);
        }
    }
    dx[i] = s;
}

/* the flat index of the winning cell of window (p, oy, ox): the first maximum in row-major window order;
   padded cells never win */
DEVICE_FN long max_cell(GLOBAL const real *x, long p, int oy, int ox, int h, int w, int k, int stride, int pad) {
    long best = -1;
    real bv = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
            long i = (p * h + iy) * w + ix;
            real v = x[i];
            if (best < 0 || v > bv || (v != v && bv == bv)) {
                best = i;
                bv = v;
            }
        }
    return best;
}

/* n = planes * ho * wo */
KERNEL void maxpool_forward(GLOBAL const real *x, GLOBAL real *y, long n, int h, int w, int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ox = (int) (i % wo), oy = (int) ((i / wo) % ho);
    long p = i / ((long) wo * ho);
    y[i] = x[max_cell(x, p, oy, ox, h, w, k, stride, pad)];
}

/* n = planes * h * w: each input cell gathers dy of every window it won */
KERNEL void maxpool_backward(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dx, long n, int h, int w, int k, int stride,
                             int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ix = (int) (i % w), iy = (int) ((i / w) % h);
    long p = i / ((long) w * h);
    real s = 0;
    for (int ky = 0; ky < k; ky++) {
        int oy = tap_source(iy, pad, ky, stride, ho);
        if (oy < 0) continue;
        for (int kx = 0; kx < k; kx++) {
            int ox = tap_source(ix, pad, kx, stride, wo);
            if (ox >= 0 && max_cell(x, p, oy, ox, h, w, k, stride, pad) == i) s += dy[(p * ho + oy) * wo + ox];
        }
    }
    dx[i] = s;
}

/* dst[b, dc + c, :] = src[b, sc + c, :] for c < channels; n = batch * channels * hw */
KERNEL void channel_copy(GLOBAL const real *src, GLOBAL real *dst, long n, int src_c, int src_c0, int dst_c, int dst_c0, int channels,
                         long hw) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    long j = i % hw;
    long c = (i / hw) % channels;
    long b = i / (hw * channels);
    dst[(b * dst_c + dst_c0 + c) * hw + j] = src[(b * src_c + src_c0 + c) * hw + j];
}

/* depthwise convolution, w[c,1,k,k]; n = planes * ho * wo */
KERNEL void depthwise_forward(GLOBAL const real *x, GLOBAL const real *w, GLOBAL real *y, long n, int c, int h, int wd, int k, int stride,
                              int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ox = (int) (i % wo), oy = (int) ((i / wo) % ho);
    long p = i / ((long) wo * ho);
    int ch = (int) (p % c);
    real s = 0;
    for (int ky = 0; ky < k; ky++)
        for (int kx = 0; kx < k; kx++) {
            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
            if (iy >= 0 && iy < h && ix >= 0 && ix < wd) s += x[(p * h + iy) * wd + ix] * w[((long) ch * k + ky) * k + kx];
        }
    y[i] = s;
}

/* n = planes * h * w: each input cell gathers every output that read it */
KERNEL void depthwise_backward_data(GLOBAL const real *dy, GLOBAL const real *w, GLOBAL real *dx, long n, int c, int h, int wd, int k,
                                    int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ix = (int) (i % wd), iy = (int) ((i / wd) % h);
    long p = i / ((long) wd * h);
    int ch = (int) (p % c);
    real s = 0;
    for (int ky = 0; ky < k; ky++) {
        int oy = tap_source(iy, pad, ky, stride, ho);
        if (oy < 0) continue;
        for (int kx = 0; kx < k; kx++) {
            int ox = tap_source(ix, pad, kx, stride, wo);
            if (ox >= 0) s += dy[(p * ho + oy) * wo + ox] * w[((long) ch * k + ky) * k + kx];
        }
    }
    dx[i] = s;
}

/* n = c * k * k: one weight per thread, summed over the batch and the output map */
KERNEL void depthwise_backward_weight(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dw, long n, int batch, int c, int h,
                                      int wd, int k, int stride, int pad, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int kx = (int) (i % k), ky = (int) ((i / k) % k), ch = (int) (i / ((long) k * k));
    kahan s = {0, 0};
    for (int b = 0; b < batch; b++) {
        long p = (long) b * c + ch;
        for (int oy = 0; oy < ho; oy++) {
            int iy = oy * stride - pad + ky;
            if (iy < 0 || iy >= h) continue;
            for (int ox = 0; ox < wo; ox++) {
                int ix = ox * stride - pad + kx;
                if (ix >= 0 && ix < wd) kahan_add(&s, x[(p * h + iy) * wd + ix] * dy[(p * ho + oy) * wo + ox]);
            }
        }
    }
    dw[i] = s.sum;
}

/* resize positions and weights in float64 where the device has it, as the CPU backends compute them:
   in float32 an ulp of a source position moved the resized input by 3e-6 and a score by 1e-4 */
#if HAS_FP64 || REAL_IS_DOUBLE
typedef double coord;
#else
typedef float coord;
#endif

/* PyTorch's align_corners=False source position of output o for a resize from n_in to n_out cells */
DEVICE_FN coord resize_src(int o, int n_in, int n_out) {
    coord src = ((coord) o + (coord) 0.5) * ((coord) n_in / (coord) n_out) - (coord) 0.5;
    return src < 0 ? (coord) 0 : src;
}

/* bilinear resize; n = planes * ho * wo */
KERNEL void resize_forward(GLOBAL const real *x, GLOBAL real *y, long n, int h, int w, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ox = (int) (i % wo), oy = (int) ((i / wo) % ho);
    long p = i / ((long) wo * ho);
    coord sy = resize_src(oy, h, ho), sx = resize_src(ox, w, wo);
    int y0 = min((int) sy, h - 1), x0 = min((int) sx, w - 1);
    int y1 = min(y0 + 1, h - 1), x1 = min(x0 + 1, w - 1);
    coord ly = sy - y0, lx = sx - x0;
    GLOBAL const real *b = x + p * h * w;
    y[i] = (real) ((1 - ly) * ((1 - lx) * (coord) b[y0 * w + x0] + lx * (coord) b[y0 * w + x1])
                   + ly * ((1 - lx) * (coord) b[y1 * w + x0] + lx * (coord) b[y1 * w + x1]));
}

/* PyTorch's mode='nearest' source cell of output o for a resize from n_in to n_out cells: the scale in float32
   (divided in float64 where the device has it: OpenCL allows a float32 division 2.5 ulp of error) */
DEVICE_FN int nearest_src(int o, int n_in, int n_out) {
    float scale = (float) ((coord) n_in / (coord) n_out);
    return min((int) floor((float) o * scale), n_in - 1);
}

/* nearest resize; n = planes * ho * wo */
KERNEL void resize_nearest_forward(GLOBAL const real *x, GLOBAL real *y, long n, int h, int w, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ox = (int) (i % wo), oy = (int) ((i / wo) % ho);
    long p = i / ((long) wo * ho);
    y[i] = x[(p * h + nearest_src(oy, h, ho)) * w + nearest_src(ox, w, wo)];
}

/* n = planes * h * w: each input cell sums the outputs that read it, in output raster order */
KERNEL void resize_nearest_backward(GLOBAL const real *dy, GLOBAL real *dx, long n, int h, int w, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ix = (int) (i % w), iy = (int) ((i / w) % h);
    long p = i / ((long) w * h);
    real s = 0;
    for (int oy = 0; oy < ho; oy++) {
        if (nearest_src(oy, h, ho) != iy) continue;
        for (int ox = 0; ox < wo; ox++)
            if (nearest_src(ox, w, wo) == ix) s += dy[(p * ho + oy) * wo + ox];
    }
    dx[i] = s;
}

/* the weight with which output o reads input cell c along one axis (0 when it does not) */
DEVICE_FN coord resize_weight(int o, int c, int n_in, int n_out) {
    coord s = resize_src(o, n_in, n_out);
    int i0 = min((int) s, n_in - 1), i1 = min(i0 + 1, n_in - 1);
    coord l = s - i0, wt = 0;
    if (i0 == c) wt += 1 - l;
    if (i1 == c) wt += l;
    return wt;
}

/* n = planes * h * w: each input cell gathers the outputs near it */
KERNEL void resize_backward(GLOBAL const real *dy, GLOBAL real *dx, long n, int h, int w, int ho, int wo) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int ix = (int) (i % w), iy = (int) ((i / w) % h);
    long p = i / ((long) w * h);
    real fy = (real) ho / (real) h, fx = (real) wo / (real) w;
    int oy0 = max(0, (int) ((iy - 1) * fy) - 2), oy1 = min(ho - 1, (int) ((iy + 2) * fy) + 2);
    int ox0 = max(0, (int) ((ix - 1) * fx) - 2), ox1 = min(wo - 1, (int) ((ix + 2) * fx) + 2);
    coord s = 0;
    for (int oy = oy0; oy <= oy1; oy++) {
        coord wy = resize_weight(oy, iy, h, ho);
        if (wy == 0) continue;
        for (int ox = ox0; ox <= ox1; ox++) {
            coord wx = resize_weight(ox, ix, w, wo);
            if (wx != 0) s += dy[(p * ho + oy) * wo + ox] * wy * wx;
        }
    }
    dx[i] = (real) s;
}

KERNEL void sigmoid_forward(GLOBAL const real *x, GLOBAL real *y, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    y[i] = (real) 1 / ((real) 1 + exp(-x[i]));
}

KERNEL void sigmoid_backward(GLOBAL const real *y, GLOBAL const real *dy, GLOBAL real *dx, long n) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    dx[i] = dy[i] * y[i] * ((real) 1 - y[i]);
}

/* y = x * s[plane]; n = planes * hw */
KERNEL void channel_scale(GLOBAL const real *x, GLOBAL const real *s, GLOBAL real *y, long n, long hw) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    y[i] = x[i] * s[i / hw];
}

/* ds[plane] = sum of dy * x over the plane; n = planes */
KERNEL void channel_scale_backward(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *ds, long n, long hw) {
    long p = THREAD_INDEX();
    if (p >= n) return;
    kahan s = {0, 0};
    for (long j = 0; j < hw; j++) kahan_add(&s, dy[p * hw + j] * x[p * hw + j]);
    ds[p] = s.sum;
}

/* y = x + bias[channel]; n = batch * c * hw */
KERNEL void bias_add(GLOBAL const real *x, GLOBAL const real *bias, GLOBAL real *y, long n, int c, long hw) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    y[i] = x[i] + bias[(i / hw) % c];
}

/* n = planes */
KERNEL void global_avgpool_forward(GLOBAL const real *x, GLOBAL real *y, long n, long hw) {
    long p = THREAD_INDEX();
    if (p >= n) return;
    kahan s = {0, 0};
    for (long j = 0; j < hw; j++) kahan_add(&s, x[p * hw + j]);
    y[p] = s.sum / (real) hw;
}

/* n = planes * hw */
KERNEL void global_avgpool_backward(GLOBAL const real *dy, GLOBAL real *dx, long n, long hw) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    dx[i] = dy[i / hw] / (real) hw;
}

/* y[b,o] = b[o] + sum_i x[b,i] w[o,i]; n = batch * out */
KERNEL void linear_forward(GLOBAL const real *x, GLOBAL const real *w, GLOBAL const real *bias, GLOBAL real *y, long n,
                           int in, int out) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int o = (int) (i % out);
    long b = i / out;
    kahan s = {bias[o], 0};
    for (int j = 0; j < in; j++) kahan_add(&s, x[b * in + j] * w[(long) o * in + j]);
    y[i] = s.sum;
}

/* dx[b,i] = sum_o dy[b,o] w[o,i]; n = batch * in */
KERNEL void linear_backward_data(GLOBAL const real *dy, GLOBAL const real *w, GLOBAL real *dx, long n, int in, int out) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int j = (int) (i % in);
    long b = i / in;
    kahan s = {0, 0};
    for (int o = 0; o < out; o++) kahan_add(&s, dy[b * out + o] * w[(long) o * in + j]);
    dx[i] = s.sum;
}

/* dw[o,i] = sum_b dy[b,o] x[b,i]; n = out * in */
KERNEL void linear_backward_weight(GLOBAL const real *x, GLOBAL const real *dy, GLOBAL real *dw, long n, int batch, int in,
                                   int out) {
    long i = THREAD_INDEX();
    if (i >= n) return;
    int j = (int) (i % in), o = (int) (i / in);
    kahan s = {0, 0};
    for (long b = 0; b < batch; b++) kahan_add(&s, dy[b * out + o] * x[b * in + j]);
    dw[i] = s.sum;
}

/* n = batch: grad[b,j] = (softmax(logits[b])_j - [j == labels[b]]) / batch, the mean cross-entropy's gradient */
KERNEL void cross_entropy_grad(GLOBAL const real *logits, GLOBAL const int *labels, GLOBAL real *grad, long n, int classes) {
    long b = THREAD_INDEX();
    if (b >= n) return;
    GLOBAL const real *z = logits + b * classes;
    real m = z[0];
    for (int j = 1; j < classes; j++) m = z[j] > m ? z[j] : m;
    accum s = 0;
    for (int j = 0; j < classes; j++) s += exp((accum) (z[j] - m));
    for (int j = 0; j < classes; j++) grad[b * classes + j] = (real) ((exp((accum) (z[j] - m)) / s - (j == labels[b] ? 1 : 0)) / (accum) n);
}
