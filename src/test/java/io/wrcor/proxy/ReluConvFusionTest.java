package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
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
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * A ReLU whose output only a convolution reads is computed inside that convolution (the executor's
 * relu-conv fusion, the fast CPU backend's reluConvForward and convBackwardDataMasked): every score
 * equals, to the bit, the same backend's with the fusion refused, over random architectures of each
 * space and proxies that read the fused ReLU's input gradient (wrcor), pass through it without
 * reading it (jacob_cor, snip), or read forward values only (naswot, meco). Where every value must be
 * kept (snip's weight gradients) the fusion stays off, and the test says how often it ran.
 */
class ReluConvFusionTest {
    static final List<Proxy> PROXIES = List.of(Proxy.WRCOR, Proxy.WRCOR_RELU_ONLY, Proxy.GRAD_COR, Proxy.JACOB_COR, Proxy.NASWOT, Proxy.MECO,
            Proxy.SNIP, Proxy.SYNFLOW);

    /** The backend with its answer to fusesReluIntoConv replaced by {@code fuse}, counting the fused ops it is asked for. */
    static Backend withFusion(Backend inner, boolean fuse, Map<String, AtomicInteger> calls) {
        return (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, (p, m, args) -> {
            if (m.getName().equals("fusesReluIntoConv")) return fuse && (Boolean) m.invoke(inner, args);
            if (m.getName().equals("correlator")) return m.invoke(inner, args);
            calls.computeIfAbsent(m.getName(), k -> new AtomicInteger()).incrementAndGet();
            try {
                return m.invoke(inner, args);
            } catch (java.lang.reflect.InvocationTargetException e) {
                throw e.getCause();
            }
        });
    }

    @ParameterizedTest
    @CsvSource({"nb201,8,1,16,6", "nb101,16,1,16,3", "mbv2,8,1,32,3"})
    void fusedScoresEqualTheUnfusedOnesToTheBit(String spaceName, int channels, int cells, int image, int archs) {
        SearchSpace space = switch (spaceName) {
            case "nb201" -> Nb201Space.INSTANCE;
            case "nb101" -> Nb101Space.INSTANCE;
            default -> Mbv2Space.INSTANCE;
        };
        NetSize net = new NetSize(channels, cells, 10, image);
        Map<String, AtomicInteger> fusedCalls = new ConcurrentHashMap<>(), plainCalls = new ConcurrentHashMap<>();
        SplittableRandom rnd = new SplittableRandom(26);
        try (Arena a = Arena.ofShared(); FastCpuBackend f1 = new FastCpuBackend(2); FastCpuBackend f2 = new FastCpuBackend(2);
             Engine fused = new Engine(withFusion(f1, true, fusedCalls), space, net);
             Engine plain = new Engine(withFusion(f2, false, plainCalls), space, net)) {
            Batch batch = Cifar10.synthetic(12, 10, image, 5, a);
            for (int i = 0; i < archs; i++) {
                Arch arch = space.sample(rnd);
                long seed = rnd.nextLong();
                for (List<Proxy> set : List.of(PROXIES, List.of(Proxy.WRCOR), List.of(Proxy.JACOB_COR))) {
                    Scorer.Result want = plain.score(arch, seed, batch, set), got = fused.score(arch, seed, batch, set);
                    for (Proxy p : set) {
                        assertEquals(Double.doubleToLongBits(want.score(p)), Double.doubleToLongBits(got.score(p)),
                                spaceName + " " + arch + " " + p.label + ": " + want.score(p) + " unfused, " + got.score(p) + " fused");
                    }
                }
            }
        }
        assertEquals(0, plainCalls.getOrDefault("reluConvForward", new AtomicInteger()).get(), "the plain engine never fuses");
        int fwd = fusedCalls.getOrDefault("reluConvForward", new AtomicInteger()).get();
        int back = fusedCalls.getOrDefault("convBackwardDataMasked", new AtomicInteger()).get();
        System.out.printf("%s: %d fused forward convolutions, %d fused data gradients; relu %d vs %d, reluBackward %d vs %d calls (fused vs plain)%n",
                spaceName, fwd, back, count(fusedCalls, "relu"), count(plainCalls, "relu"), count(fusedCalls, "reluBackward"), count(plainCalls, "reluBackward"));
        if (!spaceName.equals("mbv2")) { // NAS-Bench-201's and -101's ReLU -> conv units; mbv2's ReLUs follow a BN that takes them
            assertTrue(fwd > 0 && back > 0, spaceName + ": the fusion ran");
            assertTrue(count(fusedCalls, "relu") < count(plainCalls, "relu"), spaceName + ": fewer ReLU passes");
        }
    }

    private static int count(Map<String, AtomicInteger> calls, String op) {
        AtomicInteger c = calls.get(op);
        return c == null ? 0 : c.get();
    }
}
