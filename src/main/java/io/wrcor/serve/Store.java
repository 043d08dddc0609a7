package io.wrcor.serve;

import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.results.ResultsFile;
import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import java.io.IOException;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A results file of the server's data directory, open for one run (settings), shared by the jobs
 * that write to it: what it stores is reused, what is computed is appended at once. Thread-safe.
 */
final class Store {
    final String name; // relative to the data directory, for messages and status
    final String run;
    private final SearchSpace space;
    private final ResultsFile file;
    private final Map<String, ResultsFile.Row> memory = new HashMap<>();
    int users; // guarded by the registry that hands stores out

    Store(Path path, String name, String run, SearchSpace space) {
        this.name = name;
        this.run = run;
        this.space = space;
        this.file = new ResultsFile(path, ResultsFile.Format.JSONL, List.of(), run);
    }

    private Store(String name) {
        this.name = name;
        this.run = null;
        this.space = null;
        this.file = null;
    }

    /** The store of a finished job: its name only (nothing is read or written through it). */
    static Store closed(String name) {
        return new Store(name);
    }

    String name() {
        return name;
    }

    /** The stored row of an architecture holding exactly {@code proxies} (in their order), or null if one is missing. */
    synchronized ResultsFile.Row cached(String arch, List<Proxy> proxies) {
        ResultsFile.Row known = known(arch);
        if (known == null) return null;
        Map<String, Double> wanted = new LinkedHashMap<>();
        for (Proxy p : proxies) {
            Double v = known.scores().get(p.label);
            if (v == null) return null;
            wanted.put(p.label, v);
        }
        return new ResultsFile.Row(arch, wanted, known.seconds(), run, ResultsFile.currentDefs(wanted.keySet()), known.hash());
    }

    private ResultsFile.Row known(String arch) {
        ResultsFile.Row r = memory.get(arch);
        return r != null || file == null ? r : file.known(arch);
    }

    /** Appends freshly computed scores and returns the architecture's row of {@code proxies}. */
    synchronized ResultsFile.Row put(Arch arch, Scorer.Result r, double seconds, List<Proxy> proxies) {
        String a = arch.toString(), key = space.key(arch);
        Map<String, Double> fresh = new LinkedHashMap<>();
        for (var e : r.scores().entrySet()) fresh.put(e.getKey().label, e.getValue());
        ResultsFile.Row row = new ResultsFile.Row(a, fresh, seconds, run, ResultsFile.currentDefs(fresh.keySet())).withHash(key.equals(a) ? null : key);
        file.append(row);
        ResultsFile.Row known = known(a);
        memory.put(a, known == null ? row : ResultsFile.union(known, row).withHash(row.hash()));
        return cached(a, proxies);
    }

    synchronized void close() {
        if (file == null) return;
        try {
            file.close();
        } catch (IOException e) {
            System.err.println("wrcor: serve: closing results file " + name + ": " + e.getMessage());
        }
    }
}
