package io.wrcor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.proxy.Proxy;
import io.wrcor.serve.Server;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpaces;
import io.wrcor.util.Json;
import java.lang.foreign.Arena;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/** {@code wrcor serve} on a free loopback port: the routes, the scores, bad requests answered 4xx with a JSON error, the token. */
class ServeTest {
    static final String A1 = "|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|";
    static final String A2 = "|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|";
    static {
        // read once per JVM when the first server starts; the build sets it for every test class (pom.xml), this for a run from an IDE
        if (System.getProperty("wrcor.serve.requestSeconds") == null) System.setProperty("wrcor.serve.requestSeconds", "2");
    }

    static FastCpuBackend cpu;
    static Server server;
    static final HttpClient client = HttpClient.newHttpClient();

    @org.junit.jupiter.api.io.TempDir
    static java.nio.file.Path dataDir;

    @BeforeAll
    static void start() throws Exception {
        cpu = new FastCpuBackend(1);
        server = new Server(cpu, Server.Options.loopback(dataDir).withLimits(new Server.Limits(4096, 3, 4, 64, 4, 1000)));
    }

    @AfterAll
    static void stop() {
        server.close();
        cpu.close();
    }

    record Answer(int status, Map<String, Object> body) {}

    static Answer call(Server s, String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path));
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        assertEquals("application/json", r.headers().firstValue("Content-Type").orElse(""), path);
        return new Answer(r.statusCode(), Json.parseObject(r.body()));
    }

    static String small(String archs, String extra) {
        return "{\"archs\": " + archs + ", \"channels\": 4, \"cells\": 1, \"batch\": 8" + extra + "}";
    }

    @Test
    void healthAnswersWithTheBackend() throws Exception {
        Answer a = call(server, "GET", "/v1/health", null);
        assertEquals(200, a.status());
        assertEquals("ok", a.body().get("status"));
        assertTrue(((String) a.body().get("backend")).startsWith("cpu"));
    }

    @Test
    @SuppressWarnings("unchecked")
    void scoreAnswersTheEngineScoresForEachArchitectureInOrder() throws Exception {
        Answer a = call(server, "POST", "/v1/score", small("[\"" + A1 + "\", \"" + A2 + "\"]", ", \"proxies\": [\"wrcor\", \"naswot\"], \"seed\": 3"),
                "Content-Type", "application/json");
        assertEquals(200, a.status(), String.valueOf(a.body()));
        List<Map<String, Object>> rows = (List<Map<String, Object>>) a.body().get("results");
        assertEquals(List.of(A1, A2), rows.stream().map(r -> r.get("arch")).toList());
        try (Arena arena = Arena.ofShared(); FastCpuBackend be = new FastCpuBackend(1);
             Engine e = new Engine(be, SearchSpaces.get("nb201"), new NetSize(4, 1, 10, 32))) {
            Batch batch = Cifar10.synthetic(8, 10, 32, 3, arena);
            for (int i = 0; i < 2; i++) {
                var want = e.score(SearchSpaces.get("nb201").parse(i == 0 ? A1 : A2), 3, batch, List.of(Proxy.WRCOR, Proxy.NASWOT));
                Map<String, Object> scores = (Map<String, Object>) rows.get(i).get("scores");
                assertEquals(want.score(Proxy.WRCOR), Json.toDouble(scores.get("wrcor")), 0.0);
                assertEquals(want.score(Proxy.NASWOT), Json.toDouble(scores.get("naswot")), 0.0);
            }
        }
    }

    /** Each bad request: its status, and a word the error must contain. */
    @Test
    void badRequestsAreAnsweredWithAJsonErrorNamingTheProblemAndTheServerKeepsServing() throws Exception {
        String big = "[\"" + A1 + "\"" + (", \"" + A1 + "\"").repeat(60) + "]";
        Object[][] cases = {
                {"POST", "/v1/score", "{\"archs\": [", 400, "JSON"},
                {"POST", "/v1/score", "[1, 2]", 400, "JSON object"},
                {"POST", "/v1/score", "", 400, "JSON"},
                {"POST", "/v1/score", small("[\"" + A1 + "\"]", ", \"colour\": 1"), 400, "colour"},
                {"POST", "/v1/score", "{\"channels\": 4}", 400, "archs"},
                {"POST", "/v1/score", small("\"" + A1 + "\"", ""), 400, "archs"},
                {"POST", "/v1/score", small("[]", ""), 400, "empty"},
                {"POST", "/v1/score", small("[7]", ""), 400, "archs[0]"},
                {"POST", "/v1/score", small("[\"|nor_conv_3x3~0|+\"]", ""), 400, "archs[0]"},
                {"POST", "/v1/score", small("[\"" + A1.replace("avg_pool_3x3", "max_pool_9x9") + "\"]", ""), 400, "max_pool_9x9"},
                {"POST", "/v1/score", small("[\"" + A1 + "\"]", ", \"proxies\": [\"wrcorr\"]"), 400, "wrcorr"},
                {"POST", "/v1/score", small("[\"" + A1 + "\"]", ", \"proxies\": \"wrcor\""), 400, "proxies"},
                {"POST", "/v1/score", small("[\"" + A1 + "\"]", ", \"proxies\": []"), 400, "proxies"},
                {"POST", "/v1/score", small("[\"" + A1 + "\"]", ", \"space\": \"nb999\""), 400, "nb999"},
                {"POST", "/v1/score", small("[\"" + A1 + "\"]", ", \"space\": 201"), 400, "space"},
                {"POST", "/v1/score", "{\"archs\": [\"" + A1 + "\"], \"batch\": -4}", 400, "batch"},
                {"POST", "/v1/score", "{\"archs\": [\"" + A1 + "\"], \"batch\": \"64\"}", 400, "batch"},
                {"POST", "/v1/score", "{\"archs\": [\"" + A1 + "\"], \"batch\": 8.5}", 400, "batch"},
                {"POST", "/v1/score", "{\"archs\": [\"" + A1 + "\"], \"batch\": 100000}", 400, "batch"},
                {"POST", "/v1/score", "{\"archs\": [\"" + A1 + "\"], \"seed\": -1}", 400, "seed"},
                {"POST", "/v1/score", "{\"archs\": [\"" + A1 + "\"], \"channels\": 0}", 400, "channels"},
                {"POST", "/v1/score", small("[\"" + A1 + "\", \"" + A1 + "\", \"" + A1 + "\", \"" + A1 + "\"]", ""), 413, "limit"},
                {"POST", "/v1/score", small(big, ""), 413, "limit"},
                {"GET", "/v1/score", null, 405, "POST"},
                {"DELETE", "/v1/health", null, 405, "GET"},
                {"GET", "/v2/score", null, 404, "/v2/score"},
                {"GET", "/../../etc/passwd", null, 404, "no route"},
        };
        for (Object[] c : cases) {
            Answer a = call(server, (String) c[0], (String) c[1], (String) c[2], "Content-Type", "application/json");
            String what = c[0] + " " + c[1] + " " + c[2];
            assertEquals((int) c[3], a.status(), what + " -> " + a.body());
            String error = String.valueOf(a.body().get("error"));
            assertTrue(error.contains((String) c[4]), what + ": the error should mention '" + c[4] + "': " + error);
        }
        Answer wrongType = call(server, "POST", "/v1/score", small("[\"" + A1 + "\"]", ""), "Content-Type", "text/plain");
        assertEquals(415, wrongType.status());
        assertEquals(200, call(server, "GET", "/v1/health", null).status(), "still serving after " + cases.length + " bad requests");
    }

    /** The served OpenAPI document describes exactly the routes the server answers, with their methods; each answers. */
    @Test
    @SuppressWarnings("unchecked")
    void theOpenApiDocumentMatchesTheRealRoutes() throws Exception {
        Answer a = call(server, "GET", "/v1/openapi.json", null);
        assertEquals(200, a.status());
        Map<String, Object> paths = (Map<String, Object>) a.body().get("paths");
        java.util.Set<String> documented = new java.util.TreeSet<>();
        for (var e : paths.entrySet()) {
            for (String method : ((Map<String, Object>) e.getValue()).keySet()) documented.add(method.toUpperCase() + " " + e.getKey());
        }
        java.util.Set<String> real = new java.util.TreeSet<>();
        for (Server.Route r : Server.ROUTES) real.add(r.method() + " " + r.path());
        assertEquals(real, documented);
        // a job to address the {id} routes with (cancelled by the DELETE route below)
        // large enough that it cannot finish before the DELETE below, however fast the machine
        Answer job = call(server, "POST", "/v1/jobs", "{\"kind\": \"score\", \"sample\": 1000, \"channels\": 4, \"cells\": 1, \"batch\": 8, \"seed\": 9}",
                "Content-Type", "application/json");
        assertEquals(201, job.status(), String.valueOf(job.body()));
        String id = (String) job.body().get("id");
        List<String> order = real.stream().sorted(java.util.Comparator.comparing((String r) -> r.startsWith("DELETE"))).toList();
        for (String r : order) {
            String method = r.substring(0, r.indexOf(' ')), path = r.substring(r.indexOf(' ') + 1).replace("{id}", id);
            HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path));
            String body = !method.equals("POST") ? null : path.endsWith("/jobs")
                    ? "{\"kind\": \"score\", \"archs\": [\"" + A1 + "\"], \"channels\": 4, \"cells\": 1, \"batch\": 8}" : small("[\"" + A1 + "\"]", "");
            b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body)).header("Content-Type", "application/json");
            int status = client.send(b.build(), HttpResponse.BodyHandlers.ofString()).statusCode();
            assertEquals(path.endsWith("/jobs") && method.equals("POST") ? 201 : 200, status, r);
            String other = method.equals("PATCH") ? "GET" : "PATCH";
            HttpRequest wrong = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + path))
                    .method(other, HttpRequest.BodyPublishers.noBody()).build();
            assertEquals(405, client.send(wrong, HttpResponse.BodyHandlers.ofString()).statusCode(), other + " " + path);
        }
    }

    @Test
    void metricsAreInPrometheusTextFormatAndCountWhatHappened() throws Exception {
        call(server, "POST", "/v1/score", small("[\"" + A1 + "\"]", ""), "Content-Type", "application/json");
        call(server, "GET", "/v1/nothing", null);
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + server.port() + "/v1/metrics")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(200, r.statusCode());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/plain"));
        String m = r.body();
        for (String line : m.lines().toList()) {
            assertTrue(line.startsWith("# HELP ") || line.startsWith("# TYPE ") || line.matches("wrcor_[a-z_]+(\\{(status|state)=\"[a-z0-9]+\"\\})? [0-9.eE+-]+"), line);
        }
        assertTrue(m.contains("wrcor_errors_total{status=\"404\"}"), m);
        long scored = Long.parseLong(m.lines().filter(l -> l.startsWith("wrcor_architectures_scored_total ")).findFirst().orElseThrow().split(" ")[1]);
        assertTrue(scored >= 1, m);
        Answer b = call(server, "GET", "/v1/backends", null);
        assertEquals(200, b.status());
        assertEquals("serving", ((Map<?, ?>) b.body().get("backends")).get("cpu"));
        assertEquals(200, call(server, "GET", "/v1/ready", null).status());
    }

    /** The Python client's example (standard library only) against this server: scores, the predictor wrapper, a refusal. */
    @Test
    @SuppressWarnings("unchecked")
    void thePythonClientExampleRunsAgainstTheRealServer() throws Exception {
        java.nio.file.Path python = java.nio.file.Path.of("/usr/bin/python3");
        if (!java.nio.file.Files.isExecutable(python)) {
            if ("true".equals(System.getenv("CI"))) throw new AssertionError("CI installs python3, yet /usr/bin/python3 is missing");
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "no /usr/bin/python3");
        }
        Process p = new ProcessBuilder(python.toString(), "clients/python/example.py", "--url", "http://127.0.0.1:" + server.port(), "--small")
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        Answer a = call(server, "POST", "/v1/score", small("[\"" + A1 + "\", \"" + A2 + "\"]", ", \"proxies\": [\"wrcor\", \"naswot\"]"),
                "Content-Type", "application/json");
        List<Map<String, Object>> rows = (List<Map<String, Object>>) a.body().get("results");
        for (Map<String, Object> row : rows) {
            Map<String, Object> sc = (Map<String, Object>) row.get("scores");
            String line = String.format(java.util.Locale.ROOT, "%s  wrcor %.6f  naswot %.6f", row.get("arch"), Json.toDouble(sc.get("wrcor")), Json.toDouble(sc.get("naswot")));
            assertTrue(out.contains(line), "expected '" + line + "' in:\n" + out);
        }
        assertTrue(out.contains("health: ok"), out);
        assertTrue(out.contains(String.format(java.util.Locale.ROOT, "predictor.query: %.6f", Json.toDouble(((Map<String, Object>) rows.getFirst().get("scores")).get("wrcor")))), out);
        assertTrue(out.contains("refused: 400") && out.contains("not_an_op"), out);
        assertTrue(out.contains("job done: 10 of 10 scored"), out);
    }

    /** A client that sends half a body and stalls is cut off; the server keeps answering others meanwhile and after. */
    @Test
    void aStalledPartialRequestDoesNotHangTheServer() throws Exception {
        try (java.net.Socket slow = new java.net.Socket("127.0.0.1", server.port())) {
            slow.getOutputStream().write(("POST /v1/score HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 500\r\n\r\n{\"archs\": [")
                    .getBytes(java.nio.charset.StandardCharsets.US_ASCII));
            slow.getOutputStream().flush();
            assertEquals(200, call(server, "GET", "/v1/health", null).status(), "others are answered while one stalls");
            slow.setSoTimeout(20_000);
            long t0 = System.nanoTime();
            int b = slow.getInputStream().read(); // the server closes the connection (or answers an error) once the limit passes
            double waited = (System.nanoTime() - t0) / 1e9;
            assertTrue(waited < 15, "cut off after " + waited + " s (byte " + b + ")");
        }
        assertEquals(200, call(server, "GET", "/v1/health", null).status());
    }

    @Test
    void serveRefusesToLeaveLoopbackWithoutATokenAndNamesABadTokenFile() {
        CliTest.Run r = CliTest.run("serve", "--host", "0.0.0.0", "--port", "0");
        CliTest.assertBadInput(r, "--token-file");
        CliTest.assertBadInput(CliTest.run("serve", "--port", "0", "--token-file", "/nonexistent/token"), "/nonexistent/token");
        CliTest.assertBadInput(CliTest.run("serve", "--port", "70000"), "--port");
    }

    @Test
    void aTokenIsRequiredOnEveryRequestWhenGivenAndToLeaveLoopback() throws Exception {
        try (FastCpuBackend be = new FastCpuBackend(1); Server s = new Server(be, Server.Options.loopback(dataDir.resolve("token")).withToken("s3cret-token-0123456789"))) {
            assertEquals(401, call(s, "GET", "/v1/health", null).status());
            assertEquals(401, call(s, "GET", "/v1/health", null, "Authorization", "Bearer wrong").status());
            assertEquals(200, call(s, "GET", "/v1/health", null, "Authorization", "Bearer s3cret-token-0123456789").status());
        }
        try (FastCpuBackend be = new FastCpuBackend(1)) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> new Server(be, Server.Options.loopback(dataDir.resolve("open")).withHost("0.0.0.0")));
            assertTrue(e.getMessage().contains("--token-file"), e.getMessage());
        }
    }

    /** {@code wrcor serve} as its own process on a free port; its stderr is read for the port. */
    record Proc(Process process, int port, StringBuilder err) {}

    static Proc serveProcess(java.nio.file.Path data) throws Exception {
        String javaBin = java.nio.file.Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(javaBin, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"), "io.wrcor.cli.Main",
                "serve", "--port", "0", "--threads", "1", "--data-dir", data.toString()).redirectErrorStream(true).start();
        StringBuilder err = new StringBuilder();
        java.io.BufferedReader r = new java.io.BufferedReader(new java.io.InputStreamReader(p.getInputStream(), java.nio.charset.StandardCharsets.UTF_8));
        java.util.concurrent.CompletableFuture<Integer> port = new java.util.concurrent.CompletableFuture<>();
        Thread.ofPlatform().daemon(true).start(() -> {
            try {
                for (String line; (line = r.readLine()) != null; ) {
                    synchronized (err) {
                        err.append(line).append('\n');
                    }
                    java.util.regex.Matcher m = java.util.regex.Pattern.compile("serving on http://127.0.0.1:(\\d+)").matcher(line);
                    if (m.find()) port.complete(Integer.parseInt(m.group(1)));
                }
            } catch (java.io.IOException ignored) {
                // the process ended
            }
            port.completeExceptionally(new AssertionError("serve ended without serving: " + err));
        });
        return new Proc(p, port.get(60, java.util.concurrent.TimeUnit.SECONDS), err);
    }

    static Map<String, Object> get(int port, String path) throws Exception {
        HttpResponse<String> r = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path)).build(), HttpResponse.BodyHandlers.ofString());
        return Json.parseObject(r.body());
    }

    /**
     * SIGTERM stops the real server gracefully (exit 0) with its running job checkpointed; the
     * next server on the same data directory resumes the job and computes each architecture once.
     */
    @Test
    void sigtermStopsGracefullyAndTheNextServerResumesTheJob() throws Exception {
        java.nio.file.Path data = dataDir.resolve("sigterm");
        Proc first = serveProcess(data);
        HttpResponse<String> created = client.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + first.port() + "/v1/jobs"))
                .header("Content-Type", "application/json")
                .POST(HttpRequest.BodyPublishers.ofString("{\"kind\": \"score\", \"sample\": 30, \"channels\": 4, \"cells\": 1, \"batch\": 8}")).build(),
                HttpResponse.BodyHandlers.ofString());
        assertEquals(201, created.statusCode(), created.body());
        String id = (String) Json.parseObject(created.body()).get("id");
        long until = System.nanoTime() + 60_000_000_000L;
        while (((Number) get(first.port(), "/v1/jobs/" + id).get("done")).intValue() < 2 && System.nanoTime() < until) Thread.sleep(20);
        first.process().destroy(); // SIGTERM
        assertTrue(first.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS), "still running after SIGTERM: " + first.err());
        assertEquals(0, first.process().exitValue(), first.err().toString());
        java.nio.file.Path jobDir = data.resolve("jobs").resolve(id);
        assertEquals("interrupted", Json.parseObject(java.nio.file.Files.readString(jobDir.resolve("job.json"))).get("state"), first.err().toString());

        Proc second = serveProcess(data);
        try {
            until = System.nanoTime() + 120_000_000_000L;
            Map<String, Object> st;
            do {
                st = get(second.port(), "/v1/jobs/" + id);
                Thread.sleep(50);
            } while (!"done".equals(st.get("state")) && System.nanoTime() < until);
            assertEquals("done", st.get("state"), st.toString());
            assertTrue(((Number) st.get("reused")).intValue() >= 2, st.toString());
            synchronized (second.err()) {
                assertTrue(second.err().toString().contains("resumed 1 unfinished jobs"), second.err().toString());
            }
            Map<String, Integer> perArch = new java.util.HashMap<>();
            for (String line : java.nio.file.Files.readAllLines(jobDir.resolve("scores.jsonl"))) perArch.merge((String) Json.parseObject(line).get("arch"), 1, Integer::sum);
            assertEquals(30, perArch.size());
            assertTrue(perArch.values().stream().allMatch(n -> n == 1), "computed twice: " + perArch);
        } finally {
            second.process().destroy();
            assertTrue(second.process().waitFor(60, java.util.concurrent.TimeUnit.SECONDS));
            assertEquals(0, second.process().exitValue(), second.err().toString());
        }
    }
}
