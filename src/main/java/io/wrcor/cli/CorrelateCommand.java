package io.wrcor.cli;

import io.wrcor.eval.GroundTruth;
import io.wrcor.eval.RankCorrelation;
import io.wrcor.eval.ScatterPlot;
import io.wrcor.proxy.Proxy;
import io.wrcor.vote.Vote;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * {@code wrcor correlate}: scores K architectures of the NAS-Bench-201 ground-truth table (cached in
 * the results file), then Spearman rho and Kendall tau-b of every proxy and vote against test
 * accuracy on each dataset, as a table on stdout, CSV and Markdown files, and scatter plots.
 */
final class CorrelateCommand {
    private CorrelateCommand() {
    }

    static final String DEFAULT_PROXIES = "wrcor,naswot,synflow,jacob_cor,params,flops";

    /** One row of the table: a proxy or a vote under one rule, with its value per architecture. */
    record Entry(String name, double[] values) {}

    static void run(String[] argv, PrintStream out, PrintStream err, io.wrcor.dist.Distributor remote) {
        if (java.util.Arrays.asList(argv).contains("--onnx-dir")) {
            if (remote != null) throw new UsageException("correlate --onnx-dir does not run on Spark yet");
            OnnxCorrelate.run(argv, out, err);
            return;
        }
        Set<String> withValue = new HashSet<>(Scoring.OPTIONS);
        withValue.addAll(Set.of("--gt", "--sample", "--proxies", "--votes", "--vote-rules", "--report", "--run-dir", "--arch-file"));
        Args a = new Args(argv, 1, withValue, Set.of("--all", "--quiet"));
        List<Vote> votes = new ArrayList<>();
        for (String v : a.get("--votes", Vote.PUBLISHED).split(";")) if (!v.isBlank()) votes.add(Vote.parse(v));
        List<Vote.Rule> rules = new ArrayList<>();
        for (String r : a.get("--vote-rules", "copeland,soft-z,soft-rank").split(",")) rules.add(Vote.Rule.parse(r));
        Set<Proxy> wanted = new LinkedHashSet<>(Proxy.parseList(a.get("--proxies", DEFAULT_PROXIES)));
        for (Vote v : votes) wanted.addAll(v.members());
        List<Proxy> proxies = List.copyOf(wanted);

        long seed = a.getLong("--seed", 0);
        Path runDir = a.has("--run-dir") ? Path.of(a.get("--run-dir", "")) : Defaults.newRunFolder("correlate");
        Path scoresFile = a.has("--out") ? Path.of(a.get("--out", "")) : runDir.resolve("scores.jsonl");
        Path report = a.has("--report") ? Path.of(a.get("--report", "")) : runDir;
        GroundTruth gt;
        int k;
        int[] picked;
        double[][] scores;
        String spaceName;
        try (Scoring scoring = new Scoring(a, s -> proxies, scoresFile, err, remote)) {
            spaceName = scoring.space().name();
            gt = GroundTruth.load(Defaults.groundTruth(a.get("--gt", null), scoring.space()), scoring.space()).requireComplete();
            if (a.has("--arch-file") && (a.has("--all") || a.has("--sample"))) throw new UsageException("give --arch-file, --sample or --all, not several");
            if (a.has("--arch-file")) {
                java.util.LinkedHashSet<Integer> rows = new java.util.LinkedHashSet<>();
                for (String f : a.all("--arch-file")) {
                    for (String arch : ScoreCommand.readArchFile(f, scoring.space())) {
                        int row = gt.find(arch);
                        if (row < 0) throw new UsageException(f + ": architecture " + arch + " is not in the ground truth");
                        rows.add(row);
                    }
                }
                if (rows.size() < 2) throw new UsageException("--arch-file: " + rows.size() + " distinct architectures; a rank correlation needs at least 2");
                picked = rows.stream().mapToInt(Integer::intValue).toArray();
                k = picked.length;
            } else {
                k = a.has("--all") ? gt.size() : a.has("--sample") ? a.getInt("--sample", 650, 2, Integer.MAX_VALUE) : Math.min(650, gt.size());
                if (k > gt.size()) throw new UsageException("--sample " + k + " is larger than the " + gt.size() + " architectures in the ground truth");
                picked = GroundTruth.pick(gt.size(), k, seed);
            }
            scores = new double[proxies.size()][k];
            long cached = java.util.Arrays.stream(picked).filter(i -> scoring.cached(gt.arch(i), proxies) != null).count();
            if (cached > 0) err.printf("wrcor: %d of %d architectures already scored in %s%n", cached, k, scoresFile);
            Progress progress = new Progress(err, k - (int) cached, !a.has("--quiet"));
            if (remote != null) {
                List<String> archs = new ArrayList<>();
                for (int i = 0; i < k; i++) archs.add(gt.arch(picked[i]));
                java.util.Set<String> stored = new java.util.HashSet<>();
                for (String arch : archs) if (scoring.cached(arch, proxies) != null) stored.add(arch);
                if (stored.size() < archs.size()) err.println("wrcor: scoring on " + remote.describe());
                int[] i = {0};
                scoring.scoreAll(remote, archs, proxies, row -> {
                    for (int p = 0; p < proxies.size(); p++) scores[p][i[0]] = row.scores().get(proxies.get(p).label);
                    if (!stored.contains(row.arch())) progress.step();
                    i[0]++;
                });
            } else {
                for (int i = 0; i < k; i++) {
                    boolean fresh = scoring.cached(gt.arch(picked[i]), proxies) == null;
                    Map<String, Double> s = scoring.score(gt.arch(picked[i]), proxies).scores();
                    for (int p = 0; p < proxies.size(); p++) scores[p][i] = s.get(proxies.get(p).label);
                    if (fresh) progress.step();
                }
            }
        }

        List<Entry> entries = new ArrayList<>();
        for (int p = 0; p < proxies.size(); p++) entries.add(new Entry(proxies.get(p).label, scores[p]));
        for (Vote v : votes) {
            double[][] signed = new double[k][v.members().size()];
            for (int i = 0; i < k; i++)
                for (int m = 0; m < v.members().size(); m++) signed[i][m] = v.signs()[m] * scores[proxies.indexOf(v.members().get(m))][i];
            // a vote with its own rule (a named ensemble, or members@rule) is ranked by that rule only
            for (Vote.Rule r : v.rule() != null ? List.of(v.rule()) : rules) {
                entries.add(new Entry("vote(" + v.label() + ") " + r.label, Vote.combine(r, signed)));
            }
        }

        List<String> ds = gt.datasets();
        double[][] acc = new double[ds.size()][k];
        for (int d = 0; d < ds.size(); d++) for (int i = 0; i < k; i++) acc[d][i] = gt.accuracy(d, picked[i]);
        List<String[]> rows = new ArrayList<>();
        for (Entry e : entries) {
            String[] row = new String[2 + 2 * ds.size()];
            row[0] = e.name();
            int valid = 0;
            for (double v : e.values()) if (!Double.isNaN(v)) valid++;
            for (int d = 0; d < ds.size(); d++) {
                row[1 + 2 * d] = fmt(RankCorrelation.spearman(e.values(), acc[d]));
                row[2 + 2 * d] = fmt(RankCorrelation.kendallTauB(e.values(), acc[d]));
            }
            row[row.length - 1] = Integer.toString(valid);
            rows.add(row);
            // say why a row has fewer pairs or no correlation, rather than leave a bare nan
            if (valid < k) {
                err.printf("wrcor: %s: %d of %d architectures have a nan score and are left out of its rho and tau (n = %d)%n", e.name(), k - valid, k, valid);
            }
            double first = Double.NaN;
            boolean constant = valid >= 2;
            for (double v : e.values()) {
                if (Double.isNaN(v)) continue;
                if (Double.isNaN(first)) first = v;
                else if (v != first) constant = false;
            }
            if (constant) err.printf("wrcor: %s: every score is %s over these architectures, so its rho and tau are undefined (nan)%n", e.name(), first);
        }
        List<String> header = new ArrayList<>(List.of("proxy"));
        for (String d : ds) { header.add(d + " rho"); header.add(d + " tau"); }
        header.add("n");

        out.printf("%d %s architectures (%s), %s; Spearman rho and Kendall tau-b against accuracy%n", k, spaceName,
                a.has("--arch-file") ? "from " + String.join(", ", a.all("--arch-file")) + ", weights seed " + seed : "seed " + seed,
                a.has("--weights") ? "fixed weights" : "data " + a.get("--data", "synthetic") + ", batch " + a.get("--batch", "64"));
        printTable(out, header, rows);

        try {
            Files.createDirectories(report);
            StringBuilder csv = new StringBuilder(String.join(",", header)).append('\n');
            StringBuilder md = new StringBuilder("| " + String.join(" | ", header) + " |\n|" + " --- |".repeat(header.size()) + "\n");
            for (String[] r : rows) {
                csv.append(String.join(",", quoteAll(r))).append('\n');
                md.append("| ").append(String.join(" | ", r)).append(" |\n");
            }
            Files.writeString(report.resolve("correlation.csv"), csv);
            Files.writeString(report.resolve("correlation.md"), md);
            for (Entry e : entries) {
                String file = "scatter-" + e.name().replaceAll("[^A-Za-z0-9_.-]+", "_") + ".png";
                double rho = RankCorrelation.spearman(e.values(), acc[0]);
                ScatterPlot.write(report.resolve(file), e.name() + ", rho " + fmt(rho) + " (" + ds.getFirst() + ")", e.name(), ds.getFirst() + " accuracy (%)",
                        e.values(), acc[0]);
            }
            err.println("wrcor: table and scatter plots written to " + report + ", scores in " + scoresFile
                    + (a.has("--out") ? "" : " (give --out " + scoresFile + " to a later run to reuse them)"));
        } catch (IOException e) {
            throw new UsageException("cannot write the report to " + report + ": " + io.wrcor.util.Files2.reason(e));
        }
    }

    private static String fmt(double v) {
        return Double.isNaN(v) ? "nan" : String.format("%.3f", v);
    }

    private static List<String> quoteAll(String[] r) {
        List<String> out = new ArrayList<>();
        for (String s : r) out.add(s.contains(",") ? "\"" + s + "\"" : s);
        return out;
    }

    private static void printTable(PrintStream out, List<String> header, List<String[]> rows) {
        int w0 = header.getFirst().length();
        for (String[] r : rows) w0 = Math.max(w0, r[0].length());
        StringBuilder sb = new StringBuilder(String.format("%-" + w0 + "s", header.getFirst()));
        for (int i = 1; i < header.size(); i++) sb.append(String.format("  %" + Math.max(7, header.get(i).length()) + "s", header.get(i)));
        out.println(sb);
        for (String[] r : rows) {
            StringBuilder line = new StringBuilder(String.format("%-" + w0 + "s", r[0]));
            for (int i = 1; i < r.length; i++) line.append(String.format("  %" + Math.max(7, header.get(i).length()) + "s", r[i]));
            out.println(line);
        }
    }
}
