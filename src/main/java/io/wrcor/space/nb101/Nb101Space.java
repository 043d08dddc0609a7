package io.wrcor.space.nb101;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Node;
import io.wrcor.graph.Op;
import io.wrcor.graph.Weights;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.random.RandomGenerator;

/**
 * NAS-Bench-101: cells of up to 7 vertices and 9 edges over conv3x3-bn-relu, conv1x1-bn-relu and
 * maxpool3x3, in three stacks (see {@link Nb101Network}). Architectures are pruned specs
 * ({@link Nb101Spec}).
 */
public final class Nb101Space implements SearchSpace {
    public static final Nb101Space INSTANCE = new Nb101Space();

    private Nb101Space() {
    }

    @Override
    public String name() {
        return "nb101";
    }

    @Override
    public String description() {
        return "NAS-Bench-101: 'rows ops', e.g. '0110;0001;0001;0000 input;conv3x3-bn-relu;maxpool3x3;output' (up to 7 vertices, 9 edges)";
    }

    @Override
    public Nb101Spec parse(String s) {
        return Nb101Spec.parse(s);
    }

    /** One of the dataset's 423,624 distinct cells, uniformly ({@link Nb101Cells}). */
    @Override
    public Nb101Spec sample(RandomGenerator rnd) {
        return Nb101Cells.get(rnd.nextInt(Nb101Cells.COUNT));
    }

    /** Isomorphic cells are one cell of the benchmark: tables are looked up by NAS-Bench-101's graph hash. */
    @Override
    public String key(Arch arch) {
        return Nb101Cells.hash((Nb101Spec) arch);
    }

    private static Nb101Spec tryOf(boolean[][] adj, Nb101Op[] ops) {
        try {
            return Nb101Spec.of(adj, ops, "spec");
        } catch (IllegalArgumentException e) {
            return null;
        }
    }

    /**
     * The published mutation (probability 1): on the parent's pruned matrix, one interior vertex,
     * chosen uniformly, gets one of the two other ops, and one upper-triangular entry, chosen
     * uniformly in row-major order, gets a fresh 0 or 1; repeated until the child is valid. A
     * two-vertex parent (input -> output) has nothing to change and is returned as it is.
     */
    @Override
    public Nb101Spec mutate(Arch parent, RandomGenerator rnd) {
        Nb101Spec p = (Nb101Spec) parent;
        int n = p.vertices();
        if (n == 2) return p;
        Nb101Op[] all = Nb101Op.values();
        while (true) {
            boolean[][] adj = p.matrix();
            Nb101Op[] ops = new Nb101Op[n - 2];
            for (int v = 1; v < n - 1; v++) ops[v - 1] = p.op(v);
            int v = rnd.nextInt(n - 2);
            int pick = rnd.nextInt(all.length - 1);
            ops[v] = all[pick >= ops[v].ordinal() ? pick + 1 : pick];
            int e = rnd.nextInt(n * (n - 1) / 2), i = 0;
            while (e >= n - 1 - i) e -= n - 1 - i++;
            adj[i][i + 1 + e] = rnd.nextBoolean();
            Nb101Spec child = tryOf(adj, ops);
            if (child != null) return child;
        }
    }

    /** Op logits 5 x 3 (softmax per interior vertex) and edge logits 7 x 7 (Bernoulli of the sigmoid), initially 1e-3 N(0, 1). */
    @Override
    public Policy policy() {
        int interior = Nb101Spec.MAX_VERTICES - 2, n = Nb101Spec.MAX_VERTICES;
        int[] cats = new int[interior];
        Arrays.fill(cats, Nb101Op.values().length);
        Nb101Op[] all = Nb101Op.values();
        return new Policy(cats, n * n, 1e-3, (choices, bits) -> {
            boolean[][] adj = new boolean[n][n];
            for (int i = 0; i < n; i++) for (int j = i + 1; j < n; j++) adj[i][j] = bits[i * n + j];
            Nb101Op[] ops = new Nb101Op[interior];
            for (int v = 0; v < interior; v++) ops[v] = all[choices[v]];
            return tryOf(adj, ops);
        });
    }

    @Override
    public NetSize defaultSize() {
        return new NetSize(128, 3, 10, 32);
    }

    /** meta stem, cells, num_classes, input_hw of the fixture format. */
    @Override
    public NetSize sizeOf(Map<String, Object> meta, NetSize dflt) {
        if (meta.get("stacks") instanceof Double d && d.intValue() != Nb101Network.STACKS) {
            throw new IllegalArgumentException("a NAS-Bench-101 network has " + Nb101Network.STACKS + " stacks, the folder's meta says " + d.intValue());
        }
        return new NetSize(intMeta(meta.get("stem"), dflt.channels()), intMeta(meta.get("cells"), dflt.cells()),
                intMeta(meta.get("num_classes"), dflt.classes()), intMeta(meta.get("input_hw"), dflt.imageSize()));
    }

    private static int intMeta(Object v, int dflt) {
        return v instanceof Double d ? d.intValue() : dflt;
    }

    @Override
    public Arch archOf(Map<String, Object> meta) {
        return meta.get("spec") instanceof String s ? Nb101Spec.parse(s) : null;
    }

    @Override
    public String note(Arch arch) {
        return ((Nb101Spec) arch).publishedBackwardFails()
                ? "the published port raises on this spec (its in-place add of the input projection breaks backward); computed as"
                        + " NAS-Bench-101 defines the cell"
                : null;
    }

    @Override
    public Graph build(Arch arch, NetSize size, boolean batchNorm) {
        return new Nb101Network(size.channels(), size.cells(), size.classes(), size.imageSize()).build((Nb101Spec) arch, batchNorm);
    }

    /**
     * The published _initialize_weights: conv weights N(0, sqrt(2 / (k * k * out_channels))), BN
     * gamma 1 and beta 0, linear weight N(0, 0.01) and bias 0; each tensor drawn from a stream seeded
     * by (seed, name).
     */
    @Override
    public Weights init(Graph g, long seed, Arena arena, Map<String, Tensor> drawn) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        Map<String, Op> owner = new LinkedHashMap<>();
        for (Node n : g.nodes()) {
            switch (n.op()) {
                case Op.Conv c -> owner.put(c.param(), c);
                case Op.BatchNorm bn -> owner.put(bn.param(), bn);
                case Op.Linear l -> owner.put(l.param(), l);
                default -> { }
            }
        }
        for (var e : Weights.required(g).entrySet()) {
            String name = e.getKey();
            int[] shape = e.getValue();
            String key = name + Arrays.toString(shape);
            Tensor t = drawn.get(key);
            if (t == null) {
                t = Tensor.allocate(arena, DType.F32, shape);
                drawn.put(key, t);
                Op op = owner.get(name.substring(0, name.lastIndexOf('.')));
                boolean weight = name.endsWith(".weight");
                SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
                switch (op) {
                    case Op.Conv c -> gaussian(t, Math.sqrt(2.0 / (c.k() * c.k() * c.cout())), rnd);
                    case Op.Linear l -> {
                        if (weight) gaussian(t, 0.01, rnd);
                        else t.fill(0.0);
                    }
                    default -> t.fill(weight ? 1.0 : 0.0); // BN gamma 1, beta 0
                }
            }
            out.put(name, t);
        }
        return new Weights(out);
    }

    private static void gaussian(Tensor t, double std, SplittableRandom rnd) {
        for (long i = 0; i < t.numel(); i++) t.setF(i, (float) (rnd.nextGaussian() * std));
    }

    /** The validation table: 500 specs with their validation accuracy after 108 epochs. */
    @Override
    public GroundTruthFormat groundTruth() {
        return new GroundTruthFormat("nb101-val-accuracy-500.csv", List.of("pruned_matrix", "pruned_ops"), List.of("val_accuracy_108ep"),
                List.of("cifar10-val"), 0, values -> values.get(0) + " " + values.get(1),
                // a row is a raw spec: several raw specs prune to one cell, each with its own measured accuracy
                List.of("raw_matrix_7x7", "raw_ops"));
    }

}
