package io.wrcor.cli;

import static io.wrcor.cli.CliTest.assertBadInput;
import static io.wrcor.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.util.Json;
import io.wrcor.vote.Vote;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** correlate and search on a small network (C=4, N=1, batch 8): outputs, cache reuse, bad input. */
class StudyCliTest {
    static final String[] SMALL = {"--channels", "4", "--cells", "1", "--batch", "8", "--quiet"};

    @TempDir
    Path tmp;

    @TempDir
    Path runs;

    static String gt() {
        return Fixtures.shared().resolve("data/nb201-accuracy.csv").toString();
    }

    /** The command on a small network with the shared ground truth; its run folder in a temporary folder. */
    String[] args(String command, String... options) {
        Stream<String> base = Stream.concat(Stream.of(command), Stream.of(SMALL));
        base = Stream.concat(base, Stream.of("--gt", gt(), "--run-dir", runs.resolve(command).toString()));
        return Stream.concat(base, Stream.of(options)).toArray(String[]::new);
    }

    @Test
    void correlateWritesTheTablePlotsAndReusesCachedScores() throws IOException {
        Path out = tmp.resolve("scores.jsonl"), report = tmp.resolve("report");
        CliTest.Run first = run(args("correlate", "--sample", "12", "--proxies", "naswot,params", "--votes", "naswot,params;params:-,naswot",
                "--out", out.toString(), "--report", report.toString()));
        assertEquals(0, first.code(), first.err());
        assertTrue(first.out().contains("vote(naswot,params) copeland"), first.out());
        assertTrue(first.out().contains("vote(params:-,naswot) soft-rank"), first.out());
        List<String> csv = Files.readAllLines(report.resolve("correlation.csv"));
        assertEquals("proxy,cifar10 rho,cifar10 tau,cifar100 rho,cifar100 tau,ImageNet16-120 rho,ImageNet16-120 tau,n", csv.getFirst());
        assertEquals(1 + 2 + 2 * 3, csv.size());
        assertTrue(Files.size(report.resolve("scatter-naswot.png")) > 1000);
        assertEquals(12, Files.readAllLines(out).size());

        CliTest.Run second = run(args("correlate", "--sample", "20", "--proxies", "naswot,params", "--votes", "naswot,params",
                "--out", out.toString(), "--report", report.toString()));
        assertEquals(0, second.code(), second.err());
        assertTrue(second.err().contains("12 of 20 architectures already scored"), second.err());
        assertEquals(20, Files.readAllLines(out).size(), "only the 8 new architectures were scored and appended");
    }

    @Test
    void searchReportsTheBestWithItsAccuracyAndWritesTheTrajectory() throws IOException {
        Path traj = tmp.resolve("traj.jsonl");
        CliTest.Run r = run(args("search", "--algo", "evolution", "--population", "4", "--tournament", "2", "--n", "9", "--objective",
                "naswot", "--runs", "2", "--trajectory", traj.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("  accuracy   cifar10 "), r.out());
        assertTrue(r.out().contains("over 2 runs, found accuracy (mean +- std)"), r.out());
        List<String> lines = Files.readAllLines(traj);
        assertEquals(18, lines.size());
        assertEquals(2.0, Json.parseObject(lines.getLast()).get("run"));
    }

    /** correlate --arch-file studies exactly the listed architectures; a vote with its own rule is ranked by it alone. */
    @Test
    void correlateStudiesAnArchitectureFileAndANamedRule() throws IOException {
        Path list = tmp.resolve("archs.txt");
        Files.writeString(list, "# five cells\n|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|\n"
                + "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|\n\n"
                + "|none~0|+|none~0|none~1|+|none~0|none~1|none~2|\n|skip_connect~0|+|nor_conv_1x1~0|nor_conv_1x1~1|+|none~0|none~1|nor_conv_3x3~2|\n"
                + "|avg_pool_3x3~0|+|nor_conv_1x1~0|skip_connect~1|+|nor_conv_1x1~0|skip_connect~1|skip_connect~2|\n");
        Path out = tmp.resolve("scores.jsonl");
        CliTest.Run r = run(args("correlate", "--arch-file", list.toString(), "--proxies", "naswot,params", "--votes", "naswot,params@log-rank",
                "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().startsWith("5 nb201 architectures (from " + list), r.out());
        assertTrue(r.out().contains("vote(naswot,params@log-rank) log-rank"), r.out());
        assertTrue(!r.out().contains(") copeland") && !r.out().contains(") soft-z"), "only the vote's own rule: " + r.out());
        assertEquals(5, Files.readAllLines(out).size());
        Files.writeString(tmp.resolve("bad.txt"), "|nor_conv_3x3~0|+|bogus~0|none~1|+|none~0|none~1|none~2|\n");
        assertBadInput(run(args("correlate", "--arch-file", tmp.resolve("bad.txt").toString())), "line 1");
        assertBadInput(run(args("correlate", "--arch-file", list.toString(), "--sample", "5")), "not several");
    }

    /** score --vote: every row (stored ones too) with the vote's combined score over the set, in JSON and CSV. */
    @Test
    void scoreAddsAVoteColumnOverTheScoredSet() throws IOException {
        Path out = tmp.resolve("scores.jsonl");
        String[] common = {"score", "--channels", "4", "--cells", "1", "--batch", "8", "--quiet", "--sample", "5", "--proxies", "naswot,params"};
        CliTest.Run first = run(Stream.concat(Stream.of(common), Stream.of("--out", out.toString())).toArray(String[]::new));
        assertEquals(0, first.code(), first.err());
        CliTest.Run r = run(Stream.concat(Stream.of(common), Stream.of("--out", out.toString(), "--vote", "naswot,params@soft-rank")).toArray(String[]::new));
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(5, lines.size(), "stored rows are printed too: the vote is over every architecture given: " + r.out());
        double[][] signed = new double[5][];
        double[] got = new double[5];
        for (int i = 0; i < 5; i++) {
            java.util.Map<String, Object> row = Json.parseObject(lines.get(i));
            java.util.Map<?, ?> sc = (java.util.Map<?, ?>) row.get("scores");
            signed[i] = new double[]{Json.toDouble(sc.get("naswot")), Json.toDouble(sc.get("params"))};
            got[i] = Json.toDouble(((java.util.Map<?, ?>) row.get("vote")).get("naswot,params@soft-rank"));
        }
        org.junit.jupiter.api.Assertions.assertArrayEquals(Vote.combine(Vote.Rule.SOFT_RANK, signed), got, 1e-12);
        CliTest.Run csv = run(Stream.concat(Stream.of(common), Stream.of("--format", "csv", "--vote", "naswot,params")).toArray(String[]::new));
        assertEquals(0, csv.code(), csv.err());
        assertTrue(csv.out().lines().findFirst().orElseThrow().endsWith(",vote"), csv.out());
        assertEquals(6, csv.out().lines().count());
        assertBadInput(run(Stream.concat(Stream.of(common), Stream.of("--vote", "naswot,synflow")).toArray(String[]::new)), "synflow");
    }

    /** A soft objective is calibrated once (the same sample for every run) and a rule can pick from everything evaluated. */
    @Test
    void searchWithALogRankObjectiveAndPick() throws IOException {
        Path out = tmp.resolve("scores.jsonl");
        Path runDir = tmp.resolve("log-rank-run");
        CliTest.Run r = run(args("search", "--algo", "random", "--n", "6", "--objective", "naswot,params@log-rank", "--calibration", "5",
                "--pick", "log-rank", "--runs", "2", "--out", out.toString(), "--run-dir", runDir.toString()));
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("calibrating log-rank on 5 architectures"), r.err());
        assertTrue(r.out().contains("picked as  the best of all evaluated architectures by log-rank of naswot,params"), r.out());
        assertTrue(r.out().contains("top five of the evaluated by log-rank of naswot,params"), r.out());
        // the summary names the top five's rule and keeps each soft score whole (not cut to an integer)
        java.util.Map<String, Object> summary = Json.parseObject(java.nio.file.Files.readString(runDir.resolve("summary.json")));
        java.util.Map<?, ?> first = (java.util.Map<?, ?>) ((java.util.List<?>) summary.get("runs")).getFirst();
        assertEquals("log-rank", first.get("top5_rule"));
        assertTrue(!first.containsKey("top5_copeland"), "no Copeland list under a soft rule: " + first);
        java.util.List<?> top = (java.util.List<?>) first.get("top5");
        assertEquals(5, top.size());
        assertTrue(top.stream().map(e -> Json.toDouble(((java.util.Map<?, ?>) e).get("score"))).anyMatch(v -> v < 0 && v != Math.rint(v)),
                "log-rank scores are sums of logs (0 at the top), kept whole: " + top);
        assertBadInput(run(args("search", "--n", "3", "--objective", "naswot", "--pick", "best")), "--pick");
    }

    @Test
    void copelandWinnerBeatsACondorcetCycle() {
        java.util.Map<io.wrcor.space.Arch, double[]> seen = new java.util.LinkedHashMap<>();
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(3);
        io.wrcor.space.nb201.Nb201Arch dominant = io.wrcor.space.nb201.Nb201Arch.sample(rnd);
        seen.put(io.wrcor.space.nb201.Nb201Arch.sample(rnd), new double[]{3, 1, 2});
        seen.put(dominant, new double[]{4, 4, 0}); // beats each member of the cycle on two of three
        seen.put(io.wrcor.space.nb201.Nb201Arch.sample(rnd), new double[]{2, 3, 1});
        seen.put(io.wrcor.space.nb201.Nb201Arch.sample(rnd), new double[]{1, 2, 3});
        assertEquals(dominant, SearchCommand.copelandOrder(seen).getFirst());
    }

    @Test
    void badStudyInputIsRejected() throws IOException {
        assertBadInput(run(args("correlate", "--sample", "20000")), "larger than the 15625");
        assertBadInput(run(args("correlate", "--votes", "synflow,zen")), "unknown proxy 'zen'");
        assertBadInput(run(args("correlate", "--votes", "wrcor:*")), "must be + or -");
        assertBadInput(run(args("search", "--objective", "wrcor,foo")), "unknown proxy 'foo'");
        assertBadInput(run(args("search", "--algo", "annealing")), "unknown search 'annealing'");
        assertBadInput(run(args("search", "--pick", "best")), "unknown --pick 'best'");
        Path partial = tmp.resolve("partial.csv");
        List<String> all = Files.readAllLines(Path.of(gt()));
        Files.write(partial, all.subList(0, all.size() - 3));
        assertBadInput(run(args("search", "--gt", partial.toString(), "--n", "3")), "lacks 3 of the 15625");
        assertBadInput(run(args("correlate", "--gt", tmp.resolve("nope.csv").toString())), "does not exist");
    }
}
