package io.wrcor.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A network as a list of nodes in topological order (every input id is smaller than the node's id),
 * with the response sites that WRCor and its relatives read, as the space's builder declares them.
 */
public record Graph(List<Node> nodes, int input, int logits, List<Site> sites, List<Integer> moduleOutputs, List<Integer> reluInputs,
                    List<Integer> features, List<String> parameterOrder) {

    public Graph(List<Node> nodes, int input, int logits, List<Site> sites) {
        this(nodes, input, logits, sites, List.of(), List.of(), List.of(), List.of());
    }

    /**
     * The parameter tensors in the order of the reference model's {@code named_parameters()} (what
     * VKDNW's "first 128 tensors" counts in): the order the space declared with {@link
     * #withParameterOrder}, else the order the graph reads them in (forward order), which is the
     * reference model's where it registers its modules in forward order.
     */
    public List<String> parameters() {
        return parameterOrder.isEmpty() ? List.copyOf(Weights.required(this).keySet()) : parameterOrder;
    }

    /** This graph with the reference model's parameter order declared: the same names as the graph reads, reordered. */
    public Graph withParameterOrder(List<String> order) {
        java.util.Set<String> read = Weights.required(this).keySet();
        if (order.size() != read.size() || !new java.util.HashSet<>(order).equals(read)) {
            throw new IllegalArgumentException("a parameter order must name each of the graph's " + read.size() + " parameter tensors once");
        }
        return new Graph(nodes, input, logits, sites, moduleOutputs, reluInputs, features, List.copyOf(order));
    }

    /**
     * A response site: a place in the network where the correlation proxies hook, with the weight
     * exponent i of WRCor's 2^i. The published code reads {@code acts} and {@code grads} there (a
     * response listed twice is read twice, as a module hooked twice is); the paper's reading
     * ({@code wrcor_relu_only}) reads {@code reluActs} and {@code reluGrads}. naswot reads
     * {@code acts}.
     */
    public record Site(int exponent, List<Response> acts, List<Response> grads, List<Response> reluActs, List<Response> reluGrads) {
        public Site {
            acts = List.copyOf(acts);
            grads = List.copyOf(grads);
            reluActs = List.copyOf(reluActs);
            reluGrads = List.copyOf(reluGrads);
        }
    }

    public Node node(int id) {
        return nodes.get(id);
    }

    /**
     * The values the published MeCo code's forward hooks see, one entry per hooked module of the
     * reference model (a node output by a module and its wrappers appears once for each); empty
     * when the space does not declare them. Modules whose first sample reshapes to one column (the
     * pooled features, the logits) are left out: their correlation matrix is all NaN, zeroed, and
     * adds nothing.
     */
    public List<Integer> moduleOutputs() {
        return moduleOutputs;
    }

    /**
     * The inputs of the reference model's {@code nn.ReLU} modules whose input is a 4-d map, once
     * each (SWAP's hooks read their outputs, whose signs are those of these inputs); empty when the
     * space does not declare them.
     */
    public List<Integer> reluInputs() {
        return reluInputs;
    }

    /**
     * AZ-NAS's feature list: the stem's output, then each cell's or block's output in order (a cell
     * that returns its input lists that node again); empty when the space does not declare it.
     */
    public List<Integer> features() {
        return features;
    }

    public int size() {
        return nodes.size();
    }

    /** Builds a graph node by node. */
    public static final class Builder {
        private final List<Node> nodes = new ArrayList<>();
        private final List<Site> sites = new ArrayList<>();
        private final List<Integer> moduleOutputs = new ArrayList<>();
        private final List<Integer> reluInputs = new ArrayList<>();
        private final List<Integer> features = new ArrayList<>();

        public int add(Op op, int[] shape, int... inputs) {
            for (int in : inputs) {
                if (in < 0 || in >= nodes.size()) throw new IllegalArgumentException("input " + in + " does not exist yet");
            }
            nodes.add(new Node(nodes.size(), op, inputs, shape));
            return nodes.size() - 1;
        }

        public int[] shape(int id) {
            return nodes.get(id).shape().clone();
        }

        public Node node(int id) {
            return nodes.get(id);
        }

        public void site(Site s) {
            sites.add(s);
        }

        /** {@code times} modules of the reference model output node {@code id} (see {@link Graph#moduleOutputs}). */
        public void moduleOutput(int id, int times) {
            if (id < 0 || id >= nodes.size()) throw new IllegalArgumentException("node " + id + " does not exist");
            for (int i = 0; i < times; i++) moduleOutputs.add(id);
        }

        /** Node {@code id} is the input of one of the reference model's {@code nn.ReLU} modules (see {@link Graph#reluInputs}). */
        public void reluModule(int id) {
            if (id < 0 || id >= nodes.size()) throw new IllegalArgumentException("node " + id + " does not exist");
            if (!reluInputs.contains(id)) reluInputs.add(id);
        }

        /** Node {@code id} is the next entry of AZ-NAS's feature list (see {@link Graph#features}). */
        public void feature(int id) {
            if (id < 0 || id >= nodes.size()) throw new IllegalArgumentException("node " + id + " does not exist");
            features.add(id);
        }

        public Graph build(int input, int logits) {
            return new Graph(Collections.unmodifiableList(new ArrayList<>(nodes)), input, logits, Collections.unmodifiableList(new ArrayList<>(sites)),
                    List.copyOf(moduleOutputs), List.copyOf(reluInputs), List.copyOf(features), List.of());
        }
    }
}
