package io.wrcor.space.nb101;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Op;
import io.wrcor.graph.Response;
import java.util.ArrayList;
import java.util.List;

/**
 * Builds the NAS-Bench-101 network of a (pruned) spec as the published PyTorch port does: stem
 * ConvBnRelu(3x3, 3 -> C); three stacks of {@code cells} cells, stacks 2 and 3 preceded by a 2x2 max
 * pool (stride 2) and a doubling of the width; mean over H and W; a linear classifier with bias. The
 * layer list is [stem, cells of stack 1, pool, cells of stack 2, pool, cells of stack 3]; a layer's
 * index is the exponent of its ConvBnRelus' WRCor weight 2^i. Parameter names are the published
 * model's state_dict names. The input projection into the output is added out of place (as
 * NAS-Bench-101 defines the cell; the published port's in-place add raises in backward).
 *
 * @param stem      C, the stem's width (128 in the benchmark)
 * @param cells     cells per stack (3 in the benchmark)
 * @param classes   classifier outputs
 * @param imageSize input height and width (32 for CIFAR)
 */
public record Nb101Network(int stem, int cells, int classes, int imageSize) {
    public static final int STACKS = 3;

    /**
     * The channels of each vertex of a cell cin -> cout (NAS-Bench-101's compute_vertex_channels):
     * the vertices feeding the output share cout (the first cout % k one more), the others take the
     * largest width among their successors.
     */
    public static int[] vertexChannels(Nb101Spec spec, int cin, int cout) {
        int n = spec.vertices();
        int[] ch = new int[n];
        ch[0] = cin;
        ch[n - 1] = cout;
        if (n == 2) return ch;
        int feeders = 0;
        for (int v = 1; v < n - 1; v++) if (spec.edge(v, n - 1)) feeders++;
        int each = cout / feeders, extra = cout % feeders;
        for (int v = 1; v < n - 1; v++) {
            if (spec.edge(v, n - 1)) {
                ch[v] = each + (extra > 0 ? 1 : 0);
                if (extra > 0) extra--;
            }
        }
        for (int v = n - 3; v >= 1; v--) {
            if (spec.edge(v, n - 1)) continue;
            for (int dst = v + 1; dst < n - 1; dst++) if (spec.edge(v, dst)) ch[v] = Math.max(ch[v], ch[dst]);
        }
        return ch;
    }

    public Graph build(Nb101Spec spec, boolean batchNorm) {
        Graph.Builder b = new Graph.Builder();
        Ctx ctx = new Ctx(b, batchNorm);
        int x = b.add(new Op.Input(), new int[]{3, imageSize, imageSize});
        int input = x;
        int layer = 0;
        x = ctx.convBnRelu(x, "layers.0.conv_bn_relu", 3, stem, 3, layer++);
        if (batchNorm) b.feature(x); // AZ-NAS's features: the stem's and every cell's output (not the max pools')
        int c = stem;
        for (int s = 0; s < STACKS; s++) {
            if (s > 0) {
                int[] sh = b.shape(x);
                x = b.add(new Op.MaxPool(2, 2, 0), new int[]{sh[0], sh[1] / 2, sh[2] / 2}, x);
                if (batchNorm) b.moduleOutput(x, 1); // meco: the downsampling MaxPool2d
                layer++;
            }
            int cout = s == 0 ? c : 2 * c;
            for (int i = 0; i < cells; i++) {
                x = ctx.cell(x, spec, layer, i == 0 ? c : cout, cout);
                if (batchNorm) b.feature(x);
                layer++;
            }
            c = cout;
        }
        int pooled = b.add(new Op.GlobalAvgPool(), new int[]{c}, x);
        int logits = b.add(new Op.Linear("classifier", c, classes), new int[]{classes}, pooled);
        Graph g = b.build(input, logits);
        return g.withParameterOrder(registrationOrder(g.parameters()));
    }

    /**
     * The published port's {@code named_parameters()} order: a cell registers its vertex ops
     * ({@code vertex_op}) before its input projections ({@code input_op}), each in vertex order,
     * where the graph reads them interleaved (a vertex's projection, then its op).
     */
    static List<String> registrationOrder(List<String> forwardOrder) {
        java.util.function.ToIntFunction<String> rank = name -> name.contains(".input_op.") ? 1 : 0;
        java.util.function.ToIntFunction<String> layerOf = name -> name.startsWith("layers.")
                ? Integer.parseInt(name.substring(7, name.indexOf('.', 7))) : Integer.MAX_VALUE;
        List<String> out = new ArrayList<>(forwardOrder);
        out.sort(java.util.Comparator.comparingInt(layerOf).thenComparingInt(rank)); // stable: vertex order within each kind
        return out;
    }

    private record Ctx(Graph.Builder b, boolean batchNorm) {
        /**
         * Conv (stride 1, same padding, no bias) -> BN -> ReLU as {@code prefix.{0,1}}; a WRCor site
         * of weight 2^layer: the published hook on the (not in-place) ReLU sees its input h, the BN
         * output, and dL/dh through it. Without BN (synflow) it is Conv -> ReLU and no site.
         */
        int convBnRelu(int x, String prefix, int cin, int cout, int k, int layer) {
            int[] s = b.shape(x);
            int conv = b.add(new Op.Conv(prefix + ".0", cin, cout, k, 1, (k - 1) / 2), new int[]{cout, s[1], s[2]}, x);
            int h = batchNorm ? b.add(new Op.BatchNorm(prefix + ".1", cout), b.shape(conv), conv) : conv;
            int relu = b.add(new Op.Relu(), b.shape(h), h);
            if (batchNorm) {
                Response act = Response.activation(h), grad = Response.gradInput(relu);
                b.site(new Graph.Site(layer, List.of(act), List.of(grad), List.of(act), List.of(grad)));
                b.reluModule(h); // its nn.ReLU (swap)
                b.moduleOutput(conv, 1); // meco: the Conv2d, the BatchNorm2d, and the ReLU, its Sequential and the ConvBnRelu
                b.moduleOutput(h, 1);
                b.moduleOutput(relu, 3);
            }
            return relu;
        }

        int truncate(int x, int channels) {
            int[] s = b.shape(x);
            if (s[0] < channels) throw new IllegalStateException("cannot truncate " + s[0] + " channels to " + channels);
            return s[0] == channels ? x : b.add(new Op.Slice(channels), new int[]{channels, s[1], s[2]}, x);
        }

        int sum(List<Integer> terms) {
            return terms.size() == 1 ? terms.getFirst() : b.add(new Op.Add(), b.shape(terms.getFirst()), terms.stream().mapToInt(Integer::intValue).toArray());
        }

        int cell(int x, Nb101Spec spec, int layer, int cin, int cout) {
            int n = spec.vertices();
            int[] ch = vertexChannels(spec, cin, cout);
            int[] out = new int[n];
            out[0] = x;
            String p = "layers." + layer;
            int[] shape = b.shape(x);
            for (int t = 1; t < n - 1; t++) {
                List<Integer> fanIn = new ArrayList<>();
                for (int src = 1; src < t; src++) if (spec.edge(src, t)) fanIn.add(truncate(out[src], ch[t]));
                if (spec.edge(0, t)) fanIn.add(convBnRelu(x, p + ".input_op." + t + ".conv_bn_relu", cin, ch[t], 1, layer));
                int in = sum(fanIn);
                out[t] = switch (spec.op(t)) {
                    case CONV3X3 -> convBnRelu(in, p + ".vertex_op." + t + ".conv3x3.conv_bn_relu", ch[t], ch[t], 3, layer);
                    case CONV1X1 -> convBnRelu(in, p + ".vertex_op." + t + ".conv1x1.conv_bn_relu", ch[t], ch[t], 1, layer);
                    case MAXPOOL3X3 -> b.add(new Op.MaxPool(3, 1, 1), b.shape(in), in);
                };
                if (batchNorm) b.moduleOutput(out[t], spec.op(t) == Nb101Op.MAXPOOL3X3 ? 2 : 1); // the vertex op's wrapper (and its MaxPool2d)
            }
            if (n == 2) {
                int y = convBnRelu(x, p + ".input_op." + (n - 1) + ".conv_bn_relu", cin, cout, 1, layer);
                if (batchNorm) b.moduleOutput(y, 1); // the cell
                return y;
            }
            List<Integer> feeders = new ArrayList<>();
            for (int src = 1; src < n - 1; src++) if (spec.edge(src, n - 1)) feeders.add(out[src]);
            int y = feeders.size() == 1 ? feeders.getFirst()
                    : b.add(new Op.Concat(), new int[]{cout, shape[1], shape[2]}, feeders.stream().mapToInt(Integer::intValue).toArray());
            if (spec.edge(0, n - 1)) {
                int proj = convBnRelu(x, p + ".input_op." + (n - 1) + ".conv_bn_relu", cin, cout, 1, layer);
                y = b.add(new Op.Add(), b.shape(y), y, proj);
            }
            if (batchNorm) b.moduleOutput(y, 1); // the cell
            return y;
        }
    }
}
