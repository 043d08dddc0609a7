package io.wrcor;

import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Executor;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Response;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.Map;

/**
 * Scores architectures of one search space on one backend: the Java API behind the command line.
 * One engine per thread; it owns its scratch memory and frees it on close.
 */
public final class Engine implements AutoCloseable {
    private final TensorPool pool = new TensorPool();
    private final Scorer scorer;
    private final SearchSpace space;
    private final NetSize size;
    private Arena weightArena = Arena.ofShared();
    private final Map<String, Tensor> drawnWeights = new HashMap<>();
    private long drawnSeed;

    public Engine(Backend backend, SearchSpace space, NetSize size) {
        this.scorer = new Scorer(backend, pool);
        this.space = space;
        this.size = size;
    }

    public SearchSpace space() {
        return space;
    }

    public NetSize size() {
        return size;
    }

    /** Scores with the given weights (PyTorch state_dict names). */
    public Scorer.Result score(Arch arch, Weights weights, Batch batch, List<Proxy> proxies) {
        Graph graph = space.build(arch, size, true);
        weights.requireFor(graph);
        requireInput(batch);
        requireMemory(graph, batch.size(), proxies);
        return run(arch, graph, weights, batch, proxies);
    }

    /**
     * Scores with the space's initialisation drawn from {@code seed}. A layer's values depend only on
     * the seed and its name, so they are drawn once and kept for the next architectures.
     */
    public Scorer.Result score(Arch arch, long seed, Batch batch, List<Proxy> proxies) {
        if (seed != drawnSeed) {
            dropWeights();
            weightArena.close();
            weightArena = Arena.ofShared();
            drawnSeed = seed;
        }
        Graph graph = space.build(arch, size, true);
        requireMemory(graph, batch.size(), proxies); // before any weight is drawn
        Weights weights = space.init(graph, seed, weightArena, drawnWeights);
        weights.requireFor(graph);
        requireInput(batch);
        return run(arch, graph, weights, batch, proxies);
    }

    /** Scores {@code graph}, the architecture's network, already checked (weights, input, memory). */
    private Scorer.Result run(Arch arch, Graph graph, Weights weights, Batch batch, List<Proxy> proxies) {
        Scorer.Result r = scorer.score(graph, space.build(arch, size, false), weights, batch, proxies);
        if (!proxies.contains(Proxy.PARAMS) && !proxies.contains(Proxy.FLOPS) && !proxies.contains(Proxy.AZ_COMPLEXITY)) return r;
        // the space's own counts (the published counters of the MobileNetV2-like space)
        java.util.Map<Proxy, Double> scores = new java.util.LinkedHashMap<>(r.scores());
        if (scores.containsKey(Proxy.PARAMS)) scores.put(Proxy.PARAMS, space.params(arch, size, graph));
        if (scores.containsKey(Proxy.FLOPS)) scores.put(Proxy.FLOPS, space.flops(arch, size, graph));
        if (scores.containsKey(Proxy.AZ_COMPLEXITY)) scores.put(Proxy.AZ_COMPLEXITY, space.flops(arch, size, graph)); // AZ-NAS takes the space's FLOPs
        return new Scorer.Result(scores, r.kernels(), r.used(), r.skipped());
    }

    private void requireInput(Batch batch) {
        int s = size.imageSize();
        if (batch.input().dim(2) != s || batch.input().dim(3) != s) {
            throw new IllegalArgumentException("input batch is " + batch.input().dim(2) + "x" + batch.input().dim(3)
                    + ", the network expects " + s + "x" + s);
        }
        if (batch.size() < 2) throw new IllegalArgumentException("batch size must be at least 2 for correlation proxies, got " + batch.size());
    }

    /**
     * Bytes of scratch memory that scoring {@code graph} at {@code batch} needs at most, from the
     * executor's own rules: the forward pass gives a value back once its last reader has run unless
     * a backward pass reads it ({@link Executor#readByBackward}); during a backward pass the kept
     * values and a few of the largest maps' gradients are alive (each node's gradient is given back
     * once passed on). Sizes are rounded up as the pool rounds them, with a margin for its reuse of
     * larger segments; weights, their gradients and the synflow copy come on top. Checked against
     * measured peaks in {@code MemoryEstimateTest}.
     */
    public static long memoryNeeded(Graph graph, int batch, List<Proxy> proxies) {
        long params = 0;
        for (int[] shape : Weights.required(graph).values()) params += Tensor.numel(shape);
        // float32 weights, their gradients for snip/grad_norm, synflow's float64 |weights| and gradients
        boolean weightGrads = Proxy.needsOf(proxies).contains(Proxy.Need.CE_WEIGHT_GRADS);
        long perParam = 4 + (weightGrads || proxies.contains(Proxy.ZICO) ? 4 : 0) + (proxies.contains(Proxy.SYNFLOW) ? 16 : 0);
        return scratchNeeded(graph, batch, proxies) + perParam * params;
    }

    /**
     * The scratch pool's part of {@link #memoryNeeded}: activations and gradients, by replaying
     * the executor's rules on the graph's sizes (a forward pass, then a backward pass that keeps
     * the values for another one, then the last backward pass that gives them back as it goes,
     * then synflow's one float64 sample), with a margin for the pool's reuse of larger segments.
     */
    public static long scratchNeeded(Graph graph, int batch, List<Proxy> proxies) {
        Set<Proxy.Need> needs = Proxy.needsOf(proxies);
        boolean weightGrads = needs.contains(Proxy.Need.CE_WEIGHT_GRADS);
        boolean twoPasses = needs.contains(Proxy.Need.CE_BACKWARD) && needs.contains(Proxy.Need.INPUT_JACOBIAN);
        int n = graph.size();
        long[] bytes = new long[n];
        for (var node : graph.nodes()) bytes[node.id()] = node.id() == graph.input() ? 0 : TensorPool.sizeClass(4L * batch * node.sampleSize());
        boolean[] kept = Executor.readByBackward(graph, weightGrads);
        int[] lastReader = Executor.lastReader(graph), fused = Executor.fusedBatchNormRelu(graph);
        // a BN fused with its ReLU has no value of its own, unless meco reads it in this forward pass
        // (where it takes the whole batch, Scorer.mecoTakesTheBatch: the shared pass, or its own like it)
        boolean mecoOnBatch = needs.contains(Proxy.Need.MECO_PASS) && Scorer.mecoTakesTheBatch(graph);
        Set<Integer> mecoReads = mecoOnBatch ? new HashSet<>(graph.moduleOutputs()) : Set.of();
        long[] valueBytes = bytes.clone();
        for (int i = 0; i < n; i++) if (fused[i] >= 0 && !mecoReads.contains(i)) valueBytes[i] = 0;
        long live = 0, forwardPeak = 0, keptBytes = 0;
        for (var node : graph.nodes()) {
            live += valueBytes[node.id()];
            forwardPeak = Math.max(forwardPeak, live);
            for (int i : node.inputs()) if (lastReader[i] == node.id() && !kept[i]) live -= valueBytes[i];
        }
        for (int i = 0; i < n; i++) if (kept[i]) keptBytes += bytes[i];
        // backward, at node id: the values still held, the gradients of nodes at or below id that a
        // later node has passed one to, and the new input gradient with a possible sum beside it;
        // only at the nodes whose gradient the pass computes (Executor.gradientsNeeded)
        // a ReLU after a fused BN may leave its mask to the BN's backward step: its output is held until then
        int[] maskFor = new int[n];
        java.util.Arrays.fill(maskFor, -1);
        for (int i = 0; i < n; i++) if (fused[i] >= 0) maskFor[fused[i]] = i;
        long backwardPeak = 0, perSample = 0;
        if (needs.contains(Proxy.Need.CE_BACKWARD)) {
            Set<Response> ceWanted = new HashSet<>();
            for (Proxy p : proxies) if (p.isCorrelation()) for (Proxy.Term t : p.terms(graph)) if (t.response().isGradient()) ceWanted.add(t.response());
            boolean[] need = Executor.gradientsNeeded(graph, weightGrads, false, ceWanted);
            // a pass with another after it holds every kept value; the last one gives them back as it goes
            backwardPeak = backwardPeak(graph, bytes, kept, lastReader, maskFor, need, twoPasses ? keptBytes : -1);
        }
        if (needs.contains(Proxy.Need.INPUT_JACOBIAN)) {
            boolean[] all = new boolean[n];
            java.util.Arrays.fill(all, true);
            backwardPeak = Math.max(backwardPeak, backwardPeak(graph, bytes, kept, lastReader, maskFor, all, -1));
        }
        for (var node : graph.nodes()) perSample += node.sampleSize();
        long synflow = 2 * 8 * perSample; // one float64 sample, values and gradients
        long meco = 0; // meco's own pass: one float32 sample's values, or the batch's forward pass replayed above
        if (needs.contains(Proxy.Need.MECO_PASS)) meco = !mecoOnBatch ? 4 * perSample : needs.contains(Proxy.Need.FORWARD) ? 0 : forwardPeak;
        if (needs.contains(Proxy.Need.CELL_JACOBIANS)) {
            // after the forward pass, the kept values and one cell's pull-back: the signs, a gradient per
            // node of the cell passed on and a sum beside it
            long largest = 0;
            for (long x : bytes) largest = Math.max(largest, x);
            backwardPeak = Math.max(backwardPeak, keptBytes + 4 * largest);
        }
        if (!needs.contains(Proxy.Need.FORWARD)) forwardPeak = 0; // no shared forward pass (zico or vkdnw alone run their own)
        long others = (long) (1.2 * Math.max(forwardPeak, backwardPeak)) + synflow + meco;
        // zico's two half-batch passes come after the others: they reuse what the last backward pass
        // gave back, or come on top of the forward pass's kept values where none ran
        long zico = needs.contains(Proxy.Need.ZICO_PASSES) ? scratchNeeded(graph, Math.max(1, batch / 2), List.of(Proxy.SNIP)) : 0;
        boolean released = needs.contains(Proxy.Need.CE_BACKWARD) || needs.contains(Proxy.Need.INPUT_JACOBIAN);
        long after = Math.max(zico, vkdnwScratch(graph, bytes, lastReader, needs));
        return released ? Math.max(others, after) : others + after;
    }

    /**
     * VKDNW's eval-mode pass: every value kept (BN outputs too), then a backward pass per class that
     * holds them all, with its frontier of gradients; the last one gives values back as it goes.
     */
    private static long vkdnwScratch(Graph graph, long[] bytes, int[] lastReader, Set<Proxy.Need> needs) {
        if (!needs.contains(Proxy.Need.VKDNW_JACOBIAN)) return 0;
        int n = graph.size();
        long all = 0;
        for (long x : bytes) all += x;
        boolean[] every = new boolean[n];
        java.util.Arrays.fill(every, true);
        int[] noMask = new int[n];
        java.util.Arrays.fill(noMask, -1);
        return (long) (1.2 * backwardPeak(graph, bytes, every, lastReader, noMask, every, all));
    }

    /**
     * The replayed peak of one backward pass over the nodes it computes; held: the kept values' bytes
     * if it holds them all, else -1. Linear in the graph's size: the frontier (gradients of needed
     * nodes at or below id that a later node has passed on) and the kept values below id are running
     * sums over intervals of id, not rescans.
     */
    private static long backwardPeak(Graph graph, long[] bytes, boolean[] kept, int[] lastReader, int[] maskFor, boolean[] need, long held) {
        int n = graph.size();
        // node j's gradient is in the frontier for id in [j, lastReader[j] - 1]; a kept value counts from id >= min(j, maskFor[j])
        long[] frontierFrom = new long[n + 1], keptFrom = new long[n + 1];
        for (int j = 0; j < n; j++) {
            if (need[j] && lastReader[j] > j) {
                frontierFrom[j] += bytes[j];
                frontierFrom[Math.min(n, lastReader[j])] -= bytes[j];
            }
            if (kept[j]) keptFrom[maskFor[j] >= 0 ? Math.min(j, maskFor[j]) : j] += bytes[j];
        }
        long[] frontierAt = new long[n], keptBelowAt = new long[n];
        long f = 0, k = 0;
        for (int id = 0; id < n; id++) {
            f += frontierFrom[id];
            k += keptFrom[id];
            frontierAt[id] = f;
            keptBelowAt[id] = k;
        }
        long peak = 0;
        for (int id = n - 1; id >= 0; id--) {
            if (!need[id]) continue;
            long frontier = frontierAt[id] + (lastReader[id] > id ? 0 : bytes[id]), fresh = 0;
            for (int i : graph.node(id).inputs()) if (need[i]) fresh += 2 * bytes[i];
            peak = Math.max(peak, (held >= 0 ? held : keptBelowAt[id]) + frontier + fresh);
        }
        return peak;
    }

    /** The memory this engine may use: its scratch pool's budget (80% of physical memory). */
    public static long memoryBudget() {
        return TensorPool.defaultBudget();
    }

    /**
     * An impossible batch or network size is refused up front, before any weight is drawn or
     * activation allocated, with the largest batch that would fit.
     */
    /** A clear refusal when scoring {@code graph} at {@code batch} would not fit this machine's memory budget, naming a batch that would. */
    public static void requireMemory(Graph graph, int batch, List<Proxy> proxies) {
        long needed = memoryNeeded(graph, batch, proxies), budget = memoryBudget();
        if (needed <= budget) return;
        int fits = batch;
        while (fits > 2 && memoryNeeded(graph, fits, proxies) > budget) fits = fits * 3 / 4;
        while (memoryNeeded(graph, fits + 1, proxies) <= budget) fits++;
        String advice = memoryNeeded(graph, fits, proxies) <= budget && fits >= 2 ? "; batch " + fits + " would fit (--batch " + fits + ")"
                : "; not even batch 2 fits";
        throw new IllegalArgumentException(String.format("batch %d on this network needs about %.1f GB for activations, gradients and"
                + " weights; this machine allows %.1f GB (80%% of its %.1f GB)%s", batch, needed / 1e9, budget / 1e9,
                TensorPool.physicalMemory() / 1e9, advice));
    }

    /** The most scratch memory (activations, gradients) lent at once since the last call, in bytes. */
    public long takePeakScratchBytes() {
        long p = pool.peakBytes();
        pool.resetPeak();
        return p;
    }

    /** The space a fixture-format folder's meta names (absent: NAS-Bench-201). */
    public static SearchSpace spaceOf(TensorFolder folder) {
        return SearchSpaces.ofMeta(folder.meta());
    }

    /** The network size a fixture-format folder describes, the space's defaults otherwise. */
    public static NetSize sizeOf(TensorFolder folder) {
        SearchSpace s = spaceOf(folder);
        return s.sizeOf(folder.meta(), s.defaultSize());
    }

    /** Forgets the drawn weights, giving back their device copies (uploaded once, kept for the next architectures). */
    private void dropWeights() {
        for (Tensor t : drawnWeights.values()) t.dropDevice();
        drawnWeights.clear();
    }

    @Override
    public void close() {
        pool.close();
        dropWeights();
        weightArena.close();
    }
}
