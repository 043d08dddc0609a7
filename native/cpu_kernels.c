/*
 * Native CPU kernels of the fast CPU backend (io.wrcor.backend.cpu.NativeKernels), called through
 * FFM. Built by native/build.sh when the build machine has a C compiler; without it the backend
 * runs the same computation through BLAS level-1 calls (see FastCpuBackend).
 */
#include <stdint.h>

/*
 * dst[j] = sum over taps t, in order, of w[t] * src[off[t] + j], for j in [0, n): a depthwise
 * convolution of planes laid out so that every kernel tap is a fixed offset (FastCpuBackend.Phases).
 * The same per-element sums in the same tap order as k*k axpy passes (dst += w[t] * src[off[t]..]),
 * with the partial sums of a block of outputs kept in registers across the taps instead of being
 * stored and reloaded once per tap.
 */
typedef float v8 __attribute__((vector_size(32), aligned(4))); /* eight floats, any 4-byte alignment */

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

static inline float masked1(float g, float y) {
    union { float f; int32_t i; } u = { y };
    return u.i > 0 ? g : 0.0f;
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
            if (relu && !(v > 0.0f) && v == v) v = 0.0f;
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
