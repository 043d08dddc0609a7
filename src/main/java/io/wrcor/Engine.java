package io.wrcor;

import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Network;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Scores NAS-Bench-201 architectures on one backend: the Java API behind the command line. One
 * engine per thread; it owns its scratch memory and frees it on close.
 */
public final class Engine implements AutoCloseable {
    private final TensorPool pool = new TensorPool();
    private final Scorer scorer;
    private final Nb201Network network;
    private Arena weightArena = Arena.ofShared();
    private final Map<String, Tensor> drawnWeights = new HashMap<>();
    private long drawnSeed;

    public Engine(Backend backend, Nb201Network network) {
        this.scorer = new Scorer(backend, pool);
        this.network = network;
    }

    /** Scores with the given weights (PyTorch state_dict names). */
    public Scorer.Result score(Nb201Arch arch, Weights weights, Batch batch, List<Proxy> proxies) {
        Graph graph = network.build(arch);
        weights.requireFor(graph);
        requireInput(batch);
        requireMemory(graph, batch.size());
        return scorer.score(graph, network.build(arch, false), weights, batch, proxies);
    }

    /**
     * Scores with PyTorch's default initialisation drawn from {@code seed}. A layer's values depend
     * only on the seed and its name, so they are drawn once and kept for the next architectures.
     */
    public Scorer.Result score(Nb201Arch arch, long seed, Batch batch, List<Proxy> proxies) {
        if (seed != drawnSeed) {
            drawnWeights.clear();
            weightArena.close();
            weightArena = Arena.ofShared();
            drawnSeed = seed;
        }
        Graph graph = network.build(arch);
        requireMemory(graph, batch.size());
        return score(arch, Weights.init(graph, seed, weightArena, drawnWeights), batch, proxies);
    }

    private void requireInput(Batch batch) {
        int s = network.imageSize();
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

    /** The network a fixture-format folder describes (meta C, N, num_classes), default sizes otherwise. */
    public static Nb201Network networkOf(TensorFolder folder) {
        var meta = folder.meta();
        return new Nb201Network(intMeta(meta.get("C"), 16), intMeta(meta.get("N"), 5), intMeta(meta.get("num_classes"), 10), 32);
    }

    private static int intMeta(Object v, int dflt) {
        return v instanceof Double d ? d.intValue() : dflt;
    }

    @Override
    public void close() {
        pool.close();
        weightArena.close();
    }
}
