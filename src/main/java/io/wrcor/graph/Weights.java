package io.wrcor.graph;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.util.Arrays;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.SplittableRandom;

/** A network's parameters by PyTorch state_dict name, owned by one arena. */
public final class Weights {
    private final Map<String, Tensor> tensors;

    public Weights(Map<String, Tensor> tensors) {
        this.tensors = Collections.unmodifiableMap(new LinkedHashMap<>(tensors));
    }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("missing parameter tensor '" + name + "'");
        return t;
    }

    public Map<String, Tensor> all() {
        return tensors;
    }

    /** The parameters a graph reads, with the shape each must have. */
    public static Map<String, int[]> required(Graph g) {
        Map<String, int[]> req = new LinkedHashMap<>();
        for (Node n : g.nodes()) {
            switch (n.op()) {
                case Op.Conv c -> req.put(c.param() + ".weight", c.weightShape());
                case Op.BatchNorm bn -> {
                    req.put(bn.param() + ".weight", new int[]{bn.channels()});
                    req.put(bn.param() + ".bias", new int[]{bn.channels()});
                }
                case Op.Linear l -> {
                    req.put(l.param() + ".weight", new int[]{l.out(), l.in()});
                    req.put(l.param() + ".bias", new int[]{l.out()});
                }
                case Op.DepthwiseConv c -> req.put(c.param() + ".weight", new int[]{c.channels(), 1, c.k(), c.k()});
                case Op.Bias b -> req.put(b.param() + ".bias", new int[]{b.channels()});
                default -> { }
            }
        }
        return req;
    }

    /** Checks that every parameter the graph reads is present with the right shape. */
    public void requireFor(Graph g) {
        for (var e : required(g).entrySet()) {
            Tensor t = tensors.get(e.getKey());
            if (t == null) throw new IllegalArgumentException("missing parameter tensor '" + e.getKey() + "'");
            if (!Arrays.equals(t.shape(), e.getValue())) {
                throw new IllegalArgumentException("parameter '" + e.getKey() + "' has shape " + Arrays.toString(t.shape())
                        + ", the network needs " + Arrays.toString(e.getValue()));
            }
        }
    }

    /**
     * PyTorch's default initialisation (same distributions, not the same random stream): conv and
     * linear weights and biases U(-1/sqrt(fan_in), 1/sqrt(fan_in)), BN gamma 1 and beta 0. Each
     * tensor draws from a stream seeded by (seed, name), so a layer gets the same values in every
     * architecture that has it.
     */
    public static Weights init(Graph g, long seed, Arena arena) {
        return init(g, seed, arena, new java.util.HashMap<>());
    }

    /**
     * As {@link #init(Graph, long, Arena)}, reusing the tensors already in {@code drawn} (keyed by
     * name and shape, all drawn from the same seed): across the architectures of one run, a layer's
     * values are drawn once.
     */
    public static Weights init(Graph g, long seed, Arena arena, Map<String, Tensor> drawn) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (var e : required(g).entrySet()) {
            String name = e.getKey();
            int[] shape = e.getValue();
            String key = name + Arrays.toString(shape);
            Tensor cached = drawn.get(key);
            if (cached != null) {
                out.put(name, cached);
                continue;
            }
            Tensor t = Tensor.allocate(arena, DType.F32, shape);
            drawn.put(key, t);
            if (name.endsWith(".weight") && shape.length == 1) {
                t.fill(1.0); // BN gamma
            } else if (name.endsWith(".bias") && isBatchNorm(g, name)) {
                t.fill(0.0); // BN beta
            } else {
                int fanIn = fanIn(g, name, shape);
                double bound = 1.0 / Math.sqrt(fanIn);
                SplittableRandom rnd = new SplittableRandom(seed * 0x9E3779B97F4A7C15L ^ name.hashCode());
                for (long i = 0; i < t.numel(); i++) t.setF(i, (float) ((rnd.nextDouble() * 2 - 1) * bound));
            }
            out.put(name, t);
        }
        return new Weights(out);
    }

    private static boolean isBatchNorm(Graph g, String name) {
        String prefix = name.substring(0, name.lastIndexOf('.'));
        return g.nodes().stream().anyMatch(n -> n.op() instanceof Op.BatchNorm bn && bn.param().equals(prefix));
    }

    private static int fanIn(Graph g, String name, int[] shape) {
        if (shape.length > 1) {
            int f = 1;
            for (int i = 1; i < shape.length; i++) f *= shape[i];
            return f;
        }
        // a linear layer's or a conv's bias: fan_in of its weight
        String prefix = name.substring(0, name.lastIndexOf('.'));
        for (Node n : g.nodes()) {
            if (n.op() instanceof Op.Linear l && l.param().equals(prefix)) return l.in();
            if (n.op() instanceof Op.Conv c && c.param().equals(prefix)) return c.cinPerGroup() * c.tapCount();
        }
        throw new IllegalStateException("no layer owns " + name);
    }

    /** |w| in float64 of every parameter graph g reads: synflow's linearised network. */
    public Weights absFloat64(Graph g, Arena arena) {
        Map<String, Tensor> out = new LinkedHashMap<>();
        for (String name : required(g).keySet()) {
            Tensor src = get(name);
            Tensor t = Tensor.allocate(arena, DType.F64, src.shape());
            for (long i = 0; i < t.numel(); i++) t.setD(i, Math.abs(src.get(i)));
            out.put(name, t);
        }
        return new Weights(out);
    }
}
