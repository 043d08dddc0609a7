package io.wrcor.backend.opencl;

import static org.lwjgl.opencl.CL10.*;

import io.wrcor.backend.Backend;
import io.wrcor.backend.Correlator;
import io.wrcor.backend.cpu.Correlation;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.IntBuffer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.lwjgl.PointerBuffer;
import org.lwjgl.system.Configuration;
import org.lwjgl.system.MemoryStack;
import org.lwjgl.system.MemoryUtil;

/**
 * The OpenCL backend, through LWJGL: the kernels of {@code cuda-kernels/} (the same sources the CUDA
 * backend compiles with nvcc) built at start-up, one program per precision. Each op copies its
 * inputs to device buffers, runs its kernels and copies its outputs back: simple and correct on any
 * device, and zero-cost on a CPU device such as PoCL, which is how CI tests the kernels. Keeping
 * tensors resident on the device is the CUDA backend's business.
 *
 * <p>Not thread-safe: one engine thread drives it.
 */
public final class OpenClBackend implements Backend, AutoCloseable {
    static final String[] SOURCES = {"nn.cu", "correlation.cu"};
    static final String[] KERNELS = {"conv_forward", "conv_backward_data", "conv_backward_weight", "bn_stats", "bn_apply",
            "bn_backward_reduce", "bn_backward_apply", "relu_forward", "relu_backward", "add", "scale", "avgpool_forward",
            "avgpool_backward", "global_avgpool_forward", "global_avgpool_backward", "linear_forward", "linear_backward_data",
            "linear_backward_weight", "cross_entropy_grad", "row_stats", "centred_gram", "accumulate_abs_corr"};

    private final long context;
    private final long queue;
    private final String deviceName;
    private final Map<DType, Long> programs = new EnumMap<>(DType.class);
    private final Map<DType, Map<String, Long>> kernels = new EnumMap<>(DType.class);
    /** Element type of the K accumulators on the device: float64 where the device has it. */
    private final DType accum;

    /** Thrown when no OpenCL runtime or device can be used; the message says why. */
    public static final class Unavailable extends Exception {
        Unavailable(String reason) {
            super(reason);
        }
    }

    private OpenClBackend(long platform, long device, String deviceName, boolean fp64) throws Unavailable {
        this.deviceName = deviceName;
        this.accum = fp64 ? DType.F64 : DType.F32;
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            PointerBuffer props = stack.mallocPointer(3).put(CL_CONTEXT_PLATFORM).put(platform).put(0).flip();
            context = clCreateContext(props, device, null, 0, err);
            check(err.get(0), "clCreateContext");
            queue = clCreateCommandQueue(context, device, 0, err);
            check(err.get(0), "clCreateCommandQueue");
            String source = source();
            for (DType t : DType.values()) {
                if (t == DType.F64 && !fp64) continue;
                long program = ProgramCache.build(context, device, deviceName + " " + deviceString(device, CL_DRIVER_VERSION), source,
                        "-DREAL_IS_DOUBLE=" + (t == DType.F64 ? 1 : 0) + " -DHAS_FP64=" + (fp64 ? 1 : 0));
                programs.put(t, program);
                Map<String, Long> ks = new HashMap<>();
                for (String k : KERNELS) {
                    ks.put(k, clCreateKernel(program, k, err));
                    check(err.get(0), "clCreateKernel " + k);
                }
                kernels.put(t, ks);
            }
        }
    }

    /** The first GPU, else the first device of any kind (WRCOR_OPENCL_DEVICE=i picks the i-th of all devices). */
    public static OpenClBackend open() throws Unavailable {
        try {
            // the ICD loader's soname: the unversioned libOpenCL.so only comes with the -dev package
            if (Configuration.OPENCL_LIBRARY_NAME.get() == null) Configuration.OPENCL_LIBRARY_NAME.set("libOpenCL.so.1");
            // LWJGL prints its own advice when a library fails to load; the reason goes into Unavailable instead
            if (Configuration.DEBUG_STREAM.get() == null) Configuration.DEBUG_STREAM.set(new java.io.PrintStream(java.io.OutputStream.nullOutputStream()));
            try (MemoryStack stack = MemoryStack.stackPush()) {
                IntBuffer count = stack.mallocInt(1);
                if (clGetPlatformIDs(null, count) != CL_SUCCESS || count.get(0) == 0) throw new Unavailable("no OpenCL platform");
                PointerBuffer platforms = stack.mallocPointer(count.get(0));
                clGetPlatformIDs(platforms, (IntBuffer) null);
                List<long[]> all = new ArrayList<>();
                for (int p = 0; p < platforms.capacity(); p++) {
                    IntBuffer n = stack.mallocInt(1);
                    if (clGetDeviceIDs(platforms.get(p), CL_DEVICE_TYPE_ALL, null, n) != CL_SUCCESS || n.get(0) == 0) continue;
                    PointerBuffer devices = stack.mallocPointer(n.get(0));
                    clGetDeviceIDs(platforms.get(p), CL_DEVICE_TYPE_ALL, devices, (IntBuffer) null);
                    for (int d = 0; d < devices.capacity(); d++) all.add(new long[]{platforms.get(p), devices.get(d)});
                }
                if (all.isEmpty()) throw new Unavailable("no OpenCL device");
                long[] pick = all.getFirst();
                String wanted = System.getenv("WRCOR_OPENCL_DEVICE");
                if (wanted != null) {
                    int i = Integer.parseInt(wanted.trim());
                    if (i < 0 || i >= all.size()) throw new Unavailable("WRCOR_OPENCL_DEVICE=" + i + " but there are " + all.size() + " devices");
                    pick = all.get(i);
                } else {
                    for (long[] pd : all) if ((deviceLong(pd[1], CL_DEVICE_TYPE) & CL_DEVICE_TYPE_GPU) != 0) { pick = pd; break; }
                }
                String name = deviceString(pick[1], CL_DEVICE_NAME).strip();
                boolean fp64 = deviceString(pick[1], CL_DEVICE_EXTENSIONS).contains("cl_khr_fp64");
                return new OpenClBackend(pick[0], pick[1], name, fp64);
            }
        } catch (Unavailable u) {
            throw u;
        } catch (LinkageError | RuntimeException e) {
            throw new Unavailable("no OpenCL runtime (" + (e.getMessage() == null ? e.toString() : e.getMessage().lines().findFirst().orElse("")) + ")");
        }
    }

    /** True when the chosen device is a GPU: then it beats the CPU backend, which a CPU device does not. */
    public boolean isGpu() {
        return deviceName.toLowerCase().matches(".*(nvidia|geforce|tesla|radeon|amd instinct|intel\\(r\\) (uhd|iris|arc)|gpu).*");
    }

    static String source() {
        StringBuilder sb = new StringBuilder(resource("compat.h"));
        for (String s : SOURCES) sb.append('\n').append(resource(s).replace("#include \"compat.h\"", ""));
        return sb.toString();
    }

    private static String resource(String name) {
        try (InputStream in = OpenClBackend.class.getResourceAsStream("/cuda-kernels/" + name)) {
            if (in == null) throw new IllegalStateException("kernel source cuda-kernels/" + name + " is missing from the build");
            return new String(in.readAllBytes(), StandardCharsets.UTF_8);
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    static String deviceString(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            clGetDeviceInfo(device, param, (ByteBuffer) null, size);
            ByteBuffer buf = stack.malloc((int) size.get(0));
            clGetDeviceInfo(device, param, buf, null);
            return MemoryUtil.memUTF8(buf, (int) size.get(0) - 1);
        }
    }

    private static long deviceLong(long device, int param) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            java.nio.LongBuffer v = stack.mallocLong(1);
            clGetDeviceInfo(device, param, v, null);
            return v.get(0);
        }
    }

    static String buildLog(long program, long device) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            PointerBuffer size = stack.mallocPointer(1);
            clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, (ByteBuffer) null, size);
            ByteBuffer buf = MemoryUtil.memAlloc((int) size.get(0));
            try {
                clGetProgramBuildInfo(program, device, CL_PROGRAM_BUILD_LOG, buf, null);
                return MemoryUtil.memUTF8(buf, Math.max(0, (int) size.get(0) - 1)).strip();
            } finally {
                MemoryUtil.memFree(buf);
            }
        }
    }

    static void check(int err, String what) {
        if (err != CL_SUCCESS) throw new IllegalStateException("OpenCL error " + err + " in " + what);
    }

    @Override
    public String name() {
        return "opencl (" + deviceName + ")";
    }

    // ------------------------------------------------------------------ launches

    /**
     * One op's launches: arguments in kernel order; tensors are copied to fresh device buffers (an
     * output's buffer starts as the host tensor's content, so a test can poison it), outputs are
     * copied back and every buffer is released on close.
     */
    private final class Launch implements AutoCloseable {
        private final DType dtype;
        private final List<Long> buffers = new ArrayList<>();
        private final List<Object[]> downloads = new ArrayList<>();
        private final List<Object> args = new ArrayList<>();

        Launch(DType dtype) {
            if (!kernels.containsKey(dtype)) throw new IllegalStateException(deviceName + " has no fp64: cannot run " + dtype + " ops");
            this.dtype = dtype;
        }

        private long buffer(MemorySegment host, long bytes) {
            long b = createBuffer(host, bytes);
            buffers.add(b);
            return b;
        }

        /** A device buffer that outlives this launch (the caller releases it). */
        Launch mem(long handle) {
            args.add(new Mem(handle));
            return this;
        }

        /** Integers, uploaded. */
        Launch in(int[] values, Arena arena) {
            MemorySegment s = arena.allocate(4L * Math.max(1, values.length));
            for (int i = 0; i < values.length; i++) s.setAtIndex(ValueLayout.JAVA_INT, i, values[i]);
            args.add(new Mem(buffer(s, s.byteSize())));
            return this;
        }

        /** A tensor the kernel reads. */
        Launch in(Tensor t) {
            args.add(new Mem(buffer(t.data(), t.data().byteSize())));
            return this;
        }

        /** A tensor the kernel writes, copied back on {@link #run}. */
        Launch out(Tensor t) {
            long b = buffer(t.data(), t.data().byteSize());
            downloads.add(new Object[]{b, t.data()});
            args.add(new Mem(b));
            return this;
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
            args.add(new Mem(buffer(s, s.byteSize())));
            return this;
        }

        /** A device buffer of {@code elems} elements, copied into {@code host} on {@link #run} when host is not null. */
        Launch scratch(long elems, int elemBytes, MemorySegment host) {
            long b = buffer(null, elems * elemBytes);
            if (host != null) downloads.add(new Object[]{b, host});
            args.add(new Mem(b));
            return this;
        }

        /** The {@code index}-th device buffer this launch made (in order of in/out/scratch), passed again. */
        Launch buffer(int index) {
            args.add(new Mem(buffers.get(index)));
            return this;
        }

        Launch i(int v) { args.add(v); return this; }
        Launch l(long v) { args.add(v); return this; }
        Launch r(double v) { args.add(new Real(v)); return this; }

        /** Runs a kernel over n items with the arguments added so far, then clears them (buffers stay). */
        Launch kernel(String name, long n) {
            long k = kernels.get(dtype).get(name);
            for (int a = 0; a < args.size(); a++) {
                Object v = args.get(a);
                int rc = switch (v) {
                    case Mem m -> clSetKernelArg1p(k, a, m.handle());
                    case Integer x -> clSetKernelArg1i(k, a, x);
                    case Long x -> clSetKernelArg1l(k, a, x);
                    case Real x -> dtype == DType.F32 ? clSetKernelArg1f(k, a, (float) x.v()) : clSetKernelArg1d(k, a, x.v());
                    default -> throw new IllegalStateException("bad kernel argument " + v);
                };
                check(rc, "clSetKernelArg " + name + "#" + a);
            }
            if (n > 0) {
                try (MemoryStack stack = MemoryStack.stackPush()) {
                    check(clEnqueueNDRangeKernel(queue, k, 1, null, stack.pointers(n), null, null, null), "launch " + name);
                }
            }
            args.clear();
            return this;
        }

        /** Waits for the kernels and copies the outputs back. */
        void run() {
            check(clFinish(queue), "clFinish");
            for (Object[] d : downloads) read((Long) d[0], (MemorySegment) d[1]);
        }

        @Override
        public void close() {
            for (long b : buffers) clReleaseMemObject(b);
        }
    }

    /** A device buffer, initialised from {@code host} when it is not null. */
    private long createBuffer(MemorySegment host, long bytes) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long flags = CL_MEM_READ_WRITE | (host != null ? CL_MEM_COPY_HOST_PTR : 0);
            long b = nclCreateBuffer(context, flags, Math.max(bytes, 1), host != null ? host.address() : 0, MemoryUtil.memAddress(err));
            check(err.get(0), "clCreateBuffer");
            return b;
        }
    }

    private void read(long buffer, MemorySegment host) {
        check(nclEnqueueReadBuffer(queue, buffer, CL_TRUE, 0, host.byteSize(), host.address(), 0, 0, 0), "clEnqueueReadBuffer");
    }

    private record Mem(long handle) {}

    private record Real(double v) {}

    // ------------------------------------------------------------------ ops

    @Override
    public void convForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(w).out(y).l(y.numel()).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(w.dim(0)).i(w.dim(2)).i(stride).i(pad)
                    .i(y.dim(2)).i(y.dim(3)).kernel("conv_forward", y.numel()).run();
        }
    }

    @Override
    public void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).in(w).out(dx).l(dx.numel()).i(dx.dim(1)).i(dx.dim(2)).i(dx.dim(3)).i(w.dim(0)).i(w.dim(2)).i(stride).i(pad)
                    .i(dy.dim(2)).i(dy.dim(3)).kernel("conv_backward_data", dx.numel()).run();
        }
    }

    @Override
    public void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).in(dy).out(dw).l(dw.numel()).i(x.dim(0)).i(x.dim(1)).i(x.dim(2)).i(x.dim(3)).i(dw.dim(0)).i(dw.dim(2)).i(stride)
                    .i(pad).i(dy.dim(2)).i(dy.dim(3)).kernel("conv_backward_weight", dw.numel()).run();
        }
    }

    @Override
    public void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, double[] mean, double[] invStd) {
        int c = x.dim(1);
        long hw = x.numel() / ((long) x.dim(0) * c);
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(x.dtype())) {
            int e = x.dtype().bytes;
            MemorySegment m = arena.allocate((long) c * e), s = arena.allocate((long) c * e);
            // buffers 0, 1, 2: x, mean, invstd
            l.in(x).scratch(c, e, m).scratch(c, e, s).l(c).i(x.dim(0)).l(hw).r(eps).kernel("bn_stats", c);
            l.buffer(0).out(y).buffer(1).buffer(2).in(gamma).in(beta).l(y.numel()).i(c).l(hw).kernel("bn_apply", y.numel()).run();
            for (int i = 0; i < c; i++) {
                mean[i] = x.dtype() == DType.F32 ? m.getAtIndex(ValueLayout.JAVA_FLOAT, i) : m.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
                invStd[i] = x.dtype() == DType.F32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT, i) : s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
            }
        }
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, double[] mean, double[] invStd, Tensor dx) {
        int c = x.dim(1);
        long hw = x.numel() / ((long) x.dim(0) * c);
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(x.dtype())) {
            // buffers 0, 1, 2, 3: x, dy, mean, the per-channel sums
            l.in(x).in(dy).in(mean, arena).scratch(2L * c, x.dtype().bytes, null).l(c).i(x.dim(0)).l(hw).kernel("bn_backward_reduce", c);
            l.buffer(0).buffer(1).out(dx).buffer(2).in(invStd, arena).in(gamma).buffer(3).l(dx.numel()).i(c).l(hw)
                    .l((long) x.dim(0) * hw).kernel("bn_backward_apply", dx.numel()).run();
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
        try (Launch l = new Launch(x.dtype())) {
            l.in(x).out(y).l(y.numel()).i(x.dim(2)).i(x.dim(3)).i(k).i(stride).i(pad).i(countIncludePad ? 1 : 0).i(y.dim(2)).i(y.dim(3))
                    .kernel("avgpool_forward", y.numel()).run();
        }
    }

    @Override
    public void avgPoolBackward(Tensor dy, int k, int stride, int pad, boolean countIncludePad, Tensor dx) {
        try (Launch l = new Launch(dy.dtype())) {
            l.in(dy).out(dx).l(dx.numel()).i(dx.dim(2)).i(dx.dim(3)).i(k).i(stride).i(pad).i(countIncludePad ? 1 : 0).i(dy.dim(2))
                    .i(dy.dim(3)).kernel("avgpool_backward", dx.numel()).run();
        }
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        try (Launch l = new Launch(a.dtype())) {
            l.in(a).in(b).out(out).l(a.numel()).kernel("add", a.numel()).run();
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

    /** Row statistics and the centred Gram matrix on the device; only the B x B matrix and B flags come back. */
    @Override
    public double[] corrcoef(Tensor r) {
        int b = r.dim(0);
        long d = r.rowSize();
        DType t = r.dtype();
        try (Arena arena = Arena.ofConfined(); Launch l = new Launch(t)) {
            MemorySegment flags = arena.allocate(4L * b), gram = arena.allocate((long) b * b * t.bytes);
            // buffers 0, 1: the response, its row means
            l.in(r).scratch(b, t.bytes, null).scratch(b, 4, flags).l(b).l(d).kernel("row_stats", b);
            l.buffer(0).buffer(1).scratch((long) b * b, t.bytes, gram).l((long) b * b).i(b).l(d).kernel("centred_gram", (long) b * b).run();
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

    /** K matrices, counts and the per-response work all on the device; K and the counts are read once. */
    @Override
    public Correlator correlator(int batch, int accumulators) {
        long kBytes = (long) accumulators * batch * batch * accum.bytes;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment zeros = arena.allocate(Math.max(kBytes, 4L * accumulators));
            long k = createBuffer(zeros, kBytes), used = createBuffer(zeros, 4L * accumulators), skipped = createBuffer(zeros, 4L * accumulators);
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
                        l.in(response).scratch(b, t.bytes, null).scratch(b, 4, null).l(b).l(d).kernel("row_stats", b);
                        l.buffer(0).buffer(1).scratch((long) b * b, t.bytes, null).l((long) b * b).i(b).l(d).kernel("centred_gram", (long) b * b);
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
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment kh = a.allocate(Math.max(1, kBytes)), uh = a.allocate(4L * accumulators), sh = a.allocate(4L * accumulators);
                        check(clFinish(queue), "clFinish");
                        read(k, kh);
                        read(used, uh);
                        read(skipped, sh);
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
                    clReleaseMemObject(k);
                    clReleaseMemObject(used);
                    clReleaseMemObject(skipped);
                }
            };
        }
    }

    @Override
    public void close() {
        for (Map<String, Long> ks : kernels.values()) for (long k : ks.values()) clReleaseKernel(k);
        for (long p : programs.values()) clReleaseProgram(p);
        clReleaseCommandQueue(queue);
        clReleaseContext(context);
    }
}
