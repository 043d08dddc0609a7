package io.wrcor.search;

import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Op;
import java.util.random.RandomGenerator;

/**
 * REINFORCE as NAS-Bench-201 runs it: a categorical distribution per edge (logits theta[6][5], all
 * zero at the start), Adam, and an exponential-moving-average baseline. The reward of an
 * architecture is the sum of its members' z-scores, with means and deviations taken from
 * {@code calibration} random architectures evaluated before the search (a non-finite score counts
 * as the lowest z-score seen there). The result is the best evaluated architecture by the
 * objective's comparator.
 */
public final class Reinforce implements Search {
    private final double lr;
    private final double momentum;
    private final int calibration;

    public Reinforce(double lr, double momentum, int calibration) {
        if (!(lr > 0) || !(momentum >= 0 && momentum < 1) || calibration < 2) {
            throw new IllegalArgumentException("REINFORCE needs lr > 0, 0 <= momentum < 1 and >= 2 calibration architectures");
        }
        this.lr = lr;
        this.momentum = momentum;
        this.calibration = calibration;
    }

    /** Adam on the logits (beta1 0.9, beta2 0.999, eps 1e-8, as torch.optim.Adam). */
    static final class Policy {
        final double[][] theta = new double[Nb201Arch.EDGES][Nb201Op.values().length];
        private final double[][] m = new double[theta.length][theta[0].length], v = new double[theta.length][theta[0].length];
        private int t;
        private final double lr;

        Policy(double lr) {
            this.lr = lr;
        }

        double[] probabilities(int edge) {
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double x : theta[edge]) max = Math.max(max, x);
            double[] p = new double[theta[edge].length];
            for (int k = 0; k < p.length; k++) sum += p[k] = Math.exp(theta[edge][k] - max);
            for (int k = 0; k < p.length; k++) p[k] /= sum;
            return p;
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

        /** One Adam step on loss = -advantage * log p(actions): d/dtheta[e][k] = advantage * (p_k - 1[k = a_e]). */
        void step(int[] actions, double advantage) {
            t++;
            double b1 = 0.9, b2 = 0.999, eps = 1e-8;
            for (int e = 0; e < theta.length; e++) {
                double[] p = probabilities(e);
                for (int k = 0; k < p.length; k++) {
                    double g = advantage * (p[k] - (k == actions[e] ? 1 : 0));
                    m[e][k] = b1 * m[e][k] + (1 - b1) * g;
                    v[e][k] = b2 * v[e][k] + (1 - b2) * g * g;
                    double mh = m[e][k] / (1 - Math.pow(b1, t)), vh = v[e][k] / (1 - Math.pow(b2, t));
                    theta[e][k] -= lr * mh / (Math.sqrt(vh) + eps);
                }
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
    public Nb201Arch run(Objective objective, int n, RandomGenerator rnd, Listener listener) {
        int m = objective.vote().members().size();
        double[][] cal = new double[calibration][];
        for (int i = 0; i < calibration; i++) cal[i] = objective.signedScores(Nb201Arch.sample(rnd));
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
        Policy policy = new Policy(lr);
        Baseline baseline = new Baseline(momentum);
        Best best = new Best(objective);
        Nb201Op[] all = Nb201Op.values();
        for (int step = 0; step < n; step++) {
            int[] actions = policy.sample(rnd);
            Nb201Op[] ops = new Nb201Op[actions.length];
            for (int e = 0; e < ops.length; e++) ops[e] = all[actions[e]];
            Nb201Arch a = new Nb201Arch(ops);
            double[] s = objective.signedScores(a);
            double reward = 0;
            for (int k = 0; k < m; k++) reward += Double.isFinite(s[k]) ? (s[k] - mean[k]) / sd[k] : lowest[k];
            baseline.update(reward);
            policy.step(actions, reward - baseline.value());
            best.offer(a, s);
            listener.evaluated(step, a, s, best.arch());
        }
        return best.arch();
    }
}
