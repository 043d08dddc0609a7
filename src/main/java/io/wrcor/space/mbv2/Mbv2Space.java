package io.wrcor.space.mbv2;

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
 * The MobileNetV2-like ImageNet space of the paper's headline search: structure strings with an input
 * resolution ({@link Mbv2Arch}), the published network ({@link Mbv2Network}), the published sampler
 * and mutation under a FLOPs limit ({@link Mbv2Sampler}), and the published FLOP and size counters
 * as the {@code flops} and {@code params} proxies. 1000 classes and 224 x 224 inputs by default.
 */
public final class Mbv2Space implements SearchSpace {
    public static final double DEFAULT_FLOPS_LIMIT = 600e6;
    public static final Mbv2Space INSTANCE = new Mbv2Space(DEFAULT_FLOPS_LIMIT);

    private final Mbv2Sampler sampler;

    public Mbv2Space(double flopsLimit) {
        this.sampler = new Mbv2Sampler(flopsLimit);
    }

    @Override
    public SearchSpace withFlopsLimit(double limit) {
        return new Mbv2Space(limit);
    }

    @Override
    public String name() {
        return "mbv2";
    }

    @Override
    public String description() {
        return "MobileNetV2-like: SuperConvK3BNRELU(3,32,2,1)SuperResIDWE6K3(32,48,2,16,1)...SuperConvK1BNRELU(256,1280,1,1)@224";
    }

    @Override
    public String details(Arch arch) {
        Mbv2Arch m = (Mbv2Arch) arch;
        return "resolution " + m.resolution() + ", " + m.blocks().size() + " blocks";
    }

    /** The paper's ImageNet search: 5,000 candidates. */
    @Override
    public int publishedEvaluations() {
        return 5000;
    }

    @Override
    public Mbv2Arch parse(String s) {
        return Mbv2Arch.parse(s);
    }

    @Override
    public Mbv2Arch sample(RandomGenerator rnd) {
        return sampler.sample(rnd);
    }

    @Override
    public Mbv2Arch mutate(Arch parent, RandomGenerator rnd) {
        return sampler.mutate((Mbv2Arch) parent, rnd);
    }

    @Override
    public Policy policy() {
        return sampler.policy();
    }

    /** The structure string says every width and depth; only the classes come from the size. */
    @Override
    public String netKey(NetSize net) {
        return "structure,classes=" + net.classes();
    }

    @Override
    public NetSize defaultSize() {
        return new NetSize(1, 1, 1000, 224);
    }

    /** meta num_classes and input_hw of the fixture format. */
    @Override
    public NetSize sizeOf(Map<String, Object> meta, NetSize dflt) {
        return new NetSize(dflt.channels(), dflt.cells(), meta.get("num_classes") instanceof Double d ? d.intValue() : dflt.classes(),
                meta.get("input_hw") instanceof Double d ? d.intValue() : dflt.imageSize());
    }

    @Override
    public Arch archOf(Map<String, Object> meta) {
        if (!(meta.get("structure") instanceof String s)) return null;
        return Mbv2Arch.parse(s + (meta.get("resolution") instanceof Double r ? "@" + r.intValue() : ""));
    }

    @Override
    public Graph build(Arch arch, NetSize size, boolean batchNorm) {
        return new Mbv2Network(size.imageSize(), size.classes()).build((Mbv2Arch) arch, batchNorm);
    }

    /** PyTorch's defaults (the published init_parameters is never called). */
    @Override
    public Weights init(Graph g, long seed, Arena arena, Map<String, Tensor> drawn) {
        return Weights.init(g, seed, arena, drawn);
    }

    /** The published get_model_size. */
    @Override
    public double params(Arch arch, NetSize size, Graph graph) {
        return ((Mbv2Arch) arch).params(size.classes());
    }

    /** The published get_FLOPs. */
    @Override
    public double flops(Arch arch, NetSize size, Graph graph) {
        return ((Mbv2Arch) arch).flops(size.classes());
    }

    /** No ground-truth table: training ImageNet networks is beyond this engine. */
    @Override
    public GroundTruthFormat groundTruth() {
        // no default table: the ImageNet accuracy of an architecture needs training (--gt FILE gives one)
        return new GroundTruthFormat(null, List.of("structure", "resolution"), List.of("top1"), List.of("imagenet-top1"), 0,
                values -> values.get(0) + "@" + values.get(1), List.of("structure", "resolution"));
    }
}
