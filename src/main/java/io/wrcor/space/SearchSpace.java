package io.wrcor.space;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * A search space: what the commands, the searches and the scorer need to know about one family of
 * architectures. Everything space-specific lives behind this interface; the rest of the engine never
 * asks which space it is working in. Spaces are found by name in {@link SearchSpaces}.
 */
public interface SearchSpace {
    /** The name on the command line ({@code --space}) and in results files. */
    String name();

    /** The space whose sampler, mutation and policy keep to this FLOPs limit; spaces without one refuse. */
    default SearchSpace withFlopsLimit(double limit) {
        throw new IllegalArgumentException("the " + name() + " space has no FLOPs limit (--flops-limit is for mbv2)");
    }

    /** One line for the help text. */
    String description();

    /** A canonical architecture from its string; a clear {@link IllegalArgumentException} otherwise. */
    Arch parse(String s);

    /**
     * The identity under which a benchmark's table lists an architecture: its canonical string, or
     * where the benchmark counts isomorphic forms as one (NAS-Bench-101), a key shared by them.
     */
    default String key(Arch arch) {
        return arch.toString();
    }

    /** The network's size as results files key it ({@code net=} of the run): what, besides the architecture, builds the network. */
    default String netKey(NetSize net) {
        return net.key();
    }

    /** An architecture drawn uniformly from the space as the published search draws it. */
    Arch sample(RandomGenerator rnd);

    /** The published evolution's mutation of {@code parent}. */
    Arch mutate(Arch parent, RandomGenerator rnd);

    /** REINFORCE's parametrisation of the space. */
    Policy policy();

    /** The network size the benchmark uses. */
    NetSize defaultSize();

    /** The network size a weights folder's {@code meta} describes, {@code dflt} for what it does not say. */
    NetSize sizeOf(Map<String, Object> meta, NetSize dflt);

    /**
     * What {@code score} computes when no proxies are named: every proxy but those computed only by
     * name ({@link io.wrcor.proxy.Proxy#byNameOnly}: VKDNW's one backward pass per class).
     */
    default java.util.List<io.wrcor.proxy.Proxy> defaultProxies() {
        return java.util.Arrays.stream(io.wrcor.proxy.Proxy.values()).filter(p -> !p.byNameOnly()).toList();
    }

    /** What the search reports about a found architecture besides its scores (e.g. its input resolution), or null. */
    default String details(Arch arch) {
        return null;
    }

    /** How many evaluations the published search of this space makes (the default of {@code search --n}). */
    default int publishedEvaluations() {
        return 1000;
    }

    default String note(Arch arch) {
        return null;
    }

    /** The architecture a weights folder's {@code meta} describes, or null. */
    Arch archOf(Map<String, Object> meta);

    /**
     * The network of {@code arch}, its response sites declared; {@code batchNorm} false removes every
     * BN (synflow's network, which has no sites).
     */
    Graph build(Arch arch, NetSize size, boolean batchNorm);

    /**
     * The space's initialisation of the parameters {@code g} reads, drawn per tensor name from
     * {@code seed}; tensors already in {@code drawn} (same name and shape, same seed) are reused.
     */
    Weights init(Graph g, long seed, Arena arena, Map<String, Tensor> drawn);

    /**
     * The {@code params} proxy of {@code arch}, whose network {@code graph} is: its trainable
     * parameters, unless the space publishes its own count.
     */
    default double params(Arch arch, NetSize size, Graph graph) {
        return io.wrcor.proxy.Scorer.params(graph);
    }

    /** The {@code flops} proxy: multiply-accumulates of one sample of {@code graph}, unless the space publishes its own count. */
    default double flops(Arch arch, NetSize size, Graph graph) {
        return io.wrcor.proxy.Scorer.flops(graph);
    }

    /** The ground-truth table's layout in this space. */
    GroundTruthFormat groundTruth();

    /**
     * REINFORCE's policy: independent categorical choices (softmax over logits) and binary choices
     * (Bernoulli of sigmoid(logit)), decoded into an architecture; an invalid draw is redrawn whole.
     *
     * @param initScale the initial logits are initScale * N(0, 1) (0: all zero)
     */
    record Policy(int[] categorical, int binary, double initScale, Decoder decoder) {
        /** The architecture of a draw, or null when it is not valid. */
        public interface Decoder {
            Arch decode(int[] choices, boolean[] bits);
        }
    }

    /**
     * How a ground-truth table of this space is read: the column with the architecture (or how to
     * make it from a row), the accuracy columns and their labels, and how many rows a complete table has.
     *
     * @param defaultFile the table's file name in the shared data folder; null when the space has none (accuracy needs training)
     * @param complete the number of architectures of the space, when the table must hold all of them; 0 otherwise
     * @param rowColumns the columns that identify a row: a row repeating them is the same measurement again (refused when
     *                   its accuracies differ); rows that differ there may still name one architecture (NAS-Bench-101's raw
     *                   specs that prune to one cell, each measured on its own)
     */
    record GroundTruthFormat(String defaultFile, List<String> archColumns, List<String> accuracyColumns, List<String> labels, int complete, ArchOfRow arch,
                             List<String> rowColumns) {
        public interface ArchOfRow {
            String arch(List<String> values);
        }
    }
}
