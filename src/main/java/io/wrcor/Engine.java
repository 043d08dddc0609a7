package io.wrcor;

import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Graph;
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
import java.util.List;
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
        requireMemory(graph, batch.size());
        Scorer.Result r = scorer.score(graph, space.build(arch, size, false), weights, batch, proxies);
        if (!proxies.contains(Proxy.PARAMS) && !proxies.contains(Proxy.FLOPS)) return r;
        // the space's own counts (the published counters of the MobileNetV2-like space)
        java.util.Map<Proxy, Double> scores = new java.util.LinkedHashMap<>(r.scores());
        if (scores.containsKey(Proxy.PARAMS)) scores.put(Proxy.PARAMS, space.params(arch, size, graph));
        if (scores.containsKey(Proxy.FLOPS)) scores.put(Proxy.FLOPS, space.flops(arch, size, graph));
        return new Scorer.Result(scores, r.kernels(), r.used(), r.skipped());
    }

    /**
     * Scores with the space's initialisation drawn from {@code seed}. A layer's values depend only on
     * the seed and its name, so they are drawn once and kept for the next architectures.
     */
    public Scorer.Result score(Arch arch, long seed, Batch batch, List<Proxy> proxies) {
        if (seed != drawnSeed) {
            drawnWeights.clear();
            weightArena.close();
            weightArena = Arena.ofShared();
            drawnSeed = seed;
        }
        Graph graph = space.build(arch, size, true);
        requireMemory(graph, batch.size());
        return score(arch, space.init(graph, seed, weightArena, drawnWeights), batch, proxies);
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
     * Every activation is kept for the backward pass, with a gradient beside it: an impossible
     * batch or network size is refused up front, before any weight is drawn, instead of failing deep
     * inside an allocation.
     */
    private static void requireMemory(Graph graph, int batch) {
        double perSample = 0, params = 0;
        for (var n : graph.nodes()) perSample += n.sampleSize();
        for (int[] shape : Weights.required(graph).values()) params += Tensor.numel(shape);
        double needed = 2.0 * 4 * (perSample * batch + params); // float32 values and gradients, weights and their gradients
        long physical = ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getTotalMemorySize();
        if (physical > 0 && needed > 0.8 * physical) {
            throw new IllegalArgumentException(String.format("batch %d on this network needs about %.1f GB for weights, activations and"
                    + " gradients; this machine has %.1f GB", batch, needed / 1e9, physical / 1e9));
        }
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

    @Override
    public void close() {
        pool.close();
        weightArena.close();
    }
}
