package io.wrcor.cli;

import static io.wrcor.cli.CliTest.ARCH;
import static io.wrcor.cli.CliTest.run;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import io.wrcor.data.Datasets;
import io.wrcor.util.Json;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.Map;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * {@code wrcor data get} against a local HTTP server serving small archives laid out as the official
 * CIFAR-10 one: a good one, one cut off (then resumed with a range request), a corrupted one, a
 * missing one, a stalled one and a closed port; then {@code --data cifar10} scores on what it
 * unpacked. Nothing leaves this machine.
 */
class DataGetTest {
    static final int RECORDS = 4; // per batch file
    static HttpServer http;
    static byte[] archive;
    static String md5;
    static final AtomicInteger flakyCalls = new AtomicInteger();
    static final List<String> rangesAsked = new java.util.concurrent.CopyOnWriteArrayList<>();

    @TempDir
    static Path tmp;
    Path datasets;

    @BeforeAll
    static void serve() throws Exception {
        archive = cifarArchive();
        md5 = HexFormat.of().formatHex(MessageDigest.getInstance("MD5").digest(archive));
        http = HttpServer.create(new InetSocketAddress("127.0.0.1", 0), 16);
        http.createContext("/good/cifar-10-binary.tar.gz", ex -> send(ex, archive, true));
        http.createContext("/flaky/cifar-10-binary.tar.gz", ex -> {
            if (flakyCalls.getAndIncrement() == 0) cutOff(ex, archive, archive.length / 2);
            else send(ex, archive, true);
        });
        http.createContext("/corrupt/cifar-10-binary.tar.gz", ex -> {
            byte[] bad = archive.clone();
            bad[bad.length / 2] ^= 0x55;
            send(ex, bad, false);
        });
        http.createContext("/stall/cifar-10-binary.tar.gz", ex -> {
            ex.sendResponseHeaders(200, archive.length);
            OutputStream out = ex.getResponseBody();
            out.write(archive, 0, 1000);
            out.flush();
            sleep(8000); // longer than the test's 2 s timeout
            ex.close();
        });
        http.createContext("/", ex -> {
            ex.sendResponseHeaders(404, -1);
            ex.close();
        });
        http.setExecutor(java.util.concurrent.Executors.newVirtualThreadPerTaskExecutor());
        http.start();
        System.setProperty("wrcor.download.timeoutSeconds", "2");
    }

    @AfterAll
    static void stop() {
        http.stop(0);
        System.clearProperty("wrcor.download.timeoutSeconds");
        System.clearProperty("wrcor.datasets");
    }

    @BeforeEach
    void freshFolder() throws IOException {
        datasets = Files.createTempDirectory(tmp, "datasets");
        System.setProperty("wrcor.datasets", datasets.toString());
    }

    static String url(String path) {
        return "http://127.0.0.1:" + http.getAddress().getPort() + path;
    }

    static CliTest.Run get(String path) {
        return assertTimeoutPreemptively(Duration.ofSeconds(60), () -> run("data", "get", "cifar10", "--url", url(path), "--md5", md5));
    }

    static void assertFails(CliTest.Run r, String mentions) {
        assertEquals(1, r.code(), r.err());
        List<String> errors = r.err().lines().filter(l -> l.startsWith("wrcor: error: ")).toList();
        assertEquals(1, errors.size(), r.err());
        assertTrue(errors.getFirst().contains(mentions), "should mention '" + mentions + "': " + r.err());
        assertFalse(r.err().contains("Exception"), r.err());
    }

    @Test
    void aGoodArchiveIsCheckedUnpackedAndThenMeantByDataCifar10() throws Exception {
        CliTest.Run before = run("score", "--data", "cifar10", "--arch", ARCH, "--proxies", "params", "--quiet");
        CliTest.assertBadInput(before, "run: bin/wrcor data get cifar10");
        CliTest.Run r = get("/good/cifar-10-binary.tar.gz");
        assertEquals(0, r.code(), r.err());
        Path train = datasets.resolve("cifar10").resolve("train.bin");
        assertEquals(5L * RECORDS * 3073, Files.size(train), "the five training batches, in order");
        assertEquals(2L * 3073, Files.size(datasets.resolve("cifar10").resolve("test.bin")));
        // batch 1's first record comes first, batch 5's last one last
        byte[] t = Files.readAllBytes(train);
        assertEquals(1, t[1]);
        assertEquals(5, t[t.length - 3072]);
        assertTrue(run("data", "list").out().contains("present: " + train), run("data", "list").out());
        CliTest.Run s = run("score", "--data", "cifar10", "--arch", ARCH, "--proxies", "params", "--batch", "8", "--channels", "4", "--cells", "1",
                "--quiet");
        assertEquals(0, s.code(), s.err());
        @SuppressWarnings("unchecked")
        Map<String, Object> row = Json.parseObject(s.out().strip());
        assertTrue(((String) row.get("run")).contains("input=8x32x32"), row.toString());
        // asked again: already there, nothing fetched
        assertTrue(run("data", "get", "cifar10").out().contains("already here"));
    }

    @Test
    void anInterruptedDownloadResumesWhereItStopped() throws Exception {
        flakyCalls.set(0);
        rangesAsked.clear();
        CliTest.Run first = get("/flaky/cifar-10-binary.tar.gz");
        assertFails(first, "run the command again to resume it");
        Path part = datasets.resolve("cifar10").resolve("cifar-10-binary.tar.gz.part");
        long kept = Files.size(part);
        assertTrue(kept > 0 && kept <= archive.length / 2, "what arrived is kept: " + kept);
        CliTest.Run second = get("/flaky/cifar-10-binary.tar.gz");
        assertEquals(0, second.code(), second.err());
        assertTrue(second.err().contains("resuming the download"), second.err());
        assertEquals(List.of("bytes=" + kept + "-"), rangesAsked);
        assertTrue(Files.isRegularFile(datasets.resolve("cifar10").resolve("train.bin")));
        assertFalse(Files.exists(part));
    }

    @Test
    void aCorruptedDownloadIsDeletedAndSaidSo() {
        assertFails(get("/corrupt/cifar-10-binary.tar.gz"), "not the published " + md5 + "; it was deleted");
        assertFalse(Files.exists(datasets.resolve("cifar10").resolve("cifar-10-binary.tar.gz.part")));
        assertFalse(Files.exists(datasets.resolve("cifar10").resolve("train.bin")));
    }

    @Test
    void aMissingArchiveAStalledServerAndNoNetworkAreOneLineEach() throws Exception {
        assertFails(get("/nothing-here/cifar-10-binary.tar.gz"), "HTTP 404 from " + url("/nothing-here/cifar-10-binary.tar.gz"));
        assertFails(get("/stall/cifar-10-binary.tar.gz"), "stalled for 2 s after 1000 bytes");
        int closed;
        try (java.net.ServerSocket s = new java.net.ServerSocket(0, 1, java.net.InetAddress.getLoopbackAddress())) {
            closed = s.getLocalPort();
        }
        CliTest.Run r = assertTimeoutPreemptively(Duration.ofSeconds(60),
                () -> run("data", "get", "cifar10", "--url", "http://127.0.0.1:" + closed + "/cifar-10-binary.tar.gz", "--md5", md5));
        assertFails(r, "cannot reach http://127.0.0.1:" + closed);
    }

    @Test
    void badRequestsAreUsageErrors() {
        CliTest.assertBadInput(run("data", "get", "imagenet"), "unknown dataset 'imagenet' (known: cifar10, cifar100)");
        CliTest.assertBadInput(run("data", "get", "cifar10", "--url", url("/good/x.tar.gz")), "--url (a mirror) needs the archive's --md5");
        CliTest.assertBadInput(run("data", "get", "cifar10", "--url", url("/good/x.tar.gz"), "--md5", "xyz"), "--md5 is 32 hex digits");
        CliTest.assertBadInput(run("data"), "expected 'get NAME' or 'list'");
        CliTest.assertBadInput(run("data", "fetch"), "unknown action 'fetch'");
    }

    // ------------------------------------------------------------------ the local server

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** The whole body, or from a "Range: bytes=N-" on (206) when {@code ranges}. */
    static void send(HttpExchange ex, byte[] body, boolean ranges) throws IOException {
        String range = ex.getRequestHeaders().getFirst("Range");
        if (range != null) rangesAsked.add(range);
        int from = 0;
        if (ranges && range != null && range.matches("bytes=\\d+-")) from = Integer.parseInt(range.substring(6, range.length() - 1));
        if (from > 0) ex.getResponseHeaders().set("Content-Range", "bytes " + from + "-" + (body.length - 1) + "/" + body.length);
        ex.sendResponseHeaders(from > 0 ? 206 : 200, body.length - from);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body, from, body.length - from);
        }
    }

    /** Promises the whole body, sends {@code n} bytes, and drops the connection. */
    static void cutOff(HttpExchange ex, byte[] body, int n) throws IOException {
        ex.sendResponseHeaders(200, body.length);
        OutputStream out = ex.getResponseBody();
        out.write(body, 0, n);
        out.flush();
        ex.close(); // without the rest
    }

    /** A .tar.gz laid out as the official CIFAR-10 binary archive: five training batches and a test batch, tiny. */
    static byte[] cifarArchive() throws IOException {
        ByteArrayOutputStream tar = new ByteArrayOutputStream();
        for (int b = 1; b <= 5; b++) member(tar, "cifar-10-batches-bin/data_batch_" + b + ".bin", records(RECORDS, b));
        member(tar, "cifar-10-batches-bin/batches.meta.txt", "airplane\n".getBytes(StandardCharsets.US_ASCII));
        member(tar, "cifar-10-batches-bin/test_batch.bin", records(2, 0));
        tar.write(new byte[1024]); // end of archive
        ByteArrayOutputStream gz = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(gz)) {
            z.write(tar.toByteArray());
        }
        return gz.toByteArray();
    }

    /** {@code n} CIFAR-10 records; the first pixel byte of each says which batch it is from, labels cycle 0-9. */
    static byte[] records(int n, int batch) {
        byte[] r = new byte[n * 3073];
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(batch);
        for (int i = 0; i < n; i++) {
            r[i * 3073] = (byte) (i % 10);
            for (int p = 1; p < 3073; p++) r[i * 3073 + p] = (byte) rnd.nextInt(256);
            r[i * 3073 + 1] = (byte) batch;
        }
        return r;
    }

    static void member(ByteArrayOutputStream tar, String name, byte[] data) throws IOException {
        byte[] h = new byte[512];
        put(h, 0, name);
        put(h, 100, "0000644");
        put(h, 108, "0000000");
        put(h, 116, "0000000");
        put(h, 124, String.format("%011o", data.length));
        put(h, 136, String.format("%011o", 0));
        h[156] = '0';
        put(h, 257, "ustar");
        put(h, 263, "00");
        java.util.Arrays.fill(h, 148, 156, (byte) ' ');
        int sum = 0;
        for (byte b : h) sum += b & 0xff;
        put(h, 148, String.format("%06o", sum));
        h[154] = 0;
        tar.write(h);
        tar.write(data);
        tar.write(new byte[(512 - data.length % 512) % 512]);
    }

    static void put(byte[] h, int at, String s) {
        byte[] b = s.getBytes(StandardCharsets.US_ASCII);
        System.arraycopy(b, 0, h, at, b.length);
    }
}
