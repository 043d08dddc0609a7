package io.wrcor.space.nb201;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Weights;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.List;
import java.util.Map;
import java.util.random.RandomGenerator;

/**
 * NAS-Bench-201: a cell of six edges, each one of five ops (15,625 architectures), stacked as the
 * benchmark does (stem, 3 x N cells with two residual reduction blocks, lastact, classifier).
 */
public final class Nb201Space implements SearchSpace {
    public static final Nb201Space INSTANCE = new Nb201Space();
    public static final int SIZE = 15_625;

    private Nb201Space() {
    }

    @Override
    public String name() {
        return "nb201";
    }

    @Override
    public String description() {
        return "NAS-Bench-201: |op~0|+|op~0|op~1|+|op~0|op~1|op~2| over none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3";
    }

    @Override
    public Nb201Arch parse(String s) {
        return Nb201Arch.parse(s);
    }

    @Override
    public Nb201Arch sample(RandomGenerator rnd) {
        return Nb201Arch.sample(rnd);
    }

    /** One edge, chosen uniformly, gets a different op, chosen uniformly among the other four. */
    @Override
    public Nb201Arch mutate(Arch parent, RandomGenerator rnd) {
        Nb201Arch p = (Nb201Arch) parent;
        Nb201Op[] ops = new Nb201Op[Nb201Arch.EDGES];
        for (int j = 0; j < ops.length; j++) ops[j] = p.op(j);
        int edge = rnd.nextInt(Nb201Arch.EDGES);
        Nb201Op[] all = Nb201Op.values();
        int pick = rnd.nextInt(all.length - 1);
        ops[edge] = all[pick >= ops[edge].ordinal() ? pick + 1 : pick];
        return new Nb201Arch(ops);
    }

    /** A categorical distribution over the five ops per edge, logits all zero at the start. */
    @Override
    public Policy policy() {
        int[] cats = new int[Nb201Arch.EDGES];
        java.util.Arrays.fill(cats, Nb201Op.values().length);
        Nb201Op[] all = Nb201Op.values();
        return new Policy(cats, 0, 0.0, (choices, bits) -> {
            Nb201Op[] ops = new Nb201Op[choices.length];
            for (int e = 0; e < ops.length; e++) ops[e] = all[choices[e]];
            return new Nb201Arch(ops);
        });
    }

    @Override
    public NetSize defaultSize() {
        return new NetSize(16, 5, 10, 32);
    }

    /** meta C, N, num_classes of the fixture format. */
    @Override
    public NetSize sizeOf(Map<String, Object> meta, NetSize dflt) {
        return new NetSize(intMeta(meta.get("C"), dflt.channels()), intMeta(meta.get("N"), dflt.cells()),
                intMeta(meta.get("num_classes"), dflt.classes()), dflt.imageSize());
    }

    static int intMeta(Object v, int dflt) {
        return v instanceof Double d ? d.intValue() : dflt;
    }

    @Override
    public Arch archOf(Map<String, Object> meta) {
        return meta.get("arch") instanceof String s ? Nb201Arch.parse(s) : null;
    }

    @Override
    public Graph build(Arch arch, NetSize size, boolean batchNorm) {
        return new Nb201Network(size.channels(), size.cells(), size.classes(), size.imageSize()).build((Nb201Arch) arch, batchNorm);
    }

    /** PyTorch's default initialisation (the reference builds its modules with it). */
    @Override
    public Weights init(Graph g, long seed, Arena arena, Map<String, Tensor> drawn) {
        return Weights.init(g, seed, arena, drawn);
    }

    @Override
    public GroundTruthFormat groundTruth() {
        return new GroundTruthFormat("nb201-accuracy.csv", List.of("ArchitectureString"),
                List.of("CIFAR10TestAccuracy200Epochs", "CIFAR100TestAccuracy200Epochs", "ImageNetTestAccuracy200Epochs"),
                List.of("cifar10", "cifar100", "ImageNet16-120"), SIZE, values -> values.getFirst(), List.of("ArchitectureString"));
    }
}
