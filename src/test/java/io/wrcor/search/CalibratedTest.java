package io.wrcor.search;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.space.Arch;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Space;
import io.wrcor.vote.Vote;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.Function;
import org.junit.jupiter.api.Test;

/** A soft ensemble as a search objective: calibrated against a reference sample, one transitive number per architecture. */
class CalibratedTest {
    static final Nb201Space SPACE = Nb201Space.INSTANCE;

    /** Two toy members: 3x3 convs, and 1x1 convs minus 'none' edges. */
    static final Function<Arch, double[]> MEMBERS = arch -> {
        Nb201Arch a = (Nb201Arch) arch;
        double c3 = 0, c1 = 0;
        for (int j = 0; j < Nb201Arch.EDGES; j++) {
            switch (a.op(j)) {
                case NOR_CONV_3X3 -> c3++;
                case NOR_CONV_1X1 -> c1++;
                case NONE -> c1 -= 1;
                default -> { }
            }
        }
        return new double[]{c3, c1};
    };

    static List<Arch> sample(int n, long seed) {
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Arch> out = new ArrayList<>();
        for (int i = 0; i < n; i++) out.add(SPACE.sample(rnd));
        return out;
    }

    @Test
    void percentilesAreMidRanksInsideZeroAndOne() {
        double[] ref = {1, 2, 2, 3};
        assertEquals(0.5 / 5, Calibrated.percentile(ref, 0), 1e-12);
        assertEquals((1 + 1 + 0.5) / 5, Calibrated.percentile(ref, 2), 1e-12);
        assertEquals((4 + 0.5) / 5, Calibrated.percentile(ref, 9), 1e-12);
        assertEquals(0.5 / 5, Calibrated.percentile(ref, Double.NaN), 1e-12, "NaN is below every reference score");
        assertEquals(4.5 / 5, Calibrated.percentile(ref, Double.POSITIVE_INFINITY), 1e-12);
    }

    @Test
    void theObjectiveIsTheRuleAgainstTheReferenceAndOrdersLikeIt() {
        List<Arch> ref = sample(200, 1);
        Vote v = Vote.parse("params,flops");
        for (Vote.Rule rule : List.of(Vote.Rule.SOFT_Z, Vote.Rule.SOFT_RANK, Vote.Rule.LOG_RANK)) {
            Calibrated c = new Calibrated(v, rule, MEMBERS, ref);
            assertEquals(1, c.width());
            // the value by hand: members against the reference's columns
            double[][] cols = new double[2][ref.size()];
            for (int i = 0; i < ref.size(); i++) {
                double[] m = MEMBERS.apply(ref.get(i));
                cols[0][i] = m[0];
                cols[1][i] = m[1];
            }
            for (Arch a : sample(30, 2)) {
                double[] m = MEMBERS.apply(a);
                double want = 0;
                for (int k = 0; k < 2; k++) {
                    double below = 0, equal = 0, mean = 0, sq = 0;
                    for (double r : cols[k]) {
                        if (r < m[k]) below++;
                        if (r == m[k]) equal++;
                        mean += r / ref.size();
                    }
                    for (double r : cols[k]) sq += (r - mean) * (r - mean);
                    double p = (below + equal / 2 + 0.5) / (ref.size() + 1), z = (m[k] - mean) / Math.sqrt(sq / ref.size());
                    want += rule == Vote.Rule.SOFT_Z ? z / 2 : rule == Vote.Rule.SOFT_RANK ? p / 2 : Math.log(p);
                }
                assertEquals(want, c.signedScores(a)[0], 1e-9, rule + " " + a);
            }
            // one number per architecture: comparisons are transitive, so a search's best is the maximum of what it saw
            List<Arch> seen = new ArrayList<>();
            Arch best = new RandomSearch().run(SPACE, c, 60, new SplittableRandom(3), (step, arch, s, b) -> seen.add(arch));
            double max = seen.stream().mapToDouble(a -> c.signedScores(a)[0]).max().orElseThrow();
            assertEquals(max, c.signedScores(best)[0], 0, rule.label);
        }
        assertThrows(IllegalArgumentException.class, () -> new Calibrated(v, Vote.Rule.COPELAND, MEMBERS, ref));
        assertThrows(IllegalArgumentException.class, () -> new Calibrated(v, Vote.Rule.LOG_RANK, MEMBERS, ref.subList(0, 1)));
    }

    /** REINFORCE reads the objective's width, so a calibrated (one-number) objective drives it too. */
    @Test
    void reinforceRunsOnACalibratedObjective() {
        Calibrated c = new Calibrated(Vote.parse("params,flops"), Vote.Rule.LOG_RANK, MEMBERS, sample(50, 4));
        Arch best = new Reinforce(1e-2, 0.9, 10).run(SPACE, c, 40, new SplittableRandom(5), (step, arch, s, b) -> assertEquals(1, s.length));
        assertTrue(best != null);
    }
}
