package io.wrcor.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.cli.Main;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The score job on Spark in local mode against the plain command: the same rows (run keys and every
 * score to the bit on the CPU backend, though the Spark tasks run one thread each and the command two),
 * a rerun that computes nothing and starts no Spark, a task that fails after scoring and is run again
 * without a second row, and the bad inputs a user meets first, each one line and exit 2.
 */
class SparkJobTest {
    static Path shared;

    @BeforeAll
    static void sharedFolder() {
        shared = Path.of(System.getProperty("wrcor.shared", "../../shared")).toAbsolutePath().normalize();
        System.setProperty("wrcor.shared", shared.toString());
        assertTrue(Files.isRegularFile(shared.resolve("data/cifar10-train-0.bin")), "the shared data folder is at " + shared);
    }

    record Run(int code, String out, String err) {
    }

    static Run cli(String... args) {
        return run(false, args);
    }

    static Run spark(String... args) {
        return run(true, args);
    }

    static Run run(boolean spark, String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8); PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            int code = spark ? SparkMain.run(args, o, e) : Main.run(args, o, e);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        }
    }

    /** The store's rows by architecture, each as its run key and scores (seconds and order aside); a second row of an architecture fails. */
    static Map<String, String> rows(Path store) throws IOException {
        Map<String, String> byArch = new LinkedHashMap<>();
        for (String line : Files.readAllLines(store)) {
            if (line.isBlank()) continue;
            String arch = field(line, "\"arch\": \"", "\"");
            String scores = field(line, "\"scores\": {", "}");
            String run = field(line, "\"run\": \"", "\"");
            String before = byArch.put(arch, run + " | " + scores);
            assertEquals(null, before, "a second row of " + arch + " in " + store);
        }
        return byArch;
    }

    static String field(String line, String start, String end) {
        int i = line.indexOf(start);
        assertTrue(i >= 0, "no " + start + " in " + line);
        int j = line.indexOf(end, i + start.length());
        return line.substring(i + start.length(), j);
    }

    static List<String> table(String file, int n, int column) throws IOException {
        List<String> archs = new ArrayList<>();
        try (Stream<String> lines = Files.lines(shared.resolve("data").resolve(file))) {
            lines.skip(1).limit(n).forEach(l -> archs.add(l.split(",")[column]));
        }
        return archs;
    }

    @Test
    void localModeRowsEqualTheCommandsRowsAndARerunComputesNothing(@TempDir Path dir) throws IOException {
        // 40 NAS-Bench-201 cells and 4 NAS-Bench-101 specs, on a real CIFAR-10 batch
        Path nb201 = dir.resolve("nb201.txt");
        Run sample = cli("score", "--sample", "40", "--seed", "3", "--proxies", "params", "--quiet");
        assertEquals(0, sample.code(), sample.err());
        List<String> archs201 = sample.out().lines().map(l -> field(l, "\"arch\": \"", "\"")).toList();
        Files.write(nb201, archs201);
        Path nb101 = dir.resolve("nb101.txt");
        Run sample101 = cli("score", "--space", "nb101", "--sample", "4", "--seed", "3", "--proxies", "params", "--quiet");
        assertEquals(0, sample101.code(), sample101.err());
        Files.write(nb101, sample101.out().lines().map(l -> field(l, "\"arch\": \"", "\"")).toList());
        String data = shared.resolve("data/cifar10-train-0.bin").toString();

        for (String[] job : List.of(new String[]{"nb201", nb201.toString(), "wrcor,grad_cor,meco,synflow,jacob_cor,naswot,params,flops"},
                new String[]{"nb101", nb101.toString(), "wrcor,synflow,jacob_cor"})) {
            Path plain = dir.resolve(job[0] + "-cli.jsonl"), onSpark = dir.resolve(job[0] + "-spark.jsonl");
            String[] common = {"score", "--space", job[0], "--arch-file", job[1], "--proxies", job[2], "--data", data, "--batch", "16", "--quiet"};
            Run c = cli(concat(common, "--out", plain.toString()));
            assertEquals(0, c.code(), c.err());
            Run s = spark(concat(common, "--out", onSpark.toString(), "--spark", "local[2]"));
            assertEquals(0, s.code(), s.err());
            assertTrue(s.err().contains("scoring on Spark (local[2]"), s.err());
            Map<String, String> want = rows(plain), got = rows(onSpark);
            assertEquals(job[0].equals("nb201") ? 40 : 4, got.size(), job[0] + " rows");
            assertEquals(want, got, job[0] + ": the Spark job's rows are the command's");
            assertEquals(c.out().replaceAll("\"seconds\": [0-9.]+", "S"), s.out().replaceAll("\"seconds\": [0-9.]+", "S"),
                    job[0] + ": stdout in the same order, with the same rows");

            byte[] before = Files.readAllBytes(onSpark);
            Run again = spark(concat(common, "--out", onSpark.toString(), "--spark", "local[2]"));
            assertEquals(0, again.code(), again.err());
            assertTrue(again.err().contains("resuming: " + got.size() + " of " + got.size()), again.err());
            assertFalse(again.err().contains("scoring on Spark"), "a rerun starts no Spark job: " + again.err());
            assertTrue(java.util.Arrays.equals(before, Files.readAllBytes(onSpark)), "a rerun writes nothing");
        }
    }

    @Test
    void aTaskThatFailsAfterScoringRunsAgainWithoutASecondRow(@TempDir Path dir) throws IOException {
        Path plain = dir.resolve("cli.jsonl"), onSpark = dir.resolve("spark.jsonl");
        String[] common = {"score", "--sample", "10", "--seed", "5", "--proxies", "wrcor,synflow", "--batch", "8", "--channels", "8", "--cells", "1", "--quiet"};
        Run c = cli(concat(common, "--out", plain.toString()));
        assertEquals(0, c.code(), c.err());
        // local[2,3]: up to 3 attempts per task; partition 1's first attempt scores its architectures, then throws
        Run s = spark(concat(common, "--out", onSpark.toString(), "--spark", "local[2,3]", "--archs-per-task", "3",
                "--spark-conf", "spark.wrcor.test.failFirstAttemptOf=1"));
        assertEquals(0, s.code(), s.err());
        assertTrue(s.err().contains("injected failure of partition 1"), "the first attempt failed: " + s.err());
        assertEquals(rows(plain), rows(onSpark), "each architecture stored once, with the command's scores");
    }

    @Test
    void aTaskThatFailsEveryTimeEndsTheJobInOneLineKeepingWhatWasStored(@TempDir Path dir) throws IOException {
        Path onSpark = dir.resolve("spark.jsonl");
        // local[2] makes one attempt per task: the injected failure of partition 2 ends the job
        Run s = spark("score", "--sample", "12", "--seed", "5", "--proxies", "wrcor", "--batch", "8", "--channels", "8", "--cells", "1", "--quiet",
                "--out", onSpark.toString(), "--spark", "local[2]", "--archs-per-task", "2", "--spark-conf", "spark.wrcor.test.failFirstAttemptOf=2");
        assertEquals(2, s.code(), s.err());
        String last = s.err().strip().lines().reduce((a, b) -> b).orElse("");
        assertTrue(last.startsWith("wrcor: error: the Spark job failed: injected failure of partition 2"), last);
        assertFalse(s.err().contains("\tat "), "no stack trace: " + s.err());
        Map<String, String> stored = rows(onSpark);
        assertTrue(stored.size() < 12, "partition 2's architectures are missing: " + stored.size());
        Run rerun = spark("score", "--sample", "12", "--seed", "5", "--proxies", "wrcor", "--batch", "8", "--channels", "8", "--cells", "1", "--quiet",
                "--out", onSpark.toString(), "--spark", "local[2]", "--archs-per-task", "2");
        assertEquals(0, rerun.code(), rerun.err());
        assertTrue(rerun.err().contains("resuming: " + stored.size() + " of 12"), rerun.err());
        assertEquals(12, rows(onSpark).size());
    }

    @Test
    void badMastersAndOptionsAreOneLineAndExit2(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("r.jsonl");
        Run unreachable = spark("score", "--sample", "2", "--out", out.toString(), "--spark", "spark://127.0.0.1:1");
        assertEquals(2, unreachable.code());
        assertEquals("wrcor: error: cannot reach the Spark master at 127.0.0.1:1: Connection refused (is it running? start-master.sh, or the"
                + " benchmarks/spark-cluster.sh script)", unreachable.err().strip());
        assertFalse(Files.exists(out), "nothing written");
        Run notAMaster = spark("score", "--sample", "2", "--spark", "localhost");
        assertEquals(2, notAMaster.code());
        assertTrue(notAMaster.err().strip().startsWith("wrcor: error: --spark 'localhost' is not a Spark master"), notAMaster.err());
        Run noValue = spark("score", "--sample", "2", "--spark");
        assertEquals(2, noValue.code());
        assertEquals("wrcor: error: option --spark needs a value", noValue.err().strip());
        Run noMaster = spark("score", "--sample", "2");
        assertEquals(2, noMaster.code());
        assertTrue(noMaster.err().contains("no Spark master"), noMaster.err());
        Run bench = spark("bench", "--archs", "2", "--spark", "local[2]");
        assertEquals(2, bench.code());
        assertTrue(bench.err().contains("bench does not run on Spark"), bench.err());
        Run plain = cli("score", "--sample", "2", "--spark", "local[2]");
        assertEquals(2, plain.code());
        assertTrue(plain.err().contains("--spark runs the command through the wrcor-spark module"), plain.err());
        Run devices = spark("score", "--sample", "2", "--devices", "0,1", "--spark", "local[2]", "--out", out.toString());
        assertEquals(2, devices.code(), devices.err());
        assertTrue(devices.err().strip().startsWith("wrcor: error: --devices is for one machine's devices"), devices.err());
        assertFalse(Files.exists(out), "nothing written");
    }

    /**
     * A weights folder travels to the executors with the work (its files, rebuilt and checked by
     * digest there): the row on Spark is the command's, run key and every score to the bit.
     */
    @Test
    void aWeightsFolderIsShippedAndScoresAsTheCommandDoes(@TempDir Path dir) throws IOException {
        Path fixtures = shared.resolve("fixtures/nb201").toAbsolutePath();
        Path folder;
        try (Stream<Path> cases = Files.list(fixtures)) {
            folder = cases.filter(Files::isDirectory).sorted().findFirst().orElseThrow();
        }
        String[] common = {"score", "--weights", folder.toString(), "--proxies", "wrcor,synflow,jacob_cor,naswot,params"};
        Run plain = cli(concat(common, "--out", dir.resolve("plain.jsonl").toString()));
        assertEquals(0, plain.code(), plain.err());
        Run onSpark = spark(concat(common, "--out", dir.resolve("spark.jsonl").toString(), "--spark", "local[1]"));
        assertEquals(0, onSpark.code(), onSpark.err());
        assertTrue(onSpark.err().contains("scoring on Spark"), onSpark.err());
        assertEquals(rows(dir.resolve("plain.jsonl")), rows(dir.resolve("spark.jsonl")));
        assertTrue(rows(dir.resolve("spark.jsonl")).values().iterator().next().contains("folder:sha256:"), "keyed on the folder's digest");
    }

    /**
     * The driver opens no backend of its own: with --backend cuda on a machine without CUDA, a run whose
     * store holds everything finishes (the executors, where the GPUs are, would score the rest).
     */
    @Test
    void theDriverOpensNoBackend(@TempDir Path dir) throws IOException {
        Path out = dir.resolve("r.jsonl");
        String[] common = {"score", "--sample", "3", "--channels", "4", "--cells", "1", "--batch", "8", "--proxies", "naswot", "--out", out.toString()};
        Run first = cli(common);
        assertEquals(0, first.code(), first.err());
        Run cuda = spark(concat(common, "--backend", "cuda", "--spark", "local[1]"));
        assertEquals(0, cuda.code(), cuda.err());
        assertEquals(3, rows(out).size(), "nothing scored again, nothing added");
        assertFalse(cuda.err().contains("cuda backend unavailable"), cuda.err());
        Run unknown = spark(concat(common, "--backend", "tpu", "--spark", "local[1]"));
        assertEquals(2, unknown.code(), unknown.err());
        assertTrue(unknown.err().contains("unknown backend 'tpu'"), unknown.err());
    }

    @Test
    void batchedEvolutionOnSparkIsTheSameSearch(@TempDir Path dir) throws IOException {
        // eight children per round from eight tournaments, scored together as one Spark job per round
        String[] common = {"search", "--algo", "evolution", "--n", "40", "--population", "16", "--tournament", "4", "--children", "8",
                "--objective", "synflow,jacob_cor,wrcor", "--channels", "8", "--cells", "1", "--batch", "8", "--seed", "4", "--no-gt", "--quiet"};
        Run plain = cli(concat(common, "--run-dir", dir.resolve("plain").toString()));
        assertEquals(0, plain.code(), plain.err());
        Run onSpark = spark(concat(common, "--run-dir", dir.resolve("spark").toString(), "--spark", "local[2]"));
        assertEquals(0, onSpark.code(), onSpark.err());
        assertTrue(onSpark.err().contains("scoring on Spark"), onSpark.err());
        List<String> want = trajectory(dir.resolve("plain/trajectory.jsonl")), got = trajectory(dir.resolve("spark/trajectory.jsonl"));
        assertEquals(40, want.size());
        assertEquals(want, got, "the same evaluations, in the same order, with the same scores");
        // the same rows (the found architecture's second row with the report's extra proxies included), in any order
        assertEquals(sortedRows(dir.resolve("plain/scores.jsonl")), sortedRows(dir.resolve("spark/scores.jsonl")));
    }

    /** A store's lines without their timings, sorted. */
    static List<String> sortedRows(Path file) throws IOException {
        return Files.readAllLines(file).stream().filter(l -> !l.isBlank()).map(l -> l.replaceAll("\"seconds\": [0-9.]+", "S")).sorted().toList();
    }

    /** A trajectory's lines without their timings. */
    static List<String> trajectory(Path file) throws IOException {
        return Files.readAllLines(file).stream().filter(l -> !l.isBlank()).map(l -> l.replaceAll("\"(seconds|elapsed)\": [0-9.eE+-]+", "T")).toList();
    }

    @Test
    void askingForGpusInLocalModeIsRefusedRatherThanWaitedForeverOn(@TempDir Path dir) {
        // Spark's local mode offers no GPUs to tasks: a task asking for one would wait for ever
        Run s = spark("score", "--sample", "2", "--out", dir.resolve("r.jsonl").toString(), "--spark", "local[2]",
                "--spark-conf", "spark.task.resource.gpu.amount=1");
        assertEquals(2, s.code(), s.err());
        assertTrue(s.err().strip().startsWith("wrcor: error: spark.task.resource.gpu.amount: Spark's local mode never gives a task a GPU"), s.err());
        assertFalse(Files.exists(dir.resolve("r.jsonl")));
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
