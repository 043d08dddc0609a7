package io.wrcor.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.opencl.OpenClBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.NetSize;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Space;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * Tensors stay on the device between ops (OpenCL; PoCL in CI): a whole architecture sends only
 * weights and a few small per-op buffers, and receives only the K matrix and counts; host reads and
 * writes of a device-held tensor move its value exactly when needed.
 */
class DeviceResidencyTest {
    OpenClBackend cl;

    @BeforeEach
    void requireOpenCl() {
        cl = OpenClDevice.require();
    }

    /**
     * The bound for a whole NB201 architecture scored with wrcor at batch 64: bytes in at
     * most its weights plus a few KB, bytes out at most the K matrix plus its counts and a few KB;
     * no activation (the smallest is 64 x 16 x 32 x 32 floats, 4 MB) crosses either way.
     */
    @Test
    void aWholeArchitectureSendsWeightsAndReceivesOnlyK() {
        NetSize size = Nb201Space.INSTANCE.defaultSize();
        Nb201Arch first = Nb201Space.INSTANCE.parse("|nor_conv_1x1~0|+|skip_connect~0|avg_pool_3x3~1|+|none~0|nor_conv_1x1~1|skip_connect~2|");
        Nb201Arch arch = Nb201Space.INSTANCE.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
        try (Arena a = Arena.ofShared(); Engine e = new Engine(cl, Nb201Space.INSTANCE, size)) {
            Batch batch = Cifar10.synthetic(64, 10, size.imageSize(), 1, a);
            e.score(first, 0, batch, List.of(Proxy.WRCOR)); // the input batch goes over once, here
            cl.resetTransfers();
            Scorer.Result r = e.score(arch, 0, batch, List.of(Proxy.WRCOR));
            KernelBackend.Transfers t = cl.transfers();
            Graph g = Nb201Space.INSTANCE.build(arch, size, true);
            long weightBytes = 0;
            for (int[] shape : Weights.required(g).values()) weightBytes += Tensor.numel(shape) * 4;
            long kBytes = 64L * 64 * 8 + 2 * 4;
            System.err.printf("NB201 wrcor on %s: %d bytes in (weights %d), %d bytes out (K and counts %d), %d launches, device peak %.1f MB%n",
                    cl.name(), t.bytesIn(), weightBytes, t.bytesOut(), kBytes, t.launches(), t.deviceBytesPeak() / 1e6);
            assertTrue(Double.isFinite(r.score(Proxy.WRCOR)), "a score");
            // the K accumulator starts as zeros sent over (kBytes): a few KB of the allowance
            assertTrue(t.bytesIn() <= weightBytes + kBytes + 16_384, "bytes in " + t.bytesIn() + " > weights " + weightBytes + " + K + 16 KB");
            assertTrue(t.bytesOut() >= kBytes, "K came back: " + t.bytesOut());
            assertTrue(t.bytesOut() <= kBytes + 4096, "bytes out " + t.bytesOut() + " > K and counts " + kBytes + " + 4 KB");
            assertTrue(t.launches() > 100, "the kernels ran: " + t.launches());
        }
    }

    /**
     * The device memory pool: scoring an architecture again allocates no device buffer (tensors
     * follow the host pool's segments, per-op scratch and the K accumulators come from the
     * backend's kept buffers), in the device's own shape and in the GEMM shape, whose im2col
     * columns and partial products are the largest scratch.
     */
    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = KernelBackend.Shape.class, names = {"ROWS", "GEMM"})
    void aRepeatedArchitectureAllocatesNoDeviceMemory(KernelBackend.Shape shape) {
        NetSize size = new NetSize(8, 1, 10, 16);
        Nb201Arch arch = Nb201Space.INSTANCE.parse("|nor_conv_3x3~0|+|nor_conv_1x1~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_3x3~2|");
        KernelBackend.Shape own = cl.shape();
        cl.shape(shape);
        try (Arena a = Arena.ofShared(); Engine e = new Engine(cl, Nb201Space.INSTANCE, size)) {
            Batch batch = Cifar10.synthetic(16, 10, size.imageSize(), 1, a);
            List<Proxy> proxies = List.of(Proxy.WRCOR, Proxy.SNIP);
            Scorer.Result first = e.score(arch, 0, batch, proxies);
            cl.resetTransfers();
            Scorer.Result again = e.score(arch, 0, batch, proxies);
            KernelBackend.Transfers t = cl.transfers();
            System.err.printf("NB201 C=8 N=1 again on %s, %s shape: %d allocations, %d launches, device peak %.1f MB%n", cl.name(), shape,
                    t.allocations(), t.launches(), t.deviceBytesPeak() / 1e6);
            assertEquals(0, t.allocations(), "device buffers allocated for the second pass of the same architecture");
            assertTrue(t.launches() > 50, "the kernels ran: " + t.launches());
            assertEquals(first.score(Proxy.WRCOR), again.score(Proxy.WRCOR), "the same wrcor from reused buffers");
            assertEquals(first.score(Proxy.SNIP), again.score(Proxy.SNIP), "the same snip from reused buffers");
        } finally {
            cl.shape(own);
        }
    }

    /** A device-held value comes back on a host read, a host write goes over before the next kernel, an undefined scratch tensor never crosses. */
    @Test
    void hostReadsAndWritesMoveTheValueWhenNeeded() {
        try (Arena a = Arena.ofShared(); TensorPool pool = new TensorPool()) {
            Tensor x = Tensor.allocate(a, DType.F32, 1000);
            for (int i = 0; i < 1000; i++) x.set(i, i - 500);
            Tensor y = pool.take(DType.F32, 1000), z = pool.take(DType.F32, 1000);
            cl.resetTransfers();
            cl.relu(x, y); // x goes over (4000 bytes), y is undefined scratch: nothing
            assertEquals(4000, cl.transfers().bytesIn());
            assertEquals(0, cl.transfers().bytesOut());
            cl.add(y, y, z); // all on the device
            assertEquals(4000, cl.transfers().bytesIn());
            assertEquals(0, cl.transfers().bytesOut());
            assertEquals(2 * 499.0, z.get(999)); // comes back once
            assertEquals(0.0, z.get(0));
            assertEquals(4000, cl.transfers().bytesOut());
            x.set(0, 7); // the device copy of x is stale now
            cl.relu(x, y);
            assertEquals(8000, cl.transfers().bytesIn());
            assertEquals(7.0, y.get(0));
            // another backend reads the device's value through the host
            try (FastCpuBackend cpu = new FastCpuBackend(1)) {
                Tensor w = Tensor.allocate(a, DType.F32, 1000);
                cpu.add(y, z, w);
                assertEquals(499.0 + 998.0, w.get(999));
            }
            pool.recycle();
        }
    }
}
