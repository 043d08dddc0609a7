package io.wrcor.dist;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A warm engine on a worker (a Spark executor's task slot): backend, scratch pool, drawn weights and
 * the input batch, made once and kept for every architecture the slot scores. Not thread-safe: one
 * task at a time holds it ({@link WorkerPool}).
 */
public final class Worker implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final WorkSpec spec;
    private final SearchSpace space;
    private final Backend backend;
    private final Engine engine;
    private final Batch batch;
    private final io.wrcor.graph.Weights fixedWeights; // a shipped weights folder's, or null: drawn from the spec's seed
    private final String description;

    /**
     * @param threads CPU threads of the backend
     * @param device  the CUDA device index this worker was given (a GPU scheduler's address), or null
     */
    public Worker(WorkSpec spec, int threads, Integer device) {
        this.spec = spec;
        this.space = spec.searchSpace();
        Backend b = null;
        try {
            batch = spec.batch(arena);
            io.wrcor.data.TensorFolder folder = spec.weights() == null ? null : io.wrcor.data.TensorFolder.fromFiles(spec.weights(), arena);
            fixedWeights = folder == null ? null : new io.wrcor.graph.Weights(folder.tensors());
            String run = spec.runOf(batch, folder);
            if (!run.equals(spec.run())) {
                throw new IllegalStateException("worker: the rebuilt settings give run key '" + run + "', the planner's is '" + spec.run()
                        + "' (a different engine version on this worker?)");
            }
            b = device != null ? Backends.openCuda(device) : Backends.open(spec.backend(), threads, note -> { });
            backend = b;
            engine = new Engine(backend, space, spec.network());
            description = backend.name() + (device != null ? " (device " + device + ")" : "");
        } catch (RuntimeException e) {
            if (b instanceof AutoCloseable c) closeQuietly(c);
            arena.close();
            throw e;
        }
    }

    /** A scored architecture: its scores by proxy label, in the order asked, and the seconds it took here. */
    public record Scored(String arch, Map<String, Double> scores, double seconds) implements java.io.Serializable {
    }

    /** Scores one architecture (its canonical string) with {@code proxies}. */
    public Scored score(String arch, List<Proxy> proxies) {
        Arch parsed = space.parse(arch);
        long t0 = System.nanoTime();
        Scorer.Result r = fixedWeights != null ? engine.score(parsed, fixedWeights, batch, proxies) : engine.score(parsed, spec.seed(), batch, proxies);
        double seconds = (System.nanoTime() - t0) / 1e9;
        Map<String, Double> scores = new LinkedHashMap<>();
        for (Proxy p : proxies) scores.put(p.label, r.score(p));
        return new Scored(arch, scores, seconds);
    }

    /** The backend, as its name says (and the device given, if any). */
    public String description() {
        return description;
    }

    @Override
    public void close() {
        try {
            engine.close();
        } finally {
            if (backend instanceof AutoCloseable c) closeQuietly(c);
            arena.close();
        }
    }

    private static void closeQuietly(AutoCloseable c) {
        try {
            c.close();
        } catch (Exception ignored) {
            // nothing left to release
        }
    }
}
