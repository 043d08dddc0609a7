package io.wrcor.graph;

import java.util.ArrayList;
import java.util.Collections;
import java.util.List;

/**
 * A network as a list of nodes in topological order (every input id is smaller than the node's id),
 * with the response sites that WRCor and its relatives read.
 *
 * @param units    every ReLU -> Conv -> BN unit, with the block it belongs to
 * @param lastAct  the final BN -> ReLU before global pooling
 * @param blocks   number of blocks (cells and reduction blocks); lastact's weight exponent
 */
public record Graph(List<Node> nodes, int input, int logits, List<ConvUnit> units, LastAct lastAct, int blocks) {

    /** A ReLU -> Conv -> BN unit of block {@code block}; the unit's input x is the ReLU's input. */
    public record ConvUnit(int block, int relu, int conv, int bn) {}

    public record LastAct(int bn, int relu) {}

    public Node node(int id) {
        return nodes.get(id);
    }

    public int size() {
        return nodes.size();
    }

    /** The input of unit u: the tensor its ReLU reads (node id). */
    public int unitInput(ConvUnit u) {
        return nodes.get(u.relu()).inputs()[0];
    }

    /** Builds a graph node by node. */
    public static final class Builder {
        private final List<Node> nodes = new ArrayList<>();
        private final List<ConvUnit> units = new ArrayList<>();

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

        public void unit(ConvUnit u) {
            units.add(u);
        }

        public Graph build(int input, int logits, LastAct lastAct, int blocks) {
            return new Graph(Collections.unmodifiableList(new ArrayList<>(nodes)), input, logits,
                    Collections.unmodifiableList(new ArrayList<>(units)), lastAct, blocks);
        }
    }
}
