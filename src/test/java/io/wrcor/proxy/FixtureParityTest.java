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
import java.util.List;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.params.provider.ValueSource;

/** The reference path reproduces the PyTorch reference's scores on the small fixtures. */
class FixtureParityTest {
    static final List<Proxy> FIXTURE_PROXIES = List.of(Proxy.WRCOR, Proxy.WRCOR_RELU_ONLY, Proxy.SYNFLOW, Proxy.JACOB_COR,
            Proxy.SNIP, Proxy.GRAD_NORM, Proxy.NASWOT);

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
                    boolean match = Double.isNaN(w) ? Double.isNaN(got)
                            : Double.isInfinite(w) ? w == got
                            : Math.abs(got - w) <= 1e-4 * Math.abs(w) + (w == 0 ? 1e-12 : 0);
                    ok &= match;
                    report.append(String.format("%n  %-16s want %.10g got %.10g %s", p.label, w, got, match ? "" : "<-- MISMATCH"));
                }
                report.append(String.format("%n  wrcor sites used %d skipped %d (want %s / %s)", r.used().get(Proxy.WRCOR),
                        r.skipped().get(Proxy.WRCOR), expected.get("wrcor_sites_used"), expected.get("wrcor_sites_skipped_nan")));
                System.err.println(fixture + report);
                assertTrue(ok, fixture + " on " + backend.name() + ":" + report);
                assertEquals(((Double) expected.get("wrcor_sites_used")).intValue(), r.used().get(Proxy.WRCOR), "wrcor sites used");
                assertEquals(((Double) expected.get("wrcor_sites_skipped_nan")).intValue(), r.skipped().get(Proxy.WRCOR), "wrcor sites skipped");
                double[] k = Fixtures.float64File(Fixtures.nb201(fixture).resolve("expected_wrcor_K.bin"));
                double[] got = r.kernels().get(Proxy.WRCOR);
                double scale = java.util.Arrays.stream(k).map(Math::abs).max().orElse(1);
                double md = 0; int mi = 0; for (int i = 0; i < k.length; i++) if (Math.abs(k[i] - got[i]) > md) { md = Math.abs(k[i] - got[i]); mi = i; }
                System.err.println("K scale " + scale + " max diff " + md + " at " + mi + " want " + k[mi] + " got " + got[mi] + " diag0 " + k[0] + " " + got[0]);
                for (int i = 0; i < k.length; i++) assertEquals(k[i], got[i], 1e-4 * scale, "wrcor K[" + i + "]");
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"small-mixed", "small-allconv", "small-zeronode", "small-noconv", "small-deadoutput"})
    void referenceBackendMatchesSmallFixtures(String fixture) {
        assertScoresMatch(fixture, new ReferenceBackend());
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
