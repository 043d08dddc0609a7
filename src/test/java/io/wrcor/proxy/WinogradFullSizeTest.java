package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.Fixtures;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Inputs;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.nb101.Nb101Space;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Full-size NAS-Bench-101 (stem 128, 128 to 512 channels), where the fast CPU backend's default runs
 * the 3 x 3 convolutions as Winograd F(2x2, 3x3), against the same network scored in float64: the
 * fixtures' networks are too narrow for the default to pick it (FixtureParityTest covers them with
 * Winograd forced everywhere). wrcor and jacob_cor through Winograd within 1e-4 of float64, or no
 * further than twice the plain float32 path's own distance (jacob_cor's smallest eigenvalues
 * amplify float32 rounding on these networks).
 */
@Tag("exhaustive")
class WinogradFullSizeTest {
    static final List<Proxy> PROXIES = List.of(Proxy.WRCOR, Proxy.JACOB_COR);

    @ParameterizedTest
    @ValueSource(strings = {"010;001;000 input;conv3x3-bn-relu;output",
            "01100;00101;00010;00001;00000 input;conv3x3-bn-relu;maxpool3x3;conv3x3-bn-relu;output"})
    void winogradScoresAreAsCloseToFloat64AsThePlainPath(String spec) {
        NetSize size = new NetSize(128, 3, 10, 32);
        Nb101Space space = Nb101Space.INSTANCE;
        Arch arch = space.parse(spec);
        try (Arena a = Arena.ofShared(); TensorPool pool = new TensorPool();
             FastCpuBackend auto = new FastCpuBackend(2); FastCpuBackend off = new FastCpuBackend(2).winograd(FastCpuBackend.Winograd.OFF);
             FastCpuBackend f64 = new FastCpuBackend(2)) {
            Batch batch = Inputs.batch(Fixtures.shared().resolve("data/cifar10-train-0.bin"), 32, 10, 32, 0, a);
            Graph g = space.build(arch, size, true);
            Weights w32 = space.init(g, 0, a, new HashMap<>());
            Map<String, Tensor> w64 = new HashMap<>();
            for (String p : Weights.required(g).keySet()) w64.put(p, Float64Scoring.float64(w32.get(p), a));
            Scorer.Result d = new Scorer(f64, pool).score(g, null, new Weights(w64), new Batch(Float64Scoring.float64(batch.input(), a), batch.labels()), PROXIES);
            Scorer.Result fast, plain;
            try (Engine ea = new Engine(auto, space, size); Engine eo = new Engine(off, space, size)) {

                fast = ea.score(arch, w32, batch, PROXIES);
                plain = eo.score(arch, w32, batch, PROXIES);
            }
            for (Proxy p : PROXIES) {
                double want = d.score(p), got = fast.score(p), base = plain.score(p);
                double rel = Math.abs(got - want) / Math.abs(want), relPlain = Math.abs(base - want) / Math.abs(want);
                System.err.printf("%s %s: float64 %.10g, Winograd %.10g (%.2g), plain float32 %.10g (%.2g)%n", spec, p.label, want, got, rel, base, relPlain);
                assertTrue(got != base, p.label + ": Winograd did not run");
                assertTrue(rel <= Math.max(1e-4, 2 * relPlain), p.label + ": Winograd " + got + " is " + rel + " from float64 " + want
                        + ", the plain float32 path " + relPlain);
            }
        }
    }
}
