package io.wrcor.graph;

/** The operations a network graph is made of. Parameter names are PyTorch state_dict prefixes. */
public sealed interface Op {
    /** The network input. */
    record Input() implements Op {}

    /**
     * Convolution without bias; weight {@code param + ".weight"} of shape [cout, cin / groups, k, k]:
     * with {@code groups} g > 1, output channels [j cout/g, (j+1) cout/g) read input channels
     * [j cin/g, (j+1) cin/g) only (PyTorch's groups; one layer for every proxy). With {@code taps}, the
     * weight is [cout, cin / groups, kh, kw] and its taps sit, dilated, inside the square k x k window
     * that the backends run with one stride and one pad (see {@link Taps}).
     */
    record Conv(String param, int cin, int cout, int k, int stride, int pad, int groups, Taps taps) implements Op {
        public Conv {
            if (groups < 1 || cin % groups != 0 || cout % groups != 0) {
                throw new IllegalArgumentException("a convolution of " + cin + " -> " + cout + " channels in " + groups + " groups");
            }
            if (taps != null && (taps.oh() + (taps.kh() - 1) * taps.dh() >= k || taps.ow() + (taps.kw() - 1) * taps.dw() >= k)) {
                throw new IllegalArgumentException("taps " + taps + " do not fit a " + k + "x" + k + " window");
            }
        }

        /** An ungrouped convolution. */
        public Conv(String param, int cin, int cout, int k, int stride, int pad) {
            this(param, cin, cout, k, stride, pad, 1, null);
        }

        /** A grouped convolution with a k x k kernel. */
        public Conv(String param, int cin, int cout, int k, int stride, int pad, int groups) {
            this(param, cin, cout, k, stride, pad, groups, null);
        }

        /** Input channels each output channel reads. */
        public int cinPerGroup() {
            return cin / groups;
        }

        /** The shape of the weight tensor. */
        public int[] weightShape() {
            return taps == null ? new int[]{cout, cinPerGroup(), k, k} : new int[]{cout, cinPerGroup(), taps.kh(), taps.kw()};
        }

        /** Weights per filter and input channel: k k, or kh kw. */
        public int tapCount() {
            return taps == null ? k * k : taps.kh() * taps.kw();
        }

        /** Whether a backend's ungrouped k x k convolution runs it as it is. */
        public boolean plain() {
            return groups == 1 && taps == null;
        }
    }

    /**
     * A kh x kw kernel with dilations dh, dw placed in a square window: tap (a, b) at row oh + a dh,
     * column ow + b dw, zeros elsewhere. That places any kernel shape, dilation and asymmetric
     * padding (ONNX's, TensorFlow's SAME) in the one-stride, one-pad, square convolution of the
     * backends, with the same sums (the zeros add nothing) and, gathered back at the taps, the same
     * weight gradients.
     */
    record Taps(int kh, int kw, int dh, int dw, int oh, int ow) {}

    /** Training-mode batch norm, affine: {@code param + ".weight"} (gamma) and {@code ".bias"} (beta). */
    record BatchNorm(String param, int channels, double eps) implements Op {
        public static final double EPS = 1e-5;

        /** PyTorch's default eps, 1e-5. */
        public BatchNorm(String param, int channels) {
            this(param, channels, EPS);
        }
    }

    /** Depthwise convolution (groups = channels) without bias; weight {@code param + ".weight"} of shape [c, 1, k, k]. */
    record DepthwiseConv(String param, int channels, int k, int stride, int pad) implements Op {}

    /** Adds {@code param + ".bias"} [channels] to every cell of each channel (a conv's bias). */
    record Bias(String param, int channels) implements Op {}

    /** Bilinear resize to the node's size (PyTorch's align_corners=False, no antialiasing); {@code nearest}: PyTorch's mode='nearest'. */
    record Resize(boolean nearest) implements Op {
        /** Bilinear. */
        public Resize() {
            this(false);
        }
    }

    record Sigmoid() implements Op {}

    /** x * s per channel: inputs x [C,H,W] and s [C,1,1]. */
    record ChannelScale() implements Op {}

    record Relu() implements Op {}

    /**
     * A pointwise activation with parameters a and b, its gradient taken from the input x:
     * LEAKY_RELU x > 0 ? x : a x; HARD_SIGMOID max(0, min(1, a x + b)); HARD_SWISH x * max(0, min(1, x / 6 + 1/2)).
     */
    record Pointwise(Pointwise.Kind kind, double a, double b) implements Op {
        public enum Kind { LEAKY_RELU, HARD_SIGMOID, HARD_SWISH }
    }

    /** min(max(x, lo), hi): ONNX's Clip, PyTorch's ReLU6 (0, 6) and Hardtanh; the gradient passes where lo < x < hi. */
    record Clip(double lo, double hi) implements Op {}

    record AvgPool(int k, int stride, int pad, boolean countIncludePad) implements Op {}

    /** Max pool with a square window; padding never wins (PyTorch's -inf padding); a tie goes to the first cell in window order. */
    record MaxPool(int k, int stride, int pad) implements Op {}

    /** Channel concatenation of the inputs, in the order given. */
    record Concat() implements Op {}

    /** Channels [start, start + channels) of the input (NAS-Bench-101's truncation: the first ones; ONNX's Split and Slice). */
    record Slice(int start, int channels) implements Op {
        /** The first {@code channels} channels. */
        public Slice(int channels) {
            this(0, channels);
        }
    }

    /**
     * ShuffleNet's channel shuffle: the channels read as [groups, C / groups] and transposed, so that
     * output channel j is input channel (j mod groups) (C / groups) + j div groups.
     */
    record ChannelShuffle(int groups) implements Op {
        /** The input channel that output channel j of c reads. */
        public int source(int j, int c) {
            return (j % groups) * (c / groups) + j / groups;
        }
    }

    /** x * s for a constant s (an ONNX Mul by a scalar). */
    record Scale(double s) implements Op {}

    /** x * 0: NAS-Bench-201's 'none' edge, still part of the graph. */
    record Zero() implements Op {}

    /** Sum of the inputs, in the order given. */
    record Add() implements Op {}

    /** The elementwise product of two inputs of one shape (SiLU's x * sigmoid(x), gates of a map's own shape). */
    record Mul() implements Op {}

    record GlobalAvgPool() implements Op {}

    /** y = x w^T + b; {@code param + ".weight"} [out, in] and {@code param + ".bias"} [out]. */
    record Linear(String param, int in, int out) implements Op {}
}
