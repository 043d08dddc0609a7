package io.wrcor.cli;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.results.ResultsFile;
import io.wrcor.results.RunKey;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * What the scoring commands share: the network, weights, batch and backend chosen by the common
 * options, and the score cache (the append-only results file plus memory). Asking for an
 * architecture's scores computes only the proxies not already known for the same settings, and
 * appends them as soon as they are computed.
 */
final class Scoring implements AutoCloseable {
    /** Options every scoring command accepts. */
    static final Set<String> OPTIONS = Set.of("--space", "--flops-limit", "--weights", "--data", "--batch", "--seed", "--threads", "--backend", "--devices", "--channels",
            "--cells", "--classes", "--out", "--format", "--in-flight");

    private final Arena arena = Arena.ofShared();
    private final TensorFolder folder;
    private final Batch batch;
    private final SearchSpace space;
    private final Weights fixedWeights;
    private final long seed;
    private final String run;
    private Backend backend;        // opened at once, or (a distributed run, where the workers score) on first local use
    private List<Backend> devices;  // --devices: one backend per device (the first is backend), else just backend
    private Engine engine;
    private final Args args;
    private final java.io.PrintStream err;
    private final io.wrcor.dist.Distributor remote; // where missing scores are computed, or null: here
    private final Integer inFlightOption; // --in-flight K, or null: the backend's default, worked out when first needed
    private final String backendName;
    private final int threadsGiven; // --threads T, or 0 where not given (a distributed run's workers take what their slot has)
    private final NetSize network;
    private final List<Proxy> columns; // the proxies asked for, or (none given) every proxy the space computes
    private io.wrcor.InFlight lanes; // made on first use when --in-flight K > 1
    private io.wrcor.dist.WorkSpec spec; // made on first use by a distributed run
    private ResultsFile results;
    private final Map<String, ResultsFile.Row> memory = new HashMap<>();
    private final Map<String, String> hashes = new HashMap<>();

    Scoring(Args a, List<Proxy> csvColumns, java.io.PrintStream err) {
        this(a, csvColumns, a.has("--out") ? Path.of(a.get("--out", "")) : null, err);
    }

    /** The proxies given to the constructor, or every proxy the space computes when none were. */
    List<Proxy> columns() {
        return columns;
    }

    /** As above, with the results file {@code out} (null: keep scores in memory only); {@code csvColumns} null: every proxy the space computes. */
    Scoring(Args a, List<Proxy> csvColumns, Path out, java.io.PrintStream err) {
        this(a, s -> csvColumns != null ? csvColumns : s.defaultProxies(), out, err);
    }

    /** As above, the proxies chosen by the space (known once the options and a weights folder are read). */
    Scoring(Args a, java.util.function.Function<SearchSpace, List<Proxy>> columnsOf, Path out, java.io.PrintStream err) {
        this(a, columnsOf, out, err, null);
    }

    /**
     * As above; with a distributor ({@code remote}, a Spark cluster) every missing score is computed
     * through it, and this process opens its backend only if something is ever scored here (a
     * driver without the executors' GPUs can plan a {@code --backend cuda} run).
     */
    Scoring(Args a, java.util.function.Function<SearchSpace, List<Proxy>> columnsOf, Path out, java.io.PrintStream err,
            io.wrcor.dist.Distributor remote) {
        this.args = a;
        this.err = err;
        this.remote = remote;
        try {
            io.wrcor.backend.Backends.requireKnown(a.get("--backend", "cpu"));
            if (remote != null && a.has("--devices")) {
                throw new UsageException("--devices is for one machine's devices; on Spark each task gets the GPU the cluster assigns it"
                        + " (spark.task.resource.gpu.amount, see the README)");
            }
            seed = a.getLong("--seed", 0);
            folder = a.has("--weights") ? TensorFolder.load(Path.of(a.get("--weights", "")), arena) : null;
            space = spaceOf(a, folder);
            columns = columnsOf.apply(space);
            NetSize dflt = folder != null ? Engine.sizeOf(folder) : space.defaultSize();
            String data = a.get("--data", null);
            network = new NetSize(a.getInt("--channels", dflt.channels(), 1, 4096), a.getInt("--cells", dflt.cells(), 1, 64),
                    a.getInt("--classes", io.wrcor.data.Inputs.classesOf(data, dflt.classes()), 1, 1_000_000),
                    data != null && !Session.isImageFolder(data) ? io.wrcor.data.Cifar10.SIZE : dflt.imageSize());
            boolean folderBatch = folder != null && folder.batch() != null && data == null;
            if (folderBatch && a.has("--batch") && a.getInt("--batch", 64, 2, 1 << 16) != folder.batch().size()) {
                throw new UsageException("--batch " + a.get("--batch", "") + " conflicts with --weights " + a.get("--weights", "")
                        + ", whose input batch has " + folder.batch().size() + " images; drop --batch to use that batch, or add --data FILE"
                        + " to draw a batch of that size from a data file");
            }
            batch = folderBatch ? folder.batch()
                    : Session.batch(data, a.getInt("--batch", 64, 2, 1 << 16), network.classes(), network.imageSize(), seed, arena);
            fixedWeights = folder != null ? new Weights(folder.tensors()) : null;
            run = folder != null ? RunKey.ofFolder(space, network, folder.digest(), batch) : RunKey.ofInit(space, network, seed, batch);
            results = out == null ? null
                    : new ResultsFile(out, ResultsFile.formatOf(a.get("--format", null), out), columns.stream().map(p -> p.label).toList(), run);
            if (results != null && results.otherSettings() > 0) {
                err.printf("wrcor: %s holds %d rows scored with other settings (network, weights, data or batch); they are kept, not reused%n",
                        out, results.otherSettings());
            }
            if (results != null && results.staleScores() > 0) {
                err.printf("wrcor: %s holds %d scores computed by an older definition of their proxy; they are recomputed%n", out,
                        results.staleScores());
            }
            backendName = a.get("--backend", "cpu");
            threadsGiven = a.has("--threads") ? a.getInt("--threads", 2, 1, 1024) : 0;
            int deviceCount = a.has("--devices") ? a.get("--devices", "").split(",", -1).length : 1;
            Integer inFlightGiven = a.has("--in-flight") ? Integer.valueOf(a.getInt("--in-flight", 1, 1, 64)) : null;
            inFlightOption = inFlightGiven != null ? inFlightGiven : deviceCount > 1 ? Integer.valueOf(deviceCount) : null;
            if (remote == null) openBackend();
            if (inFlightOption != null && inFlightOption < deviceCount) {
                throw new UsageException("--in-flight " + inFlightOption + " is fewer than the " + deviceCount + " devices of --devices");
            }
        } catch (RuntimeException e) {
            closeQuietly();
            throw e;
        }
    }

    private Backend backend() {
        openBackend();
        return backend;
    }

    /** The backend (and one per --devices entry) and the engine, opened once. */
    private Engine openBackend() {
        if (engine == null) {
            devices = Session.devices(args, err);
            backend = devices.getFirst();
            engine = new Engine(backend, space, network);
        }
        return engine;
    }

    private void closeQuietly() {
        try {
            if (results != null) results.close();
        } catch (IOException | RuntimeException ignored) {
            // already failing
        }
        if (engine != null) engine.close();
        if (devices != null) devices.forEach(Session::close);
        arena.close();
    }

    /** The space: --space, else the one a weights folder names, else the default; the two must agree. */
    static SearchSpace spaceOf(Args a, TensorFolder folder) {
        SearchSpace given = a.has("--space") ? SearchSpaces.get(a.get("--space", "")) : null;
        SearchSpace ofFolder = folder != null ? Engine.spaceOf(folder) : null;
        if (given != null && ofFolder != null && given != ofFolder) {
            throw new UsageException("--space " + given.name() + " conflicts with --weights " + a.get("--weights", "") + ", a "
                    + ofFolder.name() + " network (its manifest's meta.space)");
        }
        SearchSpace s = given != null ? given : ofFolder != null ? ofFolder : SearchSpaces.defaultSpace();
        if (a.has("--flops-limit")) {
            double limit = a.getDouble("--flops-limit", 0);
            if (!(limit > 0)) throw new UsageException("option --flops-limit must be positive, got " + limit);
            s = s.withFlopsLimit(limit);
        }
        return s;
    }

    SearchSpace space() {
        return space;
    }

    /** The architecture the weights folder describes, if any. */
    String folderArch() {
        if (folder == null) return null;
        Arch arch = space.archOf(folder.meta());
        return arch == null ? null : arch.toString();
    }

    String run() {
        return run;
    }

    /**
     * The space's key of an architecture where it is not the string itself (NAS-Bench-101's graph
     * hash), else null; computed once per architecture ("" stands for none in the cache).
     */
    private String hashOf(String arch, Arch parsed) {
        String k = hashes.computeIfAbsent(arch, s -> {
            String key = space.key(parsed != null ? parsed : space.parse(s));
            return key.equals(s) ? "" : key;
        });
        return k.isEmpty() ? null : k;
    }

    /** The cached row of an architecture if it already has every one of {@code proxies}, else null. */
    ResultsFile.Row cached(String arch, List<Proxy> proxies) {
        ResultsFile.Row r = known(arch);
        return r != null && hasAll(r, proxies) ? r : null;
    }

    /** What is known of an architecture: computed in this run, else stored in the results file; null if nothing. */
    private ResultsFile.Row known(String arch) {
        ResultsFile.Row r = memory.get(arch);
        return r == null && results != null ? results.known(arch) : r;
    }

    private static boolean hasAll(ResultsFile.Row r, List<Proxy> proxies) {
        for (Proxy p : proxies) if (!r.scores().containsKey(p.label)) return false;
        return true;
    }

    /**
     * The scores of {@code proxies} for an architecture (canonical arch string), computing only what
     * is not known yet. The returned row holds exactly the requested proxies, in their order.
     */
    ResultsFile.Row score(String arch, List<Proxy> proxies) {
        List<Proxy> missing = missing(arch, proxies);
        if (!missing.isEmpty() && remote != null) {
            scoreAll(remote, List.of(arch), proxies, row -> { });
        } else if (!missing.isEmpty()) {
            Arch parsed = space.parse(arch);
            long t0 = System.nanoTime();
            Engine engine = openBackend();
            Scorer.Result r = fixedWeights != null ? engine.score(parsed, fixedWeights, batch, missing)
                    : engine.score(parsed, seed, batch, missing);
            store(arch, parsed, r, (System.nanoTime() - t0) / 1e9);
        }
        return rowOf(arch, proxies);
    }

    /** The proxies of {@code proxies} not known yet for an architecture. */
    private List<Proxy> missing(String arch, List<Proxy> proxies) {
        ResultsFile.Row known = known(arch);
        List<Proxy> missing = new ArrayList<>();
        for (Proxy p : proxies) if (known == null || !known.scores().containsKey(p.label)) missing.add(p);
        return missing;
    }

    /** Appends freshly computed scores (to the results file at once) and merges them into what is known. */
    private void store(String arch, Arch parsed, Scorer.Result r, double seconds) {
        Map<String, Double> fresh = new LinkedHashMap<>();
        for (var e : r.scores().entrySet()) fresh.put(e.getKey().label, e.getValue());
        store(arch, parsed, fresh, seconds);
    }

    /** As above, the scores by proxy label. */
    private void store(String arch, Arch parsed, Map<String, Double> fresh, double seconds) {
        ResultsFile.Row known = known(arch);
        ResultsFile.Row row = new ResultsFile.Row(arch, fresh, seconds, run, ResultsFile.currentDefs(fresh.keySet())).withHash(hashOf(arch, parsed));
        if (results != null) results.append(row);
        memory.put(arch, known == null ? row : ResultsFile.union(known, row));
    }

    /**
     * {@link #score} of every architecture, in order, each row handed to {@code each} as soon as it
     * and every earlier one are known. With {@code --in-flight K} (K > 1) the architectures that
     * need computing run K at a time on the backend's lanes; rows are still appended and handed over
     * in input order.
     */
    void scoreAll(List<String> archs, List<Proxy> proxies, java.util.function.Consumer<ResultsFile.Row> each) {
        if (remote != null) {
            scoreAll(remote, archs, proxies, each);
            return;
        }
        int inFlight = archs.size() <= 1 ? 1
                : inFlightOption != null ? inFlightOption : Session.defaultInFlight(backend(), space, network, batch.size());
        if (inFlight <= 1) {
            for (String arch : archs) each.accept(score(arch, proxies));
            return;
        }
        // runs of consecutive architectures that miss the same proxies go through the lanes together
        int i = 0;
        while (i < archs.size()) {
            List<Proxy> missing = missing(archs.get(i), proxies);
            if (missing.isEmpty()) {
                each.accept(rowOf(archs.get(i), proxies));
                i++;
                continue;
            }
            int j = i + 1;
            Set<String> inRun = new java.util.HashSet<>(List.of(archs.get(i))); // a repeat waits for the next run, where it is known
            while (j < archs.size() && !inRun.contains(archs.get(j)) && missing(archs.get(j), proxies).equals(missing)) inRun.add(archs.get(j++));
            List<String> run = archs.subList(i, j);
            List<Arch> parsed = run.stream().map(space::parse).toList();
            if (lanes == null) {
                openBackend();
                lanes = new io.wrcor.InFlight(devices, space, network, batch, inFlight);
            }
            lanes.score(parsed, seed, fixedWeights, missing, (k, r, secs) -> {
                store(run.get(k), parsed.get(k), r, secs);
                each.accept(rowOf(run.get(k), proxies));
            });
            i = j;
        }
    }

    /**
     * What a distributed run's workers need to score as this process would: settings, the batch's
     * values, the weights folder's files (with --weights) and the run key.
     */
    io.wrcor.dist.WorkSpec spec() {
        if (spec == null) {
            java.util.Map<String, byte[]> files = folder == null ? null : folder.rawFiles();
            spec = io.wrcor.dist.WorkSpec.of(space, network, seed, backendName, threadsGiven, batch, run, files);
        }
        return spec;
    }

    /**
     * {@link #scoreAll} through a distributor (a Spark cluster): what is missing goes out, grouped by
     * the proxies each architecture misses; each result is appended to the results file as it comes
     * back, and only the first result of an architecture counts (a task run twice by the cluster
     * cannot add a second row); rows are handed to {@code each} in input order.
     */
    void scoreAll(io.wrcor.dist.Distributor d, List<String> archs, List<Proxy> proxies, java.util.function.Consumer<ResultsFile.Row> each) {
        Map<List<Proxy>, List<String>> groups = new LinkedHashMap<>();
        for (String arch : new java.util.LinkedHashSet<>(archs)) {
            List<Proxy> missing = missing(arch, proxies);
            if (!missing.isEmpty()) groups.computeIfAbsent(missing, k -> new ArrayList<>()).add(arch);
        }
        int[] next = {0};
        Runnable flush = () -> {
            while (next[0] < archs.size() && missing(archs.get(next[0]), proxies).isEmpty()) each.accept(rowOf(archs.get(next[0]++), proxies));
        };
        flush.run();
        if (groups.isEmpty()) return;
        io.wrcor.dist.WorkSpec spec = spec();
        for (var g : groups.entrySet()) {
            Set<String> expected = new java.util.HashSet<>(g.getValue());
            List<String> labels = g.getKey().stream().map(p -> p.label).toList();
            d.scoreAll(spec, g.getValue(), labels, scored -> {
                if (!expected.remove(scored.arch())) return; // not asked for, or a second copy of a task's result
                if (!scored.scores().keySet().equals(new java.util.HashSet<>(labels))) {
                    throw new IllegalStateException("a worker returned " + scored.scores().keySet() + " for " + scored.arch() + ", asked for " + labels);
                }
                store(scored.arch(), null, scored.scores(), scored.seconds());
                flush.run();
            });
            if (!expected.isEmpty()) {
                throw new IllegalStateException(d.describe() + " returned without scoring " + expected.size() + " of " + g.getValue().size()
                        + " architectures (those it scored are stored; a rerun computes the rest)");
            }
        }
        flush.run();
    }

    /** The known row of an architecture, holding exactly {@code proxies}, in their order. */
    private ResultsFile.Row rowOf(String arch, List<Proxy> proxies) {
        ResultsFile.Row known = known(arch);
        memory.put(arch, known);
        Map<String, Double> wanted = new LinkedHashMap<>();
        for (Proxy p : proxies) wanted.put(p.label, known.scores().get(p.label));
        return new ResultsFile.Row(arch, wanted, known.seconds(), run, ResultsFile.currentDefs(wanted.keySet())).withHash(hashOf(arch, null));
    }

    @Override
    public void close() {
        try {
            if (results != null) results.close();
        } catch (IOException e) {
            throw new UsageException("closing results file " + results.path() + ": " + io.wrcor.util.Files2.reason(e));
        } finally {
            if (lanes != null) lanes.close();
            if (engine != null) engine.close();
            if (devices != null) devices.forEach(Session::close);
            arena.close();
        }
    }
}
