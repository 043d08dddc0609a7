package io.wrcor.serve;

import static io.wrcor.serve.JobsTest.SMALL;
import static io.wrcor.serve.JobsTest.call;
import static io.wrcor.serve.JobsTest.job;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.util.Json;
import java.io.OutputStream;
import java.net.URI;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The server under requests that once stalled or broke it: a FIFO as a data file, an absurd
 * MobileNetV2 layer count, JSON nested thousands deep, a non-JSON number, HEAD, a short token, a
 * job whose results file was damaged, and a shutdown with an answer still under way (503 for new
 * requests meanwhile). Checks that could hang run under a time limit (a hang guard, not a speed claim).
 */
class ServerReliabilityTest {
    static final Duration HANG = Duration.ofSeconds(60);
    static final String JSON = "application/json";
    static final String ARCH = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    static FastCpuBackend cpu;

    @TempDir
    static Path tmp;

    @BeforeAll
    static void start() {
        cpu = new FastCpuBackend(1);
    }

    @AfterAll
    static void stop() {
        cpu.close();
    }

    static JobsTest.Answer post(Server s, String path, String body) throws Exception {
        return call(s, "POST", path, body, "Content-Type", JSON);
    }

    static void assertOneLineError(JobsTest.Answer a, int status, String mentions) {
        assertEquals(status, a.status(), a.text());
        String error = (String) a.body().get("error");
        assertTrue(error.contains(mentions), "error should mention '" + mentions + "': " + error);
        assertEquals(1, error.lines().count(), error);
        assertTrue(error.length() < 600, "a short message: " + error.length() + " characters");
    }

    @Test
    void aFifoInTheDataDirectoryIsRefusedWhileOtherRequestsAreAnswered() throws Exception {
        Path data = tmp.resolve("fifo");
        Files.createDirectories(data);
        Process p = new ProcessBuilder("mkfifo", data.resolve("pipe.bin").toString()).start();
        Assumptions.assumeTrue(p.waitFor() == 0, "mkfifo is not available here");
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            assertTimeoutPreemptively(HANG, () -> {
                CompletableFuture<JobsTest.Answer> bad = CompletableFuture.supplyAsync(() -> {
                    try {
                        return post(s, "/v1/score", "{\"archs\": [\"" + ARCH + "\"], \"data\": \"pipe.bin\", " + SMALL + "}");
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                assertEquals(200, call(s, "GET", "/v1/health", null).status());
                assertOneLineError(bad.get(), 400, "is not a regular file");
                assertOneLineError(post(s, "/v1/jobs", "{\"kind\": \"score\", \"sample\": 2, \"data\": \"pipe.bin\", " + SMALL + "}"), 400,
                        "is not a regular file");
            });
        }
    }

    @Test
    void hostileRequestsGetAOneLine400AndTheServerKeepsServing() throws Exception {
        try (Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("hostile")))) {
            assertTimeoutPreemptively(HANG, () -> {
                String deep = "[".repeat(5000) + "]".repeat(5000);
                assertOneLineError(post(s, "/v1/score", "{\"archs\": " + deep + "}"), 400, "nested deeper than");
                assertOneLineError(post(s, "/v1/jobs", "{\"kind\": " + deep + "}"), 400, "nested deeper than");
                assertOneLineError(post(s, "/v1/score", "{\"archs\": [\"" + ARCH + "\"], \"batch\": 08}"), 400, "leading zeros");
                String huge = "SuperConvK3BNRELU(3,16,2,1)SuperResIDWE6K3(16,24,2,8,100000)SuperConvK1BNRELU(24,64,1,1)@64";
                for (int i = 0; i < 3; i++) assertOneLineError(post(s, "/v1/score", "{\"space\": \"mbv2\", \"archs\": [\"" + huge + "\"]}"), 400, "layers");
                assertEquals(200, call(s, "GET", "/v1/health", null).status());
            });
        }
    }

    @Test
    void headIsAnsweredOnEveryGetRouteWithoutABody() throws Exception {
        try (Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("head")))) {
            for (String path : List.of("/v1/health", "/v1/ready", "/v1/metrics", "/v1/openapi.json", "/v1/jobs")) {
                HttpResponse<String> r = JobsTest.client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path))
                        .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
                assertEquals(200, r.statusCode(), path);
                assertEquals("", r.body(), path);
                assertTrue(Long.parseLong(r.headers().firstValue("Content-Length").orElse("0")) > 0, path + " says its length");
            }
            HttpResponse<String> post = JobsTest.client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + "/v1/score"))
                    .method("HEAD", HttpRequest.BodyPublishers.noBody()).build(), HttpResponse.BodyHandlers.ofString());
            assertEquals(405, post.statusCode(), "HEAD on a POST route");
        }
    }

    @Test
    void aTokenShorterThan16CharactersIsRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new Server(cpu, Server.Options.loopback(tmp.resolve("token")).withToken("0123456789abcde")));
        assertTrue(e.getMessage().contains("at least 16"), e.getMessage());
    }

    /** While an answer is under way, a stopping server answers new requests 503 (not a refused connection), then finishes that answer. */
    @Test
    void aStoppingServerAnswers503UntilTheAnswersUnderWayAreDone() throws Exception {
        Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("stop")));
        StringBuilder archs = new StringBuilder();
        var rnd = new java.util.SplittableRandom(3);
        for (int i = 0; i < 24; i++) archs.append(i == 0 ? "" : ", ").append(Json.quote(io.wrcor.space.nb201.Nb201Space.INSTANCE.sample(rnd).toString()));
        CompletableFuture<JobsTest.Answer> slow = CompletableFuture.supplyAsync(() -> {
            try {
                return post(s, "/v1/score", "{\"archs\": [" + archs + "], \"channels\": 8, \"cells\": 2, \"batch\": 16, \"proxies\": [\"wrcor\"]}");
            } catch (Exception e) {
                throw new IllegalStateException(e);
            }
        });
        long until = System.nanoTime() + 30_000_000_000L;
        while (s.queued() == 0 && System.nanoTime() < until) Thread.sleep(5);
        assertTrue(s.queued() > 0, "the request was queued");
        Thread closing = Thread.ofPlatform().start(s::close);
        Thread.sleep(100);
        JobsTest.Answer during = call(s, "GET", "/v1/jobs", null);
        assertEquals(503, during.status(), during.text());
        assertEquals("the server is stopping", during.body().get("error"));
        assertEquals(503, call(s, "GET", "/v1/ready", null).status());
        JobsTest.Answer done = slow.get();
        assertEquals(200, done.status(), done.text());
        closing.join(60_000);
        assertTrue(!closing.isAlive(), "close() returned");
    }

    static String someArchs(int n, long seed) {
        StringBuilder archs = new StringBuilder();
        var rnd = new java.util.SplittableRandom(seed);
        for (int i = 0; i < n; i++) archs.append(i == 0 ? "" : ", ").append(Json.quote(io.wrcor.space.nb201.Nb201Space.INSTANCE.sample(rnd).toString()));
        return archs.toString();
    }

    /**
     * A score request whose client leaves: its answer starts after the probe time (1 s here), the
     * server notices the closed connection at its next write and drops the queued architectures; a
     * client that stays gets the rows after the leading spaces, as valid JSON.
     */
    @Test
    void theWorkOfAClientThatLeftIsDroppedAndOneThatStaysGetsItsRows() throws Exception {
        System.setProperty("wrcor.serve.probeSeconds", "1");
        Server s;
        try {
            s = new Server(cpu, Server.Options.loopback(tmp.resolve("gone")));
        } finally {
            System.clearProperty("wrcor.serve.probeSeconds");
        }
        try (s) {
            // enough work that a fast machine cannot finish it before the client has left (40 cells of 8 channels at batch 16 once could)
            String body = "{\"archs\": [" + someArchs(40, 5) + "], \"channels\": 16, \"cells\": 3, \"batch\": 64, \"proxies\": [\"wrcor\"]}";
            byte[] bytes = body.getBytes(java.nio.charset.StandardCharsets.UTF_8);
            try (java.net.Socket sock = new java.net.Socket("127.0.0.1", s.port())) {
                sock.setSoTimeout(30_000);
                OutputStream out = sock.getOutputStream();
                out.write(("POST /v1/score HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: " + bytes.length
                        + "\r\n\r\n").getBytes(java.nio.charset.StandardCharsets.US_ASCII));
                out.write(bytes);
                out.flush();
                java.io.InputStream in = sock.getInputStream();
                byte[] head = new byte[12];
                assertEquals(12, in.readNBytes(head, 0, 12));
                assertEquals("HTTP/1.1 200", new String(head, java.nio.charset.StandardCharsets.US_ASCII), "the answer started");
            } // the client leaves
            long until = System.nanoTime() + 30_000_000_000L;
            while ((s.queued() > 0 || !metric(s, "wrcor_clients_gone_total").equals("1")) && System.nanoTime() < until) Thread.sleep(50);
            assertEquals(0, s.queued(), "its queued architectures were dropped");
            assertEquals("1", metric(s, "wrcor_clients_gone_total"));
            long scored = Long.parseLong(metric(s, "wrcor_architectures_scored_total"));
            assertTrue(scored < 40, "not every architecture was scored after the client left: " + scored);
            // one that stays: leading spaces, then the rows
            JobsTest.Answer stays = post(s, "/v1/score", "{\"archs\": [" + someArchs(6, 6) + "], \"channels\": 8, \"cells\": 2, \"batch\": 16, \"proxies\": [\"wrcor\"]}");
            assertEquals(200, stays.status(), stays.text());
            assertEquals(6, ((List<?>) stays.body().get("results")).size(), stays.text());
        }
    }

    static String metric(Server s, String name) throws Exception {
        for (String line : call(s, "GET", "/v1/metrics", null).text().lines().toList()) if (line.startsWith(name + " ")) return line.substring(name.length() + 1);
        return "";
    }

    @Test
    void aJobWhoseResultsFileWasDamagedIsListedAsFailedWithTheReason() throws Exception {
        Path data = tmp.resolve("damaged");
        String id;
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            id = (String) job(s, "{\"kind\": \"score\", \"sample\": 2, \"proxies\": [\"params\"], " + SMALL + "}").get("id");
            JobsTest.await(s, id, "done");
        }
        Path dir = data.resolve("jobs").resolve(id);
        // as a server killed mid-job leaves it, and then a line of garbage in its results file
        Files.writeString(dir.resolve("job.json"), Files.readString(dir.resolve("job.json")).replace("\"state\": \"done\"", "\"state\": \"interrupted\""));
        Files.writeString(dir.resolve("scores.jsonl"), "this is not a row\n", java.nio.file.StandardOpenOption.APPEND);
        // and a job folder whose job.json is nested thousands deep
        Files.createDirectories(data.resolve("jobs").resolve("nested-job"));
        Files.writeString(data.resolve("jobs").resolve("nested-job").resolve("job.json"), "[".repeat(5000) + "]".repeat(5000));
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            assertEquals(0, s.resumedJobs());
            Map<String, Object> st = call(s, "GET", "/v1/jobs/" + id, null).body();
            assertEquals("failed", st.get("state"), st.toString());
            assertTrue(String.valueOf(st.get("error")).contains("cannot be resumed") && String.valueOf(st.get("error")).contains("not a wrcor result row"),
                    st.toString());
            Map<String, Object> nested = call(s, "GET", "/v1/jobs/nested-job", null).body();
            assertEquals("failed", nested.get("state"), nested.toString());
            assertTrue(String.valueOf(nested.get("error")).contains("nested deeper than"), nested.toString());
        }
    }
}
