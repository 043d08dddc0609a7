package io.wrcor.cli;

import io.wrcor.proxy.Proxy;
import io.wrcor.results.ResultsFile;
import io.wrcor.space.SearchSpace;
import io.wrcor.util.Files2;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.stream.Collectors;

/** {@code wrcor score}: one row per architecture on stdout (and appended to --out). */
final class ScoreCommand {
    private ScoreCommand() {
    }

    static void run(String[] argv, PrintStream out, PrintStream err, io.wrcor.dist.Distributor remote) {
        if (java.util.Arrays.asList(argv).contains("--onnx")) {
            if (remote != null) throw new UsageException("score --onnx does not run on Spark yet");
            OnnxCommand.run(argv, out, err);
            return;
        }
        Set<String> withValue = new HashSet<>(Scoring.OPTIONS);
        withValue.addAll(Set.of("--arch", "--arch-file", "--sample", "--proxies", "--vote"));
        Args a = new Args(argv, 1, withValue, Set.of("--quiet", "--print-stored", "--all"));
        if (a.has("--all") && (a.has("--sample") || a.has("--arch-file") || a.has("--arch"))) {
            throw new UsageException("give --all, or --arch, --arch-file and --sample, not both");
        }
        String asked = a.get("--proxies", null);
        List<Proxy> given = asked == null || asked.equals("all") ? null : Proxy.parseList(asked); // null: chosen by the space below
        io.wrcor.vote.Vote vote = a.has("--vote") ? io.wrcor.vote.Vote.parse(a.get("--vote", "")) : null;
        if (given != null) requireMembers(vote, given, "--proxies does not list"); // before anything is opened
        boolean csv = ResultsFile.formatOf(a.get("--format", null), a.has("--out") ? Path.of(a.get("--out", "")) : null)
                == ResultsFile.Format.CSV;
        // no --proxies: the space's default objective's members and wrcor; --proxies all: every proxy the space computes
        java.util.function.Function<io.wrcor.space.SearchSpace, List<Proxy>> columnsOf = given != null ? s -> given
                : asked != null ? SearchSpace::defaultProxies : s -> {
                    List<Proxy> d = defaultProxies(s);
                    if (vote != null) for (Proxy m : vote.members()) if (!d.contains(m)) d.add(m);
                    return d;
                };
        try (Scoring scoring = new Scoring(a, columnsOf, a.has("--out") ? Path.of(a.get("--out", "")) : null, err, remote)) {
            List<Proxy> proxies = scoring.columns();
            List<String> labels = proxies.stream().map(p -> p.label).toList();
            if (given == null) requireMembers(vote, proxies, asked == null ? "the default proxies (give --proxies) do not include"
                    : "the " + scoring.space().name() + " space does not compute");
            List<String> listed = architectures(a, scoring.space(), scoring.folderArch(), a.getLong("--seed", 0));
            if (listed.isEmpty()) throw new UsageException("no architectures: give --arch, --arch-file, --sample or --weights");
            List<String> archs = List.copyOf(new LinkedHashSet<>(listed));
            if (archs.size() < listed.size()) {
                err.printf("wrcor: %d architectures given, %d distinct; each is scored and printed once%n", listed.size(), archs.size());
            }
            if (csv) out.println(ResultsFile.csvHeader(labels) + (vote != null ? ",vote" : ""));
            boolean printStored = a.has("--print-stored") || vote != null; // a vote is over every architecture given
            Set<String> stored = archs.stream().filter(s -> scoring.cached(s, proxies) != null).collect(Collectors.toSet());
            if (!stored.isEmpty()) {
                err.printf("wrcor: resuming: %d of %d distinct architectures already in %s%s%n", stored.size(), archs.size(),
                        a.get("--out", ""), printStored ? "" : " (their rows are not printed again; --print-stored prints them)");
            }
            Progress progress = new Progress(err, archs.size() - stored.size(), !a.has("--quiet"));
            List<String> todo = archs.stream().filter(s -> printStored || !stored.contains(s)).toList();
            for (String s : todo) {
                String note = stored.contains(s) ? null : scoring.space().note(scoring.space().parse(s));
                if (note != null) err.println("wrcor: note: " + s + ": " + note);
            }
            List<ResultsFile.Row> held = new ArrayList<>();
            if (remote != null && todo.stream().anyMatch(s -> !stored.contains(s))) err.println("wrcor: scoring on " + remote.describe());
            java.util.function.Consumer<ResultsFile.Row> each = row -> {
                if (vote == null) {
                    out.println(csv ? row.toCsv(labels) : row.toJson());
                    out.flush();
                } else {
                    held.add(row); // printed with the vote once every architecture is known
                }
                if (!stored.contains(row.arch())) progress.step();
            };
            if (remote != null) scoring.scoreAll(remote, todo, proxies, each);
            else scoring.scoreAll(todo, proxies, each);
            if (vote != null) printWithVote(out, held, vote, csv, labels);
        }
    }

    /** What {@code score} computes without --proxies: wrcor and the members of the space's default objective, in that order. */
    static List<Proxy> defaultProxies(SearchSpace space) {
        List<Proxy> p = new ArrayList<>(List.of(Proxy.WRCOR));
        for (Proxy m : io.wrcor.vote.Vote.parse(io.wrcor.search.Objective.defaultVote(space)).members()) if (!p.contains(m)) p.add(m);
        return p;
    }

    /** Every member of the vote (if any) is among {@code proxies}; else a usage error saying why not. */
    private static void requireMembers(io.wrcor.vote.Vote vote, List<Proxy> proxies, String why) {
        if (vote == null) return;
        for (Proxy m : vote.members()) {
            if (!proxies.contains(m)) throw new UsageException("--vote " + vote.label() + " needs " + m.label + ", which " + why);
        }
    }

    /**
     * The rows with one more field, the vote's combined score over all of them (its own rule, else
     * Copeland's score of the pairwise majority); higher is better.
     */
    private static void printWithVote(PrintStream out, List<ResultsFile.Row> rows, io.wrcor.vote.Vote vote, boolean csv, List<String> labels) {
        double[][] signed = new double[rows.size()][];
        for (int i = 0; i < signed.length; i++) signed[i] = vote.signed(rows.get(i).scores());
        double[] v = io.wrcor.vote.Vote.combine(vote.rule() != null ? vote.rule() : io.wrcor.vote.Vote.Rule.COPELAND, signed);
        for (int i = 0; i < rows.size(); i++) {
            ResultsFile.Row r = rows.get(i);
            if (csv) {
                out.println(r.toCsv(labels) + "," + (Double.isNaN(v[i]) ? "nan" : Double.toString(v[i])));
            } else {
                String json = r.toJson();
                out.println(json.substring(0, json.length() - 1) + ", \"vote\": {" + io.wrcor.util.Json.quote(vote.label()) + ": "
                        + io.wrcor.util.Json.number(v[i]) + "}}");
            }
        }
        out.flush();
    }

    /** The architectures to score, validated up front so a bad one fails before any work is done. */
    private static List<String> architectures(Args a, SearchSpace space, String folderArch, long seed) {
        List<String> archs = new ArrayList<>();
        for (String s : a.all("--arch")) archs.add(space.parse(Genotypes.resolve(space, s)).toString());
        for (String f : a.all("--arch-file")) archs.addAll(readArchFile(f, space));
        if (a.has("--sample")) archs.addAll(sampleDistinct(space, a.getInt("--sample", 0, 1, 10_000_000), seed));
        if (a.has("--all")) {
            if (space.groundTruth().defaultFile() == null) {
                throw new UsageException("--all: the " + space.name() + " space has no table of its architectures; give --arch-file or --sample");
            }
            io.wrcor.eval.GroundTruth gt = io.wrcor.eval.GroundTruth.load(Defaults.groundTruth(null, space), space);
            for (int i = 0; i < gt.size(); i++) archs.add(gt.arch(i));
        }
        if (archs.isEmpty() && folderArch != null) archs.add(folderArch);
        return archs;
    }

    /** The architectures of a file, one per line (blank lines and # comments skipped), canonical; a bad one names its line. */
    static List<String> readArchFile(String f, SearchSpace space) {
        List<String> archs = new ArrayList<>();
        List<String> lines = Files2.readLines("arch file", Path.of(f));
        for (int i = 0; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty() || line.startsWith("#")) continue;
            try {
                archs.add(space.parse(Genotypes.resolve(space, line)).toString());
            } catch (IllegalArgumentException e) {
                throw new UsageException(f + ", line " + (i + 1) + ": " + e.getMessage());
            }
        }
        return archs;
    }

    /**
     * n distinct architectures drawn uniformly without replacement: uniform draws with repeats
     * skipped, so the first k of a sample of n are the sample of k (a larger rerun extends a smaller one).
     */
    static List<String> sampleDistinct(SearchSpace space, int n, long seed) {
        int all = space.groundTruth().complete();
        if (all > 0 && n > all) throw new UsageException("--sample " + n + " is larger than the " + all + " architectures of the " + space.name() + " space");
        SplittableRandom rnd = new SplittableRandom(seed);
        Set<String> out = new LinkedHashSet<>();
        long draws = 0, limit = 100L * n + 1_000_000;
        while (out.size() < n) {
            if (++draws > limit) {
                throw new UsageException("--sample " + n + ": only " + out.size() + " distinct architectures found in " + (draws - 1)
                        + " draws; the " + space.name() + " space is smaller than that");
            }
            out.add(space.sample(rnd).toString());
        }
        return List.copyOf(out);
    }
}
