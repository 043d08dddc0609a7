/*
 * Native CPU kernels of the fast CPU backend (io.wrcor.backend.cpu.NativeKernels), called through
 * FFM. Built by native/build.sh when the build machine has a C compiler; without it the backend
 * runs the same computation through BLAS level-1 calls (see FastCpuBackend).
 */
#include <stdint.h>
#include <stdlib.h>

/*
 * dst[j] = sum over taps t, in order, of w[t] * src[off[t] + j], for j in [0, n): a depthwise
 * convolution of planes laid out so that every kernel tap is a fixed offset (FastCpuBackend.Phases).
 * The same per-element sums in the same tap order as k*k axpy passes (dst += w[t] * src[off[t]..]),
 * with the partial sums of a block of outputs kept in registers across the taps instead of being
 * stored and reloaded once per tap.
 */
typedef float v8 __attribute__((vector_size(32), aligned(4))); /* eight floats, any 4-byte alignment */
typedef int32_t v8i __attribute__((vector_size(32), aligned(4)));

void wrcor_multi_tap(int32_t n, int32_t taps, const float *w, const int32_t *off, const float *src, float *dst) {
    int32_t j = 0;
    for (; j + 64 <= n; j += 64) { /* 64 outputs in eight vector registers across all the taps */
        v8 a0 = {0}, a1 = {0}, a2 = {0}, a3 = {0}, a4 = {0}, a5 = {0}, a6 = {0}, a7 = {0};
        for (int32_t t = 0; t < taps; t++) {
            const float wt = w[t];
            const v8 *s = (const v8 *) (src + off[t] + j);
            a0 += wt * s[0]; a1 += wt * s[1]; a2 += wt * s[2]; a3 += wt * s[3];
            a4 += wt * s[4]; a5 += wt * s[5]; a6 += wt * s[6]; a7 += wt * s[7];
        }
        v8 *d = (v8 *) (dst + j);
        d[0] = a0; d[1] = a1; d[2] = a2; d[3] = a3; d[4] = a4; d[5] = a5; d[6] = a6; d[7] = a7;
    }
    for (; j + 8 <= n; j += 8) {
        v8 a = {0};
        for (int32_t t = 0; t < taps; t++) a += w[t] * *(const v8 *) (src + off[t] + j);
        *(v8 *) (dst + j) = a;
    }
    for (; j < n; j++) {
        float a = 0.0f;
        for (int32_t t = 0; t < taps; t++) a += w[t] * src[off[t] + j];
        dst[j] = a;
    }
}

/*
 * Batch-norm passes over the planes of one channel: `planes` planes of `hw` floats, plane p at
 * offset p * stride (the channel's plane in each sample of an NCHW tensor). Each plane's sums are
 * exactly the Java loops' (FastCpuBackend): four float accumulators, lane j taking the elements
 * i = j mod 4, the leftover elements added to lane 0, folded as (l0 + l1) + (l2 + l3), and the
 * planes' sums added in double in plane order. A four-float vector holds the four lanes; several
 * planes run side by side so that the adds overlap. No contraction into fused multiply-adds: the
 * Java loops round every product. The results are bit-identical to the Java loops'.
 */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")

typedef float v4 __attribute__((vector_size(16), aligned(4)));
typedef int32_t v4i __attribute__((vector_size(16), aligned(4)));

static inline float fold4(v4 a) {
    return (a[0] + a[1]) + (a[2] + a[3]);
}

/* The gradient where the ReLU output y lets it through: y's bits a positive int (y > +0, or a
 * positive NaN), as FastCpuBackend.reluBackward and PyTorch's threshold_backward decide. */
static inline v4 masked(v4 g, v4 y) {
    return (v4) ((v4i) g & ((v4i) y > 0));
}

static inline float masked1(float g, float y) { /* branch-free: masks have random signs */
    union { float f; int32_t i; } ug = { g }, uy = { y };
    ug.i &= -(int32_t) (uy.i > 0);
    return ug.f;
}

/* max(v, 0) as Java's Math.max(v, 0f) computes it: +0 for v <= 0 (either zero), NaN kept. */
static inline float relu1(float v) {
    return v > 0.0f || v != v ? v : 0.0f;
}

/* Sum of each of up to four planes (mode 0), or of (x - m)^2 (mode 1), into r[0..n). */
static inline void plane_sums4(int n, const float *const *xp, int64_t hw, int mode, float m, float *r) {
    const v4 mv = m - (v4) {0};
    v4 a[4] = {{0}, {0}, {0}, {0}};
    int64_t i = 0;
    for (; i + 4 <= hw; i += 4) {
        for (int k = 0; k < 4; k++) {
            if (k >= n) break;
            v4 v = *(const v4 *) (xp[k] + i);
            if (mode) { v = v - mv; v = v * v; }
            a[k] += v;
        }
    }
    for (int k = 0; k < n; k++) {
        float l0 = a[k][0];
        for (int64_t j = i; j < hw; j++) {
            float v = xp[k][j];
            if (mode) { v = v - m; v = v * v; }
            l0 += v;
        }
        a[k][0] = l0;
        r[k] = fold4(a[k]);
    }
}

static double channel_sum(int32_t planes, int64_t stride, int64_t hw, const float *x, int mode, float m) {
    double s = 0.0;
    for (int32_t p = 0; p < planes; p += 4) {
        int n = planes - p < 4 ? planes - p : 4;
        const float *xp[4];
        float r[4];
        for (int k = 0; k < n; k++) xp[k] = x + (p + k) * stride;
        plane_sums4(n, xp, hw, mode, m, r);
        for (int k = 0; k < n; k++) s += (double) r[k];
    }
    return s;
}

/* out[0] = sum of x; out[1] = sum of (x - m)^2 with m = (float) (out[0] / (planes * hw)). */
void wrcor_bn_stats(int32_t planes, int64_t stride, int64_t hw, const float *x, double *out) {
    out[0] = channel_sum(planes, stride, hw, x, 0, 0.0f);
    out[1] = channel_sum(planes, stride, hw, x, 1, (float) (out[0] / ((double) planes * (double) hw)));
}

/* y = x * scale + shift, then with relu as Java's Math.max(v, 0f): NaN stays NaN, -0 becomes +0. */
void wrcor_bn_apply(int32_t planes, int64_t stride, int64_t hw, const float *x, float scale, float shift, int32_t relu, float *y) {
    const v4 sc = scale - (v4) {0}, sh = shift - (v4) {0};
    for (int32_t p = 0; p < planes; p++) {
        const float *xp = x + p * stride;
        float *yp = y + p * stride;
        int64_t i = 0;
        for (; i + 4 <= hw; i += 4) {
            v4 v = *(const v4 *) (xp + i) * sc;
            v = v + sh;
            if (relu) v = (v4) ((v4i) v & ((v > 0) | (v != v)));
            *(v4 *) (yp + i) = v;
        }
        for (; i < hw; i++) {
            float v = xp[i] * scale;
            v = v + shift;
            if (relu) v = relu1(v);
            yp[i] = v;
        }
    }
}

/* out[0] = sum of g, out[1] = sum of g * (x - m), where g is dy, or dy masked by the ReLU output y
 * when y is not null (the gradient a ReLU after the BN passes back); two planes side by side. */
void wrcor_bn_grad_sums(int32_t planes, int64_t stride, int64_t hw, const float *dy, const float *y, const float *x, float m,
                        double *out) {
    const v4 mv = m - (v4) {0};
    double s = 0.0, sp = 0.0;
    for (int32_t p = 0; p < planes; p += 2) {
        int n = planes - p < 2 ? planes - p : 2;
        v4 a[2] = {{0}, {0}}, q[2] = {{0}, {0}};
        int64_t i = 0;
        for (; i + 4 <= hw; i += 4) {
            for (int k = 0; k < 2; k++) {
                if (k >= n) break;
                int64_t o = (p + k) * stride + i;
                v4 g = *(const v4 *) (dy + o);
                if (y) g = masked(g, *(const v4 *) (y + o));
                a[k] += g;
                v4 d = *(const v4 *) (x + o) - mv;
                q[k] += g * d;
            }
        }
        for (int k = 0; k < n; k++) {
            float l0 = a[k][0], r0 = q[k][0];
            for (int64_t j = i; j < hw; j++) {
                int64_t o = (p + k) * stride + j;
                float g = y ? masked1(dy[o], y[o]) : dy[o];
                l0 += g;
                float d = x[o] - m;
                r0 += g * d;
            }
            a[k][0] = l0;
            q[k][0] = r0;
            s += (double) fold4(a[k]);
            sp += (double) fold4(q[k]);
        }
    }
    out[0] = s;
    out[1] = sp;
}

/* dx = k1 * g - k2 - k3 * (x - m), g as in wrcor_bn_grad_sums, each product and sum rounded in that order. */
void wrcor_bn_grad_apply(int32_t planes, int64_t stride, int64_t hw, const float *dy, const float *y, const float *x, float m,
                         float k1, float k2, float k3, float *dx) {
    const v4 mv = m - (v4) {0}, c1 = k1 - (v4) {0}, c2 = k2 - (v4) {0}, c3 = k3 - (v4) {0};
    for (int32_t p = 0; p < planes; p++) {
        const float *gp = dy + p * stride, *xp = x + p * stride, *yp = y ? y + p * stride : 0;
        float *dp = dx + p * stride;
        int64_t i = 0;
        for (; i + 4 <= hw; i += 4) {
            v4 g = *(const v4 *) (gp + i);
            if (yp) g = masked(g, *(const v4 *) (yp + i));
            v4 t = c1 * g;
            t = t - c2;
            v4 d = *(const v4 *) (xp + i) - mv;
            d = c3 * d;
            *(v4 *) (dp + i) = t - d;
        }
        for (; i < hw; i++) {
            float g = yp ? masked1(gp[i], yp[i]) : gp[i];
            float t = k1 * g;
            t = t - k2;
            float d = xp[i] - m;
            d = k3 * d;
            dp[i] = t - d;
        }
    }
}

#pragma GCC pop_options

/*
 * Max pooling over `planes` planes of h x w floats (plane p at p * h * w; outputs at p * ho * wo),
 * window k x k, stride s, padding pad (padded cells are skipped, never compared). Each output's
 * window is scanned in row-major order and keeps the first tap that is greater than the best so far,
 * or the first NaN: ReferenceBackend.maxCell's rule (PyTorch's), so ties and NaNs pick the same cell.
 * Forward (y not null): y = x at that cell. Backward (dx not null): dx[cell] += dy[output], summed in
 * double in output raster order over each plane (acc: h * w doubles of scratch) and rounded once,
 * as the reference does.
 */
static inline int takes(float v, float bv) {
    return (v > bv) | ((v != v) & (bv == bv));
}


/* Tap t (value v) takes the window's lead where it is greater than the best so far, or a NaN where the best is not. */
#define MAXPOOL_STEP(bv, bt, vload, t) do { \
        v8 v_ = (vload); \
        v8i take_ = (v_ > (bv)) | ((v_ != v_) & ((bv) == (bv))); \
        (bv) = (v8) (((v8i) v_ & take_) | ((v8i) (bv) & ~take_)); \
        (bt) = ((t) & take_) | ((bt) & ~take_); \
    } while (0)

/*
 * The winning tap (and value) of the windows whose top-left cells are base[0 .. n), the plane
 * padded with -inf (which then never wins: a real value after it is greater, or a NaN, and it is
 * never greater than anything; planes holding -inf take the scalar path). Eight windows at a time;
 * off[t]: tap t's offset in the padded layout, taps in row-major order.
 */
static void maxpool_run(const float *base, int64_t n, int32_t taps, const int64_t *off, int32_t *tap, float *val) {
    int64_t q = 0;
    for (; q + 32 <= n; q += 32) { /* four independent chains of compare-and-select, so their latencies overlap */
        v8 b0 = *(const v8 *) (base + q), b1 = *(const v8 *) (base + q + 8), b2 = *(const v8 *) (base + q + 16), b3 = *(const v8 *) (base + q + 24);
        v8i t0 = {0}, t1 = {0}, t2 = {0}, t3 = {0};
        for (int32_t t = 1; t < taps; t++) {
            const float *src = base + q + off[t];
            MAXPOOL_STEP(b0, t0, *(const v8 *) src, t);
            MAXPOOL_STEP(b1, t1, *(const v8 *) (src + 8), t);
            MAXPOOL_STEP(b2, t2, *(const v8 *) (src + 16), t);
            MAXPOOL_STEP(b3, t3, *(const v8 *) (src + 24), t);
        }
        *(v8i *) (tap + q) = t0; *(v8i *) (tap + q + 8) = t1; *(v8i *) (tap + q + 16) = t2; *(v8i *) (tap + q + 24) = t3;
        *(v8 *) (val + q) = b0; *(v8 *) (val + q + 8) = b1; *(v8 *) (val + q + 16) = b2; *(v8 *) (val + q + 24) = b3;
    }
    for (; q + 8 <= n; q += 8) {
        v8 bv = *(const v8 *) (base + q);
        v8i bt = {0};
        for (int32_t t = 1; t < taps; t++) MAXPOOL_STEP(bv, bt, *(const v8 *) (base + q + off[t]), t);
        *(v8i *) (tap + q) = bt;
        *(v8 *) (val + q) = bv;
    }
    for (; q < n; q++) {
        float bv = base[q];
        int32_t bt = 0;
        for (int32_t t = 1; t < taps; t++) {
            float v = base[q + off[t]];
            int tk = takes(v, bv);
            bv = tk ? v : bv;
            bt = tk ? t : bt;
        }
        tap[q] = bt;
        val[q] = bv;
    }
}

/*
 * The backward pass of a stride-1 max pool over one plane as a gather: each input cell's gradient is
 * the sum, in double and in output raster order, of the gradients of the outputs whose window's
 * winning tap is that cell, rounded once: the scatter's sums (ReferenceBackend's) to the bit, eight
 * cells at a time. A window at flat index j (its top-left cell in the padded plane, j = oy * pw + ox)
 * covers the padded cell P with tap t = ky * k + kx where j = P - off[t]; outputs in raster order are
 * windows in increasing j, so taps in decreasing t. Each step adds where the tap matches (a select,
 * not an added zero, so a lone -0.0 sums as the scatter's 0.0 + -0.0 does). gat: the winning taps
 * and gradients of the windows laid out on j with margins of `margin` cells (at least (k - 1) * pw +
 * k - 1 + 8: the furthest window from a cell, plus a vector's slack), -1 and 0 where no
 * output's window lies (past the run, and the columns ox >= wo that the flat run computes and drops).
 */
typedef double v4d __attribute__((vector_size(32), aligned(8)));
typedef int64_t v4l __attribute__((vector_size(32), aligned(8)));

static void maxpool_gather(int32_t h, int32_t w, int32_t k, int32_t pad, int32_t ho, int32_t wo, int64_t run, int64_t margin,
                           const int64_t *off, const int32_t *tap, const float *gp, float *dx, void *gat) {
    const int32_t pw = w + 2 * pad;
    const int64_t span = run + 2 * margin + 8;
    int64_t *tx = gat; /* taps as 64-bit lanes and gradients as doubles: the masks and sums of four cells per vector, no shuffles */
    double *gx = (double *) (tx + span);
    for (int64_t i = 0; i < span; i++) { tx[i] = -1; gx[i] = 0.0; }
    int64_t *tj = tx + margin;
    double *gj = gx + margin;
    for (int32_t oy = 0; oy < ho; oy++) {
        const int64_t j = (int64_t) oy * pw;
        const float *g = gp + (int64_t) oy * wo;
        for (int32_t ox = 0; ox < wo; ox++) {
            tj[j + ox] = tap[j + ox];
            gj[j + ox] = (double) g[ox];
        }
    }
    const int32_t taps = k * k;
    for (int32_t iy = 0; iy < h; iy++) {
        const int64_t row = (int64_t) (iy + pad) * pw + pad;
        float *d = dx + (int64_t) iy * w;
        int32_t ix = 0;
        for (; ix + 8 <= w; ix += 8) {
            v4d a0 = {0}, a1 = {0};
            for (int32_t t = taps - 1; t >= 0; t--) {
                const int64_t j = row + ix - off[t];
                const v4l tv = {t, t, t, t};
                const v4l m0 = *(const v4l *) (tj + j) == tv, m1 = *(const v4l *) (tj + j + 4) == tv;
                const v4d s0 = a0 + *(const v4d *) (gj + j), s1 = a1 + *(const v4d *) (gj + j + 4);
                a0 = (v4d) (((v4l) s0 & m0) | ((v4l) a0 & ~m0));
                a1 = (v4d) (((v4l) s1 & m1) | ((v4l) a1 & ~m1));
            }
            *(v4 *) (d + ix) = __builtin_convertvector(a0, v4);
            *(v4 *) (d + ix + 4) = __builtin_convertvector(a1, v4);
        }
        for (; ix < w; ix++) {
            double a = 0.0;
            for (int32_t t = taps - 1; t >= 0; t--) {
                const int64_t j = row + ix - off[t];
                if (tj[j] == t) a += gj[j];
            }
            d[ix] = (float) a;
        }
    }
}

/*
 * maxpool_run for stride 1, separably: the winner of each row of k cells first (hv, hk: its value
 * and kx), then of the k rows' winners (tap = ky * k + kx). The same winners as the row-major scan:
 * "takes" keeps the first maximum of a total preorder (a NaN above everything, the first NaN kept;
 * ties keep the earlier), and the first maximum of a concatenation is the first maximum of its
 * parts' first maxima, earlier parts winning ties. 2 (k - 1) steps per window instead of k^2 - 1.
 * hv, hk: run + (k - 1) * pw + 8 entries; the plane padded as for maxpool_run (with 8 cells of slack).
 */
static void maxpool_sep(const float *base, int64_t run, int32_t k, int32_t pw, float *hv, int32_t *hk, int32_t *tap, float *val) {
    const int64_t nh = run + (int64_t) (k - 1) * pw;
    for (int64_t q = 0; q < nh; q += 8) {
        v8 bv = *(const v8 *) (base + q);
        v8i bt = {0};
        for (int32_t kx = 1; kx < k; kx++) MAXPOOL_STEP(bv, bt, *(const v8 *) (base + q + kx), kx);
        *(v8 *) (hv + q) = bv;
        *(v8i *) (hk + q) = bt;
    }
    for (int64_t j = 0; j < run; j += 8) {
        v8 bv = *(const v8 *) (hv + j);
        v8i bt = *(const v8i *) (hk + j);
        for (int32_t ky = 1; ky < k; ky++) {
            const int64_t o = j + (int64_t) ky * pw;
            const v8 v = *(const v8 *) (hv + o);
            const v8i t = *(const v8i *) (hk + o) + ky * k;
            const v8i take = (v > bv) | ((v != v) & (bv == bv));
            bv = (v8) (((v8i) v & take) | ((v8i) bv & ~take));
            bt = (t & take) | (bt & ~take);
        }
        *(v8 *) (val + j) = bv;
        *(v8i *) (tap + j) = bt;
    }
}

void wrcor_maxpool(int32_t planes, int32_t h, int32_t w, int32_t k, int32_t s, int32_t pad, int32_t ho, int32_t wo, const float *x,
                   float *y, const float *dy, float *dx, double *acc) {
    const int64_t hw = (int64_t) h * w, ohw = (int64_t) ho * wo;
    const int32_t pw = w + 2 * pad, ph = h + 2 * pad;
    /* the padded plane, and the taps and values of the windows at every cell from the first window to
     * the last (one flat run: with stride > 1 the windows between are computed and dropped) */
    const int64_t run = (int64_t) (ho - 1) * s * pw + (int64_t) (wo - 1) * s + 1;
    float *padded = malloc(sizeof(float) * ((size_t) pw * ph + (size_t) run + 8));
    int32_t *tap = malloc(sizeof(int32_t) * ((size_t) run + 8));
    int64_t *off = malloc(sizeof(int64_t) * (size_t) k * k);
    /* the gather of the stride-1 backward pass: taps and gradients in the padded flat layout, with margins
     * wide enough for every window around a cell (maxpool_gather) */
    const int64_t margin = (int64_t) (k - 1) * pw + k - 1 + 8;
    void *gat = dx && s == 1 ? malloc((sizeof(int64_t) + sizeof(double)) * (size_t) (run + 2 * margin + 8)) : 0;
    const int64_t nh = run + (int64_t) (k - 1) * pw + 8; /* maxpool_sep's row winners */
    void *rows = s == 1 ? malloc((sizeof(int32_t) + sizeof(float)) * (size_t) nh) : 0;
    const int ok = padded && tap && off && k <= 8 && (!dx || s != 1 || gat) && (s != 1 || rows); /* else (no memory, or a window over 64 taps) the scalar path */
    float *val = ok ? padded + (int64_t) pw * ph : 0;
    int64_t cell[64]; /* tap t's offset from the window's top-left cell in the unpadded plane */
    for (int32_t t = 0; ok && t < k * k; t++) {
        off[t] = (int64_t) (t / k) * pw + t % k;
        cell[t] = (int64_t) (t / k) * w + t % k;
    }
    for (int32_t p = 0; p < planes; p++) {
        const float *xp = x + p * hw;
        float *yp = y ? y + p * ohw : 0;
        const float *gp = dx ? dy + p * ohw : 0;
        int fast = ok;
        if (fast) { /* the padded plane; a plane holding -inf takes the scalar path */
            int32_t ninf = 0;
            for (int64_t i = 0; i < (int64_t) pw * pad; i++) padded[i] = padded[(int64_t) pw * (ph - pad) + i] = -__builtin_inff();
            for (int32_t r = 0; r < h; r++) {
                float *d = padded + (int64_t) (r + pad) * pw;
                const float *src = xp + (int64_t) r * w;
                for (int32_t c = 0; c < pad; c++) d[c] = d[pad + w + c] = -__builtin_inff();
                for (int32_t c = 0; c < w; c++) {
                    d[pad + c] = src[c];
                    ninf |= src[c] == -__builtin_inff();
                }
            }
            fast = !ninf;
        }
        const int scatter = dx && !(fast && s == 1); /* the gradient summed in acc (else gathered straight into dx) */
        if (scatter) for (int64_t i = 0; i < hw; i++) acc[i] = 0.0;
        if (fast) {
            if (s == 1) maxpool_sep(padded, run, k, pw, (float *) rows, (int32_t *) ((float *) rows + nh), tap, val);
            else maxpool_run(padded, run, k * k, off, tap, val);
            if (yp)
                for (int32_t oy = 0; oy < ho; oy++) {
                    const float *src = val + (int64_t) oy * s * pw; /* where output row oy's windows start in tap/val */
                    float *dst = yp + (int64_t) oy * wo;
                    if (s == 1) for (int32_t ox = 0; ox < wo; ox++) dst[ox] = src[ox];
                    else for (int32_t ox = 0; ox < wo; ox++) dst[ox] = src[(int64_t) ox * s];
                }
            if (dx && s == 1) maxpool_gather(h, w, k, pad, ho, wo, run, margin, off, tap, gp, dx + p * hw, gat);
            else if (dx)
                for (int32_t oy = 0; oy < ho; oy++) {
                    const int64_t row = (int64_t) oy * s * pw;
                    for (int32_t ox = 0; ox < wo; ox++) {
                        int64_t j = row + (int64_t) ox * s, o = (int64_t) oy * wo + ox;
                        acc[(int64_t) (oy * s - pad) * w + ox * s - pad + cell[tap[j]]] += (double) gp[o];
                    }
                }
        } else {
            for (int32_t oy = 0; oy < ho; oy++) {
                const int32_t y0 = oy * s - pad;
                const int32_t ky0 = y0 < 0 ? -y0 : 0, ky1 = y0 + k > h ? h - y0 : k;
                for (int32_t ox = 0; ox < wo; ox++) {
                    const int32_t x0 = ox * s - pad;
                    const int32_t kx0 = x0 < 0 ? -x0 : 0, kx1 = x0 + k > w ? w - x0 : k;
                    int64_t best = -1;
                    float bv = 0.0f;
                    for (int32_t ky = ky0; ky < ky1; ky++)
                        for (int32_t kx = kx0; kx < kx1; kx++) {
                            int64_t i = (int64_t) (y0 + ky) * w + x0 + kx;
                            float v = xp[i];
                            if (best < 0 || takes(v, bv)) { best = i; bv = v; }
                        }
                    int64_t o = (int64_t) oy * wo + ox;
                    if (yp) yp[o] = best < 0 ? 0.0f : bv;
                    if (dx && best >= 0) acc[best] += (double) gp[o];
                }
            }
        }
        if (scatter) for (int64_t i = 0; i < hw; i++) dx[p * hw + i] = (float) acc[i];
    }
    free(padded);
    free(tap);
    free(off);
    free(gat);
    free(rows);
}

/*
 * The 3x3 stride-1 pad-1 average pool of `planes` planes of h x w (h, w >= 2): FastCpuBackend's
 * boxSum3x3, the same float operations in the same order, to the bit. A horizontal 3-sum ((a + b) + c;
 * a row's ends add their one neighbour), then a vertical one over the horizontal sums; multiplied by
 * inv (1 / the window's cell count, per cell) after the sums (forward) or before them (backward,
 * divide_first). scratch: 2 * h * w floats. No contraction: every product and sum is rounded.
 */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
void wrcor_box3(int32_t planes, int32_t h, int32_t w, const float *in, float *out, const float *inv, int32_t divide_first, float *scratch) {
    const int64_t n = (int64_t) h * w;
    float *src = scratch, *hs = scratch + n;
    for (int32_t p = 0; p < planes; p++) {
        const float *ip = in + p * n;
        float *dst = out + p * n;
        if (divide_first) for (int64_t i = 0; i < n; i++) src[i] = ip[i] * inv[i];
        else for (int64_t i = 0; i < n; i++) src[i] = ip[i];
        for (int64_t i = 1; i < n - 1; i++) hs[i] = src[i - 1] + src[i] + src[i + 1];
        for (int64_t r = 0; r < n; r += w) {
            hs[r] = src[r] + src[r + 1];
            hs[r + w - 1] = src[r + w - 2] + src[r + w - 1];
        }
        for (int64_t i = 0; i < w; i++) dst[i] = hs[i] + hs[i + w];
        for (int64_t i = w; i < n - w; i++) dst[i] = hs[i - w] + hs[i] + hs[i + w];
        for (int64_t i = n - w; i < n; i++) dst[i] = hs[i - w] + hs[i];
        if (!divide_first) for (int64_t i = 0; i < n; i++) dst[i] = dst[i] * inv[i];
    }
}
#pragma GCC pop_options

/*
 * im2col of one sample: col[((c * k + ky) * k + kx) * ho * wo + oy * wo + ox] = x[c, oy * s - pad + ky,
 * ox * s - pad + kx], 0 where that cell is padding. Only copies: the GEMM that follows sees exactly the
 * values the Java form (FastCpuBackend.im2colF32) writes.
 */
void wrcor_im2col(int32_t cin, int32_t h, int32_t w, int32_t k, int32_t s, int32_t pad, int32_t ho, int32_t wo, const float *x, float *col) {
    const int64_t p = (int64_t) ho * wo;
    for (int32_t c = 0; c < cin; c++) {
        const float *xc = x + (int64_t) c * h * w;
        for (int32_t ky = 0; ky < k; ky++)
            for (int32_t kx = 0; kx < k; kx++) {
                float *row = col + ((int64_t) (c * k + ky) * k + kx) * p;
                /* the outputs whose input column lies inside: ox in [lo, hi) */
                int32_t lo = 0, hi = wo;
                while (lo < wo && lo * s - pad + kx < 0) lo++;
                while (hi > lo && (hi - 1) * s - pad + kx >= w) hi--;
                for (int32_t oy = 0; oy < ho; oy++) {
                    float *d = row + (int64_t) oy * wo;
                    const int32_t iy = oy * s - pad + ky;
                    if (iy < 0 || iy >= h) {
                        for (int32_t ox = 0; ox < wo; ox++) d[ox] = 0.0f;
                        continue;
                    }
                    const float *src = xc + (int64_t) iy * w - pad + kx;
                    for (int32_t ox = 0; ox < lo; ox++) d[ox] = 0.0f;
                    if (s == 1) for (int32_t ox = lo; ox < hi; ox++) d[ox] = src[ox];
                    else for (int32_t ox = lo; ox < hi; ox++) d[ox] = src[(int64_t) ox * s];
                    for (int32_t ox = hi; ox < wo; ox++) d[ox] = 0.0f;
                }
            }
    }
}

/*
 * col2im of one sample, FastCpuBackend.col2imF32's sums in its order: per input channel a zeroed
 * padded plane (scratch: (h + 2 pad) * (w + 2 pad) floats) receives col's entries tap by tap, row by
 * row, then its inside is copied to x.
 */
#pragma GCC push_options
#pragma GCC optimize("fp-contract=off")
void wrcor_col2im(int32_t cin, int32_t h, int32_t w, int32_t k, int32_t s, int32_t pad, int32_t ho, int32_t wo, const float *col, float *x,
                  float *scratch) {
    const int32_t pw = w + 2 * pad, ph = h + 2 * pad;
    const int64_t p = (int64_t) ho * wo;
    for (int32_t c = 0; c < cin; c++) {
        for (int64_t i = 0; i < (int64_t) ph * pw; i++) scratch[i] = 0.0f;
        for (int32_t ky = 0; ky < k; ky++)
            for (int32_t kx = 0; kx < k; kx++) {
                const float *row = col + ((int64_t) (c * k + ky) * k + kx) * p;
                for (int32_t oy = 0; oy < ho; oy++) {
                    const float *src = row + (int64_t) oy * wo;
                    float *dst = scratch + (int64_t) (oy * s + ky) * pw + kx;
                    if (s == 1) for (int32_t ox = 0; ox < wo; ox++) dst[ox] += src[ox];
                    else for (int32_t ox = 0; ox < wo; ox++) dst[(int64_t) ox * s] += src[ox];
                }
            }
        for (int32_t y = 0; y < h; y++)
            for (int32_t xx = 0; xx < w; xx++) x[((int64_t) c * h + y) * w + xx] = scratch[(int64_t) (y + pad) * pw + xx + pad];
    }
}
#pragma GCC pop_options

/*
 * A stride-1 convolution of one sample computed directly, without im2col: the input's planes padded
 * once (xp: cin planes of ph x pw, then slack), every output channel block of up to six channels and
 * every run of sixteen cells of the flat padded layout kept in twelve vector accumulators over all the
 * input channels and taps (ci outer, tap inner, one fused multiply-add chain per output), then the
 * valid cells (ox < wo of each row) copied out. wp: the weights packed per block as [ci][tap][6].
 * For the convolutions whose few output channels leave a GEMM's packing and im2col traffic as costly
 * as its arithmetic (NAS-Bench-201's 16 to 64 channels).
 */
#define DC_MAXB 6
static inline __attribute__((always_inline)) void dconv_block(int32_t cb, int32_t cin, int32_t taps, const int64_t *toff, int64_t plane,
                                                             const float *xp, const float *wp, int64_t q, float *out, int64_t ostride) {
    v8 acc[DC_MAXB][2];
    for (int32_t c = 0; c < DC_MAXB; c++) acc[c][0] = acc[c][1] = (v8) {0};
    for (int32_t ci = 0; ci < cin; ci++) {
        const float *base = xp + ci * plane + q;
        const float *wc = wp + (int64_t) ci * taps * DC_MAXB;
        for (int32_t t = 0; t < taps; t++) {
            const v8 v0 = *(const v8 *) (base + toff[t]), v1 = *(const v8 *) (base + toff[t] + 8);
            const float *wt = wc + t * DC_MAXB;
            for (int32_t c = 0; c < cb; c++) {
                acc[c][0] += wt[c] * v0;
                acc[c][1] += wt[c] * v1;
            }
        }
    }
    for (int32_t c = 0; c < cb; c++) {
        *(v8 *) (out + c * ostride + q) = acc[c][0];
        *(v8 *) (out + c * ostride + q + 8) = acc[c][1];
    }
}

/* scratch: cin * ph * pw + pw * k + 32 floats (padded input), then 6 * (run + 16) floats (a block's outputs);
 * wp: ceil(cout / 6) * cin * k * k * 6 floats (packed by wrcor_dconv_pack).
 * relu_in: the input read through a ReLU (as Java's Math.max(v, 0f): NaN stays), applied while padding;
 * mask (null for none, else [cout][ho][wo] like y): each output kept where mask's bits are a positive int
 * and +0 elsewhere, as FastCpuBackend.reluBackward masks a gradient by the ReLU's input or output. */
void wrcor_dconv(int32_t cin, int32_t h, int32_t w, int32_t cout, int32_t k, int32_t pad, const float *x, const float *wp, float *y, float *scratch,
                 int32_t relu_in, const float *mask) {
    const int32_t pw = w + 2 * pad, ph = h + 2 * pad, ho = ph - k + 1, wo = pw - k + 1, taps = k * k;
    const int64_t plane = (int64_t) ph * pw, run = (int64_t) (ho - 1) * pw + wo, runp = (run + 15) / 16 * 16;
    float *xp = scratch, *out = scratch + cin * plane + (int64_t) pw * k + 32;
    int64_t toff[64];
    for (int32_t t = 0; t < taps; t++) toff[t] = (int64_t) (t / k) * pw + t % k;
    for (int32_t ci = 0; ci < cin; ci++) {
        float *d = xp + ci * plane;
        for (int64_t i = 0; i < (int64_t) pad * pw; i++) d[i] = d[plane - 1 - i] = 0.0f;
        for (int32_t r = 0; r < h; r++) {
            float *dr = d + (int64_t) (r + pad) * pw;
            for (int32_t c = 0; c < pad; c++) dr[c] = dr[pad + w + c] = 0.0f;
            const float *src = x + ((int64_t) ci * h + r) * w;
            if (relu_in)
                for (int32_t c = 0; c < w; c++) dr[pad + c] = relu1(src[c]);
            else
                for (int32_t c = 0; c < w; c++) dr[pad + c] = src[c];
        }
    }
    for (int64_t i = cin * plane; i < cin * plane + (int64_t) pw * k + 32; i++) xp[i] = 0.0f;
    for (int32_t co = 0; co < cout; co += DC_MAXB) {
        const int32_t cb = cout - co < DC_MAXB ? cout - co : DC_MAXB;
        const float *wb = wp + (int64_t) (co / DC_MAXB) * cin * taps * DC_MAXB;
        for (int64_t q = 0; q < runp; q += 16) {
            switch (cb) { /* the block width a constant in each copy, so the accumulators stay in registers */
                case 6: dconv_block(6, cin, taps, toff, plane, xp, wb, q, out, runp); break;
                case 5: dconv_block(5, cin, taps, toff, plane, xp, wb, q, out, runp); break;
                case 4: dconv_block(4, cin, taps, toff, plane, xp, wb, q, out, runp); break;
                case 3: dconv_block(3, cin, taps, toff, plane, xp, wb, q, out, runp); break;
                case 2: dconv_block(2, cin, taps, toff, plane, xp, wb, q, out, runp); break;
                default: dconv_block(1, cin, taps, toff, plane, xp, wb, q, out, runp); break;
            }
        }
        for (int32_t c = 0; c < cb; c++)
            for (int32_t oy = 0; oy < ho; oy++) {
                float *dst = y + ((int64_t) (co + c) * ho + oy) * wo;
                const float *src = out + c * runp + (int64_t) oy * pw;
                if (mask) {
                    const float *m = mask + ((int64_t) (co + c) * ho + oy) * wo;
                    int32_t ox = 0;
                    for (; ox + 8 <= wo; ox += 8) *(v8 *) (dst + ox) = (v8) ((v8i) *(const v8 *) (src + ox) & ((v8i) *(const v8 *) (m + ox) > 0));
                    for (; ox < wo; ox++) dst[ox] = masked1(src[ox], m[ox]);
                } else {
                    for (int32_t ox = 0; ox < wo; ox++) dst[ox] = src[ox];
                }
            }
    }
}

/* wp[block][ci][tap][6] = w[block * 6 + c][ci][tap] (0 past cout) for weights w [cout][cin][k][k]. */
void wrcor_dconv_pack(int32_t cin, int32_t cout, int32_t k, const float *w, float *wp) {
    const int32_t taps = k * k, blocks = (cout + DC_MAXB - 1) / DC_MAXB;
    for (int32_t b = 0; b < blocks; b++)
        for (int32_t ci = 0; ci < cin; ci++)
            for (int32_t t = 0; t < taps; t++)
                for (int32_t c = 0; c < DC_MAXB; c++) {
                    int32_t co = b * DC_MAXB + c;
                    wp[(((int64_t) b * cin + ci) * taps + t) * DC_MAXB + c] = co < cout ? w[((int64_t) co * cin + ci) * taps + t] : 0.0f;
                }
}

/*
 * Winograd F(2x2, 3x3) for 3x3 convolutions of stride 1 and padding 1 (Lavin and Gray 2016): each
 * 2 x 2 block of outputs ("tile") from a 4 x 4 patch of input, 16 products per input channel instead of
 * 36. Three steps around sixteen GEMMs that the caller runs (FastCpuBackend):
 *   wrcor_wino_weights: U[k][co][ci] = (G g G^T)[k] for each 3 x 3 kernel g = w[co][ci];
 *   wrcor_wino_in:      V[k][ci][t]  = (B^T d B)[k] for each tile t's input patch d (zeros outside);
 *   (caller)            M[k] = U[k] V[k]   (cout x cin times cin x tiles, for k in 0..15);
 *   wrcor_wino_out:     y of tile t = A^T M[.][co][t] A.
 * Tiles: th = ceil(h / 2) rows of tw = ceil(w / 2), numbered t = (s * th + ty) * tw + tx over the
 * samples s of a call; outputs past an odd h or w are computed and dropped. Another summation order
 * than the direct convolution (about 2 to 4 times its float32 rounding error), so used only where
 * FastCpuBackend says (see its winograd()).
 *   G = [1 0 0; 1/2 1/2 1/2; 1/2 -1/2 1/2; 0 0 1], B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
 *   A^T = [1 1 1 0; 0 1 -1 -1].
 */
void wrcor_wino_weights(int32_t cout, int32_t cin, const float *w, float *u) {
    const int64_t plane = (int64_t) cout * cin;
    for (int64_t q = 0; q < plane; q++) {
        const float *g = w + 9 * q;
        float r[4][3]; /* G g */
        for (int32_t j = 0; j < 3; j++) {
            r[0][j] = g[j];
            r[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            r[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            r[3][j] = g[6 + j];
        }
        for (int32_t i = 0; i < 4; i++) { /* (G g) G^T */
            u[(4 * i + 0) * plane + q] = r[i][0];
            u[(4 * i + 1) * plane + q] = 0.5f * (r[i][0] + r[i][1] + r[i][2]);
            u[(4 * i + 2) * plane + q] = 0.5f * (r[i][0] - r[i][1] + r[i][2]);
            u[(4 * i + 3) * plane + q] = r[i][2];
        }
    }
}

/* v0..v3[i] = B^T applied down the rows r0..r3 at column i, for i in [0, n). */
static inline void wino_in_rows(int32_t n, const float *r0, const float *r1, const float *r2, const float *r3,
                                float *v0, float *v1, float *v2, float *v3) {
    int32_t i = 0;
    for (; i + 8 <= n; i += 8) {
        const v8 a = *(const v8 *) (r0 + i), b = *(const v8 *) (r1 + i), c = *(const v8 *) (r2 + i), d = *(const v8 *) (r3 + i);
        *(v8 *) (v0 + i) = a - c; *(v8 *) (v1 + i) = b + c; *(v8 *) (v2 + i) = c - b; *(v8 *) (v3 + i) = b - d;
    }
    for (; i < n; i++) {
        v0[i] = r0[i] - r2[i]; v1[i] = r1[i] + r2[i]; v2[i] = r2[i] - r1[i]; v3[i] = r1[i] - r3[i];
    }
}

/* scratch: 4 * (2 * th + 2) * tw floats. x: samples x cin x h x w; v: [16][cin][samples * th * tw]. */
void wrcor_wino_in(int32_t samples, int32_t cin, int32_t h, int32_t w, const float *x, float *v, float *scratch) {
    const int32_t th = (h + 1) / 2, tw = (w + 1) / 2, rows = 2 * th + 2;
    const int64_t tiles = (int64_t) th * tw, T = (int64_t) samples * tiles, kstride = (int64_t) cin * T;
    float *hb[4];
    for (int32_t j = 0; j < 4; j++) hb[j] = scratch + (int64_t) j * rows * tw;
    for (int32_t s = 0; s < samples; s++)
        for (int32_t c = 0; c < cin; c++) {
            const float *xc = x + ((int64_t) s * cin + c) * h * w;
            /* the horizontal transform of every padded row pr (input row pr - 1): row . B */
            for (int32_t pr = 0; pr < rows; pr++) {
                const int32_t r = pr - 1;
                float *o0 = hb[0] + (int64_t) pr * tw, *o1 = hb[1] + (int64_t) pr * tw, *o2 = hb[2] + (int64_t) pr * tw, *o3 = hb[3] + (int64_t) pr * tw;
                if (r < 0 || r >= h) {
                    for (int32_t tx = 0; tx < tw; tx++) o0[tx] = o1[tx] = o2[tx] = o3[tx] = 0.0f;
                    continue;
                }
                const float *xr = xc + (int64_t) r * w;
                /* interior tiles: columns 2tx - 1 .. 2tx + 2 all inside the row */
                int32_t tx = 0;
                if (tw > 0) { /* tile 0 reads column -1 (zero) */
                    const float a = 0.0f, b = xr[0], cc = w > 1 ? xr[1] : 0.0f, d = w > 2 ? xr[2] : 0.0f;
                    o0[0] = a - cc; o1[0] = b + cc; o2[0] = cc - b; o3[0] = b - d;
                    tx = 1;
                }
                const int32_t inner = (w - 3) / 2; /* the last tile tx with 2tx + 2 <= w - 1 (C's division truncates: none below w = 3) */
                for (; tx <= inner; tx++) {
                    const float *p = xr + 2 * tx - 1;
                    o0[tx] = p[0] - p[2]; o1[tx] = p[1] + p[2]; o2[tx] = p[2] - p[1]; o3[tx] = p[1] - p[3];
                }
                for (; tx < tw; tx++) {
                    const int32_t c0 = 2 * tx - 1;
                    const float a = xr[c0], b = c0 + 1 < w ? xr[c0 + 1] : 0.0f, cc = c0 + 2 < w ? xr[c0 + 2] : 0.0f, d = c0 + 3 < w ? xr[c0 + 3] : 0.0f;
                    o0[tx] = a - cc; o1[tx] = b + cc; o2[tx] = cc - b; o3[tx] = b - d;
                }
            }
            /* the vertical transform: B^T . (rows 2ty .. 2ty + 3 of each horizontal result) */
            float *vc = v + (int64_t) c * T + (int64_t) s * tiles;
            for (int32_t j = 0; j < 4; j++) {
                for (int32_t ty = 0; ty < th; ty++) {
                    const int64_t o = (int64_t) ty * tw;
                    const float *r0 = hb[j] + (int64_t) (2 * ty) * tw;
                    wino_in_rows(tw, r0, r0 + tw, r0 + 2 * tw, r0 + 3 * tw, vc + (int64_t) j * kstride + o, vc + (int64_t) (4 + j) * kstride + o,
                                 vc + (int64_t) (8 + j) * kstride + o, vc + (int64_t) (12 + j) * kstride + o);
                }
            }
        }
}

/* scratch: 2 * (2 * tw) floats. m: [16][cout][samples * th * tw]; y: samples x cout x h x w. */
void wrcor_wino_out(int32_t samples, int32_t cout, int32_t h, int32_t w, const float *m, float *y, float *scratch) {
    const int32_t th = (h + 1) / 2, tw = (w + 1) / 2;
    const int64_t tiles = (int64_t) th * tw, T = (int64_t) samples * tiles, kstride = (int64_t) cout * T;
    float *row0 = scratch, *row1 = scratch + 2 * tw;
    for (int32_t s = 0; s < samples; s++)
        for (int32_t c = 0; c < cout; c++) {
            const float *mc = m + (int64_t) c * T + (int64_t) s * tiles;
            float *yc = y + ((int64_t) s * cout + c) * h * w;
            for (int32_t ty = 0; ty < th; ty++) {
                const float *q = mc + (int64_t) ty * tw;
                int32_t tx = 0;
                for (; tx + 8 <= tw; tx += 8) {
                    v8 s0[4], s1[4];
                    for (int32_t j = 0; j < 4; j++) {
                        const v8 a = *(const v8 *) (q + j * kstride + tx), b = *(const v8 *) (q + (4 + j) * kstride + tx),
                                 c = *(const v8 *) (q + (8 + j) * kstride + tx), d = *(const v8 *) (q + (12 + j) * kstride + tx);
                        s0[j] = a + b + c;
                        s1[j] = b - c - d;
                    }
                    const v8 y00 = s0[0] + s0[1] + s0[2], y01 = s0[1] - s0[2] - s0[3], y10 = s1[0] + s1[1] + s1[2], y11 = s1[1] - s1[2] - s1[3];
                    const v8i lo = {0, 8, 1, 9, 2, 10, 3, 11}, hi = {4, 12, 5, 13, 6, 14, 7, 15};
                    *(v8 *) (row0 + 2 * tx) = __builtin_shuffle(y00, y01, lo);
                    *(v8 *) (row0 + 2 * tx + 8) = __builtin_shuffle(y00, y01, hi);
                    *(v8 *) (row1 + 2 * tx) = __builtin_shuffle(y10, y11, lo);
                    *(v8 *) (row1 + 2 * tx + 8) = __builtin_shuffle(y10, y11, hi);
                }
                for (; tx < tw; tx++) {
                    float s0[4], s1[4];
                    for (int32_t j = 0; j < 4; j++) {
                        const float a = q[j * kstride + tx], b = q[(4 + j) * kstride + tx], c = q[(8 + j) * kstride + tx], d = q[(12 + j) * kstride + tx];
                        s0[j] = a + b + c;
                        s1[j] = b - c - d;
                    }
                    row0[2 * tx] = s0[0] + s0[1] + s0[2];
                    row0[2 * tx + 1] = s0[1] - s0[2] - s0[3];
                    row1[2 * tx] = s1[0] + s1[1] + s1[2];
                    row1[2 * tx + 1] = s1[1] - s1[2] - s1[3];
                }
                float *y0 = yc + (int64_t) (2 * ty) * w;
                for (int32_t x = 0; x < w; x++) y0[x] = row0[x];
                if (2 * ty + 1 < h)
                    for (int32_t x = 0; x < w; x++) y0[w + x] = row1[x];
            }
        }
}

/* wf[ci][co][kk - 1 - t] = w[co][ci][t]: a convolution's weights transposed and rotated by 180 degrees
 * (kk = k * k taps), the weights of its data gradient as a convolution. */
void wrcor_flip(int32_t cout, int32_t cin, int32_t kk, const float *w, float *wf) {
    for (int32_t ci = 0; ci < cin; ci++)
        for (int32_t co = 0; co < cout; co++) {
            const float *src = w + ((int64_t) co * cin + ci) * kk;
            float *dst = wf + ((int64_t) ci * cout + co) * kk;
            for (int32_t t = 0; t < kk; t++) dst[kk - 1 - t] = src[t];
        }
}
