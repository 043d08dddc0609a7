package io.wrcor.backend;

import static io.wrcor.backend.RandomTensors.normal;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.graph.Executor;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.space.nb101.Nb101Network;
import io.wrcor.space.nb101.Nb101Spec;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Network;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.function.Consumer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * Each backward op of the reference backend against central finite differences in float64, on small
 * random shapes: for y = f(x), L = sum(y * r) with a fixed random r, so dL/dx = backward(r).
 */
class FiniteDifferenceTest {
    static final ReferenceBackend REF = new ReferenceBackend();
    static final double H = 1e-6, TOL = 1e-6;
    /** A fresh seed per test instance, printed so that a failure can be reproduced (-Dwrcor.test.seed=S). */
    final long seed = Long.getLong("wrcor.test.seed", System.nanoTime());
    final SplittableRandom rnd = new SplittableRandom(seed);

    @org.junit.jupiter.api.BeforeEach
    void logSeed(org.junit.jupiter.api.TestInfo info) {
        System.out.println(info.getDisplayName() + ": random seed " + seed);
    }

    /**
     * Max |analytic - numeric| / max(1, |numeric|) of dL/dv over every element of v, numeric being
     * the central difference, or where the function has a kink within the step (a ReLU at zero or a
     * max pool's winner changing somewhere in the network, so that the one-sided differences
     * disagree), whichever one-sided difference is nearer: the backward pass takes one side's
     * derivative there, as PyTorch does.
     */
    static double check(Tensor v, Tensor analytic, Tensor r, Tensor y, Consumer<Tensor> forward) {
        forward.accept(y);
        double l0 = dot(y, r);
        double worst = 0;
        for (long i = 0; i < v.numel(); i++) {
            double keep = v.get(i);
            v.set(i, keep + H);
            forward.accept(y);
            double lp = dot(y, r);
            v.set(i, keep - H);
            forward.accept(y);
            double lm = dot(y, r);
            v.set(i, keep);
            double numeric = (lp - lm) / (2 * H), right = (lp - l0) / H, left = (l0 - lm) / H, a = analytic.get(i);
            double err = Math.abs(a - numeric);
            if (Math.abs(right - left) > 1e-6 * Math.max(1, Math.abs(numeric))) {
                err = Math.min(err, Math.min(Math.abs(a - right), Math.abs(a - left))); // a kink within the step
            }
            worst = Math.max(worst, err / Math.max(1, Math.abs(numeric)));
        }
        return worst;
    }

    static double dot(Tensor a, Tensor b) {
        double s = 0;
        for (long i = 0; i < a.numel(); i++) s += a.get(i) * b.get(i);
        return s;
    }

    @ParameterizedTest
    @CsvSource({"2,3,5,5,4,3,1,1", "2,2,7,6,3,3,2,1", "3,4,4,4,2,1,1,0", "1,3,6,6,2,1,1,0"})
    void convBackwardMatchesFiniteDifferences(int b, int cin, int h, int w, int cout, int k, int stride, int pad) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, b, cin, h, w), wt = normal(a, rnd, DType.F64, cout, cin, k, k);
            int ho = (h + 2 * pad - k) / stride + 1, wo = (w + 2 * pad - k) / stride + 1;
            Tensor y = Tensor.allocate(a, DType.F64, b, cout, ho, wo), r = normal(a, rnd, DType.F64, y.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape()), dw = Tensor.allocate(a, DType.F64, wt.shape());
            REF.convBackwardData(r, wt, stride, pad, dx);
            REF.convBackwardWeight(x, r, stride, pad, dw);
            Consumer<Tensor> f = out -> REF.convForward(x, wt, stride, pad, out);
            assertTrue(check(x, dx, r, y, f) < TOL, "conv dL/dx");
            assertTrue(check(wt, dw, r, y, f) < TOL, "conv dL/dw");
        }
    }

    @Test
    void batchNormBackwardMatchesFiniteDifferences() {
        try (Arena a = Arena.ofShared()) {
            int b = 3, c = 2, h = 3, w = 4;
            Tensor x = normal(a, rnd, DType.F64, b, c, h, w), g = normal(a, rnd, DType.F64, c), be = normal(a, rnd, DType.F64, c);
            Tensor y = Tensor.allocate(a, DType.F64, x.shape()), r = normal(a, rnd, DType.F64, x.shape());
            Tensor mean = Tensor.allocate(a, DType.F64, c), inv = Tensor.allocate(a, DType.F64, c);
            REF.batchNormForward(x, g, be, 1e-5, y, mean, inv);
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape());
            REF.batchNormBackward(x, r, g, mean, inv, dx);
            assertTrue(check(x, dx, r, y, out -> REF.batchNormForward(x, g, be, 1e-5, out, Tensor.allocate(a, DType.F64, c), Tensor.allocate(a, DType.F64, c))) < TOL,
                    "batch norm dL/dx (the batch statistics depend on x)");
        }
    }

    @ParameterizedTest
    @CsvSource({"3,1,1,false", "3,1,1,true", "2,2,0,true"})
    void avgPoolBackwardMatchesFiniteDifferences(int k, int stride, int pad, boolean includePad) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, 2, 2, 6, 4);
            int ho = (6 + 2 * pad - k) / stride + 1, wo = (4 + 2 * pad - k) / stride + 1;
            Tensor y = Tensor.allocate(a, DType.F64, 2, 2, ho, wo), r = normal(a, rnd, DType.F64, y.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape());
            REF.avgPoolBackward(r, k, stride, pad, includePad, dx);
            assertTrue(check(x, dx, r, y, out -> REF.avgPoolForward(x, k, stride, pad, includePad, out)) < TOL, "avg pool dL/dx");
        }
    }

    @ParameterizedTest
    @CsvSource({"3,1,1", "2,2,0"})
    void maxPoolBackwardMatchesFiniteDifferences(int k, int stride, int pad) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, 2, 2, 6, 4); // no ties: the max is differentiable
            int ho = (6 + 2 * pad - k) / stride + 1, wo = (4 + 2 * pad - k) / stride + 1;
            Tensor y = Tensor.allocate(a, DType.F64, 2, 2, ho, wo), r = normal(a, rnd, DType.F64, y.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape());
            REF.maxPoolBackward(x, r, k, stride, pad, dx);
            assertTrue(check(x, dx, r, y, out -> REF.maxPoolForward(x, k, stride, pad, out)) < TOL, "max pool dL/dx");
        }
    }

    @ParameterizedTest
    @CsvSource({"3,1,1", "5,2,2", "7,2,3"})
    void depthwiseBackwardMatchesFiniteDifferences(int k, int stride, int pad) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, 2, 3, 7, 6), wt = normal(a, rnd, DType.F64, 3, 1, k, k);
            int ho = (7 + 2 * pad - k) / stride + 1, wo = (6 + 2 * pad - k) / stride + 1;
            Tensor y = Tensor.allocate(a, DType.F64, 2, 3, ho, wo), r = normal(a, rnd, DType.F64, y.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape()), dw = Tensor.allocate(a, DType.F64, wt.shape());
            REF.depthwiseBackwardData(r, wt, stride, pad, dx);
            REF.depthwiseBackwardWeight(x, r, stride, pad, dw);
            Consumer<Tensor> f = out -> REF.depthwiseForward(x, wt, stride, pad, out);
            assertTrue(check(x, dx, r, y, f) < TOL, "depthwise dL/dx");
            assertTrue(check(wt, dw, r, y, f) < TOL, "depthwise dL/dw");
        }
    }

    @ParameterizedTest
    @CsvSource({"5,4,9,7", "8,6,3,5"})
    void resizeBackwardMatchesFiniteDifferences(int h, int w, int ho, int wo) {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, 2, 2, h, w), y = Tensor.allocate(a, DType.F64, 2, 2, ho, wo), r = normal(a, rnd, DType.F64, y.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape());
            REF.resizeBackward(r, dx);
            assertTrue(check(x, dx, r, y, out -> REF.resizeForward(x, out)) < TOL, "resize dL/dx");
        }
    }

    @Test
    void sigmoidAndChannelScaleBackwardsMatchFiniteDifferences() {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, 2, 3, 4, 4), y = Tensor.allocate(a, DType.F64, x.shape()), r = normal(a, rnd, DType.F64, x.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape());
            REF.sigmoid(x, y);
            REF.sigmoidBackward(y, r, dx);
            assertTrue(check(x, dx, r, Tensor.allocate(a, DType.F64, x.shape()), out -> REF.sigmoid(x, out)) < TOL, "sigmoid dL/dx");
            Tensor s = normal(a, rnd, DType.F64, 2, 3, 1, 1), ds = Tensor.allocate(a, DType.F64, s.shape());
            REF.channelScale(r, s, dx); // dL/dx = r * s
            REF.channelScaleBackwardScale(x, r, ds);
            Consumer<Tensor> f = out -> REF.channelScale(x, s, out);
            assertTrue(check(x, dx, r, y, f) < TOL, "channel scale dL/dx");
            assertTrue(check(s, ds, r, y, f) < TOL, "channel scale dL/ds");
        }
    }

    @Test
    void reluGlobalPoolAndLinearBackwardsMatchFiniteDifferences() {
        try (Arena a = Arena.ofShared()) {
            Tensor x = normal(a, rnd, DType.F64, 2, 3, 4, 4);
            for (long i = 0; i < x.numel(); i++) if (Math.abs(x.get(i)) < 0.01) x.set(i, 0.5); // keep away from the kink
            Tensor y = Tensor.allocate(a, DType.F64, x.shape()), r = normal(a, rnd, DType.F64, x.shape());
            Tensor dx = Tensor.allocate(a, DType.F64, x.shape());
            REF.reluBackward(x, r, dx);
            assertTrue(check(x, dx, r, y, out -> REF.relu(x, out)) < TOL, "relu dL/dx");

            Tensor p = Tensor.allocate(a, DType.F64, 2, 3), rp = normal(a, rnd, DType.F64, 2, 3);
            REF.globalAvgPoolBackward(rp, dx);
            assertTrue(check(x, dx, rp, p, out -> REF.globalAvgPoolForward(x, out)) < TOL, "global average pool dL/dx");

            Tensor in = normal(a, rnd, DType.F64, 3, 5), w = normal(a, rnd, DType.F64, 4, 5), bias = normal(a, rnd, DType.F64, 4);
            Tensor out = Tensor.allocate(a, DType.F64, 3, 4), ro = normal(a, rnd, DType.F64, 3, 4);
            Tensor din = Tensor.allocate(a, DType.F64, in.shape()), dw = Tensor.allocate(a, DType.F64, w.shape());
            REF.linearBackwardData(ro, w, din);
            REF.linearBackwardWeight(in, ro, dw);
            Consumer<Tensor> lin = o -> REF.linearForward(in, w, bias, o);
            assertTrue(check(in, din, ro, out, lin) < TOL, "linear dL/dx");
            assertTrue(check(w, dw, ro, out, lin) < TOL, "linear dL/dw");
        }
    }

    /** The executor's whole backward pass through a small network with every NAS-Bench-201 op. */
    @Test
    void networkInputGradientMatchesFiniteDifferences() {
        Nb201Network net = new Nb201Network(2, 1, 3, 8);
        Nb201Arch arch = Nb201Arch.parse("|nor_conv_3x3~0|+|avg_pool_3x3~0|nor_conv_1x1~1|+|skip_connect~0|none~1|nor_conv_3x3~2|");
        networkGradient(net.build(arch));
    }

    /**
     * The same through a small NAS-Bench-101 network whose cell has every op of that space: truncated
     * inputs (slices), a concatenated output, max pools, input projections.
     */
    @Test
    void nb101NetworkInputGradientMatchesFiniteDifferences() {
        Nb101Spec spec = Nb101Spec.parse("0110000;0001001;0001100;0000001;0000010;0000001;0000000 "
                + "input;conv3x3-bn-relu;conv1x1-bn-relu;conv3x3-bn-relu;maxpool3x3;conv1x1-bn-relu;output");
        Graph g = new Nb101Network(5, 1, 3, 8).build(spec, true);
        assertTrue(g.nodes().stream().anyMatch(n -> n.op() instanceof io.wrcor.graph.Op.Slice), "the cell truncates");
        assertTrue(g.nodes().stream().anyMatch(n -> n.op() instanceof io.wrcor.graph.Op.Concat), "the cell concatenates");
        networkGradient(g);
    }

    private void networkGradient(Graph g) {
        try (Arena a = Arena.ofShared(); TensorPool pool = new TensorPool()) {
            Map<String, Tensor> w64 = new LinkedHashMap<>();
            for (var e : Weights.init(g, rnd.nextLong(), a).all().entrySet()) {
                Tensor t = Tensor.allocate(a, DType.F64, e.getValue().shape());
                t.copyFrom(e.getValue());
                w64.put(e.getKey(), t);
            }
            for (var e : w64.entrySet()) if (e.getKey().endsWith(".bias")) for (long i = 0; i < e.getValue().numel(); i++) e.getValue().set(i, rnd.nextGaussian());
            Weights weights = new Weights(w64);
            Tensor x = normal(a, rnd, DType.F64, 3, 3, 8, 8), r = normal(a, rnd, DType.F64, 3, 3);
            Executor ex = new Executor(REF, pool, g, weights, DType.F64);
            ex.forward(x, Set.of(), (resp, t) -> { });
            Tensor dx = ex.backward(r, false, true, Set.of(), (resp, t) -> { }).node(g.input());
            Tensor y = Tensor.allocate(a, DType.F64, 3, 3);
            double err = check(x, dx, r, y, out -> out.copyFrom(new Executor(REF, pool, g, weights, DType.F64).forward(x, Set.of(), (resp, t) -> { })));
            assertTrue(err < 1e-5, "network dL/d(input), worst relative error " + err + " (random seed " + seed + ")");
        }
    }
}
