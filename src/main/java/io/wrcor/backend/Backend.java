package io.wrcor.backend;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;

/**
 * The primitive ops every backend implements. Activations are NCHW, weights in PyTorch's layouts
 * (conv [Cout, Cin, k, k], linear [Out, In]). Every op overwrites its whole output; outputs never
 * alias inputs unless an op says so. Float32 and float64 tensors are both accepted (synflow runs in
 * float64); all tensors of one call share a dtype.
 */
public interface Backend {
    String name();

    /** y[B,Cout,Ho,Wo] = conv(x[B,Cin,H,W], w[Cout,Cin,k,k]), zero padding, no bias. */
    void convForward(Tensor x, Tensor w, int stride, int pad, Tensor y);

    /** dx = dL/dx for y = conv(x, w). */
    void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx);

    /** dw = dL/dw for y = conv(x, w). */
    void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw);

    /**
     * Training-mode batch norm: batch mean and biased batch variance per channel. Writes y and the
     * per-channel mean and 1/sqrt(var + eps) that the backward pass needs, into tensors of c values
     * of {@link #statsType} (a device backend keeps them on the device).
     */
    void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean, Tensor invStd);

    /**
     * relu(batch norm(x)) into y, for a BN whose output only a ReLU reads (the executor then never
     * makes the BN output): the same values as the two ops, in one pass where a backend fuses them.
     */
    default void batchNormReluForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, Tensor mean, Tensor invStd) {
        batchNormForward(x, gamma, beta, eps, y, mean, invStd);
        relu(y, y);
    }

    /** dx for training-mode batch norm (the batch statistics depend on x); mean and invStd of any type. */
    void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, Tensor mean, Tensor invStd, Tensor dx);

    /** Whether {@link #batchNormReluBackward} is implemented for activations of type t. */
    default boolean fusesReluBackward(DType t) {
        return false;
    }

    /**
     * dx of a batch norm whose output only a ReLU reads, from that ReLU's output y and the gradient
     * dy of y: batchNormBackward(x, reluBackward(y, dy)) without making the ReLU's input gradient.
     * Called only where {@link #fusesReluBackward} says so.
     */
    default void batchNormReluBackward(Tensor x, Tensor y, Tensor dy, Tensor gamma, Tensor mean, Tensor invStd, Tensor dx) {
        throw new UnsupportedOperationException(name() + " does not fuse a ReLU's backward pass into batch norm's");
    }

    /**
     * Whether {@link #reluConvForward} and {@link #convBackwardDataMasked} are implemented for
     * activations of type t: a ReLU whose output only a convolution reads is then never made.
     */
    default boolean fusesReluIntoConv(DType t) {
        return false;
    }

    /**
     * y = convForward(relu(x)) without making relu(x): the same values as the two ops. Called only
     * where {@link #fusesReluIntoConv} says so.
     */
    default void reluConvForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        throw new UnsupportedOperationException(name() + " does not fuse a ReLU into a convolution");
    }

    /**
     * dx = reluBackward(x, convBackwardData(dy)): the data gradient of a convolution that reads
     * relu(x), passed back through that ReLU (the mask from its input x: x > 0 exactly where
     * relu(x) > 0), without making the gradient in between. Called only where
     * {@link #fusesReluIntoConv} says so.
     */
    default void convBackwardDataMasked(Tensor dy, Tensor w, int stride, int pad, Tensor x, Tensor dx) {
        throw new UnsupportedOperationException(name() + " does not fuse a ReLU into a convolution");
    }

    /**
     * Another backend on the same device for another engine thread, so that several architectures
     * are in flight at once ({@code --in-flight K}): its own command queue or stream (and worker
     * threads on the CPU), sharing what was compiled. Each lane is driven by one thread; lanes are
     * closed independently (shared resources are reference counted).
     */
    default Backend newLane() {
        throw new UnsupportedOperationException(name() + " has no lanes for several architectures in flight");
    }

    /**
     * Whether the next passes may compute convolutions by an algorithm with a few times float32's
     * rounding error of a direct sum (the fast CPU backend's Winograd F(2x2, 3x3)). The scorer allows
     * it only when every proxy it computes was measured robust to it ({@code Proxy.toleratesFastConvolutions}).
     * A no-op where the backend has no such algorithm.
     */
    default void allowFastConvolutions(boolean allowed) {
    }

    /** Makes this backend usable from the calling thread (CUDA: its context current there); a no-op elsewhere. */
    default void attachThread() {
    }

    /** Memory of the device the tensors live on, in bytes; 0 for the host (its budget is the pool's). */
    default long deviceMemoryBytes() {
        return 0;
    }

    /** Waits until every op issued so far has finished (a device backend queues them); for timing. */
    default void sync() {
    }

    /** The element type of batch-norm statistics for activations of type t: float64 unless a backend says otherwise. */
    default DType statsType(DType t) {
        return DType.F64;
    }

    /** The values of a statistics tensor, for backends that compute on the host. */
    static double[] values(Tensor t) {
        double[] v = new double[Math.toIntExact(t.numel())];
        for (int i = 0; i < v.length; i++) v[i] = t.get(i);
        return v;
    }

    /** Writes values into a statistics tensor. */
    static void store(double[] v, Tensor t) {
        for (int i = 0; i < v.length; i++) t.set(i, v[i]);
    }

    void relu(Tensor x, Tensor y);

    /** dx = dy * 1[x > 0]. */
    void reluBackward(Tensor x, Tensor dy, Tensor dx);

    /** y = f(x) for a pointwise activation ({@link io.wrcor.graph.Op.Pointwise}), parameters a and b. */
    void pointwise(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor y);

    /** dx = dy * f'(x), from the activation's input x (at a kink, the derivative of the side PyTorch takes). */
    void pointwiseBackward(io.wrcor.graph.Op.Pointwise.Kind kind, double a, double b, Tensor x, Tensor dy, Tensor dx);

    /** y = min(max(x, lo), hi). */
    void clip(Tensor x, double lo, double hi, Tensor y);

    /** dx = dy where lo < y < hi, else 0, from the clip's output y (lo < y < hi exactly where lo < x < hi). */
    void clipBackward(Tensor y, double lo, double hi, Tensor dy, Tensor dx);

    /** Average pool with a square window; with countIncludePad false, padded cells are not counted. */
    void avgPoolForward(Tensor x, int k, int stride, int pad, boolean countIncludePad, Tensor y);

    void avgPoolBackward(Tensor dy, int k, int stride, int pad, boolean countIncludePad, Tensor dx);

    /** Max pool with a square window; padded cells never win; a tie goes to the first cell in window (row-major) order. */
    void maxPoolForward(Tensor x, int k, int stride, int pad, Tensor y);

    /** dx: each output's gradient goes to the cell that won its window (the first maximum), summed over windows. */
    void maxPoolBackward(Tensor x, Tensor dy, int k, int stride, int pad, Tensor dx);

    /**
     * Copies channels [srcChannel, srcChannel + channels) of every sample of src[B,Cs,H,W] into channels
     * [dstChannel, ...) of dst[B,Cd,H,W]; dst's other channels are left as they are.
     */
    void channelCopy(Tensor src, int srcChannel, Tensor dst, int dstChannel, int channels);

    /** Depthwise convolution: y[B,C,Ho,Wo] from x[B,C,H,W] and w[C,1,k,k], zero padding, no bias. */
    void depthwiseForward(Tensor x, Tensor w, int stride, int pad, Tensor y);

    void depthwiseBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx);

    void depthwiseBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw);

    /** Bilinear resize of x[B,C,H,W] to y's size, PyTorch's align_corners=False without antialiasing. */
    void resizeForward(Tensor x, Tensor y);

    void resizeBackward(Tensor dy, Tensor dx);

    /**
     * Nearest resize of x[B,C,H,W] to y's size as PyTorch's mode='nearest' computes it: output cell o
     * of n_out reads input cell min(floor(o * s), n_in - 1) with s = n_in / n_out in float32.
     */
    void resizeNearestForward(Tensor x, Tensor y);

    /** dx: each input cell the sum of the gradients of the outputs that read it. */
    void resizeNearestBackward(Tensor dy, Tensor dx);

    /** y = 1 / (1 + exp(-x)). */
    void sigmoid(Tensor x, Tensor y);

    /** dx = dy * y * (1 - y), from the forward output y. */
    void sigmoidBackward(Tensor y, Tensor dy, Tensor dx);

    /** y[b,c,:] = x[b,c,:] * s[b,c] (s of B*C elements, any shape). */
    void channelScale(Tensor x, Tensor s, Tensor y);

    /** ds[b,c] = sum over the map of dy[b,c,:] * x[b,c,:] (dx = channelScale(dy, s)). */
    void channelScaleBackwardScale(Tensor x, Tensor dy, Tensor ds);

    /** y[b,c,:] = x[b,c,:] + bias[c]. */
    void biasAdd(Tensor x, Tensor bias, Tensor y);

    /** out = a + b; out may be a. */
    void add(Tensor a, Tensor b, Tensor out);

    /** out = a * b elementwise (out may be a or b). */
    void mul(Tensor a, Tensor b, Tensor out);

    /** y = s * x (the NAS-Bench-201 'none' op is x * 0). */
    void scale(Tensor x, double s, Tensor y);

    /** y[B,C] = mean over H,W of x[B,C,H,W]. */
    void globalAvgPoolForward(Tensor x, Tensor y);

    void globalAvgPoolBackward(Tensor dy, Tensor dx);

    /** y[B,Out] = x[B,In] w^T + b. */
    void linearForward(Tensor x, Tensor w, Tensor b, Tensor y);

    void linearBackwardData(Tensor dy, Tensor w, Tensor dx);

    void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw);

    /**
     * Pearson correlation matrix of the rows of {@code r} (row b = sample b flattened), float64
     * [B*B], clipped to [-1, 1], as numpy.corrcoef computes it; null when a row has zero variance,
     * where numpy's matrix would hold NaN.
     */
    double[] corrcoef(Tensor r);

    /** grad[B,C] = d(mean cross-entropy)/d(logits) = (softmax(logits) - onehot(labels)) / B. */
    void crossEntropyGrad(Tensor logits, int[] labels, Tensor grad);

    /** Accumulates weighted |corrcoef| matrices where this backend keeps its data (default: on the host). */
    default Correlator correlator(int batch, int accumulators) {
        return Correlator.onHost(this, batch, accumulators);
    }
}
