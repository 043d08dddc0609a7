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
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import io.wrcor.tensor.Tensor;
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
        return score(arch, Weights.init(network.build(arch), seed, weightArena, drawnWeights), batch, proxies);
    }

    private void requireInput(Batch batch) {
        int s = network.imageSize();
        if (batch.input().dim(2) != s || batch.input().dim(3) != s) {
            throw new IllegalArgumentException("input batch is " + batch.input().dim(2) + "x" + batch.input().dim(3)
                    + ", the network expects " + s + "x" + s);
        }
        if (batch.size() < 2) throw new IllegalArgumentException("batch size must be at least 2 for correlation proxies, got " + batch.size());
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
