package io.wrcor.backend;

import io.wrcor.backend.cpu.Correlation;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Residency;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * Every op of the {@link Backend} interface as launches of the kernels in {@code cuda-kernels/}: the
 * part the OpenCL and CUDA backends share. A device backend supplies buffers, copies, kernel launches
 * and a barrier; this class decides which kernels run with which arguments, in the {@link Shape} the
 * device suits (tiles for GPUs, rows for CPU devices). Tensors are passed as their device buffers and
 * stay there (see {@link Launch}); the correlation accumulator keeps K on the device.
 */
public abstract class KernelBackend implements Backend {
    /** The message for a device index outside 0..count-1 ({@code kind}: "CUDA", "OpenCL"). */
    protected static String noSuchDevice(String asked, int count, String kind) {
        return asked + " asked for, but this machine has " + count + " " + kind + " device" + (count == 1 ? "" : "s") + " (0.." + (count - 1) + ")";
    }

    /** The kernels every device backend builds, by their names in the sources. */
    public static final List<String> KERNELS = List.of("conv_gemm_forward", "conv_gemm_backward_data", "conv_rows_forward", "conv_rows_backward_data", "conv_backward_data", "conv_backward_weight", "conv_rows_backward_weight", "bn_stats",
            "bn_stats_rows", "bn_apply", "bn_apply_rows", "bn_backward_reduce", "bn_backward_reduce_rows", "bn_backward_apply", "bn_backward_apply_rows", "relu_forward", "relu_backward", "clip_forward", "clip_backward", "pointwise_forward", "pointwise_backward", "add", "mul", "scale", "avgpool_forward",
            "avgpool_backward", "avgpool_rows_forward", "avgpool_rows_backward", "maxpool_forward", "maxpool_backward", "channel_copy",
            "depthwise_forward", "depthwise_backward_data", "depthwise_backward_weight", "resize_forward", "resize_backward", "resize_nearest_forward", "resize_nearest_backward",
            "sigmoid_forward", "sigmoid_backward", "channel_scale", "channel_scale_backward", "bias_add", "global_avgpool_forward", "global_avgpool_backward", "linear_forward", "linear_backward_data",
            "linear_backward_weight", "cross_entropy_grad", "row_stats", "row_stats_rows", "centred_gram", "centred_gram_rows", "accumulate_abs_corr",
            "gemm_batched", "im2col", "col2im", "sum_parts", "centre_rows", "bn_stats_groups", "bn_backward_reduce_groups", "row_stats_groups");

    /** The kernel source files, in cuda-kernels/, after compat.h. */
    public static final List<String> SOURCES = List.of("nn.cu", "correlation.cu", "gemm.cu");

    /** A kernel parameter as its source declares it: a pointer to real, int or accum elements, or an int, long or real value. */
    public record Param(String type, boolean pointer, String name) {
        /** The element or value size in bytes for a launch in precision t on a device with or without fp64. */
        int bytes(DType t, DType accum) {
            return switch (type) {
                case "real" -> t.bytes;
                case "accum" -> accum.bytes;
                case "int" -> 4;
                case "long" -> 8;
                default -> throw new IllegalStateException("parameter type " + type);
            };
        }
    }

    /**
     * Every kernel's parameters, read from the kernel sources when this class is loaded; a kernel of
     * {@link #KERNELS} that the sources do not declare, or a parameter of a type the launches cannot
     * pass, fails here, before any device is opened. Each launch's arguments are then checked
     * against the declaration (count, pointer or value, element size) on every backend, so a
     * mismatch the CUDA driver would take silently fails the OpenCL (PoCL) tests first.
     */
    public static final Map<String, List<Param>> SIGNATURES = signatures();

    private static Map<String, List<Param>> signatures() {
        Map<String, List<Param>> sig = new java.util.HashMap<>();
        java.util.regex.Pattern kernel = java.util.regex.Pattern.compile("KERNEL\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)");
        for (String source : SOURCES) {
            String text;
            try (java.io.InputStream in = KernelBackend.class.getResourceAsStream("/cuda-kernels/" + source)) {
                if (in == null) throw new IllegalStateException("kernel source cuda-kernels/" + source + " is missing from the build");
                text = new String(in.readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            } catch (java.io.IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
            java.util.regex.Matcher m = kernel.matcher(text);
            while (m.find()) {
                List<Param> params = new ArrayList<>();
                for (String p : m.group(2).split(",")) {
                    String[] words = p.replace("*", " * ").trim().split("\\s+");
                    boolean pointer = p.contains("*");
                    String type = words[words.length - (pointer ? 3 : 2)], name = words[words.length - 1];
                    if (!List.of("real", "accum", "int", "long").contains(type) || (!pointer && type.equals("accum"))) {
                        throw new IllegalStateException("kernel " + m.group(1) + ": parameter '" + p.trim() + "' has a type no launch passes");
                    }
                    params.add(new Param(type, pointer, name));
                }
                sig.put(m.group(1), List.copyOf(params));
            }
        }
        for (String k : KERNELS) if (!sig.containsKey(k)) throw new IllegalStateException("kernel " + k + " is not declared in " + SOURCES);
        return Map.copyOf(sig);
    }

    /** The arguments of one launch against the kernel's declaration; an IllegalArgumentException names the first mismatch. */
    static void checkArguments(String kernel, DType t, DType accum, List<Object> args) {
        List<Param> params = SIGNATURES.get(kernel);
        if (params == null) throw new IllegalArgumentException("no kernel named " + kernel);
        if (params.size() != args.size()) {
            throw new IllegalArgumentException(kernel + " takes " + params.size() + " arguments, the launch passes " + args.size());
        }
        for (int i = 0; i < params.size(); i++) {
            Param p = params.get(i);
            Object a = args.get(i);
            int want = p.bytes(t, accum);
            String bad = switch (a) {
                case Mem m when p.pointer() -> m.elemBytes() != 0 && m.elemBytes() != want
                        ? "a buffer of " + m.elemBytes() + "-byte elements for " + want + "-byte " + p.type() : null;
                case Integer x when !p.pointer() && p.type().equals("int") -> null;
                case Long x when !p.pointer() && p.type().equals("long") -> null;
                case Real x when !p.pointer() && p.type().equals("real") -> null;
                default -> "a " + a.getClass().getSimpleName();
            };
            if (bad != null) {
                throw new IllegalArgumentException(kernel + " argument " + i + " (" + p.type() + (p.pointer() ? " *" : "") + " " + p.name()
                        + "): the launch passes " + bad);
            }
        }
    }

    /** Element type of the K accumulators on the device: float64 where the device has it. */
    protected final DType accum;

    protected KernelBackend(boolean fp64) {
        this.accum = fp64 ? DType.F64 : DType.F32;
    }

    /** Whether the kernels of precision t were built (float64 needs a device with fp64). */
    protected abstract boolean hasPrograms(DType t);

    /** A device buffer of {@code bytes}, initialised from {@code host} when it is not null. */
    protected abstract long createBuffer(MemorySegment host, long bytes);

    protected abstract void releaseBuffer(long buffer);

    /** Copies a device buffer into host memory (blocking). */
    protected abstract void read(long buffer, MemorySegment host);

    /** Copies host memory into (the start of) a device buffer (blocking on the host side). */
    protected abstract void write(long buffer, MemorySegment host);

    // ------------------------------------------------------------------ device residency

    /**
     * What crossed between host and device, how many kernels (and cuBLAS products) ran and how many
     * device buffers were allocated since the last {@link #resetTransfers}, and the most device
     * memory held at once (tensors, per-op scratch in use and scratch kept for reuse).
     */
    public record Transfers(long bytesIn, long bytesOut, long launches, long allocations, long deviceBytesPeak) {}

    private long bytesIn, bytesOut, launches, allocations, deviceBytes, deviceBytesPeak;
    private final java.util.Set<Buf> live = new java.util.HashSet<>();
    private boolean closed;

    public Transfers transfers() {
        return new Transfers(bytesIn, bytesOut, launches, allocations, deviceBytesPeak);
    }

    public void resetTransfers() {
        bytesIn = bytesOut = launches = allocations = 0;
        deviceBytesPeak = deviceBytes;
    }

    /**
     * A tensor's device buffer, owned by this backend: it follows the tensor's host segment (a pooled
     * segment's buffer is reused with it), holds its value while only kernels touch it, and comes
     * back to the host only when host code reads the tensor.
     */
    private final class Buf implements Residency.DeviceCopy {
        final long handle, bytes;

        Buf(long bytes) {
            this.handle = allocate(bytes);
            this.bytes = bytes;
            live.add(this);
        }

        @Override
        public void download(MemorySegment host) {
            if (closed) throw new IllegalStateException(name() + " is closed: a tensor's value on it is lost");
            read(handle, host); // blocking, after the queue's kernels
            bytesOut += host.byteSize();
        }

        @Override
        public void release() {
            if (live.remove(this)) free(handle);
        }
    }

    /** The size in bytes of every device buffer this backend allocated and holds, by handle (see {@link Launch#gemm}). */
    private final Map<Long, Long> sizes = new java.util.HashMap<>();

    /** A new device buffer, counted. */
    private long allocate(long bytes) {
        long h = createBuffer(null, bytes);
        sizes.put(h, bytes);
        allocations++;
        deviceBytes += bytes;
        deviceBytesPeak = Math.max(deviceBytesPeak, deviceBytes);
        return h;
    }

    private void free(long handle) {
        deviceBytes -= sizes.remove(handle);
        if (!closed) releaseBuffer(handle);
    }

    /**
     * Per-op device buffers (scratch, small uploads, the K accumulators) kept for reuse by size, as
     * the host {@code TensorPool} keeps segments: the same architecture's ops ask for the same sizes,
     * so after the first architecture a pass allocates nothing (a CUDA allocation and free each cost
     * a device synchronisation). A buffer goes back as its launch closes; the device's queue is in
     * order, so the next op that takes it runs after the kernels that used it. At most
     * {@link #SCRATCH_KEPT} bytes are kept; past that a returned buffer is freed.
     */
    private final Map<Long, java.util.ArrayDeque<Long>> spare = new java.util.HashMap<>();
    private long spareBytes;
    static final long SCRATCH_KEPT = 512L << 20;

    private long takeScratch(long bytes) {
        java.util.ArrayDeque<Long> q = spare.get(bytes);
        if (q == null || q.isEmpty()) return allocate(bytes);
        spareBytes -= bytes;
        return q.pop();
    }

    private void giveScratch(long handle) {
        long bytes = sizes.get(handle);
        if (closed || spareBytes + bytes > SCRATCH_KEPT) {
            free(handle);
            return;
        }
        spare.computeIfAbsent(bytes, b -> new java.util.ArrayDeque<>()).push(handle);
        spareBytes += bytes;
    }

    /** The device buffer holding t's current value, made (and filled from the host) when needed. */
    protected final long deviceBuffer(Tensor t) {
        Residency r = t.residency();
        long bytes = t.hostSegment().byteSize();
        Buf b = r.device() instanceof Buf mine && live.contains(mine) ? mine : null;
        if (b == null || b.bytes < bytes) {
            if (r.device() != null) t.dropDevice(); // another backend's or too small: the value goes to the host first
            b = new Buf(Math.max(bytes, r.capacity()));
            r.attach(b);
        }
        if (!r.deviceCurrent() && r.hostCurrent()) {
            write(b.handle, t.hostSegment());
            bytesIn += bytes;
            r.markUploaded();
        }
        return b.handle;
    }

    /** Gives back every device buffer of tensors (their values are lost) and the scratch kept for reuse; subclasses call it when closing. */
    protected final void releaseTensorBuffers() {
        for (Buf b : List.copyOf(live)) b.release();
        for (var q : spare.values()) for (long h : q) free(h);
        spare.clear();
        spareBytes = 0;
        closed = true;
    }

    /**
     * Enqueues kernel {@code name} of precision t over n items in work groups of {@code group} items
     * (0: the backend's choice); args are Mem, Integer, Long or Real.
     */
    protected abstract void launchKernel(DType t, String name, long n, int group, List<Object> args);

    /** The side of a tiled kernel's work group (TILE in compat.h). */
    protected static final int TILE = 16;

    /**
     * Enqueues a tiled kernel over a gx x gy x gz grid of items (gx and gy multiples of {@link #TILE})
     * in work groups of TILE x TILE x 1.
     */
    protected abstract void launchTiled(DType t, String name, long gx, long gy, long gz, List<Object> args);

    /** Waits for every enqueued kernel. */
    protected abstract void finish();

    /** A matrix operand of a {@link Gemm}: a device buffer, the element offset of the first matrix, its leading dimension, the offset from one matrix of the batch to the next. */
    protected record Operand(long buffer, long offset, int ld, long stride) {}

    /**
     * A batch of {@code count} products in cuBLAS's column-major terms (gemmStridedBatched with
     * alpha 1): C_z [m, n] = op(A_z) [m, k] op(B_z) [k, n], plus C_z where {@code accumulate}.
     */
    protected record Gemm(boolean ta, boolean tb, int m, int n, int k, Operand a, Operand b, Operand c, int count, boolean accumulate) {
        /**
         * The same products stated row-major, as the tensors are laid out: C [m, n] = op(A) op(B) is
         * the column-major C^T = op(B)^T op(A)^T, so the operands swap and each keeps its transpose.
         */
        static Gemm rowMajor(boolean ta, boolean tb, int m, int n, int k, Operand a, Operand b, Operand c, int count, boolean accumulate) {
            return new Gemm(tb, ta, n, m, k, b, a, c, count, accumulate);
        }
    }

    /**
     * Whether gemm_batched sums its products as one fused multiply-add chain instead of compensated:
     * tests set it to check that cuBLAS's float32 rounding keeps the scores within their bounds.
     */
    private boolean plainProducts;

    public void plainProducts(boolean plain) {
        plainProducts = plain;
    }

    /**
     * Enqueues a batch of products: the tiled kernel gemm_batched (compensated sums) here; the CUDA
     * backend hands float32 and float64 batches to cuBLAS instead.
     */
    protected void gemm(DType t, Gemm g) {
        List<Object> args = List.of(new Mem(g.a().buffer(), t.bytes), new Mem(g.b().buffer(), t.bytes), new Mem(g.c().buffer(), t.bytes),
                g.ta() ? 1 : 0, g.tb() ? 1 : 0, g.m(), g.n(), g.k(), g.a().offset(), g.a().ld(), g.a().stride(), g.b().offset(), g.b().ld(),
                g.b().stride(), g.c().offset(), g.c().ld(), g.c().stride(), g.accumulate() ? 1 : 0, plainProducts ? 1 : 0);
        checkArguments("gemm_batched", t, accum, args);
        launchTiled(t, "gemm_batched", Math.ceilDiv(g.m(), TILE) * (long) TILE, Math.ceilDiv(g.n(), TILE) * (long) TILE, g.count(), args);
    }

    // ------------------------------------------------------------------ launches

    /**
     * One op's launches: arguments in kernel order. Tensors are passed as their device buffers
     * ({@link #deviceBuffer}: uploaded only when the host has the newer value, as for weights and the
     * input batch the first time, or a test's poisoned output); a tensor the kernels write is
     * marked as held by the device, and nothing is copied back. Small per-op buffers (integers,
     * per-channel scratch) are made here, released on close, and copied back only where asked.
     */
    protected final class Launch implements AutoCloseable {
        private final DType dtype;
        private final List<Long> buffers = new ArrayList<>(); // every buffer passed, in order (see buffer(int))
        private final List<Long> owned = new ArrayList<>(); // the ones taken here, given back on close
        private final List<Object[]> downloads = new ArrayList<>();
        private final List<Tensor> written = new ArrayList<>();
        private final List<Object> args = new ArrayList<>();

        Launch(DType dtype) {
            if (!hasPrograms(dtype)) throw new IllegalStateException(name() + " has no fp64: cannot run " + dtype + " ops");
            this.dtype = dtype;
        }

        private long buffer(MemorySegment host, long bytes) {
            long b = takeScratch(bytes);
            if (host != null) {
                write(b, host);
                bytesIn += bytes;
            }
            buffers.add(b);
            owned.add(b);
            return b;
        }

        /** A device buffer that outlives this launch (the caller releases it). */
        Launch mem(long handle) {
            args.add(new Mem(handle, 0));
            return this;
        }

        /** Integers, uploaded. */
        Launch in(int[] values, Arena arena) {
            MemorySegment s = arena.allocate(4L * Math.max(1, values.length));
            for (int i = 0; i < values.length; i++) s.setAtIndex(ValueLayout.JAVA_INT, i, values[i]);
            args.add(new Mem(buffer(s, s.byteSize()), 4));
            return this;
        }

        /** A tensor the kernel reads. */
        Launch in(Tensor t) {
            long b = deviceBuffer(t);
            buffers.add(b);
            args.add(new Mem(b, t.dtype().bytes));
            return this;
        }

        /** A tensor the kernel writes (all of it or, like channel_copy, part of it): the device holds its value afterwards. */
        Launch out(Tensor t) {
            long b = deviceBuffer(t);
            buffers.add(b);
            args.add(new Mem(b, t.dtype().bytes));
            written.add(t);
            return this;
        }

        /** Batch-norm statistics: in place when in the launch's precision, else converted and uploaded. */
        Launch stats(Tensor t, Arena arena) {
            return t.dtype() == dtype ? in(t) : in(Backend.values(t), arena);
        }

        /** Values in the launch's precision, uploaded. */
        Launch in(double[] values, Arena arena) {
            return in(values, dtype, arena);
        }

        /** Values in precision t, uploaded. */
        Launch in(double[] values, DType t, Arena arena) {
            MemorySegment s = arena.allocate((long) values.length * t.bytes);
            for (int i = 0; i < values.length; i++) {
                if (t == DType.F32) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) values[i]);
                else s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, values[i]);
            }
            args.add(new Mem(buffer(s, s.byteSize()), t.bytes));
            return this;
        }

        /** A device buffer of {@code elems} elements, copied into {@code host} on {@link #run} when host is not null. */
        Launch scratch(long elems, int elemBytes, MemorySegment host) {
            long b = buffer(null, elems * elemBytes);
            if (host != null) downloads.add(new Object[]{b, host});
            args.add(new Mem(b, elemBytes));
            return this;
        }

        /** Forgets the arguments added so far (their buffers stay the launch's, by index): for buffers made before the kernels that use them. */
        Launch drop() {
            args.clear();
            return this;
        }

        /** The handle of the {@code index}-th device buffer this launch passed (in order of in/out/scratch). */
        long handle(int index) {
            return buffers.get(index);
        }

        /**
         * Enqueues a batch of products on this launch's buffers (see {@link Gemm}), after checking
         * that every matrix of the batch lies inside its buffer and that each leading dimension
         * covers its stored rows: cuBLAS would read or write past a buffer without a word, here an
         * IllegalStateException names the operand.
         */
        Launch gemm(Gemm g) {
            if (g.count() <= 0 || g.m() <= 0 || g.n() <= 0) return this;
            checkExtent("A", g.a(), g.ta() ? g.k() : g.m(), g.ta() ? g.m() : g.k(), g.count());
            checkExtent("B", g.b(), g.tb() ? g.n() : g.k(), g.tb() ? g.k() : g.n(), g.count());
            checkExtent("C", g.c(), g.m(), g.n(), g.count());
            KernelBackend.this.gemm(dtype, g);
            launches++;
            return this;
        }

        /** Operand x, a batch of count column-major rows x cols matrices, against its buffer's size. */
        private void checkExtent(String x, Operand o, int rows, int cols, int count) {
            Long bytes = sizes.get(o.buffer());
            if (bytes == null) throw new IllegalStateException("gemm operand " + x + ": buffer " + o.buffer() + " is not one of " + name() + "'s");
            long last = o.offset() + o.stride() * (count - 1) + (long) (cols - 1) * o.ld() + rows - 1, elems = bytes / dtype.bytes;
            if (rows > 0 && cols > 0 && (o.ld() < rows || o.offset() < 0 || o.stride() < 0 || last >= elems)) {
                throw new IllegalStateException(String.format("gemm operand %s: %d matrices of %d x %d (leading dimension %d, offset %d, stride %d)"
                        + " reach element %d of a buffer of %d", x, count, rows, cols, o.ld(), o.offset(), o.stride(), last, elems));
            }
        }

        /** The {@code index}-th device buffer this launch made (in order of in/out/scratch), passed again. */
        Launch buffer(int index) {
            args.add(new Mem(buffers.get(index), 0));
            return this;
        }

        Launch i(int v) { args.add(v); return this; }
        Launch l(long v) { args.add(v); return this; }
        Launch r(double v) { args.add(new Real(v)); return this; }

        /** Runs a kernel over n items with the arguments added so far, then clears them (buffers stay). */
        Launch kernel(String name, long n) {
            return kernel(name, n, 0);
        }

        /** The same in work groups of {@code group} items (0: the backend's choice). */
        Launch kernel(String name, long n, int group) {
            checkArguments(name, dtype, accum, args);
            launchKernel(dtype, name, n, group, List.copyOf(args));
            launches++;
            args.clear();
            return this;
        }

        /** Runs a tiled kernel over at least nx x ny x nz items (rounded up to whole work groups). */
        Launch tiled(String name, long nx, long ny, long nz) {
            checkArguments(name, dtype, accum, args);
            launchTiled(dtype, name, (nx + TILE - 1) / TILE * TILE, (ny + TILE - 1) / TILE * TILE, nz, List.copyOf(args));
            launches++;
            args.clear();
            return this;
        }

        /** Marks the written tensors as held by the device; copies back the scratch buffers asked for (waiting for the kernels then only). */
        void run() {
            for (Tensor t : written) t.residency().markDeviceWritten();
            if (downloads.isEmpty()) return;
            finish();
            for (Object[] d : downloads) {
                MemorySegment host = (MemorySegment) d[1];
                read((Long) d[0], host);
                bytesOut += host.byteSize();
            }
        }

        @Override
        public void close() {
            for (long b : owned) giveScratch(b);
        }
    }

    /** A kernel argument: a device buffer, with the size of its elements where the launch knows it (else 0). */
    protected record Mem(long handle, int elemBytes) {}

    /** A kernel argument in the launch's precision (float or double). */
    protected record Real(double v) {}

    // ------------------------------------------------------------------ ops

    /**
     * How the convolutions' kernels are shaped: {@link #TILES} for GPUs (work groups of TILE x TILE
     * outputs sharing local memory), {@link #ROWS} for CPU devices (one item per stretch of an output
     * row, its innermost loop along the row, which the device compiler vectorises). Both compute each
     * output as the same compensated sum in the same order.
     */
    public enum Shape {
        TILES, ROWS,
        /**
         * Convolutions and Gram matrices as batched matrix products (im2col, col2im and
         * {@link #gemm}: cuBLAS on CUDA), the other ops as TILES. A CUDA device's default.
         */
        GEMM
    }

    /**
     * The shape WRCOR_KERNEL_SHAPE asks for (tiles, rows or gemm), or null when it is not set; an
     * IllegalArgumentException names a value that is none of them.
     */
    public static Shape requestedShape() {
        String forced = System.getenv("WRCOR_KERNEL_SHAPE");
        if (forced == null || forced.isBlank()) return null;
        return switch (forced.strip().toLowerCase()) {
            case "tiles" -> Shape.TILES;
            case "rows" -> Shape.ROWS;
            case "gemm" -> Shape.GEMM;
            default -> throw new IllegalArgumentException("WRCOR_KERNEL_SHAPE=" + forced.strip() + ": expected tiles, rows or gemm");
        };
    }

    private Shape shape = Shape.TILES;

    /** The shape of the convolution kernels this backend launches. */
    public Shape shape() {
        return shape;
    }

    /** Chooses the convolution kernels' shape (a device backend picks by its device; tests and benchmarks run both). */
    public void shape(Shape s) {
        shape = java.util.Objects.requireNonNull(s);
    }

    /** Output channels and cells of one row per item of the ROWS kernels, and their staged input cells (ROW_C, ROW_W, ROW_X in compat.h). */
    static final int ROW_C = 8, ROW_W = 32, ROW_X = 72;

    /**
     * Items per work group of the ROWS convolutions. Each item holds a few KB of private arrays, and
     * a CPU device's compiler may keep a copy per item of the group on its thread's stack: left to
     * choose, PoCL took groups of 4,096 items and overflowed it (NAS-Bench-101's full-size network).
     * Each item's work is large, so small groups cost nothing.
     */
    static final int ROW_GROUP = 8;

    /** Items of a ROWS kernel over [batch, channels, rows, cols] outputs: ROW_C channels x ROW_W cells each. */
    private static long rowItems(int batch, int channels, int rows, int cols) {
        return (long) batch * Math.ceilDiv(channels, ROW_C) * rows * Math.ceilDiv(cols, ROW_W);
    }

    /** Whether a ROWS kernel reading a window of k cells at this stride along a stretch of outputs fits its private staging of ROW_X cells. */
    private boolean rowsFit(int stride, int k) {
        return shape == Shape.ROWS && (ROW_W - 1) * stride + k <= ROW_X;
    }

    /** The same for a gradient gathered onto input cells (a stretch of ROW_W inputs and the k - 1 beside it). */
    private boolean rowsFitGather(int k) {
        return shape == Shape.ROWS && ROW_W + k - 1 <= ROW_X;
    }

    /** Elements of im2col columns (or of per-sample partial products) one chunk of samples may take: 64 MB of float32. */
    private long colsLimit = 1L << 24;

    long colsLimit() {
        return colsLimit;
    }

    /** Sets the chunk bound (tests make it small to run several chunks). */
    void colsLimit(long elems) {
        colsLimit = Math.max(1, elems);
    }

    /** Samples per chunk when each needs {@code perSample} elements of scratch. */
    private int samplesPerChunk(long perSample, int batch) {
        return (int) Math.max(1, Math.min(batch, colsLimit / Math.max(1, perSample)));
    }

    /** A convolution whose columns are its input: 1 x 1, stride 1, no padding. */
    private static boolean pointwise(int k, int stride, int pad) {
        return k == 1 && stride == 1 && pad == 0;
    }

    private static Operand op(long buffer, long offset, long ld, long stride) {
        return new Operand(buffer, offset, Math.toIntExact(ld), stride);
    }

    /** Launches im2col of samples b0 .. b0 + nb - 1 of x (buffer xi of the launch) into buffer ci. */
    private static void im2col(Launch l, int xi, int ci, int b0, int nb, Tensor x, int k, int stride, int pad, int ho, int wo) {
        long n = (long) nb * x.dim(1) * k * k * ho * wo;
        l.buffer(xi).buffer(ci).l(n).i(b0).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(k).i(stride).i(pad).i(ho).i(wo).kernel("im2col", n);
    }

    /**
     * GEMM shape: per sample dcol_b [K, P] = w^T [K, cout] dy_b [cout, P], gathered back onto dx by
     * col2im (for a pointwise convolution the product is dx_b itself).
     */
    private void convBackwardDataGemm(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        int b = dx.dim(0), cin = dx.dim(1), cout = w.dim(0), k = w.dim(2), kd = cin * k * k, ho = dy.dim(2), wo = dy.dim(3);
        long p = (long) ho * wo;
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).in(w).out(dx).drop(); // buffers 0, 1, 2
            long dyb = l.handle(0), wb = l.handle(1), dxb = l.handle(2);
            if (pointwise(k, stride, pad)) {
                l.gemm(Gemm.rowMajor(true, false, cin, (int) p, cout, op(wb, 0, cin, 0), op(dyb, 0, p, cout * p), op(dxb, 0, p, cin * p), b, false));
            } else {
                int chunk = samplesPerChunk(kd * p, b);
                l.scratch(chunk * kd * p, dy.dtype().bytes, null).drop(); // buffer 3: the columns' gradient
                long cols = l.handle(3);
                for (int b0 = 0; b0 < b; b0 += chunk) {
                    int nb = Math.min(chunk, b - b0);
                    l.gemm(Gemm.rowMajor(true, false, kd, (int) p, cout, op(wb, 0, kd, 0), op(dyb, b0 * cout * p, p, cout * p),
                            op(cols, 0, p, kd * p), nb, false));
                    long n = (long) nb * cin * dx.dim(2) * dx.dim(3);
                    l.buffer(3).buffer(2).l(n).i(b0).i(cin).i(dx.dim(2)).i(dx.dim(3)).i(k).i(stride).i(pad).i(ho).i(wo).kernel("col2im", n);
                }
            }
            l.run();
        }
    }

    /**
     * GEMM shape: dw [cout, K] = sum over samples of dy_b [cout, P] col_b^T [P, K]: a chunk's
     * per-sample products, then their compensated sum in sample order (sum_parts) onto dw.
     */
    private void convBackwardWeightGemm(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        int b = x.dim(0), cin = x.dim(1), cout = dw.dim(0), k = dw.dim(2), kd = cin * k * k;
        long p = (long) dy.dim(2) * dy.dim(3);
        boolean direct = pointwise(k, stride, pad);
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dw).drop(); // buffers 0, 1, 2
            long xb = l.handle(0), dyb = l.handle(1);
            int chunk = samplesPerChunk(Math.max(direct ? 0 : kd * p, (long) cout * kd), b);
            l.scratch((long) chunk * cout * kd, x.dtype().bytes, null).drop(); // buffer 3: per-sample products
            long parts = l.handle(3);
            if (!direct) l.scratch(chunk * kd * p, x.dtype().bytes, null).drop(); // buffer 4: the columns
            for (int b0 = 0; b0 < b; b0 += chunk) {
                int nb = Math.min(chunk, b - b0);
                Operand cols = direct ? op(xb, b0 * cin * p, p, cin * p) : op(l.handle(4), 0, p, kd * p);
                if (!direct) im2col(l, 0, 4, b0, nb, x, k, stride, pad, dy.dim(2), dy.dim(3));
                l.gemm(Gemm.rowMajor(false, true, cout, kd, (int) p, op(dyb, b0 * cout * p, p, cout * p), cols,
                        op(parts, 0, kd, (long) cout * kd), nb, false));
                long n = (long) cout * kd;
                l.buffer(3).buffer(2).l(n).i(nb).i(b0 > 0 ? 1 : 0).i(0).kernel("sum_parts", n);
            }
            l.run();
        }
    }

    /**
     * The convolution as a tiled implicit GEMM (conv_gemm_forward), or by rows on a CPU device
     * (conv_rows_forward). The GEMM shape keeps the tiled kernel for the forward pass: its outputs
     * feed every later op, and some scores depend on them discontinuously (max-pool choices, ReLU
     * signs), so they must be the compensated sums in K's order. On NAS-Bench-101's full-size
     * fixture, products summed as one fused multiply-add chain (as cuBLAS would, 1 x 1 convolutions
     * alone included) moved grad_norm by 4e-4, against the reference's own float32 scatter of 4e-5;
     * the gradients' and Gram matrices' products summed that way move no fixture past its bound
     * (FixtureParityTest, GEMM shape with plain products).
     */
    @Override
    public void convForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        if (rowsFit(stride, w.dim(2))) {
            long n = rowItems(x.dim(0), w.dim(0), y.dim(2), y.dim(3));
            try (Launch l = new Launch(x.dtype())) {
                l.in(x).in(w).out(y).l(n).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(w.dim(0)).i(w.dim(2)).i(stride).i(pad).i(y.dim(2)).i(y.dim(3))
                        .kernel("conv_rows_forward", n, ROW_GROUP).run();
            }
            return;
        }
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(w).out(y).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(w.dim(0)).i(w.dim(2)).i(stride).i(pad).i(y.dim(2)).i(y.dim(3))
                    .tiled("conv_gemm_forward", (long) y.dim(2) * y.dim(3), w.dim(0), x.dim(0)).run();
        }
    }

    /** Rows (conv_rows_backward_data) on a CPU device; on a GPU stride 1 as the tiled implicit GEMM (conv_gemm_backward_data), other strides gathered per input cell. */
    @Override
    public void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        if (shape == Shape.GEMM) {
            convBackwardDataGemm(dy, w, stride, pad, dx);
            return;
        }
        if (rowsFitGather(w.dim(2))) {
            long n = rowItems(dx.dim(0), dx.dim(1), dx.dim(2), dx.dim(3));
            try (Launch l = new Launch(dy.dtype())) {
                l.in(dy).in(w).out(dx).l(n).i(dx.dim(1)).i(dx.dim(2)).i(dx.dim(3)).i(w.dim(0)).i(w.dim(2)).i(stride).i(pad).i(dy.dim(2))
                        .i(dy.dim(3)).kernel("conv_rows_backward_data", n, ROW_GROUP).run();
            }
            return;
        }
        if (stride == 1) {
            try (Launch l = new Launch(dy.dtype())) {
                l.in(dy).in(w).out(dx).i(dx.dim(1)).i(dx.dim(2)).i(dx.dim(3)).i(w.dim(0)).i(w.dim(2)).i(pad).i(dy.dim(2)).i(dy.dim(3))
                        .tiled("conv_gemm_backward_data", (long) dx.dim(2) * dx.dim(3), dx.dim(1), dx.dim(0)).run();
            }
            return;
        }
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).in(w).out(dx).l(dx.numel()).i(dx.dim(1)).i(dx.dim(2)).i(dx.dim(3)).i(w.dim(0)).i(w.dim(2)).i(stride).i(pad)
                    .i(dy.dim(2)).i(dy.dim(3)).kernel("conv_backward_data", dx.numel()).run();
        }
    }

    @Override
    public void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        if (shape == Shape.GEMM) {
            convBackwardWeightGemm(x, dy, stride, pad, dw);
            return;
        }
        if (shape == Shape.ROWS) {
            long n = (long) Math.ceilDiv(dw.dim(0), ROW_C) * dw.dim(1) * dw.dim(2) * dw.dim(3);
            try (Launch l = new Launch(x.dtype())) {
                l.in(x).in(dy).out(dw).l(n).i(x.dim(0)).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(dw.dim(0)).i(dw.dim(2)).i(stride)
                        .i(pad).i(dy.dim(2)).i(dy.dim(3)).kernel("conv_rows_backward_weight", n, 1).run();
            }
            return;
        }
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dw).l(dw.numel()).i(x.dim(0)).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(dw.dim(0)).i(dw.dim(2)).i(stride)
                    .i(pad).i(dy.dim(2)).i(dy.dim(3)).kernel("conv_backward_weight", dw.numel()).run();
        }
    }

    @Override
    public void sync() {
        finish();
    }

    /** Batch-norm statistics stay on the device, in the activations' precision (what the kernels compute and read). */
    @Override
    public DType statsType(DType t) {
        return t;
    }

    @Override
    public void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean, Tensor invStd) {
        int c = x.dim(1);
        long hw = x.numel() / ((long) x.dim(0) * c);
        int e = x.dtype().bytes;
        boolean onDevice = mean.dtype() == x.dtype() && invStd.dtype() == x.dtype();
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(x.dtype())) {
            MemorySegment m = onDevice ? null : arena.allocate((long) c * e), s = onDevice ? null : arena.allocate((long) c * e);
            // buffers 0-6: x, mean, invstd, gamma, beta, scale, shift
            l.in(x);
            if (onDevice) l.out(mean).out(invStd);
            else l.scratch(c, e, m).scratch(c, e, s);
            l.in(gamma).in(beta).scratch(c, e, null).scratch(c, e, null).l(c).i(x.dim(0)).l(hw).r(eps);
            if (shape == Shape.ROWS) l.kernel("bn_stats_rows", Math.ceilDiv(c, ROW_C), 1);
            else if (groupReductions()) l.tiled("bn_stats_groups", TILE, TILE, c);
            else l.kernel("bn_stats", c);
            long planes = (long) x.dim(0) * c;
            if (shape == Shape.ROWS) l.buffer(0).out(y).buffer(5).buffer(6).l(planes).i(c).l(hw).kernel("bn_apply_rows", planes, ROW_GROUP).run();
            else l.buffer(0).out(y).buffer(5).buffer(6).l(y.numel()).i(c).l(hw).kernel("bn_apply", y.numel()).run();
            if (!onDevice) { // statistics asked for in another precision: through the host
                for (int i = 0; i < c; i++) {
                    mean.set(i, x.dtype() == DType.F32 ? m.getAtIndex(ValueLayout.JAVA_FLOAT, i) : m.getAtIndex(ValueLayout.JAVA_DOUBLE, i));
                    invStd.set(i, x.dtype() == DType.F32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT, i) : s.getAtIndex(ValueLayout.JAVA_DOUBLE, i));
                }
            }
        }
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor mean, Tensor invStd, Tensor dx) {
        int c = x.dim(1);
        long hw = x.numel() / ((long) x.dim(0) * c);
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(x.dtype())) {
            // buffers 0, 1, 2, 3: x, dy, mean, the per-channel sums
            l.in(x).in(dy).stats(mean, arena).scratch(2L * c, x.dtype().bytes, null).l(c).i(x.dim(0)).l(hw);
            if (shape == Shape.ROWS) l.kernel("bn_backward_reduce_rows", Math.ceilDiv(c, ROW_C), 1);
            else if (groupReductions()) l.tiled("bn_backward_reduce_groups", TILE, TILE, c);
            else l.kernel("bn_backward_reduce", c);
            l.buffer(0).buffer(1).out(dx).buffer(2).stats(invStd, arena).in(gamma).buffer(3);
            long planes = (long) x.dim(0) * c;
            if (shape == Shape.ROWS) l.l(planes).i(c).l(hw).l((long) x.dim(0) * hw).kernel("bn_backward_apply_rows", planes, ROW_GROUP).run();
            else l.l(dx.numel()).i(c).l(hw).l((long) x.dim(0) * hw).kernel("bn_backward_apply", dx.numel()).run();
        }
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(x.numel()).kernel("relu_forward", x.numel()).run();
        }
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dx).l(x.numel()).kernel("relu_backward", x.numel()).run();
        }
    }

    @Override
    public void avgPoolForward(Tensor x, int k, int stride, int pad, boolean countIncludePad, Tensor y) {
        if (rowsFit(stride, k)) {
            long n = (long) y.dim(0) * y.dim(1) * y.dim(2) * Math.ceilDiv(y.dim(3), ROW_W);
            try (Launch l = new Launch(x.dtype())) {
                l.in(x).out(y).l(n).i(x.dim(2)).i(x.dim(3)).i(k).i(stride).i(pad).i(countIncludePad ? 1 : 0).i(y.dim(2)).i(y.dim(3))
                        .kernel("avgpool_rows_forward", n, ROW_GROUP).run();
            }
            return;
        }
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(y.numel()).i(x.dim(2)).i(x.dim(3)).i(k).i(stride).i(pad).i(countIncludePad ? 1 : 0).i(y.dim(2)).i(y.dim(3))
                    .kernel("avgpool_forward", y.numel()).run();
        }
    }

    @Override
    public void avgPoolBackward(Tensor dy, int k, int stride, int pad, boolean countIncludePad, Tensor dx) {
        if (rowsFitGather(k)) {
            long n = (long) dx.dim(0) * dx.dim(1) * dx.dim(2) * Math.ceilDiv(dx.dim(3), ROW_W);
            try (Launch l = new Launch(dy.dtype())) {
                l.in(dy).out(dx).l(n).i(dx.dim(2)).i(dx.dim(3)).i(k).i(stride).i(pad).i(countIncludePad ? 1 : 0).i(dy.dim(2))
                        .i(dy.dim(3)).kernel("avgpool_rows_backward", n, ROW_GROUP).run();
            }
            return;
        }
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).out(dx).l(dx.numel()).i(dx.dim(2)).i(dx.dim(3)).i(k).i(stride).i(pad).i(countIncludePad ? 1 : 0).i(dy.dim(2))
                    .i(dy.dim(3)).kernel("avgpool_backward", dx.numel()).run();
        }
    }

    @Override
    public void maxPoolForward(Tensor x, int k, int stride, int pad, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(y.numel()).i(x.dim(2)).i(x.dim(3)).i(k).i(stride).i(pad).i(y.dim(2)).i(y.dim(3))
                    .kernel("maxpool_forward", y.numel()).run();
        }
    }

    @Override
    public void maxPoolBackward(Tensor x, Tensor dy, int k, int stride, int pad, Tensor dx) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dx).l(dx.numel()).i(x.dim(2)).i(x.dim(3)).i(k).i(stride).i(pad).i(dy.dim(2)).i(dy.dim(3))
                    .kernel("maxpool_backward", dx.numel()).run();
        }
    }

    @Override
    public void channelCopy(Tensor src, int srcChannel, Tensor dst, int dstChannel, int channels) {
        long hw = (long) src.dim(2) * src.dim(3), n = src.dim(0) * channels * hw;
        if (n == 0) return;
        try (Launch l = new Launch(src.dtype())) {
            l.in(src).out(dst).l(n).i(src.dim(1)).i(srcChannel).i(dst.dim(1)).i(dstChannel).i(channels).l(hw).kernel("channel_copy", n).run();
        }
    }

    @Override
    public void depthwiseForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(w).out(y).l(y.numel()).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(w.dim(2)).i(stride).i(pad).i(y.dim(2)).i(y.dim(3))
                    .kernel("depthwise_forward", y.numel()).run();
        }
    }

    @Override
    public void depthwiseBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).in(w).out(dx).l(dx.numel()).i(dx.dim(1)).i(dx.dim(2)).i(dx.dim(3)).i(w.dim(2)).i(stride).i(pad).i(dy.dim(2)).i(dy.dim(3))
                    .kernel("depthwise_backward_data", dx.numel()).run();
        }
    }

    @Override
    public void depthwiseBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dw).l(dw.numel()).i(x.dim(0)).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(dw.dim(2)).i(stride).i(pad).i(dy.dim(2))
                    .i(dy.dim(3)).kernel("depthwise_backward_weight", dw.numel()).run();
        }
    }

    @Override
    public void resizeForward(Tensor x, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(y.numel()).i(x.dim(2)).i(x.dim(3)).i(y.dim(2)).i(y.dim(3)).kernel("resize_forward", y.numel()).run();
        }
    }

    @Override
    public void resizeBackward(Tensor dy, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).out(dx).l(dx.numel()).i(dx.dim(2)).i(dx.dim(3)).i(dy.dim(2)).i(dy.dim(3)).kernel("resize_backward", dx.numel()).run();
        }
    }

    @Override
    public void resizeNearestForward(Tensor x, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(y.numel()).i(x.dim(2)).i(x.dim(3)).i(y.dim(2)).i(y.dim(3)).kernel("resize_nearest_forward", y.numel()).run();
        }
    }

    @Override
    public void resizeNearestBackward(Tensor dy, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).out(dx).l(dx.numel()).i(dx.dim(2)).i(dx.dim(3)).i(dy.dim(2)).i(dy.dim(3)).kernel("resize_nearest_backward", dx.numel()).run();
        }
    }

    @Override
    public void sigmoid(Tensor x, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(x.numel()).kernel("sigmoid_forward", x.numel()).run();
        }
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        try (Launch l = new Launch(y.dtype())) {
            l.in(y).in(dy).out(dx).l(y.numel()).kernel("sigmoid_backward", y.numel()).run();
        }
    }

    @Override
    public void channelScale(Tensor x, Tensor s, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(s).out(y).l(x.numel()).l(x.numel() / s.numel()).kernel("channel_scale", x.numel()).run();
        }
    }

    @Override
    public void channelScaleBackwardScale(Tensor x, Tensor dy, Tensor ds) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(ds).l(ds.numel()).l(x.numel() / ds.numel()).kernel("channel_scale_backward", ds.numel()).run();
        }
    }

    @Override
    public void biasAdd(Tensor x, Tensor bias, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(bias).out(y).l(x.numel()).i(x.dim(1)).l(x.numel() / ((long) x.dim(0) * x.dim(1))).kernel("bias_add", x.numel()).run();
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        try (Launch l = new Launch(a.dtype())) {
            l.in(a).in(b).out(out).l(a.numel()).kernel("add", a.numel()).run();
        }
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        try (Launch l = new Launch(a.dtype())) {
            l.in(a).in(b).out(out).l(a.numel()).kernel("mul", a.numel()).run();
        }
    }

    @Override
    public void pointwise(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).i(kind.ordinal()).r(a).r(b).l(x.numel()).kernel("pointwise_forward", x.numel()).run();
        }
    }

    @Override
    public void pointwiseBackward(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor dy, Tensor dx) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dx).i(kind.ordinal()).r(a).r(b).l(x.numel()).kernel("pointwise_backward", x.numel()).run();
        }
    }

    @Override
    public void clip(Tensor x, double lo, double hi, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).r(lo).r(hi).l(x.numel()).kernel("clip_forward", x.numel()).run();
        }
    }

    @Override
    public void clipBackward(Tensor y, double lo, double hi, Tensor dy, Tensor dx) {
        try (Launch l = new Launch(y.dtype())) {
            l.in(y).in(dy).out(dx).r(lo).r(hi).l(y.numel()).kernel("clip_backward", y.numel()).run();
        }
    }

    @Override
    public void scale(Tensor x, double s, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).r(s).l(x.numel()).kernel("scale", x.numel()).run();
        }
    }

    @Override
    public void globalAvgPoolForward(Tensor x, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(y.numel()).l(x.numel() / y.numel()).kernel("global_avgpool_forward", y.numel()).run();
        }
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).out(dx).l(dx.numel()).l(dx.numel() / dy.numel()).kernel("global_avgpool_backward", dx.numel()).run();
        }
    }

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(w).in(b).out(y).l(y.numel()).i(w.dim(1)).i(w.dim(0)).kernel("linear_forward", y.numel()).run();
        }
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).in(w).out(dx).l(dx.numel()).i(w.dim(1)).i(w.dim(0)).kernel("linear_backward_data", dx.numel()).run();
        }
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dw).l(dw.numel()).i(x.dim(0)).i(dw.dim(1)).i(dw.dim(0)).kernel("linear_backward_weight", dw.numel()).run();
        }
    }

    /** Launches the row statistics of a [rows, d] response (the launch holds the response, the means and the flags), per row or by blocks of rows. */
    private Launch rowStats(Launch l, int rows) {
        if (shape == Shape.ROWS) return l.kernel("row_stats_rows", Math.ceilDiv(rows, ROW_C), 1);
        return groupReductions() ? l.tiled("row_stats_groups", TILE, TILE, rows) : l.kernel("row_stats", rows);
    }

    /**
     * Whether the long reductions (batch-norm statistics and gradient sums, the responses' row
     * means) run as a work group per channel or row (the *_groups kernels): in the GEMM shape, on a
     * device with float64, where their float64 sums round to the per-channel kernels' results but
     * for ties. Elsewhere a channel's sum is one item's compensated chain.
     */
    private boolean groupReductions() {
        return shape == Shape.GEMM && accum == DType.F64;
    }

    /** Response values per partial Gram matrix in the GEMM shape: enough products in flight for a GPU, each sum short. */
    static final int GRAM_CHUNK = 1024;

    /**
     * Launches the centred Gram matrix of a [rows, d] response into a new scratch buffer, the
     * launch's buffer 3 (buffers 0 and 1 hold the response and its row means; {@code download}, if
     * not null, receives the matrix): tiled, by rows, or in the GEMM shape as the centred rows'
     * products with themselves over chunks of GRAM_CHUNK values, summed in order (sum_parts, which
     * also makes the matrix exactly symmetric).
     */
    private void gram(Launch l, int rows, long d, int elemBytes, MemorySegment download) {
        l.scratch((long) rows * rows, elemBytes, download).drop(); // buffer 3
        if (shape == Shape.GEMM && d <= Integer.MAX_VALUE) {
            long n = rows * d;
            l.scratch(n, elemBytes, null).drop(); // buffer 4: the centred rows
            l.buffer(0).buffer(1).buffer(4).l(n).l(d).kernel("centre_rows", n);
            long full = d / GRAM_CHUNK, rest = d % GRAM_CHUNK, chunks = full + (rest > 0 ? 1 : 0);
            l.scratch(chunks * rows * rows, elemBytes, null).drop(); // buffer 5: the partial matrices
            long centred = l.handle(4), parts = l.handle(5), rr = (long) rows * rows;
            l.gemm(Gemm.rowMajor(false, true, rows, rows, GRAM_CHUNK, op(centred, 0, d, GRAM_CHUNK), op(centred, 0, d, GRAM_CHUNK),
                    op(parts, 0, rows, rr), (int) full, false));
            if (rest > 0) {
                l.gemm(Gemm.rowMajor(false, true, rows, rows, (int) rest, op(centred, full * GRAM_CHUNK, d, 0), op(centred, full * GRAM_CHUNK, d, 0),
                        op(parts, full * rr, rows, 0), 1, false));
            }
            l.buffer(5).buffer(3).l(rr).i((int) chunks).i(0).i(rows).kernel("sum_parts", rr);
            return;
        }
        l.buffer(0).buffer(1).buffer(3);
        if (shape == Shape.ROWS) {
            long n = (long) Math.ceilDiv(rows, ROW_C) * Math.ceilDiv(rows, ROW_W);
            l.l(n).i(rows).l(d).kernel("centred_gram_rows", n, 1); // a few items, each large: one per group balances them
        } else {
            l.i(rows).l(d).tiled("centred_gram", rows, rows, 1);
        }
    }

    /** Row statistics and the centred Gram matrix on the device; only the B x B matrix and B flags come back. */
    @Override
    public double[] corrcoef(Tensor r) {
        int b = r.dim(0);
        long d = r.rowSize();
        DType t = r.dtype();
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(t)) {
            MemorySegment flags = arena.allocate(4L * b), gram = arena.allocate((long) b * b * t.bytes);
            // buffers 0, 1: the response, its row means
            l.in(r).scratch(b, t.bytes, null).scratch(b, 4, flags).l(b).l(d);
            rowStats(l, b);
            gram(l, b, d, t.bytes, gram);
            l.run();
            for (int i = 0; i < b; i++) if (flags.getAtIndex(ValueLayout.JAVA_INT, i) != 0) return null;
            double[] cov = new double[b * b];
            for (int i = 0; i < cov.length; i++) {
                cov[i] = t == DType.F32 ? gram.getAtIndex(ValueLayout.JAVA_FLOAT, i) : gram.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            }
            return Correlation.normalise(cov, b);
        }
    }

    @Override
    public void crossEntropyGrad(Tensor logits, int[] labels, Tensor grad) {
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(logits.dtype())) {
            l.in(logits).in(labels, arena).out(grad).l(logits.dim(0)).i(logits.dim(1)).kernel("cross_entropy_grad", logits.dim(0)).run();
        }
    }

    /** A kept or new device buffer of {@code bytes}, set to the start of {@code zeros}. */
    private long zeroed(MemorySegment zeros, long bytes) {
        long b = takeScratch(bytes);
        if (bytes > 0) write(b, zeros.asSlice(0, bytes));
        bytesIn += bytes;
        return b;
    }

    /** K matrices, counts and the per-response work all on the device; K and the counts are read once. */
    @Override
    public Correlator correlator(int batch, int accumulators) {
        long kBytes = (long) accumulators * batch * batch * accum.bytes;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment zeros = arena.allocate(Math.max(kBytes, 4L * accumulators));
            long k = zeroed(zeros, kBytes), used = zeroed(zeros, 4L * accumulators), skipped = zeroed(zeros, 4L * accumulators);
            return new Correlator() {
                double[][] kernels;
                int[] usedCounts, skippedCounts;

                @Override
                public void add(Tensor response, double[] weights, int[] counts) {
                    int b = response.dim(0);
                    long d = response.rowSize();
                    DType t = response.dtype();
                    try (Arena a = Arena.ofConfined(); Launch l = new Launch(t)) {
                        // buffers 0, 1, 2, 3: the response, its row means, the constant-row flags, the Gram matrix
                        l.in(response).scratch(b, t.bytes, null).scratch(b, 4, null).l(b).l(d);
                        rowStats(l, b);
                        gram(l, b, d, t.bytes, null);
                        l.buffer(3).buffer(2).mem(k).in(weights, accum, a).in(counts, a).mem(used).mem(skipped)
                                .l((long) accumulators * b * b).i(b).kernel("accumulate_abs_corr", (long) accumulators * b * b).run();
                    }
                }

                /** Responses that are exactly zero never reach the device: the host counts them. */
                final int[] zeroSkipped = new int[accumulators];

                @Override
                public void addZero(int[] counts) {
                    for (int i = 0; i < accumulators; i++) zeroSkipped[i] += counts[i];
                }

                private void fetch() {
                    if (kernels != null) return;
                    if (accumulators == 0) {
                        kernels = new double[0][];
                        usedCounts = new int[0];
                        skippedCounts = new int[0];
                        return;
                    }
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment kh = a.allocate(Math.max(1, kBytes)), uh = a.allocate(4L * accumulators), sh = a.allocate(4L * accumulators);
                        finish();
                        read(k, kh);
                        read(used, uh);
                        read(skipped, sh);
                        bytesOut += kBytes + 8L * accumulators;
                        kernels = new double[accumulators][batch * batch];
                        usedCounts = new int[accumulators];
                        skippedCounts = new int[accumulators];
                        for (int i = 0; i < accumulators; i++) {
                            usedCounts[i] = uh.getAtIndex(ValueLayout.JAVA_INT, i);
                            skippedCounts[i] = sh.getAtIndex(ValueLayout.JAVA_INT, i) + zeroSkipped[i];
                            for (int j = 0; j < batch * batch; j++) {
                                long at = (long) i * batch * batch + j;
                                kernels[i][j] = accum == DType.F64 ? kh.getAtIndex(ValueLayout.JAVA_DOUBLE, at) : kh.getAtIndex(ValueLayout.JAVA_FLOAT, at);
                            }
                        }
                    }
                }

                @Override
                public double[][] kernels() {
                    fetch();
                    return kernels;
                }

                @Override
                public int[] used() {
                    fetch();
                    return usedCounts;
                }

                @Override
                public int[] skipped() {
                    fetch();
                    return skippedCounts;
                }

                @Override
                public void close() {
                    giveScratch(k);
                    giveScratch(used);
                    giveScratch(skipped);
                }
            };
        }
    }

}
