package io.wrcor.cli;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Weights;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Network;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/** {@code wrcor score}: one row per architecture on stdout (and appended to --out). */
final class ScoreCommand {
    private ScoreCommand() {
    }

    private static final Set<String> WITH_VALUE = Set.of("--arch", "--arch-file", "--sample", "--weights", "--proxies", "--data",
            "--batch", "--seed", "--threads", "--backend", "--channels", "--cells", "--classes", "--out", "--format");

    static void run(String[] argv, PrintStream out, PrintStream err) {
        Args a = new Args(argv, 1, WITH_VALUE, Set.of("--quiet"));
        List<Proxy> proxies = a.has("--proxies") ? Proxy.parseList(a.get("--proxies", "")) : List.of(Proxy.values());
        long seed = a.getLong("--seed", 0);
        int threads = a.getInt("--threads", 2, 1, 1024);
        Path outPath = a.has("--out") ? Path.of(a.get("--out", "")) : null;
        ResultsFile.Format format = ResultsFile.formatOf(a.get("--format", null), outPath);
        List<String> labels = proxies.stream().map(p -> p.label).toList();

        try (Arena arena = Arena.ofShared()) {
            TensorFolder folder = a.has("--weights") ? TensorFolder.load(Path.of(a.get("--weights", "")), arena) : null;
            Nb201Network dflt = folder != null ? Engine.networkOf(folder) : Nb201Network.BENCHMARK;
            Nb201Network net = new Nb201Network(a.getInt("--channels", dflt.channels(), 1, 4096), a.getInt("--cells", dflt.cells(), 1, 64),
                    a.getInt("--classes", dflt.classes(), 1, 1_000_000), dflt.imageSize());
            List<String> archs = architectures(a, folder, seed);
            if (archs.isEmpty()) throw new UsageException("no architectures: give --arch, --arch-file, --sample or --weights");

            Batch batch = folder != null && folder.batch() != null && !a.has("--data") ? folder.batch()
                    : Session.batch(a.get("--data", null), a.getInt("--batch", 64, 2, 1 << 16), net.classes(), net.imageSize(), seed, arena);
            Weights fixed = folder != null ? new Weights(folder.tensors()) : null;
            String run = folder != null ? "weights=" + Path.of(a.get("--weights", "")).toAbsolutePath().normalize().getFileName()
                    + (a.has("--data") ? " data=" + Path.of(a.get("--data", "")).getFileName() : "")
                    : String.format("seed=%d batch=%d data=%s C=%d N=%d classes=%d", seed, batch.size(),
                    a.has("--data") ? Path.of(a.get("--data", "")).getFileName() : "synthetic", net.channels(), net.cells(), net.classes());

            Backend backend = Session.backend(a.get("--backend", "cpu"), threads);
            try (Engine engine = new Engine(backend, net);
                 ResultsFile results = outPath != null ? new ResultsFile(outPath, format, labels) : null) {
                if (format == ResultsFile.Format.CSV) out.println(ResultsFile.csvHeader(labels));
                int skipped = 0;
                List<String> todo = new ArrayList<>();
                for (String s : archs) {
                    ResultsFile.Row done = results == null ? null : results.done(s, run);
                    if (done != null) skipped++;
                    else todo.add(s);
                }
                if (skipped > 0) err.printf("wrcor: resuming: %d of %d architectures already in %s%n", skipped, archs.size(), outPath);
                Progress progress = new Progress(err, todo.size(), !a.has("--quiet"));
                for (String s : todo) {
                    Nb201Arch arch = Nb201Arch.parse(s);
                    long t0 = System.nanoTime();
                    Scorer.Result r = fixed != null ? engine.score(arch, fixed, batch, proxies) : engine.score(arch, seed, batch, proxies);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    Map<String, Double> scores = new LinkedHashMap<>();
                    for (var e : r.scores().entrySet()) scores.put(e.getKey().label, e.getValue());
                    ResultsFile.Row row = new ResultsFile.Row(arch.toString(), scores, secs, run);
                    if (results != null) results.append(row);
                    out.println(format == ResultsFile.Format.CSV ? row.toCsv(labels) : row.toJson());
                    out.flush();
                    progress.step();
                }
            } catch (IOException e) {
                throw new UsageException("writing results: " + e.getMessage());
            } finally {
                Session.close(backend);
            }
        }
    }

    /** The architectures to score, validated up front so a bad one fails before any work is done. */
    private static List<String> architectures(Args a, TensorFolder folder, long seed) {
        List<String> archs = new ArrayList<>();
        for (String s : a.all("--arch")) archs.add(Nb201Arch.parse(s).toString());
        for (String f : a.all("--arch-file")) {
            List<String> lines;
            try {
                lines = Files.readAllLines(Path.of(f));
            } catch (NoSuchFileException e) {
                throw new UsageException("arch file " + f + " does not exist");
            } catch (IOException e) {
                throw new UsageException("cannot read arch file " + f + ": " + e.getMessage());
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) continue;
                try {
                    archs.add(Nb201Arch.parse(line).toString());
                } catch (IllegalArgumentException e) {
                    throw new UsageException(f + ", line " + (i + 1) + ": " + e.getMessage());
                }
            }
        }
        if (a.has("--sample")) {
            int n = a.getInt("--sample", 0, 1, 15_625);
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = 0; i < n; i++) archs.add(Nb201Arch.sample(rnd).toString());
        }
        if (archs.isEmpty() && folder != null && folder.meta().get("arch") instanceof String s) archs.add(Nb201Arch.parse(s).toString());
        return archs;
    }
}
