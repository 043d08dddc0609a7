package io.wrcor.backend.cpu;

import io.wrcor.backend.Backend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The fast CPU backend: convolutions as im2col + OpenBLAS GEMM, samples split across worker threads
 * (each with single-threaded BLAS and its own scratch), and float32 loops for the memory-bound ops.
 * Ops without a fast float32 path here (float64 elementwise ops for synflow's one-sample pass, the
 * tiny pooling/linear layers at the end of the network) run the reference code.
 *
 * <p>Not thread-safe: one engine thread drives it; it fans out to its own workers.
 */
public final class FastCpuBackend implements Backend, AutoCloseable {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;
    private static final ValueLayout.OfInt I = ValueLayout.JAVA_INT_UNALIGNED;

    private final ReferenceBackend ref = new ReferenceBackend();
    private final OpenBlas blas;
    private final NativeKernels nk; // null: the same sums through BLAS calls
    private final int threads;
    private final ExecutorService workers;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] scratch;
    private final MemorySegment[] partial;
    private final MemorySegment[] reluSample; // per worker: one sample read through a ReLU (reluConvForward off the direct kernel)
    private MemorySegment flipped = MemorySegment.NULL;
    private final float[][] padHeap, colHeap; // per worker: im2col / col2im scratch on the heap

    public FastCpuBackend(int threads) {
        this(threads, true);
    }

    /** @param useNative whether to use the native kernels where they were built (false: their BLAS form) */
    public FastCpuBackend(int threads, boolean useNative) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.blas = OpenBlas.get();
        if (blas == null) throw new IllegalStateException("cpu backend unavailable: OpenBLAS could not be loaded: " + OpenBlas.failure());
        this.nk = useNative ? NativeKernels.get() : null;
        this.threads = threads;
        this.workers = threads > 1 ? Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "wrcor-cpu");
            t.setDaemon(true);
            return t;
        }) : null;
        this.scratch = new MemorySegment[threads];
        this.partial = new MemorySegment[threads];
        this.reluSample = new MemorySegment[threads];
        this.padHeap = new float[threads][];
        this.colHeap = new float[threads][];
        java.util.Arrays.fill(scratch, MemorySegment.NULL);
        java.util.Arrays.fill(partial, MemorySegment.NULL);
        java.util.Arrays.fill(reluSample, MemorySegment.NULL);
    }

    /** This machine's GEMM and memory-bandwidth limits with this backend's BLAS and threads (measured once, cached). */
    public Ceilings ceilings() {
        return Ceilings.of(blas, threads);
    }

    /** Another fast CPU backend with as many worker threads (a lane of its own). */
    @Override
    public Backend newLane() {
        return new FastCpuBackend(threads, nk != null).winograd(winogradMode);
    }

    @Override
    public String name() {
        return "cpu (" + threads + " threads, " + blas.origin() + ", "
                + (nk != null ? "native kernels " + nk.variant() : "no native kernels: " + (NativeKernels.get() == null ? NativeKernels.failure() : "off")) + ")";
    }

    @FunctionalInterface
    private interface Chunk {
        void run(int worker, int from, int to);
    }

    /** Splits [0, n) into one contiguous chunk per worker; the calling thread runs chunk 0. */
    private void parallelFor(int n, Chunk body) {
        int parts = Math.min(threads, n);
        if (parts <= 1) {
            body.run(0, 0, n);
            return;
        }
        List<Future<?>> futures = new ArrayList<>();
        for (int p = 1; p < parts; p++) {
            int worker = p, from = (int) ((long) n * p / parts), to = (int) ((long) n * (p + 1) / parts);
            futures.add(workers.submit(() -> body.run(worker, from, to)));
        }
        body.run(0, 0, (int) ((long) n / parts));
        try {
            for (Future<?> f : futures) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        }
    }

    /** {@code current} when it holds {@code bytes}, else a larger segment from the backend's arena (scratch grows, never shrinks). */
    private MemorySegment atLeast(MemorySegment current, long bytes) {
        return current.byteSize() >= bytes ? current : arena.allocate(bytes, 64);
    }

    private MemorySegment scratch(int worker, long bytes) {
        return scratch[worker] = atLeast(scratch[worker], bytes);
    }

    private MemorySegment partial(int worker, long bytes) {
        return partial[worker] = atLeast(partial[worker], bytes);
    }

    /**
     * Below this many samples a convolution's GEMMs are cut by output channels (for the workers to
     * share one sample) instead of run per sample. Fixed, never the thread count: OpenBLAS's results
     * depend on a GEMM's shape (its edge kernels sum in another order), so every cut here is made by
     * the problem's size alone, and the same inputs give the same bits with any number of threads.
     */
    private static final int SMALL_BATCH = 4;

    /** Blocks of output channels for the small-batch GEMMs: by the channel count alone. */
    private static int channelBlocks(int cout) {
        return Math.max(1, Math.min(8, cout / 16));
    }

    private void gemm(DType t, boolean ta, boolean tb, int m, int n, int k, MemorySegment a, int lda, MemorySegment b, int ldb,
                      double beta, MemorySegment c, int ldc) {
        if (t == DType.F32) blas.sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, (float) beta, c, ldc);
        else blas.dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
    }

    // ---------------------------------------------------------------- convolution

    private record ConvShape(int b, int cin, int h, int w, int cout, int k, int stride, int pad, int ho, int wo) {
        int kdim() { return cin * k * k; }
        int plane() { return ho * wo; }
        boolean pointwise() { return k == 1 && stride == 1 && pad == 0; }
        NativeKernels.Conv geometry() { return new NativeKernels.Conv(cin, h, w, k, stride, pad, ho, wo); }
    }

    private static ConvShape shape(Tensor x, Tensor w, int stride, int pad) {
        int k = w.dim(2);
        return new ConvShape(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), k, stride, pad,
                ReferenceBackend.outSize(x.dim(2), k, stride, pad), ReferenceBackend.outSize(x.dim(3), k, stride, pad));
    }

    @Override
    public void convForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        convForward(x, w.data(), shape(x, w, stride, pad), y, false, null);
    }

    /** Float32 with the native kernels: the direct kernel reads its input through the ReLU and masks its output as it copies them. */
    @Override
    public boolean fusesReluIntoConv(DType t) {
        return fuseReluConv && t == DType.F32 && nk != null;
    }

    /** -Dwrcor.cpu.fuseReluConv=false: every ReLU as its own op (for comparisons). */
    private final boolean fuseReluConv = flag("wrcor.cpu.fuseReluConv");

    /** A true/false system property (default true); any other value is refused. */
    private static boolean flag(String name) {
        String v = System.getProperty(name, "true");
        return switch (v) {
            case "true" -> true;
            case "false" -> false;
            default -> throw new IllegalArgumentException("-D" + name + "=" + v + ": expected true or false");
        };
    }

    @Override
    public void reluConvForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        if (!fusesReluIntoConv(x.dtype())) throw new UnsupportedOperationException("reluConvForward needs the native kernels and float32");
        convForward(x, w.data(), shape(x, w, stride, pad), y, true, null);
    }

    @Override
    public void convBackwardDataMasked(Tensor dy, Tensor w, int stride, int pad, Tensor x, Tensor dx) {
        if (!fusesReluIntoConv(dx.dtype())) throw new UnsupportedOperationException("convBackwardDataMasked needs the native kernels and float32");
        convBackwardData(dy, w, stride, pad, dx, x);
    }

    /**
     * y = conv(x), or conv(relu(x)) with {@code reluIn}, then masked by {@code mask} (reluBackward's
     * mask, of y's shape) when not null: inside the direct kernel and per sample on the GEMM path,
     * as whole-tensor passes before and after elsewhere (fewer samples than workers, Winograd).
     */
    private void convForward(Tensor x, MemorySegment w, ConvShape s, Tensor y, boolean reluIn, Tensor mask) {
        DType t = x.dtype();
        int e = t.bytes, kd = s.kdim(), p = s.plane();
        long xs = (long) s.cin * s.h * s.w * e, ys = (long) s.cout * p * e;
        boolean fused = reluIn || mask != null;
        if (fused && (s.b < SMALL_BATCH || t == DType.F32 && nk != null && winograd(s))) {
            Tensor in = x;
            if (reluIn) {
                in = new Tensor(t, reluWhole = atLeast(reluWhole, x.numel() * e), x.shape());
                relu(x, in);
            }
            convForward(in, w, s, y, false, null);
            if (mask != null) reluBackward(mask, y, y);
            return;
        }
        if (s.b < SMALL_BATCH) {
            // a few samples (synflow's single one): each GEMM cut by output channels into blocks fixed by the shape
            int blocks = channelBlocks(s.cout);
            for (int n = 0; n < s.b; n++) {
                MemorySegment xn = x.data().asSlice(n * xs, xs), yn = y.data().asSlice(n * ys, ys);
                MemorySegment col = s.pointwise() ? xn : im2col(0, xn, s, t);
                parallelFor(blocks, (worker, bFrom, bTo) -> {
                    for (int blk = bFrom; blk < bTo; blk++) {
                        int from = s.cout * blk / blocks, to = s.cout * (blk + 1) / blocks;
                        gemm(t, false, false, to - from, p, kd, w.asSlice((long) from * kd * e), kd, col, p, 0.0, yn.asSlice((long) from * p * e), p);
                    }
                });
            }
            return;
        }
        if (t == DType.F32 && nk != null && winograd(s)) {
            winogradConv(x.data(), w, s, y.data());
            return;
        }
        if (t == DType.F32 && nk != null && directConv(s)) { // (fewer samples than workers took the branch above)
            MemorySegment wp = packed = atLeast(packed, 4 * NativeKernels.packedWeightFloats(s.cin, s.cout, s.k));
            nk.packForDirectConv(s.cin, s.cout, s.k, w, wp);
            long scratchBytes = 4 * NativeKernels.directConvScratchFloats(s.cin, s.h, s.w, s.k, s.pad);
            parallelFor(s.b, (worker, from, to) -> {
                MemorySegment sc = scratch(worker, scratchBytes);
                for (int n = from; n < to; n++) {
                    nk.directConv(s.cin, s.h, s.w, s.cout, s.k, s.pad, x.data().asSlice(n * xs, xs), wp, y.data().asSlice(n * ys, ys), sc,
                            reluIn, mask == null ? null : mask.data().asSlice(n * ys, ys));
                }
            });
            return;
        }
        parallelFor(s.b, (worker, from, to) -> {
            for (int n = from; n < to; n++) {
                MemorySegment xn = x.data().asSlice(n * xs, xs), yn = y.data().asSlice(n * ys, ys);
                if (reluIn) xn = reluOfSample(worker, xn);
                MemorySegment col = s.pointwise() ? xn : im2col(worker, xn, s, t);
                gemm(t, false, false, s.cout, p, kd, w, kd, col, p, 0.0, yn, p);
                if (mask != null) maskRange(mask.data().asSlice(n * ys, ys), yn, yn, 0, ys / 4);
            }
        });
    }

    private MemorySegment reluWhole = MemorySegment.NULL;

    /** relu of one float32 sample into this worker's buffer (cache-hot for the GEMM that reads it next). */
    private MemorySegment reluOfSample(int worker, MemorySegment xn) {
        MemorySegment r = reluSample[worker] = atLeast(reluSample[worker], xn.byteSize());
        reluRange(xn, r, 0, xn.byteSize() / 4);
        return r.asSlice(0, xn.byteSize());
    }

    /**
     * When float32 3 x 3 convolutions of stride 1 and padding 1 run as Winograd F(2x2, 3x3) (native
     * transforms around sixteen GEMMs, NativeKernels.winogradInput): 2.25 times fewer multiplications
     * than im2col + GEMM and a quarter of im2col's traffic, at about two to four times the float32
     * rounding error of a direct sum. Only while {@link #allowFastConvolutions} allows it.
     */
    public enum Winograd {
        /** never */
        OFF,
        /**
         * the default: where the direct kernel does not take the convolution (more than 64 output
         * channels) and there are at least 16 input channels (fewer leave the sixteen GEMMs too thin),
         * and ahead of the direct kernel with 64 channels in and out on maps of 16 x 16 or more
         * (measured single-threaded, AMD EPYC, OpenBLAS 0.3.21: 64 channels at 32 x 32 1.4x the direct
         * kernel's speed, at 16 x 16 1.07x; 32 channels no faster, 16 channels half as fast)
         */
        AUTO,
        /** every such convolution, ahead of the direct kernel: for the tests, so that the fixtures' narrow networks exercise it */
        EVERYWHERE
    }

    private Winograd winogradMode = switch (System.getProperty("wrcor.cpu.winograd", "auto")) {
        case "false", "off" -> Winograd.OFF;
        case "everywhere" -> Winograd.EVERYWHERE;
        case "auto" -> Winograd.AUTO;
        default -> throw new IllegalArgumentException("-Dwrcor.cpu.winograd=" + System.getProperty("wrcor.cpu.winograd")
                + ": expected off, auto or everywhere");
    };

    /** Chooses where Winograd runs (default AUTO; -Dwrcor.cpu.winograd=off|auto|everywhere). Returns this backend. */
    public FastCpuBackend winograd(Winograd mode) {
        winogradMode = java.util.Objects.requireNonNull(mode);
        return this;
    }

    private boolean fastConvolutions = true;

    /** Whether Winograd may run at all (the scorer's say, per set of proxies; true until told otherwise). */
    @Override
    public void allowFastConvolutions(boolean allowed) {
        fastConvolutions = allowed;
    }

    /** Whether this float32 convolution runs as Winograd: allowed, 3 x 3 of stride 1 and padding 1, and where the mode says (see {@link Winograd}). */
    private boolean winograd(ConvShape s) {
        if (!fastConvolutions || s.k != 3 || s.stride != 1 || s.pad != 1) return false;
        return switch (winogradMode) {
            case OFF -> false;
            case EVERYWHERE -> true;
            case AUTO -> s.cin >= 64 && s.cout >= 64 && s.h * s.w >= 256 || !directConv(s) && s.cin >= 16;
        };
    }

    /** Tiles per group of samples in one set of Winograd GEMMs: wide enough for the GEMMs, small enough for the cache levels. */
    private static final int WINOGRAD_TILES = 512;
    private MemorySegment winoWeights = MemorySegment.NULL;

    private void winogradConv(MemorySegment x, MemorySegment w, ConvShape s, MemorySegment y) {
        long tiles = NativeKernels.winogradTiles(s.h, s.w);
        // groups of samples fixed by the shape alone (never by the thread count), so the sums do not depend on it
        int group = (int) Math.max(1, Math.min(s.b, (WINOGRAD_TILES + tiles - 1) / tiles));
        int groups = (s.b + group - 1) / group;
        MemorySegment u = winoWeights = atLeast(winoWeights, 64L * s.cout * s.cin);
        nk.winogradWeights(s.cout, s.cin, w, u);
        long xs = 4L * s.cin * s.h * s.w, ys = 4L * s.cout * s.h * s.w;
        long tg = group * tiles, vBytes = 64L * s.cin * tg, mBytes = 64L * s.cout * tg;
        long scBytes = 4 * NativeKernels.winogradScratchFloats(s.h, s.w);
        parallelFor(groups, (worker, from, to) -> {
            MemorySegment all = scratch(worker, vBytes + mBytes + scBytes);
            MemorySegment v = all.asSlice(0, vBytes), m = all.asSlice(vBytes, mBytes), sc = all.asSlice(vBytes + mBytes, scBytes);
            for (int g = from; g < to; g++) {
                int n0 = g * group, ns = Math.min(group, s.b - n0);
                int nt = (int) (ns * tiles);
                nk.winogradInput(ns, s.cin, s.h, s.w, x.asSlice(n0 * xs, ns * xs), v, sc);
                for (int k = 0; k < 16; k++) {
                    blas.sgemm(false, false, s.cout, nt, s.cin, 1f, u.asSlice(4L * k * s.cout * s.cin), s.cin,
                            v.asSlice(4L * k * s.cin * nt), nt, 0f, m.asSlice(4L * k * s.cout * nt), nt);
                }
                nk.winogradOutput(ns, s.cout, s.h, s.w, m, y.asSlice(n0 * ys, ns * ys), sc);
            }
        });
    }

    /**
     * Whether a float32 convolution runs as the native direct kernel instead of im2col + GEMM: stride 1,
     * a window over 1 x 1, and at most 64 output channels, where the GEMM's packing and the im2col
     * traffic cost as much as its arithmetic (measured: about twice the GEMM path's rate on NAS-Bench-201's
     * 16-64-channel convolutions; wider ones and 1 x 1 convolutions are faster through the GEMM).
     * -Dwrcor.cpu.directConv=false turns it off.
     */
    private boolean directConv(ConvShape s) {
        return directConv && s.stride == 1 && s.k > 1 && s.k <= 8 && s.cout <= 64;
    }

    private final boolean directConv = flag("wrcor.cpu.directConv");
    private MemorySegment packed = MemorySegment.NULL;

    @Override
    public void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        convBackwardData(dy, w, stride, pad, dx, null);
    }

    /** dx, masked by reluBackward's mask of {@code mask} (dx's shape) when not null. */
    private void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx, Tensor mask) {
        if (mask != null && dx.dtype() != DType.F32) throw new UnsupportedOperationException("masked convolutions are float32");
        ConvShape s = shape(dx, w, stride, pad);
        if (stride == 1 && 2 * pad == s.k - 1) {
            // a 'same' stride-1 conv: dx is the conv of dy with the weights transposed and flipped
            MemorySegment wf = flip(w, s);
            ConvShape back = new ConvShape(s.b, s.cout, s.ho, s.wo, s.cin, s.k, 1, s.k - 1 - pad, s.h, s.w);
            convForward(dy, wf, back, dx, false, mask);
            return;
        }
        DType t = dx.dtype();
        int e = t.bytes, kd = s.kdim(), p = s.plane();
        long xs = (long) s.cin * s.h * s.w * e, ys = (long) s.cout * p * e;
        parallelFor(s.b, (worker, from, to) -> {
            for (int n = from; n < to; n++) {
                MemorySegment dyn = dy.data().asSlice(n * ys, ys), dxn = dx.data().asSlice(n * xs, xs);
                if (t == DType.F32 && nk != null) {
                    MemorySegment col = scratch(worker, 4L * kd * p);
                    gemm(t, true, false, kd, p, s.cout, w.data(), kd, dyn, p, 0.0, col, p);
                    NativeKernels.Conv g = s.geometry();
                    nk.col2im(g, col, dxn, partial(worker, 4L * g.paddedFloats()));
                    if (mask != null) maskRange(mask.data().asSlice(n * xs, xs), dxn, dxn, 0, xs / 4);
                } else if (t == DType.F32) {
                    float[] col = colHeap[worker] = grow(colHeap[worker], kd * p);
                    gemm(t, true, false, kd, p, s.cout, w.data(), kd, dyn, p, 0.0, MemorySegment.ofArray(col), p);
                    col2imF32(worker, col, s, dxn);
                    if (mask != null) maskRange(mask.data().asSlice(n * xs, xs), dxn, dxn, 0, xs / 4);
                } else {
                    MemorySegment col = scratch(worker, (long) kd * p * e);
                    gemm(t, true, false, kd, p, s.cout, w.data(), kd, dyn, p, 0.0, col, p);
                    col2im(col, s, dxn, t);
                }
            }
        });
    }

    /** x = 0, then x[c, iy, ix] += col[...] for every column entry im2col reads from x; via a padded heap plane. */
    private void col2imF32(int worker, float[] col, ConvShape s, MemorySegment x) {
        int k = s.k, pw = s.w + 2 * s.pad, ph = s.h + 2 * s.pad, wo = s.wo, p = s.plane();
        float[] pad = padHeap[worker] = grow(padHeap[worker], ph * pw);
        for (int c = 0; c < s.cin; c++) {
            java.util.Arrays.fill(pad, 0, ph * pw, 0f);
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int row = ((c * k + ky) * k + kx) * p;
                    for (int oy = 0; oy < s.ho; oy++) {
                        int src = row + oy * wo, dst = (oy * s.stride + ky) * pw + kx;
                        for (int ox = 0; ox < wo; ox++) pad[dst + ox * s.stride] += col[src + ox];
                    }
                }
            for (int y = 0; y < s.h; y++) {
                MemorySegment.copy(pad, (y + s.pad) * pw + s.pad, x, F, (((long) c * s.h + y) * s.w) * 4, s.w);
            }
        }
    }

    /** w'[ci, co, ky, kx] = w[co, ci, k-1-ky, k-1-kx]. */
    private MemorySegment flip(Tensor w, ConvShape s) {
        int e = w.dtype().bytes, k = s.k;
        long bytes = w.numel() * e;
        flipped = atLeast(flipped, bytes);
        if (e == 4 && nk != null) {
            nk.flip(s.cout, s.cin, k, w.data(), flipped);
            return flipped;
        }
        for (int co = 0; co < s.cout; co++)
            for (int ci = 0; ci < s.cin; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        long src = (((long) co * s.cin + ci) * k + ky) * k + kx;
                        long dst = (((long) ci * s.cout + co) * k + (k - 1 - ky)) * k + (k - 1 - kx);
                        if (e == 4) flipped.setAtIndex(F, dst, w.getF(src));
                        else flipped.setAtIndex(D, dst, w.getD(src));
                    }
        return flipped;
    }

    /**
     * Partial sums of a reduction split into a fixed number of groups (by the problem's size, never by
     * the thread count), each in its own slice, added up in group order: the same bits with any
     * number of threads, so that a row scored on a cluster's one-core task equals a laptop's.
     */
    private MemorySegment groupPartials = MemorySegment.NULL;

    private MemorySegment groupPartials(long bytes) {
        return groupPartials = atLeast(groupPartials, bytes);
    }

    /** Groups of samples whose weight gradients are summed apart and then added in order (fixed by the batch alone). */
    private static final int WEIGHT_GRADIENT_GROUPS = 8;

    @Override
    public void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        ConvShape s = shape(x, dw, stride, pad);
        DType t = x.dtype();
        int e = t.bytes, kd = s.kdim(), p = s.plane();
        long xs = (long) s.cin * s.h * s.w * e, ys = (long) s.cout * p * e, wbytes = (long) s.cout * kd * e;
        int groups = Math.min(s.b, WEIGHT_GRADIENT_GROUPS);
        // group g's samples [b * g / groups, b * (g + 1) / groups) accumulate in order into partial g (dw itself when there is one group)
        MemorySegment parts = groups == 1 ? dw.data() : groupPartials(groups * wbytes);
        if (s.b < SMALL_BATCH) {
            // a few samples: each GEMM cut by output channels into blocks fixed by the shape, the samples of a group in turn
            int blocks = channelBlocks(s.cout);
            for (int g = 0; g < groups; g++) {
                MemorySegment acc = parts.asSlice(g * wbytes, wbytes);
                int n0 = (int) ((long) s.b * g / groups), n1 = (int) ((long) s.b * (g + 1) / groups);
                for (int n = n0; n < n1; n++) {
                    MemorySegment xn = x.data().asSlice(n * xs, xs), dyn = dy.data().asSlice(n * ys, ys);
                    MemorySegment col = s.pointwise() ? xn : im2col(0, xn, s, t);
                    double beta = n == n0 ? 0.0 : 1.0;
                    parallelFor(blocks, (worker, bFrom, bTo) -> {
                        for (int blk = bFrom; blk < bTo; blk++) {
                            int from = s.cout * blk / blocks, to = s.cout * (blk + 1) / blocks;
                            gemm(t, false, true, to - from, kd, p, dyn.asSlice((long) from * p * e), p, col, p, beta,
                                    acc.asSlice((long) from * kd * e), kd);
                        }
                    });
                }
            }
        } else {
            parallelFor(groups, (worker, gFrom, gTo) -> {
                for (int g = gFrom; g < gTo; g++) {
                    MemorySegment acc = parts.asSlice(g * wbytes, wbytes);
                    int n0 = (int) ((long) s.b * g / groups), n1 = (int) ((long) s.b * (g + 1) / groups);
                    for (int n = n0; n < n1; n++) {
                        MemorySegment xn = x.data().asSlice(n * xs, xs);
                        MemorySegment col = s.pointwise() ? xn : im2col(worker, xn, s, t);
                        gemm(t, false, true, s.cout, kd, p, dy.data().asSlice(n * ys, ys), p, col, p, n == n0 ? 0.0 : 1.0, acc, kd);
                    }
                }
            });
        }
        if (groups == 1) return;
        MemorySegment.copy(parts, 0, dw.data(), 0, wbytes);
        long count = dw.numel();
        for (int g = 1; g < groups; g++) {
            long base = g * count;
            if (t == DType.F32) parallelRange(count, (from, to) -> {
                for (long i = from; i < to; i++) dw.data().setAtIndex(F, i, dw.data().getAtIndex(F, i) + parts.getAtIndex(F, base + i));
            });
            else parallelRange(count, (from, to) -> {
                for (long i = from; i < to; i++) dw.data().setAtIndex(D, i, dw.data().getAtIndex(D, i) + parts.getAtIndex(D, base + i));
            });
        }
    }

    /** The im2col matrix of one sample in the worker's scratch (a heap array for float32 stride 1). */
    private MemorySegment im2col(int worker, MemorySegment x, ConvShape s, DType t) {
        if (t == DType.F32 && nk != null) {
            MemorySegment col = scratch(worker, 4L * s.kdim() * s.plane());
            nk.im2col(s.geometry(), x, col);
            return col.asSlice(0, 4L * s.kdim() * s.plane());
        }
        if (t == DType.F32) return im2colF32(worker, x, s);
        MemorySegment col = scratch(worker, (long) s.kdim() * s.plane() * t.bytes);
        im2col(x, s, col, t.bytes);
        return col;
    }


    /**
     * Float32 im2col into a heap array: each input plane is copied once into a zero-padded array, so
     * every column row is a copy (strided when stride > 1) of a padded row. SGEMM reads the array in
     * place (a critical downcall). Per-element segment access and per-run copies cost twice as much.
     */
    private MemorySegment im2colF32(int worker, MemorySegment x, ConvShape s) {
        int k = s.k, pw = s.w + 2 * s.pad, ph = s.h + 2 * s.pad, wo = s.wo, p = s.plane();
        float[] pad = padHeap[worker] = grow(padHeap[worker], ph * pw);
        float[] c2 = colHeap[worker] = grow(colHeap[worker], s.kdim() * p);
        java.util.Arrays.fill(pad, 0, ph * pw, 0f);
        for (int c = 0; c < s.cin; c++) {
            for (int y = 0; y < s.h; y++) {
                MemorySegment.copy(x, F, (((long) c * s.h + y) * s.w) * 4, pad, (y + s.pad) * pw + s.pad, s.w);
            }
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    int row = ((c * k + ky) * k + kx) * p;
                    for (int oy = 0; oy < s.ho; oy++) {
                        int src = (oy * s.stride + ky) * pw + kx, dst = row + oy * wo;
                        if (s.stride == 1) System.arraycopy(pad, src, c2, dst, wo);
                        else for (int ox = 0; ox < wo; ox++) c2[dst + ox] = pad[src + ox * s.stride];
                    }
                }
        }
        return MemorySegment.ofArray(c2).asSlice(0, 4L * s.kdim() * p);
    }

    private static float[] grow(float[] a, int n) {
        return a != null && a.length >= n ? a : new float[n];
    }

    /** col[(c*k+ky)*k+kx, oy*wo+ox] = x[c, oy*stride-pad+ky, ox*stride-pad+kx], zero outside x. */
    private static void im2col(MemorySegment x, ConvShape s, MemorySegment col, int e) {
        int k = s.k, wo = s.wo, p = s.plane();
        for (int c = 0; c < s.cin; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    long row = ((long) (c * k + ky) * k + kx) * p;
                    for (int oy = 0; oy < s.ho; oy++) {
                        long dst = (row + (long) oy * wo) * e;
                        int iy = oy * s.stride - s.pad + ky;
                        if (iy < 0 || iy >= s.h) {
                            zero(col, dst, wo, e);
                            continue;
                        }
                        long srcRow = ((long) c * s.h + iy) * s.w;
                        if (s.stride == 1) {
                            int lo = Math.max(0, s.pad - kx), hi = Math.min(wo, s.w + s.pad - kx);
                            zero(col, dst, lo, e);
                            if (hi > lo) MemorySegment.copy(x, (srcRow + lo - s.pad + kx) * e, col, dst + (long) lo * e, (long) (hi - lo) * e);
                            zero(col, dst + (long) Math.max(hi, lo) * e, wo - Math.max(hi, lo), e);
                        } else {
                            for (int ox = 0; ox < wo; ox++) {
                                int ix = ox * s.stride - s.pad + kx;
                                if (ix < 0 || ix >= s.w) zero(col, dst + (long) ox * e, 1, e);
                                else MemorySegment.copy(x, (srcRow + ix) * e, col, dst + (long) ox * e, e);
                            }
                        }
                    }
                }
    }

    /** x = 0, then x[c, iy, ix] += col[...] for every column entry that im2col would have read from x. */
    private static void col2im(MemorySegment col, ConvShape s, MemorySegment x, DType t) {
        x.fill((byte) 0);
        int k = s.k, wo = s.wo, p = s.plane();
        for (int c = 0; c < s.cin; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    long row = ((long) (c * k + ky) * k + kx) * p;
                    for (int oy = 0; oy < s.ho; oy++) {
                        int iy = oy * s.stride - s.pad + ky;
                        if (iy < 0 || iy >= s.h) continue;
                        long srcRow = ((long) c * s.h + iy) * s.w;
                        for (int ox = 0; ox < wo; ox++) {
                            int ix = ox * s.stride - s.pad + kx;
                            if (ix < 0 || ix >= s.w) continue;
                            long xi = srcRow + ix, ci = row + (long) oy * wo + ox;
                            if (t == DType.F32) x.setAtIndex(F, xi, x.getAtIndex(F, xi) + col.getAtIndex(F, ci));
                            else x.setAtIndex(D, xi, x.getAtIndex(D, xi) + col.getAtIndex(D, ci));
                        }
                    }
                }
    }

    private static void zero(MemorySegment seg, long byteOffset, int count, int e) {
        if (e == 4) for (int i = 0; i < count; i++) seg.set(ValueLayout.JAVA_INT_UNALIGNED, byteOffset + 4L * i, 0);
        else for (int i = 0; i < count; i++) seg.set(ValueLayout.JAVA_LONG_UNALIGNED, byteOffset + 8L * i, 0L);
    }

    // ---------------------------------------------------------------- batch norm

    @Override
    public void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean, Tensor invStd) {
        batchNormForward(x, gamma, beta, eps, y, mean, invStd, false);
    }

    /** The ReLU applied in BN's last pass: max(x * scale + shift, 0), as relu of the BN output computes it. */
    @Override
    public void batchNormReluForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean, Tensor invStd) {
        batchNormForward(x, gamma, beta, eps, y, mean, invStd, true);
    }

    private void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor meanOut, Tensor invStdOut, boolean relu) {
        double[] mean = new double[x.dim(1)], invStd = new double[x.dim(1)];
        batchNormForward(x, gamma, beta, eps, y, mean, invStd, relu);
        Backend.store(mean, meanOut);
        Backend.store(invStd, invStdOut);
    }

    private void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, double[] mean, double[] invStd, boolean relu) {
        if (x.dtype() != DType.F32) {
            ref.batchNormForward(x, gamma, beta, eps, y, mean, invStd);
            if (relu) relu(y, y);
            return;
        }
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c), count = b * hw;
        MemorySegment xs = x.data(), ys = y.data();
        NativeKernels.Planes planes = nk == null ? null : new NativeKernels.Planes(b, c * hw, hw);
        parallelFor(c, (worker, from, to) -> {
            double[] sums = new double[2];
            for (int ch = from; ch < to; ch++) {
                // the native kernels compute the Java loops' sums in their order: the same bits either way
                if (nk != null) nk.bnStats(planes, xs, ch * hw, sums);
                else channelStats(xs, b, c, ch, hw, count, sums);
                double m = sums[0] / count, is = 1.0 / Math.sqrt(sums[1] / count + eps);
                mean[ch] = m;
                invStd[ch] = is;
                float scale = (float) (is * gamma.get(ch)), shift = (float) (beta.get(ch) - m * is * gamma.get(ch));
                if (nk != null) {
                    nk.bnApply(planes, xs, ys, ch * hw, scale, shift, relu);
                    continue;
                }
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    if (relu) for (long i = 0; i < hw; i++) ys.setAtIndex(F, base + i, Math.max(xs.getAtIndex(F, base + i) * scale + shift, 0f));
                    else for (long i = 0; i < hw; i++) ys.setAtIndex(F, base + i, xs.getAtIndex(F, base + i) * scale + shift);
                }
            }
        });
    }

    /**
     * sums[0] = sum of channel ch's values, sums[1] = sum of their squared deviations from the float
     * nearest the mean; two planes at a time, each with its own accumulators (eight chains in flight
     * instead of four): the same sums in the same order as one plane at a time, to the bit.
     */
    private static void channelStats(MemorySegment xs, int b, int c, int ch, long hw, long count, double[] sums) {
        float[] pair = new float[2];
        double s = 0;
        int n = 0;
        for (; n + 1 < b; n += 2) {
            sum2(xs, (n * (long) c + ch) * hw, ((n + 1) * (long) c + ch) * hw, hw, pair);
            s += pair[0];
            s += pair[1];
        }
        if (n < b) s += sum(xs, (n * (long) c + ch) * hw, hw);
        float m = (float) (s / count);
        double v = 0;
        for (n = 0; n + 1 < b; n += 2) {
            sumSquaredDeviations2(xs, (n * (long) c + ch) * hw, ((n + 1) * (long) c + ch) * hw, hw, m, pair);
            v += pair[0];
            v += pair[1];
        }
        if (n < b) v += sumSquaredDeviations(xs, (n * (long) c + ch) * hw, hw, m);
        sums[0] = s;
        sums[1] = v;
    }

    // Reductions over one plane with four independent float accumulators: a single accumulator
    // serialises on the add latency (the JIT does not reorder float adds), four let them overlap.

    private static float sum(MemorySegment s, long base, long n) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        long i = 0;
        for (; i + 3 < n; i += 4) {
            a0 += s.getAtIndex(F, base + i);
            a1 += s.getAtIndex(F, base + i + 1);
            a2 += s.getAtIndex(F, base + i + 2);
            a3 += s.getAtIndex(F, base + i + 3);
        }
        for (; i < n; i++) a0 += s.getAtIndex(F, base + i);
        return (a0 + a1) + (a2 + a3);
    }

    private static float sumSquaredDeviations(MemorySegment s, long base, long n, float m) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        long i = 0;
        for (; i + 3 < n; i += 4) {
            float d0 = s.getAtIndex(F, base + i) - m, d1 = s.getAtIndex(F, base + i + 1) - m;
            float d2 = s.getAtIndex(F, base + i + 2) - m, d3 = s.getAtIndex(F, base + i + 3) - m;
            a0 += d0 * d0;
            a1 += d1 * d1;
            a2 += d2 * d2;
            a3 += d3 * d3;
        }
        for (; i < n; i++) {
            float d = s.getAtIndex(F, base + i) - m;
            a0 += d * d;
        }
        return (a0 + a1) + (a2 + a3);
    }

    /** {@link #sum} of the planes at b0 and b1 into out[0] and out[1], interleaved. */
    private static void sum2(MemorySegment s, long b0, long b1, long n, float[] out) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        long i = 0;
        for (; i + 3 < n; i += 4) {
            a0 += s.getAtIndex(F, b0 + i);
            c0 += s.getAtIndex(F, b1 + i);
            a1 += s.getAtIndex(F, b0 + i + 1);
            c1 += s.getAtIndex(F, b1 + i + 1);
            a2 += s.getAtIndex(F, b0 + i + 2);
            c2 += s.getAtIndex(F, b1 + i + 2);
            a3 += s.getAtIndex(F, b0 + i + 3);
            c3 += s.getAtIndex(F, b1 + i + 3);
        }
        for (; i < n; i++) {
            a0 += s.getAtIndex(F, b0 + i);
            c0 += s.getAtIndex(F, b1 + i);
        }
        out[0] = (a0 + a1) + (a2 + a3);
        out[1] = (c0 + c1) + (c2 + c3);
    }

    /** {@link #sumSquaredDeviations} of the planes at b0 and b1 into out[0] and out[1], interleaved. */
    private static void sumSquaredDeviations2(MemorySegment s, long b0, long b1, long n, float m, float[] out) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, c0 = 0, c1 = 0, c2 = 0, c3 = 0;
        long i = 0;
        for (; i + 3 < n; i += 4) {
            float d0 = s.getAtIndex(F, b0 + i) - m, d1 = s.getAtIndex(F, b0 + i + 1) - m;
            float d2 = s.getAtIndex(F, b0 + i + 2) - m, d3 = s.getAtIndex(F, b0 + i + 3) - m;
            float e0 = s.getAtIndex(F, b1 + i) - m, e1 = s.getAtIndex(F, b1 + i + 1) - m;
            float e2 = s.getAtIndex(F, b1 + i + 2) - m, e3 = s.getAtIndex(F, b1 + i + 3) - m;
            a0 += d0 * d0;
            c0 += e0 * e0;
            a1 += d1 * d1;
            c1 += e1 * e1;
            a2 += d2 * d2;
            c2 += e2 * e2;
            a3 += d3 * d3;
            c3 += e3 * e3;
        }
        for (; i < n; i++) {
            float d = s.getAtIndex(F, b0 + i) - m, e = s.getAtIndex(F, b1 + i) - m;
            a0 += d * d;
            c0 += e * e;
        }
        out[0] = (a0 + a1) + (a2 + a3);
        out[1] = (c0 + c1) + (c2 + c3);
    }

    /** acc[0] += sum of g, acc[1] += sum of g * (x - m), over one plane, in one pass. */
    private static void sumAndProductDeviations(MemorySegment g, MemorySegment x, long base, long n, float m, double[] acc) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0, p0 = 0, p1 = 0, p2 = 0, p3 = 0;
        long i = 0;
        for (; i + 3 < n; i += 4) {
            float g0 = g.getAtIndex(F, base + i), g1 = g.getAtIndex(F, base + i + 1);
            float g2 = g.getAtIndex(F, base + i + 2), g3 = g.getAtIndex(F, base + i + 3);
            a0 += g0;
            a1 += g1;
            a2 += g2;
            a3 += g3;
            p0 += g0 * (x.getAtIndex(F, base + i) - m);
            p1 += g1 * (x.getAtIndex(F, base + i + 1) - m);
            p2 += g2 * (x.getAtIndex(F, base + i + 2) - m);
            p3 += g3 * (x.getAtIndex(F, base + i + 3) - m);
        }
        for (; i < n; i++) {
            float gi = g.getAtIndex(F, base + i);
            a0 += gi;
            p0 += gi * (x.getAtIndex(F, base + i) - m);
        }
        acc[0] += (a0 + a1) + (a2 + a3);
        acc[1] += (p0 + p1) + (p2 + p3);
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor mean, Tensor invStd, Tensor dx) {
        batchNormBackward(x, dy, gamma, Backend.values(mean), Backend.values(invStd), dx);
    }

    /** With the native kernels, the ReLU's mask is applied in BN's two backward passes (float32 only). */
    @Override
    public boolean fusesReluBackward(DType t) {
        return nk != null && t == DType.F32;
    }

    @Override
    public void batchNormReluBackward(Tensor x, Tensor y, Tensor dy, Tensor gamma, Tensor mean, Tensor invStd, Tensor dx) {
        if (!fusesReluBackward(x.dtype())) throw new UnsupportedOperationException("batchNormReluBackward needs the native kernels and float32");
        batchNormBackward(x, y, dy, gamma, Backend.values(mean), Backend.values(invStd), dx);
    }

    private void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, double[] mean, double[] invStd, Tensor dx) {
        if (x.dtype() != DType.F32) { ref.batchNormBackward(x, dy, gamma, mean, invStd, dx); return; }
        batchNormBackward(x, null, dy, gamma, mean, invStd, dx);
    }

    /**
     * dx of batch norm for the gradient dy (float32), masked where the ReLU output y is not positive
     * when y is not null (the native kernels only). The native kernels compute the Java loops' sums
     * in their order and the same products: the same bits either way.
     */
    private void batchNormBackward(Tensor x, Tensor y, Tensor dy, Tensor gamma, double[] mean, double[] invStd, Tensor dx) {
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c), count = b * hw;
        MemorySegment xs = x.data(), gs = dy.data(), ds = dx.data(), ys = y == null ? null : y.data();
        NativeKernels.Planes planes = nk == null ? null : new NativeKernels.Planes(b, c * hw, hw);
        parallelFor(c, (worker, from, to) -> {
            double[] acc = new double[2];
            for (int ch = from; ch < to; ch++) {
                float m = (float) mean[ch];
                if (nk != null) {
                    nk.bnGradSums(planes, gs, ys, xs, ch * hw, m, acc);
                } else {
                    acc[0] = acc[1] = 0;
                    for (int n = 0; n < b; n++) sumAndProductDeviations(gs, xs, (n * (long) c + ch) * hw, hw, m, acc);
                }
                double is = invStd[ch], scale = gamma.get(ch) * is;
                double mdy = acc[0] / count, mdyx = acc[1] * is / count; // mean(dy * xhat)
                // dx = scale * (dy - mdy - xhat * mdyx), xhat = (x - m) * is
                float k1 = (float) scale, k2 = (float) (scale * mdy), k3 = (float) (scale * is * mdyx);
                if (nk != null) {
                    nk.bnGradApply(planes, gs, ys, xs, ch * hw, m, k1, k2, k3, ds);
                    continue;
                }
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    for (long i = 0; i < hw; i++) {
                        ds.setAtIndex(F, base + i, k1 * gs.getAtIndex(F, base + i) - k2 - k3 * (xs.getAtIndex(F, base + i) - m));
                    }
                }
            }
        });
    }

    // ---------------------------------------------------------------- elementwise

    private interface Range {
        void run(long from, long to);
    }

    private void parallelRange(long n, Range body) {
        if (n < 1 << 16) { body.run(0, n); return; }
        int blocks = threads;
        parallelFor(blocks, (worker, from, to) -> {
            for (int blk = from; blk < to; blk++) body.run(n * blk / blocks, n * (blk + 1) / blocks);
        });
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        if (x.dtype() != DType.F32) { ref.relu(x, y); return; }
        MemorySegment xs = x.data(), ys = y.data();
        parallelRange(x.numel(), (from, to) -> reluRange(xs, ys, from, to));
    }

    /** ys[i] = Math.max(xs[i], 0f) for i in [from, to), float32. */
    private static void reluRange(MemorySegment xs, MemorySegment ys, long from, long to) {
        for (long i = from; i < to; i++) ys.setAtIndex(F, i, Math.max(xs.getAtIndex(F, i), 0f));
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (x.dtype() != DType.F32) { ref.reluBackward(x, dy, dx); return; }
        // branch-free: the sign of x is random, and a mispredicted branch per element costs more than the
        // whole loop. mask is all ones exactly when x's bits are a positive int, i.e. x > +0 (or x is NaN,
        // where PyTorch's threshold_backward also passes the gradient through).
        MemorySegment xs = x.data(), gs = dy.data(), ds = dx.data();
        parallelRange(x.numel(), (from, to) -> maskRange(xs, gs, ds, from, to));
    }

    /** ds[i] = gs[i] where xs[i]'s bits are a positive int, else +0, for i in [from, to), float32 (in place when ds is gs). */
    private static void maskRange(MemorySegment xs, MemorySegment gs, MemorySegment ds, long from, long to) {
        for (long i = from; i < to; i++) {
            int xb = xs.getAtIndex(I, i);
            int mask = ~(xb >> 31) & (-xb >> 31);
            ds.setAtIndex(I, i, gs.getAtIndex(I, i) & mask);
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        if (a.dtype() != DType.F32) { ref.add(a, b, out); return; }
        MemorySegment as = a.data(), bs = b.data(), os = out.data();
        parallelRange(a.numel(), (from, to) -> {
            for (long i = from; i < to; i++) os.setAtIndex(F, i, as.getAtIndex(F, i) + bs.getAtIndex(F, i));
        });
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        if (a.dtype() != DType.F32) { ref.mul(a, b, out); return; }
        MemorySegment as = a.data(), bs = b.data(), os = out.data();
        parallelRange(a.numel(), (from, to) -> {
            for (long i = from; i < to; i++) os.setAtIndex(F, i, as.getAtIndex(F, i) * bs.getAtIndex(F, i));
        });
    }

    @Override
    public void pointwise(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor y) {
        ref.pointwise(kind, a, b, x, y); // rare ops: the reference's loop (double inside, stored as the tensor's type)
    }

    @Override
    public void pointwiseBackward(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor dy, Tensor dx) {
        ref.pointwiseBackward(kind, a, b, x, dy, dx);
    }

    @Override
    public void clip(Tensor x, double lo, double hi, Tensor y) {
        if (x.dtype() != DType.F32) { ref.clip(x, lo, hi, y); return; }
        MemorySegment xs = x.data(), ys = y.data();
        float l = (float) lo, h = (float) hi;
        parallelRange(x.numel(), (from, to) -> {
            for (long i = from; i < to; i++) ys.setAtIndex(F, i, Math.min(Math.max(xs.getAtIndex(F, i), l), h));
        });
    }

    @Override
    public void clipBackward(Tensor y, double lo, double hi, Tensor dy, Tensor dx) {
        if (y.dtype() != DType.F32) { ref.clipBackward(y, lo, hi, dy, dx); return; }
        MemorySegment ys = y.data(), gs = dy.data(), ds = dx.data();
        float l = (float) lo, h = (float) hi;
        parallelRange(y.numel(), (from, to) -> {
            for (long i = from; i < to; i++) {
                float v = ys.getAtIndex(F, i);
                ds.setAtIndex(F, i, v > l && v < h ? gs.getAtIndex(F, i) : 0f);
            }
        });
    }

    @Override
    public void scale(Tensor x, double s, Tensor y) {
        if (x.dtype() != DType.F32) { ref.scale(x, s, y); return; }
        MemorySegment xs = x.data(), ys = y.data();
        float f = (float) s;
        parallelRange(x.numel(), (from, to) -> {
            for (long i = from; i < to; i++) ys.setAtIndex(F, i, xs.getAtIndex(F, i) * f);
        });
    }

    // ---------------------------------------------------------------- pooling

    /** The 3x3 stride-1 pad-1 average pool of NAS-Bench-201 gets a fast path; other pools are tiny. */
    private static boolean isCellPool(Tensor x, int k, int stride, int pad) {
        return x.dtype() == DType.F32 && k == 3 && stride == 1 && pad == 1;
    }

    /** Windows that tile the map without overlap or padding (NAS-Bench-201's 2x2 stride-2 shortcut pool). */
    private static boolean isTiledPool(Tensor x, int k, int stride, int pad) {
        return (x.dtype() == DType.F32 || x.dtype() == DType.F64) && k == stride && pad == 0 && k >= 1;
    }

    @Override
    public void avgPoolForward(Tensor x, int k, int stride, int pad, boolean countIncludePad, Tensor y) {
        if (isTiledPool(x, k, stride, pad)) { tiledAvgPool(x, y, k, false); return; }
        if (!isCellPool(x, k, stride, pad)) { ref.avgPoolForward(x, k, stride, pad, countIncludePad, y); return; }
        boxSum3x3(x, y, countIncludePad, false);
    }

    @Override
    public void avgPoolBackward(Tensor dy, int k, int stride, int pad, boolean countIncludePad, Tensor dx) {
        if (isTiledPool(dx, k, stride, pad)) { tiledAvgPool(dy, dx, k, true); return; }
        if (!isCellPool(dy, k, stride, pad)) { ref.avgPoolBackward(dy, k, stride, pad, countIncludePad, dx); return; }
        // dx = box-sum of dy / count(output): the window is symmetric, so the adjoint is the same box
        boxSum3x3(dy, dx, countIncludePad, true);
    }

    /**
     * Average pool whose k x k windows tile the map (stride k, no padding; every window holds k^2
     * cells), threaded over planes. Forward: the window's sum in float64 in row-major order, divided
     * by k^2; backward: each covered cell gets its one window's dy / k^2 (in float64, then rounded),
     * the rows and columns past the last window zero. The reference's sums and order, so equal to it
     * to the bit.
     */
    private void tiledAvgPool(Tensor in, Tensor out, int k, boolean backward) {
        Tensor map = backward ? out : in, pooled = backward ? in : out;
        int planes = map.dim(0) * map.dim(1), h = map.dim(2), w = map.dim(3), ho = pooled.dim(2), wo = pooled.dim(3);
        double count = (double) k * k;
        boolean f32 = in.dtype() == DType.F32;
        MemorySegment ms = map.data(), ps = pooled.data();
        parallelFor(planes, (worker, from, to) -> {
            for (int p = from; p < to; p++) {
                long mBase = (long) p * h * w, pBase = (long) p * ho * wo;
                if (backward) {
                    for (int iy = 0; iy < h; iy++)
                        for (int ix = 0; ix < w; ix++) {
                            int oy = iy / k, ox = ix / k;
                            double g = oy < ho && ox < wo ? 0.0 + (f32 ? ps.getAtIndex(F, pBase + (long) oy * wo + ox) : ps.getAtIndex(D, pBase + (long) oy * wo + ox)) / count : 0;
                            if (f32) ms.setAtIndex(F, mBase + (long) iy * w + ix, (float) g);
                            else ms.setAtIndex(D, mBase + (long) iy * w + ix, g);
                        }
                } else {
                    for (int oy = 0; oy < ho; oy++)
                        for (int ox = 0; ox < wo; ox++) {
                            double s = 0;
                            for (int ky = 0; ky < k; ky++) {
                                long row = mBase + (long) (oy * k + ky) * w + (long) ox * k;
                                for (int kx = 0; kx < k; kx++) s += f32 ? ms.getAtIndex(F, row + kx) : ms.getAtIndex(D, row + kx);
                            }
                            if (f32) ps.setAtIndex(F, pBase + (long) oy * wo + ox, (float) (s / count));
                            else ps.setAtIndex(D, pBase + (long) oy * wo + ox, s / count);
                        }
                }
            }
        });
    }

    /**
     * out = 3x3 box sum with zero padding, as a horizontal and a vertical 3-sum, each one flat loop
     * over the plane (row-by-row loops are too short for the JIT to vectorise) with the plane's
     * edges written separately. Divided by the window's cell count after the sum (forward) or
     * before it (backward, where each output's share of the gradient is dy / count).
     */
    private void boxSum3x3(Tensor in, Tensor out, boolean countIncludePad, boolean divideFirst) {
        int planes = in.dim(0) * in.dim(1), h = in.dim(2), w = in.dim(3), n = h * w;
        if (h < 2 || w < 2) {
            if (divideFirst) ref.avgPoolBackward(in, 3, 1, 1, countIncludePad, out);
            else ref.avgPoolForward(in, 3, 1, 1, countIncludePad, out);
            return;
        }
        MemorySegment is = in.data(), os = out.data();
        float[] inv = new float[n];
        for (int y = 0; y < h; y++)
            for (int x = 0; x < w; x++) {
                int rows = countIncludePad ? 3 : Math.min(y + 1, h - 1) - Math.max(y - 1, 0) + 1;
                int cols = countIncludePad ? 3 : Math.min(x + 1, w - 1) - Math.max(x - 1, 0) + 1;
                inv[y * w + x] = 1f / (rows * cols);
            }
        if (nk != null) {
            parallelFor(planes, (worker, from, to) -> {
                float[] scratch = new float[2 * n];
                for (int p = from; p < to; p += 64) nk.box3(p, Math.min(to, p + 64), h, w, is, os, inv, divideFirst, scratch);
            });
            return;
        }
        parallelFor(planes, (worker, from, to) -> {
            float[] src = new float[n], hs = new float[n], dst = new float[n];
            for (int p = from; p < to; p++) {
                long base = (long) p * n;
                MemorySegment.copy(is, F, base * 4, src, 0, n);
                if (divideFirst) for (int i = 0; i < n; i++) src[i] *= inv[i];
                for (int i = 1; i < n - 1; i++) hs[i] = src[i - 1] + src[i] + src[i + 1];
                for (int r = 0; r < n; r += w) { // each row's ends have one neighbour in the row
                    hs[r] = src[r] + src[r + 1];
                    hs[r + w - 1] = src[r + w - 2] + src[r + w - 1];
                }
                for (int i = 0; i < w; i++) dst[i] = hs[i] + hs[i + w];
                for (int i = w; i < n - w; i++) dst[i] = hs[i - w] + hs[i] + hs[i + w];
                for (int i = n - w; i < n; i++) dst[i] = hs[i - w] + hs[i];
                if (!divideFirst) for (int i = 0; i < n; i++) dst[i] *= inv[i];
                MemorySegment.copy(dst, 0, os, F, base * 4, n);
            }
        });
    }

    @Override
    public void maxPoolForward(Tensor x, int k, int stride, int pad, Tensor y) {
        if (x.dtype() != DType.F32) { ref.maxPoolForward(x, k, stride, pad, y); return; }
        maxPool(x, null, k, stride, pad, y, null, y.dim(2), y.dim(3));
    }

    @Override
    public void maxPoolBackward(Tensor x, Tensor dy, int k, int stride, int pad, Tensor dx) {
        if (x.dtype() != DType.F32) { ref.maxPoolBackward(x, dy, k, stride, pad, dx); return; }
        maxPool(x, dy, k, stride, pad, null, dx, dy.dim(2), dy.dim(3));
    }

    /**
     * Max pooling forward (y) or backward (dx), planes split over the workers: the native kernel
     * where there is one, else the same loops in Java. Either way ReferenceBackend's rule for the
     * chosen cell (the first tap greater than the best so far, or the first NaN, in row-major window
     * order; padding never chosen) and, backward, its double sums in output raster order.
     */
    private void maxPool(Tensor x, Tensor dy, int k, int stride, int pad, Tensor y, Tensor dx, int ho, int wo) {
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
        MemorySegment xs = x.data(), ys = y == null ? null : y.data(), gs = dy == null ? null : dy.data(), ds = dx == null ? null : dx.data();
        long hw = (long) h * w;
        // the native kernel pads the plane for windows inside it; a ceil-mode pool's last windows hang past it (the loops below skip those cells)
        boolean inside = (ho - 1) * stride + k <= h + 2 * pad && (wo - 1) * stride + k <= w + 2 * pad;
        parallelFor(planes, (worker, from, to) -> {
            MemorySegment acc = dx == null ? null : scratch(worker, 8 * hw);
            if (nk != null && inside) {
                for (int p = from; p < to; p += 64) nk.maxPool(p, Math.min(to, p + 64), h, w, k, stride, pad, ho, wo, xs, ys, gs, ds, acc);
                return;
            }
            double[] sums = dx == null ? null : new double[(int) hw];
            for (int p = from; p < to; p++) maxPoolPlane(xs, p * hw, h, w, k, stride, pad, ho, wo, (long) p * ho * wo, ys, gs, ds, sums);
        });
    }

    private static void maxPoolPlane(MemorySegment x, long base, int h, int w, int k, int s, int pad, int ho, int wo, long obase,
                                     MemorySegment y, MemorySegment dy, MemorySegment dx, double[] acc) {
        if (acc != null) Arrays.fill(acc, 0.0);
        for (int oy = 0; oy < ho; oy++) {
            int y0 = oy * s - pad, ky0 = Math.max(0, -y0), ky1 = Math.min(k, h - y0);
            for (int ox = 0; ox < wo; ox++) {
                int x0 = ox * s - pad, kx0 = Math.max(0, -x0), kx1 = Math.min(k, w - x0);
                int best = -1;
                float bv = 0f;
                for (int ky = ky0; ky < ky1; ky++)
                    for (int kx = kx0; kx < kx1; kx++) {
                        int i = (y0 + ky) * w + x0 + kx;
                        float v = x.getAtIndex(F, base + i);
                        if (best < 0 || v > bv || v != v && bv == bv) {
                            best = i;
                            bv = v;
                        }
                    }
                long o = obase + (long) oy * wo + ox;
                if (y != null) y.setAtIndex(F, o, best < 0 ? 0f : bv);
                if (acc != null && best >= 0) acc[best] += dy.getAtIndex(F, o);
            }
        }
        if (acc != null) for (int i = 0; i < acc.length; i++) dx.setAtIndex(F, base + i, (float) acc[i]);
    }

    // ---------------------------------------------------------------- depthwise convolution
    //
    // One plane (sample, channel) at a time on the heap. The zero-padded input plane is split into
    // stride x stride phase planes (one for stride 1), so that every kernel tap reads a phase plane
    // at a fixed offset with unit stride. With the output laid out at the phase planes' width (a
    // few unused columns per row), each tap is then one BLAS axpy (or dot, for the weight gradient)
    // over the whole output at an offset. (The JIT does not vectorise a[j] += w * b[j + off]
    // itself: it cannot rule out that a and b are one array.)
    // The planes of one channel share its weights, so the forward and data-gradient passes stack a
    // channel's planes of the whole batch one phase-layout length apart and run each tap as one axpy
    // over the stack (the unused cells between planes read or receive only what is discarded or
    // zero): k*k BLAS calls per channel instead of per plane, whose call overhead dominated small
    // planes. Work splits over channels; the weight gradient sums over the batch per channel.

    /** The phase layout of one depthwise convolution's planes. */
    private static final class Phases {
        final int h, wd, k, s, pad, ho, wo, ph, pw, qw, q, outLen;

        Phases(int h, int wd, int k, int s, int pad, int ho, int wo) {
            this.h = h;
            this.wd = wd;
            this.k = k;
            this.s = s;
            this.pad = pad;
            this.ho = ho;
            this.wo = wo;
            this.ph = (ho - 1) * s + k; // padded rows and columns that the windows read
            this.pw = (wo - 1) * s + k;
            int qh = (ph + s - 1) / s;
            this.qw = (pw + s - 1) / s;
            this.q = (qh + 1) * qw + k; // one phase plane, with slack for the unused columns' reads
            this.outLen = ho * qw;
        }

        int length() {
            return s * s * q;
        }

        /** The phase plane that tap t (row by row) reads. */
        int phaseOf(int t) {
            return ((t / k) % s) * s + (t % k) % s;
        }

        /** {@link #tap} of every tap, row by row. */
        int[] taps() {
            int[] t = new int[k * k];
            for (int ky = 0; ky < k; ky++) for (int kx = 0; kx < k; kx++) t[ky * k + kx] = tap(ky, kx);
            return t;
        }

        /** Where tap (ky, kx) of output cell 0 reads; output cell j reads offset + j. */
        int tap(int ky, int kx) {
            return ((ky % s) * s + kx % s) * q + (ky / s) * qw + kx / s;
        }

        /** Index in the phase planes of padded cell (py, px). */
        int cell(int py, int px) {
            return ((py % s) * s + px % s) * q + (py / s) * qw + px / s;
        }

        /** Input cells that some window reads: rows [0, rows), columns [0, cols). */
        int rows() {
            return Math.min(h, ph - pad);
        }

        int cols() {
            return Math.min(wd, pw - pad);
        }

        /** The phase planes of one input plane (plane: h x wd, row-major). */
        void split(float[] plane, float[] phases) {
            split(plane, phases, 0);
        }

        /** The phase planes of one input plane into phases[base, base + length()). */
        void split(float[] plane, float[] phases, int base) {
            java.util.Arrays.fill(phases, base, base + length(), 0f);
            int rows = rows(), cols = cols();
            for (int iy = 0; iy < rows; iy++) {
                if (s == 1) {
                    System.arraycopy(plane, iy * wd, phases, base + cell(iy + pad, pad), cols);
                    continue;
                }
                for (int rx = 0; rx < s; rx++) { // the columns of one phase: every s-th, to consecutive cells
                    int ix = Math.floorMod(rx - pad, s), at = base + cell(iy + pad, ix + pad), from = iy * wd;
                    for (; ix < cols; ix += s) phases[at++] = plane[from + ix];
                }
            }
        }

        /**
         * The adjoint of {@link #split}: the input plane's cells that windows read, from the phase
         * planes at phases[base..]; zeros elsewhere.
         */
        void join(float[] phases, int base, float[] plane) {
            java.util.Arrays.fill(plane, 0f);
            int rows = rows(), cols = cols();
            for (int iy = 0; iy < rows; iy++) {
                if (s == 1) {
                    System.arraycopy(phases, base + cell(iy + pad, pad), plane, iy * wd, cols);
                    continue;
                }
                for (int rx = 0; rx < s; rx++) {
                    int ix = Math.floorMod(rx - pad, s), at = base + cell(iy + pad, ix + pad), to = iy * wd;
                    for (; ix < cols; ix += s) plane[to + ix] = phases[at++];
                }
            }
        }

        /** An output plane (ho x wo) into the phase-width layout, zeros in the unused columns. */
        void widen(float[] plane, float[] out) {
            widen(plane, out, 0, outLen);
        }

        /** The output plane into out[base, base + len) (len >= outLen), zeros in every other cell there. */
        void widen(float[] plane, float[] out, int base, int len) {
            java.util.Arrays.fill(out, base, base + len, 0f);
            for (int oy = 0; oy < ho; oy++) System.arraycopy(plane, oy * wo, out, base + oy * qw, wo);
        }

        void narrow(float[] out, int base, float[] plane) {
            for (int oy = 0; oy < ho; oy++) System.arraycopy(out, base + oy * qw, plane, oy * wo, wo);
        }
    }

    @Override
    public void depthwiseForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        if (x.dtype() == DType.F64) { depthwiseF64(0, x, w, y, stride, pad); return; }
        int b = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), k = w.dim(2), ho = y.dim(2), wo = y.dim(3);
        Phases ph = new Phases(h, wd, k, stride, pad, ho, wo);
        int len = ph.length(), group = stackOf(ph, b); // plane i of a stack at i * len
        int[] offs = ph.taps();
        MemorySegment xs = x.data(), ws = w.data(), ys = y.data();
        parallelFor(c, (worker, from, to) -> {
            float[] in = new float[h * wd], phases = new float[group * len], out = new float[group * len], res = new float[ho * wo];
            float[] wk = new float[k * k];
            for (int ch = from; ch < to; ch++) {
                MemorySegment.copy(ws, F, (long) ch * k * k * 4, wk, 0, k * k);
                for (int first = 0; first < b; first += group) {
                    int planes = Math.min(group, b - first), n = (planes - 1) * len + ph.outLen;
                    for (int i = 0; i < planes; i++) {
                        MemorySegment.copy(xs, F, ((long) (first + i) * c + ch) * h * wd * 4, in, 0, h * wd);
                        ph.split(in, phases, i * len);
                    }
                    if (nk != null) {
                        nk.multiTap(n, k * k, wk, offs, phases, out, 0);
                    } else {
                        java.util.Arrays.fill(out, 0, n, 0f);
                        for (int t = 0; t < k * k; t++) blas.saxpy(n, wk[t], phases, offs[t], out, 0);
                    }
                    for (int i = 0; i < planes; i++) {
                        ph.narrow(out, i * len, res);
                        MemorySegment.copy(res, 0, ys, F, ((long) (first + i) * c + ch) * ho * wo * 4, ho * wo);
                    }
                }
            }
        });
    }

    /**
     * Planes per stack. Small stride-1 planes are stacked (as many as keep a stack near 128 KB, so
     * that the k*k passes over it stay in cache): per-plane calls cost more than their arithmetic
     * there (14 x 14 planes: 1.5x faster stacked). Larger planes run one at a time (stacked, 56 x 56
     * k5 and k7 were 15% slower), as do stride-2 planes, whose stack spacing (the four phase planes)
     * is about four times the output they compute.
     */
    static int stackOf(Phases ph, int batch) {
        return ph.s == 1 && ph.length() <= 1024 ? Math.max(1, Math.min(batch, (32 << 10) / ph.length())) : 1;
    }

    @Override
    public void depthwiseBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        if (dy.dtype() == DType.F64) { depthwiseF64(1, dx, w, dy, stride, pad); return; }
        int b = dx.dim(0), c = dx.dim(1), h = dx.dim(2), wd = dx.dim(3), k = w.dim(2), ho = dy.dim(2), wo = dy.dim(3);
        Phases ph = new Phases(h, wd, k, stride, pad, ho, wo);
        int len = ph.length(), group = stackOf(ph, b);
        int[] offs = ph.taps();
        // native: the scatter acc[off + j] += w * g[j] as a gather, acc[i] = sum of w * g[i - off] over
        // the taps in the same order, from g shifted right by the largest offset (zeros before it).
        // Phase plane p of acc only receives the taps whose (ky % s, kx % s) is p: one gather per phase
        // over those taps, at their offsets within the phase plane.
        int phasesPerPlane = stride * stride, lead = 0;
        int[][] phaseTaps = new int[phasesPerPlane][], phaseOffs = new int[phasesPerPlane][];
        for (int p = 0; p < phasesPerPlane; p++) {
            final int phase = p;
            phaseTaps[p] = java.util.stream.IntStream.range(0, k * k).filter(t -> ph.phaseOf(t) == phase).toArray();
            for (int t : phaseTaps[p]) lead = Math.max(lead, offs[t] - p * ph.q);
        }
        for (int p = 0; p < phasesPerPlane; p++) {
            phaseOffs[p] = new int[phaseTaps[p].length];
            for (int i = 0; i < phaseTaps[p].length; i++) phaseOffs[p][i] = lead - (offs[phaseTaps[p][i]] - p * ph.q);
        }
        int base0 = nk != null ? lead : 0;
        MemorySegment gs = dy.data(), ws = w.data(), ds = dx.data();
        parallelFor(c, (worker, from, to) -> {
            float[] gIn = new float[ho * wo], g = new float[base0 + group * len], acc = new float[group * len], res = new float[h * wd];
            float[] wk = new float[k * k], wp = new float[k * k];
            int[] op = new int[k * k];
            for (int ch = from; ch < to; ch++) {
                MemorySegment.copy(ws, F, (long) ch * k * k * 4, wk, 0, k * k);
                for (int first = 0; first < b; first += group) {
                    int planes = Math.min(group, b - first), n = (planes - 1) * len + ph.outLen;
                    for (int i = 0; i < planes; i++) { // zeros between the planes: they scatter nothing
                        MemorySegment.copy(gs, F, ((long) (first + i) * c + ch) * ho * wo * 4, gIn, 0, ho * wo);
                        ph.widen(gIn, g, base0 + i * len, len);
                    }
                    if (nk != null && phasesPerPlane == 1) {
                        nk.multiTap(planes * len, k * k, wk, phaseOffs[0], g, acc, 0);
                    } else if (nk != null) {
                        for (int i = 0; i < planes; i++)
                            for (int p = 0; p < phasesPerPlane; p++) {
                                int[] tp = phaseTaps[p];
                                for (int u = 0; u < tp.length; u++) {
                                    wp[u] = wk[tp[u]];
                                    op[u] = phaseOffs[p][u] + i * len;
                                }
                                nk.multiTap(ph.q, tp.length, wp, op, g, acc, i * len + p * ph.q);
                            }
                    } else {
                        java.util.Arrays.fill(acc, 0, planes * len, 0f);
                        // each output's gradient scattered over its window: the adjoint of the forward loop
                        for (int t = 0; t < k * k; t++) blas.saxpy(n, wk[t], g, 0, acc, offs[t]);
                    }
                    for (int i = 0; i < planes; i++) {
                        ph.join(acc, i * len, res); // input cells that no window reads get no gradient
                        MemorySegment.copy(res, 0, ds, F, ((long) (first + i) * c + ch) * h * wd * 4, h * wd);
                    }
                }
            }
        });
    }

    @Override
    public void depthwiseBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        if (x.dtype() == DType.F64) { depthwiseF64(2, x, dw, dy, stride, pad); return; }
        int b = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), k = dw.dim(2), ho = dy.dim(2), wo = dy.dim(3);
        Phases ph = new Phases(h, wd, k, stride, pad, ho, wo);
        MemorySegment xs = x.data(), gs = dy.data(), ws = dw.data();
        parallelFor(c, (worker, from, to) -> {
            float[] in = new float[h * wd], phases = new float[ph.length()], gIn = new float[ho * wo], g = new float[ph.outLen];
            double[] acc = new double[k * k];
            for (int ch = from; ch < to; ch++) {
                java.util.Arrays.fill(acc, 0);
                for (int n = 0; n < b; n++) {
                    long p = (long) n * c + ch;
                    MemorySegment.copy(xs, F, p * h * wd * 4, in, 0, h * wd);
                    MemorySegment.copy(gs, F, p * ho * wo * 4, gIn, 0, ho * wo);
                    ph.split(in, phases);
                    ph.widen(gIn, g); // zeros in the unused columns: they add nothing
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) acc[ky * k + kx] += blas.sdot(ph.outLen, g, 0, phases, ph.tap(ky, kx));
                }
                for (int i = 0; i < k * k; i++) ws.setAtIndex(F, (long) ch * k * k + i, (float) acc[i]);
            }
        });
    }

    /**
     * The float64 depthwise convolution (synflow's one-sample pass) on zero-padded planes: mode 0
     * y = conv(x, w), mode 1 x = the data gradient for the output gradient y, mode 2 w = the weight
     * gradient for input x and output gradient y. Plain double loops with a row of outputs or
     * gradients kept while the taps pass over it.
     */
    private void depthwiseF64(int mode, Tensor x, Tensor w, Tensor y, int s, int pad) {
        int b = x.dim(0), c = x.dim(1), h = x.dim(2), wd = x.dim(3), k = w.dim(2), ho = y.dim(2), wo = y.dim(3);
        int ph = (ho - 1) * s + k, pw = (wo - 1) * s + k, rows = Math.min(h, ph - pad), cols = Math.min(wd, pw - pad);
        MemorySegment xs = x.data(), ws = w.data(), ys = y.data();
        parallelFor(c, (worker, from, to) -> {
            double[] pp = new double[ph * pw], plane = new double[ho * wo], wk = new double[k * k], dw = new double[k * k];
            for (int ch = from; ch < to; ch++) {
                MemorySegment.copy(ws, D, (long) ch * k * k * 8, wk, 0, k * k);
                java.util.Arrays.fill(dw, 0.0);
                for (int n = 0; n < b; n++) {
                    long xp = ((long) n * c + ch) * h * wd, yp = ((long) n * c + ch) * ho * wo;
                    java.util.Arrays.fill(pp, 0.0);
                    if (mode != 1) for (int iy = 0; iy < rows; iy++) MemorySegment.copy(xs, D, (xp + (long) iy * wd) * 8, pp, (iy + pad) * pw + pad, cols);
                    if (mode != 0) MemorySegment.copy(ys, D, yp * 8, plane, 0, ho * wo);
                    else java.util.Arrays.fill(plane, 0.0);
                    for (int oy = 0; oy < ho; oy++) {
                        int o = oy * wo;
                        for (int ky = 0; ky < k; ky++)
                            for (int kx = 0; kx < k; kx++) {
                                int row = (oy * s + ky) * pw + kx, t = ky * k + kx;
                                double wt = wk[t];
                                switch (mode) {
                                    case 0 -> { for (int ox = 0; ox < wo; ox++) plane[o + ox] += wt * pp[row + ox * s]; }
                                    case 1 -> { for (int ox = 0; ox < wo; ox++) pp[row + ox * s] += wt * plane[o + ox]; }
                                    default -> {
                                        double a = 0;
                                        for (int ox = 0; ox < wo; ox++) a += plane[o + ox] * pp[row + ox * s];
                                        dw[t] += a;
                                    }
                                }
                            }
                    }
                    if (mode == 0) MemorySegment.copy(plane, 0, ys, D, yp * 8, ho * wo);
                    if (mode == 1) { // the cells no window reads get no gradient
                        for (int iy = 0; iy < h; iy++) {
                            long at = (xp + (long) iy * wd) * 8;
                            if (iy < rows) {
                                MemorySegment.copy(pp, (iy + pad) * pw + pad, xs, D, at, cols);
                                if (cols < wd) xs.asSlice(at + 8L * cols, 8L * (wd - cols)).fill((byte) 0);
                            } else {
                                xs.asSlice(at, 8L * wd).fill((byte) 0);
                            }
                        }
                    }
                }
                if (mode == 2) MemorySegment.copy(dw, 0, ws, D, (long) ch * k * k * 8, k * k);
            }
        });
    }

    // ---------------------------------------------------------------- resize

    /** Per output cell of an align_corners=False resize from n to m cells: first source index, its weight, second index's weight (index + 1, clamped). */
    private record Taps(int[] i0, int[] i1, float[] l0, float[] l1) {
        static Taps of(int n, int m) {
            int[] i0 = new int[m], i1 = new int[m];
            float[] l0 = new float[m], l1 = new float[m];
            for (int o = 0; o < m; o++) {
                double[] t = ReferenceBackend.resizeTap(o, n, m);
                i0[o] = (int) t[0];
                i1[o] = (int) t[1];
                l0[o] = (float) t[2];
                l1[o] = (float) t[3];
            }
            return new Taps(i0, i1, l0, l1);
        }
    }

    /** Nearest resize: rare in the networks scored (segmentation heads), so the reference's loops. */
    @Override
    public void resizeNearestForward(Tensor x, Tensor y) {
        ref.resizeNearestForward(x, y);
    }

    @Override
    public void resizeNearestBackward(Tensor dy, Tensor dx) {
        ref.resizeNearestBackward(dy, dx);
    }

    @Override
    public void resizeForward(Tensor x, Tensor y) {
        if (x.dtype() != DType.F32) { ref.resizeForward(x, y); return; }
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3);
        Taps ty = Taps.of(h, ho), tx = Taps.of(w, wo);
        MemorySegment xs = x.data(), ys = y.data();
        parallelFor(planes, (worker, from, to) -> {
            float[] in = new float[h * w], out = new float[ho * wo];
            for (int p = from; p < to; p++) {
                MemorySegment.copy(xs, F, (long) p * h * w * 4, in, 0, h * w);
                for (int oy = 0; oy < ho; oy++) {
                    int r0 = ty.i0[oy] * w, r1 = ty.i1[oy] * w;
                    float a = ty.l0[oy], b = ty.l1[oy];
                    for (int ox = 0; ox < wo; ox++) {
                        int c0 = tx.i0[ox], c1 = tx.i1[ox];
                        out[oy * wo + ox] = a * (tx.l0[ox] * in[r0 + c0] + tx.l1[ox] * in[r0 + c1])
                                + b * (tx.l0[ox] * in[r1 + c0] + tx.l1[ox] * in[r1 + c1]);
                    }
                }
                MemorySegment.copy(out, 0, ys, F, (long) p * ho * wo * 4, ho * wo);
            }
        });
    }

    @Override
    public void resizeBackward(Tensor dy, Tensor dx) {
        if (dy.dtype() != DType.F32) { ref.resizeBackward(dy, dx); return; }
        int planes = dx.dim(0) * dx.dim(1), h = dx.dim(2), w = dx.dim(3), ho = dy.dim(2), wo = dy.dim(3);
        Taps ty = Taps.of(h, ho), tx = Taps.of(w, wo);
        MemorySegment gs = dy.data(), ds = dx.data();
        parallelFor(planes, (worker, from, to) -> {
            float[] g = new float[ho * wo], acc = new float[h * w];
            for (int p = from; p < to; p++) {
                MemorySegment.copy(gs, F, (long) p * ho * wo * 4, g, 0, ho * wo);
                java.util.Arrays.fill(acc, 0f);
                for (int oy = 0; oy < ho; oy++) {
                    int r0 = ty.i0[oy] * w, r1 = ty.i1[oy] * w;
                    float a = ty.l0[oy], b = ty.l1[oy];
                    for (int ox = 0; ox < wo; ox++) {
                        float v = g[oy * wo + ox], v0 = v * tx.l0[ox], v1 = v * tx.l1[ox];
                        int c0 = tx.i0[ox], c1 = tx.i1[ox];
                        acc[r0 + c0] += a * v0;
                        acc[r0 + c1] += a * v1;
                        acc[r1 + c0] += b * v0;
                        acc[r1 + c1] += b * v1;
                    }
                }
                MemorySegment.copy(acc, 0, ds, F, (long) p * h * w * 4, h * w);
            }
        });
    }

    // ---------------------------------------------------------------- squeeze-excitation pieces

    @Override
    public void sigmoid(Tensor x, Tensor y) {
        ref.sigmoid(x, y); // B x C values
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        ref.sigmoidBackward(y, dy, dx);
    }

    @Override
    public void channelScale(Tensor x, Tensor s, Tensor y) {
        if (x.dtype() != DType.F32) { ref.channelScale(x, s, y); return; }
        int planes = Math.toIntExact(s.numel());
        long hw = x.numel() / planes;
        MemorySegment xs = x.data(), ss = s.data(), ys = y.data();
        parallelFor(planes, (worker, from, to) -> {
            for (int p = from; p < to; p++) {
                float f = ss.getAtIndex(F, p);
                long base = p * hw;
                for (long i = 0; i < hw; i++) ys.setAtIndex(F, base + i, xs.getAtIndex(F, base + i) * f);
            }
        });
    }

    @Override
    public void channelScaleBackwardScale(Tensor x, Tensor dy, Tensor ds) {
        if (x.dtype() != DType.F32) { ref.channelScaleBackwardScale(x, dy, ds); return; }
        int planes = Math.toIntExact(ds.numel());
        long hw = x.numel() / planes;
        MemorySegment xs = x.data(), gs = dy.data(), out = ds.data();
        parallelFor(planes, (worker, from, to) -> {
            for (int p = from; p < to; p++) out.setAtIndex(F, p, dot(gs, xs, p * hw, hw));
        });
    }

    /** Sum of a[i] * b[i] over one plane, four float accumulators (see {@link #sum}). */
    private static float dot(MemorySegment a, MemorySegment b, long base, long n) {
        float a0 = 0, a1 = 0, a2 = 0, a3 = 0;
        long i = 0;
        for (; i + 3 < n; i += 4) {
            a0 += a.getAtIndex(F, base + i) * b.getAtIndex(F, base + i);
            a1 += a.getAtIndex(F, base + i + 1) * b.getAtIndex(F, base + i + 1);
            a2 += a.getAtIndex(F, base + i + 2) * b.getAtIndex(F, base + i + 2);
            a3 += a.getAtIndex(F, base + i + 3) * b.getAtIndex(F, base + i + 3);
        }
        for (; i < n; i++) a0 += a.getAtIndex(F, base + i) * b.getAtIndex(F, base + i);
        return (a0 + a1) + (a2 + a3);
    }

    @Override
    public void biasAdd(Tensor x, Tensor bias, Tensor y) {
        if (x.dtype() != DType.F32) { ref.biasAdd(x, bias, y); return; }
        int c = x.dim(1), planes = x.dim(0) * c;
        long hw = x.numel() / planes;
        MemorySegment xs = x.data(), bs = bias.data(), ys = y.data();
        parallelFor(planes, (worker, from, to) -> {
            for (int p = from; p < to; p++) {
                float f = bs.getAtIndex(F, p % c);
                long base = p * hw;
                for (long i = 0; i < hw; i++) ys.setAtIndex(F, base + i, xs.getAtIndex(F, base + i) + f);
            }
        });
    }

    /** One bulk copy per sample: the channels of a sample are contiguous. */
    @Override
    public void channelCopy(Tensor src, int srcChannel, Tensor dst, int dstChannel, int channels) {
        long hw = (long) src.dim(2) * src.dim(3), e = src.dtype().bytes;
        for (int b = 0; b < src.dim(0); b++) {
            MemorySegment.copy(src.data(), ((long) b * src.dim(1) + srcChannel) * hw * e, dst.data(), ((long) b * dst.dim(1) + dstChannel) * hw * e,
                    channels * hw * e);
        }
    }

    @Override
    public void globalAvgPoolForward(Tensor x, Tensor y) {
        if (x.dtype() != DType.F32) { ref.globalAvgPoolForward(x, y); return; }
        int planes = Math.toIntExact(y.numel());
        long hw = x.numel() / planes;
        MemorySegment xs = x.data(), ys = y.data();
        parallelFor(planes, (worker, from, to) -> {
            for (int p = from; p < to; p++) ys.setAtIndex(F, p, (float) ((double) sum(xs, p * hw, hw) / hw));
        });
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        if (dy.dtype() != DType.F32) { ref.globalAvgPoolBackward(dy, dx); return; }
        int planes = Math.toIntExact(dy.numel());
        long hw = dx.numel() / planes;
        MemorySegment gs = dy.data(), ds = dx.data();
        int n = Math.toIntExact(hw);
        parallelFor(planes, (worker, from, to) -> {
            float[] plane = new float[n];
            for (int p = from; p < to; p++) {
                java.util.Arrays.fill(plane, (float) (gs.getAtIndex(F, p) / (double) hw));
                MemorySegment.copy(plane, 0, ds, F, p * hw * 4, n);
            }
        });
    }

    @Override
    public void crossEntropyGrad(Tensor logits, int[] labels, Tensor grad) {
        ref.crossEntropyGrad(logits, labels, grad);
    }

    // The classifier: one GEMM each, split by rows of the output across the workers.

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        if (x.dtype() != DType.F32) { ref.linearForward(x, w, b, y); return; }
        // one GEMM, not split across workers: a classifier is a sliver of the work, and a split would
        // make the bits depend on the thread count (see SMALL_BATCH)
        int batch = x.dim(0), in = w.dim(1), out = w.dim(0); // x [B, in] or a map flattened to it
        MemorySegment xs = x.data(), ws = w.data(), bs = b.data(), ys = y.data();
        for (int n = 0; n < batch; n++) MemorySegment.copy(bs, 0, ys, (long) n * out * 4, (long) out * 4);
        blas.sgemm(false, true, batch, out, in, 1f, xs, in, ws, in, 1f, ys, out);
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        if (dy.dtype() != DType.F32) { ref.linearBackwardData(dy, w, dx); return; }
        int batch = dy.dim(0), out = w.dim(0), in = w.dim(1);
        blas.sgemm(false, false, batch, in, out, 1f, dy.data(), out, w.data(), in, 0f, dx.data(), in);
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw) {
        if (x.dtype() != DType.F32) { ref.linearBackwardWeight(x, dy, dw); return; }
        int batch = x.dim(0), in = dw.dim(1), out = dy.dim(1);
        blas.sgemm(true, false, out, in, batch, 1f, dy.data(), out, x.data(), in, 0f, dw.data(), in);
    }

    // ---------------------------------------------------------------- correlation

    /**
     * One pass of SGEMM over the raw rows gives the Gram matrix G and SGEMV the row sums s; then
     * cov = G - s s^T / D in float64. That subtraction loses digits when a row's mean is large
     * against its spread, so such a response is recomputed from explicitly centred rows. A constant
     * row (numpy's NaN) is detected exactly, before any arithmetic.
     */
    @Override
    public double[] corrcoef(Tensor r) {
        if (r.dtype() != DType.F32 || r.rowSize() > Integer.MAX_VALUE / 2) return ref.corrcoef(r);
        int b = r.dim(0), d = (int) r.rowSize();
        MemorySegment rs = r.data();
        for (int i = 0; i < b; i++) if (isConstantRow(rs, (long) i * d, d)) return null;
        double[] sums = new double[b];
        scratchOnes(d);
        double[] cov = gramOfRows(rs, b, d, sums);
        boolean wellCentred = true;
        for (int i = 0; i < b; i++) {
            for (int j = 0; j < b; j++) cov[i * b + j] -= sums[i] * sums[j] / d;
            // mean^2 <= 4 var: G's float32 rounding is amplified at most 5x by the subtraction
            wellCentred &= sums[i] * sums[i] / d <= 4 * cov[i * b + i];
        }
        if (!wellCentred) cov = gramOfRows(centredRows(rs, b, d), b, d, null);
        return Correlation.normalise(cov, b);
    }

    private static boolean isConstantRow(MemorySegment rs, long base, int d) {
        float first = rs.getAtIndex(F, base);
        for (int j = 1; j < d; j++) if (rs.getAtIndex(F, base + j) != first) return false;
        return true;
    }

    /**
     * G = X X^T for X [b, d] row-major (SSYRK, one triangle), and the row sums when {@code sums} is
     * not null (SGEMV against ones); the columns cut into parts fixed by d alone (never by the thread
     * count: the same bits with any number of threads), the parts spread over the workers, their
     * float32 results added in part order in float64.
     */
    private double[] gramOfRows(MemorySegment x, int b, int d, double[] sums) {
        int parts = Math.max(1, Math.min(GRAM_PARTS, d / 256));
        long gramBytes = (long) b * b * 4, partBytes = gramBytes + (long) b * 4;
        MemorySegment all = groupPartials(parts * partBytes);
        parallelFor(parts, (worker, from, to) -> {
            for (int part = from; part < to; part++) {
                MemorySegment g = all.asSlice(part * partBytes, partBytes);
                long c0 = (long) d * part / parts, c1 = (long) d * (part + 1) / parts;
                MemorySegment a = x.asSlice(c0 * 4);
                blas.ssyrkUpper(b, (int) (c1 - c0), 1f, a, d, 0f, g, b);
                if (sums != null) blas.sgemv(b, (int) (c1 - c0), 1f, a, d, scratchOnes(d), 0f, g.asSlice(gramBytes));
            }
        });
        double[] gram = new double[b * b];
        for (int w = 0; w < parts; w++) {
            long base = w * partBytes / 4;
            for (int i = 0; i < b; i++)
                for (int j = i; j < b; j++) gram[i * b + j] += all.getAtIndex(F, base + (long) i * b + j);
            if (sums != null) for (int i = 0; i < b; i++) sums[i] += all.getAtIndex(F, base + (long) b * b + i);
        }
        for (int i = 0; i < b; i++)
            for (int j = 0; j < i; j++) gram[i * b + j] = gram[j * b + i];
        return gram;
    }

    /** Column parts of a Gram product (at most; at least 256 columns each). */
    private static final int GRAM_PARTS = 16;

    /** Rows minus their float64 mean, in float32 scratch. */
    private MemorySegment centredRows(MemorySegment rs, int b, int d) {
        MemorySegment cs = scratchCentred((long) b * d * 4);
        parallelFor(b, (worker, from, to) -> {
            for (int i = from; i < to; i++) {
                long base = (long) i * d;
                double s = 0;
                for (int j = 0; j < d; j++) s += rs.getAtIndex(F, base + j);
                float m = (float) (s / d);
                for (int j = 0; j < d; j++) cs.setAtIndex(F, base + j, rs.getAtIndex(F, base + j) - m);
            }
        });
        return cs;
    }

    private MemorySegment centred = MemorySegment.NULL;
    private MemorySegment ones = MemorySegment.NULL;

    private MemorySegment scratchCentred(long bytes) {
        return centred = atLeast(centred, bytes);
    }

    private MemorySegment scratchOnes(int d) {
        if (ones.byteSize() < 4L * d) {
            ones = arena.allocate(4L * d, 64);
            for (int i = 0; i < d; i++) ones.setAtIndex(F, i, 1f);
        }
        return ones;
    }

    @Override
    public void close() {
        if (workers != null) workers.shutdownNow();
        arena.close();
    }
}
