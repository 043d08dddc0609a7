package io.wrcor.backend.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

/**
 * cuBLAS through FFM, whichever major version the host has: JCublas 12.6 is tied to
 * libcublas.so.12, and the GPU servers we target run CUDA 13 (libcublas.so.13). Column-major, as
 * cuBLAS is; device pointers are raw addresses.
 */
final class Cublas {
    static final List<String> SONAMES = List.of("libcublas.so.13", "libcublas.so.12");
    static final List<String> DIRS = List.of("/usr/local/cuda/lib64", "/usr/local/cuda/targets/x86_64-linux/lib", "/usr/lib/x86_64-linux-gnu");
    private static final int OP_N = 0, OP_T = 1;
    /** CUBLAS_DEFAULT_MATH: float32 products in float32 arithmetic (no TF32: that needs CUBLAS_TF32_TENSOR_OP_MATH). */
    private static final int DEFAULT_MATH = 0;

    private final MethodHandle create;
    private final MethodHandle destroy;
    private final MethodHandle sgemmStridedBatched;
    private final MethodHandle dgemmStridedBatched;
    private final MethodHandle setStream;
    private final MethodHandle setMathMode;
    final String origin;

    private Cublas(SymbolLookup lib, String origin) {
        Linker linker = Linker.nativeLinker();
        ValueLayout P = ValueLayout.ADDRESS, I = ValueLayout.JAVA_INT, L = ValueLayout.JAVA_LONG;
        create = linker.downcallHandle(lib.find("cublasCreate_v2").orElseThrow(), FunctionDescriptor.of(I, P));
        destroy = linker.downcallHandle(lib.find("cublasDestroy_v2").orElseThrow(), FunctionDescriptor.of(I, P));
        // cublasSgemmStridedBatched(handle, transa, transb, m, n, k, *alpha, A, lda, strideA, B, ldb, strideB, *beta, C, ldc, strideC, count)
        sgemmStridedBatched = linker.downcallHandle(lib.find("cublasSgemmStridedBatched").orElseThrow(),
                FunctionDescriptor.of(I, P, I, I, I, I, I, P, P, I, L, P, I, L, P, P, I, L, I));
        dgemmStridedBatched = linker.downcallHandle(lib.find("cublasDgemmStridedBatched").orElseThrow(),
                FunctionDescriptor.of(I, P, I, I, I, I, I, P, P, I, L, P, I, L, P, P, I, L, I));
        setStream = linker.downcallHandle(lib.find("cublasSetStream_v2").orElseThrow(), FunctionDescriptor.of(I, P, P));
        setMathMode = linker.downcallHandle(lib.find("cublasSetMathMode").orElseThrow(), FunctionDescriptor.of(I, P, I));
        this.origin = origin;
    }

    /** Loads cuBLAS from $WRCOR_CUBLAS, the library path, or the usual CUDA folders. */
    static Cublas load() throws CudaBackend.Unavailable {
        List<String> tried = new ArrayList<>();
        String env = System.getenv("WRCOR_CUBLAS");
        List<String> candidates = new ArrayList<>();
        if (env != null && !env.isBlank()) candidates.add(env);
        candidates.addAll(SONAMES);
        for (String dir : DIRS) for (String so : SONAMES) candidates.add(dir + "/" + so);
        for (String c : candidates) {
            if (c.contains("/") && !Files.exists(Path.of(c))) continue;
            tried.add(c);
            try {
                SymbolLookup lib = c.contains("/") ? SymbolLookup.libraryLookup(Path.of(c), Arena.global())
                        : SymbolLookup.libraryLookup(c, Arena.global());
                return new Cublas(lib, c);
            } catch (IllegalArgumentException | java.util.NoSuchElementException notThere) {
                // next candidate
            }
        }
        throw new CudaBackend.Unavailable("no cuBLAS (looked for " + String.join(" and ", SONAMES) + " on the library path and in "
                + String.join(", ", DIRS) + (env != null ? " and WRCOR_CUBLAS=" + env : "") + ")");
    }

    /** A cuBLAS handle for the current CUDA context. */
    long createHandle() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(ValueLayout.ADDRESS);
            check((int) create.invokeExact(h), "cublasCreate");
            MemorySegment handle = h.get(ValueLayout.ADDRESS, 0);
            check((int) setMathMode.invokeExact(handle, DEFAULT_MATH), "cublasSetMathMode");
            return handle.address();
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /** The stream a handle's calls are queued on (a raw CUstream). */
    void setStream(long handle, long stream) {
        try {
            check((int) setStream.invokeExact(MemorySegment.ofAddress(handle), MemorySegment.ofAddress(stream)), "cublasSetStream");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    void destroyHandle(long handle) {
        try {
            check((int) destroy.invokeExact(MemorySegment.ofAddress(handle)), "cublasDestroy");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    /**
     * count products C_i[m,n] = op(A_i)[m,k] op(B_i)[k,n] (+ C_i when accumulate), column-major, op
     * the transpose where ta or tb, device addresses, consecutive operands {@code stride*} elements
     * apart (a stride of 0 reuses one operand); float32 or float64 elements.
     */
    void gemmStridedBatched(boolean f64, long handle, boolean ta, boolean tb, int m, int n, int k, long a, int lda, long strideA, long b,
                            int ldb, long strideB, long c, int ldc, long strideC, int count, boolean accumulate) {
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment one = f64 ? arena.allocateFrom(ValueLayout.JAVA_DOUBLE, 1.0) : arena.allocateFrom(ValueLayout.JAVA_FLOAT, 1f);
            MemorySegment beta = f64 ? arena.allocateFrom(ValueLayout.JAVA_DOUBLE, accumulate ? 1.0 : 0.0)
                    : arena.allocateFrom(ValueLayout.JAVA_FLOAT, accumulate ? 1f : 0f);
            MethodHandle gemm = f64 ? dgemmStridedBatched : sgemmStridedBatched;
            check((int) gemm.invokeExact(MemorySegment.ofAddress(handle), ta ? OP_T : OP_N, tb ? OP_T : OP_N, m, n, k, one,
                    MemorySegment.ofAddress(a), lda, strideA, MemorySegment.ofAddress(b), ldb, strideB, beta,
                    MemorySegment.ofAddress(c), ldc, strideC, count), f64 ? "cublasDgemmStridedBatched" : "cublasSgemmStridedBatched");
        } catch (Throwable t) {
            throw rethrow(t);
        }
    }

    private static void check(int status, String what) {
        if (status != 0) throw new IllegalStateException(what + " failed with cuBLAS status " + status);
    }

    private static RuntimeException rethrow(Throwable t) {
        return t instanceof RuntimeException r ? r : new IllegalStateException(t);
    }
}
