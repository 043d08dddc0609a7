/*
 * One kernel source for OpenCL C and CUDA (the approach of Blender Cycles' compat.h): the kernels
 * are written with these macros only, and each target maps them. `real` is float or double, chosen
 * at build time with -DREAL_IS_DOUBLE=0/1 (one program per precision); -DHAS_FP64=1 says the
 * device has double precision (always so on CUDA).
 */
#ifndef WRCOR_COMPAT_H
#define WRCOR_COMPAT_H

#ifdef __OPENCL_VERSION__
#  if REAL_IS_DOUBLE || HAS_FP64
#    pragma OPENCL EXTENSION cl_khr_fp64 : enable
#  endif
#  define KERNEL __kernel
#  define GLOBAL __global
#  define DEVICE_FN static inline
/* the flat index of this work item; one work item per output element */
#  define THREAD_INDEX() ((long) get_global_id(0))
/* tiled kernels: work groups of TILE x TILE x 1 items sharing LOCAL arrays */
#  define LOCAL __local
/* a device function's pointer parameter into LOCAL memory */
#  define LOCAL_PTR __local
#  define BARRIER() barrier(CLK_LOCAL_MEM_FENCE)
#  define LOCAL_ID(d) ((int) get_local_id(d))
#  define GROUP_ID(d) ((long) get_group_id(d))
#else /* CUDA */
#  define KERNEL extern "C" __global__
#  define GLOBAL
#  define DEVICE_FN static __device__ __forceinline__
#  define THREAD_INDEX() ((long) blockIdx.x * blockDim.x + threadIdx.x)
#  define LOCAL __shared__
#  define LOCAL_PTR
#  define BARRIER() __syncthreads()
#  define LOCAL_ID(d) ((int) ((d) == 0 ? threadIdx.x : (d) == 1 ? threadIdx.y : threadIdx.z))
#  define GROUP_ID(d) ((long) ((d) == 0 ? blockIdx.x : (d) == 1 ? blockIdx.y : blockIdx.z))
#endif

/* the side of a tiled kernel's work group (KernelBackend.TILE) */
#define TILE 16
/* the kernels shaped for a CPU device: an item's output channels and cells of one row (KernelBackend.ROW_C, ROW_W) */
#define ROW_C 8
#define ROW_W 32
/* their private staging of an input row: (ROW_W - 1) stride + k cells at most */
#define ROW_X 72
/* centred_gram_rows: values of t staged per step */
#define GRAM_T 16

#if REAL_IS_DOUBLE
typedef double real;
#else
typedef float real;
#endif

/* accumulators that outlive one op (the K matrices): float64 where the device has it (-DHAS_FP64=1) */
#if HAS_FP64 || !defined(__OPENCL_VERSION__)
typedef double accum;
#else
typedef float accum;
#endif

/* Kahan-compensated sum: long float32 reductions (a channel of a batch, a row of a response) keep
   close to float64 accuracy without needing fp64 on the device. */
typedef struct { real sum, carry; } kahan;
DEVICE_FN void kahan_add(kahan *k, real v) {
    real y = v - k->carry;
    real t = k->sum + y;
    k->carry = (t - k->sum) - y;
    k->sum = t;
}

/*
 * Where a row kernel's item works: item i, of ceil(cols / ROW_W) stretches per row and rows rows per
 * outer index, takes cells c0 .. c0 + cells - 1 of row `row` of outer index `outer`; its loops run
 * over cw cells, cells rounded up to whole vectors of 8 (cells past the stretch compute too, and
 * are not written).
 */
typedef struct { int c0, row, cells, cw; long outer; } row_stretch;
DEVICE_FN row_stretch stretch_of(long i, int rows, int cols) {
    row_stretch s;
    int chunks = (cols + ROW_W - 1) / ROW_W;
    s.c0 = (int) (i % chunks) * ROW_W;
    s.row = (int) ((i / chunks) % rows);
    s.outer = i / ((long) chunks * rows);
    s.cells = (s.c0 + ROW_W < cols ? s.c0 + ROW_W : cols) - s.c0;
    s.cw = (s.cells + 7) / 8 * 8;
    return s;
}

/*
 * The gradient kernels' gather: the output cell (along one axis) whose window puts tap t on input
 * cell i, that is (i + pad - t) / stride when it divides exactly and lies in [0, out); else -1.
 */
DEVICE_FN int tap_source(int i, int pad, int t, int stride, int out) {
    int o = i + pad - t;
    return o < 0 || o % stride != 0 || o / stride >= out ? -1 : o / stride;
}

/*
 * The row kernels' step: for the cells u < n of an item's stretch, (sum, carry)[u] take the
 * compensated add of w v[u step], the same operations as kahan_add (the product its own statement,
 * so that it is not contracted into an fma). kahan_row_where adds only where ok[u step] and keeps
 * the others, computing every cell and selecting, so that the loop has no branch and a CPU device's
 * compiler vectorises it (padding's zeros must not be summed: they would move the compensation).
 */
DEVICE_FN void kahan_row(real *sum, real *carry, real w, const real *v, int step, int n) {
    for (int u = 0; u < n; u++) {
        real prod = w * v[u * step];
        real t = prod - carry[u];
        real s = sum[u] + t;
        carry[u] = (s - sum[u]) - t;
        sum[u] = s;
    }
}

DEVICE_FN void kahan_row_where(real *sum, real *carry, real w, const real *v, const int *ok, int step, int n) {
    for (int u = 0; u < n; u++) {
        real prod = w * v[u * step];
        real t = prod - carry[u];
        real s = sum[u] + t;
        real e = (s - sum[u]) - t;
        sum[u] = ok[u * step] ? s : sum[u];
        carry[u] = ok[u * step] ? e : carry[u];
    }
}

#endif
