package io.wrcor.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.Backend;
import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import io.wrcor.util.Json;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.stream.Stream;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The ONNX parity fixtures (src/test/resources/onnx, written by src/test/python/onnx_fixtures.py from
 * PyTorch): each model read from its ONNX file and scored on its own batch matches the proxies that
 * PyTorch computed on the same weights, within the fixture rule of ../shared/fixtures (1e-4 relative
 * of the float32 or the float64 value; where PyTorch's own float32 value is further than 1e-4 from its
 * float64 one, {@code f32_rel_scatter}, 10 times that), on the reference, cpu and OpenCL backends
 * (OpenCL required in CI).
 */
class OnnxFixtureTest {
    static final Path ROOT = Path.of("src/test/resources/onnx");
    static final List<Proxy> PROXIES = List.of(Proxy.WRCOR, Proxy.WRCOR_RELU_ONLY, Proxy.ACT_COR, Proxy.GRAD_COR, Proxy.ACT_GRAD_COR, Proxy.NASWOT,
            Proxy.SNIP, Proxy.GRAD_NORM, Proxy.JACOB_COR, Proxy.SYNFLOW, Proxy.PARAMS, Proxy.FLOPS, Proxy.SWAP, Proxy.ZICO, Proxy.MECO);

    static List<String> cases() throws IOException {
        try (Stream<Path> s = Files.list(ROOT)) {
            return s.filter(Files::isDirectory).map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    static boolean close(double want, double got, double tol) {
        return Double.isNaN(want) ? Double.isNaN(got) : Double.isInfinite(want) ? want == got
                : want == 0 ? got == 0 : Math.abs(got - want) <= tol * Math.abs(want);
    }

    @SuppressWarnings("unchecked")
    static void assertMatches(String name, Backend backend) throws IOException {
        Path dir = ROOT.resolve(name);
        Map<String, Object> expected = Json.parseObject(Files.readString(dir.resolve("expected.json")));
        Map<String, Object> want32 = (Map<String, Object>) expected.get("scores"), want64 = (Map<String, Object>) expected.get("scores_float64");
        Map<String, Object> scatter = (Map<String, Object>) expected.getOrDefault("f32_rel_scatter", Map.of());
        Path tmp = Files.createTempDirectory("wrcor-onnx");
        try (Arena arena = Arena.ofShared(); TensorPool pool = new TensorPool()) {
            OnnxModel m = OnnxModel.load(model(name, expected, tmp), arena);
            int b = ((Double) expected.get("batch")).intValue();
            int[] in = m.inputShape();
            Tensor x = Tensor.allocate(arena, DType.F32, b, in[0], in[1], in[2]);
            ByteBuffer xb = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("input.bin"))).order(ByteOrder.LITTLE_ENDIAN);
            for (long i = 0; i < x.numel(); i++) x.setF(i, xb.getFloat());
            ByteBuffer yb = ByteBuffer.wrap(Files.readAllBytes(dir.resolve("target.bin"))).order(ByteOrder.LITTLE_ENDIAN);
            int[] labels = new int[b];
            for (int i = 0; i < b; i++) labels[i] = (int) yb.getLong();
            Scorer.Result r = m.score(new Scorer(backend, pool), new Batch(x, labels), PROXIES);
            List<String> bad = new ArrayList<>();
            StringBuilder table = new StringBuilder(name + " on " + backend.name() + ":\n");
            for (Proxy p : PROXIES) {
                String label = p == Proxy.WRCOR_RELU_ONLY ? "wrcor" : p.label; // the same sites on an ONNX graph
                double got = r.score(p);
                double w32 = Json.toDouble(want32.get(label)), w64 = Json.toDouble(want64.get(label));
                double sc = scatter.containsKey(label) ? Json.toDouble(scatter.get(label)) : 0;
                double tol = sc > 1e-4 ? 10 * sc : 1e-4; // the fixture rule: 1e-4, or 10 times the reference's own float32 error where that is larger
                boolean ok = close(w32, got, tol) || close(w64, got, tol);
                table.append(String.format("  %-14s %22.12g  torch f32 %22.12g  f64 %22.12g%s%s%n", p.label, got, w32, w64,
                        tol > 1e-4 ? String.format("  (bound %.1e: torch's f32 error)", tol) : "", ok ? "" : "  <-- MISMATCH"));
                if (!ok) bad.add(p.label);
            }
            System.out.print(table);
            assertTrue(bad.isEmpty(), "mismatch in " + bad + "\n" + table);
        } finally {
            deleteTree(tmp);
        }
    }

    /** The case's model file: as committed, or, for a case with synthetic weights, a copy in tmp beside the weights written for it. */
    static Path model(String name, Map<String, Object> expected, Path tmp) throws IOException {
        Path file = ROOT.resolve(name).resolve("model.onnx");
        return Boolean.TRUE.equals(expected.get("synthetic_weights")) ? SyntheticWeights.materialise(file, tmp) : file;
    }

    static void deleteTree(Path dir) throws IOException {
        try (Stream<Path> s = Files.walk(dir)) {
            for (Path p : s.sorted(java.util.Comparator.reverseOrder()).toList()) Files.deleteIfExists(p);
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void referenceBackendMatchesPyTorch(String name) throws IOException {
        assertMatches(name, Backends.open("reference", 1, n -> { }));
    }

    @ParameterizedTest
    @MethodSource("cases")
    void cpuBackendMatchesPyTorch(String name) throws Exception {
        Backend b = Backends.open("cpu", 2, n -> { });
        try {
            assertMatches(name, b);
        } finally {
            ((AutoCloseable) b).close();
        }
    }

    @ParameterizedTest
    @MethodSource("cases")
    void openclBackendMatchesPyTorch(String name) throws Exception {
        Backend be;
        try {
            be = Backends.open("opencl", 1, n -> { });
        } catch (Backends.UnavailableException e) {
            if ("true".equals(System.getenv("CI"))) throw new AssertionError(e.getMessage());
            org.junit.jupiter.api.Assumptions.abort(e.getMessage());
            return;
        }
        try {
            assertMatches(name, be);
        } finally {
            ((AutoCloseable) be).close();
        }
    }

    /** On the CUDA backend: skipped with the reason where there is no GPU, a failure where WRCOR_REQUIRE_CUDA=1 (the GPU check). */
    @ParameterizedTest
    @MethodSource("cases")
    void cudaBackendMatchesPyTorch(String name) throws Exception {
        io.wrcor.proxy.FixtureParityTest.onDevice("cuda", "1".equals(System.getenv("WRCOR_REQUIRE_CUDA")), be -> {
            try {
                assertMatches(name, be);
            } catch (IOException e) {
                throw new java.io.UncheckedIOException(e);
            }
        });
    }

    @ParameterizedTest
    @MethodSource("cases")
    void theModelsParameterCountIsPyTorchs(String name) throws IOException {
        Map<String, Object> expected = Json.parseObject(Files.readString(ROOT.resolve(name).resolve("expected.json")));
        Path tmp = Files.createTempDirectory("wrcor-onnx");
        try (Arena arena = Arena.ofShared()) {
            OnnxModel m = OnnxModel.load(model(name, expected, tmp), arena);
            assertEquals(Json.toDouble(((Map<?, ?>) expected.get("scores")).get("params")), (double) m.parameterCount());
            assertEquals(13, m.opset());
            assertEquals(null, m.fixedBatch(), "exported with a dynamic batch axis");
        } finally {
            deleteTree(tmp);
        }
    }
}
