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
import java.security.MessageDigest;
import java.util.HexFormat;

/**
 * The engine's own native CPU kernels ({@code native/cpu_kernels.c}), packaged in the jar when the
 * build machine had a C compiler, unpacked once into the cache folder and called through FFM. The
 * AVX2+FMA build where the CPU has both, the plain x86-64 build elsewhere. Absent (no compiler at
 * build time, another architecture, a load failure), {@link #get()} is null and the fast CPU backend
 * computes the same sums through BLAS calls; {@link #failure()} says why.
 */
public final class NativeKernels {
    private static final String JAR_DIR = "/native/linux-x86_64/";

    private static final class Holder {
        static final NativeKernels INSTANCE;
        static final String FAILURE;

        static {
            NativeKernels k = null;
            String failure = null;
            try {
                k = load();
            } catch (Throwable t) {
                failure = t.getMessage() == null ? t.toString() : t.getMessage();
            }
            INSTANCE = k;
            FAILURE = failure;
        }
    }

    private final MethodHandle multiTap, bnStats, bnApply, bnGradSums, bnGradApply, maxPool, box3, im2col, col2im, dconv, dconvPack, winoWeights, winoIn, winoOut, flip;
    private final String variant;

    private NativeKernels(SymbolLookup lookup, String variant) {
        ValueLayout I = ValueLayout.JAVA_INT, P = ValueLayout.ADDRESS;
        // critical: reads and writes Java arrays in place (the GC waits for the call)
        multiTap = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_multi_tap").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, P, P, P, P), Linker.Option.critical(true));
        ValueLayout L = ValueLayout.JAVA_LONG, Fl = ValueLayout.JAVA_FLOAT;
        // off-heap tensors only: no heap access, and no thread-state change around these short calls
        Linker.Option off = Linker.Option.critical(false);
        bnStats = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_bn_stats").orElseThrow(),
                FunctionDescriptor.ofVoid(I, L, L, P, P), off);
        bnApply = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_bn_apply").orElseThrow(),
                FunctionDescriptor.ofVoid(I, L, L, P, Fl, Fl, I, P), off);
        bnGradSums = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_bn_grad_sums").orElseThrow(),
                FunctionDescriptor.ofVoid(I, L, L, P, P, P, Fl, P), off);
        bnGradApply = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_bn_grad_apply").orElseThrow(),
                FunctionDescriptor.ofVoid(I, L, L, P, P, P, Fl, Fl, Fl, Fl, P), off);
        maxPool = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_maxpool").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, I, I, P, P, P, P, P), off);
        box3 = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_box3").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, P, P, P, I, P), Linker.Option.critical(true));
        im2col = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_im2col").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, I, I, P, P), off);
        col2im = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_col2im").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, I, I, P, P, P), off);
        dconv = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_dconv").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, I, I, P, P, P, P, I, P), off);
        dconvPack = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_dconv_pack").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, P, P), off);
        winoWeights = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_wino_weights").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, P, P), off);
        winoIn = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_wino_in").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, P, P, P), off);
        winoOut = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_wino_out").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, I, P, P, P), off);
        flip = Linker.nativeLinker().downcallHandle(lookup.find("wrcor_flip").orElseThrow(),
                FunctionDescriptor.ofVoid(I, I, I, P, P), off);
        this.variant = variant;
    }

    /** The loaded kernels, or null when there are none (see {@link #failure()}). */
    public static NativeKernels get() {
        return Holder.INSTANCE;
    }

    public static String failure() {
        return Holder.FAILURE;
    }

    /** Which build was loaded: "avx2" or "x86-64". */
    public String variant() {
        return variant;
    }

    /**
     * dst[dstOff + j] = sum over t in [0, taps), in order, of w[t] * src[off[t] + j], for j in [0, n).
     * Every src index read must lie in the array: the caller's layout guarantees it, and it is
     * checked here, since native code would read past the array silently.
     */
    public void multiTap(int n, int taps, float[] w, int[] off, float[] src, float[] dst, int dstOff) {
        if (n < 0 || taps > w.length || taps > off.length || dstOff < 0 || (long) dstOff + n > dst.length) {
            throw new IndexOutOfBoundsException("multiTap: n " + n + ", taps " + taps + ", dst [" + dstOff + ", +n) of " + dst.length);
        }
        for (int t = 0; t < taps; t++) {
            if (off[t] < 0 || (long) off[t] + n > src.length) {
                throw new IndexOutOfBoundsException("multiTap: tap " + t + " reads [" + off[t] + ", " + ((long) off[t] + n) + ") of " + src.length);
            }
        }
        try {
            multiTap.invokeExact(n, taps, MemorySegment.ofArray(w), MemorySegment.ofArray(off), MemorySegment.ofArray(src),
                    MemorySegment.ofArray(dst).asSlice(4L * dstOff));
        } catch (Throwable t) {
            throw new IllegalStateException("wrcor_multi_tap failed", t);
        }
    }

    /**
     * The planes of one channel: {@code planes} runs of {@code hw} floats, run p starting at float
     * {@code base + p * stride} of {@code seg}. Checked against the segment before any native access.
     */
    public record Planes(int planes, long stride, long hw) {
        public Planes {
            if (planes < 1 || hw < 1 || stride < hw) throw new IllegalArgumentException("planes " + planes + ", stride " + stride + ", hw " + hw);
        }

        MemorySegment at(MemorySegment seg, long base, String what) {
            long end = base + (planes - 1) * stride + hw;
            if (base < 0 || 4 * end > seg.byteSize()) {
                throw new IndexOutOfBoundsException(what + ": floats [" + base + ", " + end + ") of a segment of " + seg.byteSize() / 4);
            }
            return seg.asSlice(4 * base);
        }
    }

    /**
     * Batch statistics of one channel: out[0] = sum of x, out[1] = sum of (x - m)^2 with m the
     * float nearest the mean. The same sums in the same order as FastCpuBackend's Java loops (four
     * float lanes per plane, planes added in double), to the bit.
     */
    public void bnStats(Planes p, MemorySegment x, long base, double[] out) {
        MemorySegment xs = p.at(x, base, "bnStats x");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = a.allocate(16, 8);
            bnStats.invokeExact(p.planes(), p.stride(), p.hw(), xs, o);
            out[0] = o.getAtIndex(ValueLayout.JAVA_DOUBLE, 0);
            out[1] = o.getAtIndex(ValueLayout.JAVA_DOUBLE, 1);
        } catch (Throwable t) {
            throw rethrow("wrcor_bn_stats", t);
        }
    }

    /** y = x * scale + shift (then max(., 0) as Java's Math.max with {@code relu}) over one channel's planes. */
    public void bnApply(Planes p, MemorySegment x, MemorySegment y, long base, float scale, float shift, boolean relu) {
        MemorySegment xs = p.at(x, base, "bnApply x"), ys = p.at(y, base, "bnApply y");
        try {
            bnApply.invokeExact(p.planes(), p.stride(), p.hw(), xs, scale, shift, relu ? 1 : 0, ys);
        } catch (Throwable t) {
            throw rethrow("wrcor_bn_apply", t);
        }
    }

    /**
     * out[0] = sum of g, out[1] = sum of g * (x - m) over one channel's planes, where g is dy, or dy
     * where the ReLU output {@code y} is positive when y is not null.
     */
    public void bnGradSums(Planes p, MemorySegment dy, MemorySegment y, MemorySegment x, long base, float m, double[] out) {
        MemorySegment gs = p.at(dy, base, "bnGradSums dy"), xs = p.at(x, base, "bnGradSums x");
        MemorySegment ys = y == null ? MemorySegment.NULL : p.at(y, base, "bnGradSums y");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment o = a.allocate(16, 8);
            bnGradSums.invokeExact(p.planes(), p.stride(), p.hw(), gs, ys, xs, m, o);
            out[0] = o.getAtIndex(ValueLayout.JAVA_DOUBLE, 0);
            out[1] = o.getAtIndex(ValueLayout.JAVA_DOUBLE, 1);
        } catch (Throwable t) {
            throw rethrow("wrcor_bn_grad_sums", t);
        }
    }

    /** dx = k1 * g - k2 - k3 * (x - m) over one channel's planes, g as in {@link #bnGradSums}. */
    public void bnGradApply(Planes p, MemorySegment dy, MemorySegment y, MemorySegment x, long base, float m, float k1, float k2, float k3,
                            MemorySegment dx) {
        MemorySegment gs = p.at(dy, base, "bnGradApply dy"), xs = p.at(x, base, "bnGradApply x"), ds = p.at(dx, base, "bnGradApply dx");
        MemorySegment ys = y == null ? MemorySegment.NULL : p.at(y, base, "bnGradApply y");
        try {
            bnGradApply.invokeExact(p.planes(), p.stride(), p.hw(), gs, ys, xs, m, k1, k2, k3, ds);
        } catch (Throwable t) {
            throw rethrow("wrcor_bn_grad_apply", t);
        }
    }

    /**
     * Max pooling of planes [from, to) of x (h x w each) into y (forward, dx null) or the gradient
     * dy into dx (backward, y null), window k, stride s, padding pad, outputs ho x wo; ReferenceBackend's
     * cell rule (first greater tap, or first NaN, in row-major window order) and, backward, its double
     * sums in output raster order, rounded once. acc: h * w doubles of scratch (backward).
     */
    public void maxPool(int from, int to, int h, int w, int k, int s, int pad, int ho, int wo, MemorySegment x, MemorySegment y,
                        MemorySegment dy, MemorySegment dx, MemorySegment acc) {
        long hw = (long) h * w, ohw = (long) ho * wo;
        if (from < 0 || to < from || 4 * hw * to > x.byteSize() || k < 1 || s < 1 || pad < 0 || pad >= k
                || (y != null && 4 * ohw * to > y.byteSize())
                || (dx != null && (4 * ohw * to > dy.byteSize() || 4 * hw * to > dx.byteSize() || 8 * hw > acc.byteSize()))
                || (y == null) == (dx == null)) {
            throw new IndexOutOfBoundsException("maxPool: planes [" + from + ", " + to + "), " + h + "x" + w + " -> " + ho + "x" + wo);
        }
        try {
            MemorySegment xs = x.asSlice(4 * hw * from), ys = y == null ? MemorySegment.NULL : y.asSlice(4 * ohw * from);
            MemorySegment gs = dy == null ? MemorySegment.NULL : dy.asSlice(4 * ohw * from), ds = dx == null ? MemorySegment.NULL : dx.asSlice(4 * hw * from);
            MemorySegment as = acc == null ? MemorySegment.NULL : acc;
            maxPool.invokeExact(to - from, h, w, k, s, pad, ho, wo, xs, ys, gs, ds, as);
        } catch (Throwable t) {
            throw rethrow("wrcor_maxpool", t);
        }
    }

    /**
     * The 3x3 stride-1 pad-1 box sums of planes [from, to) (h x w each, h and w at least 2) of in into
     * out, times inv per cell after the sums, or before them with {@code divideFirst}: FastCpuBackend's
     * Java loops to the bit. inv: h * w floats; scratch: at least 2 * h * w floats.
     */
    public void box3(int from, int to, int h, int w, MemorySegment in, MemorySegment out, float[] inv, boolean divideFirst, float[] scratch) {
        long n = (long) h * w;
        if (from < 0 || to < from || h < 2 || w < 2 || 4 * n * to > in.byteSize() || 4 * n * to > out.byteSize() || inv.length < n || scratch.length < 2 * n) {
            throw new IndexOutOfBoundsException("box3: planes [" + from + ", " + to + ") of " + h + "x" + w);
        }
        try {
            box3.invokeExact(to - from, h, w, in.asSlice(4 * n * from), out.asSlice(4 * n * from), MemorySegment.ofArray(inv), divideFirst ? 1 : 0,
                    MemorySegment.ofArray(scratch));
        } catch (Throwable t) {
            throw rethrow("wrcor_box3", t);
        }
    }

    /** A convolution's geometry, checked once: cin channels of h x w, window k, stride s, padding pad, outputs ho x wo. */
    public record Conv(int cin, int h, int w, int k, int s, int pad, int ho, int wo) {
        public Conv {
            if (cin < 1 || h < 1 || w < 1 || k < 1 || s < 1 || pad < 0 || ho < 1 || wo < 1 || (long) (ho - 1) * s + k > h + 2L * pad
                    || (long) (wo - 1) * s + k > w + 2L * pad) {
                throw new IllegalArgumentException("conv geometry: " + this);
            }
        }

        long inputFloats() { return (long) cin * h * w; }
        long colFloats() { return (long) cin * k * k * ho * wo; }
        long paddedFloats() { return (long) (h + 2 * pad) * (w + 2 * pad); }
    }

    /** The im2col matrix of one sample x (off-heap, g.inputFloats()) into col (off-heap, g.colFloats()); FastCpuBackend.im2colF32's values. */
    public void im2col(Conv g, MemorySegment x, MemorySegment col) {
        if (4 * g.inputFloats() > x.byteSize() || 4 * g.colFloats() > col.byteSize()) throw new IndexOutOfBoundsException("im2col: " + g);
        try {
            im2col.invokeExact(g.cin(), g.h(), g.w(), g.k(), g.s(), g.pad(), g.ho(), g.wo(), x, col);
        } catch (Throwable t) {
            throw rethrow("wrcor_im2col", t);
        }
    }

    /** x = col2im(col) for one sample, FastCpuBackend.col2imF32's sums in its order; scratch: g.paddedFloats() floats. */
    public void col2im(Conv g, MemorySegment col, MemorySegment x, MemorySegment scratch) {
        if (4 * g.inputFloats() > x.byteSize() || 4 * g.colFloats() > col.byteSize() || 4 * g.paddedFloats() > scratch.byteSize()) {
            throw new IndexOutOfBoundsException("col2im: " + g);
        }
        try {
            col2im.invokeExact(g.cin(), g.h(), g.w(), g.k(), g.s(), g.pad(), g.ho(), g.wo(), col, x, scratch);
        } catch (Throwable t) {
            throw rethrow("wrcor_col2im", t);
        }
    }

    /** Floats of the weights packed for {@link #directConv}: blocks of six output channels. */
    public static long packedWeightFloats(int cin, int cout, int k) {
        return (cout + 5L) / 6 * 6 * cin * k * k;
    }

    /** Floats of one worker's scratch for {@link #directConv}. */
    public static long directConvScratchFloats(int cin, int h, int w, int k, int pad) {
        long pw = w + 2L * pad, ph = h + 2L * pad, run = (ph - k) * pw + (pw - k + 1);
        return cin * ph * pw + pw * k + 32 + 6 * ((run + 15) / 16 * 16);
    }

    /** Packs weights w [cout, cin, k, k] for {@link #directConv}. */
    public void packForDirectConv(int cin, int cout, int k, MemorySegment w, MemorySegment wp) {
        if (4L * cout * cin * k * k > w.byteSize() || 4 * packedWeightFloats(cin, cout, k) > wp.byteSize()) throw new IndexOutOfBoundsException("dconv pack");
        try {
            dconvPack.invokeExact(cin, cout, k, w, wp);
        } catch (Throwable t) {
            throw rethrow("wrcor_dconv_pack", t);
        }
    }

    /**
     * A stride-1 convolution of one sample x [cin, h, w] into y [cout, ho, wo] computed directly (no
     * im2col), weights packed by {@link #packForDirectConv}: each output one fused multiply-add chain
     * over input channels and taps in order.
     */
    public void directConv(int cin, int h, int w, int cout, int k, int pad, MemorySegment x, MemorySegment wp, MemorySegment y, MemorySegment scratch) {
        directConv(cin, h, w, cout, k, pad, x, wp, y, scratch, false, null);
    }

    /**
     * {@link #directConv} reading x through a ReLU ({@code reluInput}: Math.max(v, 0f) while the planes
     * are padded), and, with a {@code mask} of y's shape, each output kept only where the mask's bits
     * are a positive int (+0 elsewhere): FastCpuBackend.reluBackward's mask, for a data gradient
     * that passes back through the ReLU in front of the convolution.
     */
    public void directConv(int cin, int h, int w, int cout, int k, int pad, MemorySegment x, MemorySegment wp, MemorySegment y, MemorySegment scratch,
                           boolean reluInput, MemorySegment mask) {
        long ho = h + 2L * pad - k + 1, wo = w + 2L * pad - k + 1;
        if (k < 1 || k > 8 || pad < 0 || ho < 1 || wo < 1 || 4L * cin * h * w > x.byteSize() || 4 * packedWeightFloats(cin, cout, k) > wp.byteSize()
                || 4L * cout * ho * wo > y.byteSize() || 4 * directConvScratchFloats(cin, h, w, k, pad) > scratch.byteSize()
                || mask != null && 4L * cout * ho * wo > mask.byteSize()) {
            throw new IndexOutOfBoundsException("directConv: " + cin + "x" + h + "x" + w + " -> " + cout + ", k " + k + ", pad " + pad);
        }
        try {
            MemorySegment m = mask == null ? MemorySegment.NULL : mask;
            dconv.invokeExact(cin, h, w, cout, k, pad, x, wp, y, scratch, reluInput ? 1 : 0, m);
        } catch (Throwable t) {
            throw rethrow("wrcor_dconv", t);
        }
    }

    /** wf [cin][cout][k][k] = w [cout][cin][k][k] rotated by 180 degrees in each plane: the weights of the data gradient as a convolution. */
    public void flip(int cout, int cin, int k, MemorySegment w, MemorySegment wf) {
        long n = (long) cout * cin * k * k;
        if (cout < 1 || cin < 1 || k < 1 || 4 * n > w.byteSize() || 4 * n > wf.byteSize()) throw new IndexOutOfBoundsException("flip: " + cout + " x " + cin + " x " + k);
        try {
            flip.invokeExact(cout, cin, k * k, w, wf);
        } catch (Throwable t) {
            throw rethrow("wrcor_flip", t);
        }
    }

    /** Winograd F(2x2, 3x3) tiles of an h x w plane (2 x 2 outputs each, odd edges padded). */
    public static long winogradTiles(int h, int w) {
        return (long) ((h + 1) / 2) * ((w + 1) / 2);
    }

    /** Floats of the scratch {@link #winogradInput} and {@link #winogradOutput} need for h x w planes (the larger of the two). */
    public static long winogradScratchFloats(int h, int w) {
        long th = (h + 1) / 2, tw = (w + 1) / 2;
        return Math.max(4 * (2 * th + 2) * tw, 4 * tw);
    }

    /** The Winograd F(2x2, 3x3) weight transform: u [16][cout][cin] from 3 x 3 weights w [cout][cin][3][3]. */
    public void winogradWeights(int cout, int cin, MemorySegment w, MemorySegment u) {
        if (cout < 1 || cin < 1 || 36L * cout * cin > w.byteSize() || 64L * cout * cin > u.byteSize()) {
            throw new IndexOutOfBoundsException("winogradWeights: " + cout + " x " + cin);
        }
        try {
            winoWeights.invokeExact(cout, cin, w, u);
        } catch (Throwable t) {
            throw rethrow("wrcor_wino_weights", t);
        }
    }

    /** The Winograd input transform of {@code samples} samples x [samples][cin][h][w] into v [16][cin][samples * tiles]. */
    public void winogradInput(int samples, int cin, int h, int w, MemorySegment x, MemorySegment v, MemorySegment scratch) {
        winogradTransform(true, samples, cin, h, w, x, v, scratch);
    }

    /** The Winograd output transform of m [16][cout][samples * tiles] into y [samples][cout][h][w]. */
    public void winogradOutput(int samples, int cout, int h, int w, MemorySegment m, MemorySegment y, MemorySegment scratch) {
        winogradTransform(false, samples, cout, h, w, m, y, scratch);
    }

    /**
     * Either transform, checked first: planes [samples][c][h][w] and tiles [16][c][samples * tiles], the
     * input's from and to (the output's the other way round); both take (samples, c, h, w, from, to, scratch).
     */
    private void winogradTransform(boolean input, int samples, int c, int h, int w, MemorySegment from, MemorySegment to, MemorySegment scratch) {
        String name = input ? "wrcor_wino_in" : "wrcor_wino_out";
        MemorySegment planes = input ? from : to, tiles = input ? to : from;
        if (samples < 1 || c < 1 || h < 1 || w < 1 || 4L * samples * c * h * w > planes.byteSize()
                || 64L * c * samples * winogradTiles(h, w) > tiles.byteSize() || 4 * winogradScratchFloats(h, w) > scratch.byteSize()) {
            throw new IndexOutOfBoundsException(name + ": " + samples + " x " + c + " x " + h + " x " + w);
        }
        try {
            (input ? winoIn : winoOut).invokeExact(samples, c, h, w, from, to, scratch);
        } catch (Throwable t) {
            throw rethrow(name, t);
        }
    }

    private static IllegalStateException rethrow(String fn, Throwable t) {
        if (t instanceof RuntimeException re) throw re;
        return new IllegalStateException(fn + " failed", t);
    }

    private static NativeKernels load() throws Exception {
        String arch = System.getProperty("os.arch");
        if (!System.getProperty("os.name").startsWith("Linux") || !(arch.equals("amd64") || arch.equals("x86_64"))) {
            throw new IOException("built for Linux x86-64 only, this is " + System.getProperty("os.name") + " " + arch);
        }
        String variant = cpuHas("avx2") && cpuHas("fma") ? "avx2" : "x86-64";
        String name = "libwrcor-cpu-" + variant + ".so";
        byte[] lib;
        try (InputStream in = NativeKernels.class.getResourceAsStream(JAR_DIR + name)) {
            if (in == null) throw new IOException("not built (no C compiler when the engine was built)");
            lib = in.readAllBytes();
        }
        String hash = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(lib)).substring(0, 16);
        Path target = CacheDir.root().resolve("native-" + hash).resolve(name);
        if (!Files.exists(target)) CacheDir.writeAtomically(target, lib);
        return new NativeKernels(SymbolLookup.libraryLookup(target, Arena.global()), variant);
    }

    private static boolean cpuHas(String flag) {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("flags")) return (" " + line.substring(line.indexOf(':') + 1) + " ").contains(" " + flag + " ");
            }
        } catch (IOException | RuntimeException e) {
            // unreadable: assume the plain build
        }
        return false;
    }
}
