package io.wrcor.backend.cpu;

import io.wrcor.util.CacheDir;
import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * OpenBLAS's CBLAS through FFM. Uses the system's {@code libopenblas.so.0} when it has one, else the
 * copy packaged in the org.bytedeco:openblas natives jar on the class path, unpacked once into a
 * cache folder. Row-major only. BLAS threads are set to 1: the backend parallelises over samples.
 */
public final class OpenBlas {
    private static final int ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112;
    private static final String JAR_DIR = "/org/bytedeco/openblas/linux-x86_64/";
    // load order: each library's dependencies before it (libopenblas finds libgfortran by $ORIGIN)
    private static final String[] JAR_LIBS = {"libquadmath.so.0", "libgfortran.so.5", "libopenblas.so.0"};

    private static final class Holder {
        static final OpenBlas INSTANCE;
        static final String FAILURE;

        static {
            OpenBlas blas = null;
            String failure = null;
            try {
                blas = new OpenBlas(lookup());
            } catch (Throwable t) {
                failure = t.getMessage() == null ? t.toString() : t.getMessage();
            }
            INSTANCE = blas;
            FAILURE = failure;
        }
    }

    private final MethodHandle sgemm;
    private final MethodHandle sgemmHeap;
    private final MethodHandle dgemm;
    private final MethodHandle sgemv;
    private final MethodHandle ssyrk;
    private final MethodHandle saxpy;
    private final MethodHandle sdot;
    private final String origin;

    private OpenBlas(Loaded l) throws Throwable {
        Linker linker = Linker.nativeLinker();
        ValueLayout I = ValueLayout.JAVA_INT, P = ValueLayout.ADDRESS;
        FunctionDescriptor sgemmType = FunctionDescriptor.ofVoid(I, I, I, I, I, I, ValueLayout.JAVA_FLOAT, P, I, P, I, ValueLayout.JAVA_FLOAT, P, I);
        sgemm = linker.downcallHandle(l.lookup.find("cblas_sgemm").orElseThrow(), sgemmType);
        // a critical call may read Java arrays in place (the GC waits for it): no copy of a heap operand
        sgemmHeap = linker.downcallHandle(l.lookup.find("cblas_sgemm").orElseThrow(), sgemmType, Linker.Option.critical(true));
        dgemm = linker.downcallHandle(l.lookup.find("cblas_dgemm").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, ValueLayout.JAVA_DOUBLE, P, I, P, I, ValueLayout.JAVA_DOUBLE, P, I));
        sgemv = linker.downcallHandle(l.lookup.find("cblas_sgemv").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, ValueLayout.JAVA_FLOAT, P, I, P, I, ValueLayout.JAVA_FLOAT, P, I));
        ssyrk = linker.downcallHandle(l.lookup.find("cblas_ssyrk").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, I, ValueLayout.JAVA_FLOAT, P, I, ValueLayout.JAVA_FLOAT, P, I));
        // level 1, on heap arrays read in place (critical: the GC waits for the short call)
        saxpy = linker.downcallHandle(l.lookup.find("cblas_saxpy").orElseThrow(),
                FunctionDescriptor.ofVoid(I, ValueLayout.JAVA_FLOAT, P, I, P, I), Linker.Option.critical(true));
        sdot = linker.downcallHandle(l.lookup.find("cblas_sdot").orElseThrow(),
                FunctionDescriptor.of(ValueLayout.JAVA_FLOAT, I, P, I, P, I), Linker.Option.critical(true));
        MethodHandle threads = linker.downcallHandle(l.lookup.find("openblas_set_num_threads").orElseThrow(), FunctionDescriptor.ofVoid(I));
        threads.invokeExact(1);
        String core = "", version = "";
        var config = l.lookup.find("openblas_get_config");
        if (config.isPresent()) {
            // "OpenBLAS 0.3.21 DYNAMIC_ARCH NO_AFFINITY Zen MAX_THREADS=64": the version
            MemorySegment text = (MemorySegment) linker.downcallHandle(config.get(), FunctionDescriptor.of(P)).invokeExact();
            String[] words = text.reinterpret(256).getString(0).split(" ");
            if (words.length > 1 && words[0].equals("OpenBLAS")) version = " " + words[1];
        }
        var corename = l.lookup.find("openblas_get_corename");
        if (corename.isPresent()) {
            MemorySegment name = (MemorySegment) linker.downcallHandle(corename.get(), FunctionDescriptor.of(P)).invokeExact();
            core = ", kernels " + name.reinterpret(64).getString(0);
        }
        String forced = System.getenv("OPENBLAS_CORETYPE");
        origin = l.origin.replace("OpenBLAS", "OpenBLAS" + version) + core + (forced == null || forced.isBlank() ? "" : " (OPENBLAS_CORETYPE=" + forced + ")");
    }

    private record Loaded(SymbolLookup lookup, String origin) {}

    /**
     * Which OpenBLAS: {@code WRCOR_BLAS} (or the system property {@code wrcor.blas}) = {@code system}
     * (the system's libopenblas.so.0, an error without one), {@code bundled} (the org.bytedeco copy),
     * or {@code auto} / unset (the system's when present, else the bundled one).
     */
    static String requested() {
        String v = System.getProperty("wrcor.blas", System.getenv("WRCOR_BLAS"));
        return v == null || v.isBlank() ? "auto" : v.trim();
    }

    private static Loaded lookup() throws IOException {
        Arena global = Arena.global();
        String want = requested();
        if (!want.equals("auto") && !want.equals("system") && !want.equals("bundled"))
            throw new IOException("WRCOR_BLAS=" + want + " is not one of auto, system, bundled");
        if (!want.equals("bundled")) {
            try {
                return new Loaded(SymbolLookup.libraryLookup("libopenblas.so.0", global), "system OpenBLAS (libopenblas.so.0)");
            } catch (IllegalArgumentException notInstalled) {
                if (want.equals("system"))
                    throw new IOException("WRCOR_BLAS=system but the system has no libopenblas.so.0 (apt-get install libopenblas0-pthread)");
            }
        }
        if (OpenBlas.class.getResource(JAR_DIR + "libopenblas.so.0") == null) {
            throw new IOException("no libopenblas.so.0 on the system and no org.bytedeco:openblas natives on the class path");
        }
        Path dir = CacheDir.root().resolve("openblas-" + Integer.toHexString(OpenBlas.class.getResource(JAR_DIR + "libopenblas.so.0").toString().hashCode()));
        Files.createDirectories(dir);
        SymbolLookup last = null;
        for (String lib : JAR_LIBS) {
            Path target = dir.resolve(lib);
            if (!Files.exists(target)) {
                try (InputStream in = OpenBlas.class.getResourceAsStream(JAR_DIR + lib)) {
                    CacheDir.writeAtomically(target, in);
                }
            }
            last = SymbolLookup.libraryLookup(target, global);
        }
        return new Loaded(last, "bundled OpenBLAS (org.bytedeco)");
    }

    /** The loaded library, or null when none could be loaded (see {@link #failure()}). */
    public static OpenBlas get() {
        return Holder.INSTANCE;
    }

    public static String failure() {
        return Holder.FAILURE;
    }

    public String origin() {
        return origin;
    }

    /** C[M,N] = alpha * op(A) op(B) + beta * C, row-major, float32; operands may be heap segments. */
    public void sgemm(boolean transA, boolean transB, int m, int n, int k, float alpha, MemorySegment a, int lda,
                      MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        MethodHandle h = a.isNative() && b.isNative() && c.isNative() ? sgemm : sgemmHeap;
        try {
            h.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_sgemm failed", t);
        }
    }

    /** y[M] = alpha * A[M,N] x + beta * y, row-major, float32, unit strides. */
    public void sgemv(int m, int n, float alpha, MemorySegment a, int lda, MemorySegment x, float beta, MemorySegment y) {
        try {
            sgemv.invokeExact(ROW_MAJOR, NO_TRANS, m, n, alpha, a, lda, x, 1, beta, y, 1);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_sgemv failed", t);
        }
    }

    /** Upper triangle of C[N,N] = alpha * A A^T + beta * C for A [N,K], row-major, float32. */
    public void ssyrkUpper(int n, int k, float alpha, MemorySegment a, int lda, float beta, MemorySegment c, int ldc) {
        try {
            ssyrk.invokeExact(ROW_MAJOR, 121 /* CblasUpper */, NO_TRANS, n, k, alpha, a, lda, beta, c, ldc);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_ssyrk failed", t);
        }
    }

    /** y[yOff + j] += alpha * x[xOff + j] for j in [0, n), on heap arrays. */
    public void saxpy(int n, float alpha, float[] x, int xOff, float[] y, int yOff) {
        try {
            saxpy.invokeExact(n, alpha, MemorySegment.ofArray(x).asSlice(4L * xOff), 1, MemorySegment.ofArray(y).asSlice(4L * yOff), 1);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_saxpy failed", t);
        }
    }

    /** Sum of x[xOff + j] * y[yOff + j] for j in [0, n), on heap arrays. */
    public float sdot(int n, float[] x, int xOff, float[] y, int yOff) {
        try {
            return (float) sdot.invokeExact(n, MemorySegment.ofArray(x).asSlice(4L * xOff), 1, MemorySegment.ofArray(y).asSlice(4L * yOff), 1);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_sdot failed", t);
        }
    }

    /** C[M,N] = alpha * op(A) op(B) + beta * C, row-major, float64. */
    public void dgemm(boolean transA, boolean transB, int m, int n, int k, double alpha, MemorySegment a, int lda,
                      MemorySegment b, int ldb, double beta, MemorySegment c, int ldc) {
        try {
            dgemm.invokeExact(ROW_MAJOR, transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        } catch (Throwable t) {
            throw new IllegalStateException("cblas_dgemm failed", t);
        }
    }
}
