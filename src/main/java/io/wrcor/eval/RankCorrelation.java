package io.wrcor.eval;

import java.util.Arrays;
import java.util.Comparator;
import java.util.stream.IntStream;

/**
 * Spearman's rho and Kendall's tau-b as scipy.stats (1.17) computes them with nan_policy='omit':
 * pairs with a NaN on either side are dropped; ties get average ranks (rho) and the tau-b
 * correction; NaN when fewer than two pairs remain or one side is constant. Infinities: kendalltau
 * keeps them as ordinary lowest/highest values, and so does spearmanr when there is no NaN; but when
 * there is a NaN, spearmanr switches to masked arrays with masked_invalid, which drops every pair
 * holding an infinity as well. Both behaviours are kept, so that rankings match scipy's numbers.
 */
public final class RankCorrelation {
    private RankCorrelation() {
    }

    /** The pairs (x[i], y[i]) with neither side NaN. */
    private static double[][] omitNaN(double[] x, double[] y) {
        if (x.length != y.length) throw new IllegalArgumentException("x has " + x.length + " values, y has " + y.length);
        int[] keep = IntStream.range(0, x.length).filter(i -> !Double.isNaN(x[i]) && !Double.isNaN(y[i])).toArray();
        double[][] out = new double[2][keep.length];
        for (int k = 0; k < keep.length; k++) {
            out[0][k] = x[keep[k]];
            out[1][k] = y[keep[k]];
        }
        return out;
    }

    /** The pairs with both sides finite. */
    private static double[][] omitNonFinite(double[] x, double[] y) {
        int[] keep = IntStream.range(0, x.length).filter(i -> Double.isFinite(x[i]) && Double.isFinite(y[i])).toArray();
        double[][] out = new double[2][keep.length];
        for (int k = 0; k < keep.length; k++) {
            out[0][k] = x[keep[k]];
            out[1][k] = y[keep[k]];
        }
        return out;
    }

    /** Average ranks, 1-based (scipy.stats.rankdata 'average'). */
    public static double[] rank(double[] v) {
        Integer[] order = IntStream.range(0, v.length).boxed().toArray(Integer[]::new);
        Arrays.sort(order, Comparator.comparingDouble(i -> v[i]));
        double[] r = new double[v.length];
        for (int i = 0; i < v.length; ) {
            int j = i;
            while (j + 1 < v.length && v[order[j + 1]] == v[order[i]]) j++;
            double avg = (i + j) / 2.0 + 1;
            for (int k = i; k <= j; k++) r[order[k]] = avg;
            i = j + 1;
        }
        return r;
    }

    public static double spearman(double[] x, double[] y) {
        boolean anyNaN = false;
        for (int i = 0; i < x.length; i++) anyNaN |= Double.isNaN(x[i]) || Double.isNaN(y[i]);
        double[][] p = anyNaN ? omitNonFinite(x, y) : omitNaN(x, y);
        if (p[0].length < 2) return Double.NaN;
        return pearson(rank(p[0]), rank(p[1]));
    }

    static double pearson(double[] a, double[] b) {
        int n = a.length;
        double ma = 0, mb = 0;
        for (int i = 0; i < n; i++) { ma += a[i]; mb += b[i]; }
        ma /= n;
        mb /= n;
        double sab = 0, saa = 0, sbb = 0;
        for (int i = 0; i < n; i++) {
            sab += (a[i] - ma) * (b[i] - mb);
            saa += (a[i] - ma) * (a[i] - ma);
            sbb += (b[i] - mb) * (b[i] - mb);
        }
        if (saa == 0 || sbb == 0) return Double.NaN;
        return sab / Math.sqrt(saa * sbb);
    }

    /** Kendall's tau-b: (concordant - discordant) / sqrt((n0 - tiesX) (n0 - tiesY)). */
    public static double kendallTauB(double[] x, double[] y) {
        double[][] p = omitNaN(x, y);
        double[] a = p[0], b = p[1];
        int n = a.length;
        if (n < 2) return Double.NaN;
        long concordant = 0, discordant = 0, tiesX = 0, tiesY = 0;
        for (int i = 0; i < n; i++)
            for (int j = i + 1; j < n; j++) {
                int sx = a[i] == a[j] ? 0 : a[i] < a[j] ? -1 : 1;
                int sy = b[i] == b[j] ? 0 : b[i] < b[j] ? -1 : 1;
                if (sx == 0) tiesX++;
                if (sy == 0) tiesY++;
                if (sx != 0 && sy != 0) {
                    if (sx == sy) concordant++;
                    else discordant++;
                }
            }
        long n0 = (long) n * (n - 1) / 2;
        double denom = Math.sqrt((double) (n0 - tiesX) * (n0 - tiesY));
        return denom == 0 ? Double.NaN : (concordant - discordant) / denom;
    }
}
