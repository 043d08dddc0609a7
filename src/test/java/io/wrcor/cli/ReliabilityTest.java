package io.wrcor.cli;

import static io.wrcor.cli.CliTest.ARCH;
import static io.wrcor.cli.CliTest.assertBadInput;
import static io.wrcor.cli.CliTest.run;
import static io.wrcor.cli.CliTest.smallScore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.proxy.Proxy;
import io.wrcor.space.mbv2.Mbv2Arch;
import io.wrcor.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The command line never hangs, never prints a trace, and never computes a silently wrong answer:
 * FIFOs where files are expected, absurd sizes, hostile JSON, impossible FLOPs limits, conflicting
 * ground truth, resumed searches, and numbers Java would parse but a user did not mean. Each check
 * that could hang runs under a time limit (a guard against hanging, not a speed claim).
 */
class ReliabilityTest {
    static final Duration HANG = Duration.ofSeconds(60);

    @TempDir
    Path tmp;

    static Path fifo(Path at) throws Exception {
        Process p = new ProcessBuilder("mkfifo", at.toString()).redirectErrorStream(true).start();
        Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo is not available here");
        return at;
    }

    @Test
    void aFifoWhereAFileIsExpectedIsRefusedAtOnce() throws Exception {
        Path f = fifo(tmp.resolve("pipe"));
        assertTimeoutPreemptively(HANG, () -> {
            assertBadInput(run(smallScore("--arch", ARCH, "--proxies", "params", "--data", f.toString())), "is not a regular file");
            assertBadInput(run(smallScore("--arch-file", f.toString(), "--proxies", "params")), "is not a regular file");
            assertBadInput(run(smallScore("--arch", ARCH, "--proxies", "params", "--out", f.toString())), "is not a regular file");
            assertBadInput(run("serve", "--port", "0", "--token-file", f.toString()), "is not a regular file");
        });
    }

    @Test
    void theMobileNetV2SpaceRefusesSizesFarBeyondItsSamplerAtOnce() {
        String huge = "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE6K3(16,24,2,8,100000)SuperConvK1BNRELU(24,64,1,1)@64";
        assertTimeoutPreemptively(HANG, () -> {
            assertBadInput(run("score", "--space", "mbv2", "--arch", huge, "--quiet"), "100000 layers, more than " + Mbv2Arch.MAX_LAYERS);
            assertBadInput(run("score", "--space", "mbv2", "--arch", "SuperConvK3BNRELU(3,99999,2,1)@64", "--quiet"), "at most " + Mbv2Arch.MAX_WIDTH);
            assertBadInput(run("score", "--space", "mbv2", "--arch", "SuperConvK99999999999BNRELU(3,16,2,1)@64", "--quiet"), "is not an integer");
        });
    }

    /** The memory estimate is linear in the graph: the largest network the space accepts is estimated in well under the limit. */
    @Test
    void theLargestAcceptedMobileNetV2IsEstimatedWithoutDelay() {
        StringBuilder s = new StringBuilder("SuperConvK3BNRELU(3,32,2,1)");
        for (int b = 0; b < Mbv2Arch.MAX_BLOCKS - 2; b++) s.append("SuperResIDWE6K7(32,32,1,64,").append(Mbv2Arch.MAX_LAYERS).append(')');
        s.append("SuperConvK1BNRELU(32,64,1,1)@64");
        Mbv2Arch a = Mbv2Arch.parse(s.toString());
        assertTimeoutPreemptively(HANG, () -> {
            var space = io.wrcor.space.SearchSpaces.get("mbv2");
            var g = space.build(a, space.defaultSize(), true);
            long need = io.wrcor.Engine.memoryNeeded(g, 64, List.of(Proxy.values()));
            assertTrue(need > 0);
        });
    }

    @Test
    void aFlopsLimitBelowTheSmallestNetworkIsRefusedNotLoopedOn() {
        assertTimeoutPreemptively(HANG, () -> {
            assertBadInput(run("score", "--space", "mbv2", "--sample", "1", "--flops-limit", "1000", "--quiet"), "below the smallest network");
            assertBadInput(run("score", "--space", "mbv2", "--sample", "1", "--flops-limit", "Infinity", "--quiet"), "--flops-limit");
        });
        // just above the smallest network the published sampler's draws (almost) never fit: a bounded number of tries, then an error
        double smallest = io.wrcor.space.mbv2.Mbv2Sampler.smallestFlops();
        assertTimeoutPreemptively(HANG, () -> {
            try {
                assertTrue(new io.wrcor.space.mbv2.Mbv2Sampler(smallest * 1.05).sample(new java.util.SplittableRandom(1)).flops(1000) <= smallest * 1.05);
            } catch (IllegalArgumentException e) {
                assertTrue(e.getMessage().contains("too tight"), e.getMessage());
            }
        });
    }

    @Test
    void deeplyNestedJsonIsAOneLineErrorNotAStackOverflow() throws Exception {
        String deep = "[".repeat(5000) + "]".repeat(5000);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(deep));
        assertTrue(e.getMessage().contains("nested deeper than " + Json.MAX_DEPTH), e.getMessage());
        Json.parse("[".repeat(Json.MAX_DEPTH) + "]".repeat(Json.MAX_DEPTH)); // the limit itself is fine
        // a results file holding such a line
        Path out = tmp.resolve("r.jsonl");
        Files.writeString(out, "{\"arch\": " + deep + "}\n");
        assertBadInput(run(smallScore("--arch", ARCH, "--proxies", "params", "--out", out.toString())), "nested deeper than");
        // a weights manifest
        Path w = tmp.resolve("w");
        Files.createDirectories(w);
        Files.writeString(w.resolve("manifest.json"), "{\"tensors\": " + deep + "}");
        assertBadInput(run("score", "--weights", w.toString(), "--proxies", "params", "--quiet"), "nested deeper than");
    }

    @Test
    void jsonIsReadStrictly() {
        for (String bad : List.of("{\"batch\": 08}", "{\"a\": +1}", "{\"a\": .5}", "{\"a\": 1.}", "{\"a\": NaN}", "{\"a\": Infinity}", "{\"a\": 1e999}",
                "{\"a\": \"\\x\"}", "{\"a\": \"\\u12G4\"}", "{\"a\": \"tab\there\"}")) {
            assertThrows(IllegalArgumentException.class, () -> Json.parse(bad), bad);
        }
        assertEquals(Map.of("a", -0.0, "b", 1500.0, "c", 0.25, "d", "/\"\u00e9"), Json.parse("{\"a\": -0, \"b\": 1.5e3, \"c\": 25E-2, \"d\": \"\\/\\\"\\u00e9\"}"));
    }

    @Test
    void aResultsFileRowOfTheWrongShapeIsNamedWithoutJavaInternals() throws Exception {
        Path out = tmp.resolve("r.jsonl");
        for (String line : List.of("{\"arch\": 5}", "{\"arch\": \"a\", \"scores\": [1]}", "{\"arch\": \"a\", \"scores\": {\"x\": {}}, \"run\": \"r\", \"seconds\": 1}",
                "[1, 2]", "{\"arch\": \"a\", \"scores\": {}, \"run\": 7, \"seconds\": 1}")) {
            Files.writeString(out, line + "\n");
            CliTest.Run r = run(smallScore("--arch", ARCH, "--proxies", "params", "--out", out.toString()));
            assertBadInput(r, "line 1 is not a wrcor result row");
            assertFalse(r.err().contains("java.") || r.err().contains("Exception") || r.err().contains("because \""), r.err());
        }
    }

    @Test
    void aWeightsManifestCannotReachOutsideItsFolderOrClaimImpossibleSizes() throws Exception {
        Path src = Fixtures.nb201("small-mixed");
        for (String[] change : List.of(new String[]{"\"file\": \"", "\"file\": \"../../../../etc/passwd#"},
                new String[]{"\"nbytes\": 864", "\"nbytes\": 1e15"})) {
            Path w = tmp.resolve("w" + change[1].length());
            Files.createDirectories(w);
            try (var files = Files.list(src)) {
                for (Path f : files.toList()) Files.copy(f, w.resolve(f.getFileName()));
            }
            String manifest = Files.readString(w.resolve("manifest.json"));
            // the first tensor entry only
            int at = manifest.indexOf(change[0]);
            assertTrue(at >= 0, "the fixture's manifest has " + change[0]);
            String edited = manifest.substring(0, at) + change[1] + manifest.substring(at + change[0].length());
            if (change[1].endsWith("#")) {
                // "../../../../etc/passwd#name.bin" -> "../../../../etc/passwd"
                int end = edited.indexOf('"', at + change[1].length());
                edited = edited.substring(0, at + change[1].length() - 1) + edited.substring(end);
            }
            Files.writeString(w.resolve("manifest.json"), edited);
            CliTest.Run r = run("score", "--weights", w.toString(), "--proxies", "params", "--quiet");
            assertBadInput(r, change[1].endsWith("#") ? "must be a path inside the weights folder" : "nbytes 1.0E15 does not match 864");
        }
    }

    static final String GT_HEADER = "CIFAR10TestAccuracy200Epochs,CIFAR100TestAccuracy200Epochs,ImageNetTestAccuracy200Epochs,ArchitectureString\n";
    static final String A2 = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|";

    @Test
    void aGroundTruthWithConflictingRowsOrImpossibleAccuraciesIsRefused() throws Exception {
        var space = io.wrcor.space.nb201.Nb201Space.INSTANCE;
        Path gt = tmp.resolve("gt.csv");
        Files.writeString(gt, GT_HEADER + "90.1,70,40," + ARCH + "\n80,60,30," + A2 + "\n85,65,35," + ARCH + "\n");
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> io.wrcor.eval.GroundTruth.load(gt, space));
        assertTrue(e.getMessage().contains("line 4") && e.getMessage().contains("first on line 2") && e.getMessage().contains("other accuracies"),
                e.getMessage());
        for (String acc : List.of("Infinity", "-5", "nan", "inf", "101", "0x1p3", "1d", "")) {
            Files.writeString(gt, GT_HEADER + acc + ",70,40," + ARCH + "\n");
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class, () -> io.wrcor.eval.GroundTruth.load(gt, space), acc);
            assertTrue(bad.getMessage().contains("line 2") && bad.getMessage().contains("CIFAR10TestAccuracy200Epochs"), bad.getMessage());
        }
        // NAS-Bench-101: a row is a raw spec; two raw specs of one cell are two measurements, the same raw spec twice must agree
        var nb101 = io.wrcor.space.nb101.Nb101Space.INSTANCE;
        String h = "pruned_matrix,pruned_ops,raw_matrix_7x7,raw_ops,val_accuracy_108ep\n";
        Files.writeString(gt, h + "01;00,input;output,01;00,input;output,83.1\n01;00,input;output,011;001;000,input;maxpool3x3;output,83.5\n");
        assertEquals(2, io.wrcor.eval.GroundTruth.load(gt, nb101).size());
        Files.writeString(gt, h + "01;00,input;output,01;00,input;output,83.1\n01;00,input;output,01;00,input;output,83.5\n");
        assertThrows(IllegalArgumentException.class, () -> io.wrcor.eval.GroundTruth.load(gt, nb101));
        // the same row twice counts once
        Files.writeString(gt, GT_HEADER + "90.1,70,40," + ARCH + "\n80,60,30," + A2 + "\n90.1,70,40," + ARCH + "\n");
        assertEquals(2, io.wrcor.eval.GroundTruth.load(gt, space).size());
    }

    @Test
    void correlateSaysWhyARowIsNan() throws Exception {
        Path archs = tmp.resolve("archs.txt");
        String same = ARCH.replace("avg_pool_3x3~1", "skip_connect~1"); // the same parameters as ARCH
        Files.writeString(archs, ARCH + "\n" + same + "\n");
        CliTest.Run c = run("correlate", "--gt", Fixtures.shared().resolve("data/nb201-accuracy.csv").toString(), "--arch-file", archs.toString(), "--proxies", "params", "--votes", "params",
                "--channels", "4", "--cells", "1", "--batch", "8", "--quiet", "--run-dir", tmp.resolve("run").toString());
        assertEquals(0, c.code(), c.err());
        assertTrue(c.err().contains("params: every score is"), c.err());
    }

    @Test
    void aSearchRerunInItsRunFolderAddsNoTrajectoryStepTwice() throws Exception {
        Path dir = tmp.resolve("run");
        String[] search = {"search", "--algo", "evolution", "--n", "12", "--population", "4", "--tournament", "2", "--objective", "params",
                "--channels", "4", "--cells", "1", "--batch", "8", "--quiet", "--no-gt", "--run-dir", dir.toString()};
        assertEquals(0, run(search).code());
        List<String> first = Files.readAllLines(dir.resolve("trajectory.jsonl"));
        assertEquals(12, first.size());
        CliTest.Run again = run(search);
        assertEquals(0, again.code(), again.err());
        assertEquals(first, Files.readAllLines(dir.resolve("trajectory.jsonl")), "a finished run rerun appends nothing");
        // another search in the same folder is refused, not mixed in
        List<String> other = new java.util.ArrayList<>(List.of(search));
        other.addAll(List.of("--seed", "5"));
        CliTest.Run mixed = run(other.toArray(String[]::new));
        assertEquals(1, mixed.code(), mixed.err());
        assertTrue(mixed.err().contains("holds another search"), mixed.err());
        // the summary says every setting
        Map<String, Object> summary = Json.parseObject(Files.readString(dir.resolve("summary.json")));
        @SuppressWarnings("unchecked")
        Map<String, Object> settings = (Map<String, Object>) summary.get("settings");
        assertEquals("evolution", settings.get("algorithm"));
        assertEquals("params", settings.get("objective"));
        assertEquals(4.0, settings.get("population"));
        assertEquals(12.0, settings.get("n"));
    }

    /**
     * Batched evolution from the command line: four children per round scored two at a time on the
     * backend's lanes give the same trajectory, score for score, as one lane; the summary records the
     * children; children per round are refused for the other searches and past the population.
     */
    @Test
    void batchedEvolutionOnLanesIsTheSameSearchAsOnOneLane() throws Exception {
        List<String> base = List.of("search", "--algo", "evolution", "--n", "16", "--population", "4", "--tournament", "2", "--children", "4",
                "--objective", "naswot", "--channels", "4", "--cells", "1", "--batch", "8", "--quiet", "--no-gt");
        List<List<String>> trajectories = new java.util.ArrayList<>();
        for (String lanes : List.of("1", "2")) {
            List<String> args = new java.util.ArrayList<>(base);
            args.addAll(List.of("--in-flight", lanes, "--run-dir", tmp.resolve("lanes" + lanes).toString()));
            CliTest.Run r = run(args.toArray(String[]::new));
            assertEquals(0, r.code(), r.err());
            trajectories.add(Files.readAllLines(tmp.resolve("lanes" + lanes).resolve("trajectory.jsonl")));
            Map<String, Object> summary = Json.parseObject(Files.readString(tmp.resolve("lanes" + lanes).resolve("summary.json")));
            assertEquals(4.0, ((Map<?, ?>) summary.get("settings")).get("children"));
        }
        assertEquals(16, trajectories.getFirst().size());
        assertEquals(trajectories.get(0), trajectories.get(1), "the lanes change nothing but the time");
        assertBadInput(run("search", "--algo", "evolution", "--population", "4", "--tournament", "2", "--children", "5", "--n", "2", "--quiet",
                "--channels", "4", "--cells", "1", "--batch", "8"), "children");
    }

    /**
     * --runs R runs side by side: each run's steps in the trajectory are those of its search seed run
     * alone, score for score, on one lane or two, and it finds the same; REINFORCE with 4 samples per
     * update likewise; a rerun appends nothing. (--seed also seeds the weights: the objective params,flops
     * does not depend on them, so runs 2 and 3 compare with their seeds alone; with naswot, run 1 does.)
     */
    @Test
    void runsSideBySideAreEachTheSearchOfTheirSeed() throws Exception {
        for (String algo : List.of("evolution", "reinforce")) {
            for (String objective : List.of("params,flops", "naswot")) {
                int compared = objective.equals("naswot") ? 1 : 3;
                List<String> base = List.of("search", "--algo", algo, "--n", "12", "--population", "4", "--tournament", "2", "--calibration", "4",
                        "--children", algo.equals("reinforce") ? "4" : "1", "--objective", objective, "--channels", "4", "--cells", "1", "--batch", "8",
                        "--quiet", "--no-gt");
                String label = algo + " " + objective;
                java.util.Map<Integer, List<String>> alone = new java.util.HashMap<>();
                List<Object> foundAlone = new java.util.ArrayList<>();
                for (int seed = 3; seed < 3 + compared; seed++) {
                    List<String> args = new java.util.ArrayList<>(base);
                    Path dir = tmp.resolve(algo + objective + "-alone" + seed);
                    args.addAll(List.of("--seed", Integer.toString(seed), "--run-dir", dir.toString()));
                    CliTest.Run r = run(args.toArray(String[]::new));
                    assertEquals(0, r.code(), r.err());
                    alone.put(seed, Files.readAllLines(dir.resolve("trajectory.jsonl")).stream().map(l -> l.substring(l.indexOf(", \"step\""))).toList());
                    Map<String, Object> summary = Json.parseObject(Files.readString(dir.resolve("summary.json")));
                    foundAlone.add(((Map<?, ?>) ((List<?>) summary.get("runs")).getFirst()).get("found"));
                }
                for (String lanes : List.of("1", "2")) {
                    List<String> args = new java.util.ArrayList<>(base);
                    Path dir = tmp.resolve(algo + objective + "-together" + lanes);
                    args.addAll(List.of("--seed", "3", "--runs", "3", "--in-flight", lanes, "--run-dir", dir.toString()));
                    CliTest.Run r = run(args.toArray(String[]::new));
                    assertEquals(0, r.code(), r.err());
                    List<String> lines = Files.readAllLines(dir.resolve("trajectory.jsonl"));
                    assertEquals(36, lines.size());
                    for (int run = 1; run <= compared; run++) {
                        String tag = "{\"run\": " + run + ", ";
                        List<String> mine = lines.stream().filter(l -> l.startsWith(tag)).map(l -> l.substring(l.indexOf(", \"step\""))).toList();
                        assertEquals(alone.get(2 + run), mine, label + ", " + lanes + " lane(s): run " + run + " is search seed " + (2 + run) + " alone");
                    }
                    Map<String, Object> summary = Json.parseObject(Files.readString(dir.resolve("summary.json")));
                    List<Object> found = ((List<?>) summary.get("runs")).stream().map(x -> (Object) ((Map<?, ?>) x).get("found")).toList();
                    assertEquals(foundAlone, found.subList(0, compared), label + ": the runs find what each seed finds alone");
                    // rerun in the same folder: nothing appended twice
                    CliTest.Run again = run(args.toArray(String[]::new));
                    assertEquals(0, again.code(), again.err());
                    assertEquals(lines, Files.readAllLines(dir.resolve("trajectory.jsonl")));
                }
            }
        }
    }

    /** The CPU backend's developer switches (-Dwrcor.cpu.*) refuse a value they do not know in one line, not fall back silently. */
    @Test
    void unknownValuesOfTheCpuBackendsSwitchesAreRefused() {
        for (String[] p : new String[][]{{"wrcor.cpu.winograd", "sometimes", "off, auto or everywhere"}, {"wrcor.cpu.fuseReluConv", "no", "true or false"},
                {"wrcor.cpu.directConv", "0", "true or false"}}) {
            String was = System.getProperty(p[0]);
            System.setProperty(p[0], p[1]);
            try {
                assertBadInput(run(smallScore("--arch", ARCH, "--proxies", "params")), "-D" + p[0] + "=" + p[1] + ": expected " + p[2]);
            } finally {
                if (was == null) System.clearProperty(p[0]);
                else System.setProperty(p[0], was);
            }
        }
        CliTest.Run ok = run(smallScore("--arch", ARCH, "--proxies", "params"));
        assertEquals(0, ok.code(), "the default values: " + ok.err());
    }

    @Test
    void numbersJavaWouldParseButNoUserMeansAreRefused() {
        assertBadInput(run("search", "--algo", "reinforce", "--lr", "Infinity", "--n", "2", "--quiet"), "--lr");
        assertBadInput(run("search", "--algo", "reinforce", "--lr", "0x1p3", "--n", "2", "--quiet"), "--lr");
        assertBadInput(run("bench", "--sets", ";;"), "--sets: set 1 of 3 is empty");
        assertBadInput(run("bench", "--sets", "wrcor;"), "--sets: set 2 of 2 is empty");
        assertBadInput(run("bench", "--arch-file", "no-such-file.txt"), "no-such-file.txt");
        assertBadInput(run("bench", "--arch-file", "no-such-file.txt", "--archs", "3"), "--arch-file or --archs");
        CliTest.Run longArg = run("score", "--batch", "9".repeat(100_000));
        assertBadInput(longArg, "--batch");
        assertTrue(longArg.err().length() < 400, "a 100 kB argument is not echoed whole: " + longArg.err().length() + " characters");
    }

    @Test
    void scoreDefaultsToWrcorAndTheSpacesObjectiveAndAllMeansAll() {
        CliTest.Run r = run(smallScore("--arch", ARCH));
        assertEquals(0, r.code(), r.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> scores = (Map<String, Object>) Json.parseObject(r.out().strip()).get("scores");
        assertEquals(List.of("wrcor", "grad_cor", "meco"), List.copyOf(scores.keySet()));
        CliTest.Run all = run(smallScore("--arch", ARCH, "--proxies", "all"));
        assertEquals(0, all.code(), all.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> every = (Map<String, Object>) Json.parseObject(all.out().strip()).get("scores");
        assertEquals(io.wrcor.space.nb201.Nb201Space.INSTANCE.defaultProxies().size(), every.size());
    }

    @Test
    void helpNamesEveryCommandAndEveryServeOption() {
        String help = run("help").out();
        assertTrue(help.contains("  serve "), help);
        String serve = run("serve", "--help").out();
        for (String o : List.of("--host", "--port", "--backend", "--threads", "--data-dir", "--in-flight", "--token-file")) {
            assertTrue(serve.contains(o), o + " in: " + serve);
        }
    }

    @Test
    void aShortTokenIsRefused() throws Exception {
        Path t = tmp.resolve("token");
        Files.writeString(t, "short-token\n");
        assertBadInput(run("serve", "--port", "0", "--token-file", t.toString()), "use at least 16");
    }
}
