package io.wrcor.serve;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.util.Json;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Jobs of {@code wrcor serve} against the real server on a free loopback port: a score job's rows
 * streamed and stored once, cancel, restart and resume without recomputing, correlate and search
 * jobs, paths that try to leave the data directory, and the fair share between clients.
 */
class JobsTest {
    static final HttpClient client = HttpClient.newHttpClient();
    static final String SMALL = "\"channels\": 4, \"cells\": 1, \"batch\": 8";
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

    record Answer(int status, Map<String, Object> body, String text) {}

    static Answer call(Server s, String method, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path));
        for (int i = 0; i < headers.length; i += 2) b.header(headers[i], headers[i + 1]);
        b.method(method, body == null ? HttpRequest.BodyPublishers.noBody() : HttpRequest.BodyPublishers.ofString(body));
        HttpResponse<String> r = client.send(b.build(), HttpResponse.BodyHandlers.ofString());
        boolean json = r.headers().firstValue("Content-Type").orElse("").equals("application/json");
        return new Answer(r.statusCode(), json ? Json.parseObject(r.body()) : null, r.body());
    }

    /** Polls the job until its state is one of {@code states} (60 s at most). */
    static Map<String, Object> await(Server s, String id, String... states) throws Exception {
        long until = System.nanoTime() + 120_000_000_000L;
        Map<String, Object> st;
        do {
            st = call(s, "GET", "/v1/jobs/" + id, null).body();
            if (List.of(states).contains((String) st.get("state"))) return st;
            Thread.sleep(50);
        } while (System.nanoTime() < until);
        throw new AssertionError("job " + id + " still " + st);
    }

    static List<Map<String, Object>> rows(String ndjson) {
        List<Map<String, Object>> out = new ArrayList<>();
        for (String line : ndjson.lines().toList()) out.add(Json.parseObject(line));
        return out;
    }

    /** Lines of a results file per architecture (each must be computed, so appended, once). */
    static Map<String, Integer> linesPerArch(Path file) throws Exception {
        Map<String, Integer> n = new HashMap<>();
        for (String line : Files.readAllLines(file)) n.merge((String) Json.parseObject(line).get("arch"), 1, Integer::sum);
        return n;
    }

    @Test
    @SuppressWarnings("unchecked")
    void aScoreJobStreamsItsRowsStoresEachScoreOnceAndAgreesWithTheScoreRoute() throws Exception {
        Path data = tmp.resolve("score");
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            Map<String, Object> j = job(s, "{\"kind\": \"score\", \"sample\": 6, \"seed\": 4, \"proxies\": [\"wrcor\", \"naswot\"], " + SMALL + "}");
            String id = (String) j.get("id");
            assertEquals(6, ((Number) j.get("total")).intValue());
            // follow=true stays open until the job ends, each row sent as it comes
            Answer follow = call(s, "GET", "/v1/jobs/" + id + "/results?follow=true", null);
            assertEquals(200, follow.status());
            List<Map<String, Object>> streamed = rows(follow.text());
            assertEquals(6, streamed.size(), follow.text());
            Map<String, Object> st = await(s, id, "done");
            assertEquals(1.0, ((Number) st.get("progress")).doubleValue());
            assertEquals(6, ((Number) st.get("computed")).intValue());
            // the same architectures through POST /v1/score give the same scores
            List<String> archs = streamed.stream().map(r -> (String) r.get("arch")).toList();
            Answer direct = call(s, "POST", "/v1/score", "{\"archs\": " + Json.write(archs) + ", \"seed\": 4, \"proxies\": [\"wrcor\", \"naswot\"], " + SMALL + "}",
                    "Content-Type", "application/json");
            List<Map<String, Object>> rows = (List<Map<String, Object>>) direct.body().get("results");
            for (int i = 0; i < 6; i++) {
                assertEquals(rows.get(i).get("scores"), streamed.get(i).get("scores"), archs.get(i));
                assertEquals(rows.get(i).get("run"), streamed.get(i).get("run"));
            }
            // from=N skips rows; the results file holds one line per architecture
            assertEquals(2, rows(call(s, "GET", "/v1/jobs/" + id + "/results?from=4", null).text()).size());
            Map<String, Integer> lines = linesPerArch(data.resolve((String) st.get("results_file")));
            assertEquals(6, lines.size());
            assertTrue(lines.values().stream().allMatch(n -> n == 1), lines.toString());
            // a second job on the same out file reuses every stored score
            Map<String, Object> j2 = job(s, "{\"kind\": \"score\", \"archs\": " + Json.write(archs) + ", \"seed\": 4, \"proxies\": [\"naswot\"], "
                    + "\"out\": \"" + st.get("results_file") + "\", " + SMALL + "}");
            Map<String, Object> st2 = await(s, (String) j2.get("id"), "done");
            assertEquals(6, ((Number) st2.get("reused")).intValue(), st2.toString());
            assertEquals(0, ((Number) st2.get("computed")).intValue());
            Answer list = call(s, "GET", "/v1/jobs", null);
            assertEquals(2, ((List<?>) list.body().get("jobs")).size());
        }
    }

    @Test
    void cancelDropsTheQueuedArchitecturesKeepsWhatWasScoredAndCannotCancelTwice() throws Exception {
        Path data = tmp.resolve("cancel");
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            String id = (String) job(s, "{\"kind\": \"score\", \"sample\": 400, \"seed\": 1, " + SMALL + "}").get("id");
            Answer c = call(s, "DELETE", "/v1/jobs/" + id, null);
            assertEquals(200, c.status(), c.text());
            assertEquals("cancelled", c.body().get("state"));
            Answer again = call(s, "DELETE", "/v1/jobs/" + id, null);
            assertEquals(409, again.status());
            assertTrue(((String) again.body().get("error")).contains("cancelled"), again.text());
            // the lane stops after the architecture it was scoring: the queue empties, the job stays cancelled
            long until = System.nanoTime() + 30_000_000_000L;
            while (s.queued() > 0 && System.nanoTime() < until) Thread.sleep(20);
            assertEquals(0, s.queued());
            Thread.sleep(300);
            Map<String, Object> st = call(s, "GET", "/v1/jobs/" + id, null).body();
            assertEquals("cancelled", st.get("state"));
            int done = ((Number) st.get("done")).intValue();
            assertTrue(done < 400, st.toString());
            Path file = data.resolve((String) st.get("results_file"));
            assertEquals(done, Files.exists(file) ? Files.readAllLines(file).size() : 0, "every architecture scored is stored");
            assertEquals(404, call(s, "GET", "/v1/jobs/nope", null).status());
            assertEquals(404, call(s, "DELETE", "/v1/jobs/nope", null).status());
        }
    }

    /** A server stopped mid-job leaves it interrupted; the next one on the same data directory resumes it and recomputes nothing stored. */
    @Test
    void aRestartedServerResumesTheUnfinishedJobWithoutRecomputingAStoredScore() throws Exception {
        Path data = tmp.resolve("resume");
        String id;
        int before;
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            id = (String) job(s, "{\"kind\": \"score\", \"sample\": 40, \"seed\": 2, \"proxies\": [\"wrcor\", \"synflow\"], " + SMALL + "}").get("id");
            long until = System.nanoTime() + 60_000_000_000L;
            do {
                before = ((Number) call(s, "GET", "/v1/jobs/" + id, null).body().get("done")).intValue();
                Thread.sleep(20);
            } while (before < 3 && System.nanoTime() < until);
            assertTrue(before >= 3 && before < 40, "stopped after " + before);
        }
        Map<String, Object> file = Json.parseObject(Files.readString(data.resolve("jobs").resolve(id).resolve("job.json")));
        assertEquals("interrupted", file.get("state"));
        int stored = Files.readAllLines(data.resolve("jobs").resolve(id).resolve("scores.jsonl")).size();
        assertTrue(stored >= before, stored + " stored, " + before + " seen done");
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            assertEquals(1, s.resumedJobs());
            Map<String, Object> st = await(s, id, "done");
            assertEquals(40, ((Number) st.get("done")).intValue());
            assertEquals(stored, ((Number) st.get("reused")).intValue(), st.toString());
            assertEquals(40 - stored, ((Number) st.get("computed")).intValue(), st.toString());
            assertEquals(40, rows(call(s, "GET", "/v1/jobs/" + id + "/results", null).text()).size());
        }
        Map<String, Integer> lines = linesPerArch(data.resolve("jobs").resolve(id).resolve("scores.jsonl"));
        assertEquals(40, lines.size());
        assertTrue(lines.values().stream().allMatch(n -> n == 1), "an architecture computed twice: " + lines);
        // a finished job is listed after a restart, not run again
        try (Server s = new Server(cpu, Server.Options.loopback(data))) {
            assertEquals(0, s.resumedJobs());
            assertEquals("done", call(s, "GET", "/v1/jobs/" + id, null).body().get("state"));
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aSearchJobReportsEachStepAndTheArchitectureFound() throws Exception {
        try (Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("search")))) {
            String id = (String) job(s, "{\"kind\": \"search\", \"algo\": \"random\", \"n\": 5, \"objective\": \"wrcor\", " + SMALL + "}").get("id");
            Map<String, Object> st = await(s, id, "done", "failed");
            assertEquals("done", st.get("state"), st.toString());
            Map<String, Object> result = (Map<String, Object>) st.get("result");
            assertNotNull(result.get("found"));
            List<Map<String, Object>> steps = rows(call(s, "GET", "/v1/jobs/" + id + "/results", null).text());
            assertEquals(5, steps.size());
            double best = Double.NEGATIVE_INFINITY;
            for (Map<String, Object> r : steps) best = Math.max(best, Json.toDouble(((Map<String, Object>) r.get("scores")).get("wrcor")));
            assertEquals(best, Json.toDouble(((Map<String, Object>) result.get("scores")).get("wrcor")), "random search keeps the best wrcor");
            assertEquals(result.get("found"), steps.getLast().get("best"));
        }
    }

    /** A soft-ensemble objective is calibrated as on the command line: the search's best is the maximum of the calibrated objective. */
    @Test
    @SuppressWarnings("unchecked")
    void aSearchJobWithALogRankObjective() throws Exception {
        try (Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("search-soft")))) {
            String id = (String) job(s, "{\"kind\": \"search\", \"algo\": \"random\", \"n\": 4, \"objective\": \"naswot,params@log-rank\", " + SMALL + "}").get("id");
            Map<String, Object> st = await(s, id, "done", "failed");
            assertEquals("done", st.get("state"), st.toString());
            assertEquals(4, rows(call(s, "GET", "/v1/jobs/" + id + "/results", null).text()).size());
            assertTrue(((Number) st.get("computed")).intValue() >= 100, "the 100 reference architectures were scored: " + st);
        }
    }

    @Test
    @SuppressWarnings("unchecked")
    void aCorrelateJobGivesRankCorrelationsAgainstTheServersAccuracyTable() throws Exception {
        Path gt = Path.of("..", "shared", "data", "nb201-accuracy.csv");
        org.junit.jupiter.api.Assumptions.assumeTrue(Files.isRegularFile(gt), "no NAS-Bench-201 accuracy table in ../shared/data");
        try (Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("correlate")).withGroundTruth(space -> gt))) {
            String id = (String) job(s, "{\"kind\": \"correlate\", \"sample\": 6, \"proxies\": [\"params\", \"wrcor\"], " + SMALL + "}").get("id");
            Map<String, Object> st = await(s, id, "done", "failed");
            assertEquals("done", st.get("state"), st.toString());
            Map<String, Object> corr = (Map<String, Object>) ((Map<String, Object>) st.get("result")).get("correlations");
            Map<String, Object> params = (Map<String, Object>) corr.get("params");
            assertEquals(3, params.size(), "one entry per dataset: " + params);
            for (Object v : params.values()) {
                double rho = Json.toDouble(((Map<String, Object>) v).get("spearman"));
                assertTrue(rho >= -1 && rho <= 1, v.toString());
            }
            assertEquals(6, rows(call(s, "GET", "/v1/jobs/" + id + "/results", null).text()).size());
        }
    }

    /** Job requests that are wrong, or try to reach outside the data directory, are refused before anything is written. */
    @Test
    void badJobRequestsAndPathTricksAreRefusedWithAJsonErrorNamingTheProblem() throws Exception {
        Path data = tmp.resolve("tricks");
        Path outside = tmp.resolve("outside");
        Files.createDirectories(outside);
        Files.writeString(outside.resolve("secret.bin"), "x");
        Files.createDirectories(data);
        Files.createSymbolicLink(data.resolve("link"), outside);
        try (Server s = new Server(cpu, Server.Options.loopback(data).withLimits(new Server.Limits(1 << 20, 8, 8, 64, 1, 50)))) {
            String a = "\"archs\": [\"|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|\"]";
            Object[][] cases = {
                    {"{" + a + "}", 400, "kind"},
                    {"{\"kind\": \"train\", " + a + "}", 400, "train"},
                    {"{\"kind\": \"score\"}", 400, "archs"},
                    {"{\"kind\": \"score\", " + a + ", \"sample\": 3}", 400, "not both"},
                    {"{\"kind\": \"score\", \"sample\": 0}", 400, "sample"},
                    {"{\"kind\": \"score\", \"sample\": 51}", 400, "sample"},
                    {"{\"kind\": \"score\", " + a + ", \"algo\": \"random\"}", 400, "algo"},
                    {"{\"kind\": \"search\", \"proxies\": [\"wrcor\"]}", 400, "objective"},
                    {"{\"kind\": \"search\", \"algo\": \"annealing\"}", 400, "annealing"},
                    {"{\"kind\": \"search\", \"objective\": \"wrcor+nope\"}", 400, "nope"},
                    {"{\"kind\": \"score\", " + a + ", \"out\": \"../escape.jsonl\"}", 400, ".."},
                    {"{\"kind\": \"score\", " + a + ", \"out\": \"/tmp/escape.jsonl\"}", 400, "relative"},
                    {"{\"kind\": \"score\", " + a + ", \"out\": \"link/escape.jsonl\"}", 400, "outside"},
                    {"{\"kind\": \"score\", " + a + ", \"out\": \"scores.csv\"}", 400, ".jsonl"},
                    {"{\"kind\": \"score\", " + a + ", \"out\": \"\"}", 400, "relative"},
                    {"{\"kind\": \"score\", " + a + ", \"data\": \"../../etc/passwd\"}", 400, ".."},
                    {"{\"kind\": \"score\", " + a + ", \"data\": \"link/secret.bin\"}", 400, "outside"},
                    {"{\"kind\": \"score\", " + a + ", \"data\": \"missing.bin\"}", 400, "does not exist"},
                    {"{\"kind\": \"correlate\", \"gt\": \"/etc/passwd\"}", 400, "relative"},
                    {"{\"kind\": \"correlate\", \"gt\": \"none.csv\"}", 400, "does not exist"},
                    {"{\"kind\": \"correlate\"}", 400, "gt"},
                    {"{\"kind\": \"score\", " + a + ", \"colour\": 1}", 400, "colour"},
                    {"{\"kind\": 7}", 400, "kind"},
            };
            for (Object[] c : cases) {
                Answer r = call(s, "POST", "/v1/jobs", (String) c[0], "Content-Type", "application/json");
                assertEquals((int) c[1], r.status(), c[0] + " -> " + r.text());
                String error = String.valueOf(r.body().get("error"));
                assertTrue(error.contains((String) c[2]), c[0] + ": the error should mention '" + c[2] + "': " + error);
                assertTrue(!error.contains(tmp.toString()), "no server paths in errors: " + error);
            }
            try (var files = Files.list(data.resolve("jobs"))) {
                assertEquals(0, files.count(), "nothing written for a refused job");
            }
            assertTrue(!Files.exists(tmp.resolve("escape.jsonl")) && !Files.exists(outside.resolve("escape.jsonl")));
            // one unfinished job is the limit here: a second is 429
            String first = (String) job(s, "{\"kind\": \"score\", \"sample\": 50, " + SMALL + "}").get("id");
            Answer second = call(s, "POST", "/v1/jobs", "{\"kind\": \"score\", \"sample\": 2, " + SMALL + "}", "Content-Type", "application/json");
            assertEquals(429, second.status(), second.text());
            assertEquals(400, call(s, "GET", "/v1/jobs/" + first + "/results?from=-1", null).status());
            assertEquals(400, call(s, "GET", "/v1/jobs/" + first + "/results?follow=maybe", null).status());
            assertEquals(400, call(s, "GET", "/v1/jobs/" + first + "/results?colour=1", null).status());
            assertEquals(400, call(s, "GET", "/v1/health", null, "X-Client-Id", "bad id!").status());
            assertEquals(200, call(s, "DELETE", "/v1/jobs/" + first, null).status());
            assertEquals(200, call(s, "GET", "/v1/health", null).status(), "still serving");
        }
    }

    /** A big job of one client does not hold back another client's small request: the lanes take one architecture per client in turn. */
    @Test
    void aSmallRequestOfAnotherClientIsNotQueuedBehindABigJob() throws Exception {
        try (Server s = new Server(cpu, Server.Options.loopback(tmp.resolve("fair")))) {
            String id = (String) job(s, "{\"kind\": \"score\", \"sample\": 60, \"seed\": 3, " + SMALL + "}", "X-Client-Id", "big").get("id");
            Answer small = call(s, "POST", "/v1/score", "{\"archs\": [\"|nor_conv_1x1~0|+|skip_connect~0|nor_conv_3x3~1|+|avg_pool_3x3~0|none~1|nor_conv_1x1~2|\"], "
                    + SMALL + "}", "Content-Type", "application/json", "X-Client-Id", "small");
            assertEquals(200, small.status(), small.text());
            int done = ((Number) call(s, "GET", "/v1/jobs/" + id, null).body().get("done")).intValue();
            assertTrue(done < 30, "the small request waited for " + done + " of the job's 60 architectures");
            call(s, "DELETE", "/v1/jobs/" + id, null);
        }
    }

    /** With two lanes (--in-flight 2) a job's scores are those of one lane, each architecture stored once. */
    @Test
    void twoLanesScoreAJobAsOneLaneDoes() throws Exception {
        String req = "{\"kind\": \"score\", \"sample\": 8, \"seed\": 5, \"proxies\": [\"wrcor\", \"snip\"], " + SMALL + "}";
        Map<String, Map<String, Object>> one = new HashMap<>(), two = new HashMap<>();
        for (int lanes : new int[]{1, 2}) {
            Path data = tmp.resolve("lanes" + lanes);
            try (Server s = new Server(cpu, Server.Options.loopback(data).withInFlight(lanes))) {
                assertEquals(lanes, ((Number) call(s, "GET", "/v1/health", null).body().get("lanes")).intValue());
                String id = (String) job(s, req).get("id");
                assertEquals("done", await(s, id, "done", "failed").get("state"));
                for (Map<String, Object> r : rows(call(s, "GET", "/v1/jobs/" + id + "/results", null).text())) {
                    (lanes == 1 ? one : two).put((String) r.get("arch"), r);
                }
                assertTrue(linesPerArch(data.resolve("jobs").resolve(id).resolve("scores.jsonl")).values().stream().allMatch(n -> n == 1));
            }
        }
        assertEquals(8, one.size());
        assertEquals(one.keySet(), two.keySet());
        for (String a : one.keySet()) assertEquals(one.get(a).get("scores"), two.get(a).get("scores"), a);
    }

    static Map<String, Object> job(Server s, String body, String... headers) throws Exception {
        String[] h = new String[headers.length + 2];
        h[0] = "Content-Type";
        h[1] = "application/json";
        System.arraycopy(headers, 0, h, 2, headers.length);
        Answer a = call(s, "POST", "/v1/jobs", body, h);
        assertEquals(201, a.status(), a.text());
        return a.body();
    }
}
