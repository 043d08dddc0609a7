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
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.util.Json;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Scores of the PyTorch reference (../shared/fixtures/nb201) reproduced from the fixture's own weights
 * and batch: within 1e-4 relative, NaN and infinities exactly, site counts exactly, and the summed
 * matrices K of wrcor and naswot.
 */
class FixtureParityTest {
    static final List<Proxy> FIXTURE_PROXIES = List.of(Proxy.WRCOR, Proxy.WRCOR_RELU_ONLY, Proxy.SYNFLOW, Proxy.JACOB_COR,
            Proxy.SNIP, Proxy.GRAD_NORM, Proxy.NASWOT);
    static final double TOLERANCE = 1e-4;

    /**
     * Known gaps, kept visible rather than hidden: the reference computed in float32, and on two
     * fixtures its snip and grad_norm sit about 1e-4 away from the exact (float64) value of the same
     * network and batch, as this engine computes it in float64: small-mixed grad_norm 4.668064
     * (reference 4.668551, 1.04e-4 off), full-cifar-6111 grad_norm 18.343433 (reference 18.346184,
     * 1.5e-4 off). Float32 results scatter around the exact value by that much there (on
     * full-cifar-6111 a 1e-7 relative perturbation of the input moves grad_norm by 2e-5), so a float32
     * backend can land just outside 1e-4 of the reference while closer to the exact value. Bounded
     * here so that they cannot grow unnoticed; every other score is held to 1e-4.
     */
    static final Map<String, Double> KNOWN_GAPS = Map.of("small-mixed/snip", 1.5e-4, "small-mixed/grad_norm", 1.5e-4,
            "full-cifar-6111/snip", 2.5e-4, "full-cifar-6111/grad_norm", 2.5e-4);

    static void assertScoresMatch(String fixture, Backend backend) {
        try (Arena arena = Arena.ofShared()) {
            TensorFolder f = Fixtures.load(fixture, arena);
            Map<String, Object> expected = Fixtures.expected(fixture);
            try (Engine engine = new Engine(backend, Engine.networkOf(f))) {
                Nb201Arch arch = Nb201Arch.parse((String) f.meta().get("arch"));
                Scorer.Result r = engine.score(arch, new Weights(f.tensors()), f.batch(), FIXTURE_PROXIES);
                @SuppressWarnings("unchecked")
                Map<String, Object> want = (Map<String, Object>) expected.get("scores");
                StringBuilder report = new StringBuilder();
                boolean ok = true;
                for (Proxy p : FIXTURE_PROXIES) {
                    double w = Json.toDouble(want.get(p.label)), got = r.score(p);
                    double tol = KNOWN_GAPS.getOrDefault(fixture + "/" + p.label, TOLERANCE);
                    boolean match = Double.isNaN(w) ? Double.isNaN(got)
                            : Double.isInfinite(w) ? w == got
                            : w == 0 ? got == 0 : Math.abs(got - w) <= tol * Math.abs(w);
                    ok &= match;
                    report.append(String.format("%n  %-16s want %.10g got %.10g rel %.2g%s%s", p.label, w, got,
                            w == 0 || !Double.isFinite(w) ? 0 : Math.abs(got - w) / Math.abs(w),
                            tol != TOLERANCE ? " (known gap, bound " + tol + ")" : "", match ? "" : "  <-- MISMATCH"));
                }
                System.err.println(fixture + " on " + backend.name() + ":" + report);
                assertTrue(ok, fixture + " on " + backend.name() + ":" + report);
                assertEquals(((Double) expected.get("wrcor_sites_used")).intValue(), r.used().get(Proxy.WRCOR), "wrcor sites used");
                assertEquals(((Double) expected.get("wrcor_sites_skipped_nan")).intValue(), r.skipped().get(Proxy.WRCOR),
                        "wrcor sites skipped for a NaN correlation matrix");
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
        double[] k = Fixtures.float64File(Fixtures.nb201(fixture).resolve(file));
        double scale = Arrays.stream(k).map(Math::abs).max().orElse(1);
        for (int i = 0; i < k.length; i++) assertEquals(k[i], got[i], 1e-3 * scale, file + "[" + i + "]");
    }

    @ParameterizedTest
    @ValueSource(strings = {"small-mixed", "small-allconv", "small-zeronode", "small-noconv", "small-deadoutput"})
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
    @MethodSource("io.wrcor.Fixtures#nb201Cases")
    void openClBackendMatchesEveryFixture(String fixture) throws Exception {
        assertOnDevice(fixture, "opencl", "true".equals(System.getenv("CI")));
    }

    /** Every fixture on the CUDA backend. */
    @ParameterizedTest
    @MethodSource("io.wrcor.Fixtures#nb201Cases")
    void cudaBackendMatchesEveryFixture(String fixture) throws Exception {
        assertOnDevice(fixture, "cuda", "1".equals(System.getenv("WRCOR_REQUIRE_CUDA")));
    }

    /** Every fixture, the full-size CIFAR-10 ones included, on the fast CPU backend. */
    @ParameterizedTest
    @MethodSource("io.wrcor.Fixtures#nb201Cases")
    void fastCpuBackendMatchesEveryFixture(String fixture) {
        try (FastCpuBackend fast = new FastCpuBackend(2)) {
            assertScoresMatch(fixture, fast);
        }
    }
}
