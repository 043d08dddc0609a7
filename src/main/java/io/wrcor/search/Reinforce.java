package io.wrcor.search;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.util.ArrayList;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * REINFORCE as NAS-Bench-201 runs it: the space's policy (for NAS-Bench-201 a categorical distribution
 * per edge, logits theta[6][5], all zero at the start), Adam, and an exponential-moving-average baseline. The reward of an
 * architecture is the sum of its members' z-scores, with means and deviations taken from
 * {@code calibration} random architectures evaluated before the search (a non-finite score counts
 * as the lowest z-score seen there). The result is the best evaluated architecture by the
 * objective's comparator.
 */
public final class Reinforce implements Search {
    private final double lr;
    private final double momentum;
    private final int calibration;
    private final int samples;

    public Reinforce(double lr, double momentum, int calibration) {
        this(lr, momentum, calibration, 1);
    }

    /**
     * REINFORCE drawing {@code samples} architectures per policy update (1: the published algorithm,
     * one draw, one update). With K > 1 the K draws come from the policy as it stands, are scored
     * together ({@link Objective#prefetch}), each reward updates the baseline in draw order and
     * gets its advantage against it (as a single draw does), and one Adam step follows on the mean
     * of the K draws' gradients.
     */
    public Reinforce(double lr, double momentum, int calibration, int samples) {
        if (!(lr > 0) || !(momentum >= 0 && momentum < 1) || calibration < 2) {
            throw new IllegalArgumentException("REINFORCE needs lr > 0, 0 <= momentum < 1 and >= 2 calibration architectures");
        }
        if (samples < 1) throw new IllegalArgumentException("REINFORCE needs >= 1 samples per update, got " + samples);
        this.lr = lr;
        this.momentum = momentum;
        this.calibration = calibration;
        this.samples = samples;
    }

    /**
     * The space's policy: logits per categorical choice (softmax) and per binary choice
     * (Bernoulli of the sigmoid), updated by Adam (beta1 0.9, beta2 0.999, eps 1e-8, as
     * torch.optim.Adam) on loss = -advantage * log p(draw).
     */
    static final class Policy {
        final double[][] theta; // categorical choices
        final double[] beta;    // binary choices
        private final double[][] m, v;
        private final double[] mb, vb;
        private int t;
        private final double lr;

        Policy(SearchSpace.Policy spec, double lr, RandomGenerator init) {
            this.lr = lr;
            int[] k = spec.categorical();
            theta = new double[k.length][];
            m = new double[k.length][];
            v = new double[k.length][];
            for (int e = 0; e < k.length; e++) {
                theta[e] = new double[k[e]];
                m[e] = new double[k[e]];
                v[e] = new double[k[e]];
            }
            beta = new double[spec.binary()];
            mb = new double[beta.length];
            vb = new double[beta.length];
            if (spec.initScale() != 0) {
                for (double[] row : theta) for (int j = 0; j < row.length; j++) row[j] = spec.initScale() * init.nextGaussian();
                for (int j = 0; j < beta.length; j++) beta[j] = spec.initScale() * init.nextGaussian();
            }
        }

        double[] probabilities(int edge) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double x : theta[edge]) max = Math.max(max, x);
            double[] p = new double[theta[edge].length];
            for (int k = 0; k < p.length; k++) sum += p[k] = Math.exp(theta[edge][k] - max);
            for (int k = 0; k < p.length; k++) p[k] /= sum;
            return p;
        }

        static double sigmoid(double x) {
            return 1 / (1 + Math.exp(-x));
        }

        int[] sample(RandomGenerator rnd) {
            int[] a = new int[theta.length];
            for (int e = 0; e < a.length; e++) {
                double u = rnd.nextDouble(), c = 0;
                double[] p = probabilities(e);
                a[e] = p.length - 1;
                for (int k = 0; k < p.length; k++) if (u < (c += p[k])) { a[e] = k; break; }
            }
            return a;
        }

        boolean[] sampleBits(RandomGenerator rnd) {
            boolean[] b = new boolean[beta.length];
            for (int j = 0; j < b.length; j++) b[j] = rnd.nextDouble() < sigmoid(beta[j]);
            return b;
        }

        /**
         * One Adam step on loss = -advantage * log p(draw): d/dtheta[e][k] = advantage * (p_k - 1[k = a_e]),
         * d/dbeta[j] = advantage * (sigmoid(beta_j) - bit_j).
         */
        void step(int[] actions, boolean[] bits, double advantage) {
            step(new int[][] {actions}, new boolean[][] {bits}, new double[] {advantage});
        }

        /**
         * One Adam step on the mean over draws i of loss_i = -advantage_i * log p(draw_i); with one
         * draw the gradient is that draw's, to the bit.
         */
        void step(int[][] actions, boolean[][] bits, double[] advantage) {
            t++;
            int n = advantage.length;
            double b1 = 0.9, b2 = 0.999, eps = 1e-8;
            double c1 = 1 - Math.pow(b1, t), c2 = 1 - Math.pow(b2, t);
            for (int e = 0; e < theta.length; e++) {
                double[] p = probabilities(e);
                for (int k = 0; k < p.length; k++) {
                    double g = 0;
                    for (int i = 0; i < n; i++) g += advantage[i] * (p[k] - (k == actions[i][e] ? 1 : 0));
                    g /= n;
                    m[e][k] = b1 * m[e][k] + (1 - b1) * g;
                    v[e][k] = b2 * v[e][k] + (1 - b2) * g * g;
                    theta[e][k] -= lr * (m[e][k] / c1) / (Math.sqrt(v[e][k] / c2) + eps);
                }
            }
            for (int j = 0; j < beta.length; j++) {
                double g = 0;
                for (int i = 0; i < n; i++) g += advantage[i] * (sigmoid(beta[j]) - (bits[i][j] ? 1 : 0));
                g /= n;
                mb[j] = b1 * mb[j] + (1 - b1) * g;
                vb[j] = b2 * vb[j] + (1 - b2) * g * g;
                beta[j] -= lr * (mb[j] / c1) / (Math.sqrt(vb[j] / c2) + eps);
            }
        }
    }

    /** The baseline of NAS-Bench-201's REINFORCE: a bias-corrected exponential moving average. */
    static final class Baseline {
        private final double momentum;
        private double numerator, denominator;

        Baseline(double momentum) {
            this.momentum = momentum;
        }

        void update(double x) {
            numerator = momentum * numerator + (1 - momentum) * x;
            denominator = momentum * denominator + (1 - momentum);
        }

        double value() {
            return numerator / denominator;
        }
    }

    @Override
    public Arch run(SearchSpace space, Objective objective, int n, RandomGenerator rnd, Listener listener) {
        int m = objective.width();
        List<Arch> sample = new ArrayList<>(calibration);
        for (int i = 0; i < calibration; i++) sample.add(space.sample(rnd));
        objective.prefetch(new ArrayList<>(new LinkedHashSet<>(sample))); // drawn first, scored together: the same draws as one by one
        double[][] cal = new double[calibration][];
        for (int i = 0; i < calibration; i++) cal[i] = objective.signedScores(sample.get(i));
        double[] mean = new double[m], sd = new double[m], lowest = new double[m];
        for (int k = 0; k < m; k++) {
            double s = 0, s2 = 0;
            int c = 0;
            for (double[] row : cal) if (Double.isFinite(row[k])) { s += row[k]; c++; }
            mean[k] = c == 0 ? 0 : s / c;
            for (double[] row : cal) if (Double.isFinite(row[k])) s2 += (row[k] - mean[k]) * (row[k] - mean[k]);
            sd[k] = c < 2 || s2 == 0 ? 1 : Math.sqrt(s2 / (c - 1));
            lowest[k] = Double.POSITIVE_INFINITY;
            for (double[] row : cal) if (Double.isFinite(row[k])) lowest[k] = Math.min(lowest[k], (row[k] - mean[k]) / sd[k]);
            if (lowest[k] == Double.POSITIVE_INFINITY) lowest[k] = -3;
        }
        SearchSpace.Policy spec = space.policy();
        final int MAX_DRAWS = 1_000_000;
        Policy policy = new Policy(spec, lr, rnd);
        Baseline baseline = new Baseline(momentum);
        Best best = new Best(objective);
        int step = 0;
        while (step < n) {
            int round = Math.min(samples, n - step);
            int[][] actions = new int[round][];
            boolean[][] bits = new boolean[round][];
            Arch[] archs = new Arch[round];
            for (int i = 0; i < round; i++) {
                int draws = 0;
                do { // an invalid draw is redrawn whole
                    if (draws++ == MAX_DRAWS) {
                        throw new IllegalStateException("REINFORCE: " + MAX_DRAWS + " draws of the policy in a row were invalid or over the"
                                + " FLOPs limit at step " + (step + i) + "; the limit is too tight for this space");
                    }
                    actions[i] = policy.sample(rnd);
                    bits[i] = policy.sampleBits(rnd);
                    archs[i] = spec.decoder().decode(actions[i], bits[i]);
                } while (archs[i] == null);
            }
            if (round > 1) objective.prefetch(new ArrayList<>(new LinkedHashSet<>(List.of(archs))));
            double[] advantage = new double[round];
            double[][] scores = new double[round][];
            for (int i = 0; i < round; i++) {
                double[] s = scores[i] = objective.signedScores(archs[i]);
                double reward = 0;
                for (int k = 0; k < m; k++) reward += Double.isFinite(s[k]) ? (s[k] - mean[k]) / sd[k] : lowest[k];
                baseline.update(reward);
                advantage[i] = reward - baseline.value();
            }
            policy.step(actions, bits, advantage);
            for (int i = 0; i < round; i++) {
                best.offer(archs[i], scores[i]);
                listener.evaluated(step++, archs[i], scores[i], best.arch());
            }
        }
        return best.arch();
    }
}
