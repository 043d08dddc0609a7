package io.wrcor.bench;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.opencl.OpenClBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.proxy.Proxy;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Space;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;

/**
 * Each kernel family, and one whole architecture, on a backend: NAS-Bench-201 stage-1 shapes at
 * batch 64 (activations [64, 16, 32, 32], 3x3 convolution 16 -> 16). Compare backends by the ratio
 * of their scores in one run.
 */
@State(Scope.Benchmark)
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
public class BackendBench {
    /**
     * cpu: OpenBLAS, 2 threads; opencl: the first OpenCL device (PoCL on a CPU machine) with the
     * kernels shaped for it; opencl-tiles (by -p backend=opencl-tiles): the same device running the
     * kernels shaped for a GPU, as the OpenCL backend did on every device until 2026-11-30.
     */
    @Param({"cpu", "opencl"})
    public String backend;

    Backend be;
    Arena arena;
    Tensor x, w3, w1, y, dy, dx, dw3, gamma, beta;
    Tensor mean, invStd;
    Engine engine;
    Batch batch;
    Nb201Arch arch = Nb201Arch.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_1x1~1|skip_connect~2|");

    @Setup(Level.Trial)
    public void setUp() throws Exception {
        be = backend.equals("cpu") ? new FastCpuBackend(2) : OpenClBackend.open();
        if (backend.equals("opencl-tiles")) ((OpenClBackend) be).shape(io.wrcor.backend.KernelBackend.Shape.TILES);
        else if (!backend.equals("cpu") && !backend.equals("opencl")) throw new IllegalArgumentException("backend " + backend + ": cpu, opencl or opencl-tiles");
        arena = Arena.ofShared();
        SplittableRandom rnd = new SplittableRandom(1);
        x = random(rnd, 64, 16, 32, 32);
        dy = random(rnd, 64, 16, 32, 32);
        w3 = random(rnd, 16, 16, 3, 3);
        w1 = random(rnd, 16, 16, 1, 1);
        y = Tensor.allocate(arena, DType.F32, 64, 16, 32, 32);
        dx = Tensor.allocate(arena, DType.F32, 64, 16, 32, 32);
        dw3 = Tensor.allocate(arena, DType.F32, 16, 16, 3, 3);
        gamma = Tensor.allocate(arena, DType.F32, 16);
        gamma.fill(1);
        beta = Tensor.allocate(arena, DType.F32, 16);
        mean = Tensor.allocate(arena, be.statsType(DType.F32), 16);
        invStd = Tensor.allocate(arena, be.statsType(DType.F32), 16);
        be.batchNormForward(x, gamma, beta, 1e-5, y, mean, invStd);
        engine = new Engine(be, Nb201Space.INSTANCE, Nb201Space.INSTANCE.defaultSize());
        batch = Cifar10.synthetic(64, 10, 32, 0, arena);
    }

    private Tensor random(SplittableRandom rnd, int... shape) {
        Tensor t = Tensor.allocate(arena, DType.F32, shape);
        for (long i = 0; i < t.numel(); i++) t.setF(i, (float) rnd.nextGaussian());
        return t;
    }

    @TearDown(Level.Trial)
    public void tearDown() throws Exception {
        engine.close();
        if (be instanceof AutoCloseable c) c.close();
        arena.close();
    }

    @Benchmark
    public void conv3x3Forward() {
        be.convForward(x, w3, 1, 1, y);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public void conv3x3BackwardData() {
        be.convBackwardData(dy, w3, 1, 1, dx);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public void conv3x3BackwardWeight() {
        be.convBackwardWeight(x, dy, 1, 1, dw3);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public void conv1x1Forward() {
        be.convForward(x, w1, 1, 0, y);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public void batchNormForwardBackward() {
        be.batchNormForward(x, gamma, beta, 1e-5, y, mean, invStd);
        be.batchNormBackward(x, dy, gamma, mean, invStd, dx);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public void reluForwardBackward() {
        be.relu(x, y);
        be.reluBackward(x, dy, dx);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public void avgPool3x3ForwardBackward() {
        be.avgPoolForward(x, 3, 1, 1, false, y);
        be.avgPoolBackward(dy, 3, 1, 1, false, dx);
        be.sync(); // a device backend queues its kernels: the op is done when they are
    }

    @Benchmark
    public double[] corrcoef() {
        return be.corrcoef(x);
    }

    /** wrcor of one NAS-Bench-201 architecture (C=16, N=5, batch 64): a whole forward and backward pass. */
    @Benchmark
    public double wholeArchitectureWrcor() {
        return engine.score(arch, 0, batch, List.of(Proxy.WRCOR)).score(Proxy.WRCOR);
    }
}
