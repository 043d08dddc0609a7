package io.wrcor.proxy;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Response;
import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.nb201.Nb201Space;
import java.lang.foreign.Arena;

import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/** One pass serves every requested proxy, and each response is correlated once. */
class PlannerTest {
    static final NetSize NET = new NetSize(4, 1, 10, 16);
    static final Nb201Arch ARCH = Nb201Arch.parse("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|nor_conv_3x3~1|skip_connect~2|");

    /** A reference backend that counts its calls by method name (its correlator correlates through it). */
    /** The reference backend, counting the calls of the named methods. */
    static Backend counting(AtomicInteger count, String... methods) {
        Backend ref = new ReferenceBackend();
        Set<String> counted = Set.of(methods);
        return (Backend) java.lang.reflect.Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[]{Backend.class}, (p, m, args) -> {
            if (counted.contains(m.getName())) count.incrementAndGet();
            if (m.getName().equals("correlator")) return io.wrcor.backend.Correlator.onHost((Backend) p, (Integer) args[0], (Integer) args[1]);
            return m.invoke(ref, args);
        });
    }

    @Test
    void eachDistinctResponseIsCorrelatedOnceWhateverTheProxies() {
        Graph g = Nb201Space.INSTANCE.build(ARCH, NET, true);
        Set<Response> distinct = new HashSet<>();
        for (Proxy.Term t : Proxy.WRCOR.terms(g)) distinct.add(t.response());
        for (Proxy.Term t : Proxy.WRCOR_RELU_ONLY.terms(g)) distinct.add(t.response());
        AtomicInteger corrcoefCalls = new AtomicInteger();
        try (Arena a = Arena.ofShared(); Engine e = new Engine(counting(corrcoefCalls, "corrcoef"), Nb201Space.INSTANCE, NET)) {
            Batch batch = Cifar10.synthetic(6, 10, 16, 1, a);
            e.score(ARCH, 3, batch, List.of(Proxy.WRCOR, Proxy.WRCOR_RELU_ONLY,
                    Proxy.ACT_COR, Proxy.GRAD_COR, Proxy.ACT_GRAD_COR, Proxy.JACOB_COR));
        }
        // every wrcor-family response once, plus jacob_cor's input gradient
        assertEquals(distinct.size() + 1, corrcoefCalls.get());
    }

    /**
     * The fast CPU backend's Winograd convolutions serve only sets of proxies that all tolerate them
     * (Proxy.toleratesFastConvolutions): with snip in the set, every score is the plain path's to the
     * bit; with wrcor and jacob_cor alone, Winograd runs (other bits) and stays within 1e-4; and the
     * scorer says so anew for each set on the same backend.
     */
    @Test
    void winogradServesOnlyTheProxiesThatTolerateIt() {
        NetSize net = new NetSize(16, 1, 10, 16);
        List<Proxy> tolerant = List.of(Proxy.WRCOR, Proxy.JACOB_COR), withSnip = List.of(Proxy.WRCOR, Proxy.JACOB_COR, Proxy.SNIP);
        try (Arena a = Arena.ofShared();
             io.wrcor.backend.cpu.FastCpuBackend w = new io.wrcor.backend.cpu.FastCpuBackend(2).winograd(io.wrcor.backend.cpu.FastCpuBackend.Winograd.EVERYWHERE);
             io.wrcor.backend.cpu.FastCpuBackend off = new io.wrcor.backend.cpu.FastCpuBackend(2).winograd(io.wrcor.backend.cpu.FastCpuBackend.Winograd.OFF);
             Engine ew = new Engine(w, Nb201Space.INSTANCE, net); Engine eo = new Engine(off, Nb201Space.INSTANCE, net)) {
            Batch batch = Cifar10.synthetic(16, 10, 16, 1, a);
            Scorer.Result plain = eo.score(ARCH, 3, batch, withSnip);
            for (int round = 0; round < 2; round++) {
                Scorer.Result fast = ew.score(ARCH, 3, batch, tolerant), guarded = ew.score(ARCH, 3, batch, withSnip);
                for (Proxy p : withSnip) assertEquals(plain.score(p), guarded.score(p), 0.0, p.label + " with snip in the set: no Winograd");
                for (Proxy p : tolerant) {
                    double want = plain.score(p), got = fast.score(p);
                    assertTrue(got != want, p.label + ": Winograd ran (other rounding)");
                    assertEquals(want, got, 1e-4 * Math.abs(want), p.label + " through Winograd");
                }
            }
        }
    }

    @Test
    void voteSetRunsOneForwardAndTwoBackwardPassesPlusSynflow() {
        AtomicInteger bnForward = new AtomicInteger();
        try (Arena a = Arena.ofShared(); Engine e = new Engine(counting(bnForward, "batchNormForward", "batchNormReluForward"), Nb201Space.INSTANCE, NET)) {
            Batch batch = Cifar10.synthetic(6, 10, 16, 1, a);
            e.score(ARCH, 3, batch, List.of(Proxy.SYNFLOW, Proxy.JACOB_COR, Proxy.WRCOR,
                    Proxy.SNIP, Proxy.GRAD_NORM, Proxy.NASWOT));
        }
        long bns = Nb201Space.INSTANCE.build(ARCH, NET, true).nodes().stream().filter(n -> n.op() instanceof io.wrcor.graph.Op.BatchNorm).count();
        assertEquals(bns, bnForward.get(), "one training-mode forward pass (synflow's network has no BN; a BN fused with its ReLU counts once)");
    }

    /**
     * A backward pass computes gradients only down to the first node that needs one: for wrcor alone
     * in the MobileNetV2-like space (its sites are the SE units' ReLUs) the stem and the first
     * block's main path get no backward step, and the score is the same, to the bit, as when
     * jacob_cor makes the pass go down to the input.
     */
    @Test
    void backwardPassesStopBelowTheLastGradientNeeded() {
        io.wrcor.space.SearchSpace space = io.wrcor.space.SearchSpaces.get("mbv2");
        NetSize size = new NetSize(1, 1, 10, 64);
        io.wrcor.space.Arch arch = space.parse("SuperConvK3BNRELU(3,16,2,1)SuperResIDWE6K3(16,24,2,8,2)SuperResIDWE4K5(24,32,1,16,1)SuperConvK1BNRELU(32,64,1,1)@64");
        Graph g = space.build(arch, size, true);
        Set<Response> sites = new HashSet<>();
        for (Proxy.Term t : Proxy.WRCOR.terms(g)) if (t.response().isGradient()) sites.add(t.response());
        boolean[] need = io.wrcor.graph.Executor.gradientsNeeded(g, false, false, sites);
        int first = sites.stream().mapToInt(Response::node).min().orElseThrow();
        for (int id = 0; id < g.size(); id++) {
            if (id < first) assertTrue(!need[id], "node " + id + " lies below every site");
        }
        assertTrue(need[g.logits()] && need[first]);
        assertTrue(io.wrcor.graph.Executor.gradientsNeeded(g, false, true, sites)[g.input()]);

        AtomicInteger alone = new AtomicInteger(), withJacobian = new AtomicInteger();
        try (Arena a = Arena.ofShared(); Engine e1 = new Engine(counting(alone, "batchNormBackward", "depthwiseBackwardData"), space, size);
             Engine e2 = new Engine(counting(withJacobian, "batchNormBackward", "depthwiseBackwardData"), space, size)) {
            Batch batch = Cifar10.synthetic(4, 10, 64, 1, a);
            double w1 = e1.score(arch, 3, batch, List.of(Proxy.WRCOR)).score(Proxy.WRCOR);
            int ceOnly = alone.get();
            Scorer.Result both = e2.score(arch, 3, batch, List.of(Proxy.WRCOR, Proxy.JACOB_COR));
            assertEquals(Double.doubleToLongBits(w1), Double.doubleToLongBits(both.score(Proxy.WRCOR)), "wrcor alone and beside jacob_cor");
            long bnAndDepthwise = g.nodes().stream().filter(n -> n.op() instanceof io.wrcor.graph.Op.BatchNorm || n.op() instanceof io.wrcor.graph.Op.DepthwiseConv).count();
            assertTrue(ceOnly > 0 && ceOnly < bnAndDepthwise, "wrcor's backward pass: " + ceOnly + " BN/depthwise steps of " + bnAndDepthwise);
            assertEquals(ceOnly + bnAndDepthwise, withJacobian.get(), "the jacobian's pass goes through every BN and depthwise layer");
        }
    }

    @Test
    void ablationKernelsAddUp() {
        try (Arena a = Arena.ofShared(); Engine e = new Engine(new ReferenceBackend(), Nb201Space.INSTANCE, NET)) {
            Batch batch = Cifar10.synthetic(6, 10, 16, 2, a);
            Scorer.Result r = e.score(ARCH, 5, batch, List.of(Proxy.ACT_COR, Proxy.GRAD_COR,
                    Proxy.ACT_GRAD_COR));
            double[] act = r.kernels().get(Proxy.ACT_COR), grad = r.kernels().get(Proxy.GRAD_COR);
            double[] both = r.kernels().get(Proxy.ACT_GRAD_COR);
            for (int i = 0; i < both.length; i++) assertEquals(act[i] + grad[i], both[i], 1e-9);
            assertTrue(r.used().get(Proxy.ACT_GRAD_COR) > 0);
        }
    }
}
