package io.wrcor.cli;

import static io.wrcor.cli.CliTest.ARCH;
import static io.wrcor.cli.CliTest.assertBadInput;
import static io.wrcor.cli.CliTest.run;
import static io.wrcor.cli.CliTest.smallScore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.util.Files2;
import io.wrcor.util.Json;
import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** What a new user meets: sampling, option parsing, help, progress, the search's answer, I/O errors. */
class NewcomerTest {
    @TempDir
    Path tmp;

    @Test
    void sampleDrawsDistinctArchitecturesAndAShorterSampleIsAPrefix() {
        List<String> big = ScoreCommand.sampleDistinct(io.wrcor.space.nb201.Nb201Space.INSTANCE, 2000, 7);
        assertEquals(2000, new HashSet<>(big).size());
        assertEquals(big.subList(0, 300), ScoreCommand.sampleDistinct(io.wrcor.space.nb201.Nb201Space.INSTANCE, 300, 7));
        assertEquals(15_625, new HashSet<>(ScoreCommand.sampleDistinct(io.wrcor.space.nb201.Nb201Space.INSTANCE, 15_625, 1)).size(), "the whole space");
    }

    @Test
    void sampleOnTheCommandLineScoresDistinctArchitecturesAndRepeatsAreSaid() throws IOException {
        Path out = tmp.resolve("r.jsonl");
        CliTest.Run r = run(smallScore("--sample", "40", "--proxies", "params", "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        Set<String> archs = new HashSet<>();
        for (String row : Files.readAllLines(out)) archs.add((String) Json.parseObject(row).get("arch"));
        assertEquals(40, archs.size());
        CliTest.Run twice = run(smallScore("--arch", ARCH, "--arch", ARCH, "--proxies", "params"));
        assertEquals(1, twice.out().lines().count());
        assertTrue(twice.err().contains("2 architectures given, 1 distinct"), twice.err());
        CliTest.Run stored = run(smallScore("--sample", "40", "--proxies", "params", "--out", out.toString(), "--print-stored"));
        assertEquals(40, stored.out().lines().count(), "--print-stored prints the stored rows too");
    }

    @Test
    void anOptionNameIsNeverTakenAsAValue() {
        assertBadInput(run("score", "--arch", ARCH, "--out", "--quiet"), "option --out needs a value, but the next argument is the option '--quiet'");
        assertBadInput(run("score", "--batch", "--sample", "2"), "option --batch needs a value");
        assertFalse(Files.exists(Path.of("--quiet")));
    }

    @Test
    void batchWithAWeightsFolderThatHasItsOwnBatchIsRefused() {
        assertBadInput(run("score", "--weights", Fixtures.nb201("small-mixed").toString(), "--batch", "4"), "conflicts with --weights");
    }

    @Test
    void missingSharedFolderIsNamedWithWhereItLooked() {
        Path nowhere = tmp.resolve("no-shared-here");
        assertBadInput(run("score", "--weights", nowhere.resolve("fixtures/nb201/small-mixed").toString()), "does not exist");
        String before = System.getProperty("wrcor.shared");
        Assumptions.assumeTrue(System.getenv("WRCOR_SHARED") == null, "WRCOR_SHARED is set; the property is not consulted");
        System.setProperty("wrcor.shared", nowhere.toString());
        try {
            CliTest.Run r = run("correlate", "--sample", "3", "--quiet");
            assertBadInput(r, nowhere.resolve("data/nb201-accuracy.csv") + " does not exist");
            assertTrue(r.err().contains("WRCOR_SHARED"), r.err());
            CliTest.Run s = run("search", "--channels", "4", "--cells", "1", "--batch", "8", "--n", "2", "--objective", "params", "--quiet",
                    "--run-dir", tmp.resolve("run").toString());
            assertEquals(0, s.code(), s.err());
            assertTrue(s.err().contains("no ground truth at " + nowhere.resolve("data/nb201-accuracy.csv")), s.err());
        } finally {
            System.setProperty("wrcor.shared", before);
        }
    }

    @Test
    void helpForEachCommandAndVersion() {
        for (String c : List.of("score", "correlate", "search", "bench")) {
            CliTest.Run r = run(c, "--help");
            assertEquals(0, r.code(), r.err());
            assertTrue(r.out().startsWith("wrcor " + c + ":"), r.out());
        }
        CliTest.Run v = run("--version");
        assertEquals(0, v.code());
        assertTrue(v.out().matches("wrcor \\d+\\.\\d+\\.\\d+\\S* \\(Java .*\\)\\s*"), v.out());
    }

    @Test
    void progressWithoutATerminalIsPlainLines() {
        CliTest.Run r = run("score", "--channels", "4", "--cells", "1", "--batch", "8", "--sample", "3", "--proxies", "params");
        assertEquals(0, r.code(), r.err());
        assertFalse(r.err().contains("\033") || r.err().contains("\r"), "no control characters: " + r.err());
        assertTrue(r.err().contains("wrcor: done: 3 architectures in "), r.err());
    }

    @Test
    void searchEndsWithAnActionableAnswerAndSavesItsRun() throws IOException {
        Path dir = tmp.resolve("run");
        CliTest.Run r = run("search", "--channels", "4", "--cells", "1", "--batch", "8", "--quiet", "--n", "12", "--population", "4",
                "--tournament", "2", "--objective", "naswot,params", "--gt", Fixtures.shared().resolve("data/nb201-accuracy.csv").toString(),
                "--run-dir", dir.toString());
        assertEquals(0, r.code(), r.err());
        String out = r.out();
        String scores = out.lines().filter(l -> l.startsWith("  scores ")).findFirst().orElseThrow().substring(9).strip();
        assertEquals(Set.of("naswot", "params", "flops", "wrcor"), Json.parseObject(scores).keySet(),
                "the objective's scores, the network's size and wrcor, as JSON");
        for (String s : List.of("  found ", "  picked as  the search's running best", "  accuracy   cifar10 ", "top five of the evaluated",
                "saved: scores " + dir.resolve("scores.jsonl"), "next:", "--pick copeland")) {
            assertTrue(out.contains(s), "'" + s + "' in: " + out);
        }
        assertEquals(12, Files.readAllLines(dir.resolve("trajectory.jsonl")).size());
        Map<String, Object> summary = Json.parseObject(Files.readString(dir.resolve("summary.json")));
        @SuppressWarnings("unchecked")
        Map<String, Object> first = (Map<String, Object>) ((List<Object>) summary.get("runs")).getFirst();
        assertTrue(out.contains((String) first.get("found")));
        assertEquals(5, ((List<?>) first.get("top5_copeland")).size());
        assertEquals(first.get("top5_copeland"), first.get("top5"));
        assertEquals("copeland", first.get("top5_rule"));
    }

    @Test
    void correlateWritesItsReportIntoItsRunFolderAndRunsAreIgnoredByGit() throws IOException {
        Path dir = tmp.resolve("c");
        CliTest.Run r = run("correlate", "--channels", "4", "--cells", "1", "--batch", "8", "--quiet", "--sample", "5", "--proxies", "params",
                "--votes", "params", "--gt", Fixtures.shared().resolve("data/nb201-accuracy.csv").toString(), "--run-dir", dir.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(Files.exists(dir.resolve("correlation.md")) && Files.exists(dir.resolve("scores.jsonl")));
        assertTrue(Defaults.newRunFolder("correlate").startsWith("runs"));
        assertTrue(Files.readAllLines(Path.of(".gitignore")).contains("/runs/"), "the default run folder is ignored by git");
    }

    @Test
    void ioErrorsNameThePathAndTheReason() throws IOException {
        assertBadInput(run("score", "--arch-file", tmp.toString()), tmp + ": is a folder");
        assertBadInput(run("score", "--arch", ARCH, "--data", tmp.toString()), "data folder " + tmp + " has no class folders");
        assertBadInput(run(smallScore("--arch", ARCH, "--out", tmp.toString())), "results file " + tmp + ": is a folder");
        Path latin1 = tmp.resolve("archs-latin1.txt");
        Files.write(latin1, ("# caf\u00e9\n" + ARCH + "\n").getBytes(java.nio.charset.StandardCharsets.ISO_8859_1));
        assertBadInput(run("score", "--arch-file", latin1.toString()), "is not valid UTF-8 text (byte 5 is 0xe9)");
        Path bom = tmp.resolve("archs-bom.txt");
        Files.write(bom, ("\uFEFF" + ARCH + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8));
        CliTest.Run ok = run(smallScore("--arch-file", bom.toString(), "--proxies", "params"));
        assertEquals(0, ok.code(), "a byte-order mark is dropped: " + ok.err());
        if (Files.exists(Path.of("/dev/full"))) {
            // a device is not a results file (reading one back could block for ever, as a FIFO's read does)
            assertBadInput(run(smallScore("--arch", ARCH, "--proxies", "params", "--out", "/dev/full")), "results file /dev/full: is not a regular file");
        }
        assertEquals("permission denied", Files2.reason(new AccessDeniedException("/x")));
        assertEquals("read-only file system", Files2.reason(new FileSystemException("/x", null, "Read-only file system")));
        assertEquals("does not exist", Files2.reason(new java.nio.file.NoSuchFileException("/x")));
        assertEquals("no space left on device", Files2.reason(new IOException("No space left on device")));
    }

    static String[] concat(String[] a, String... b) {
        return Stream.concat(Stream.of(a), Stream.of(b)).toArray(String[]::new);
    }
}
