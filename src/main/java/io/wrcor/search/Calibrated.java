package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.vote.Vote;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;

/**
 * A soft ensemble as a search objective. Soft rules (mean z-score, mean rank, AZ-NAS's log-rank)
 * rank a candidate against a population, and a search needs to compare two candidates at a time;
 * so each member's score is placed against a fixed reference sample of the space (the calibration
 * sample REINFORCE already draws), which makes the objective one number per architecture, the same
 * whenever it is computed, and its comparisons transitive:
 * <ul>
 * <li>soft-z: the mean over members of (s - mean_ref) / sd_ref;</li>
 * <li>soft-rank: the mean over members of the mid-rank percentile p = (below + equal / 2 + 1/2) / (R + 1);</li>
 * <li>log-rank: the sum over members of log p.</li>
 * </ul>
 * A NaN member score counts as below every reference score.
 */
public final class Calibrated implements Objective {
    private final Vote vote;
    private final Vote.Rule rule;
    private final Function<Arch, double[]> members;
    private final double[][] sorted; // per member, the reference's finite signed scores, ascending
    private final double[] mean, sd;

    /**
     * @param members   the vote's signed member scores of an architecture
     * @param reference the calibration sample (at least 2 architectures)
     */
    public Calibrated(Vote vote, Vote.Rule rule, Function<Arch, double[]> members, List<? extends Arch> reference) {
        if (rule == Vote.Rule.COPELAND) throw new IllegalArgumentException("copeland is the pairwise majority: no calibration");
        if (reference.size() < 2) throw new IllegalArgumentException("a calibration sample needs at least 2 architectures");
        this.vote = vote;
        this.rule = rule;
        this.members = members;
        int m = vote.members().size();
        double[][] ref = new double[reference.size()][];
        for (int i = 0; i < ref.length; i++) ref[i] = members.apply(reference.get(i));
        sorted = new double[m][];
        mean = new double[m];
        sd = new double[m];
        for (int k = 0; k < m; k++) {
            final int kk = k;
            double[] col = Arrays.stream(ref).mapToDouble(r -> r[kk]).filter(Double::isFinite).sorted().toArray();
            sorted[k] = col;
            double s = 0, s2 = 0;
            for (double v : col) s += v;
            mean[k] = col.length == 0 ? 0 : s / col.length;
            for (double v : col) s2 += (v - mean[k]) * (v - mean[k]);
            sd[k] = col.length < 2 || s2 == 0 ? 1 : Math.sqrt(s2 / col.length);
        }
    }

    /** The reference sample the searches calibrate on: {@code n} draws of the space from the seed (the same for every run of a seed). */
    public static List<Arch> referenceSample(io.wrcor.space.SearchSpace space, long seed, int n) {
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed ^ 0x5EEDCA11L);
        List<Arch> out = new java.util.ArrayList<>();
        for (int i = 0; i < n; i++) out.add(space.sample(rnd));
        return out;
    }

    @Override
    public Vote vote() {
        return vote;
    }

    public Vote.Rule rule() {
        return rule;
    }

    @Override
    public int width() {
        return 1;
    }

    @Override
    public double[] signedScores(Arch arch) {
        return new double[]{value(members.apply(arch))};
    }

    /** The objective of the members' signed scores {@code s}. */
    public double value(double[] s) {
        double out = 0;
        for (int k = 0; k < s.length; k++) {
            double[] ref = sorted[k];
            if (rule == Vote.Rule.SOFT_Z) {
                double z = Double.isNaN(s[k]) ? (ref.length == 0 ? -1 : (ref[0] - mean[k]) / sd[k] - 1) : (s[k] - mean[k]) / sd[k];
                out += Math.max(z, -1e6) / s.length;
            } else {
                double p = percentile(ref, s[k]);
                out += rule == Vote.Rule.LOG_RANK ? Math.log(p) : p / s.length;
            }
        }
        return out;
    }

    /** (below + equal / 2 + 1/2) / (R + 1): in (0, 1), never 0 or 1, so its log is finite. */
    static double percentile(double[] ascending, double v) {
        int r = ascending.length;
        if (Double.isNaN(v)) return 0.5 / (r + 1);
        int lo = lowerBound(ascending, v), hi = lowerBound(ascending, Math.nextUp(v));
        if (v == Double.POSITIVE_INFINITY) hi = r;
        return (lo + (hi - lo) / 2.0 + 0.5) / (r + 1);
    }

    private static int lowerBound(double[] a, double v) {
        int lo = 0, hi = a.length;
        while (lo < hi) {
            int mid = (lo + hi) >>> 1;
            if (a[mid] < v) lo = mid + 1;
            else hi = mid;
        }
        return lo;
    }
}
