package io.wrcor.cli;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.data.Batch;
import io.wrcor.onnx.OnnxModel;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.results.ResultsFile;
import io.wrcor.tensor.TensorPool;
import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code wrcor score --onnx FILE [--onnx FILE ...]}: every proxy asked for, for networks read from
 * ONNX model files ({@link OnnxModel}), one row per model. A row's {@code run} names the model
 * file's content digest with the batch's, so a store never mixes two models of the same name;
 * a model already in the store with every proxy asked for is not scored again.
 */
final class OnnxCommand {
    private OnnxCommand() {
    }

    /** What an ONNX model is scored with when --proxies is not given. */
    static final List<Proxy> DEFAULT = List.of(Proxy.WRCOR, Proxy.SYNFLOW, Proxy.JACOB_COR, Proxy.GRAD_COR, Proxy.MECO, Proxy.NASWOT, Proxy.PARAMS,
            Proxy.FLOPS);

    static final Set<String> OPTIONS = Set.of("--onnx", "--proxies", "--batch", "--data", "--seed", "--backend", "--threads", "--out", "--format");

    static void run(String[] argv, PrintStream out, PrintStream err) {
        Args a = new Args(argv, 1, OPTIONS, Set.of("--quiet", "--print-stored"));
        List<Proxy> proxies = proxiesOf(a);
        List<String> labels = proxies.stream().map(p -> p.label).toList();
        Path outFile = a.has("--out") ? Path.of(a.get("--out", "")) : null;
        ResultsFile.Format format = ResultsFile.formatOf(a.get("--format", null), outFile);
        if (format == ResultsFile.Format.CSV) out.println(ResultsFile.csvHeader(labels));
        try (Models models = new Models(a, proxies, outFile, format, err)) {
            for (String f : a.all("--onnx")) {
                Models.Scored s = models.score(Path.of(f));
                if (!s.stored() || a.has("--print-stored")) print(out, format, s.row(), labels);
            }
        }
    }

    /** --proxies, or the default; the AZ-NAS proxies refused with the reason. */
    static List<Proxy> proxiesOf(Args a) {
        String asked = a.get("--proxies", null);
        List<Proxy> proxies = asked == null ? DEFAULT : Proxy.parseList(asked);
        OnnxModel.requireDefined(proxies);
        return proxies;
    }

    /**
     * Scores ONNX models one after another on one backend: each read, checked (input, batch, memory),
     * scored on a batch drawn for it, and appended to the store; a model the store already holds with
     * every proxy is not scored again.
     */
    static final class Models implements AutoCloseable {
        private final Args a;
        private final List<Proxy> proxies;
        private final List<String> labels;
        private final Path outFile;
        private final ResultsFile.Format format;
        private final PrintStream err;
        private final Backend backend;
        private final TensorPool pool = new TensorPool();
        private final Scorer scorer;

        record Scored(ResultsFile.Row row, boolean stored) {
        }

        Models(Args a, List<Proxy> proxies, Path outFile, ResultsFile.Format format, PrintStream err) {
            this.a = a;
            this.proxies = proxies;
            this.labels = proxies.stream().map(p -> p.label).toList();
            this.outFile = outFile;
            this.format = format;
            this.err = err;
            this.backend = Session.backend(a.get("--backend", "cpu"), a.getInt("--threads", 2, 1, 1024), err);
            this.scorer = new Scorer(backend, pool);
        }

        Scored score(Path file) {
            long seed = a.getLong("--seed", 0);
            Integer batchGiven = a.has("--batch") ? a.getInt("--batch", 64, 2, 1 << 16) : null;
            try (Arena arena = Arena.ofShared()) {
                OnnxModel m = OnnxModel.load(file, arena);
                int[] in = m.inputShape();
                int b = m.batchFor(batchGiven);
                Engine.requireMemory(m.graph(), b, proxies);
                Batch batch = Session.batch(a.get("--data", null), b, m.classes(), in[1], seed, arena);
                String run = m.runKey(batch);
                String name = file.getFileName().toString();
                ResultsFile store = outFile == null ? null : new ResultsFile(outFile, format, labels, run);
                try {
                    ResultsFile.Row known = store == null ? null : store.known(name);
                    if (known != null && known.scores().keySet().containsAll(labels)) {
                        err.println("wrcor: " + name + ": already in " + outFile + " (same model, batch and settings)");
                        return new Scored(rowOf(name, known.scores(), labels, known.seconds(), run), true);
                    }
                    long t0 = System.nanoTime();
                    Scorer.Result r = m.score(scorer, batch, proxies);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    Map<String, Double> scores = new LinkedHashMap<>();
                    for (Proxy p : proxies) scores.put(p.label, r.score(p));
                    ResultsFile.Row row = rowOf(name, scores, labels, secs, run);
                    if (store != null) store.append(row);
                    if (!a.has("--quiet")) {
                        err.printf("wrcor: %s: opset %d, input %d x %d x %d, %d classes, %d nodes, %d response sites, batch %d, %.2f s%n", name, m.opset(),
                                in[0], in[1], in[2], m.classes(), m.graph().size(), m.graph().sites().size(), b, secs);
                    }
                    return new Scored(row, false);
                } finally {
                    if (store != null) store.close();
                }
            } catch (IOException e) {
                throw new UsageException("results file " + outFile + ": " + io.wrcor.util.Files2.reason(e));
            }
        }

        @Override
        public void close() {
            try {
                pool.close();
            } finally {
                Session.close(backend);
            }
        }
    }

    private static ResultsFile.Row rowOf(String name, Map<String, Double> scores, List<String> labels, double secs, String run) {
        Map<String, Double> wanted = new LinkedHashMap<>();
        for (String l : labels) wanted.put(l, scores.get(l));
        return new ResultsFile.Row(name, wanted, secs, run, ResultsFile.currentDefs(new ArrayList<>(wanted.keySet())));
    }

    private static void print(PrintStream out, ResultsFile.Format format, ResultsFile.Row row, List<String> labels) {
        out.println(format == ResultsFile.Format.CSV ? row.toCsv(labels) : row.toJson());
        out.flush();
    }
}
