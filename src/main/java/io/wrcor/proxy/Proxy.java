package io.wrcor.proxy;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Response;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.EnumSet;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Set;
import java.util.stream.Collectors;

/** The training-free proxies, each with what it needs from the passes over a network. */
public enum Proxy {
    /** WRCor as the published code computes it (wrapper-module hooks included). */
    WRCOR("wrcor", Sites.ALL, true, true),
    /** WRCor as the paper reads: ReLU sites only, lastact before its ReLU. */
    WRCOR_RELU_ONLY("wrcor_relu_only", Sites.ALL, true, false),
    ACT_COR("act_cor", Sites.ACTIVATIONS, false, true),
    GRAD_COR("grad_cor", Sites.GRADIENTS, false, true),
    ACT_GRAD_COR("act_grad_cor", Sites.ALL, false, true),
    NASWOT("naswot"),
    JACOB_COR("jacob_cor"),
    SYNFLOW("synflow"),
    SNIP("snip"),
    GRAD_NORM("grad_norm"),
    PARAMS("params"),
    FLOPS("flops"),
    /**
     * MeCo (Jiang et al., NeurIPS 2023) as its authors' NAS-Bench-201 code computes it: one image
     * through the network (training-mode BN over that image), and for the output of every module
     * of their model, the smallest eigenvalue of the correlation matrix of its channels over the
     * spatial positions (NaN entries zeroed), summed. In the MobileNetV2-like space, whose SE BNs
     * cannot take one image, the whole batch goes through and each output's first sample is read.
     */
    MECO("meco"),
    /** ZiCo (Li et al., ICLR 2023; {@link Zico}): its two batches are the halves of the batch. */
    ZICO("zico"),
    /** SWAP (Peng et al., ICLR 2024; {@link Swap}): distinct sample-wise activation patterns of the ReLU modules. */
    SWAP("swap"),
    /** AZ-NAS's expressivity (Lee and Ham, CVPR 2024; {@link AzNas}). */
    AZ_EXPRESSIVITY("az_expressivity"),
    /** AZ-NAS's progressivity ({@link AzNas}). */
    AZ_PROGRESSIVITY("az_progressivity"),
    /** AZ-NAS's trainability ({@link AzNas}). */
    AZ_TRAINABILITY("az_trainability"),
    /** AZ-NAS's complexity: the network's FLOPs (the authors read them from the benchmark's API; here the space's {@code flops}). */
    AZ_COMPLEXITY("az_complexity"),
    /** VKDNW's entropy (Tybl and Neumann, CVPR 2025; {@link Vkdnw}): of the Fisher matrix's spectrum over 128 weights. */
    VKDNW_ENTROPY("vkdnw_entropy"),
    /** VKDNW's dimension: the network's number of parameter tensors ({@link Vkdnw#dim}). */
    VKDNW_DIM("vkdnw_dim"),
    /** VKDNW's single score: by vkdnw_dim, then vkdnw_entropy ({@link Vkdnw#single}). */
    VKDNW("vkdnw");

    /** What the passes over one architecture must produce. */
    public enum Need {
        /** Training-mode forward pass over the batch. */
        FORWARD,
        /** Backward pass of the mean cross-entropy, with gradient responses. */
        CE_BACKWARD,
        /** Weight gradients of the cross-entropy backward pass. */
        CE_WEIGHT_GRADS,
        /** Backward pass of the summed logits to the input. */
        INPUT_JACOBIAN,
        /** synflow's own float64 pass over the BN-free network. */
        SYNFLOW_PASS,
        /** meco's own forward pass of the batch's first image. */
        MECO_PASS,
        /** zico's own two passes (forward, cross-entropy backward, weight gradients), one per half of the batch. */
        ZICO_PASSES,
        /** AZ-NAS's trainability: one vector-Jacobian product per cell over the training-mode forward pass. */
        CELL_JACOBIANS,
        /** VKDNW's eval-mode forward pass and one backward pass per class (the per-sample Jacobian of the logits). */
        VKDNW_JACOBIAN
    }

    private enum Sites { ACTIVATIONS, GRADIENTS, ALL }

    public final String label;
    /**
     * The version of this proxy's definition: raised whenever what it computes changes, so that a
     * results file never serves a score computed by an older definition.
     */
    public final int version = 1;
    private final Sites sites;
    private final boolean weighted;
    private final boolean publishedHooks;

    Proxy(String label) {
        this(label, null, false, false);
    }

    Proxy(String label, Sites sites, boolean weighted, boolean publishedHooks) {
        this.label = label;
        this.sites = sites;
        this.weighted = weighted;
        this.publishedHooks = publishedHooks;
    }

    public static Proxy parse(String s) {
        Proxy p = find(s);
        if (p != null) return p;
        throw new IllegalArgumentException("unknown proxy '" + s + "' (expected one of " + labels() + ")");
    }

    /** The proxy of this label, or null. */
    public static Proxy find(String s) {
        for (Proxy p : values()) if (p.label.equals(s.trim())) return p;
        return null;
    }

    public static String labels() {
        return Arrays.stream(values()).map(p -> p.label).collect(Collectors.joining(", "));
    }

    /** Parses a comma-separated list, keeping order and dropping repeats. */
    public static List<Proxy> parseList(String csv) {
        Set<Proxy> out = new LinkedHashSet<>();
        for (String s : csv.split(",")) {
            if (s.isBlank()) throw new IllegalArgumentException("empty name in proxy list '" + csv + "'");
            out.add(parse(s));
        }
        return List.copyOf(out);
    }

    /**
     * Whether this proxy is left out of {@code score}'s default list and computed only when named:
     * VKDNW's entropy (and its single score) costs one backward pass per class, 10 on CIFAR and
     * 1000 on ImageNet, where every other proxy costs at most two.
     */
    public boolean byNameOnly() {
        return this == VKDNW_ENTROPY || this == VKDNW;
    }

    /**
     * Whether this proxy's float32 value stays within the fixtures' rule when convolutions carry a few
     * times float32's rounding error of a direct sum (Winograd F(2x2, 3x3), measured on every fixture by
     * FixtureParityTest.fastCpuBackendWithWinogradEverywhereMatchesEveryFixture: wrcor and jacob_cor
     * move by 6e-5 at most, naswot's codes not at all; synflow runs in float64, untouched). Not the
     * proxies that sum weight gradients over a whole network (snip and grad_norm moved by up to 3e-4
     * there, past the rule) nor those not measured under it.
     */
    public boolean toleratesFastConvolutions() {
        return switch (this) {
            case WRCOR, WRCOR_RELU_ONLY, JACOB_COR, NASWOT, SYNFLOW, PARAMS, FLOPS -> true;
            default -> false;
        };
    }

    public boolean isCorrelation() {
        return sites != null;
    }

    public Set<Need> needs() {
        if (isCorrelation()) {
            return sites == Sites.ACTIVATIONS ? EnumSet.of(Need.FORWARD) : EnumSet.of(Need.FORWARD, Need.CE_BACKWARD);
        }
        return switch (this) {
            case NASWOT, SWAP, AZ_EXPRESSIVITY, AZ_PROGRESSIVITY -> EnumSet.of(Need.FORWARD);
            case AZ_TRAINABILITY -> EnumSet.of(Need.FORWARD, Need.CELL_JACOBIANS);
            case ZICO -> EnumSet.of(Need.ZICO_PASSES);
            case JACOB_COR -> EnumSet.of(Need.FORWARD, Need.INPUT_JACOBIAN);
            case SYNFLOW -> EnumSet.of(Need.SYNFLOW_PASS);
            case MECO -> EnumSet.of(Need.MECO_PASS);
            case VKDNW, VKDNW_ENTROPY -> EnumSet.of(Need.VKDNW_JACOBIAN);
            case SNIP, GRAD_NORM -> EnumSet.of(Need.FORWARD, Need.CE_BACKWARD, Need.CE_WEIGHT_GRADS);
            default -> EnumSet.noneOf(Need.class);
        };
    }

    /** What a set of proxies needs computed, together. */
    public static Set<Need> needsOf(java.util.Collection<Proxy> proxies) {
        Set<Need> needs = EnumSet.noneOf(Need.class);
        for (Proxy p : proxies) needs.addAll(p.needs());
        return needs;
    }

    /** One response matrix of a correlation proxy: K += weight * |corrcoef(response)|. */
    public record Term(Response response, double weight) {}

    /**
     * The response matrices of a correlation proxy, one term per matrix the published code adds
     * (a response read twice appears twice): for every site the space's builder declared, with
     * w = 2^exponent (or 1 when unweighted), the published reading's activations and gradients, or
     * the paper's reading's for {@code wrcor_relu_only}.
     */
    public List<Term> terms(Graph g) {
        if (!isCorrelation()) throw new IllegalStateException(label + " is not a correlation proxy");
        boolean acts = sites != Sites.GRADIENTS, grads = sites != Sites.ACTIVATIONS;
        List<Term> terms = new ArrayList<>();
        for (Graph.Site s : g.sites()) {
            double w = weighted ? Math.scalb(1.0, s.exponent()) : 1.0;
            if (acts) for (Response r : publishedHooks ? s.acts() : s.reluActs()) terms.add(new Term(r, w));
            if (grads) for (Response r : publishedHooks ? s.grads() : s.reluGrads()) terms.add(new Term(r, w));
        }
        return terms;
    }

    /** naswot's binary-code sites: the forward responses the published code reads at every site. */
    public static List<Response> naswotSites(Graph g) {
        List<Response> sites = new ArrayList<>();
        for (Graph.Site s : g.sites()) sites.addAll(s.acts());
        return sites;
    }
}
