package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.wrcor.Engine;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.mbv2.Mbv2Space;
import io.wrcor.space.nb101.Nb101Space;
import io.wrcor.space.nb201.Nb201Space;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * The fast CPU backend gives the same bits with any number of threads: every cut of a reduction
 * (Gram products, weight gradients, a few samples' GEMMs, the classifier) is made by the problem's
 * size, never by the thread count, because OpenBLAS's sums depend on a GEMM's shape. So a row that a
 * cluster's one-core task stores equals the one a two-thread laptop run stores under the same run
 * key. Every proxy of each space, a batch that takes the per-sample paths and one that takes the
 * few-samples path, one to five threads.
 */
class ThreadCountTest {
    @ParameterizedTest
    @CsvSource({"nb201,8,1,16,3,12", "nb201,8,1,16,2,3", "nb101,16,1,16,2,12", "nb101,16,1,16,1,3", "mbv2,8,1,32,2,8", "mbv2,8,1,32,1,3"})
    void everyProxyHasTheSameBitsWithOneToFiveThreads(String spaceName, int channels, int cells, int image, int archs, int batchSize) {
        SearchSpace space = switch (spaceName) {
            case "nb201" -> Nb201Space.INSTANCE;
            case "nb101" -> Nb101Space.INSTANCE;
            default -> Mbv2Space.INSTANCE;
        };
        NetSize net = new NetSize(channels, cells, 10, image);
        List<Proxy> proxies = new ArrayList<>(space.defaultProxies());
        proxies.add(Proxy.VKDNW_ENTROPY);
        if (batchSize < 4) proxies.remove(Proxy.ZICO); // its two half-batches need at least 4
        SplittableRandom rnd = new SplittableRandom(27);
        int[] threadCounts = {1, 2, 3, 5};
        try (Arena a = Arena.ofShared()) {
            Batch batch = Cifar10.synthetic(batchSize, 10, image, 7, a);
            List<FastCpuBackend> backends = new ArrayList<>();
            List<Engine> engines = new ArrayList<>();
            try {
                for (int t : threadCounts) {
                    FastCpuBackend b = new FastCpuBackend(t);
                    backends.add(b);
                    engines.add(new Engine(b, space, net));
                }
                for (int i = 0; i < archs; i++) {
                    Arch arch = space.sample(rnd);
                    long seed = rnd.nextLong();
                    Scorer.Result one = engines.getFirst().score(arch, seed, batch, proxies);
                    for (int e = 1; e < engines.size(); e++) {
                        Scorer.Result r = engines.get(e).score(arch, seed, batch, proxies);
                        for (Proxy p : proxies) {
                            assertEquals(Double.doubleToLongBits(one.score(p)), Double.doubleToLongBits(r.score(p)),
                                    spaceName + " batch " + batchSize + " " + arch + " " + p.label + ": " + one.score(p) + " with 1 thread, "
                                            + r.score(p) + " with " + threadCounts[e]);
                        }
                    }
                }
            } finally {
                for (Engine e : engines) e.close();
                for (FastCpuBackend b : backends) b.close();
            }
        }
    }
}
