package io.wrcor.proxy;

import io.wrcor.backend.Backend;
import io.wrcor.backend.Correlator;
import io.wrcor.data.Batch;
import io.wrcor.graph.Executor;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Node;
import io.wrcor.graph.Op;
import io.wrcor.graph.Response;
import io.wrcor.graph.ResponseListener;
import io.wrcor.graph.Weights;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * The planner: from the requested proxies it decides the fewest passes over one network (one
 * forward, at most one cross-entropy backward, at most one summed-logit backward, synflow's float64
 * pass), runs them on a backend, and computes each response's correlation matrix once however many
 * proxies and sites read it.
 */
public final class Scorer {
    private final Backend backend;
    private final TensorPool pool;

    public Scorer(Backend backend, TensorPool pool) {
        this.backend = backend;
        this.pool = pool;
    }

    /**
     * Scores of one architecture.
     *
     * @param kernels the matrix K of each correlation proxy and of naswot, before its log-determinant
     * @param used    response matrices that went into each correlation proxy's K
     * @param skipped response matrices skipped because their correlation matrix had a NaN
     */
    public record Result(Map<Proxy, Double> scores, Map<Proxy, double[]> kernels, Map<Proxy, Integer> used,
                         Map<Proxy, Integer> skipped) {
        public double score(Proxy p) {
            Double v = scores.get(p);
            if (v == null) throw new IllegalArgumentException(p.label + " was not computed");
            return v;
        }
    }

    /**
     * @param synflowGraph the same architecture built without BN (only read for synflow)
     */
    public Result score(Graph graph, Graph synflowGraph, Weights weights, Batch batch, List<Proxy> proxies) {
        try {
            return run(graph, synflowGraph, weights, batch, proxies);
        } finally {
            pool.recycle();
        }
    }

    private Result run(Graph graph, Graph synflowGraph, Weights weights, Batch batch, List<Proxy> proxies) {
        Set<Proxy.Need> needs = Proxy.needsOf(proxies);
        backend.allowFastConvolutions(proxies.stream().allMatch(Proxy::toleratesFastConvolutions));
        int b = batch.size();
        int classes = graph.node(graph.logits()).shape()[0];
        for (int label : batch.labels()) {
            if (label < 0 || label >= classes) {
                throw new IllegalArgumentException("label " + label + " is outside the network's " + classes + " classes");
            }
        }

        // each distinct response once, with its summed weight and term count per correlation proxy
        List<Proxy> corrProxies = proxies.stream().filter(Proxy::isCorrelation).toList();
        int nc = corrProxies.size();
        Map<Response, double[]> weightOf = new HashMap<>();
        Map<Response, int[]> countOf = new HashMap<>();
        for (int k = 0; k < nc; k++) {
            for (Proxy.Term t : corrProxies.get(k).terms(graph)) {
                weightOf.computeIfAbsent(t.response(), r -> new double[nc])[k] += t.weight();
                countOf.computeIfAbsent(t.response(), r -> new int[nc])[k]++;
            }
        }
        List<Response> naswotSites = proxies.contains(Proxy.NASWOT) ? Proxy.naswotSites(graph) : List.of();

        Map<Response, double[]> codes = new HashMap<>();
        Set<Response> naswotSet = new HashSet<>(naswotSites);
        Set<Response> forwardWanted = new HashSet<>(naswotSet);
        boolean az = proxies.contains(Proxy.AZ_EXPRESSIVITY) || proxies.contains(Proxy.AZ_PROGRESSIVITY) || proxies.contains(Proxy.AZ_TRAINABILITY);
        if (az && graph.features().size() < 2) {
            throw new IllegalArgumentException("the AZ-NAS proxies are not defined for this space yet (its reference model's cell features are not declared)");
        }
        if (proxies.contains(Proxy.SWAP) && graph.reluInputs().isEmpty()) {
            throw new IllegalArgumentException("swap is not defined for this space yet (its reference model's ReLU modules are not declared)");
        }
        Set<Response> featureSet = new HashSet<>(), swapSet = new HashSet<>();
        if (proxies.contains(Proxy.AZ_EXPRESSIVITY) || proxies.contains(Proxy.AZ_PROGRESSIVITY)) {
            for (int node : graph.features()) featureSet.add(Response.activation(node));
        }
        if (proxies.contains(Proxy.SWAP)) for (int node : graph.reluInputs()) swapSet.add(Response.activation(node));
        forwardWanted.addAll(featureSet);
        forwardWanted.addAll(swapSet);
        // meco, where it takes the whole batch, reads the shared forward pass (the same training-mode pass) when one runs
        MecoSum mecoShared = proxies.contains(Proxy.MECO) && needs.contains(Proxy.Need.FORWARD) && mecoTakesTheBatch(graph) ? new MecoSum(graph) : null;
        if (mecoShared != null) forwardWanted.addAll(mecoShared.wanted());
        Map<Integer, Double> entropyOf = new HashMap<>();
        Swap swap = proxies.contains(Proxy.SWAP) ? new Swap(b) : null;
        Set<Response> backwardWanted = new HashSet<>();
        for (Response r : weightOf.keySet()) (r.isGradient() ? backwardWanted : forwardWanted).add(r);

        Map<Proxy, Double> scores = new LinkedHashMap<>();
        Map<Proxy, double[]> kernels = new LinkedHashMap<>();
        Map<Proxy, Integer> used = new LinkedHashMap<>(), skipped = new LinkedHashMap<>();
        try (Correlator correlator = backend.correlator(b, nc)) {
            ResponseListener accumulate = (r, t) -> {
                if (t == null) correlator.addZero(countOf.get(r));
                else correlator.add(t, weightOf.get(r), countOf.get(r));
            };
            Executor ex = null;
            if (needs.contains(Proxy.Need.FORWARD)) {
                // float32, or float64 with float64 weights and batch (tests: the definitions without float32 rounding)
                ex = new Executor(backend, pool, graph, weights, batch.input().dtype());
                Executor.Keep keep = needs.contains(Proxy.Need.CE_WEIGHT_GRADS) ? Executor.Keep.FOR_WEIGHT_GRADIENTS : Executor.Keep.FOR_BACKWARD;
                ex.forward(batch.input(), forwardWanted, (r, t) -> {
                    if (weightOf.containsKey(r)) accumulate.onResponse(r, t);
                    if (naswotSet.contains(r)) codes.put(r, NaswotKernel.codeAgreement(t));
                    if (featureSet.contains(r)) entropyOf.put(r.node(), AzNas.expressivity(t, graph.node(r.node()).shape()[0]));
                    if (swapSet.contains(r)) swap.add(t);
                    if (mecoShared != null) mecoShared.add(r, t);
                }, keep);
                if (swap != null) scores.put(Proxy.SWAP, (double) swap.count());
                if (mecoShared != null) scores.put(Proxy.MECO, mecoShared.sum());
                if (!entropyOf.isEmpty()) {
                    double[] perFeature = graph.features().stream().mapToDouble(entropyOf::get).toArray();
                    double[] ep = AzNas.expressivityAndProgressivity(perFeature);
                    if (proxies.contains(Proxy.AZ_EXPRESSIVITY)) scores.put(Proxy.AZ_EXPRESSIVITY, ep[0]);
                    if (proxies.contains(Proxy.AZ_PROGRESSIVITY)) scores.put(Proxy.AZ_PROGRESSIVITY, ep[1]);
                }
            }
            if (needs.contains(Proxy.Need.CELL_JACOBIANS)) scores.put(Proxy.AZ_TRAINABILITY, azTrainability(graph, ex));
            if (needs.contains(Proxy.Need.CE_BACKWARD)) {
                Tensor dLogits = pool.take(ex.dtype(), b, classes);
                backend.crossEntropyGrad(ex.logits(), batch.labels(), dLogits);
                Executor.Gradients g = ex.backward(dLogits, needs.contains(Proxy.Need.CE_WEIGHT_GRADS), false, backwardWanted, accumulate,
                        !needs.contains(Proxy.Need.INPUT_JACOBIAN));
                if (proxies.contains(Proxy.SNIP)) scores.put(Proxy.SNIP, saliency(graph, weights, g.weights()));
                if (proxies.contains(Proxy.GRAD_NORM)) scores.put(Proxy.GRAD_NORM, gradNorm(graph, g.weights()));
            }
            if (needs.contains(Proxy.Need.INPUT_JACOBIAN)) {
                Tensor ones = pool.take(ex.dtype(), b, classes);
                ones.fill(1.0);
                Executor.Gradients g = ex.backward(ones, false, true, Set.of(), (r, t) -> { }, true);
                scores.put(Proxy.JACOB_COR, jacobCor(correlate(g.node(graph.input())), b));
            }
            if (needs.contains(Proxy.Need.SYNFLOW_PASS)) scores.put(Proxy.SYNFLOW, synflow(synflowGraph, weights, batch));
            if (needs.contains(Proxy.Need.MECO_PASS) && mecoShared == null) scores.put(Proxy.MECO, meco(graph, weights, batch));
            if (needs.contains(Proxy.Need.ZICO_PASSES)) scores.put(Proxy.ZICO, zico(graph, weights, batch));
            if (needs.contains(Proxy.Need.VKDNW_JACOBIAN)) {
                double e = vkdnwEntropy(graph, weights, batch);
                if (proxies.contains(Proxy.VKDNW_ENTROPY)) scores.put(Proxy.VKDNW_ENTROPY, e);
                if (proxies.contains(Proxy.VKDNW)) scores.put(Proxy.VKDNW, Vkdnw.single(Vkdnw.dim(graph), e));
            }

            double[][] k = correlator.kernels();
            for (int i = 0; i < nc; i++) {
                Proxy p = corrProxies.get(i);
                kernels.put(p, k[i]);
                used.put(p, correlator.used()[i]);
                skipped.put(p, correlator.skipped()[i]);
                scores.put(p, LinAlg.logAbsDet(k[i], b));
            }
        }
        if (proxies.contains(Proxy.NASWOT)) {
            double[] k = new double[b * b];
            for (Response r : naswotSites) {
                double[] c = codes.get(r);
                for (int i = 0; i < k.length; i++) k[i] += c[i];
            }
            kernels.put(Proxy.NASWOT, k);
            scores.put(Proxy.NASWOT, LinAlg.logAbsDet(k, b));
        }
        if (proxies.contains(Proxy.PARAMS)) scores.put(Proxy.PARAMS, (double) params(graph));
        if (proxies.contains(Proxy.FLOPS)) scores.put(Proxy.FLOPS, (double) flops(graph));
        if (proxies.contains(Proxy.AZ_COMPLEXITY)) scores.put(Proxy.AZ_COMPLEXITY, (double) flops(graph));
        if (proxies.contains(Proxy.VKDNW_DIM)) scores.put(Proxy.VKDNW_DIM, (double) Vkdnw.dim(graph));

        Map<Proxy, Double> ordered = new LinkedHashMap<>();
        for (Proxy p : proxies) ordered.put(p, scores.get(p));
        return new Result(ordered, kernels, used, skipped);
    }

    /** Null (the published code's NaN matrix) for a response that is exactly zero or has a constant row. */
    private double[] correlate(Tensor t) {
        return t == null ? null : backend.corrcoef(t);
    }

    /** Weight parameters of the conv and linear layers: what snip, grad_norm and synflow sum over. */
    private static List<String> layerWeights(Graph g) {
        List<String> names = new ArrayList<>();
        for (Node n : g.nodes()) {
            if (n.op() instanceof Op.Conv c) names.add(c.param() + ".weight");
            if (n.op() instanceof Op.DepthwiseConv c) names.add(c.param() + ".weight");
            if (n.op() instanceof Op.Linear l) names.add(l.param() + ".weight");
        }
        return names;
    }

    /** sum over layers of |w * dL/dw|: snip, and synflow on its linearised network. */
    private static double saliency(Graph g, Weights weights, Map<String, Tensor> grads) {
        double s = 0;
        for (String name : layerWeights(g)) {
            Tensor w = weights.get(name), dw = grads.get(name);
            if (dw == null) continue; // no gradient reached this layer: its saliency is zero
            double l = 0;
            for (long i = 0; i < w.numel(); i++) l += Math.abs(w.get(i) * dw.get(i));
            s += l;
        }
        return s;
    }

    /** sum over layers of the Frobenius norm of dL/dw. */
    private static double gradNorm(Graph g, Map<String, Tensor> grads) {
        double s = 0;
        for (String name : layerWeights(g)) {
            Tensor dw = grads.get(name);
            if (dw == null) continue;
            double sq = 0;
            for (long i = 0; i < dw.numel(); i++) sq += dw.get(i) * dw.get(i);
            s += Math.sqrt(sq);
        }
        return s;
    }

    /** -sum(log(v + k) + 1/(v + k)) over the eigenvalues v of the Jacobian's correlation matrix. */
    private static double jacobCor(double[] r, int b) {
        if (r == null) return Double.NaN;
        final double k = 1e-5;
        double s = 0;
        for (double v : LinAlg.symmetricEigenvalues(r, b)) s += Math.log(v + k) + 1.0 / (v + k);
        return -s;
    }

    /**
     * synflow: |every parameter|, BN removed, float64 throughout (the score reaches 1e50), on one
     * all-ones sample; L = sum of the logits; score = sum over conv and linear weights of |w dL/dw|.
     */
    private double synflow(Graph g, Weights weights, Batch batch) {
        try (Arena arena = Arena.ofShared()) {
            Weights abs = weights.absFloat64(g, arena);
            Tensor in = batch.input();
            Tensor ones = pool.take(DType.F64, 1, in.dim(1), in.dim(2), in.dim(3));
            ones.fill(1.0);
            Executor ex = new Executor(backend, pool, g, abs, DType.F64);
            Tensor logits = ex.forward(ones, Set.of(), (r, t) -> { }, Executor.Keep.FOR_WEIGHT_GRADIENTS);
            Tensor dLogits = pool.take(DType.F64, logits.shape());
            dLogits.fill(1.0);
            Executor.Gradients grads = ex.backward(dLogits, true, false, Set.of(), (r, t) -> { }, true);
            double s = saliency(g, abs, grads.weights());
            for (Tensor t : abs.all().values()) t.dropDevice(); // their memory goes with this arena
            return s;
        }
    }

    /**
     * meco: the batch's first image alone through the training-mode network; for each module output
     * the published code hooks ({@link Graph#moduleOutputs}, a node once per module), the smallest
     * eigenvalue of the channels' correlation matrix over the spatial positions, summed. Where one
     * image cannot pass the network ({@link #mecoTakesTheBatch}), the whole batch goes through and
     * each hook reads its first sample, as the published measure's {@code data_output[0]} does.
     */
    private double meco(Graph g, Weights weights, Batch batch) {
        MecoSum sum = new MecoSum(g);
        Tensor in = batch.input();
        if (in.dtype() != DType.F32) throw new IllegalArgumentException("meco: the input batch must be float32, got " + in.dtype());
        Executor ex = new Executor(backend, pool, g, weights, DType.F32);
        ex.forward(mecoTakesTheBatch(g) ? in : samples(in, 0, 1), sum.wanted(), sum::add, Executor.Keep.FOR_BACKWARD);
        return sum.sum();
    }

    /** meco's sum over the hooked module outputs of a pass, each node's term counted once per module that outputs it. */
    private static final class MecoSum {
        private final Map<Response, Integer> times = new HashMap<>();
        private double sum;

        MecoSum(Graph g) {
            if (g.moduleOutputs().isEmpty()) {
                throw new IllegalArgumentException("meco is not defined for this space yet (its reference model's module outputs are not declared)");
            }
            for (int node : g.moduleOutputs()) times.merge(Response.activation(node), 1, Integer::sum);
        }

        Set<Response> wanted() {
            return times.keySet();
        }

        void add(Response r, Tensor t) {
            Integer n = times.get(r);
            if (n == null) return;
            double v = t == null ? 0 : minEigenvalueOfChannelCorrelation(t);
            if (Double.isFinite(v)) sum += n * v;
        }

        double sum() {
            return sum;
        }
    }

    /**
     * Whether meco feeds the whole batch rather than its first image: where some BN normalises 1 x 1
     * maps (the MobileNetV2-like space's SE), one image gives it one value per channel, which
     * PyTorch's training-mode BN refuses ("Expected more than 1 value per channel when training").
     */
    public static boolean mecoTakesTheBatch(Graph g) {
        for (Node n : g.nodes()) {
            if (n.op() instanceof Op.BatchNorm && Tensor.numel(n.shape()) == n.shape()[0]) return true;
        }
        return false;
    }

    /**
     * The smallest eigenvalue of the C x C correlation matrix (torch.corrcoef: clipped to [-1, 1]) of
     * a [B, C, H, W] value's first sample's channels over its H W positions, a constant channel's
     * row and column (NaN there) zeroed. The matrix is positive semi-definite with rank at most
     * min(non-constant channels, H W - 1); below C its smallest eigenvalue is exactly 0 (what an
     * eigensolver returns there is rounding noise, and its C^3 cost dominated deep MobileNetV2 layers,
     * hundreds of channels over 7 x 7 to 10 x 10 positions).
     */
    static double minEigenvalueOfChannelCorrelation(Tensor t) {
        return minEigenvalueOfChannelCorrelation(t, io.wrcor.backend.cpu.OpenBlas.get());
    }

    /** As above; the channels' dot products by {@code blas}'s dgemm, or by plain loops where it is null. */
    static double minEigenvalueOfChannelCorrelation(Tensor t, io.wrcor.backend.cpu.OpenBlas blas) {
        int c = t.dim(1);
        int hw = Math.toIntExact(t.rowSize() / c);
        double[] centred = t.toDoubles(0, t.rowSize()); // once, not per element (a device value is copied to the host here)
        double[] norm = new double[c];
        for (int i = 0; i < c; i++) {
            int o = i * hw;
            double mean = 0;
            for (int k = 0; k < hw; k++) mean += centred[o + k];
            mean /= hw;
            double ss = 0;
            for (int k = 0; k < hw; k++) {
                double v = centred[o + k] -= mean;
                ss += v * v;
            }
            norm[i] = Math.sqrt(ss);
        }
        int varying = 0;
        for (double v : norm) if (v != 0) varying++;
        if (Math.min(varying, hw - 1) < c) return 0;
        // from here every channel varies (else the rank test above answered)
        double[] r = new double[c * c];
        if (blas != null) {
            try (Arena a = Arena.ofConfined()) {
                java.lang.foreign.MemorySegment x = a.allocateFrom(java.lang.foreign.ValueLayout.JAVA_DOUBLE, centred);
                java.lang.foreign.MemorySegment gram = a.allocate(8L * c * c, 8);
                blas.dgemm(false, true, c, c, hw, 1, x, hw, x, hw, 0, gram, c);
                java.lang.foreign.MemorySegment.copy(gram, java.lang.foreign.ValueLayout.JAVA_DOUBLE, 0, r, 0, c * c);
            }
        } else {
            for (int i = 0; i < c; i++) {
                for (int j = i; j < c; j++) {
                    double dot = 0;
                    for (int k = 0, oi = i * hw, oj = j * hw; k < hw; k++) dot += centred[oi + k] * centred[oj + k];
                    r[i * c + j] = r[j * c + i] = dot;
                }
            }
        }
        for (int i = 0; i < c; i++) {
            for (int j = i; j < c; j++) {
                double v = Math.max(-1, Math.min(1, r[i * c + j] / (norm[i] * norm[j])));
                r[i * c + j] = r[j * c + i] = v;
            }
        }
        double min = Double.POSITIVE_INFINITY;
        for (double e : LinAlg.symmetricEigenvalues(r, c)) min = Math.min(min, e);
        return min;
    }

    /**
     * AZ-NAS's trainability over the forward pass just run: for each feature i from the last down to
     * the second, the signs of stream i pulled back through the cell to feature i - 1.
     */
    private double azTrainability(Graph g, Executor ex) {
        List<Integer> features = g.features();
        double[] terms = new double[features.size() - 1];
        for (int i = features.size() - 1; i >= 1; i--) {
            int out = features.get(i), in = features.get(i - 1);
            int[] outShape = g.node(out).shape(), inShape = g.node(in).shape();
            Tensor gOut = pool.take(ex.dtype(), ex.batchShape(out));
            AzNas.signs(i, gOut);
            Tensor gIn = out == in ? gOut : ex.vectorJacobian(out, gOut, in);
            terms[features.size() - 1 - i] = AzNas.trainabilityTerm(gOut, gIn, outShape, inShape);
            if (gIn != null && gIn != gOut) pool.release(gIn);
            pool.release(gOut);
        }
        return AzNas.trainability(terms);
    }

    /**
     * zico: for each half of the batch, a training-mode forward pass over it and the backward pass
     * of its mean cross-entropy to the conv and linear weights.
     */
    private double zico(Graph g, Weights weights, Batch batch) {
        Tensor in = batch.input();
        int b = in.dim(0);
        if (b < 4 || b % 2 != 0) {
            throw new IllegalArgumentException("zico needs an even batch of at least 4 (its two batches are the halves of the batch), got " + b);
        }
        DType dt = in.dtype(); // float32, or float64 with float64 weights (tests)
        int h = b / 2, classes = g.node(g.logits()).shape()[0];
        List<String> layers = layerWeights(g);
        Zico z = new Zico();
        for (int part = 0; part < 2; part++) {
            Tensor x = samples(in, part * h, h);
            int[] labels = java.util.Arrays.copyOfRange(batch.labels(), part * h, part * h + h);
            Executor ex = new Executor(backend, pool, g, weights, dt);
            Tensor logits = ex.forward(x, Set.of(), (r, t) -> { }, Executor.Keep.FOR_WEIGHT_GRADIENTS);
            Tensor dLogits = pool.take(dt, h, classes);
            backend.crossEntropyGrad(logits, labels, dLogits);
            Executor.Gradients grads = ex.backward(dLogits, true, false, Set.of(), (r, t) -> { }, true);
            z.add(part, grads.weights(), layers);
            for (Tensor t : grads.weights().values()) pool.release(t);
            pool.release(dLogits); // the last backward pass gave back every forward value but the input
            pool.release(x);
        }
        return z.score();
    }

    /**
     * VKDNW's entropy ({@link Vkdnw}): the network in eval mode (fresh running statistics) over the
     * batch, then one backward pass per class c from the seed e_c at every sample's logits, which
     * gives each sample's d(logit c)/d(node output) (in eval mode a sample's output depends on that
     * sample alone); at each node that owns one of the 128 tensors, the per-sample derivative with
     * respect to the tensor's first element.
     */
    private double vkdnwEntropy(Graph g, Weights weights, Batch batch) {
        Tensor in = batch.input();
        DType dt = in.dtype(); // float32, or float64 with float64 weights (tests)
        int b = in.dim(0), classes = g.node(g.logits()).shape()[0];
        List<String> names = Vkdnw.selected(g);
        Map<String, Integer> owners = Vkdnw.owners(g, names);
        int p = names.size();
        Executor ex = new Executor(backend, pool, g, weights, dt);
        ex.useRunningStatistics(name -> null); // a fresh network's: mean 0, var 1
        Tensor logits = ex.forward(in, Set.of(), (r, t) -> { }, Executor.Keep.ALL);
        double[][] z = new double[b][classes];
        for (int i = 0; i < b; i++) for (int c = 0; c < classes; c++) z[i][c] = logits.get((long) i * classes + c);
        Map<Integer, List<Integer>> columnsOf = new HashMap<>(); // owner node -> the Jacobian columns it gives
        for (int k = 0; k < p; k++) columnsOf.computeIfAbsent(owners.get(names.get(k)), id -> new ArrayList<>()).add(k);
        Set<Response> wanted = new HashSet<>();
        for (int id : columnsOf.keySet()) wanted.add(Response.gradOutput(id));
        double[][] jac = new double[b][classes * p];
        for (int c = 0; c < classes; c++) {
            final int cls = c;
            Tensor seed = pool.take(dt, b, classes);
            seed.fill(0.0);
            for (int i = 0; i < b; i++) seed.set((long) i * classes + c, 1.0);
            ex.backward(seed, false, false, wanted, (r, dy) -> {
                Node n = g.node(r.node());
                Tensor x = ex.value(n.inputs()[0]);
                double[] bnNorm = n.op() instanceof Op.BatchNorm ? ex.evalNormalisation(n.id(), 0) : null; // gamma[0]'s channel
                for (int k : columnsOf.get(r.node())) {
                    double[] d = Vkdnw.firstElementGradient(n, names.get(k), dy, x, bnNorm, b);
                    for (int i = 0; i < b; i++) jac[i][cls * p + k] = d[i];
                }
            }, c == classes - 1);
            pool.release(seed);
        }
        return Vkdnw.entropy(Vkdnw.fisher(jac, z, p), p);
    }

    /** Samples [from, from + count) of a batch value, as a new pool tensor of its type. */
    private Tensor samples(Tensor batch, int from, int count) {
        Tensor x = pool.take(batch.dtype(), count, batch.dim(1), batch.dim(2), batch.dim(3));
        long row = batch.rowSize() * batch.dtype().bytes;
        java.lang.foreign.MemorySegment.copy(batch.read(), from * row, x.data(), 0, count * row);
        return x;
    }

    /** Trainable parameters: conv and linear weights, linear bias, BN gamma and beta. */
    public static long params(Graph g) {
        long n = 0;
        for (int[] shape : Weights.required(g).values()) n += Tensor.numel(shape);
        return n;
    }

    /** Multiply-accumulates of the conv and linear layers for one sample. */
    public static long flops(Graph g) {
        long macs = 0;
        for (Node n : g.nodes()) {
            if (n.op() instanceof Op.Conv c) macs += (long) c.cout() * c.cinPerGroup() * c.tapCount() * n.shape()[1] * n.shape()[2];
            if (n.op() instanceof Op.DepthwiseConv c) macs += (long) c.channels() * c.k() * c.k() * n.shape()[1] * n.shape()[2];
            if (n.op() instanceof Op.Linear l) macs += (long) l.in() * l.out();
        }
        return macs;
    }
}
