package io.wrcor.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import io.wrcor.util.Json;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.util.Map;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;
import org.junit.jupiter.api.Test;

/**
 * meco against values pinned from its authors' code (src/test/resources/meco-nb201-expected.json
 * names the source and commit), on every NAS-Bench-201 fixture's weights and first image, on the
 * fast CPU backend, the reference backend and OpenCL (PoCL in CI).
 */
class MecoTest {
    @SuppressWarnings("unchecked")
    static Map<String, Map<String, Object>> expected() throws IOException {
        try (InputStream in = MecoTest.class.getResourceAsStream("/meco-nb201-expected.json")) {
            return (Map<String, Map<String, Object>>) Json.parseObject(new String(in.readAllBytes(), StandardCharsets.UTF_8)).get("cases");
        }
    }

    static java.util.stream.Stream<String[]> cases() throws IOException {
        return expected().keySet().stream().sorted().flatMap(c -> java.util.stream.Stream.of(new String[]{c, "cpu"}, new String[]{c, "reference"},
                new String[]{c, "opencl"})).filter(c -> io.wrcor.Fixtures.testsBackend(c[1]));
    }

    @ParameterizedTest(name = "{0} on {1}")
    @MethodSource("cases")
    void mecoMatchesTheAuthorsCode(String name, String backend) throws IOException {
        Map<String, Object> want = expected().get(name);
        CliTest.requireBackend(backend);
        CliTest.Run r = CliTest.run("score", "--weights", Fixtures.nb201(name).toString(), "--proxies", "meco", "--backend", backend, "--quiet");
        assertEquals(0, r.code(), r.err());
        double got = Json.toDouble(((Map<?, ?>) Json.parseObject(r.out().strip()).get("scores")).get("meco"));
        double f32 = Json.toDouble(want.get("meco")), f64 = Json.toDouble(want.get("meco_float64"));
        // as the fixtures' rule: within 1e-4 (relative, at least 1e-4 absolute) of the float32 reference or of its float64 recomputation
        double tol = 1e-4 * Math.max(1, Math.abs(f64));
        assertTrue(Math.abs(got - f32) <= tol || Math.abs(got - f64) <= tol,
                name + " on " + backend + ": meco " + got + ", reference " + f32 + " (float64 " + f64 + ")");
    }

    static java.util.stream.Stream<String> nb101AndMbv2Cases() throws IOException {
        return NewerProxiesTest.expected().keySet().stream().filter(c -> !c.startsWith("nb201/")).sorted();
    }

    /**
     * The module outputs each network declares are those the authors' hooks see as maps (more than
     * one column in the first sample; the rest add nothing), as many as PyTorch counted on the
     * reference model; the MobileNetV2-like space alone feeds the whole batch (its SE BNs cannot take one image).
     */
    @ParameterizedTest(name = "{0}")
    @MethodSource("nb101AndMbv2Cases")
    void theDeclaredModuleOutputsAreThoseTheHooksSee(String id) throws IOException {
        Map<String, Object> want = NewerProxiesTest.expected().get(id);
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            io.wrcor.graph.Graph g = Fixtures.graph(Fixtures.load(id, arena));
            assertEquals(Json.toDouble(want.get("meco_maps")), g.moduleOutputs().size(), id + ": hooked maps (of " + want.get("meco_hooks") + " hooks)");
            assertEquals(id.startsWith("mbv2/"), io.wrcor.proxy.Scorer.mecoTakesTheBatch(g), id);
        }
    }

    /** Where meco takes the whole batch, reading the shared forward pass gives what its own pass gives. */
    @Test
    void mecoReadsTheSharedForwardPassAsItsOwn() {
        String w = Fixtures.fixture("mbv2/small-downsample").toString();
        CliTest.Run alone = CliTest.run("score", "--weights", w, "--proxies", "meco", "--quiet");
        CliTest.Run shared = CliTest.run("score", "--weights", w, "--proxies", "meco,grad_cor,naswot", "--quiet");
        assertEquals(0, alone.code(), alone.err());
        assertEquals(0, shared.code(), shared.err());
        double a = Json.toDouble(((Map<?, ?>) Json.parseObject(alone.out().strip()).get("scores")).get("meco"));
        double s = Json.toDouble(((Map<?, ?>) Json.parseObject(shared.out().strip()).get("scores")).get("meco"));
        assertEquals(a, s, 1e-12 * Math.abs(a), "own pass " + a + ", shared " + s);
    }

    @Test
    void mecoIsAmongEveryProxyOfEverySpace() {
        CliTest.Run r = CliTest.run("score", "--space", "mbv2", "--sample", "1", "--batch", "4", "--proxies", "all", "--quiet");
        assertEquals(0, r.code(), r.err());
        double meco = Json.toDouble(((Map<?, ?>) Json.parseObject(r.out().strip()).get("scores")).get("meco"));
        assertTrue(Double.isFinite(meco) && meco != 0, "meco " + meco);
    }
}
