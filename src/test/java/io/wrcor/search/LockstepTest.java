package io.wrcor.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.space.Arch;
import io.wrcor.vote.Vote;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Searches side by side: each as alone, the batches one request per waiting run, events in run order, failures stop all. */
class LockstepTest {
    private static final Objective TOY = SearchTest.toy();

    private static Map<Arch, double[]> score(List<Arch> archs) {
        Map<Arch, double[]> m = new HashMap<>();
        for (Arch a : archs) m.put(a, TOY.signedScores(a));
        return m;
    }

    private static Objective objective(Lockstep.Lane lane) {
        return new Objective() {
            @Override
            public Vote vote() {
                return TOY.vote();
            }

            @Override
            public double[] signedScores(Arch arch) {
                return lane.members(arch);
            }
        }.prefetching(lane::prefetch);
    }

    /** Each run's trace alone, with the search made fresh for it. */
    private static List<String> alone(Search s, long seed, int n) {
        return SearchTest.trace(s, seed, n);
    }

    @Test
    void runsSideBySideEachDrawAndFindWhatTheyWouldAlone() {
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {
            for (String algo : List.of("evolution", "reinforce", "random")) {
                for (int perRound : new int[]{1, 4}) {
                    int runs = 5, n = 90;
                    Search search = Search.of(algo, 8, 3, perRound, 0.05, 0.9, 12);
                    List<List<String>> traces = new ArrayList<>();
                    for (int r = 0; r < runs; r++) traces.add(new ArrayList<>());
                    List<Integer> batchSizes = new ArrayList<>();
                    List<Integer> eventRuns = new ArrayList<>(), eventBatches = new ArrayList<>();
                    Arch[] found = Lockstep.run(runs, (r, lane) -> search.run(SearchTest.SPACE, objective(lane), n, new SplittableRandom(100 + r),
                            lane.listener()), archs -> {
                        batchSizes.add(archs.size());
                        return score(archs);
                    }, (r, step, arch, m, best) -> {
                        assertEquals(traces.get(r).size(), step);
                        assertEquals(TOY.signedScores(arch)[0], m[0]);
                        traces.get(r).add(arch + " " + best);
                        eventRuns.add(r);
                        eventBatches.add(batchSizes.size());
                    });
                    for (int r = 0; r < runs; r++) {
                        traces.get(r).add(found[r].toString());
                        assertEquals(alone(Search.of(algo, 8, 3, perRound, 0.05, 0.9, 12), 100 + r, n), traces.get(r), algo + " K=" + perRound
                                + ", run " + r + ": as alone");
                    }
                    // one request per run and round, at most perRound (or the calibration) architectures each
                    int cap = runs * Math.max(perRound, algo.equals("reinforce") ? 12 : 1);
                    for (int size : batchSizes) assertTrue(size >= 1 && size <= cap, algo + ": batch of " + size);
                    assertTrue(batchSizes.size() <= n + 2, algo + " K=" + perRound + ": " + batchSizes.size() + " batches for " + n
                            + " steps of " + runs + " runs: the runs' requests go together");
                    // events come per round in run order: within a stretch between batches, runs never go down
                    assertEquals(runs * n, eventRuns.size());
                    for (int i = 1; i < eventRuns.size(); i++) {
                        if (eventBatches.get(i).equals(eventBatches.get(i - 1))) {
                            assertTrue(eventRuns.get(i) >= eventRuns.get(i - 1), algo + ": events between two batches in run order");
                        }
                    }
                }
            }
        });
    }

    @Test
    void aFailingRunStopsEveryRunAndIsThrown() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> Lockstep.run(4, (r, lane) -> {
                Objective o = objective(lane);
                return new RegularizedEvolution(8, 3).run(SearchTest.SPACE, o, 1_000_000, new SplittableRandom(r), (step, arch, sc, best) -> {
                    if (r == 2 && step == 30) throw new IllegalStateException("run 3 broke");
                    lane.listener().evaluated(step, arch, sc, best);
                });
            }, LockstepTest::score, (r, step, arch, m, best) -> { }));
            assertEquals("run 3 broke", e.getMessage());
        });
    }

    @Test
    void aFailingBatchStopsEveryRunAndIsThrown() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            int[] batches = {0};
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Lockstep.run(3, (r, lane) ->
                    new RandomSearch(2).run(SearchTest.SPACE, objective(lane), 1_000_000, new SplittableRandom(r), lane.listener()), archs -> {
                if (++batches[0] == 10) throw new IllegalArgumentException("the scorer broke");
                return score(archs);
            }, (r, step, arch, m, best) -> { }));
            assertEquals("the scorer broke", e.getMessage());
        });
    }

    @Test
    void aRunThatFinishesEarlyLetsTheOthersGoOn() {
        assertTimeoutPreemptively(Duration.ofSeconds(30), () -> {
            int[] counts = new int[3];
            Arch[] found = Lockstep.run(3, (r, lane) -> new RandomSearch().run(SearchTest.SPACE, objective(lane), 10 + 20 * r,
                    new SplittableRandom(r), lane.listener()), LockstepTest::score, (r, step, arch, m, best) -> counts[r]++);
            assertEquals(List.of(10, 30, 50), List.of(counts[0], counts[1], counts[2]));
            for (Arch a : found) assertTrue(a != null);
        });
    }
}
