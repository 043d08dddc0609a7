package io.wrcor.cli;

import io.wrcor.eval.GroundTruth;
import io.wrcor.proxy.Proxy;
import io.wrcor.search.Objective;
import io.wrcor.search.Search;
import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import io.wrcor.util.Json;
import io.wrcor.vote.Vote;
import java.io.BufferedWriter;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code wrcor search}: random search, regularised evolution or REINFORCE over NAS-Bench-201, driven
 * by one proxy or a vote, with the published defaults. Scores are cached (in memory, and in the
 * results file with --out), so architectures seen again, in this run or an earlier one, cost nothing.
 */
final class SearchCommand {
    private SearchCommand() {
    }

    static void run(String[] argv, PrintStream out, PrintStream err, io.wrcor.dist.Distributor remote) {
        Set<String> withValue = new HashSet<>(Scoring.OPTIONS);
        withValue.addAll(Set.of("--algo", "--objective", "--n", "--population", "--tournament", "--lr", "--ema", "--calibration",
                "--runs", "--gt", "--trajectory", "--pick", "--run-dir", "--children"));
        Args a = new Args(argv, 1, withValue, Set.of("--quiet", "--no-gt"));
        Vote objectiveVote = Vote.parse(a.get("--objective", defaultObjective(a)));
        String algo = a.get("--algo", "evolution");
        int runs = a.getInt("--runs", 1, 1, 10_000);
        long seed = a.getLong("--seed", 0);
        Search search;
        try {
            search = Search.of(algo, a.getInt("--population", 64, 1, 1_000_000), a.getInt("--tournament", 10, 1, 1_000_000),
                    a.getInt("--children", 1, 1, 1_000_000), a.getDouble("--lr", 1e-3), a.getDouble("--ema", 0.9), a.getInt("--calibration", 100, 2, 1_000_000));
        } catch (IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
        String pick = a.get("--pick", "running");
        Vote.Rule pickBy;
        if (pick.equals("running")) {
            pickBy = null;
        } else {
            try {
                pickBy = Vote.Rule.parse(pick);
            } catch (IllegalArgumentException e) {
                throw new UsageException("unknown --pick '" + pick + "' (expected running, copeland, soft-z, soft-rank or log-rank)");
            }
        }
        Vote.Rule soft = objectiveVote.softRule(); // a soft objective is calibrated; else the pairwise majority decides
        String pickRule = pickBy == null && soft != null
                ? "the search's running best by the calibrated " + soft.label + " objective (one number per architecture: the best evaluated)"
                : pickBy == null
                ? "the search's running best (the published rule: a candidate that wins or ties the objective against the best replaces it;"
                        + " a vote's pairwise majority is not transitive, so it can fall)"
                : pickBy == Vote.Rule.COPELAND ? "the Copeland winner of all evaluated architectures (most pairwise-majority wins minus losses)"
                : "the best of all evaluated architectures by " + pickBy.label + " of " + objectiveVote.membersLabel();
        // the rule that ranks the evaluated architectures: the pick's, else the objective's own
        Vote.Rule rankBy = pickBy != null ? pickBy : soft != null ? soft : Vote.Rule.COPELAND;
        int calibration = a.getInt("--calibration", 100, 2, 1_000_000);
        Path runDir = a.has("--run-dir") ? Path.of(a.get("--run-dir", "")) : Defaults.newRunFolder("search");
        Path scoresFile = a.has("--out") ? Path.of(a.get("--out", "")) : runDir.resolve("scores.jsonl");
        Path trajectory = a.has("--trajectory") ? Path.of(a.get("--trajectory", "")) : runDir.resolve("trajectory.jsonl");
        List<Proxy> proxies = objectiveVote.members();

        List<String> summaries = new ArrayList<>();
        String lastFound = null;
        Map<String, Object> settings = new LinkedHashMap<>();
        GroundTruth gt;
        double[][] found;
        long tAll = System.nanoTime();
        try (Scoring scoring = new Scoring(a, s -> proxies, scoresFile, err, remote);
             Trajectory traj = new Trajectory(trajectory)) {
            SearchSpace space = scoring.space();
            int n = a.getInt("--n", space.publishedEvaluations(), 1, 10_000_000);
            // summary.json says every setting the search ran with, defaults included
            settings.put("algorithm", algo);
            settings.put("objective", objectiveVote.label());
            settings.put("pick", pick);
            settings.put("n", n);
            if (algo.equals("evolution")) {
                settings.put("population", a.getInt("--population", 64, 1, 1_000_000));
                settings.put("tournament", a.getInt("--tournament", 10, 1, 1_000_000));
            }
            settings.put("children", a.getInt("--children", 1, 1, 1_000_000));
            if (algo.equals("reinforce")) {
                settings.put("lr", a.getDouble("--lr", 1e-3));
                settings.put("ema", a.getDouble("--ema", 0.9));
            }
            if (soft != null || algo.equals("reinforce")) settings.put("calibration", calibration);
            settings.put("runs", runs);
            settings.put("seed", seed);
            settings.put("space", space.name());
            settings.put("run", scoring.run());
            settings.put("batch", a.getInt("--batch", 64, 1, Integer.MAX_VALUE));
            settings.put("data", a.get("--data", "synthetic N(0,1)"));
            if (a.has("--weights")) settings.put("weights", a.get("--weights", ""));
            settings.put("backend", a.get("--backend", "cpu"));
            settings.put("threads", a.getInt("--threads", 2, 1, 1024));
            // reported for the found architecture beside the objective: its size, and WRCor's other response sites
            List<Proxy> report = new ArrayList<>(proxies);
            for (Proxy p : List.of(Proxy.FLOPS, Proxy.PARAMS)) if (!report.contains(p)) report.add(p);
            // WRCor always, the engine's reason to exist, whatever the objective
            if (!report.contains(Proxy.WRCOR)) report.add(Proxy.WRCOR);
            if (proxies.contains(Proxy.WRCOR) && !report.contains(Proxy.WRCOR_RELU_ONLY)) report.add(Proxy.WRCOR_RELU_ONLY);
            gt = a.has("--no-gt") ? null : groundTruthOrNull(a.get("--gt", null), space, err);
            found = new double[gt == null ? 0 : gt.datasets().size()][runs];
            // a soft objective is calibrated on one sample of the space, the same for every run (scored once, cached)
            List<Arch> calibrationSample = soft == null ? List.of() : io.wrcor.search.Calibrated.referenceSample(space, seed, calibration);
            if (remote != null) err.println("wrcor: scoring on " + remote.describe());
            if (soft != null) {
                err.printf("wrcor: objective %s: calibrating %s on %d architectures of the space%n", objectiveVote.label(), soft.label, calibration);
                Progress calProgress = new Progress(err, "calibration", calibration, !a.has("--quiet"));
                scoring.scoreAll(calibrationSample.stream().map(Arch::toString).toList(), proxies, row -> calProgress.step());
            }
            // the runs side by side (Lockstep): whenever every run waits for scores, what they all asked for is
            // scored together (on the backend's lanes with --in-flight, or on Spark), so R runs take about the
            // time of one where there are lanes for them; each run draws and finds what it would alone
            Progress progress = new Progress(err, "evaluations", n * runs, !a.has("--quiet"));
            List<Map<Arch, double[]>> seens = new ArrayList<>();
            double[][] bestSeen = new double[runs][];
            for (int r = 0; r < runs; r++) {
                seens.add(new LinkedHashMap<>()); // the members' signed scores, in order of last evaluation
                bestSeen[r] = new double[]{Double.NaN};
            }
            double[] seconds = new double[runs];
            long tRuns = System.nanoTime();
            Arch[] answers = io.wrcor.search.Lockstep.run(runs, (r, lane) -> {
                lane.prefetch(calibrationSample);
                Objective objective = Objective.of(objectiveVote, lane::members, calibrationSample).prefetching(lane::prefetch);
                Arch found1 = search.run(space, objective, n, new SplittableRandom(seed + r), lane.listener());
                seconds[r] = (System.nanoTime() - tRuns) / 1e9;
                return found1;
            }, archs -> {
                List<String> names = archs.stream().map(Arch::toString).toList();
                if (names.size() > 1) scoring.scoreAll(names, proxies, row -> { }); // on the lanes, or Spark (one arch: scoring.score, below)
                Map<Arch, double[]> got = new java.util.HashMap<>();
                for (Arch x : archs) got.put(x, objectiveVote.signed(scoring.score(x.toString(), proxies).scores()));
                return got;
            }, (r, step, arch, m, bestSoFar) -> {
                Map<Arch, double[]> seen = seens.get(r);
                boolean fresh = seen.remove(arch) == null;
                seen.put(arch, m);
                traj.write(r, step, arch, m, bestSoFar, objectiveVote);
                progress.step(progressNote(gt, bestSoFar, arch, bestSeen[r]), fresh);
            });
            for (int r = 0; r < runs; r++) {
                long runSeed = seed + r;
                Map<Arch, double[]> seen = seens.get(r);
                Arch running = answers[r];
                double secs = seconds[r];
                Ranked ranked = ranked(seen, rankBy);
                Arch best = pickBy == null ? running : ranked.archs().getFirst();
                Map<String, Double> scores = scoring.score(best.toString(), report).scores();
                lastFound = best.toString();
                out.printf("run %d (search seed %d): %s, %d evaluations (%d distinct architectures) in %.1f s%n", r + 1, runSeed, algo, n,
                        seen.size(), secs);
                out.printf("  found      %s%n  picked as  %s%n  scores     %s%n", best, pickRule, scoresJson(scores));
                String details = space.details(best);
                out.printf("  size       %.1fM FLOPs, %.2fM params%s%n", scores.get(Proxy.FLOPS.label) / 1e6, scores.get(Proxy.PARAMS.label) / 1e6,
                        details == null ? "" : ", " + details);
                StringBuilder json = new StringBuilder("{\"run\": ").append(r + 1).append(", \"search_seed\": ").append(runSeed)
                        .append(", \"evaluations\": ").append(n).append(", \"distinct\": ").append(seen.size())
                        .append(", \"seconds\": ").append(String.format("%.1f", secs)).append(", \"found\": ").append(Json.quote(best.toString()))
                        .append(", \"pick\": ").append(Json.quote(pick)).append(", \"scores\": ").append(scoresJson(scores));
                int idx = gt == null ? -1 : gt.find(best.toString());
                if (idx >= 0) {
                    out.println("  accuracy   " + accuracyText(gt, idx) + " (row " + idx + " of the ground truth)");
                    for (int d = 0; d < gt.datasets().size(); d++) found[d][r] = gt.accuracy(d, idx);
                    json.append(", ").append(gt.accuracyAndRankJson(idx));
                } else if (gt != null) {
                    out.println("  accuracy   not in the ground-truth table");
                    for (double[] f : found) f[r] = Double.NaN;
                }
                out.println("  top five of the evaluated by " + (rankBy == Vote.Rule.COPELAND ? "Copeland score (pairwise-majority wins minus losses)"
                        : rankBy.label + " of " + objectiveVote.membersLabel()) + ":");
                // top5: each candidate with its score by the ranking rule (a Copeland score is a whole
                // number, a soft rule's is not); top5_copeland, the same list, where that rule is Copeland
                boolean copeland = rankBy == Vote.Rule.COPELAND;
                StringBuilder top = new StringBuilder();
                for (int i = 0; i < Math.min(5, ranked.archs().size()); i++) {
                    Arch c = ranked.archs().get(i);
                    double cs = ranked.scores()[i];
                    int row = gt == null ? -1 : gt.find(c.toString());
                    String acc = row >= 0 ? String.format("  %s %.2f%%", gt.datasets().getFirst(), gt.accuracy(0, row)) : "";
                    out.printf("    %d. %s  %s%s%s%n", i + 1, copeland ? String.format("%+5.0f", cs) : String.format("%+.4f", cs), c, acc,
                            c.equals(best) ? "  (found)" : "");
                    top.append(i == 0 ? "" : ", ").append("{\"arch\": ").append(Json.quote(c.toString())).append(copeland ? ", \"copeland\": " : ", \"score\": ")
                            .append(copeland ? Long.toString((long) cs) : Json.number(cs)).append('}');
                }
                json.append(", \"top5_rule\": ").append(Json.quote(rankBy.label)).append(", \"top5\": [").append(top).append(']');
                if (copeland) json.append(", \"top5_copeland\": [").append(top).append(']');
                json.append('}');
                summaries.add(json.toString());
            }
        } catch (IOException e) {
            throw new UsageException("trajectory " + trajectory + ": " + io.wrcor.util.Files2.reason(e));
        }
        if (gt != null && runs > 1) {
            StringBuilder sb = new StringBuilder(String.format("over %d runs, found accuracy (mean +- std):", runs));
            for (int d = 0; d < gt.datasets().size(); d++) {
                sb.append(String.format(" %s %.2f +- %.2f", gt.datasets().get(d), mean(found[d]), std(found[d])));
            }
            out.println(sb);
        }
        Path summary = runDir.resolve("summary.json");
        writeSummary(summary, argv, settings, summaries, scoresFile, trajectory, (System.nanoTime() - tAll) / 1e9);
        out.printf("saved: scores %s, trajectory %s, summary %s%n", scoresFile, trajectory, summary);
        out.println("next:");
        out.printf("  every proxy of the found architecture:  bin/wrcor score%s --arch '%s'%s%n",
                a.has("--space") ? " --space " + a.get("--space", "") : "", lastFound, a.has("--data") ? " --data " + a.get("--data", "") : "");
        if (!a.has("--out")) out.printf("  rerun reusing these scores:             bin/wrcor %s --out %s%n", String.join(" ", quoted(argv)), scoresFile);
        if (pickBy == null && soft == null) out.println("  the Copeland winner instead:            add --pick copeland (no new scoring with --out above)");
        if (objectiveVote.name() != null && objectiveVote.name().equals("recommended")) {
            out.println("  the paper's published vote instead:     add --objective published --pick running");
        }
        out.println("  more runs for mean and spread:          add --runs 5");
    }

    /** The objective when none is given ({@link Objective#defaultVote}); with a weights folder and no --space, the published vote. */
    static String defaultObjective(Args a) {
        if (a.has("--weights") && !a.has("--space")) return "published";
        return Objective.defaultVote(Scoring.spaceOf(a, null));
    }

    private static String progressNote(GroundTruth gt, Arch best, Arch evaluated, double[] bestSeen) {
        int bestRow = gt == null ? -1 : gt.find(best.toString());
        if (bestRow < 0) return "running best " + best;
        int row = gt.find(evaluated.toString());
        if (row >= 0) {
            double acc = gt.accuracy(0, row);
            if (Double.isNaN(bestSeen[0]) || acc > bestSeen[0]) bestSeen[0] = acc;
        }
        return String.format("running best by the objective %.2f%% %s (best evaluated so far %.2f%%)", gt.accuracy(0, bestRow),
                gt.datasets().getFirst(), bestSeen[0]);
    }

    private static String accuracyText(GroundTruth gt, int idx) {
        List<String> parts = new ArrayList<>();
        for (int d = 0; d < gt.datasets().size(); d++) {
            parts.add(String.format("%s %.2f%% (rank %d of %d)", gt.datasets().get(d), gt.accuracy(d, idx), gt.rank(d, idx), gt.size()));
        }
        return String.join(", ", parts);
    }

    static String scoresJson(Map<String, Double> scores) {
        List<String> parts = new ArrayList<>();
        for (var e : scores.entrySet()) parts.add(Json.quote(e.getKey()) + ": " + Json.number(e.getValue()));
        return "{" + String.join(", ", parts) + "}";
    }

    private static List<String> quoted(String[] argv) {
        List<String> q = new ArrayList<>();
        for (String s : argv) q.add(s.matches("[A-Za-z0-9_./=:,@+-]+") ? s : "'" + s.replace("'", "'\\''") + "'");
        return q;
    }

    private static void writeSummary(Path file, String[] argv, Map<String, Object> settings, List<String> runs, Path scores, Path trajectory, double secs) {
        List<String> args = new ArrayList<>();
        for (String s : argv) args.add(Json.quote(s));
        String text = "{\"command\": [" + String.join(", ", args) + "], \"engine\": " + Json.quote(Main.version()) + ", \"settings\": "
                + Json.write(settings) + ", \"scores_file\": "
                + Json.quote(scores.toString()) + ", \"trajectory_file\": " + Json.quote(trajectory.toString()) + ", \"seconds\": "
                + String.format("%.1f", secs) + ", \"runs\": [\n  " + String.join(",\n  ", runs) + "\n]}\n";
        try {
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            Files.writeString(file, text);
        } catch (IOException e) {
            throw new UsageException("summary " + file + ": " + io.wrcor.util.Files2.reason(e));
        }
    }

    /**
     * The evaluated architectures by Copeland score (wins minus losses of the objective's pairwise
     * majority against every other evaluated architecture), highest first; a tie goes to the one
     * evaluated last. The pairwise majority of a vote is not transitive, so a running best can cycle
     * away from a strong architecture; the Copeland winner is a well-defined choice from the same
     * comparisons.
     */
    static List<Arch> copelandOrder(Map<Arch, double[]> seen) {
        return ranked(seen, Vote.Rule.COPELAND).archs();
    }

    /** Architectures by a rule's combined score, highest first, with their scores in the same order. */
    record Ranked(List<Arch> archs, double[] scores) {}

    /** The evaluated architectures ranked by {@code rule} over the members' signed scores; a tie goes to the one evaluated last. */
    private static Ranked ranked(Map<Arch, double[]> seen, Vote.Rule rule) {
        List<Arch> archs = new ArrayList<>(seen.keySet());
        double[] combined = Vote.combine(rule, seen.values().toArray(double[][]::new));
        for (int i = 0; i < combined.length; i++) if (Double.isNaN(combined[i])) combined[i] = Double.NEGATIVE_INFINITY; // a NaN never wins
        Integer[] idx = new Integer[archs.size()];
        for (int i = 0; i < idx.length; i++) idx[i] = i;
        java.util.Arrays.sort(idx, (x, y) -> combined[x] != combined[y] ? Double.compare(combined[y], combined[x]) : Integer.compare(y, x));
        List<Arch> out = new ArrayList<>();
        double[] scores = new double[idx.length];
        for (int i = 0; i < idx.length; i++) {
            out.add(archs.get(idx[i]));
            scores[i] = combined[idx[i]];
        }
        return new Ranked(out, scores);
    }

    private static GroundTruth groundTruthOrNull(String option, SearchSpace space, PrintStream err) {
        if (option != null) return GroundTruth.load(Path.of(option), space).requireComplete();
        if (space.groundTruth().defaultFile() == null) {
            err.println("wrcor: the " + space.name() + " space has no accuracy table (an architecture's accuracy needs training, which this"
                    + " project does not do): accuracy and rank are not reported; --gt FILE gives a table, --no-gt silences this");
            return null;
        }
        Path shared = Defaults.sharedData(space.groundTruth().defaultFile());
        if (!Files.isRegularFile(shared)) {
            err.println("wrcor: no ground truth at " + shared + " (" + Defaults.sharedOrigin() + "): the found architecture's accuracy and"
                    + " rank are not reported; give --gt FILE, or --no-gt to silence this");
            return null;
        }
        return GroundTruth.load(shared, space).requireComplete();
    }

    /**
     * The trajectory file, appended step by step. A rerun in the same run folder replays the same
     * search (the scores come from its results file): the steps already in the file are not written
     * again, and a step that differs from the stored one (another search's file) is an error.
     */
    static final class Trajectory implements AutoCloseable {
        private final Path file;
        private final BufferedWriter w;
        private final Map<Long, String> stored = new java.util.HashMap<>(); // (run, step) -> arch

        Trajectory(Path file) throws IOException {
            this.file = file;
            if (file.getParent() != null) Files.createDirectories(file.getParent());
            if (Files.exists(file)) {
                byte[] all = io.wrcor.util.Files2.readBytes("trajectory", file);
                int keep = io.wrcor.util.Files2.wholeLines(all); // a step cut off by a crash is dropped
                if (keep < all.length) {
                    try (var ch = java.nio.channels.FileChannel.open(file, StandardOpenOption.WRITE)) {
                        ch.truncate(keep);
                    }
                }
                List<String> lines = io.wrcor.util.Files2.decode("trajectory", file, java.util.Arrays.copyOf(all, keep)).lines().toList();
                for (int i = 0; i < lines.size(); i++) {
                    if (lines.get(i).isBlank()) continue;
                    try {
                        Map<String, Object> m = Json.parseObject(lines.get(i));
                        if (!(m.get("run") instanceof Double run) || !(m.get("step") instanceof Double step) || !(m.get("arch") instanceof String arch)) {
                            throw new IllegalArgumentException("no run, step or arch");
                        }
                        stored.put(key(run.intValue(), step.intValue()), arch);
                    } catch (IllegalArgumentException e) {
                        throw new UsageException("trajectory " + file + ", line " + (i + 1) + " is not a search step (" + e.getMessage()
                                + "); give another --run-dir or --trajectory");
                    }
                }
            }
            w = Files.newBufferedWriter(file, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }

        private static long key(int run, int step) {
            return (long) run << 32 | step;
        }

        void write(int run, int step, Arch arch, double[] scores, Arch best, Vote vote) {
            String was = stored.get(key(run + 1, step + 1));
            if (was != null) {
                if (was.equals(arch.toString())) return;
                throw new IllegalStateException("trajectory " + file + " holds another search: its run " + (run + 1) + ", step " + (step + 1) + " is "
                        + was + ", this search's is " + arch + "; give another --run-dir or --trajectory");
            }
            StringBuilder sb = new StringBuilder("{\"run\": ").append(run + 1).append(", \"step\": ").append(step + 1).append(", \"arch\": ")
                    .append(Json.quote(arch.toString())).append(", \"scores\": {");
            List<String> parts = new ArrayList<>();
            for (int k = 0; k < scores.length; k++) {
                parts.add(Json.quote(vote.members().get(k).label) + ": " + Json.number(vote.signs()[k] * scores[k]));
            }
            sb.append(String.join(", ", parts)).append("}, \"best\": ").append(Json.quote(best.toString())).append('}');
            try {
                w.write(sb.toString());
                w.newLine();
                w.flush();
            } catch (IOException e) {
                throw new IllegalStateException("cannot write trajectory " + file + ": " + io.wrcor.util.Files2.reason(e));
            }
        }

        @Override
        public void close() throws IOException {
            w.close();
        }
    }

    private static double mean(double[] v) {
        double s = 0;
        for (double x : v) s += x;
        return s / v.length;
    }

    /** Sample standard deviation (n - 1), as NAS papers report over runs. */
    private static double std(double[] v) {
        double m = mean(v), s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return v.length < 2 ? 0 : Math.sqrt(s / (v.length - 1));
    }
}
