package io.wrcor.proxy;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The AZ-NAS components (Lee &amp; Ham, CVPR 2024) as the authors' NAS-Bench-201 code computes them
 * (cvlab-yonsei/AZ-NAS 5e6683a, NB201/ZeroShotProxy/compute_az_nas_score.py), on the features the
 * space declares: the stem's output and each cell's.
 *
 * <ul>
 *   <li>expressivity: per feature, the entropy -sum p log(p + 1e-8) of the normalised eigenvalues p
 *       of its channels' covariance over every sample and position; summed over the features.
 *   <li>progressivity: the smallest increase of that entropy from one feature to the next.
 *   <li>trainability: per cell, g_in = g_out^T d(out)/d(in) for random signs g_out; the largest
 *       singular value s of g_in^T g_out / (B H W) (g_in's positions folded into channels where the
 *       cell halves the map) gives -s - 1/(s + 1e-6) + 2, or minus infinity where g_in equals g_out
 *       (the cell passes its input through); the mean over the cells.
 * </ul>
 * A NaN component is minus infinity, as theirs. Two departures, both to make a score a function of
 * the architecture and its weights: the signs are not torch.bernoulli's but fixed ({@link #signs}),
 * and the network keeps the engine's weights (the authors re-draw them Kaiming-normal first).
 */
public final class AzNas {
    private AzNas() {
    }

    /** The entropy of the normalised eigenvalues of a [B, C, H, W] value's channel covariance (NaN for an all-zero value). */
    public static double expressivity(Tensor t, int channels) {
        int b = t.dim(0), c = channels;
        int hw = Math.toIntExact(t.rowSize() / c);
        long n = (long) b * hw;
        double[] v = t.toDoubles();
        double[] mean = new double[c];
        for (int s = 0; s < b; s++) {
            for (int i = 0; i < c; i++) {
                long base = ((long) s * c + i) * hw;
                double sum = 0;
                for (int k = 0; k < hw; k++) sum += v[(int) base + k];
                mean[i] += sum;
            }
        }
        for (int i = 0; i < c; i++) mean[i] /= n;
        double[] cov = new double[c * c];
        double[][] rows = new double[c][hw];
        for (int s = 0; s < b; s++) {
            for (int i = 0; i < c; i++) {
                long base = ((long) s * c + i) * hw;
                for (int k = 0; k < hw; k++) rows[i][k] = v[(int) base + k] - mean[i];
            }
            for (int i = 0; i < c; i++) {
                for (int j = i; j < c; j++) {
                    double dot = 0;
                    double[] x = rows[i], y = rows[j];
                    for (int k = 0; k < hw; k++) dot += x[k] * y[k];
                    cov[i * c + j] += dot;
                }
            }
        }
        for (int i = 0; i < c; i++) {
            for (int j = i; j < c; j++) {
                cov[i * c + j] /= n;
                cov[j * c + i] = cov[i * c + j];
            }
        }
        double[] eig = LinAlg.symmetricEigenvalues(cov, c);
        double total = 0;
        for (double e : eig) total += e;
        double h = 0;
        for (double e : eig) {
            double p = e / total;
            h += -p * Math.log(p + 1e-8);
        }
        return h;
    }

    /** expressivity: the sum over the features; progressivity: the smallest step from one to the next. NaN becomes minus infinity. */
    public static double[] expressivityAndProgressivity(double[] perFeature) {
        double sum = 0, minStep = Double.POSITIVE_INFINITY;
        boolean nan = false;
        for (int i = 0; i < perFeature.length; i++) {
            sum += perFeature[i];
            if (i > 0) {
                double step = perFeature[i] - perFeature[i - 1];
                if (Double.isNaN(step)) nan = true;
                else minStep = Math.min(minStep, step);
            }
        }
        if (perFeature.length < 2) minStep = Double.NaN; // np.min of nothing raises; no space declares fewer than two features
        return new double[]{Double.isNaN(sum) ? Double.NEGATIVE_INFINITY : sum, nan || Double.isNaN(minStep) ? Double.NEGATIVE_INFINITY : minStep};
    }

    /**
     * The signs g_out of feature {@code stream}'s trainability step: element k (row-major over the
     * feature's [B, C, H, W]) is -1 where the top bit of splitmix64's finaliser of
     * stream * 0xD1B54A32D192ED03 + (k + 1) * 0x9E3779B97F4A7C15 is set, else +1.
     */
    public static void signs(int stream, Tensor out) {
        MemorySegment seg = out.data();
        long n = out.numel();
        boolean f32 = out.dtype() == DType.F32;
        long base = stream * 0xD1B54A32D192ED03L;
        for (long k = 0; k < n; k++) {
            long z = base + (k + 1) * 0x9E3779B97F4A7C15L;
            z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
            z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
            z ^= z >>> 31;
            double v = z < 0 ? -1.0 : 1.0;
            if (f32) seg.setAtIndex(ValueLayout.JAVA_FLOAT, k, (float) v);
            else seg.setAtIndex(ValueLayout.JAVA_DOUBLE, k, v);
        }
    }

    /**
     * One cell's trainability term from g_out ([B, Co, Ho, Wo]) and g_in ([B, Ci, Hi, Wi]; null when
     * zero): minus infinity where g_in equals g_out, else -s - 1/(s + 1e-6) + 2 with s the largest
     * singular value of M = g_in'^T g_out / (B Ho Wo), g_in' being g_in with each stride x stride
     * block of positions folded into channels (PixelUnshuffle; the order of M's rows does not
     * change its singular values).
     */
    public static double trainabilityTerm(Tensor gOut, Tensor gIn, int[] outShape, int[] inShape) {
        int b = gOut.dim(0);
        int co = outShape[0], ho = outShape[1], wo = outShape[2];
        int ci = inShape[0], hi = inShape[1], wi = inShape[2];
        double[] go = gOut.toDoubles(), gi = gIn == null ? null : gIn.toDoubles();
        // element by element (the signs are +-1, so no -0.0 or NaN makes Arrays.equals differ from ==)
        if (gi != null && java.util.Arrays.equals(outShape, inShape) && java.util.Arrays.equals(go, gi)) return Double.NEGATIVE_INFINITY;
        if (hi % ho != 0 || wi % wo != 0 || hi / ho != wi / wo) {
            throw new IllegalArgumentException("az_trainability: a cell maps " + hi + "x" + wi + " to " + ho + "x" + wo + " (not a whole stride)");
        }
        int stride = hi / ho;
        int rows = ci * stride * stride;
        double[] m = new double[rows * co];
        if (gi != null) {
            double[] outCol = new double[co];
            for (int s = 0; s < b; s++) {
                for (int y = 0; y < ho; y++) {
                    for (int x = 0; x < wo; x++) {
                        for (int o = 0; o < co; o++) outCol[o] = go[((s * co + o) * ho + y) * wo + x];
                        for (int c = 0; c < ci; c++) {
                            for (int dy = 0; dy < stride; dy++) {
                                for (int dx = 0; dx < stride; dx++) {
                                    double v = gi[((s * ci + c) * hi + y * stride + dy) * wi + x * stride + dx];
                                    if (v == 0) continue;
                                    int r = (c * stride + dy) * stride + dx;
                                    for (int o = 0; o < co; o++) m[r * co + o] += v * outCol[o];
                                }
                            }
                        }
                    }
                }
            }
            double scale = 1.0 / ((double) b * ho * wo);
            for (int i = 0; i < m.length; i++) m[i] *= scale;
        }
        double s = Math.sqrt(Math.max(0, largestEigenvalueOfGram(m, rows, co)));
        return -s - 1 / (s + 1e-6) + 2;
    }

    /** The mean of the cells' terms; NaN becomes minus infinity. */
    public static double trainability(double[] terms) {
        double sum = 0;
        for (double t : terms) sum += t;
        double mean = sum / terms.length;
        return Double.isNaN(mean) ? Double.NEGATIVE_INFINITY : mean;
    }

    /** The largest eigenvalue of M^T M or M M^T (whichever is smaller) for a rows x cols M. */
    private static double largestEigenvalueOfGram(double[] m, int rows, int cols) {
        boolean byCols = cols <= rows;
        int d = byCols ? cols : rows, len = byCols ? rows : cols;
        double[] g = new double[d * d];
        for (int i = 0; i < d; i++) {
            for (int j = i; j < d; j++) {
                double dot = 0;
                for (int k = 0; k < len; k++) {
                    dot += byCols ? m[k * cols + i] * m[k * cols + j] : m[i * cols + k] * m[j * cols + k];
                }
                g[i * d + j] = g[j * d + i] = dot;
            }
        }
        double max = 0;
        for (double e : LinAlg.symmetricEigenvalues(g, d)) max = Math.max(max, e);
        return max;
    }
}
