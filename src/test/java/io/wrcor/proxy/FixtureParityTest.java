package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.Fixtures;
import io.wrcor.backend.Backend;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.data.TensorFolder;
import io.wrcor.graph.Weights;
import io.wrcor.graph.Graph;
import io.wrcor.space.Arch;
import io.wrcor.util.Json;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Scores of the PyTorch reference (../shared/fixtures/nb201 and nb101) reproduced from the fixture's
 * own weights and batch: within 1e-4 relative of the reference's float32 value or of the same
 * network's float64 value ({@code scores_float64}; where the reference's float32 scatter
 * {@code f32_rel_scatter} exceeds 1e-4, within 10 times it), NaN and infinities exactly, site counts
 * exactly, and the summed matrices K of wrcor and naswot.
 */
class FixtureParityTest {
    static final List<Proxy> FIXTURE_PROXIES = List.of(Proxy.WRCOR, Proxy.WRCOR_RELU_ONLY, Proxy.SYNFLOW, Proxy.JACOB_COR,
            Proxy.SNIP, Proxy.GRAD_NORM, Proxy.NASWOT);
    static final double TOLERANCE = 1e-4;

    static boolean close(double want, double got, double tol) {
        return Double.isNaN(want) ? Double.isNaN(got)
                : Double.isInfinite(want) ? want == got
                : want == 0 ? got == 0 : Math.abs(got - want) <= tol * Math.abs(want);
    }

    @SuppressWarnings("unchecked")
    static void assertScoresMatch(String fixture, Backend backend) {
        try (Arena arena = Arena.ofShared()) {
            TensorFolder f = Fixtures.load(fixture, arena);
            Map<String, Object> expected = Fixtures.expected(fixture);
            try (Engine engine = new Engine(backend, Engine.spaceOf(f), Engine.sizeOf(f))) {
                Arch arch = engine.space().archOf(f.meta());
                Scorer.Result r = engine.score(arch, new Weights(f.tensors()), f.batch(), FIXTURE_PROXIES);
                Map<String, Object> want = (Map<String, Object>) expected.get("scores");
                Map<String, Object> want64 = (Map<String, Object>) expected.getOrDefault("scores_float64", Map.of());
                Map<String, Object> scatter = (Map<String, Object>) expected.getOrDefault("f32_rel_scatter", Map.of());
                StringBuilder report = new StringBuilder();
                boolean ok = true;
                for (Proxy p : FIXTURE_PROXIES) {
                    double w = Json.toDouble(want.get(p.label)), got = r.score(p);
                    double w64 = want64.containsKey(p.label) ? Json.toDouble(want64.get(p.label)) : w;
                    double sc = scatter.containsKey(p.label) ? Json.toDouble(scatter.get(p.label)) : 0;
                    double tol = sc > TOLERANCE ? 10 * sc : TOLERANCE;
                    boolean match = close(w, got, tol) || close(w64, got, tol);
                    ok &= match;
                    report.append(String.format("%n  %-16s want %.10g (float64 %.10g) got %.10g rel %.2g / %.2g%s", p.label, w, w64, got,
                            w == 0 || !Double.isFinite(w) ? 0 : Math.abs(got - w) / Math.abs(w),
                            w64 == 0 || !Double.isFinite(w64) ? 0 : Math.abs(got - w64) / Math.abs(w64), match ? "" : "  <-- MISMATCH"));
                }
                System.err.println(fixture + " on " + backend.name() + ":" + report);
                assertTrue(ok, fixture + " on " + backend.name() + ":" + report);
                assertEquals(((Double) expected.get("wrcor_sites_used")).intValue(), r.used().get(Proxy.WRCOR), "wrcor sites used");
                assertEquals(((Double) expected.get("wrcor_sites_skipped_nan")).intValue(), r.skipped().get(Proxy.WRCOR),
                        "wrcor sites skipped for a NaN correlation matrix");
                if (expected.get("counts") instanceof Map<?, ?> counts) {
                    Graph g = engine.space().build(arch, engine.size(), true);
                    assertEquals(((Double) counts.get("params")).longValue(), Scorer.params(g), "params");
                    assertEquals(((Double) counts.get("flops")).longValue(), Scorer.flops(g), "flops");
                }
                assertKernelMatches(fixture, "expected_wrcor_K.bin", r.kernels().get(Proxy.WRCOR));
                assertKernelMatches(fixture, "expected_naswot_K.bin", r.kernels().get(Proxy.NASWOT));
            }
        }
    }

    /**
     * K element by element, relative to K's largest entry. 1e-3 rather than 1e-4: on
     * full-cifar-6111 some samples' responses are nearly constant, and a 1e-7 relative perturbation
     * of the input moves single off-diagonal entries of K by 6e-5 of that scale in float32 (the
     * log-determinant does not notice: it moves by 1e-9).
     */
    static void assertKernelMatches(String fixture, String file, double[] got) {
        double[] k = Fixtures.float64File(Fixtures.fixture(fixture).resolve(file));
        double scale = Arrays.stream(k).map(Math::abs).max().orElse(1);
        for (int i = 0; i < k.length; i++) assertEquals(k[i], got[i], 1e-3 * scale, file + "[" + i + "]");
    }

    /** The small cases of every space (the full-size ones are too slow for the plain-loop oracle). */
    static List<String> smallCases() {
        return Fixtures.allCases().stream().filter(id -> id.contains("/small-")).toList();
    }

    @ParameterizedTest
    @MethodSource("smallCases")
    void referenceBackendMatchesSmallFixtures(String fixture) {
        assertScoresMatch(fixture, new ReferenceBackend());
    }

    /**
     * A fixture on a device backend opened by name. Without the device the test is skipped with the
     * reason, unless {@code required}: then that is a failure (CI installs PoCL; the GPU check sets
     * WRCOR_REQUIRE_CUDA=1).
     */
    static void assertOnDevice(String fixture, String backend, boolean required) throws Exception {
        Backend be;
        try {
            be = io.wrcor.backend.Backends.open(backend, 1, note -> { });
        } catch (io.wrcor.backend.Backends.UnavailableException e) {
            if (required) throw new AssertionError(e.getMessage());
            org.junit.jupiter.api.Assumptions.abort(e.getMessage());
            return;
        }
        try {
            assertScoresMatch(fixture, be);
        } finally {
            ((AutoCloseable) be).close();
        }
    }

    /** Every fixture on the OpenCL backend (PoCL in CI). */
    @ParameterizedTest
    @MethodSource("io.wrcor.Fixtures#allCases")
    void openClBackendMatchesEveryFixture(String fixture) throws Exception {
        assertOnDevice(fixture, "opencl", "true".equals(System.getenv("CI")));
    }

    /** Every fixture on the CUDA backend. */
    @ParameterizedTest
    @MethodSource("io.wrcor.Fixtures#allCases")
    void cudaBackendMatchesEveryFixture(String fixture) throws Exception {
        assertOnDevice(fixture, "cuda", "1".equals(System.getenv("WRCOR_REQUIRE_CUDA")));
    }

    /** Every fixture, the full-size CIFAR-10 ones included, on the fast CPU backend. */
    @ParameterizedTest
    @MethodSource("io.wrcor.Fixtures#allCases")
    void fastCpuBackendMatchesEveryFixture(String fixture) {
        try (FastCpuBackend fast = new FastCpuBackend(2)) {
            assertScoresMatch(fixture, fast);
        }
    }
}
