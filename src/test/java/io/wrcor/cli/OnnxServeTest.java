package io.wrcor.cli;

import static io.wrcor.cli.ServeTest.call;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.serve.Server;
import io.wrcor.util.Json;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * POST /v1/score with an ONNX model (base64 in the body, or a path in the data directory) answers the
 * row that score --onnx prints for the same model and settings, scores to the bit; bad models and
 * bad requests are 4xx with one message; the Python client's score_onnx gives the same row.
 */
class OnnxServeTest {
    static final Path MODEL = Path.of("src/test/resources/onnx/tiny-resnet/model.onnx");

    @org.junit.jupiter.api.io.TempDir
    static Path dataDir;
    static FastCpuBackend cpu;
    static Server server;

    @BeforeAll
    static void start() throws Exception {
        cpu = new FastCpuBackend(2);
        server = new Server(cpu, Server.Options.loopback(dataDir).withLimits(new Server.Limits(1 << 20, 3, 4, 64, 4, 1000)));
        Files.createDirectories(dataDir.resolve("models"));
        Files.copy(MODEL, dataDir.resolve("models/tiny.onnx"));
    }

    @AfterAll
    static void stop() {
        server.close();
        cpu.close();
    }

    static String b64(Path p) throws Exception {
        return java.util.Base64.getEncoder().encodeToString(Files.readAllBytes(p));
    }

    /** The CLI's row for the same model: scores and run key (the file name aside). */
    @SuppressWarnings("unchecked")
    static Map<String, Object> cliRow() {
        java.io.ByteArrayOutputStream out = new java.io.ByteArrayOutputStream(), err = new java.io.ByteArrayOutputStream();
        int code;
        try (java.io.PrintStream o = new java.io.PrintStream(out, true, java.nio.charset.StandardCharsets.UTF_8);
             java.io.PrintStream e = new java.io.PrintStream(err, true, java.nio.charset.StandardCharsets.UTF_8)) {
            code = Main.run(new String[]{"score", "--onnx", MODEL.toString(), "--batch", "8", "--proxies", "wrcor,naswot,synflow,params", "--quiet"}, o, e);
        }
        assertEquals(0, code, err.toString(java.nio.charset.StandardCharsets.UTF_8));
        return Json.parseObject(out.toString(java.nio.charset.StandardCharsets.UTF_8).strip());
    }

    @Test
    @SuppressWarnings("unchecked")
    void aModelInTheBodyOrTheDataDirectoryIsScoredAsTheCommandScoresIt() throws Exception {
        Map<String, Object> want = cliRow();
        ServeTest.Answer a = call(server, "POST", "/v1/score", "{\"onnx\": \"" + b64(MODEL) + "\", \"name\": \"tiny.onnx\", \"batch\": 8,"
                + " \"proxies\": [\"wrcor\", \"naswot\", \"synflow\", \"params\"]}", "Content-Type", "application/json");
        assertEquals(200, a.status(), String.valueOf(a.body()));
        Map<String, Object> row = ((List<Map<String, Object>>) a.body().get("results")).getFirst();
        assertEquals("tiny.onnx", row.get("arch"));
        assertEquals(want.get("scores"), row.get("scores"), "the same scores as score --onnx, to the bit");
        assertEquals(want.get("run"), row.get("run"), "the same run key: the model's content and the batch");
        ServeTest.Answer p = call(server, "POST", "/v1/score", "{\"onnx_path\": \"models/tiny.onnx\", \"batch\": 8,"
                + " \"proxies\": [\"wrcor\", \"naswot\", \"synflow\", \"params\"]}", "Content-Type", "application/json");
        assertEquals(200, p.status(), String.valueOf(p.body()));
        Map<String, Object> prow = ((List<Map<String, Object>>) p.body().get("results")).getFirst();
        assertEquals(want.get("scores"), prow.get("scores"));
        assertEquals("tiny.onnx", prow.get("arch"));
    }

    @Test
    void badModelsAndRequestsAre4xx() throws Exception {
        ServeTest.Answer notB64 = call(server, "POST", "/v1/score", "{\"onnx\": \"@@@\"}", "Content-Type", "application/json");
        assertEquals(400, notB64.status());
        assertTrue(String.valueOf(notB64.body().get("error")).startsWith("onnx: not base64"), String.valueOf(notB64.body()));
        ServeTest.Answer notOnnx = call(server, "POST", "/v1/score", "{\"onnx\": \"" + java.util.Base64.getEncoder().encodeToString("hello".getBytes())
                + "\", \"name\": \"hello.onnx\"}", "Content-Type", "application/json");
        assertEquals(400, notOnnx.status());
        assertTrue(String.valueOf(notOnnx.body().get("error")).contains("hello.onnx is not an ONNX file"), String.valueOf(notOnnx.body()));
        ServeTest.Answer outside = call(server, "POST", "/v1/score", "{\"onnx_path\": \"../x.onnx\"}", "Content-Type", "application/json");
        assertEquals(400, outside.status());
        ServeTest.Answer both = call(server, "POST", "/v1/score", "{\"onnx_path\": \"models/tiny.onnx\", \"onnx\": \"\"}", "Content-Type", "application/json");
        assertEquals(400, both.status());
        ServeTest.Answer az = call(server, "POST", "/v1/score", "{\"onnx_path\": \"models/tiny.onnx\", \"proxies\": [\"az_trainability\"]}", "Content-Type",
                "application/json");
        assertEquals(400, az.status());
        ServeTest.Answer unknown = call(server, "POST", "/v1/score", "{\"onnx_path\": \"models/tiny.onnx\", \"space\": \"nb201\"}", "Content-Type",
                "application/json");
        assertEquals(400, unknown.status());
        assertTrue(String.valueOf(unknown.body().get("error")).startsWith("unknown field 'space'"), String.valueOf(unknown.body()));
    }

    /** The Python client's score_onnx (standard library only): the same row as the command. */
    @Test
    void thePythonClientScoresAModelFile() throws Exception {
        Path python = Path.of("/usr/bin/python3");
        if (!Files.isExecutable(python)) {
            if ("true".equals(System.getenv("CI"))) throw new AssertionError("CI installs python3, yet /usr/bin/python3 is missing");
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "no /usr/bin/python3");
        }
        String script = String.join("\n", "import sys", "sys.path.insert(0, 'clients/python')", "from wrcor_client import Client",
                "c = Client('http://127.0.0.1:" + server.port() + "')",
                "row = c.score_onnx('" + MODEL + "', proxies=['wrcor', 'naswot', 'synflow', 'params'], batch=8)",
                "print(row['arch'], repr(row['scores']['wrcor']), repr(row['scores']['synflow']), row['run'])");
        Process p = new ProcessBuilder(python.toString(), "-c", script).redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8).strip();
        assertTrue(p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS), out);
        assertEquals(0, p.exitValue(), out);
        Map<String, Object> want = cliRow();
        Map<?, ?> sc = (Map<?, ?>) want.get("scores");
        String[] f = out.split(" ", 4);
        assertEquals("model.onnx", f[0], out);
        assertEquals(Json.toDouble(sc.get("wrcor")), Double.parseDouble(f[1]), 0.0, out);
        assertEquals(Json.toDouble(sc.get("synflow")), Double.parseDouble(f[2]), 0.0, out);
        assertEquals(want.get("run"), f[3], out);
    }
}
