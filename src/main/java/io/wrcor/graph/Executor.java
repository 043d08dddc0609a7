package io.wrcor.graph;

import io.wrcor.backend.Backend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.MemorySegment;
import java.util.HashMap;
import java.util.Map;
import java.util.Set;

/**
 * Runs a graph's forward pass and any number of backward passes over it on one backend. All tensors
 * come from the pool and stay valid until the pool is recycled.
 */
public final class Executor {
    private final Backend backend;
    private final TensorPool pool;
    private final Graph graph;
    private final Weights weights;
    private final DType dtype;
    private final Tensor[] values;
    private final Tensor[] bnMean; // per BN node: its batch statistics, where the backend keeps them
    private final Tensor[] bnInvStd;
    private final Tensor[] evalScale; // per BN node in eval mode: gamma / sqrt(var + eps) per sample and channel
    private java.util.function.Function<String, double[][]> runningStats; // null: training-mode batch norm
    private int batch;
    /**
     * Per node, from the last forward pass: for a ReLU computed inside the convolution that alone reads
     * it (never made), that convolution's id; for that convolution, the ReLU's id; else -1. Null: none.
     */
    private int[] reluConv;

    public Executor(Backend backend, TensorPool pool, Graph graph, Weights weights, DType dtype) {
        this.backend = backend;
        this.pool = pool;
        this.graph = graph;
        this.weights = weights;
        this.dtype = dtype;
        this.values = new Tensor[graph.size()];
        this.bnMean = new Tensor[graph.size()];
        this.bnInvStd = new Tensor[graph.size()];
        this.evalScale = new Tensor[graph.size()];
    }

    /**
     * Runs every batch norm of later passes as PyTorch's eval mode does: y = gamma (x - mean) /
     * sqrt(var + eps) + beta with the running statistics {@code stats} gives for the BN's parameter
     * name ({mean[], var[]}; null: a fresh layer's, mean 0 and var 1), so each sample's output
     * depends on that sample alone, and the backward pass is the same per-channel scale.
     */
    public void useRunningStatistics(java.util.function.Function<String, double[][]> stats) {
        this.runningStats = java.util.Objects.requireNonNull(stats);
    }

    public DType dtype() {
        return dtype;
    }

    /** A node's value's shape in the last forward pass: its batch, then its per-sample shape. */
    public int[] batchShape(int node) {
        return batchShape(graph.node(node));
    }

    private int[] batchShape(Node n) {
        int[] s = new int[n.shape().length + 1];
        s[0] = batch;
        System.arraycopy(n.shape(), 0, s, 1, n.shape().length);
        return s;
    }

    public Tensor value(int node) {
        return values[node];
    }

    public Tensor logits() {
        return values[graph.logits()];
    }

    /** Which forward values a pass keeps for what follows it. */
    public enum Keep {
        /** Every value (the default: any backward pass, any later reader). */
        ALL,
        /** What backward passes without weight gradients read (BN, max-pool and channel-scale inputs, ReLU and sigmoid outputs, the logits). */
        FOR_BACKWARD,
        /** As FOR_BACKWARD, and the inputs of conv and linear layers for their weight gradients. */
        FOR_WEIGHT_GRADIENTS
    }

    /** Forward pass keeping every value; reports each wanted activation as soon as it is computed. */
    public Tensor forward(Tensor input, Set<Response> wanted, ResponseListener listener) {
        return forward(input, wanted, listener, Keep.ALL);
    }

    /**
     * The values of the graph's nodes that backward passes read, given whether they compute weight
     * gradients; every other value can go back to the pool once its last forward reader has run.
     */
    public static boolean[] readByBackward(Graph graph, boolean weightGrads) {
        boolean[] read = new boolean[graph.size()];
        read[graph.logits()] = true;
        for (Node n : graph.nodes()) {
            int[] in = n.inputs();
            switch (n.op()) {
                case Op.BatchNorm bn -> read[in[0]] = true;
                case Op.MaxPool p -> read[in[0]] = true;
                case Op.ChannelScale cs -> {
                    read[in[0]] = true;
                    read[in[1]] = true;
                }
                case Op.Relu r -> read[n.id()] = true;
                case Op.Clip cl -> read[n.id()] = true;
                case Op.Pointwise pw -> read[in[0]] = true;
                case Op.Mul m -> {
                    read[in[0]] = true;
                    read[in[1]] = true;
                }
                case Op.Sigmoid sg -> read[n.id()] = true;
                case Op.Conv c -> read[in[0]] |= weightGrads;
                case Op.DepthwiseConv c -> read[in[0]] |= weightGrads;
                case Op.Linear l -> read[in[0]] |= weightGrads;
                default -> { }
            }
        }
        return read;
    }

    /**
     * For each batch norm whose output only one ReLU reads, that ReLU's id (else -1): the forward
     * pass then computes relu(bn(x)) in one op into the ReLU's value and never makes the BN output
     * (no backward op reads it: BN's backward reads its input, ReLU's its output).
     */
    public static int[] fusedBatchNormRelu(Graph graph) {
        int[] readers = new int[graph.size()], reader = new int[graph.size()];
        for (Node n : graph.nodes()) for (int i : n.inputs()) { readers[i]++; reader[i] = n.id(); }
        int[] into = new int[graph.size()];
        java.util.Arrays.fill(into, -1);
        for (Node n : graph.nodes()) {
            int id = n.id();
            if (n.op() instanceof Op.BatchNorm && readers[id] == 1 && graph.node(reader[id]).op() instanceof Op.Relu && id != graph.logits()) {
                into[id] = reader[id];
            }
        }
        return into;
    }

    /**
     * For each ReLU whose output only one convolution reads, and which is not the ReLU of a fused BN
     * (in {@code bnRelu}, from {@link #fusedBatchNormRelu}, where its BN's output is not wanted), that
     * convolution's id, and for the convolution the ReLU's id (else -1): the forward pass then computes
     * conv(relu(x)) in one op and never makes the ReLU's output (the backward passes take its mask from
     * x, kept instead: x > 0 exactly where relu(x) > 0), and a backward pass computes the ReLU's input
     * gradient inside the convolution's data gradient.
     */
    static int[] fusedReluConv(Graph graph, int[] bnRelu, Set<Response> wanted) {
        int[] readers = new int[graph.size()], reader = new int[graph.size()];
        for (Node n : graph.nodes()) for (int i : n.inputs()) { readers[i]++; reader[i] = n.id(); }
        int[] pair = new int[graph.size()];
        java.util.Arrays.fill(pair, -1);
        for (Node n : graph.nodes()) {
            int id = n.id(), x = n.inputs().length == 1 ? n.inputs()[0] : -1;
            if (!(n.op() instanceof Op.Relu) || readers[id] != 1 || id == graph.logits() || x < 0) continue;
            if (!(graph.node(reader[id]).op() instanceof Op.Conv c && c.plain()) || wanted.contains(Response.activation(id))) continue;
            if (bnRelu != null && bnRelu[x] == id && !wanted.contains(Response.activation(x))) continue;
            pair[id] = reader[id];
            pair[reader[id]] = id;
        }
        return pair;
    }

    /** The ReLU fused into convolution node {@code conv} in the last forward pass, or -1. */
    private int reluInto(int conv) {
        return reluConv != null && graph.node(conv).op() instanceof Op.Conv ? reluConv[conv] : -1;
    }

    /** Whether ReLU node {@code relu} was computed inside its convolution in the last forward pass. */
    private boolean fusedRelu(int relu) {
        return reluConv != null && reluConv[relu] >= 0 && graph.node(relu).op() instanceof Op.Relu;
    }

    /** The last node (in forward order) that reads each node's value; -1 for none. */
    public static int[] lastReader(Graph graph) {
        int[] last = new int[graph.size()];
        java.util.Arrays.fill(last, -1);
        for (Node n : graph.nodes()) for (int i : n.inputs()) last[i] = Math.max(last[i], n.id());
        return last;
    }

    /**
     * Forward pass; reports each wanted activation as soon as it is computed. Values that {@code keep}
     * does not need afterwards go back to the pool as soon as their last reader has run.
     */
    public Tensor forward(Tensor input, Set<Response> wanted, ResponseListener listener, Keep keep) {
        batch = input.dim(0);
        boolean[] kept = keep == Keep.ALL ? null : readByBackward(graph, keep == Keep.FOR_WEIGHT_GRADIENTS);
        int[] lastReader = lastReader(graph);
        int[] fused = keep == Keep.ALL ? null : fusedBatchNormRelu(graph); // Keep.ALL keeps every value, BN outputs too
        // conv(relu(x)) in one op: not with weight gradients (they read relu(x)) or when every value is kept
        reluConv = keep == Keep.FOR_BACKWARD && backend.fusesReluIntoConv(dtype) ? fusedReluConv(graph, fused, wanted) : null;
        if (reluConv != null) for (Node n : graph.nodes()) if (fusedRelu(n.id())) kept[n.inputs()[0]] = true; // the mask's source
        boolean[] done = new boolean[graph.size()];
        for (Node n : graph.nodes()) {
            int r = fused == null ? -1 : fused[n.id()];
            if (r >= 0 && !wanted.contains(Response.activation(n.id()))) {
                forwardBatchNormRelu(n, graph.node(r));
                done[r] = true;
            } else if (fusedRelu(n.id())) {
                values[n.id()] = null; // computed inside the convolution that reads it
            } else if (!done[n.id()]) {
                forwardNode(n, input);
            }
            Response act = Response.activation(n.id());
            if (wanted.contains(act)) listener.onResponse(act, values[n.id()]);
            if (kept != null) {
                for (int i : n.inputs()) if (lastReader[i] == n.id() && !kept[i]) releaseValue(i);
            }
        }
        return values[graph.logits()];
    }

    /** relu(bn(x)) into the ReLU's value; the BN's value stays null (nothing reads it). */
    private void forwardBatchNormRelu(Node bnNode, Node reluNode) {
        values[reluNode.id()] = batchNorm(bnNode, true);
    }

    /** BN node n's output (relu of it with {@code relu}), keeping its statistics for the backward pass. */
    private Tensor batchNorm(Node n, boolean relu) {
        Op.BatchNorm bn = (Op.BatchNorm) n.op();
        if (runningStats != null) return evalBatchNorm(n, bn, relu);
        Tensor y = pool.take(dtype, batchShape(n));
        bnMean[n.id()] = pool.take(backend.statsType(dtype), bn.channels());
        bnInvStd[n.id()] = pool.take(backend.statsType(dtype), bn.channels());
        Tensor x = values[n.inputs()[0]], gamma = weights.get(bn.param() + ".weight"), beta = weights.get(bn.param() + ".bias");
        if (relu) backend.batchNormReluForward(x, gamma, beta, bn.eps(), y, bnMean[n.id()], bnInvStd[n.id()]);
        else backend.batchNormForward(x, gamma, beta, bn.eps(), y, bnMean[n.id()], bnInvStd[n.id()]);
        return y;
    }

    /**
     * In eval mode, BN node {@code node}'s normalisation of one channel: {running mean, 1 /
     * sqrt(running var + eps)}, so that (x - mean) * invStd is what gamma multiplies.
     */
    public double[] evalNormalisation(int node, int channel) {
        if (runningStats == null) throw new IllegalStateException("batch norm runs in training mode (no running statistics set)");
        Op.BatchNorm bn = (Op.BatchNorm) graph.node(node).op();
        double[][] st = runningStats.apply(bn.param());
        double mean = st == null ? 0 : st[0][channel], var = st == null ? 1 : st[1][channel];
        return new double[]{mean, 1 / Math.sqrt(var + bn.eps())};
    }

    /** Eval-mode batch norm: a per-channel scale (kept for the backward pass) and shift. */
    private Tensor evalBatchNorm(Node n, Op.BatchNorm bn, boolean relu) {
        int c = bn.channels();
        Tensor gamma = weights.get(bn.param() + ".weight"), beta = weights.get(bn.param() + ".bias");
        Tensor scale = pool.take(dtype, batch, c), shift = pool.take(dtype, c);
        for (int k = 0; k < c; k++) {
            double[] norm = evalNormalisation(n.id(), k);
            double sk = gamma.get(k) * norm[1];
            shift.set(k, beta.get(k) - norm[0] * sk);
            for (int i = 0; i < batch; i++) scale.set((long) i * c + k, sk);
        }
        Tensor x = values[n.inputs()[0]];
        Tensor scaled = pool.take(dtype, batchShape(n)), y = pool.take(dtype, batchShape(n));
        backend.channelScale(x, scale, scaled);
        backend.biasAdd(scaled, shift, y);
        pool.release(scaled);
        pool.release(shift);
        if (relu) backend.relu(y, y);
        if (evalScale[n.id()] != null) pool.release(evalScale[n.id()]);
        evalScale[n.id()] = scale;
        return y;
    }

    private void forwardNode(Node n, Tensor input) {
        int[] in = n.inputs();
        Tensor y;
        switch (n.op()) {
            case Op.Input i -> {
                if (input.dtype() != dtype) throw new IllegalArgumentException("input is " + input.dtype() + ", pass runs in " + dtype);
                y = input;
            }
            case Op.Conv c when !c.plain() -> {
                y = pool.take(dtype, batchShape(n));
                groupedConv(c, batchShape(graph.node(in[0])), values[in[0]], null, null, y, null);
            }
            case Op.Conv c -> {
                y = pool.take(dtype, batchShape(n));
                int r = reluInto(n.id());
                if (r >= 0) backend.reluConvForward(values[graph.node(r).inputs()[0]], weights.get(c.param() + ".weight"), c.stride(), c.pad(), y);
                else backend.convForward(values[in[0]], weights.get(c.param() + ".weight"), c.stride(), c.pad(), y);
            }
            case Op.BatchNorm bn -> y = batchNorm(n, false);
            case Op.Relu r -> {
                y = pool.take(dtype, batchShape(n));
                backend.relu(values[in[0]], y);
            }
            case Op.AvgPool p -> {
                y = pool.take(dtype, batchShape(n));
                backend.avgPoolForward(values[in[0]], p.k(), p.stride(), p.pad(), p.countIncludePad(), y);
            }
            case Op.Zero z -> {
                y = pool.take(dtype, batchShape(n));
                backend.scale(values[in[0]], 0.0, y);
            }
            case Op.ChannelShuffle cs -> {
                y = pool.take(dtype, batchShape(n));
                int c = n.shape()[0];
                for (int j = 0; j < c; j++) backend.channelCopy(values[in[0]], cs.source(j, c), y, j, 1);
            }
            case Op.Scale sc -> {
                y = pool.take(dtype, batchShape(n));
                backend.scale(values[in[0]], sc.s(), y);
            }
            case Op.MaxPool p -> {
                y = pool.take(dtype, batchShape(n));
                backend.maxPoolForward(values[in[0]], p.k(), p.stride(), p.pad(), y);
            }
            case Op.DepthwiseConv c -> {
                y = pool.take(dtype, batchShape(n));
                backend.depthwiseForward(values[in[0]], weights.get(c.param() + ".weight"), c.stride(), c.pad(), y);
            }
            case Op.Bias bi -> {
                y = pool.take(dtype, batchShape(n));
                backend.biasAdd(values[in[0]], weights.get(bi.param() + ".bias"), y);
            }
            case Op.Resize r -> {
                y = pool.take(dtype, batchShape(n));
                if (r.nearest()) backend.resizeNearestForward(values[in[0]], y);
                else backend.resizeForward(values[in[0]], y);
            }
            case Op.Sigmoid sg -> {
                y = pool.take(dtype, batchShape(n));
                backend.sigmoid(values[in[0]], y);
            }
            case Op.Clip cl -> {
                y = pool.take(dtype, batchShape(n));
                backend.clip(values[in[0]], cl.lo(), cl.hi(), y);
            }
            case Op.Pointwise pw -> {
                y = pool.take(dtype, batchShape(n));
                backend.pointwise(pw.kind(), pw.a(), pw.b(), values[in[0]], y);
            }
            case Op.ChannelScale cs -> {
                y = pool.take(dtype, batchShape(n));
                backend.channelScale(values[in[0]], values[in[1]], y);
            }
            case Op.Concat c -> {
                y = pool.take(dtype, batchShape(n));
                int at = 0;
                for (int k : in) {
                    int ck = graph.node(k).shape()[0];
                    backend.channelCopy(values[k], 0, y, at, ck);
                    at += ck;
                }
            }
            case Op.Slice sl -> {
                y = pool.take(dtype, batchShape(n));
                backend.channelCopy(values[in[0]], sl.start(), y, 0, sl.channels());
            }
            case Op.Add a -> {
                y = pool.take(dtype, batchShape(n));
                backend.add(values[in[0]], values[in[1]], y);
                for (int k = 2; k < in.length; k++) backend.add(y, values[in[k]], y);
            }
            case Op.Mul m -> {
                y = pool.take(dtype, batchShape(n));
                backend.mul(values[in[0]], values[in[1]], y);
            }
            case Op.GlobalAvgPool gp -> {
                y = pool.take(dtype, batchShape(n));
                backend.globalAvgPoolForward(values[in[0]], y);
            }
            case Op.Linear l -> {
                y = pool.take(dtype, batchShape(n));
                backend.linearForward(values[in[0]], weights.get(l.param() + ".weight"), weights.get(l.param() + ".bias"), y);
            }
        }
        values[n.id()] = y;
    }

    /**
     * A convolution that is not plain ({@link Op.Conv#plain}), one group at a time on the backend's
     * ungrouped k x k ops: each group's input channels, output channels and weight rows copied out
     * (the weight's through the host, placed at its {@link Op.Taps} in the k x k window where it has
     * them), the group's results copied back (the weight gradient gathered from the taps). Forward: y
     * from x. Backward: given dy, the data gradient dx and the weight gradient dw, where not null.
     */
    private void groupedConv(Op.Conv c, int[] xShape, Tensor x, Tensor dy, Tensor dx, Tensor y, Tensor dw) {
        int groups = c.groups(), ci = c.cinPerGroup(), co = c.cout() / groups, k = c.k();
        Tensor w = weights.get(c.param() + ".weight");
        int h = xShape[2], wd = xShape[3];
        int ho = y != null ? y.dim(2) : dy.dim(2), wo = y != null ? y.dim(3) : dy.dim(3);
        long rows = (long) co * ci * c.tapCount(); // weights of one group
        Tensor wg = pool.take(dtype, co, ci, k, k);
        Tensor xg = y != null || dw != null ? pool.take(dtype, batch, ci, h, wd) : null, yg = pool.take(dtype, batch, co, ho, wo);
        Tensor dxg = dx == null ? null : pool.take(dtype, batch, ci, h, wd), dwg = dw == null ? null : pool.take(dtype, co, ci, k, k);
        MemorySegment wAll = w.read();
        for (int j = 0; j < groups; j++) {
            placeTaps(c, wAll, j * rows, wg.data(), (long) co * ci);
            if (y != null) {
                backend.channelCopy(x, j * ci, xg, 0, ci);
                backend.convForward(xg, wg, c.stride(), c.pad(), yg);
                backend.channelCopy(yg, 0, y, j * co, co);
                continue;
            }
            backend.channelCopy(dy, j * co, yg, 0, co);
            if (dwg != null) {
                backend.channelCopy(x, j * ci, xg, 0, ci);
                backend.convBackwardWeight(xg, yg, c.stride(), c.pad(), dwg);
                gatherTaps(c, dwg.read(), dw.data(), j * rows, (long) co * ci);
            }
            if (dxg != null) {
                backend.convBackwardData(yg, wg, c.stride(), c.pad(), dxg);
                backend.channelCopy(dxg, 0, dx, j * ci, ci);
            }
        }
        for (Tensor t : new Tensor[]{wg, xg, yg, dxg, dwg}) if (t != null) pool.release(t);
    }

    /** The k x k filters of {@code filters} (filter, input channel) pairs from the weights at element {@code from}: the taps placed, zeros between. */
    private void placeTaps(Op.Conv c, MemorySegment src, long from, MemorySegment dense, long filters) {
        if (c.taps() != null) dense.asSlice(0, filters * c.k() * c.k() * dtype.bytes).fill((byte) 0);
        moveTaps(c, src, from, dense, filters, true);
    }

    /** The inverse of {@link #placeTaps}: each tap's value from the k x k filters into the weights' layout at element {@code to}. */
    private void gatherTaps(Op.Conv c, MemorySegment dense, MemorySegment dst, long to, long filters) {
        moveTaps(c, dst, to, dense, filters, false);
    }

    /** Copies each tap between the weights' layout (at element {@code at}) and the k x k filters, into the filters or out of them. */
    private void moveTaps(Op.Conv c, MemorySegment weights, long at, MemorySegment dense, long filters, boolean intoDense) {
        int k = c.k();
        long bytes = dtype.bytes;
        if (c.taps() == null) { // the layouts are the same
            if (intoDense) MemorySegment.copy(weights, at * bytes, dense, 0, filters * k * k * bytes);
            else MemorySegment.copy(dense, 0, weights, at * bytes, filters * k * k * bytes);
            return;
        }
        Op.Taps t = c.taps();
        for (long f = 0; f < filters; f++)
            for (int a = 0; a < t.kh(); a++)
                for (int b = 0; b < t.kw(); b++) {
                    long w = (at + f * t.kh() * t.kw() + (long) a * t.kw() + b) * bytes;
                    long d = (f * k * k + (long) (t.oh() + a * t.dh()) * k + t.ow() + b * t.dw()) * bytes;
                    if (intoDense) MemorySegment.copy(weights, w, dense, d, bytes);
                    else MemorySegment.copy(dense, d, weights, w, bytes);
                }
    }

    /** Gradients of one backward pass. */
    public record Gradients(Tensor[] nodes, Map<String, Tensor> weights) {
        /**
         * dL/d(node output); null where it is exactly zero. Only the network input's gradient
         * outlives the pass: every other node's is given back to the pool once consumed.
         */
        public Tensor node(int id) {
            return nodes[id];
        }
    }

    /** {@link #backward(Tensor, boolean, boolean, Set, ResponseListener, boolean)} keeping the activations for another pass. */
    public Gradients backward(Tensor dLogits, boolean weightGrads, boolean inputGrad, Set<Response> wanted,
                               ResponseListener listener) {
        return backward(dLogits, weightGrads, inputGrad, wanted, listener, false);
    }

    /**
     * Backward pass from dL/d(logits) over the last forward pass. Reports each wanted gradient
     * response when it is final. Weight gradients (conv and linear weights) and the gradient with
     * respect to the network input are computed only when asked for. A node's gradient goes back
     * to the pool as soon as it has been passed on; with {@code lastPass}, so does its activation
     * (no later pass can use the forward values then).
     */
    public Gradients backward(Tensor dLogits, boolean weightGrads, boolean inputGrad, Set<Response> wanted,
                               ResponseListener listener, boolean lastPass) {
        holders.clear();
        need = gradientsNeeded(graph, weightGrads, inputGrad, wanted);
        // a ReLU whose input is a BN that only it reads passes its gradient on unmasked, and the BN's
        // backward step applies the mask (one pass fewer), where the backend fuses the two and
        // neither gradient in between is a wanted response
        int[] maskedBy = new int[graph.size()];
        java.util.Arrays.fill(maskedBy, -1);
        if (backend.fusesReluBackward(dtype) && runningStats == null) {
            int[] fused = fusedBatchNormRelu(graph);
            for (int bn = 0; bn < fused.length; bn++) {
                int r = fused[bn];
                if (r >= 0 && need[bn] && !fusedRelu(r) && !wanted.contains(Response.gradInput(r)) && !wanted.contains(Response.gradOutput(bn))) maskedBy[bn] = r;
            }
        }
        passedBack = new boolean[graph.size()];
        Tensor[] grads = new Tensor[graph.size()];
        boolean[] shared = new boolean[graph.size()]; // grads[i] is also another node's gradient: never write into it
        Map<String, Tensor> wgrads = new HashMap<>();
        grads[graph.logits()] = dLogits;
        for (int id = graph.size() - 1; id >= 0; id--) {
            Node n = graph.node(id);
            if (passedBack[id]) { // a ReLU whose gradient its convolution's data gradient passed on
                if (lastPass) releaseValue(id);
                continue;
            }
            Tensor g = grads[id];
            Response gout = Response.gradOutput(id);
            if (wanted.contains(gout)) listener.onResponse(gout, g);
            if (g == null) {
                Response gin = Response.gradInput(id);
                if (wanted.contains(gin)) listener.onResponse(gin, null);
                if (lastPass) releaseValue(id);
                continue;
            }
            int deferred = -1; // this ReLU's input BN, which masks the gradient passed on unmasked
            if (n.op() instanceof Op.Relu) for (int bn : n.inputs()) if (maskedBy[bn] == id) deferred = bn;
            if (deferred >= 0) {
                accumulate(grads, shared, deferred, g, false);
            } else if (maskedBy[id] >= 0) {
                backwardBatchNormRelu(n, values[maskedBy[id]], g, grads, shared);
                if (lastPass) releaseValue(maskedBy[id]);
            } else {
                backwardNode(n, g, grads, shared, wgrads, weightGrads, wanted, listener);
            }
            if (id != graph.input() && g != dLogits) {
                grads[id] = null;
                drop(g);
            }
            if (lastPass && deferred < 0) releaseValue(id); // a deferring ReLU's output is the mask, read at its BN
        }
        return new Gradients(grads, wgrads);
    }

    /**
     * The vector-Jacobian product seed^T d(node {@code from})/d(node {@code to}) over the last forward
     * pass (torch.autograd.grad(outputs=from, inputs=to, grad_outputs=seed)): a backward pass that
     * starts at {@code from} and follows only the paths from {@code to}, so that nothing flows
     * around it. Null when no path joins them (the product is zero). Releases no forward value, and
     * neither the seed; the caller gives back the result (which may be the seed itself).
     */
    public Tensor vectorJacobian(int from, Tensor seed, int to) {
        if (to >= from) throw new IllegalArgumentException("node " + to + " is not before node " + from);
        holders.clear();
        need = new boolean[graph.size()];
        need[to] = true;
        for (int id = to + 1; id <= from; id++) for (int i : graph.node(id).inputs()) need[id] |= need[i];
        if (!need[from]) return null;
        passedBack = new boolean[graph.size()];
        Tensor[] grads = new Tensor[graph.size()];
        boolean[] shared = new boolean[graph.size()];
        grads[from] = seed;
        hold(seed);
        hold(seed); // never given back here
        for (int id = from; id > to; id--) {
            Tensor g = grads[id];
            if (g == null || !need[id]) continue;
            backwardNode(graph.node(id), g, grads, shared, Map.of(), false, Set.of(), (r, t) -> { });
            grads[id] = null;
            drop(g);
        }
        return grads[to];
    }

    /** Per node, whether the running backward pass computes the gradient of its output. */
    private boolean[] need = new boolean[0];

    /** Per node, in the running backward pass: a fused ReLU whose backward step its convolution took. */
    private boolean[] passedBack = new boolean[0];

    /**
     * Which nodes' output gradients a backward pass must compute: those reported as responses, those
     * of layers whose weight gradients are asked for, the network input's when asked for, and every
     * node on a path from one of those to the logits. Nothing below the first of them is computed
     * (for wrcor alone, the layers before the first response site get no backward step).
     */
    public static boolean[] gradientsNeeded(Graph graph, boolean weightGrads, boolean inputGrad, Set<Response> wanted) {
        boolean[] need = new boolean[graph.size()];
        for (Node n : graph.nodes()) {
            int id = n.id();
            boolean local = wanted.contains(Response.gradOutput(id)) || wanted.contains(Response.gradInput(id))
                    || (id == graph.input() && inputGrad)
                    || (weightGrads && (n.op() instanceof Op.Conv || n.op() instanceof Op.DepthwiseConv || n.op() instanceof Op.Linear));
            for (int i : n.inputs()) local |= need[i];
            need[id] = local;
        }
        return need;
    }

    /** Slots of grads[] that hold each gradient tensor (an Add shares its gradient with its inputs). */
    private final java.util.IdentityHashMap<Tensor, Integer> holders = new java.util.IdentityHashMap<>();

    private void hold(Tensor t) {
        holders.merge(t, 1, Integer::sum);
    }

    /** One slot fewer holds t; the last one gives it back to the pool. */
    private void drop(Tensor t) {
        Integer h = holders.get(t);
        if (h == null || h <= 1) {
            holders.remove(t);
            pool.release(t);
        } else {
            holders.put(t, h - 1);
        }
    }

    private void requireKept(Tensor x, int node) {
        if (x == null) throw new IllegalStateException("weight gradients need node " + node + "'s value, which the forward pass did not keep");
    }

    /** The activation of a node whose backward step is done: its readers (later nodes) are done too. */
    private void releaseValue(int id) {
        if (id == graph.input() || values[id] == null) return;
        pool.release(values[id]);
        values[id] = null;
    }

    /** BN node n's backward step for the gradient g of the ReLU after it, masked by that ReLU's output y. */
    private void backwardBatchNormRelu(Node n, Tensor y, Tensor g, Tensor[] grads, boolean[] shared) {
        Op.BatchNorm bn = (Op.BatchNorm) n.op();
        int in = n.inputs()[0];
        Tensor dx = pool.take(dtype, batchShape(graph.node(in)));
        backend.batchNormReluBackward(values[in], y, g, weights.get(bn.param() + ".weight"), bnMean[n.id()], bnInvStd[n.id()], dx);
        accumulate(grads, shared, in, dx, true);
    }

    private void backwardNode(Node n, Tensor g, Tensor[] grads, boolean[] shared, Map<String, Tensor> wgrads, boolean weightGrads,
                              Set<Response> wanted, ResponseListener listener) {
        int id = n.id();
        int[] in = n.inputs();
        int[] inShape = in.length > 0 ? batchShape(graph.node(in[0])) : null; // the input's value may be given back already
        switch (n.op()) {
            case Op.Input i -> { }
            case Op.Conv c when !c.plain() -> {
                Tensor x = values[in[0]];
                Tensor dw = null, dx = null;
                if (weightGrads) {
                    requireKept(x, in[0]);
                    dw = pool.take(dtype, weights.get(c.param() + ".weight").shape());
                }
                if (need[in[0]]) dx = pool.take(dtype, inShape);
                if (dw != null || dx != null) groupedConv(c, inShape, x, g, dx, null, dw);
                if (dw != null) wgrads.put(c.param() + ".weight", dw);
                if (dx != null) accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Conv c -> {
                Tensor x = values[in[0]];
                Tensor w = weights.get(c.param() + ".weight");
                if (weightGrads) {
                    requireKept(x, in[0]);
                    Tensor dw = pool.take(dtype, w.shape());
                    backend.convBackwardWeight(x, g, c.stride(), c.pad(), dw);
                    wgrads.put(c.param() + ".weight", dw);
                }
                int r = reluInto(id), rx = r < 0 ? -1 : graph.node(r).inputs()[0];
                if (r >= 0 && (need[rx] || wanted.contains(Response.gradInput(r))) && !wanted.contains(Response.gradOutput(r))) {
                    // the ReLU's step too: its input gradient, masked by x > 0, in the same op
                    Tensor dx = pool.take(dtype, batchShape(graph.node(rx)));
                    backend.convBackwardDataMasked(g, w, c.stride(), c.pad(), values[rx], dx);
                    Response gin = Response.gradInput(r);
                    if (wanted.contains(gin)) listener.onResponse(gin, dx);
                    accumulate(grads, shared, rx, dx, true);
                    passedBack[r] = true;
                } else if (need[in[0]]) {
                    Tensor dx = pool.take(dtype, inShape);
                    backend.convBackwardData(g, w, c.stride(), c.pad(), dx);
                    accumulate(grads, shared, in[0], dx, true);
                }
            }
            case Op.BatchNorm bn -> {
                if (!need[in[0]]) return;
                Tensor x = values[in[0]];
                Tensor dx = pool.take(dtype, inShape);
                if (runningStats != null) {
                    backend.channelScale(g, evalScale[id], dx); // eval mode: the same scale as forward
                    accumulate(grads, shared, in[0], dx, true);
                    return;
                }
                backend.batchNormBackward(x, g, weights.get(bn.param() + ".weight"), bnMean[id], bnInvStd[id], dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Relu r -> {
                if (!need[in[0]] && !wanted.contains(Response.gradInput(id))) return;
                // the mask from the output: relu(x) > 0 exactly where x > 0, and the output is what
                // the forward pass keeps (the input, a BN output, is given back early); from the input
                // where the ReLU was computed inside its convolution (then the input is kept)
                Tensor y = fusedRelu(id) ? values[in[0]] : values[id];
                Tensor dx = pool.take(dtype, y.shape());
                backend.reluBackward(y, g, dx);
                Response gin = Response.gradInput(id);
                if (wanted.contains(gin)) listener.onResponse(gin, dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.AvgPool p -> {
                if (!need[in[0]]) return;
                Tensor dx = pool.take(dtype, inShape);
                backend.avgPoolBackward(g, p.k(), p.stride(), p.pad(), p.countIncludePad(), dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Zero z -> { } // d(x * 0)/dx = 0: nothing reaches x through this edge
            case Op.ChannelShuffle cs -> {
                if (!need[in[0]]) return;
                Tensor dx = pool.take(dtype, inShape);
                int c = n.shape()[0];
                for (int j = 0; j < c; j++) backend.channelCopy(g, j, dx, cs.source(j, c), 1); // every input channel is written once
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Scale sc -> {
                if (!need[in[0]]) return;
                Tensor dx = pool.take(dtype, g.shape());
                backend.scale(g, sc.s(), dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.MaxPool p -> {
                if (!need[in[0]]) return;
                Tensor x = values[in[0]];
                Tensor dx = pool.take(dtype, inShape);
                backend.maxPoolBackward(x, g, p.k(), p.stride(), p.pad(), dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.DepthwiseConv c -> {
                Tensor x = values[in[0]];
                Tensor w = weights.get(c.param() + ".weight");
                if (weightGrads) {
                    requireKept(x, in[0]);
                    Tensor dw = pool.take(dtype, w.shape());
                    backend.depthwiseBackwardWeight(x, g, c.stride(), c.pad(), dw);
                    wgrads.put(c.param() + ".weight", dw);
                }
                if (need[in[0]]) {
                    Tensor dx = pool.take(dtype, inShape);
                    backend.depthwiseBackwardData(g, w, c.stride(), c.pad(), dx);
                    accumulate(grads, shared, in[0], dx, true);
                }
            }
            case Op.Bias bi -> accumulate(grads, shared, in[0], g, false); // d(x + b)/dx = 1; biases are no proxy's weights
            case Op.Resize r -> {
                if (need[in[0]]) {
                    Tensor dx = pool.take(dtype, inShape);
                    if (r.nearest()) backend.resizeNearestBackward(g, dx);
                    else backend.resizeBackward(g, dx);
                    accumulate(grads, shared, in[0], dx, true);
                }
            }
            case Op.Sigmoid sg -> {
                if (!need[in[0]]) return;
                Tensor dx = pool.take(dtype, g.shape());
                backend.sigmoidBackward(values[id], g, dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Pointwise pw -> {
                if (!need[in[0]] && !wanted.contains(Response.gradInput(id))) return;
                Tensor dx = pool.take(dtype, g.shape());
                backend.pointwiseBackward(pw.kind(), pw.a(), pw.b(), values[in[0]], g, dx);
                Response gin = Response.gradInput(id);
                if (wanted.contains(gin)) listener.onResponse(gin, dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Clip cl -> {
                if (!need[in[0]] && !wanted.contains(Response.gradInput(id))) return;
                Tensor dx = pool.take(dtype, g.shape());
                backend.clipBackward(values[id], cl.lo(), cl.hi(), g, dx);
                Response gin = Response.gradInput(id);
                if (wanted.contains(gin)) listener.onResponse(gin, dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.ChannelScale cs -> {
                Tensor x = values[in[0]], sc = values[in[1]];
                if (need[in[0]]) {
                    Tensor dx = pool.take(dtype, inShape);
                    backend.channelScale(g, sc, dx);
                    accumulate(grads, shared, in[0], dx, true);
                }
                if (need[in[1]]) {
                    Tensor ds = pool.take(dtype, sc.shape());
                    backend.channelScaleBackwardScale(x, g, ds);
                    accumulate(grads, shared, in[1], ds, true);
                }
            }
            case Op.Concat c -> {
                int at = 0;
                for (int k : in) {
                    int ck = graph.node(k).shape()[0];
                    if (need[k]) {
                        Tensor dx = pool.take(dtype, batchShape(graph.node(k)));
                        backend.channelCopy(g, at, dx, 0, ck);
                        accumulate(grads, shared, k, dx, true);
                    }
                    at += ck;
                }
            }
            case Op.Slice sl -> {
                if (!need[in[0]]) return;
                Tensor dx = pool.take(dtype, inShape);
                dx.fill(0.0); // the channels cut off get no gradient
                backend.channelCopy(g, 0, dx, sl.start(), sl.channels());
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Add a -> {
                for (int k : in) accumulate(grads, shared, k, g, false);
            }
            case Op.Mul m -> {
                // d(a b)/da = b, d(a b)/db = a (both from the forward values, kept for this)
                for (int side = 0; side < 2; side++) {
                    if (!need[in[side]]) continue;
                    Tensor d = pool.take(dtype, g.shape());
                    backend.mul(g, values[in[1 - side]], d);
                    accumulate(grads, shared, in[side], d, true);
                }
            }
            case Op.GlobalAvgPool gp -> {
                if (!need[in[0]]) return;
                Tensor dx = pool.take(dtype, inShape);
                backend.globalAvgPoolBackward(g, dx);
                accumulate(grads, shared, in[0], dx, true);
            }
            case Op.Linear l -> {
                Tensor x = values[in[0]];
                Tensor w = weights.get(l.param() + ".weight");
                if (weightGrads) {
                    requireKept(x, in[0]);
                    Tensor dw = pool.take(dtype, w.shape());
                    backend.linearBackwardWeight(x, g, dw);
                    wgrads.put(l.param() + ".weight", dw);
                }
                if (need[in[0]]) {
                    Tensor dx = pool.take(dtype, inShape);
                    backend.linearBackwardData(g, w, dx);
                    accumulate(grads, shared, in[0], dx, true);
                }
            }
        }
    }

    /**
     * grads[node] += contribution. A contribution that is not the caller's own (an Add passing its
     * gradient to every input) is shared rather than copied; the first write into a shared
     * gradient goes to a fresh tensor.
     */
    private void accumulate(Tensor[] grads, boolean[] shared, int node, Tensor contribution, boolean owned) {
        if (!need[node]) { // no one reads this gradient
            if (owned) pool.release(contribution);
            return;
        }
        if (grads[node] == null) {
            grads[node] = contribution;
            shared[node] = !owned;
            hold(contribution);
        } else if (shared[node]) {
            Tensor sum = pool.take(dtype, contribution.shape());
            backend.add(grads[node], contribution, sum);
            drop(grads[node]);
            grads[node] = sum;
            shared[node] = false;
            hold(sum);
            if (owned) pool.release(contribution);
        } else {
            backend.add(grads[node], contribution, grads[node]);
            if (owned) pool.release(contribution);
        }
    }
}
