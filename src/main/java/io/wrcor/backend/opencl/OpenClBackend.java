package io.wrcor.backend.opencl;

import static org.lwjgl.opencl.CL10.*;

import io.wrcor.backend.KernelBackend;
import io.wrcor.tensor.DType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
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
 * The OpenCL backend, through LWJGL: the kernels of {@code cuda-kernels/} (the same sources nvcc
 * compiles for CUDA) built at start-up, one program per precision, and the device primitives that
 * {@link KernelBackend} runs every op with. On a CPU device such as PoCL this is how CI tests the
 * kernels.
 *
 * <p>Not thread-safe: one engine thread drives it.
 */
public final class OpenClBackend extends KernelBackend implements AutoCloseable {

    private final long context;
    private final long device;
    private final long queue;
    private final String deviceName;
    private final Map<DType, Long> programs = new EnumMap<>(DType.class);
    private final Map<DType, Map<String, Long>> kernels = new EnumMap<>(DType.class);

    /** Thrown when no OpenCL runtime or device can be used; the message says why. */
    public static final class Unavailable extends Exception {
        Unavailable(String reason) {
            super(reason);
        }
    }

    private OpenClBackend(long platform, long device, String deviceName, boolean fp64) throws Unavailable {
        super(fp64);
        this.deviceName = deviceName;
        this.device = device;
        shape(shapeFor(device));
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
                kernels.put(t, createKernels(program));
            }
        }
    }

    /** Every kernel of a built program (kernel objects hold their arguments: each queue needs its own). */
    private static Map<String, Long> createKernels(long program) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            Map<String, Long> ks = new HashMap<>();
            for (String k : KernelBackend.KERNELS) {
                ks.put(k, clCreateKernel(program, k, err));
                check(err.get(0), "clCreateKernel " + k);
            }
            return ks;
        }
    }

    /** A lane: the same context and built programs (retained), its own command queue and kernel objects. */
    private OpenClBackend(OpenClBackend parent) {
        super(parent.accum == DType.F64);
        this.deviceName = parent.deviceName;
        this.device = parent.device;
        shape(parent.shape());
        this.context = parent.context;
        check(clRetainContext(context), "clRetainContext");
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            queue = clCreateCommandQueue(context, device, 0, err);
            check(err.get(0), "clCreateCommandQueue");
            for (var e : parent.programs.entrySet()) {
                check(clRetainProgram(e.getValue()), "clRetainProgram");
                programs.put(e.getKey(), e.getValue());
                kernels.put(e.getKey(), createKernels(e.getValue()));
            }
        }
    }

    @Override
    public OpenClBackend newLane() {
        return new OpenClBackend(this);
    }

    @Override
    public long deviceMemoryBytes() {
        return deviceLong(device, CL_DEVICE_GLOBAL_MEM_SIZE);
    }

    /** The first GPU, else the first device of any kind (WRCOR_OPENCL_DEVICE=i picks the i-th of all devices). */
    public static OpenClBackend open() throws Unavailable {
        String wanted = System.getenv("WRCOR_OPENCL_DEVICE");
        Integer index;
        try {
            index = wanted == null ? null : Integer.parseInt(wanted.trim());
        } catch (NumberFormatException e) {
            throw new Unavailable("WRCOR_OPENCL_DEVICE=" + wanted + " is not a device index");
        }
        return open(index, "WRCOR_OPENCL_DEVICE=" + wanted);
    }

    /** The {@code index}-th of all OpenCL devices (every platform's, in order). */
    public static OpenClBackend open(int index) throws Unavailable {
        return open(index, "device " + index);
    }

    private static OpenClBackend open(Integer index, String asked) throws Unavailable {
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
                if (index != null) {
                    if (index < 0 || index >= all.size()) throw new Unavailable(noSuchDevice(asked, all.size(), "OpenCL"));
                    pick = all.get(index);
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

    /**
     * The convolution kernels' shape for a device: rows on a CPU device (PoCL), tiles otherwise;
     * WRCOR_KERNEL_SHAPE=tiles, rows or gemm overrides it (benchmarks).
     */
    private static Shape shapeFor(long device) throws Unavailable {
        try {
            Shape forced = requestedShape();
            if (forced != null) return forced;
        } catch (IllegalArgumentException bad) {
            throw new Unavailable(bad.getMessage());
        }
        return (deviceLong(device, CL_DEVICE_TYPE) & CL_DEVICE_TYPE_CPU) != 0 ? Shape.ROWS : Shape.TILES;
    }

    /** True when the chosen device is a GPU: then it beats the CPU backend, which a CPU device does not. */
    public boolean isGpu() {
        return deviceName.toLowerCase().matches(".*(nvidia|geforce|tesla|radeon|amd instinct|intel\\(r\\) (uhd|iris|arc)|gpu).*");
    }

    static String source() {
        StringBuilder sb = new StringBuilder(resource("compat.h"));
        for (String s : KernelBackend.SOURCES) sb.append('\n').append(resource(s).replace("#include \"compat.h\"", ""));
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

    // ------------------------------------------------------------------ device primitives

    @Override
    protected boolean hasPrograms(DType t) {
        return kernels.containsKey(t);
    }

    @Override
    protected long createBuffer(MemorySegment host, long bytes) {
        try (MemoryStack stack = MemoryStack.stackPush()) {
            IntBuffer err = stack.mallocInt(1);
            long flags = CL_MEM_READ_WRITE | (host != null ? CL_MEM_COPY_HOST_PTR : 0);
            long b = nclCreateBuffer(context, flags, Math.max(bytes, 1), host != null ? host.address() : 0, MemoryUtil.memAddress(err));
            check(err.get(0), "clCreateBuffer");
            return b;
        }
    }

    @Override
    protected void releaseBuffer(long buffer) {
        clReleaseMemObject(buffer);
    }

    @Override
    protected void read(long buffer, MemorySegment host) {
        if (host.byteSize() == 0) return; // OpenCL rejects empty reads
        check(nclEnqueueReadBuffer(queue, buffer, CL_TRUE, 0, host.byteSize(), host.address(), 0, 0, 0), "clEnqueueReadBuffer");
    }

    @Override
    protected void write(long buffer, MemorySegment host) {
        if (host.byteSize() == 0) return;
        check(nclEnqueueWriteBuffer(queue, buffer, CL_TRUE, 0, host.byteSize(), host.address(), 0, 0, 0), "clEnqueueWriteBuffer");
    }

    @Override
    protected void launchKernel(DType dtype, String name, long n, int group, List<Object> args) {
        long k = setArgs(dtype, name, args);
        if (n > 0) {
            try (MemoryStack stack = MemoryStack.stackPush()) {
                // OpenCL 1.2: the global size a multiple of the group's (the kernels return past n)
                PointerBuffer global = stack.pointers(group > 0 ? (n + group - 1) / group * group : n), local = group > 0 ? stack.pointers(group) : null;
                check(clEnqueueNDRangeKernel(queue, k, 1, null, global, local, null, null), "launch " + name);
            }
        }
    }

    @Override
    protected void launchTiled(DType dtype, String name, long gx, long gy, long gz, List<Object> args) {
        long k = setArgs(dtype, name, args);
        if (gx > 0 && gy > 0 && gz > 0) {
            try (MemoryStack stack = MemoryStack.stackPush()) {
                check(clEnqueueNDRangeKernel(queue, k, 3, null, stack.pointers(gx, gy, gz), stack.pointers(TILE, TILE, 1), null, null),
                        "launch " + name);
            }
        }
    }

    private long setArgs(DType dtype, String name, List<Object> args) {
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
        return k;
    }

    @Override
    protected void finish() {
        check(clFinish(queue), "clFinish");
    }

    @Override
    public void close() {
        releaseTensorBuffers();
        for (Map<String, Long> ks : kernels.values()) for (long k : ks.values()) clReleaseKernel(k);
        for (long p : programs.values()) clReleaseProgram(p);
        clReleaseCommandQueue(queue);
        clReleaseContext(context);
    }
}
