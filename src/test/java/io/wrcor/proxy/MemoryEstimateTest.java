package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * The memory estimate that refuses impossible batches before anything is allocated: never below
 * the scratch memory a scoring run really takes (or a large candidate could fail deep inside a
 * run), and not so far above it that it refuses batches that fit.
 */
class MemoryEstimateTest {
    static final List<List<Proxy>> MBV2_SETS = List.of(Proxy.parseList("wrcor"), Proxy.parseList("synflow,jacob_cor,wrcor"),
            Proxy.parseList("snip,grad_norm,wrcor_relu_only"), Proxy.parseList("zico,swap"), Proxy.parseList("meco"), Proxy.parseList("meco,grad_cor"));

    @Test
    void theEstimateBoundsTheMeasuredPeakFromAboveAndClosely() {
        assertEstimateBounds("mbv2", 16, MBV2_SETS, 2);
    }

    /** Four more sampled networks (the exhaustive suite). */
    @Test
    @org.junit.jupiter.api.Tag("exhaustive")
    void theEstimateBoundsTheMeasuredPeakOnMoreNetworks() {
        assertEstimateBounds("mbv2", 16, MBV2_SETS, 6);
    }

    @Test
    void theEstimateBoundsTheAzNasPullBacksOnNb201() {
        assertEstimateBounds("nb201", 32, List.of(Proxy.parseList("az_expressivity,az_trainability"), Proxy.parseList("zico,swap,az_trainability,grad_cor")), 4);
    }

    @Test
    void theEstimateBoundsVkdnwsEvalModePasses() {
        assertEstimateBounds("nb201", 32, List.of(Proxy.parseList("vkdnw_entropy"), Proxy.parseList("vkdnw,naswot"), Proxy.parseList("vkdnw,grad_cor")), 2);
    }

    /** The first {@code networks} of a seeded sample of the space (the same ones in every run). */
    private static void assertEstimateBounds(String spaceName, int batchSize, List<List<Proxy>> sets, int networks) {
        SearchSpace space = SearchSpaces.get(spaceName);
        NetSize size = space.defaultSize();
        SplittableRandom rnd = new SplittableRandom(7);
        try (Arena arena = Arena.ofShared(); FastCpuBackend cpu = new FastCpuBackend(2); Engine engine = new Engine(cpu, space, size)) {
            Batch batch = Cifar10.synthetic(batchSize, size.classes(), size.imageSize(), 1, arena);
            for (int i = 0; i < networks; i++) {
                Arch arch = space.sample(rnd);
                for (List<Proxy> set : sets) {
                    engine.takePeakScratchBytes();
                    engine.score(arch, 0, batch, set);
                    long measured = engine.takePeakScratchBytes();
                    long estimate = Engine.scratchNeeded(space.build(arch, size, true), batchSize, set);
                    double ratio = (double) estimate / measured;
                    System.out.printf("%s  %s: estimate %.1f MB, measured %.1f MB, ratio %.2f%n", arch, set, estimate / 1e6, measured / 1e6, ratio);
                    assertTrue(ratio >= 1.0, "estimate " + estimate + " below the measured peak " + measured + " for " + set + " on " + arch);
                    assertTrue(ratio <= 1.8, "estimate " + estimate + " more than 1.8x the measured peak " + measured + " for " + set + " on " + arch);
                }
            }
        }
    }
}
