package io.wrcor.backend.cuda;

import static jcuda.driver.JCudaDriver.*;

import io.wrcor.backend.KernelBackend;
import io.wrcor.tensor.DType;
import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.lang.foreign.MemorySegment;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.EnumMap;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import jcuda.CudaException;
import jcuda.Pointer;
import jcuda.driver.CUcontext;
import jcuda.driver.CUdevice;
import jcuda.driver.CUdeviceptr;
import jcuda.driver.CUfunction;
import jcuda.driver.CUmodule;
import jcuda.driver.JCudaDriver;

/**
 * The CUDA backend through JCuda's driver API: the PTX that nvcc built from {@code cuda-kernels/}
 * at build time (the same sources the OpenCL backend compiles), loaded for the device's compute
 * capability, and the device primitives {@link KernelBackend} runs every op with.
 *
 * <p>Convolutions and Gram matrices run in the {@link Shape#GEMM} shape by default: im2col and
 * col2im kernels around batched products that cuBLAS (through FFM, any major version) computes,
 * float32 and float64; WRCOR_KERNEL_SHAPE=tiles runs the tiled kernels instead. Tensors stay in
 * device memory between ops (see {@link KernelBackend}). The device paths are checked by
 * {@code benchmarks/gpu-check.sh} on a GPU server; without a GPU only the host-side paths are
 * tested, and the GEMM shape's kernels and decomposition on OpenCL (gemm_batched standing in for
 * cuBLAS).
 */
public final class CudaBackend extends KernelBackend implements AutoCloseable {
    private static final int BLOCK = 256;

    private final Shared shared;
    private final String deviceName;
    private final Map<Long, DevicePointer> buffers = new HashMap<>();
    private final Cublas cublas;
    private final long cublasHandle;
    private final Stream stream = new Stream();

    /** The context and loaded modules, shared by a backend and its lanes, freed when the last of them closes. */
    private static final class Shared {
        final CUcontext context = new CUcontext();
        final CUdevice device;
        final List<CUmodule> modules = new ArrayList<>();
        final Map<DType, Map<String, CUfunction>> functions = new EnumMap<>(DType.class);
        int users;

        Shared(CUdevice device) {
            this.device = device;
        }

        synchronized void retain() {
            users++;
        }

        synchronized void release() {
            if (--users > 0) return;
            for (CUmodule m : modules) cuModuleUnload(m);
            cuCtxDestroy(context);
        }
    }

    /** A stream whose raw handle cuBLAS (called through FFM) can take. */
    private static final class Stream extends jcuda.driver.CUstream {
        long address() {
            return getNativePointer();
        }
    }

    /** A device allocation whose raw address cuBLAS (called through FFM) can take. */
    private static final class DevicePointer extends CUdeviceptr {
        long address() {
            return getNativePointer();
        }
    }
    private long nextBuffer = 1;

    /** Thrown when CUDA cannot be used here; the message says why. */
    public static final class Unavailable extends Exception {
        Unavailable(String reason) {
            super(reason);
        }
    }

    private CudaBackend(CUdevice device, String deviceName, String ptxTarget, Cublas cublas, Shape shape) {
        super(true);
        this.deviceName = deviceName;
        this.cublas = cublas;
        this.shared = new Shared(device);
        shared.retain();
        cuCtxCreate(shared.context, 0, device);
        for (DType t : DType.values()) {
            Map<String, CUfunction> fs = new HashMap<>();
            for (String source : KernelBackend.SOURCES) {
                CUmodule module = new CUmodule();
                cuModuleLoadData(module, ptx(source.replace(".cu", "") + "-" + (t == DType.F32 ? "f32" : "f64") + "-" + ptxTarget + ".ptx"));
                shared.modules.add(module);
                for (String k : KernelBackend.KERNELS) {
                    CUfunction f = new CUfunction();
                    try {
                        cuModuleGetFunction(f, module, k);
                        fs.put(k, f);
                    } catch (CudaException notInThisModule) {
                        // each kernel lives in one of the sources
                    }
                }
            }
            for (String k : KernelBackend.KERNELS) {
                if (!fs.containsKey(k)) throw new IllegalStateException("kernel " + k + " is missing from the PTX");
            }
            shared.functions.put(t, fs);
        }
        this.cublasHandle = streamAndHandle();
        shape(shape);
    }

    /**
     * A lane: the same context and modules, its own non-blocking stream (so that lanes' kernels
     * overlap; the legacy default stream would serialise them) and its own cuBLAS handle on it.
     */
    private CudaBackend(CudaBackend parent) {
        super(true);
        this.deviceName = parent.deviceName;
        this.cublas = parent.cublas;
        this.shared = parent.shared;
        shared.retain();
        cuCtxSetCurrent(shared.context);
        this.cublasHandle = streamAndHandle();
        shape(parent.shape());
    }

    private long streamAndHandle() {
        cuStreamCreate(stream, jcuda.driver.CUstream_flags.CU_STREAM_NON_BLOCKING);
        long h = cublas.createHandle();
        cublas.setStream(h, stream.address());
        return h;
    }

    @Override
    public CudaBackend newLane() {
        return new CudaBackend(this);
    }

    /** The driver API works on the calling thread's current context: an engine thread makes it this one. */
    @Override
    public void attachThread() {
        cuCtxSetCurrent(shared.context);
    }

    @Override
    public long deviceMemoryBytes() {
        long[] bytes = new long[1];
        cuDeviceTotalMem(bytes, shared.device);
        return bytes[0];
    }

    /** The PTX text of a built kernel file (a resource of the jar), null-terminated for the driver. */
    private static byte[] ptx(String name) {
        try (InputStream in = CudaBackend.class.getResourceAsStream("/cuda-kernels/ptx/" + name)) {
            if (in == null) throw new IllegalStateException("cuda-kernels/ptx/" + name + " is missing");
            byte[] text = in.readAllBytes();
            byte[] z = new byte[text.length + 1];
            System.arraycopy(text, 0, z, 0, text.length);
            return z;
        } catch (IOException e) {
            throw new UncheckedIOException(e);
        }
    }

    /** Whether this build carries PTX (it does when nvcc was present at build time). */
    public static boolean builtWithPtx() {
        return CudaBackend.class.getResource("/cuda-kernels/ptx/nn-f32-compute_80.ptx") != null;
    }

    /** The first CUDA device (WRCOR_CUDA_DEVICE=i picks another). */
    public static CudaBackend open() throws Unavailable {
        String wanted = System.getenv("WRCOR_CUDA_DEVICE");
        int index;
        try {
            index = wanted == null ? 0 : Integer.parseInt(wanted.trim());
        } catch (NumberFormatException e) {
            throw new Unavailable("WRCOR_CUDA_DEVICE=" + wanted + " is not a device index");
        }
        return open(index, "WRCOR_CUDA_DEVICE=" + index);
    }

    /** CUDA device {@code index} (of cuDeviceGetCount's numbering: a GPU scheduler's address). */
    public static CudaBackend open(int index) throws Unavailable {
        return open(index, "device " + index);
    }

    private static CudaBackend open(int index, String asked) throws Unavailable {
        if (!builtWithPtx()) throw new Unavailable("built without nvcc");
        try {
            JCudaDriver.setExceptionsEnabled(true);
            cuInit(0);
            int[] count = new int[1];
            cuDeviceGetCount(count);
            if (count[0] == 0) throw new Unavailable("no CUDA device");
            if (index < 0 || index >= count[0]) throw new Unavailable(noSuchDevice(asked, count[0], "CUDA"));
            CUdevice device = new CUdevice();
            cuDeviceGet(device, index);
            byte[] name = new byte[256];
            cuDeviceGetName(name, name.length, device);
            int[] major = new int[1], minor = new int[1];
            cuDeviceGetAttribute(major, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR, device);
            cuDeviceGetAttribute(minor, jcuda.driver.CUdevice_attribute.CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR, device);
            if (major[0] < 8) {
                throw new Unavailable("device compute capability " + major[0] + "." + minor[0] + " is below 8.0, the oldest PTX target built");
            }
            String deviceName = new String(name, StandardCharsets.US_ASCII).trim().replace("\0", "") + ", cc " + major[0] + "." + minor[0];
            Shape shape;
            try {
                shape = requestedShape();
            } catch (IllegalArgumentException bad) {
                throw new Unavailable(bad.getMessage());
            }
            return new CudaBackend(device, deviceName, major[0] >= 9 ? "compute_90" : "compute_80", Cublas.load(),
                    shape == null ? Shape.GEMM : shape);
        } catch (Unavailable u) {
            throw u;
        } catch (LinkageError e) {
            throw new Unavailable("no CUDA driver (" + firstLine(e) + ")");
        } catch (CudaException e) {
            throw new Unavailable("CUDA error: " + firstLine(e));
        }
    }

    private static String firstLine(Throwable e) {
        String m = e.getMessage() == null ? e.toString() : e.getMessage();
        return m.lines().findFirst().orElse(m);
    }

    @Override
    public String name() {
        return "cuda (" + deviceName + ")";
    }

    @Override
    protected boolean hasPrograms(DType t) {
        return shared.functions.containsKey(t);
    }

    @Override
    protected long createBuffer(MemorySegment host, long bytes) {
        DevicePointer p = new DevicePointer();
        cuMemAlloc(p, Math.max(bytes, 1));
        if (host != null && bytes > 0) cuMemcpyHtoDAsync(p, Pointer.to(host.asSlice(0, bytes).asByteBuffer()), bytes, stream);
        long id = nextBuffer++;
        buffers.put(id, p);
        return id;
    }

    @Override
    protected void releaseBuffer(long buffer) {
        cuMemFree(buffers.remove(buffer));
    }

    @Override
    protected void read(long buffer, MemorySegment host) {
        if (host.byteSize() == 0) return;
        // in this lane's stream order, after its kernels; pageable host memory: complete on return
        cuMemcpyDtoHAsync(Pointer.to(host.asByteBuffer()), buffers.get(buffer), host.byteSize(), stream);
        cuStreamSynchronize(stream);
    }

    @Override
    protected void write(long buffer, MemorySegment host) {
        // staged from pageable memory before the call returns, applied in this lane's stream order
        if (host.byteSize() > 0) cuMemcpyHtoDAsync(buffers.get(buffer), Pointer.to(host.asByteBuffer()), host.byteSize(), stream);
    }

    @Override
    protected void launchKernel(DType t, String name, long n, int group, List<Object> args) {
        if (n <= 0) return;
        int block = group > 0 ? group : BLOCK;
        long blocks = (n + block - 1) / block;
        if (blocks > Integer.MAX_VALUE) throw new IllegalArgumentException(name + " over " + n + " items is too large for one launch");
        cuLaunchKernel(shared.functions.get(t).get(name), (int) blocks, 1, 1, block, 1, 1, 0, stream, Pointer.to(params(t, args)), null);
    }

    @Override
    protected void launchTiled(DType t, String name, long gx, long gy, long gz, List<Object> args) {
        if (gx <= 0 || gy <= 0 || gz <= 0) return;
        if (gx / TILE > Integer.MAX_VALUE || gy / TILE > 65535 || gz > 65535) throw new IllegalArgumentException(name + ": grid too large");
        cuLaunchKernel(shared.functions.get(t).get(name), (int) (gx / TILE), (int) (gy / TILE), (int) gz, TILE, TILE, 1, 0, stream,
                Pointer.to(params(t, args)), null);
    }

    private Pointer[] params(DType t, List<Object> args) {
        Pointer[] params = new Pointer[args.size()];
        for (int a = 0; a < params.length; a++) {
            params[a] = switch (args.get(a)) {
                case Mem m -> Pointer.to(buffers.get(m.handle()));
                case Integer x -> Pointer.to(new int[]{x});
                case Long x -> Pointer.to(new long[]{x});
                case Real x -> t == DType.F32 ? Pointer.to(new float[]{(float) x.v()}) : Pointer.to(new double[]{x.v()});
                default -> throw new IllegalStateException("bad kernel argument " + args.get(a));
            };
        }
        return params;
    }

    @Override
    protected void finish() {
        cuStreamSynchronize(stream);
    }

    /** Products through cuBLAS (float32 and float64), on this lane's stream, in its order with the kernels. */
    @Override
    protected void gemm(DType t, Gemm g) {
        long e = t.bytes;
        cublas.gemmStridedBatched(t == DType.F64, cublasHandle, g.ta(), g.tb(), g.m(), g.n(), g.k(),
                buffers.get(g.a().buffer()).address() + g.a().offset() * e, g.a().ld(), g.a().stride(),
                buffers.get(g.b().buffer()).address() + g.b().offset() * e, g.b().ld(), g.b().stride(),
                buffers.get(g.c().buffer()).address() + g.c().offset() * e, g.c().ld(), g.c().stride(), g.count(), g.accumulate());
    }

    @Override
    public void close() {
        cuCtxSetCurrent(shared.context); // closed from any thread
        releaseTensorBuffers();
        cublas.destroyHandle(cublasHandle);
        for (CUdeviceptr p : buffers.values()) cuMemFree(p);
        buffers.clear();
        cuStreamDestroy(stream);
        shared.release();
    }
}
