package io.wrcor.cli;

import io.wrcor.eval.GroundTruth;
import io.wrcor.eval.GroundTruth.Dataset;
import io.wrcor.proxy.Proxy;
import io.wrcor.search.Objective;
import io.wrcor.search.RandomSearch;
import io.wrcor.search.RegularizedEvolution;
import io.wrcor.search.Reinforce;
import io.wrcor.search.Search;
import io.wrcor.space.nb201.Nb201Arch;
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

    static void run(String[] argv, PrintStream out, PrintStream err) {
        Set<String> withValue = new HashSet<>(Scoring.OPTIONS);
        withValue.addAll(Set.of("--algo", "--objective", "--n", "--population", "--tournament", "--lr", "--ema", "--calibration",
                "--runs", "--gt", "--trajectory", "--pick"));
        Args a = new Args(argv, 1, withValue, Set.of("--quiet", "--no-gt"));
        Vote objectiveVote = Vote.parse(a.get("--objective", Vote.PUBLISHED));
        String algo = a.get("--algo", "evolution");
        int n = a.getInt("--n", 1000, 1, 10_000_000);
        int runs = a.getInt("--runs", 1, 1, 10_000);
        long seed = a.getLong("--seed", 0);
        Search search = switch (algo) {
            case "random" -> new RandomSearch();
            case "evolution" -> new RegularizedEvolution(a.getInt("--population", 64, 1, 1_000_000), a.getInt("--tournament", 10, 1, 1_000_000));
            case "reinforce" -> new Reinforce(doubleOption(a, "--lr", 1e-3), doubleOption(a, "--ema", 0.9), a.getInt("--calibration", 100, 2, 1_000_000));
            default -> throw new UsageException("unknown search '" + algo + "' (expected random, evolution or reinforce)");
        };
        String pick = a.get("--pick", "running");
        if (!pick.equals("copeland") && !pick.equals("running")) throw new UsageException("unknown --pick '" + pick + "' (expected copeland or running)");
        GroundTruth gt = a.has("--no-gt") ? null : groundTruthOrNull(a.get("--gt", null));
        Path trajectory = a.has("--trajectory") ? Path.of(a.get("--trajectory", "")) : null;
        List<Proxy> proxies = objectiveVote.members();

        double[][] found = new double[Dataset.values().length][runs];
        try (Scoring scoring = new Scoring(a, proxies, err);
             BufferedWriter traj = trajectory == null ? null : open(trajectory)) {
            for (int r = 0; r < runs; r++) {
                long runSeed = seed + r;
                long t0 = System.nanoTime();
                Progress progress = new Progress(err, n, !a.has("--quiet"));
                Objective objective = new Objective() {
                    @Override
                    public Vote vote() {
                        return objectiveVote;
                    }

                    @Override
                    public double[] signedScores(Nb201Arch arch) {
                        return objectiveVote.signed(scoring.score(arch.toString(), proxies).scores());
                    }
                };
                final int run = r;
                Map<Nb201Arch, double[]> seen = new LinkedHashMap<>();
                Nb201Arch running = search.run(objective, n, new SplittableRandom(runSeed), (step, arch, scores, bestSoFar) -> {
                    seen.remove(arch);
                    seen.put(arch, scores); // in order of last evaluation
                    if (traj != null) writeStep(traj, run, step, arch, scores, bestSoFar, objectiveVote);
                    progress.step("best " + bestLabel(gt, bestSoFar));
                });
                Nb201Arch best = pick.equals("running") ? running : copelandWinner(seen);
                double secs = (System.nanoTime() - t0) / 1e9;
                Map<String, Double> scores = scoring.score(best.toString(), proxies).scores();
                out.printf("run %d (search seed %d): %s, %d architectures (%d distinct) in %.1f s%n  best (%s) %s%n  scores %s%n", r + 1,
                        runSeed, algo, n, seen.size(), secs, pick.equals("running") ? "the search's running best" : "Copeland winner of the evaluated",
                        best, scores);
                if (gt != null) {
                    int idx = gt.indexOf(best.toString());
                    StringBuilder sb = new StringBuilder("  test accuracy (index " + idx + "):");
                    for (Dataset d : Dataset.values()) {
                        found[d.ordinal()][r] = gt.accuracy(d, idx);
                        sb.append(String.format(" %s %.2f%% (rank %d of %d)", d.label, gt.accuracy(d, idx), gt.rank(d, idx), gt.size()));
                    }
                    out.println(sb);
                }
            }
        } catch (IOException e) {
            throw new UsageException("writing the trajectory: " + e.getMessage());
        }
        if (gt != null && runs > 1) {
            StringBuilder sb = new StringBuilder(String.format("over %d runs, found test accuracy (mean +- std):", runs));
            for (Dataset d : Dataset.values()) sb.append(String.format(" %s %.2f +- %.2f", d.label, mean(found[d.ordinal()]), std(found[d.ordinal()])));
            out.println(sb);
        }
    }

    /**
     * The architecture with the highest Copeland score (wins minus losses of the objective's pairwise
     * majority against every other evaluated architecture); a tie goes to the one evaluated last.
     * The pairwise majority of a vote is not transitive, so a running best can cycle away from a
     * strong architecture; the Copeland winner is a well-defined choice from the same comparisons.
     */
    static Nb201Arch copelandWinner(Map<Nb201Arch, double[]> seen) {
        List<Nb201Arch> archs = new ArrayList<>(seen.keySet());
        double[] copeland = Vote.combine(Vote.Rule.COPELAND, seen.values().toArray(double[][]::new));
        int best = 0;
        for (int i = 1; i < copeland.length; i++) if (copeland[i] >= copeland[best]) best = i;
        return archs.get(best);
    }

    private static String bestLabel(GroundTruth gt, Nb201Arch best) {
        if (gt == null || !gt.contains(best.toString())) return best.toString();
        return String.format("%.2f%% on CIFAR-10", gt.accuracy(Dataset.CIFAR10, gt.indexOf(best.toString())));
    }

    private static GroundTruth groundTruthOrNull(String option) {
        if (option != null) return GroundTruth.load(Path.of(option)).requireComplete();
        Path shared = Defaults.sharedData("nb201-accuracy.csv");
        return shared == null ? null : GroundTruth.load(shared).requireComplete();
    }

    private static BufferedWriter open(Path p) throws IOException {
        if (p.getParent() != null) Files.createDirectories(p.getParent());
        return Files.newBufferedWriter(p, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    private static void writeStep(BufferedWriter w, int run, int step, Nb201Arch arch, double[] scores, Nb201Arch best, Vote vote) {
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
            throw new UsageException("writing the trajectory: " + e.getMessage());
        }
    }

    private static double doubleOption(Args a, String name, double dflt) {
        String v = a.get(name, null);
        if (v == null) return dflt;
        try {
            return Double.parseDouble(v);
        } catch (NumberFormatException e) {
            throw new UsageException("option " + name + " expects a number, got '" + v + "'");
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
