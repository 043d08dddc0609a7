package io.wrcor.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.InFlight;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/**
 * Several architectures in flight: every lane's scores are the ones one lane computes alone (to the
 * bit: the same kernels on the same inputs), they come back in input order, and a lane's failure
 * is thrown to the caller, not lost in a thread. On the CPU backend and on OpenCL's lanes (PoCL in CI).
 */
class InFlightTest {
    static final NetSize NET = new NetSize(4, 1, 10, 16);
    static final List<Proxy> PROXIES = List.of(Proxy.WRCOR, Proxy.NASWOT, Proxy.JACOB_COR, Proxy.SNIP, Proxy.SYNFLOW);

    static List<Arch> archs(SearchSpace space, int n) {
        SplittableRandom rnd = new SplittableRandom(11);
        List<Arch> a = new ArrayList<>();
        for (int i = 0; i < n; i++) a.add(space.sample(rnd));
        return a;
    }

    /** Scores of every architecture with k lanes, in the order the sink saw them (asserted to be input order). */
    static List<Scorer.Result> scores(Backend backend, SearchSpace space, Batch batch, List<Arch> archs, int k) {
        List<Scorer.Result> out = new ArrayList<>();
        try (InFlight lanes = new InFlight(backend, space, NET, batch, k)) {
            assertEquals(k, lanes.lanes());
            lanes.score(archs, 5, null, PROXIES, (i, r, s) -> {
                assertEquals(out.size(), i, "results in input order");
                assertTrue(s > 0);
                out.add(r);
            });
        }
        return out;
    }

    static void assertSameScores(List<Scorer.Result> want, List<Scorer.Result> got, String what) {
        assertEquals(want.size(), got.size());
        for (int i = 0; i < want.size(); i++) {
            for (Proxy p : PROXIES) {
                assertEquals(Double.doubleToLongBits(want.get(i).score(p)), Double.doubleToLongBits(got.get(i).score(p)),
                        what + ": architecture " + i + ", " + p.label + ": " + got.get(i).score(p) + " against " + want.get(i).score(p) + " with one lane");
            }
        }
    }

    @Test
    void cpuLanesGiveTheScoresOfOneLaneInInputOrder() {
        SearchSpace space = SearchSpaces.get("nb201");
        List<Arch> archs = archs(space, 7);
        try (Arena a = Arena.ofShared(); FastCpuBackend cpu = new FastCpuBackend(1)) {
            Batch batch = Cifar10.synthetic(8, 10, 16, 3, a);
            List<Scorer.Result> one = scores(cpu, space, batch, archs, 1);
            assertSameScores(one, scores(cpu, space, batch, archs, 3), "3 cpu lanes");
        }
    }

    @Test
    void openClLanesGiveTheScoresOfOneLaneInInputOrder() {
        OpenClDeviceLanes.check(OpenClDevice.require());
    }

    /** Kept apart so that the shared OpenCL backend's state is only touched when OpenCL is there. */
    static final class OpenClDeviceLanes {
        static void check(Backend cl) {
            SearchSpace space = SearchSpaces.get("nb201");
            List<Arch> archs = archs(space, 5);
            try (Arena a = Arena.ofShared()) {
                Batch batch = Cifar10.synthetic(8, 10, 16, 3, a);
                List<Scorer.Result> one = scores(cl, space, batch, archs, 1);
                assertSameScores(one, scores(cl, space, batch, archs, 2), "2 OpenCL lanes");
            }
        }
    }

    @Test
    void aFailureInALaneIsThrownToTheCaller() {
        SearchSpace space = SearchSpaces.get("nb201");
        List<Arch> archs = archs(space, 6);
        try (Arena a = Arena.ofShared(); FastCpuBackend cpu = new FastCpuBackend(1)) {
            // labels outside the network's 10 classes: every architecture fails in its lane
            Batch bad = new Batch(Cifar10.synthetic(8, 10, 16, 3, a).input(), new int[]{0, 1, 2, 3, 4, 5, 6, 99});
            List<Integer> seen = new ArrayList<>();
            try (InFlight lanes = new InFlight(cpu, space, NET, bad, 2)) {
                IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                        () -> lanes.score(archs, 5, null, PROXIES, (i, r, s) -> seen.add(i)));
                assertTrue(e.getMessage().contains("label 99"), e.getMessage());
            }
            assertTrue(seen.isEmpty());
        }
    }

    @Test
    void lanesMustBeAtLeastOne() {
        try (FastCpuBackend cpu = new FastCpuBackend(1)) {
            assertThrows(IllegalArgumentException.class, () -> new InFlight(cpu, SearchSpaces.get("nb201"), NET, null, 0));
        }
    }
}
