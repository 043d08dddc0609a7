package io.wrcor.vote;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.proxy.Proxy;
import java.util.List;
import org.junit.jupiter.api.Test;

class VoteTest {
    static final double NAN = Double.NaN, NEG_INF = Double.NEGATIVE_INFINITY;

    @Test
    void parsesMembersAndSigns() {
        Vote v = Vote.parse("synflow, jacob_cor:-,wrcor:+");
        assertEquals(List.of(Proxy.SYNFLOW, Proxy.JACOB_COR, Proxy.WRCOR), v.members());
        assertArrayEquals(new int[]{1, -1, 1}, v.signs());
        assertEquals("synflow,jacob_cor:-,wrcor", v.label());
    }

    @Test
    void badMembersAndSignsAreRejected() {
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Vote.parse("wrcor:*")).getMessage().contains("must be + or -"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> Vote.parse("wrcor,zen")).getMessage().contains("unknown proxy 'zen'"));
        assertThrows(IllegalArgumentException.class, () -> Vote.parse("wrcor,,synflow"));
        assertThrows(IllegalArgumentException.class, () -> Vote.parse("wrcor,wrcor"));
    }

    @Test
    void majorityNeedsMoreThanHalfAndNaNCountsForNeitherSide() {
        assertEquals(1, Vote.compare(new double[]{2, 2, 0}, new double[]{1, 1, 1}));
        assertEquals(-1, Vote.compare(new double[]{0, 0, 2}, new double[]{1, 1, 1}));
        // one each and a NaN: nobody has more than half
        assertEquals(0, Vote.compare(new double[]{2, 0, NAN}, new double[]{1, 1, 1}));
        // -inf loses to any finite score; -inf against -inf is NaN, for neither: one vote each here
        assertEquals(0, Vote.compare(new double[]{NEG_INF, NEG_INF, 5}, new double[]{1, NEG_INF, 1}));
        assertEquals(-1, Vote.compare(new double[]{NEG_INF, NEG_INF, 0}, new double[]{1, NEG_INF, 1}));
        assertEquals(1, Vote.compare(new double[]{2, 2}, new double[]{1, 1}));
        assertEquals(0, Vote.compare(new double[]{2, 0}, new double[]{1, 1}), "a tie of two is no majority");
    }

    /** A Condorcet cycle a > b > c > a plus a dominated d: Copeland gives the cycle equal scores above d. */
    @Test
    void copelandScoresCountWinsMinusLosses() {
        double[][] signed = {{3, 1, 2}, {2, 3, 1}, {1, 2, 3}, {0, 0, 0}};
        assertArrayEquals(new double[]{1, 1, 1, -3}, Vote.combine(Vote.Rule.COPELAND, signed), 0);
    }

    @Test
    void softVotesAverageZScoresOrRanks() {
        double[][] signed = {{1, 10}, {2, 30}, {3, 20}};
        assertArrayEquals(new double[]{1, 2.5, 2.5}, Vote.combine(Vote.Rule.SOFT_RANK, signed), 1e-12);
        double[] z = Vote.combine(Vote.Rule.SOFT_Z, signed);
        double sd1 = Math.sqrt(2.0 / 3), sd2 = Math.sqrt(200.0 / 3);
        assertEquals(((1 - 2) / sd1 + (10 - 20) / sd2) / 2, z[0], 1e-12);
    }

    /** AZ-NAS's aggregation: sum over members of log(rank / N), rank 1 the lowest. */
    @Test
    void logRankSumsTheLogsOfTheRankFractions() {
        double[][] signed = {{1, 10}, {2, 30}, {3, 20}};
        double[] v = Vote.combine(Vote.Rule.LOG_RANK, signed);
        assertEquals(Math.log(1 / 3.0) + Math.log(1 / 3.0), v[0], 1e-12);
        assertEquals(Math.log(2 / 3.0) + Math.log(3 / 3.0), v[1], 1e-12);
        assertEquals(Math.log(3 / 3.0) + Math.log(2 / 3.0), v[2], 1e-12);
        // one bad member pulls harder than a good one lifts: (2, 2) beats (1, 3) by log-rank, ties it by mean rank
        double[][] t = {{2, 2}, {1, 3}, {3, 1}};
        double[] lr = Vote.combine(Vote.Rule.LOG_RANK, t), sr = Vote.combine(Vote.Rule.SOFT_RANK, t);
        assertTrue(lr[0] > lr[1] && lr[0] > lr[2]);
        assertEquals(sr[0], sr[1], 1e-12);
    }

    @Test
    void aVoteMayNameItsRuleAndNamedEnsemblesResolve() {
        Vote v = Vote.parse("naswot,params:-@log-rank");
        assertEquals(Vote.Rule.LOG_RANK, v.rule());
        assertEquals(List.of(Proxy.NASWOT, Proxy.PARAMS), v.members());
        assertEquals("naswot,params:-@log-rank", v.label());
        assertEquals("naswot,params:-", v.membersLabel());
        Vote published = Vote.parse("published");
        assertEquals(Vote.parse(Vote.PUBLISHED).members(), published.members());
        assertEquals("published", published.label());
        assertEquals(Vote.Rule.COPELAND, published.rule());
        for (String name : Vote.NAMED.keySet()) assertEquals(name, Vote.parse(name).label());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Vote.parse("naswot@best"));
        assertTrue(e.getMessage().contains("best"), e.getMessage());
    }
}
