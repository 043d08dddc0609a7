package io.wrcor.vote;

import io.wrcor.eval.RankCorrelation;
import io.wrcor.proxy.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;

/**
 * A combination of proxies, each with a sign (+: higher is better, -: lower is better). The
 * published vote is {@code synflow,jacob_cor,wrcor}, all +.
 *
 * @param members proxies in the order given
 * @param signs   +1 or -1 per member
 */
public record Vote(List<Proxy> members, int[] signs, String name, Rule rule) {
    public static final String PUBLISHED = "synflow,jacob_cor,wrcor";

    public Vote(List<Proxy> members, int[] signs) {
        this(members, signs, null, null);
    }

    /**
     * Ensembles with a name, accepted wherever a vote or objective is: {@code published} (the
     * paper's vote, ranked by its pairwise majority), {@code recommended} (this engine's choice,
     * see the ensemble study in benchmarks/RESULTS.md), {@code az_nas} (AZ-NAS: its four components by its
     * non-linear rank aggregation) and {@code vkdnw_agg} (VKDNW's aggregate), each with the rule that
     * combines it.
     */
    public static final Map<String, String> NAMED;

    /**
     * The recommended ensemble: chosen by {@code benchmarks/ensemble_study.py} among every subset of
     * up to four proxies under each soft rule, on 650 NAS-Bench-201 architectures, and reported on
     * 650 others (benchmarks/RESULTS.md, "Ensembles"): the gradient correlation of WRCor's sites and meco, by mean
     * z-score.
     */
    public static final String RECOMMENDED = "grad_cor,meco@soft-z";

    /** AZ-NAS (Lee and Ham, CVPR 2024): expressivity, progressivity, trainability and complexity, by the sum of log(rank / N). */
    public static final String AZ_NAS = "az_expressivity,az_progressivity,az_trainability,az_complexity@log-rank";

    /**
     * VKDNW's aggregate (Tybl and Neumann, CVPR 2025, their "VKDNW_agg"): its single score with
     * AZ-NAS's expressivity, trainability and complexity (FLOPs) and jacov (= jacob_cor), by the sum
     * of log ranks.
     */
    public static final String VKDNW_AGG = "vkdnw,az_expressivity,az_trainability,az_complexity,jacob_cor@log-rank";

    static {
        Map<String, String> named = new java.util.LinkedHashMap<>();
        named.put("published", PUBLISHED + "@copeland");
        named.put("recommended", RECOMMENDED);
        named.put("az_nas", AZ_NAS);
        named.put("vkdnw_agg", VKDNW_AGG);
        NAMED = java.util.Collections.unmodifiableMap(named);
    }

    /** How a vote turns into one score per architecture. */
    public enum Rule {
        /** Copeland score of the pairwise majority: wins minus losses against every other candidate. */
        COPELAND("copeland"),
        /** Mean of the members' z-scores. */
        SOFT_Z("soft-z"),
        /** Mean of the members' ranks. */
        SOFT_RANK("soft-rank"),
        /**
         * AZ-NAS's non-linear rank aggregation: the sum over members of log(rank / N), rank 1 the
         * lowest of N; one bad member pulls a candidate down more than a good one lifts it.
         */
        LOG_RANK("log-rank");

        public final String label;

        Rule(String label) {
            this.label = label;
        }

        public static Rule parse(String s) {
            for (Rule r : values()) if (r.label.equals(s.trim())) return r;
            throw new IllegalArgumentException("unknown vote rule '" + s + "' (expected copeland, soft-z, soft-rank or log-rank)");
        }
    }

    /**
     * {@code name[:+|:-],...[@rule]}, e.g. {@code synflow,jacob_cor,wrcor}, {@code wrcor:+,params:-}
     * or {@code naswot,synflow@log-rank}; or a {@link #NAMED} ensemble ({@code published},
     * {@code recommended}).
     */
    public static Vote parse(String spec) {
        String named = NAMED.get(spec.strip());
        if (named != null) {
            Vote v = parse(named);
            return new Vote(v.members, v.signs, spec.strip(), v.rule);
        }
        Rule rule = null;
        int at = spec.indexOf('@');
        if (at >= 0) {
            rule = Rule.parse(spec.substring(at + 1));
            spec = spec.substring(0, at);
        }
        List<Proxy> members = new ArrayList<>();
        List<Integer> signs = new ArrayList<>();
        for (String item : spec.split(",")) {
            String s = item.strip();
            if (s.isEmpty()) throw new IllegalArgumentException("empty member in vote '" + spec + "'");
            int colon = s.indexOf(':');
            int sign = 1;
            if (colon >= 0) {
                String sg = s.substring(colon + 1).strip();
                sign = switch (sg) {
                    case "+" -> 1;
                    case "-" -> -1;
                    default -> throw new IllegalArgumentException("sign '" + sg + "' of vote member '" + s + "' must be + or -");
                };
                s = s.substring(0, colon).strip();
            }
            Proxy p;
            try {
                p = Proxy.parse(s);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException("vote '" + spec + "': " + e.getMessage());
            }
            if (members.contains(p)) throw new IllegalArgumentException("vote '" + spec + "' names " + p.label + " twice");
            members.add(p);
            signs.add(sign);
        }
        return new Vote(List.copyOf(members), signs.stream().mapToInt(Integer::intValue).toArray(), null, rule);
    }

    /** Its rule when that is a soft one (soft-z, soft-rank, log-rank: calibrated in a search), else null (the pairwise majority). */
    public Rule softRule() {
        return rule == null || rule == Rule.COPELAND ? null : rule;
    }

    /** The name of a named ensemble, else its members (with signs and rule). */
    public String label() {
        if (name != null) return name;
        return membersLabel() + (rule == null ? "" : "@" + rule.label);
    }

    /** Its members with their signs, {@code a,b:-}. */
    public String membersLabel() {
        List<String> parts = new ArrayList<>();
        for (int i = 0; i < members.size(); i++) parts.add(members.get(i).label + (signs[i] < 0 ? ":-" : ""));
        return String.join(",", parts);
    }

    /** The members' signed scores of one architecture. */
    public double[] signed(Map<String, Double> scores) {
        double[] v = new double[members.size()];
        for (int i = 0; i < v.length; i++) {
            Double s = scores.get(members.get(i).label);
            if (s == null) throw new IllegalArgumentException("no " + members.get(i).label + " score for the vote");
            v[i] = signs[i] * s;
        }
        return v;
    }

    /**
     * The pairwise majority: +1 when more than half of the members say a > b, -1 when more than
     * half say b > a, else 0. A NaN difference (a NaN score, or -inf against -inf) counts for
     * neither side.
     */
    public static int compare(double[] a, double[] b) {
        int forA = 0, forB = 0;
        for (int i = 0; i < a.length; i++) {
            double d = a[i] - b[i];
            if (d > 0) forA++;
            else if (d < 0) forB++;
        }
        if (2 * forA > a.length) return 1;
        if (2 * forB > a.length) return -1;
        return 0;
    }

    /** One score per candidate by {@code rule}; higher is better. signed[i] = {@link #signed} of candidate i. */
    public static double[] combine(Rule rule, double[][] signed) {
        int n = signed.length;
        double[] out = new double[n];
        switch (rule) {
            case COPELAND -> {
                for (int i = 0; i < n; i++)
                    for (int j = i + 1; j < n; j++) {
                        int c = compare(signed[i], signed[j]);
                        out[i] += c;
                        out[j] -= c;
                    }
            }
            case SOFT_Z, SOFT_RANK, LOG_RANK -> {
                int m = n == 0 ? 0 : signed[0].length;
                for (int k = 0; k < m; k++) {
                    double[] col = new double[n];
                    for (int i = 0; i < n; i++) col[i] = signed[i][k];
                    double[] t = rule == Rule.SOFT_Z ? zScores(col) : ranksKeepingNaN(col);
                    if (rule == Rule.LOG_RANK) {
                        for (int i = 0; i < n; i++) out[i] += Math.log(t[i] / n);
                    } else {
                        for (int i = 0; i < n; i++) out[i] += t[i] / m;
                    }
                }
            }
        }
        return out;
    }

    /** (v - mean) / std over the finite values; -inf stays -inf, NaN stays NaN. */
    static double[] zScores(double[] v) {
        double s = 0, s2 = 0;
        int c = 0;
        for (double x : v) if (Double.isFinite(x)) { s += x; c++; }
        double mean = c == 0 ? 0 : s / c;
        for (double x : v) if (Double.isFinite(x)) s2 += (x - mean) * (x - mean);
        double sd = c < 2 ? 1 : Math.sqrt(s2 / c);
        double[] z = new double[v.length];
        for (int i = 0; i < v.length; i++) z[i] = Double.isFinite(v[i]) ? (v[i] - mean) / (sd == 0 ? 1 : sd) : v[i];
        return z;
    }

    /** Average ranks of the non-NaN values (-inf lowest); NaN stays NaN. */
    static double[] ranksKeepingNaN(double[] v) {
        int[] idx = java.util.stream.IntStream.range(0, v.length).filter(i -> !Double.isNaN(v[i])).toArray();
        double[] vals = new double[idx.length];
        for (int k = 0; k < idx.length; k++) vals[k] = v[idx[k]];
        double[] r = RankCorrelation.rank(vals);
        double[] out = new double[v.length];
        java.util.Arrays.fill(out, Double.NaN);
        for (int k = 0; k < idx.length; k++) out[idx[k]] = r[k];
        return out;
    }

    @Override
    public String toString() {
        return label();
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof Vote v && members.equals(v.members) && java.util.Arrays.equals(signs, v.signs) && java.util.Objects.equals(name, v.name)
                && rule == v.rule;
    }

    @Override
    public int hashCode() {
        return java.util.Objects.hash(members, java.util.Arrays.hashCode(signs), name, rule);
    }
}
