package io.wrcor.proxy;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Node;
import io.wrcor.graph.Op;
import io.wrcor.tensor.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * VKDNW (Tybl and Neumann, CVPR 2025), as its authors' NAS-Bench-201 code computes it
 * (ondratybl/VKDNW 6901b65, NB201/ZeroShotProxy/compute_vkdnw_score.py, with one weight per tensor,
 * {@code p = 1}, and the first {@code params_grad_len = 128} tensors): the network in eval mode (BN
 * with its running statistics, a fresh layer's mean 0 and variance 1); for each sample, the
 * Jacobian J of the logits with respect to the first element of each of the first 128 parameter
 * tensors ({@code named_parameters()} order, {@link Graph#parameters}); the factor L of the
 * smoothed softmax's covariance (their {@code cholesky_covariance}: probabilities mixed with
 * alpha = 0.05 in float16 over the classes); the Fisher matrix F = mean over samples of
 * (L J)^T (L J); its singular values; the deciles 0.1 .. 0.9 of those (torch.quantile, linear
 * interpolation), normalised by their sum; vkdnw_entropy = -sum t log(t + 1e-10).
 * vkdnw_dim = the number of parameter tensors; the authors' single score ranks by (dim, entropy)
 * lexicographically, which {@link #single} encodes as one number.
 *
 * <p>The authors re-draw every weight Kaiming-normal and use a random normal batch; here the
 * engine's weights and batch, as for every other proxy.
 */
public final class Vkdnw {
    /** How many parameter tensors the Jacobian covers (their {@code params_grad_len}). */
    public static final int TENSORS = 128;

    private Vkdnw() {
    }

    /** The tensors whose first element the Jacobian is taken with respect to: the first 128 in model order. */
    public static List<String> selected(Graph g) {
        List<String> all = g.parameters();
        return all.subList(0, Math.min(TENSORS, all.size()));
    }

    /** The graph node that owns each selected tensor (a conv, depthwise conv, BN, bias or linear node). */
    public static Map<String, Integer> owners(Graph g, List<String> names) {
        Map<String, Integer> owner = new LinkedHashMap<>();
        for (Node n : g.nodes()) {
            switch (n.op()) {
                case Op.Conv c -> owner.put(c.param() + ".weight", n.id());
                case Op.DepthwiseConv c -> owner.put(c.param() + ".weight", n.id());
                case Op.BatchNorm bn -> {
                    owner.put(bn.param() + ".weight", n.id());
                    owner.put(bn.param() + ".bias", n.id());
                }
                case Op.Bias b -> owner.put(b.param() + ".bias", n.id());
                case Op.Linear l -> {
                    owner.put(l.param() + ".weight", n.id());
                    owner.put(l.param() + ".bias", n.id());
                }
                default -> { }
            }
        }
        Map<String, Integer> out = new LinkedHashMap<>();
        for (String name : names) {
            Integer id = owner.get(name);
            if (id == null) throw new IllegalStateException("no node owns parameter " + name);
            out.put(name, id);
        }
        return out;
    }

    /**
     * Per sample, d(output)/d(first element of the parameter) of one owner node, given dy =
     * d(output)/d(node output) (null: zero) and x = the node's input: conv and depthwise conv
     * weight[0] (out 0, in 0, tap 0, 0), BN gamma[0] ((x - mean) / sqrt(var + eps) at channel 0),
     * beta[0] and a bias[0] (the sum of dy over channel 0), linear weight[0, 0] and bias[0].
     *
     * @param bnNorm for BN gamma: {mean, 1 / sqrt(var + eps)} of channel 0
     */
    static double[] firstElementGradient(Node n, String name, Tensor dy, Tensor x, double[] bnNorm, int batch) {
        double[] g = new double[batch];
        if (dy == null) return g;
        boolean weight = name.endsWith(".weight");
        switch (n.op()) {
            case Op.Linear l -> {
                for (int i = 0; i < batch; i++) g[i] = dy.get((long) i * l.out()) * (weight ? x.get((long) i * l.in()) : 1.0);
            }
            case Op.Conv c -> convTap(dy, x, c.stride(), c.pad() - (c.taps() == null ? 0 : c.taps().oh()), c.pad() - (c.taps() == null ? 0 : c.taps().ow()), g);
            case Op.DepthwiseConv c -> convTap(dy, x, c.stride(), c.pad(), c.pad(), g);
            case Op.BatchNorm bn -> {
                long plane = (long) dy.dim(2) * dy.dim(3), sample = dy.rowSize();
                for (int i = 0; i < batch; i++) {
                    double s = 0;
                    for (long k = 0; k < plane; k++) {
                        double d = dy.get(i * sample + k);
                        s += weight ? d * (x.get(i * sample + k) - bnNorm[0]) * bnNorm[1] : d;
                    }
                    g[i] = s;
                }
            }
            case Op.Bias b -> {
                long plane = (long) dy.dim(2) * dy.dim(3), sample = dy.rowSize();
                for (int i = 0; i < batch; i++) {
                    double s = 0;
                    for (long k = 0; k < plane; k++) s += dy.get(i * sample + k);
                    g[i] = s;
                }
            }
            default -> throw new IllegalStateException("node " + n.id() + " owns no parameter");
        }
        return g;
    }

    /**
     * sum over output cells of dy[i, 0, ho, wo] * x[i, 0, ho * stride - padH, wo * stride - padW]: the tap
     * (0, 0) of filter (0, 0) (padH, padW: where that tap sits before the window's first cell).
     */
    private static void convTap(Tensor dy, Tensor x, int stride, int padH, int padW, double[] g) {
        int ho = dy.dim(2), wo = dy.dim(3), h = x.dim(2), w = x.dim(3);
        long dySample = dy.rowSize(), xSample = x.rowSize();
        for (int i = 0; i < g.length; i++) {
            double s = 0;
            for (int r = 0; r < ho; r++) {
                int yr = r * stride - padH;
                if (yr < 0 || yr >= h) continue;
                for (int q = 0; q < wo; q++) {
                    int xc = q * stride - padW;
                    if (xc < 0 || xc >= w) continue;
                    s += dy.get(i * dySample + (long) r * wo + q) * x.get(i * xSample + (long) yr * w + xc);
                }
            }
            g[i] = s;
        }
    }

    /** A float rounded to float16 and back (Java's IEEE binary16 conversion, round to nearest even). */
    static float half(float v) {
        return Float.float16ToFloat(Float.floatToFloat16(v));
    }

    /**
     * Their {@code cholesky_covariance} for one sample's logits: prob = softmax * (1 - alpha) +
     * alpha / C with alpha the float16 0.05 (1 - alpha and alpha / C float16 too, float32 after),
     * q = 1 - cumsum(prob) with q[C-1] = 0, d[j] = sqrt(prob[j] q[j] / q[j-1]) (q[-1] = 1), and
     * L[i][j] = -prob[i] / q[j] * d[j] below the diagonal (0 where q[j] = 0), d[j] on it. C x C, row-major.
     */
    public static double[] choleskyFactor(double[] logits) {
        int c = logits.length;
        float alpha = half(0.05f);
        float oneMinus = half(1f - alpha), share = half(alpha / c);
        double max = Double.NEGATIVE_INFINITY;
        for (double z : logits) max = Math.max(max, z);
        double sum = 0;
        double[] p = new double[c];
        for (int j = 0; j < c; j++) {
            p[j] = Math.exp(logits[j] - max);
            sum += p[j];
        }
        for (int j = 0; j < c; j++) p[j] = p[j] / sum * oneMinus + share;
        double[] q = new double[c];
        double cum = 0;
        for (int j = 0; j < c; j++) {
            cum += p[j];
            q[j] = j == c - 1 ? 0 : 1 - cum;
        }
        double[] d = new double[c];
        for (int j = 0; j < c; j++) d[j] = Math.sqrt(p[j] * q[j] / (j == 0 ? 1 : q[j - 1]));
        double[] l = new double[c * c];
        for (int i = 0; i < c; i++) {
            for (int j = 0; j < i; j++) l[i * c + j] = q[j] == 0 ? 0 : -p[i] / q[j] * d[j];
            l[i * c + i] = d[i];
        }
        return l;
    }

    /**
     * F = mean over samples of (L_i J_i)^T (L_i J_i), P x P row-major.
     *
     * @param jacobian per sample, the C x P Jacobian row-major
     * @param logits   per sample, its C logits
     */
    public static double[] fisher(double[][] jacobian, double[][] logits, int p) {
        int b = jacobian.length;
        double[] f = new double[p * p];
        for (int i = 0; i < b; i++) {
            int c = logits[i].length;
            double[] l = choleskyFactor(logits[i]);
            double[] m = new double[c * p]; // L J
            for (int r = 0; r < c; r++) {
                for (int k = 0; k <= r; k++) {
                    double lrk = l[r * c + k];
                    if (lrk == 0) continue;
                    for (int col = 0; col < p; col++) m[r * p + col] += lrk * jacobian[i][k * p + col];
                }
            }
            for (int r = 0; r < c; r++) {
                for (int a = 0; a < p; a++) {
                    double v = m[r * p + a];
                    if (v == 0) continue;
                    for (int col = 0; col < p; col++) f[a * p + col] += v * m[r * p + col];
                }
            }
        }
        for (int k = 0; k < f.length; k++) f[k] /= b;
        return f;
    }

    /** torch.quantile (linear interpolation) of values at each q. */
    static double[] quantiles(double[] values, double[] qs) {
        double[] s = values.clone();
        java.util.Arrays.sort(s);
        double[] out = new double[qs.length];
        for (int k = 0; k < qs.length; k++) {
            double rank = qs[k] * (s.length - 1);
            int lo = (int) Math.floor(rank), hi = (int) Math.ceil(rank);
            out[k] = s[lo] + (rank - lo) * (s[hi] - s[lo]);
        }
        return out;
    }

    /** Their deciles: torch.arange(0.1, 1., 0.1) in float32. */
    static double[] deciles() {
        double[] q = new double[9];
        for (int k = 0; k < 9; k++) q[k] = (float) ((k + 1) / 10.0);
        return q;
    }

    /** vkdnw_entropy of a Fisher matrix (P x P): the entropy of its normalised singular-value deciles. */
    public static double entropy(double[] fisher, int p) {
        if (p == 0) throw new IllegalArgumentException("vkdnw: the network has no parameter tensor");
        double[] eig = LinAlg.symmetricEigenvalues(fisher, p);
        double[] sv = new double[p];
        for (int k = 0; k < p; k++) sv[k] = Math.abs(eig[k]); // singular values of a symmetric matrix
        double[] qv = quantiles(sv, deciles());
        double norm = 0;
        for (double v : qv) norm += Math.abs(v);
        double e = 0;
        for (double v : qv) {
            double t = v / (norm + 1e-10);
            e -= t * Math.log(t + 1e-10);
        }
        return e;
    }

    /**
     * The authors' single score as one number: their ranking sorts by (vkdnw_dim, vkdnw_entropy)
     * lexicographically, and the entropy of nine shares is below log 9 < 10, so dim * 10 + entropy
     * orders every pair the same way.
     */
    public static double single(int dim, double entropy) {
        return 10.0 * dim + entropy;
    }

    /** The parameter tensors of the graph, as VKDNW counts them (vkdnw_dim). */
    public static int dim(Graph g) {
        return g.parameters().size();
    }
}
