package io.wrcor.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.space.Arch;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Space;
import io.wrcor.space.nb201.Nb201Op;
import io.wrcor.vote.Vote;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class SearchTest {
    static final Nb201Space SPACE = Nb201Space.INSTANCE;

    /** A cheap deterministic objective: +1 per 3x3 conv, +0.5 per 1x1 conv, -0.25 per 'none'. */
    static Objective toy() {
        return new Objective() {
            @Override
            public Vote vote() {
                return Vote.parse("params");
            }

            @Override
            public double[] signedScores(Arch arch) {
                Nb201Arch a = (Nb201Arch) arch;
                double s = 0;
                for (int j = 0; j < Nb201Arch.EDGES; j++) {
                    s += switch (a.op(j)) {
                        case NOR_CONV_3X3 -> 1;
                        case NOR_CONV_1X1 -> 0.5;
                        case NONE -> -0.25;
                        default -> 0;
                    };
                }
                return new double[]{s};
            }
        };
    }

    static List<String> trace(Search s, long seed, int n) {
        List<String> t = new ArrayList<>();
        Arch best = s.run(SPACE, toy(), n, new SplittableRandom(seed), (step, arch, scores, b) -> t.add(arch + " " + b));
        t.add(best.toString());
        return t;
    }

    @Test
    void mutationChangesExactlyOneEdgeToADifferentOp() {
        SplittableRandom rnd = new SplittableRandom(11);
        int[] changedEdge = new int[Nb201Arch.EDGES];
        for (int i = 0; i < 5000; i++) {
            Nb201Arch parent = Nb201Arch.sample(rnd), child = SPACE.mutate(parent, rnd);
            int changed = 0;
            for (int j = 0; j < Nb201Arch.EDGES; j++) {
                if (parent.op(j) != child.op(j)) {
                    changed++;
                    changedEdge[j]++;
                }
            }
            assertEquals(1, changed, parent + " -> " + child);
        }
        for (int c : changedEdge) assertTrue(c > 600, "every edge gets mutated about equally often");
    }

    @Test
    void randomSearchAndEvolutionAreReproducibleBySeed() {
        for (Search s : List.of(new RandomSearch(), new RegularizedEvolution(8, 3), new Reinforce(0.01, 0.9, 5))) {
            assertEquals(trace(s, 42, 60), trace(s, 42, 60), s.getClass().getSimpleName());
            assertNotEquals(trace(s, 42, 60), trace(s, 43, 60), s.getClass().getSimpleName());
        }
    }

    @Test
    void searchesFindTheToyOptimumAndKeepTheBestSeen() {
        Objective o = toy();
        double optimum = 6;
        Arch evo = new RegularizedEvolution(16, 4).run(SPACE, o, 600, new SplittableRandom(1), (s, a, sc, b) -> { });
        assertEquals(optimum, o.signedScores(evo)[0], 1e-12, "evolution reaches the all-3x3 cell");
        double[] bestSeen = {Double.NEGATIVE_INFINITY};
        Arch rs = new RandomSearch().run(SPACE, o, 300, new SplittableRandom(2), (s, a, sc, b) -> bestSeen[0] = Math.max(bestSeen[0], sc[0]));
        assertEquals(bestSeen[0], o.signedScores(rs)[0], 1e-12);
    }

    /**
     * The published regularised evolution, transcribed loop for loop (random population, then a
     * tournament without replacement, mutate the winner, the child joins and the oldest dies): one
     * child per round must be exactly it, draw for draw.
     */
    static List<String> publishedEvolution(int population, int tournament, long seed, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Objective o = toy();
        java.util.ArrayDeque<Object[]> pop = new java.util.ArrayDeque<>();
        List<String> t = new ArrayList<>();
        Arch best = null;
        double[] bestScores = null;
        for (int step = 0; step < n; step++) {
            Arch a;
            if (step < population) {
                a = SPACE.sample(rnd);
            } else {
                List<Object[]> members = new ArrayList<>(pop);
                Object[] parent = null;
                for (int i = 0; i < tournament; i++) {
                    int j = i + rnd.nextInt(members.size() - i);
                    Object[] m = members.get(j);
                    members.set(j, members.get(i));
                    members.set(i, m);
                    if (parent == null || o.compare((double[]) m[1], (double[]) parent[1]) > 0) parent = m;
                }
                a = SPACE.mutate((Arch) parent[0], rnd);
            }
            double[] sc = o.signedScores(a);
            pop.addLast(new Object[]{a, sc});
            if (pop.size() > population) pop.removeFirst();
            if (best == null || o.compare(sc, bestScores) >= 0) {
                best = a;
                bestScores = sc;
            }
            t.add(a + " " + best);
        }
        t.add(best.toString());
        return t;
    }

    @Test
    void oneChildPerRoundIsThePublishedEvolutionStepForStep() {
        for (long seed : new long[]{0, 7, 42}) {
            assertEquals(publishedEvolution(8, 3, seed, 120), trace(new RegularizedEvolution(8, 3, 1), seed, 120), "seed " + seed);
            assertEquals(publishedEvolution(16, 4, seed, 90), trace(new RegularizedEvolution(16, 4), seed, 90), "seed " + seed);
        }
    }

    /**
     * K children per round: every round's children are handed to prefetch together (at most K, no
     * repeats) before any is evaluated, every one of them is evaluated, in order, N in all; the
     * initial population is the same draws as with one child; reproducible by seed; and it still
     * reaches the toy optimum.
     */
    @Test
    void severalChildrenPerRoundArePrefetchedTogetherAndEachEvaluatedOnce() {
        int population = 8, k = 4, n = 70;
        List<List<String>> rounds = new ArrayList<>();
        List<String> evaluated = new ArrayList<>();
        Objective o = toy().prefetching(archs -> rounds.add(archs.stream().map(Object::toString).toList()));
        Arch best = new RegularizedEvolution(population, 3, k).run(SPACE, o, n, new SplittableRandom(5), (step, arch, sc, b) -> {
            assertEquals(evaluated.size(), step);
            evaluated.add(arch.toString());
        });
        assertEquals(n, evaluated.size());
        // rounds: the population in two of 4, then 15 of 4 children and a last one of 2
        List<Integer> sizes = new ArrayList<>(List.of(4, 4));
        for (int i = 0; i < 15; i++) sizes.add(4);
        sizes.add(2);
        assertEquals(sizes.size(), rounds.size(), "one prefetch per round");
        int at = 0;
        for (int i = 0; i < rounds.size(); i++) {
            List<String> r = rounds.get(i), next = evaluated.subList(at, at + sizes.get(i));
            assertEquals(r.size(), new java.util.HashSet<>(r).size(), "no architecture twice in one prefetch");
            assertEquals(new java.util.HashSet<>(next), new java.util.HashSet<>(r), "round " + i + ": prefetched, then evaluated");
            at += sizes.get(i);
        }
        assertEquals(publishedEvolution(population, 3, 5, population).subList(0, population).stream().map(x -> x.split(" ")[0]).toList(),
                evaluated.subList(0, population), "the initial population: the same draws as one child per round");
        assertEquals(trace(new RegularizedEvolution(population, 3, k), 5, n), trace(new RegularizedEvolution(population, 3, k), 5, n));
        assertNotEquals(trace(new RegularizedEvolution(population, 3, 1), 5, n), trace(new RegularizedEvolution(population, 3, k), 5, n));
        Arch found = new RegularizedEvolution(16, 4, 8).run(SPACE, toy(), 600, new SplittableRandom(1), (s, a, sc, b) -> { });
        assertEquals(6, toy().signedScores(found)[0], 1e-12, "batched evolution reaches the all-3x3 cell too");
        assertTrue(best != null);
    }

    @Test
    void childrenPerRoundOutsideOneToThePopulationAreRefused() {
        IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new RegularizedEvolution(8, 3, 9));
        assertTrue(e.getMessage().contains("children"), e.getMessage());
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> new RegularizedEvolution(8, 3, 0));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Search.of("random", 8, 3, 0, 1e-3, 0.9, 10));
        org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Search.of("reinforce", 8, 3, 0, 1e-3, 0.9, 10));
    }

    /** Adam's first step is lr * g / (|g| + eps): each logit moves by lr against its gradient's sign. */
    @Test
    void reinforceGradientStepHasTheKnownFirstAdamUpdate() {
        Reinforce.Policy p = new Reinforce.Policy(SPACE.policy(), 1e-3, new SplittableRandom(0));
        int[] actions = {3, 0, 1, 4, 2, 3};
        p.step(actions, new boolean[0], 2.0); // g[e][k] = 2 (p_k - 1[k = a_e]) with p_k = 1/5: -1.6 for the action, +0.4 otherwise
        for (int e = 0; e < actions.length; e++)
            for (int k = 0; k < Nb201Op.values().length; k++) {
                double g = 2.0 * (0.2 - (k == actions[e] ? 1 : 0));
                assertEquals(-1e-3 * g / (Math.abs(g) + 1e-8), p.theta[e][k], 1e-15);
            }
        // the sampled ops became more likely, and the distribution still sums to one
        double[] probs = p.probabilities(0);
        assertTrue(probs[3] > 0.2);
        assertEquals(1.0, java.util.Arrays.stream(probs).sum(), 1e-12);
    }

    @Test
    void baselineIsABiasCorrectedMovingAverage() {
        Reinforce.Baseline b = new Reinforce.Baseline(0.9);
        b.update(5);
        assertEquals(5, b.value(), 1e-12, "the first value is the first reward, not 0.1 of it");
        b.update(1);
        assertEquals((0.9 * 0.1 * 5 + 0.1 * 1) / (0.9 * 0.1 + 0.1), b.value(), 1e-12);
    }

    @Test
    void reinforceLearnsToPreferTheRewardedOp() {
        int n = 800;
        int[] conv3x3 = new int[n];
        new Reinforce(0.05, 0.9, 20).run(SPACE, toy(), n, new SplittableRandom(5), (step, a, sc, b) -> {
            for (int j = 0; j < Nb201Arch.EDGES; j++) if (((Nb201Arch) a).op(j) == Nb201Op.NOR_CONV_3X3) conv3x3[step]++;
        });
        // uniform sampling gives 3x3 convs a share of 0.2
        double last = java.util.Arrays.stream(conv3x3, n - 100, n).sum() / 600.0;
        assertTrue(last > 0.6, "share of 3x3 convs among the last 100 sampled: " + last);
    }

    /**
     * The published REINFORCE loop, transcribed (calibration drawn and scored one by one, then per
     * step: draw until valid, score, update the baseline, one Adam step on that draw): one sample per
     * update must be exactly it.
     */
    static List<String> publishedReinforce(double lr, double momentum, int calibration, long seed, int n) {
        SplittableRandom rnd = new SplittableRandom(seed);
        Objective o = toy();
        double[] cal = new double[calibration];
        for (int i = 0; i < calibration; i++) cal[i] = o.signedScores(SPACE.sample(rnd))[0];
        double mean = 0, s2 = 0;
        for (double c : cal) mean += c;
        mean /= calibration;
        for (double c : cal) s2 += (c - mean) * (c - mean);
        double sd = s2 == 0 ? 1 : Math.sqrt(s2 / (calibration - 1));
        Reinforce.Policy policy = new Reinforce.Policy(SPACE.policy(), lr, rnd);
        Reinforce.Baseline baseline = new Reinforce.Baseline(momentum);
        List<String> t = new ArrayList<>();
        Arch best = null;
        double[] bestScores = null;
        for (int step = 0; step < n; step++) {
            int[] actions;
            boolean[] bits;
            Arch a;
            do {
                actions = policy.sample(rnd);
                bits = policy.sampleBits(rnd);
                a = SPACE.policy().decoder().decode(actions, bits);
            } while (a == null);
            double[] sc = o.signedScores(a);
            double reward = (sc[0] - mean) / sd;
            baseline.update(reward);
            policy.step(actions, bits, reward - baseline.value());
            if (best == null || o.compare(sc, bestScores) >= 0) {
                best = a;
                bestScores = sc;
            }
            t.add(a + " " + best);
        }
        t.add(best.toString());
        return t;
    }

    @Test
    void oneSamplePerUpdateIsThePublishedReinforceStepForStep() {
        for (long seed : new long[]{0, 7, 42}) {
            assertEquals(publishedReinforce(0.05, 0.9, 20, seed, 150), trace(new Reinforce(0.05, 0.9, 20, 1), seed, 150), "seed " + seed);
            assertEquals(publishedReinforce(1e-3, 0.8, 10, seed, 60), trace(new Reinforce(1e-3, 0.8, 10), seed, 60), "seed " + seed);
        }
    }

    /** K samples per update: the calibration in one prefetch, then rounds of K prefetched together, each evaluated, N in all. */
    @Test
    void severalSamplesPerUpdateArePrefetchedTogetherAndStillLearn() {
        int k = 4, n = 30, calibration = 12;
        List<Integer> sizes = new ArrayList<>();
        List<String> evaluated = new ArrayList<>();
        Objective o = toy().prefetching(archs -> sizes.add(archs.size()));
        new Reinforce(0.05, 0.9, calibration, k).run(SPACE, o, n, new SplittableRandom(3), (step, arch, sc, b) -> {
            assertEquals(evaluated.size(), step);
            evaluated.add(arch.toString());
        });
        assertEquals(n, evaluated.size());
        assertTrue(sizes.getFirst() <= calibration && sizes.getFirst() >= calibration - 2, "the calibration sample in one prefetch: " + sizes);
        assertEquals(1 + 8, sizes.size(), "one prefetch for the calibration and one per round of 4 (7 rounds of 4, one of 2): " + sizes);
        for (int size : sizes.subList(1, sizes.size())) assertTrue(size <= k);
        assertEquals(trace(new Reinforce(0.05, 0.9, 20, k), 5, 80), trace(new Reinforce(0.05, 0.9, 20, k), 5, 80));
        assertNotEquals(trace(new Reinforce(0.05, 0.9, 20, 1), 5, 80), trace(new Reinforce(0.05, 0.9, 20, k), 5, 80));
        int steps = 1600;
        int[] conv3x3 = new int[steps];
        new Reinforce(0.05, 0.9, 20, k).run(SPACE, toy(), steps, new SplittableRandom(5), (step, a, sc, b) -> {
            for (int j = 0; j < Nb201Arch.EDGES; j++) if (((Nb201Arch) a).op(j) == Nb201Op.NOR_CONV_3X3) conv3x3[step]++;
        });
        double last = java.util.Arrays.stream(conv3x3, steps - 100, steps).sum() / 600.0;
        assertTrue(last > 0.6, "K = 4: share of 3x3 convs among the last 100 sampled: " + last);
    }

    /** The gradient of a batch is the mean of its draws': the same action with advantages +1 and -1 moves nothing; +1 and +1 moves as one. */
    @Test
    void aBatchUpdateFollowsTheMeanGradient() {
        int[] actions = {3, 0, 1, 4, 2, 3};
        Reinforce.Policy cancel = new Reinforce.Policy(SPACE.policy(), 1e-3, new SplittableRandom(0));
        cancel.step(new int[][]{actions, actions}, new boolean[2][0], new double[]{1, -1});
        for (double[] row : cancel.theta) for (double x : row) assertEquals(0.0, x);
        Reinforce.Policy two = new Reinforce.Policy(SPACE.policy(), 1e-3, new SplittableRandom(0));
        Reinforce.Policy one = new Reinforce.Policy(SPACE.policy(), 1e-3, new SplittableRandom(0));
        two.step(new int[][]{actions, actions}, new boolean[2][0], new double[]{0.5, 0.5});
        one.step(actions, new boolean[0], 0.5);
        for (int e = 0; e < actions.length; e++) org.junit.jupiter.api.Assertions.assertArrayEquals(one.theta[e], two.theta[e]);
    }

    @Test
    void randomSearchInRoundsDrawsTheSameAsOneByOne() {
        List<Integer> sizes = new ArrayList<>();
        Objective o = toy().prefetching(archs -> sizes.add(archs.size()));
        List<String> t = new ArrayList<>();
        Arch best = new RandomSearch(8).run(SPACE, o, 20, new SplittableRandom(4), (step, arch, sc, b) -> t.add(arch + " " + b));
        t.add(best.toString());
        assertEquals(trace(new RandomSearch(), 4, 20), t);
        assertEquals(3, sizes.size(), "rounds of 8, 8 and 4: " + sizes);
    }
}
