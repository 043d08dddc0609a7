package io.wrcor.cli;

import static io.wrcor.cli.CliTest.ARCH;
import static io.wrcor.cli.CliTest.assertBadInput;
import static io.wrcor.cli.CliTest.run;
import static io.wrcor.cli.CliTest.smallScore;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.results.ResultsFile;
import io.wrcor.results.RunKey;
import io.wrcor.util.Json;
import java.io.IOException;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.Set;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A results file never serves a score computed under other settings: every input that determines a
 * score is in its key, and a second process on the same file is refused instead of computing twice.
 */
class ResultsTrustTest {
    @TempDir
    Path tmp;

    /** Eight CIFAR-10-format records of random pixels. */
    private static void writeData(Path f, long seed) throws IOException {
        Random rnd = new Random(seed);
        byte[] b = new byte[3073 * 8];
        rnd.nextBytes(b);
        for (int i = 0; i < 8; i++) b[i * 3073] = (byte) rnd.nextInt(10);
        Files.createDirectories(f.getParent());
        Files.write(f, b);
    }

    @SuppressWarnings("unchecked")
    private static double score(CliTest.Run r, String proxy) {
        assertEquals(0, r.code(), r.err());
        Map<String, Object> row = Json.parseObject(r.out().strip().lines().reduce((x, y) -> y).orElseThrow());
        return (Double) ((Map<String, Object>) row.get("scores")).get(proxy);
    }

    private static boolean resumed(CliTest.Run r) {
        return r.err().contains("resuming:");
    }

    @Test
    void dataWithTheSameFileNameButOtherImagesIsRecomputed() throws IOException {
        Path d1 = tmp.resolve("d1/c.bin"), d2 = tmp.resolve("d2/c.bin"), out = tmp.resolve("r.jsonl");
        writeData(d1, 1);
        writeData(d2, 2);
        CliTest.Run first = run(smallScore("--arch", ARCH, "--proxies", "naswot", "--data", d1.toString(), "--out", out.toString()));
        CliTest.Run second = run(smallScore("--arch", ARCH, "--proxies", "naswot", "--data", d2.toString(), "--out", out.toString()));
        assertFalse(resumed(second), "d2's images are not d1's: " + second.err());
        assertTrue(second.err().contains("1 rows scored with other settings"), second.err());
        assertNotEquals(score(first, "naswot"), score(second, "naswot"));
        assertEquals(2, Files.readAllLines(out).size());
        // the same images under another name are the same input: reused
        Path copy = tmp.resolve("elsewhere/renamed.bin");
        Files.createDirectories(copy.getParent());
        Files.copy(d1, copy);
        CliTest.Run third = run(smallScore("--arch", ARCH, "--proxies", "naswot", "--data", copy.toString(), "--out", out.toString()));
        assertTrue(resumed(third), third.err());
        assertEquals(2, Files.readAllLines(out).size());
    }

    @Test
    void anEditedWeightsFolderOfTheSameNameIsRecomputed() throws Exception {
        Path dir = tmp.resolve("w/small-mixed"), out = tmp.resolve("r.jsonl");
        copyFolder(Fixtures.nb201("small-mixed"), dir);
        CliTest.Run first = run("score", "--weights", dir.toString(), "--proxies", "naswot,wrcor", "--quiet", "--out", out.toString());
        CliTest.Run again = run("score", "--weights", dir.toString(), "--proxies", "naswot,wrcor", "--quiet", "--out", out.toString());
        assertTrue(resumed(again), again.err());
        // change one weight, and its sha256 in the manifest, so that the folder is valid but different
        Path f = dir.resolve("cells.2.layers.0.op.1.weight.bin");
        byte[] b = Files.readAllBytes(f);
        String oldSha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        b[17] ^= 0x40;
        Files.write(f, b);
        String newSha = HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(b));
        Path m = dir.resolve("manifest.json");
        String manifest = Files.readString(m);
        assertTrue(manifest.contains(oldSha), "the fixture's manifest lists sha256 values");
        Files.writeString(m, manifest.replace(oldSha, newSha));
        CliTest.Run edited = run("score", "--weights", dir.toString(), "--proxies", "naswot,wrcor", "--quiet", "--out", out.toString());
        assertFalse(resumed(edited), edited.err());
        assertNotEquals(score(first, "wrcor"), score(edited, "wrcor"));
    }

    @Test
    void changingSeedBatchOrNetworkSizeRecomputes() {
        Path out = tmp.resolve("r.jsonl");
        String[] base = {"score", "--arch", ARCH, "--proxies", "naswot,params", "--quiet", "--out", out.toString()};
        List<String[]> variants = List.of(
                new String[]{"--channels", "4", "--cells", "1", "--batch", "8", "--seed", "0", "--classes", "10"},
                new String[]{"--channels", "4", "--cells", "1", "--batch", "8", "--seed", "1", "--classes", "10"},
                new String[]{"--channels", "4", "--cells", "1", "--batch", "9", "--seed", "0", "--classes", "10"},
                new String[]{"--channels", "5", "--cells", "1", "--batch", "8", "--seed", "0", "--classes", "10"},
                new String[]{"--channels", "4", "--cells", "2", "--batch", "8", "--seed", "0", "--classes", "10"},
                new String[]{"--channels", "4", "--cells", "1", "--batch", "8", "--seed", "0", "--classes", "7"});
        Set<String> seen = new HashSet<>();
        for (int i = 0; i < variants.size(); i++) {
            CliTest.Run r = run(Stream.concat(Stream.of(base), Stream.of(variants.get(i))).toArray(String[]::new));
            assertFalse(resumed(r), "variant " + i + " must be computed: " + r.err());
            seen.add(score(r, "naswot") + "/" + score(r, "params"));
        }
        assertEquals(variants.size(), seen.size(), "every variant gives its own score");
        for (String[] v : variants) {
            assertTrue(resumed(run(Stream.concat(Stream.of(base), Stream.of(v)).toArray(String[]::new))), "same settings again: reused");
        }
    }

    @Test
    void everyFieldOfTheRunKeyEntersItsText() {
        RunKey k = new RunKey("nb201", "C=16,N=5,classes=10", RunKey.initWeights(0), "64x32x32:sha256:00", RunKey.PRECISION);
        Set<String> texts = new HashSet<>(List.of(k.text(),
                new RunKey("nb101", k.network(), k.weights(), k.input(), k.precision()).text(),
                new RunKey(k.space(), "C=16,N=5,classes=100", k.weights(), k.input(), k.precision()).text(),
                new RunKey(k.space(), k.network(), RunKey.initWeights(1), k.input(), k.precision()).text(),
                new RunKey(k.space(), k.network(), k.weights(), "64x32x32:sha256:01", k.precision()).text(),
                new RunKey(k.space(), k.network(), k.weights(), k.input(), "float64").text()));
        assertEquals(6, texts.size());
    }

    @Test
    void aScoreOfAnOlderProxyDefinitionIsRecomputed() throws IOException {
        Path out = tmp.resolve("r.jsonl");
        run(smallScore("--arch", ARCH, "--proxies", "naswot,params", "--out", out.toString()));
        String row = Files.readString(out);
        assertTrue(row.contains("\"defs\": {\"naswot\": 1, \"params\": 1}"), row);
        Files.writeString(out, row.replace("\"naswot\": 1,", "\"naswot\": 0,"));
        CliTest.Run r = run(smallScore("--arch", ARCH, "--proxies", "naswot,params", "--out", out.toString()));
        assertTrue(r.err().contains("1 scores computed by an older definition"), r.err());
        assertFalse(resumed(r), r.err());
        List<String> rows = Files.readAllLines(out);
        assertEquals(2, rows.size());
        assertTrue(rows.get(1).contains("\"scores\": {\"naswot\":") && !rows.get(1).contains("\"params\""), "only naswot is recomputed: " + rows.get(1));
    }

    @Test
    void aResultsFileInUseIsRefusedBothInThisProcessAndAnother() throws Exception {
        Path out = tmp.resolve("r.jsonl");
        String[] args = smallScore("--arch", ARCH, "--proxies", "params", "--out", out.toString());
        // another process holds the lock
        try (FileChannel ch = FileChannel.open(out, StandardOpenOption.CREATE, StandardOpenOption.WRITE); FileLock lock = ch.lock()) {
            assertTrue(lock.isValid());
            Process p = start(args);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(2, p.waitFor(), err);
            assertTrue(err.contains("is in use by another wrcor run"), err);
        }
        // a run in this process holds it
        try (ResultsFile held = new ResultsFile(out, ResultsFile.Format.JSONL, List.of("params"), "some run")) {
            assertBadInput(run(args), "is in use by another wrcor run");
            Process p = start(args);
            String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(2, p.waitFor(), "the refused in-process attempt must not have released the lock: " + err);
            assertTrue(held.known(ARCH) == null);
        }
        // released: it works again
        assertEquals(0, run(args).code());
    }

    @Test
    void twoProcessesOnOneFileComputeEachArchitectureOnce() throws Exception {
        Path out = tmp.resolve("r.jsonl");
        String[] args = smallScore("--sample", "12", "--proxies", "naswot", "--out", out.toString());
        Process a = start(args), b = start(args);
        String errA = new String(a.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        String errB = new String(b.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        int codeA = a.waitFor(), codeB = b.waitFor();
        // either they overlapped (one refused with the reason) or one ran after the other (it reused everything)
        for (String[] r : List.of(new String[]{Integer.toString(codeA), errA}, new String[]{Integer.toString(codeB), errB})) {
            boolean ok = r[0].equals("0"), refused = r[0].equals("2") && r[1].contains("is in use by another wrcor run");
            assertTrue(ok || refused, "exit " + r[0] + ": " + r[1]);
        }
        assertTrue(codeA == 0 || codeB == 0, errA + errB);
        List<String> rows = Files.readAllLines(out);
        Set<String> archs = new HashSet<>();
        for (String row : rows) archs.add((String) Json.parseObject(row).get("arch"));
        assertEquals(12, rows.size(), "each architecture computed and written once");
        assertEquals(12, archs.size());
    }

    private static Process start(String[] args) throws IOException {
        List<String> cmd = new ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        if (Runtime.version().feature() >= 23) cmd.add("--sun-misc-unsafe-memory-access=allow");
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), "io.wrcor.cli.Main"));
        cmd.addAll(List.of(args));
        return new ProcessBuilder(cmd).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
    }

    static void copyFolder(Path src, Path dst) throws IOException {
        Files.createDirectories(dst);
        try (Stream<Path> s = Files.list(src)) {
            for (Path p : s.toList()) Files.copy(p, dst.resolve(p.getFileName()));
        }
    }
}
