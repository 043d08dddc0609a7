package io.wrcor.backend.cpu;

import io.wrcor.backend.Backend;
import io.wrcor.tensor.Tensor;

/**
 * The oracle: every op written as the plain loops of its definition, in float64 arithmetic, with
 * no blocking, threads or native code. Slow on purpose; every other backend is tested against it.
 */
public final class ReferenceBackend implements Backend {
    /** The reference ops keep no state: another instance is a lane. */
    @Override
    public Backend newLane() {
        return new ReferenceBackend();
    }

    @Override
    public String name() {
        return "reference";
    }

    static int outSize(int in, int k, int stride, int pad) {
        return (in + 2 * pad - k) / stride + 1;
    }

    @Override
    public void convForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        convForward(x, w, stride, pad, 1, y);
    }

    @Override
    public void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        convBackwardData(dy, w, stride, pad, 1, dx);
    }

    @Override
    public void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        convBackwardWeight(x, dy, stride, pad, 1, dw);
    }

    // Grouped convolution, as PyTorch's groups: output channel co of the cout / groups of group g reads
    // input channels [g * cin / groups, (g + 1) * cin / groups), w [Cout, Cin / groups, k, k]. One group
    // is the ordinary convolution, Cin groups the depthwise one.

    private static void convForward(Tensor x, Tensor w, int stride, int pad, int groups, Tensor y) {
        int b = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = w.dim(0), cinG = w.dim(1), coutG = cout / groups, k = w.dim(2);
        int ho = outSize(h, k, stride, pad), wo = outSize(wd, k, stride, pad);
        for (int n = 0; n < b; n++)
            for (int co = 0; co < cout; co++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++) {
                        double s = 0;
                        for (int ci = 0; ci < cinG; ci++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += x.get(((long) (n * cin + co / coutG * cinG + ci) * h + iy) * wd + ix)
                                            * w.get(((long) (co * cinG + ci) * k + ky) * k + kx);
                                }
                        y.set(((long) (n * cout + co) * ho + oy) * wo + ox, s);
                    }
    }

    private static void convBackwardData(Tensor dy, Tensor w, int stride, int pad, int groups, Tensor dx) {
        int b = dx.dim(0), cin = dx.dim(1), h = dx.dim(2), wd = dx.dim(3);
        int cout = w.dim(0), cinG = w.dim(1), coutG = cout / groups, k = w.dim(2), ho = dy.dim(2), wo = dy.dim(3);
        double[] acc = new double[Math.toIntExact(dx.numel())];
        for (int n = 0; n < b; n++)
            for (int co = 0; co < cout; co++)
                for (int oy = 0; oy < ho; oy++)
                    for (int ox = 0; ox < wo; ox++) {
                        double g = dy.get(((long) (n * cout + co) * ho + oy) * wo + ox);
                        for (int ci = 0; ci < cinG; ci++)
                            for (int ky = 0; ky < k; ky++)
                                for (int kx = 0; kx < k; kx++) {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    acc[((n * cin + co / coutG * cinG + ci) * h + iy) * wd + ix] += g * w.get(((long) (co * cinG + ci) * k + ky) * k + kx);
                                }
                    }
        for (int i = 0; i < acc.length; i++) dx.set(i, acc[i]);
    }

    private static void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, int groups, Tensor dw) {
        int b = x.dim(0), cin = x.dim(1), h = x.dim(2), wd = x.dim(3);
        int cout = dw.dim(0), cinG = dw.dim(1), coutG = cout / groups, k = dw.dim(2), ho = dy.dim(2), wo = dy.dim(3);
        for (int co = 0; co < cout; co++)
            for (int ci = 0; ci < cinG; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        double s = 0;
                        for (int n = 0; n < b; n++)
                            for (int oy = 0; oy < ho; oy++)
                                for (int ox = 0; ox < wo; ox++) {
                                    int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                                    if (iy < 0 || iy >= h || ix < 0 || ix >= wd) continue;
                                    s += dy.get(((long) (n * cout + co) * ho + oy) * wo + ox)
                                            * x.get(((long) (n * cin + co / coutG * cinG + ci) * h + iy) * wd + ix);
                                }
                        dw.set(((long) (co * cinG + ci) * k + ky) * k + kx, s);
                    }
    }

    @Override
    public void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor meanOut, Tensor invStdOut) {
        double[] mean = new double[x.dim(1)], invStd = new double[x.dim(1)];
        batchNormForward(x, gamma, beta, eps, y, mean, invStd);
        Backend.store(mean, meanOut);
        Backend.store(invStd, invStdOut);
    }

    void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, double[] mean, double[] invStd) {
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c), count = b * hw;
        for (int ch = 0; ch < c; ch++) {
            double s = 0;
            for (int n = 0; n < b; n++)
                for (long i = 0; i < hw; i++) s += x.get((n * (long) c + ch) * hw + i);
            double m = s / count, v = 0;
            for (int n = 0; n < b; n++)
                for (long i = 0; i < hw; i++) {
                    double d = x.get((n * (long) c + ch) * hw + i) - m;
                    v += d * d;
                }
            mean[ch] = m;
            invStd[ch] = 1.0 / Math.sqrt(v / count + eps);
            double g = gamma.get(ch), bt = beta.get(ch);
            for (int n = 0; n < b; n++)
                for (long i = 0; i < hw; i++) {
                    long j = (n * (long) c + ch) * hw + i;
                    y.set(j, (x.get(j) - m) * invStd[ch] * g + bt);
                }
        }
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor mean, Tensor invStd, Tensor dx) {
        batchNormBackward(x, dy, gamma, Backend.values(mean), Backend.values(invStd), dx);
    }

    void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, double[] mean, double[] invStd, Tensor dx) {
        // dx = gamma * invStd * (dy - mean(dy) - xhat * mean(dy * xhat)), means over batch and space
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c), count = b * hw;
        for (int ch = 0; ch < c; ch++) {
            double sdy = 0, sdyx = 0;
            for (int n = 0; n < b; n++)
                for (long i = 0; i < hw; i++) {
                    long j = (n * (long) c + ch) * hw + i;
                    sdy += dy.get(j);
                    sdyx += dy.get(j) * (x.get(j) - mean[ch]) * invStd[ch];
                }
            double mdy = sdy / count, mdyx = sdyx / count, scale = gamma.get(ch) * invStd[ch];
            for (int n = 0; n < b; n++)
                for (long i = 0; i < hw; i++) {
                    long j = (n * (long) c + ch) * hw + i;
                    double xhat = (x.get(j) - mean[ch]) * invStd[ch];
                    dx.set(j, scale * (dy.get(j) - mdy - xhat * mdyx));
                }
        }
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        for (long i = 0; i < x.numel(); i++) y.set(i, Math.max(x.get(i), 0.0));
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        for (long i = 0; i < x.numel(); i++) dx.set(i, x.get(i) > 0 ? dy.get(i) : 0.0);
    }

    /** f(x) of a pointwise activation, in double. */
    public static double pointwise(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, double x) {
        return switch (kind) {
            case LEAKY_RELU -> x > 0 ? x : a * x;
            case HARD_SIGMOID -> Math.max(0, Math.min(1, a * x + b));
            case HARD_SWISH -> x * Math.max(0, Math.min(1, x / 6 + 0.5));
        };
    }

    /**
     * f'(x), PyTorch's choice at the kinks: leaky_relu's slope is 1 only for x > 0; hardsigmoid's a
     * only strictly inside (-b/a, (1-b)/a); hardswish's 0 for x < -3, 1 for x > 3, x / 3 + 1/2 between
     * (both ends included, as torch's hardswish_backward).
     */
    public static double pointwiseDerivative(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, double x) {
        return switch (kind) {
            case LEAKY_RELU -> x > 0 ? 1 : a;
            case HARD_SIGMOID -> {
                double z = a * x + b;
                yield z > 0 && z < 1 ? a : 0;
            }
            case HARD_SWISH -> x < -3 ? 0 : x > 3 ? 1 : x / 3 + 0.5;
        };
    }

    @Override
    public void pointwise(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor y) {
        for (long i = 0; i < x.numel(); i++) y.set(i, pointwise(kind, a, b, x.get(i)));
    }

    @Override
    public void pointwiseBackward(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor dy, Tensor dx) {
        for (long i = 0; i < x.numel(); i++) dx.set(i, dy.get(i) * pointwiseDerivative(kind, a, b, x.get(i)));
    }

    @Override
    public void clip(Tensor x, double lo, double hi, Tensor y) {
        for (long i = 0; i < x.numel(); i++) y.set(i, Math.min(Math.max(x.get(i), lo), hi));
    }

    @Override
    public void clipBackward(Tensor y, double lo, double hi, Tensor dy, Tensor dx) {
        for (long i = 0; i < y.numel(); i++) {
            double v = y.get(i);
            dx.set(i, v > lo && v < hi ? dy.get(i) : 0.0);
        }
    }

    private static int poolCount(int oy, int ox, int k, int stride, int pad, int h, int w, boolean countIncludePad) {
        if (countIncludePad) return k * k;
        int y0 = Math.max(oy * stride - pad, 0), y1 = Math.min(oy * stride - pad + k, h);
        int x0 = Math.max(ox * stride - pad, 0), x1 = Math.min(ox * stride - pad + k, w);
        return (y1 - y0) * (x1 - x0);
    }

    @Override
    public void avgPoolForward(Tensor x, int k, int stride, int pad, boolean countIncludePad, Tensor y) {
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3);
        int ho = outSize(h, k, stride, pad), wo = outSize(w, k, stride, pad);
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double s = 0;
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w) s += x.get(((long) p * h + iy) * w + ix);
                        }
                    y.set(((long) p * ho + oy) * wo + ox, s / poolCount(oy, ox, k, stride, pad, h, w, countIncludePad));
                }
    }

    @Override
    public void avgPoolBackward(Tensor dy, int k, int stride, int pad, boolean countIncludePad, Tensor dx) {
        int planes = dx.dim(0) * dx.dim(1), h = dx.dim(2), w = dx.dim(3), ho = dy.dim(2), wo = dy.dim(3);
        double[] acc = new double[Math.toIntExact(dx.numel())];
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    double g = dy.get(((long) p * ho + oy) * wo + ox) / poolCount(oy, ox, k, stride, pad, h, w, countIncludePad);
                    for (int ky = 0; ky < k; ky++)
                        for (int kx = 0; kx < k; kx++) {
                            int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                            if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc[(p * h + iy) * w + ix] += g;
                        }
                }
        for (int i = 0; i < acc.length; i++) dx.set(i, acc[i]);
    }

    /** The flat index of the winning cell of window (p, oy, ox): the first maximum in row-major window order. */
    private static long maxCell(Tensor x, long p, int oy, int ox, int k, int stride, int pad) {
        int h = x.dim(2), w = x.dim(3);
        long best = -1;
        double bv = Double.NEGATIVE_INFINITY;
        for (int ky = 0; ky < k; ky++)
            for (int kx = 0; kx < k; kx++) {
                int iy = oy * stride - pad + ky, ix = ox * stride - pad + kx;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                long i = (p * h + iy) * w + ix;
                double v = x.get(i);
                if (best < 0 || v > bv || Double.isNaN(v) && !Double.isNaN(bv)) {
                    best = i;
                    bv = v;
                }
            }
        return best;
    }

    @Override
    public void maxPoolForward(Tensor x, int k, int stride, int pad, Tensor y) {
        long planes = (long) x.dim(0) * x.dim(1);
        int ho = y.dim(2), wo = y.dim(3);
        for (long p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) y.set((p * ho + oy) * wo + ox, x.get(maxCell(x, p, oy, ox, k, stride, pad)));
    }

    @Override
    public void maxPoolBackward(Tensor x, Tensor dy, int k, int stride, int pad, Tensor dx) {
        long planes = (long) x.dim(0) * x.dim(1);
        int ho = dy.dim(2), wo = dy.dim(3);
        double[] acc = new double[Math.toIntExact(dx.numel())];
        for (long p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) acc[(int) maxCell(x, p, oy, ox, k, stride, pad)] += dy.get((p * ho + oy) * wo + ox);
        for (int i = 0; i < acc.length; i++) dx.set(i, acc[i]);
    }

    @Override
    public void channelCopy(Tensor src, int srcChannel, Tensor dst, int dstChannel, int channels) {
        long hw = (long) src.dim(2) * src.dim(3);
        for (int b = 0; b < src.dim(0); b++)
            for (long i = 0; i < channels * hw; i++) {
                dst.set(((long) b * dst.dim(1) + dstChannel) * hw + i, src.get(((long) b * src.dim(1) + srcChannel) * hw + i));
            }
    }

    @Override
    public void depthwiseForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        convForward(x, w, stride, pad, x.dim(1), y);
    }

    @Override
    public void depthwiseBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        convBackwardData(dy, w, stride, pad, dx.dim(1), dx);
    }

    @Override
    public void depthwiseBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        convBackwardWeight(x, dy, stride, pad, x.dim(1), dw);
    }

    /** PyTorch's source index and weight for output o of an align_corners=False resize from n to m cells. */
    static double[] resizeTap(int o, int n, int m) {
        double scale = (double) n / m;
        double src = Math.max((o + 0.5) * scale - 0.5, 0.0);
        int i0 = Math.min((int) src, n - 1);
        int i1 = Math.min(i0 + 1, n - 1);
        double l1 = src - i0;
        return new double[]{i0, i1, 1 - l1, l1};
    }

    @Override
    public void resizeForward(Tensor x, Tensor y) {
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3);
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++) {
                double[] ty = resizeTap(oy, h, ho);
                for (int ox = 0; ox < wo; ox++) {
                    double[] tx = resizeTap(ox, w, wo);
                    long base = (long) p * h * w;
                    double v = ty[2] * (tx[2] * x.get(base + (long) ty[0] * w + (long) tx[0]) + tx[3] * x.get(base + (long) ty[0] * w + (long) tx[1]))
                            + ty[3] * (tx[2] * x.get(base + (long) ty[1] * w + (long) tx[0]) + tx[3] * x.get(base + (long) ty[1] * w + (long) tx[1]));
                    y.set(((long) p * ho + oy) * wo + ox, v);
                }
            }
    }

    @Override
    public void resizeBackward(Tensor dy, Tensor dx) {
        int planes = dx.dim(0) * dx.dim(1), h = dx.dim(2), w = dx.dim(3), ho = dy.dim(2), wo = dy.dim(3);
        double[] acc = new double[Math.toIntExact(dx.numel())];
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++) {
                double[] ty = resizeTap(oy, h, ho);
                for (int ox = 0; ox < wo; ox++) {
                    double[] tx = resizeTap(ox, w, wo);
                    double g = dy.get(((long) p * ho + oy) * wo + ox);
                    int base = p * h * w;
                    acc[base + (int) ty[0] * w + (int) tx[0]] += g * ty[2] * tx[2];
                    acc[base + (int) ty[0] * w + (int) tx[1]] += g * ty[2] * tx[3];
                    acc[base + (int) ty[1] * w + (int) tx[0]] += g * ty[3] * tx[2];
                    acc[base + (int) ty[1] * w + (int) tx[1]] += g * ty[3] * tx[3];
                }
            }
        for (int i = 0; i < acc.length; i++) dx.set(i, acc[i]);
    }

    /** PyTorch's nearest source cell of output o for a resize from n to m cells (the scale in float32, as its kernels compute it). */
    public static int nearestSource(int o, int n, int m) {
        float scale = (float) n / m;
        return Math.min((int) Math.floor(o * scale), n - 1);
    }

    @Override
    public void resizeNearestForward(Tensor x, Tensor y) {
        int planes = x.dim(0) * x.dim(1), h = x.dim(2), w = x.dim(3), ho = y.dim(2), wo = y.dim(3);
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    y.set(((long) p * ho + oy) * wo + ox, x.get((long) p * h * w + (long) nearestSource(oy, h, ho) * w + nearestSource(ox, w, wo)));
                }
    }

    @Override
    public void resizeNearestBackward(Tensor dy, Tensor dx) {
        int planes = dx.dim(0) * dx.dim(1), h = dx.dim(2), w = dx.dim(3), ho = dy.dim(2), wo = dy.dim(3);
        double[] acc = new double[Math.toIntExact(dx.numel())];
        for (int p = 0; p < planes; p++)
            for (int oy = 0; oy < ho; oy++)
                for (int ox = 0; ox < wo; ox++) {
                    acc[p * h * w + nearestSource(oy, h, ho) * w + nearestSource(ox, w, wo)] += dy.get(((long) p * ho + oy) * wo + ox);
                }
        for (int i = 0; i < acc.length; i++) dx.set(i, acc[i]);
    }

    @Override
    public void sigmoid(Tensor x, Tensor y) {
        for (long i = 0; i < x.numel(); i++) y.set(i, 1 / (1 + Math.exp(-x.get(i))));
    }

    @Override
    public void sigmoidBackward(Tensor y, Tensor dy, Tensor dx) {
        for (long i = 0; i < y.numel(); i++) dx.set(i, dy.get(i) * y.get(i) * (1 - y.get(i)));
    }

    @Override
    public void channelScale(Tensor x, Tensor s, Tensor y) {
        long planes = s.numel(), hw = x.numel() / planes;
        for (long p = 0; p < planes; p++) {
            double f = s.get(p);
            for (long i = 0; i < hw; i++) y.set(p * hw + i, x.get(p * hw + i) * f);
        }
    }

    @Override
    public void channelScaleBackwardScale(Tensor x, Tensor dy, Tensor ds) {
        long planes = ds.numel(), hw = x.numel() / planes;
        for (long p = 0; p < planes; p++) {
            double acc = 0;
            for (long i = 0; i < hw; i++) acc += dy.get(p * hw + i) * x.get(p * hw + i);
            ds.set(p, acc);
        }
    }

    @Override
    public void biasAdd(Tensor x, Tensor bias, Tensor y) {
        int c = x.dim(1);
        long hw = x.numel() / ((long) x.dim(0) * c);
        for (long i = 0; i < x.numel(); i++) y.set(i, x.get(i) + bias.get(i / hw % c));
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        for (long i = 0; i < a.numel(); i++) out.set(i, a.get(i) + b.get(i));
    }

    @Override
    public void mul(Tensor a, Tensor b, Tensor out) {
        for (long i = 0; i < a.numel(); i++) out.set(i, a.get(i) * b.get(i));
    }

    @Override
    public void scale(Tensor x, double s, Tensor y) {
        for (long i = 0; i < x.numel(); i++) y.set(i, x.get(i) * s);
    }

    @Override
    public void globalAvgPoolForward(Tensor x, Tensor y) {
        long planes = y.numel(), hw = x.numel() / planes;
        for (long p = 0; p < planes; p++) {
            double s = 0;
            for (long i = 0; i < hw; i++) s += x.get(p * hw + i);
            y.set(p, s / hw);
        }
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        long planes = dy.numel(), hw = dx.numel() / planes;
        for (long p = 0; p < planes; p++)
            for (long i = 0; i < hw; i++) dx.set(p * hw + i, dy.get(p) / hw);
    }

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        int batch = x.dim(0), in = w.dim(1), out = w.dim(0); // x [B, in] or a map flattened to it
        for (int n = 0; n < batch; n++)
            for (int o = 0; o < out; o++) {
                double s = b.get(o);
                for (int i = 0; i < in; i++) s += x.get((long) n * in + i) * w.get((long) o * in + i);
                y.set((long) n * out + o, s);
            }
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        int batch = dy.dim(0), out = w.dim(0), in = w.dim(1);
        for (int n = 0; n < batch; n++)
            for (int i = 0; i < in; i++) {
                double s = 0;
                for (int o = 0; o < out; o++) s += dy.get((long) n * out + o) * w.get((long) o * in + i);
                dx.set((long) n * in + i, s);
            }
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw) {
        int batch = x.dim(0), in = dw.dim(1), out = dy.dim(1);
        for (int o = 0; o < out; o++)
            for (int i = 0; i < in; i++) {
                double s = 0;
                for (int n = 0; n < batch; n++) s += dy.get((long) n * out + o) * x.get((long) n * in + i);
                dw.set((long) o * in + i, s);
            }
    }

    @Override
    public void crossEntropyGrad(Tensor logits, int[] labels, Tensor grad) {
        int b = logits.dim(0), c = logits.dim(1);
        for (int n = 0; n < b; n++) {
            double max = Double.NEGATIVE_INFINITY;
            for (int j = 0; j < c; j++) max = Math.max(max, logits.get((long) n * c + j));
            double sum = 0;
            for (int j = 0; j < c; j++) sum += Math.exp(logits.get((long) n * c + j) - max);
            for (int j = 0; j < c; j++) {
                double p = Math.exp(logits.get((long) n * c + j) - max) / sum;
                grad.set((long) n * c + j, (p - (j == labels[n] ? 1 : 0)) / b);
            }
        }
    }

    @Override
    public double[] corrcoef(Tensor r) {
        int b = r.dim(0);
        long d = r.rowSize();
        double[] mean = new double[b];
        for (int i = 0; i < b; i++) {
            double s = 0;
            for (long j = 0; j < d; j++) s += r.get(i * d + j);
            mean[i] = s / d;
        }
        double[] cov = new double[b * b];
        for (int i = 0; i < b; i++)
            for (int k = 0; k <= i; k++) {
                double s = 0;
                for (long j = 0; j < d; j++) s += (r.get(i * d + j) - mean[i]) * (r.get(k * d + j) - mean[k]);
                cov[i * b + k] = s;
                cov[k * b + i] = s;
            }
        return Correlation.normalise(cov, b);
    }
}
