package io.wrcor.eval;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * Expected values computed independently with scipy 1.17.1:
 * {@code spearmanr(x, y, nan_policy='omit').statistic}, {@code kendalltau(x, y, nan_policy='omit').statistic}.
 */
class RankCorrelationTest {
    static final double NAN = Double.NaN, NEG_INF = Double.NEGATIVE_INFINITY, INF = Double.POSITIVE_INFINITY;

    @Test
    void tiesOnBothSides() {
        double[] x = {1, 2, 2, 3, 4, 4, 4, 5}, y = {2, 1, 3, 3, 5, 4, 6, 6};
        assertEquals(0.9007775105401477, RankCorrelation.spearman(x, y), 1e-12);
        assertEquals(0.8006407690254358, RankCorrelation.kendallTauB(x, y), 1e-12);
    }

    @Test
    void nanPairsAreOmitted() {
        double[] x = {0.5, NAN, 2.0, -1.0, 3.0, 3.0, 7.5}, y = {1, 2, 3, 4, 5, 6, NAN};
        assertEquals(0.6668859288553503, RankCorrelation.spearman(x, y), 1e-12);
        assertEquals(0.5270462766947299, RankCorrelation.kendallTauB(x, y), 1e-12);
    }

    @Test
    void minusInfinityIsTheLowestScoreWithoutNaN() {
        double[] x = {NEG_INF, 1.0, 2.0, NEG_INF, 5.0, 3.0}, y = {10, 20, 15, 12, 30, 25};
        assertEquals(0.9276336570439174, RankCorrelation.spearman(x, y), 1e-12);
    }

    /** scipy's spearmanr masks every non-finite value once a NaN is present; kendalltau does not. */
    @Test
    void withANaNPresentSpearmanDropsInfinitiesAsScipyDoes() {
        double[] x = {NEG_INF, 1.0, 2.0, NEG_INF, 5.0, NAN}, y = {10, 20, 15, 12, 30, 40};
        assertEquals(0.5, RankCorrelation.spearman(x, y), 1e-12);
        assertEquals(0.7378647873726218, RankCorrelation.kendallTauB(x, y), 1e-12);
        double[] x2 = {NEG_INF, 1.0, 2.0, NEG_INF, 5.0, 3.0}, y2 = {10, 20, 15, 12, 30, NAN};
        assertEquals(0.5, RankCorrelation.spearman(x2, y2), 1e-12);
        assertEquals(0.7378647873726218, RankCorrelation.kendallTauB(x2, y2), 1e-12);
        double[] x3 = {NEG_INF, 1.0, 2.0, NEG_INF, 5.0, NAN}, y3 = {10, 20, 15, 12, 30, INF};
        assertEquals(0.5, RankCorrelation.spearman(x3, y3), 1e-12);
    }

    @Test
    void perfectReversalAndDegenerateInputs() {
        assertEquals(-1.0, RankCorrelation.spearman(new double[]{1, 2, 3, 4, 5}, new double[]{5, 4, 3, 2, 1}), 1e-12);
        assertEquals(-1.0, RankCorrelation.kendallTauB(new double[]{1, 2, 3, 4, 5}, new double[]{5, 4, 3, 2, 1}), 1e-12);
        assertTrue(Double.isNaN(RankCorrelation.spearman(new double[]{1, 1, 1}, new double[]{1, 2, 3})), "constant side");
        assertTrue(Double.isNaN(RankCorrelation.kendallTauB(new double[]{1, NAN}, new double[]{1, 2})), "one pair left");
    }
}
