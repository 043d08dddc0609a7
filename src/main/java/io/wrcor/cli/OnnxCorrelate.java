package io.wrcor.cli;

import io.wrcor.eval.RankCorrelation;
import io.wrcor.proxy.Proxy;
import io.wrcor.results.ResultsFile;
import io.wrcor.util.Json;
import io.wrcor.vote.Vote;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

/**
 * {@code wrcor correlate --onnx-dir DIR --gt TABLE}: a user's own benchmark. Every {@code *.onnx}
 * model in DIR that the table gives an accuracy is scored ({@link OnnxCommand.Models}, reusing a
 * store given by --out), and each proxy and vote is ranked against each accuracy column by
 * Spearman's rho and Kendall's tau-b.
 *
 * <p>The table is CSV with a header: the first column names the model (its file name, with or
 * without {@code .onnx}), every further column is an accuracy (plain decimals). A model named twice
 * with other accuracies is refused; models without a row and rows without a model are counted and
 * left out.
 */
final class OnnxCorrelate {
    private OnnxCorrelate() {
    }

    static final Set<String> OPTIONS;

    static {
        Set<String> o = new HashSet<>(OnnxCommand.OPTIONS);
        o.addAll(Set.of("--onnx-dir", "--gt", "--votes", "--vote-rules"));
        o.remove("--onnx");
        OPTIONS = Set.copyOf(o);
    }

    record Table(List<String> columns, Map<String, double[]> accuracy) {
    }

    /** The accuracy table: model name (without .onnx) -> one accuracy per column. */
    static Table table(Path file) {
        List<String> lines = io.wrcor.util.Files2.decode("accuracy table", file, io.wrcor.util.Files2.readBytes("accuracy table", file)).lines().toList();
        if (lines.isEmpty()) throw new UsageException("accuracy table " + file + " is empty");
        String[] head = lines.getFirst().split(",", -1);
        if (head.length < 2) throw new UsageException("accuracy table " + file + ": the header needs a model column and at least one accuracy column");
        List<String> columns = new ArrayList<>();
        for (int i = 1; i < head.length; i++) columns.add(head[i].strip());
        Map<String, double[]> acc = new LinkedHashMap<>();
        for (int li = 1; li < lines.size(); li++) {
            String line = lines.get(li);
            if (line.isBlank()) continue;
            String[] f = line.split(",", -1);
            if (f.length != head.length) {
                throw new UsageException("accuracy table " + file + ", line " + (li + 1) + ": " + f.length + " fields, the header has " + head.length);
            }
            String name = f[0].strip();
            if (name.endsWith(".onnx")) name = name.substring(0, name.length() - 5);
            double[] v = new double[columns.size()];
            for (int c = 0; c < v.length; c++) {
                String s = f[c + 1].strip();
                if (!s.matches("[0-9]+(\\.[0-9]+)?") || Double.parseDouble(s) > 100) {
                    throw new UsageException("accuracy table " + file + ", line " + (li + 1) + ": '" + Json.clip(s) + "' is not an accuracy (a plain decimal"
                            + " from 0 to 100)");
                }
                v[c] = Double.parseDouble(s);
            }
            double[] was = acc.putIfAbsent(name, v);
            if (was != null && !java.util.Arrays.equals(was, v)) {
                throw new UsageException("accuracy table " + file + ", line " + (li + 1) + ": model " + Json.clip(name) + " is listed twice with other accuracies");
            }
        }
        return new Table(columns, acc);
    }

    static void run(String[] argv, PrintStream out, PrintStream err) {
        Args a = new Args(argv, 1, OPTIONS, Set.of("--quiet"));
        if (!a.has("--gt")) throw new UsageException("correlate --onnx-dir needs --gt TABLE: a CSV of the models' accuracies (model,accuracy,...)");
        Path dir = Path.of(a.get("--onnx-dir", ""));
        if (!Files.isDirectory(dir)) throw new UsageException("--onnx-dir " + dir + " is not a folder");
        Table t = table(Path.of(a.get("--gt", "")));
        List<Path> models;
        try (Stream<Path> s = Files.list(dir)) {
            models = s.filter(p -> p.getFileName().toString().endsWith(".onnx") && Files.isRegularFile(p)).sorted().toList();
        } catch (IOException e) {
            throw new UsageException("--onnx-dir " + dir + ": " + io.wrcor.util.Files2.reason(e));
        }
        List<Path> scored = new ArrayList<>();
        for (Path m : models) if (t.accuracy().containsKey(stem(m))) scored.add(m);
        Set<String> found = new HashSet<>();
        for (Path m : models) found.add(stem(m));
        long noRow = models.size() - scored.size(), noModel = t.accuracy().keySet().stream().filter(k -> !found.contains(k)).count();
        if (noRow > 0) err.printf("wrcor: %d of the %d models in %s have no row in the table: left out%n", noRow, models.size(), dir);
        if (noModel > 0) err.printf("wrcor: %d rows of the table name no model in %s: left out%n", noModel, dir);
        if (scored.size() < 3) throw new UsageException("correlate --onnx-dir needs at least 3 models with accuracies, found " + scored.size());

        List<Vote> votes = new ArrayList<>();
        for (String v : a.get("--votes", Vote.PUBLISHED).split(";")) if (!v.isBlank()) votes.add(Vote.parse(v));
        List<Vote.Rule> rules = new ArrayList<>();
        for (String r : a.get("--vote-rules", "copeland,soft-z,soft-rank").split(",")) rules.add(Vote.Rule.parse(r));
        Set<Proxy> wanted = new LinkedHashSet<>(OnnxCommand.proxiesOf(a));
        for (Vote v : votes) wanted.addAll(v.members());
        List<Proxy> proxies = List.copyOf(wanted);

        int k = scored.size();
        double[][] scores = new double[proxies.size()][k];
        Path outFile = a.has("--out") ? Path.of(a.get("--out", "")) : null;
        try (OnnxCommand.Models m = new OnnxCommand.Models(a, proxies, outFile, ResultsFile.formatOf(a.get("--format", null), outFile), err)) {
            for (int i = 0; i < k; i++) {
                Map<String, Double> s = m.score(scored.get(i)).row().scores();
                for (int p = 0; p < proxies.size(); p++) scores[p][i] = s.get(proxies.get(p).label);
            }
        }
        List<String> names = new ArrayList<>();
        List<double[]> values = new ArrayList<>();
        for (int p = 0; p < proxies.size(); p++) {
            names.add(proxies.get(p).label);
            values.add(scores[p]);
        }
        for (Vote v : votes) {
            double[][] signed = new double[k][v.members().size()];
            for (int i = 0; i < k; i++)
                for (int j = 0; j < v.members().size(); j++) signed[i][j] = v.signs()[j] * scores[proxies.indexOf(v.members().get(j))][i];
            for (Vote.Rule r : v.rule() != null ? List.of(v.rule()) : rules) {
                names.add("vote(" + v.label() + ") " + r.label);
                values.add(Vote.combine(r, signed));
            }
        }
        StringBuilder header = new StringBuilder(String.format("%-44s", "proxy / vote (" + k + " models)"));
        for (String c : t.columns()) header.append(String.format("  %-10s %-10s", c + " rho", c + " tau"));
        out.println(header.toString().stripTrailing());
        for (int e = 0; e < names.size(); e++) {
            StringBuilder row = new StringBuilder(String.format("%-44s", names.get(e)));
            for (int c = 0; c < t.columns().size(); c++) {
                double[] acc = new double[k];
                for (int i = 0; i < k; i++) acc[i] = t.accuracy().get(stem(scored.get(i)))[c];
                row.append(String.format("  %-10s %-10s", fmt(RankCorrelation.spearman(values.get(e), acc)), fmt(RankCorrelation.kendallTauB(values.get(e), acc))));
            }
            out.println(row.toString().stripTrailing());
        }
    }

    private static String stem(Path p) {
        String n = p.getFileName().toString();
        return n.substring(0, n.length() - 5);
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "nan" : String.format("%+.3f", v);
    }
}
