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
