package io.wrcor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.util.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The command line: output format, resume, and one clear line with exit code 2 for bad input. */
class CliTest {
    static final String ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    static final String[] SMALL = {"--channels", "4", "--cells", "1", "--batch", "8", "--quiet"};

    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {}

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        int code = Main.run(args, new PrintStream(out, true, StandardCharsets.UTF_8), new PrintStream(err, true, StandardCharsets.UTF_8));
        return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
    }

    /** {@code score} on a small network (C=4, N=1, batch 8) with the given options. */
    static String[] smallScore(String... options) {
        return Stream.concat(Stream.concat(Stream.of("score"), Stream.of(SMALL)), Stream.of(options)).toArray(String[]::new);
    }

    /** Skips (with the reason) when the backend cannot open here, except in CI, which installs PoCL for OpenCL: there it fails. */
    static void requireBackend(String name) {
        try {
            if (io.wrcor.backend.Backends.open(name, 1, note -> { }) instanceof AutoCloseable c) c.close();
        } catch (io.wrcor.backend.Backends.UnavailableException e) {
            if ("true".equals(System.getenv("CI")) && name.equals("opencl")) throw new AssertionError("CI installs PoCL: " + e.getMessage());
            org.junit.jupiter.api.Assumptions.abort(e.getMessage());
        } catch (Exception e) {
            throw new AssertionError(e);
        }
    }

    static void assertBadInput(Run r, String mentions) {
        assertEquals(2, r.code(), "exit code; stderr: " + r.err());
        List<String> lines = r.err().lines().toList();
        assertEquals(1, lines.size(), "one line on stderr, got: " + r.err());
        assertTrue(lines.getFirst().startsWith("wrcor: error: "), r.err());
        assertTrue(r.err().contains(mentions), "message should mention '" + mentions + "': " + r.err());
    }

    @Test
    void scoreWithFixtureWeightsPrintsOneJsonObjectWithNonFiniteValuesAsStrings() {
        Run r = run("score", "--weights", Fixtures.nb201("small-deadoutput").toString(), "--proxies", "wrcor,jacob_cor,naswot");
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(1, lines.size());
        Map<String, Object> row = Json.parseObject(lines.getFirst());
        assertEquals("|nor_conv_1x1~0|+|none~0|none~1|+|none~0|none~1|none~2|", row.get("arch"));
        @SuppressWarnings("unchecked")
        Map<String, Object> scores = (Map<String, Object>) row.get("scores");
        assertEquals(List.of("wrcor", "jacob_cor", "naswot"), List.copyOf(scores.keySet()));
        assertEquals("nan", scores.get("jacob_cor"));
        assertEquals(11.043484574954165, (Double) scores.get("wrcor"), 1e-3);
        assertTrue((Double) row.get("seconds") >= 0);
    }

    /** Three in flight: the same rows, scores and file order as one at a time; a rerun resumes through the lanes too. */
    @Test
    void scoreWithSeveralInFlightPrintsAndAppendsTheSameRowsInTheSameOrder() throws IOException {
        Path one = tmp.resolve("one.jsonl"), three = tmp.resolve("three.jsonl");
        Run a = run(smallScore("--sample", "7", "--proxies", "wrcor,naswot,jacob_cor", "--out", one.toString(), "--in-flight", "1"));
        assertEquals(0, a.code(), a.err());
        Run b = run(smallScore("--sample", "4", "--proxies", "wrcor,naswot,jacob_cor", "--out", three.toString(), "--in-flight", "3"));
        assertEquals(0, b.code(), b.err());
        Run c = run(smallScore("--sample", "7", "--proxies", "wrcor,naswot,jacob_cor", "--out", three.toString(), "--in-flight", "3"));
        assertEquals(0, c.code(), c.err());
        assertTrue(c.err().contains("resuming: 4 of 7"), c.err());
        List<Map<String, Object>> rowsOne = Files.readAllLines(one).stream().map(Json::parseObject).toList();
        List<Map<String, Object>> rowsThree = Files.readAllLines(three).stream().map(Json::parseObject).toList();
        assertEquals(7, rowsThree.size());
        for (int i = 0; i < 7; i++) {
            assertEquals(rowsOne.get(i).get("arch"), rowsThree.get(i).get("arch"), "row " + i);
            assertEquals(rowsOne.get(i).get("scores"), rowsThree.get(i).get("scores"), "row " + i);
        }
        List<String> printed = Stream.concat(b.out().lines(), c.out().lines()).map(l -> (String) Json.parseObject(l).get("arch")).toList();
        assertEquals(rowsOne.stream().map(r -> (String) r.get("arch")).toList(), printed);
        assertBadInput(run(smallScore("--sample", "2", "--in-flight", "0")), "--in-flight");
    }

    @Test
    void interruptedRunResumesWhereItStopped() throws IOException {
        Path out = tmp.resolve("results.jsonl");
        Run first = run(smallScore("--sample", "3", "--proxies", "naswot,params", "--out", out.toString()));
        assertEquals(0, first.code(), first.err());
        // a run killed while writing leaves a partial last line
        Files.writeString(out, Files.readString(out) + "{\"arch\": \"|nor_co", java.nio.file.StandardOpenOption.TRUNCATE_EXISTING);
        Run second = run(smallScore("--sample", "5", "--proxies", "naswot,params", "--out", out.toString()));
        assertEquals(0, second.code(), second.err());
        assertTrue(second.err().contains("resuming: 3 of 5 distinct architectures"), second.err());
        assertTrue(second.err().contains("not printed again"), second.err());
        assertEquals(2, second.out().lines().count(), "only the missing architectures are scored");
        List<String> rows = Files.readAllLines(out);
        assertEquals(5, rows.size());
        for (String row : rows) Json.parseObject(row);
    }

    @Test
    void csvOutputHasAHeaderAndOneRowPerArchitecture() throws IOException {
        Path out = tmp.resolve("r.csv");
        Run r = run(smallScore("--arch", ARCH, "--sample", "1", "--proxies", "params,flops", "--out", out.toString()));
        assertEquals(0, r.code(), r.err());
        List<String> rows = Files.readAllLines(out);
        assertEquals("arch,params,flops,seconds,run,defs", rows.getFirst());
        assertEquals(3, rows.size());
        assertTrue(rows.get(1).startsWith(ARCH + ","));
    }

    @Test
    void unknownOpIsRejected() {
        assertBadInput(run("score", "--arch", ARCH.replace("avg_pool_3x3", "max_pool_3x3")), "unknown op 'max_pool_3x3'");
    }

    @Test
    void truncatedOrMalformedArchStringsAreRejected() {
        assertBadInput(run("score", "--arch", "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|"), "expected 3 node groups");
        assertBadInput(run("score", "--arch", ARCH.replace("skip_connect~2", "skip_connect~1")), "must read node 2");
        assertBadInput(run("score", "--arch", ARCH.replace("|+|skip", "|+skip")), "node group 3");
        assertBadInput(run("score", "--arch", ARCH.substring(0, ARCH.length() - 1)), "node group 3");
    }

    @Test
    void badArchFileLineIsNamed() throws IOException {
        Path f = tmp.resolve("archs.txt");
        Files.writeString(f, ARCH + "\n# comment\n|none~0|+|none~0|\n");
        assertBadInput(run("score", "--arch-file", f.toString()), "line 3");
    }

    @Test
    void dataFileThatIsNotCifarRecordsIsRejected() throws IOException {
        Path f = tmp.resolve("bad.bin");
        Files.write(f, new byte[3073 * 2 + 5]);
        assertBadInput(run("score", "--arch", ARCH, "--data", f.toString()), "not a positive multiple of 3073");
    }

    @Test
    void batchLargerThanTheDataFileIsRejected() throws IOException {
        Path f = tmp.resolve("two.bin");
        Files.write(f, new byte[3073 * 2]);
        assertBadInput(run("score", "--arch", ARCH, "--data", f.toString(), "--batch", "64"), "larger than the 2 images");
    }

    @Test
    void fixtureFolderWithAMissingTensorIsRejected() throws IOException {
        Path dir = copyFixture("small-mixed");
        Files.delete(dir.resolve("cells.0.layers.4.op.1.weight.bin"));
        assertBadInput(run("score", "--weights", dir.toString()), "cells.0.layers.4.op.1.weight");
    }

    @Test
    void fixtureFolderWithACorruptedTensorIsRejected() throws IOException {
        Path dir = copyFixture("small-mixed");
        Path f = dir.resolve("cells.2.layers.0.op.1.weight.bin");
        byte[] b = Files.readAllBytes(f);
        b[17] ^= 0x40;
        Files.write(f, b);
        assertBadInput(run("score", "--weights", dir.toString()), "does not match the manifest's sha256");
    }

    @Test
    void fixtureFolderWithAWrongShapeIsRejected() throws IOException {
        Path dir = copyFixture("small-mixed");
        Path m = dir.resolve("manifest.json");
        Files.writeString(m, Files.readString(m).replaceFirst("\"shape\": \\[\\s*10,\\s*32\\s*\\]", "\"shape\": [32, 10]"));
        assertBadInput(run("score", "--weights", dir.toString()), "classifier.weight");
        assertBadInput(run("score", "--weights", Fixtures.nb201("small-mixed").toString(), "--channels", "16"), "has shape");
    }

    @Test
    void unknownProxyOptionOrCommandIsRejected() {
        assertBadInput(run("score", "--arch", ARCH, "--proxies", "wrcor,zen"), "unknown proxy 'zen'");
        assertBadInput(run("score", "--arch", ARCH, "--bogus"), "unknown option '--bogus'");
        assertBadInput(run("frobnicate"), "unknown command");
        assertBadInput(run("score", "--arch", ARCH, "--batch", "x"), "expects an integer");
        assertBadInput(run("score", "--arch", ARCH, "--channels", "0"), "--channels");
        assertBadInput(run("score", "--arch", ARCH, "--channels", "4000", "--batch", "64"), "GB for activations, gradients and weights");
        assertBadInput(run("score", "--arch", ARCH, "--channels", "400", "--batch", "512", "--proxies", "wrcor"), " would fit (--batch ");
    }

    @Test
    void openClBackendGivesTheCpuScoresAndAutoSaysWhatItTook() {
        Run cpu = run(smallScore("--arch", ARCH, "--proxies", "wrcor,naswot,synflow"));
        Run cl = run(smallScore("--arch", ARCH, "--proxies", "wrcor,naswot,synflow", "--backend", "opencl"));
        if (cl.code() == 2 && !"true".equals(System.getenv("CI"))) {
            org.junit.jupiter.api.Assumptions.abort("OpenCL unavailable: " + cl.err());
        }
        assertEquals(0, cl.code(), cl.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> a = (Map<String, Object>) Json.parseObject(cpu.out().strip()).get("scores");
        @SuppressWarnings("unchecked")
        Map<String, Object> b = (Map<String, Object>) Json.parseObject(cl.out().strip()).get("scores");
        for (String k : a.keySet()) assertEquals((Double) a.get(k), (Double) b.get(k), 1e-4 * Math.abs((Double) a.get(k)), k);
        Run noCorrelation = run(smallScore("--arch", ARCH, "--proxies", "synflow,params", "--backend", "opencl"));
        assertEquals(0, noCorrelation.code(), "proxies without a correlation matrix: " + noCorrelation.err());
        Run auto = run(smallScore("--arch", ARCH, "--proxies", "params", "--backend", "auto"));
        assertEquals(0, auto.code(), auto.err());
        assertTrue(auto.err().contains("backend auto: "), auto.err());
    }

    @Test
    void unavailableBackendsExitWithTheReason() throws Exception {
        if (!System.getenv().containsKey("NVIDIA_VISIBLE_DEVICES") && !java.nio.file.Files.exists(Path.of("/dev/nvidiactl"))) {
            assertBadInput(run("score", "--arch", ARCH, "--backend", "cuda"), "cuda backend unavailable: ");
        }
        assertBadInput(run("score", "--arch", ARCH, "--backend", "tpu"), "unknown backend 'tpu'");
        // a JVM whose OpenCL library cannot be found
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        if (Runtime.version().feature() >= 23) cmd.add("--sun-misc-unsafe-memory-access=allow");
        cmd.addAll(List.of("-Dorg.lwjgl.opencl.libname=libNoOpenCLHere.so", "-cp", System.getProperty("java.class.path"), "io.wrcor.cli.Main",
                "score", "--arch", ARCH, "--backend", "opencl"));
        Process p = new ProcessBuilder(cmd).start();
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        assertEquals(2, p.waitFor(), err);
        assertTrue(err.strip().startsWith("wrcor: error: opencl backend unavailable: no OpenCL runtime"), err);
        assertEquals(1, err.strip().lines().count(), err);
    }

    private Path copyFixture(String name) throws IOException {
        Path src = Fixtures.nb201(name), dst = tmp.resolve(name);
        Files.createDirectories(dst);
        try (Stream<Path> s = Files.list(src)) {
            for (Path p : s.toList()) Files.copy(p, dst.resolve(p.getFileName()));
        }
        return dst;
    }
}
