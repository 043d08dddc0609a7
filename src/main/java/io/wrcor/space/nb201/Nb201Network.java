package io.wrcor.space.nb201;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Op;
import io.wrcor.graph.Response;
import java.util.List;

/**
 * Builds the NAS-Bench-201 network of an architecture: stem, N cells at C, a residual reduction
 * block to 2C, N cells, a block to 4C, N cells, then BN -> ReLU ("lastact"), global average pool
 * and a linear classifier. Node parameter names are those of the reference model's state_dict.
 *
 * <p>The module outputs meco reads ({@link Graph#moduleOutputs}) are those of the MeCo authors'
 * NAS-Bench-201 model (HamsterMimi/MeCo, correlation/foresight/models/nasbench2.py at 0d830dd): the
 * same network (its cell convs carry a bias and its cell BNs no affine parameters, which the BN
 * after each conv makes no difference to) with this module tree: stem (Sequential: conv, BN),
 * cells (an edge's ReLUConvBN: unit, Sequential, ReLU, conv, BN; POOLING and its AvgPool2d; Identity;
 * Zero), each stack a Sequential of cells, reductions (conv_a, conv_b, a Sequential of AvgPool2d and
 * conv), lastact (Sequential: BN, in-place ReLU), pooling, classifier.
 *
 * <p>swap's ReLU modules ({@link Graph#reluInputs}) are the ReLU of every ReLUConvBN unit (cell edges,
 * each reduction block's conv_a and conv_b) and lastact's; AZ-NAS's features ({@link
 * Graph#features}) are the stem's output and every cell's and reduction block's output, as the
 * AZ-NAS authors' NB201 model (cvlab-yonsei/AZ-NAS 5e6683a, NB201/custom/tss_model.py,
 * extract_cell_features) lists them.
 *
 * @param channels   C (16 in the benchmark)
 * @param cells      N, cells per stage (5 in the benchmark)
 * @param classes    classifier outputs
 * @param imageSize  input height and width (32 for CIFAR)
 */
public record Nb201Network(int channels, int cells, int classes, int imageSize) {
    public static final Nb201Network BENCHMARK = new Nb201Network(16, 5, 10, 32);

    public Nb201Network {
        if (channels < 1 || cells < 1 || classes < 1 || imageSize < 4) {
            throw new IllegalArgumentException("impossible network size: C=" + channels + " N=" + cells + " classes=" + classes
                    + " image=" + imageSize + " (need C, N, classes >= 1 and image >= 4)");
        }
    }

    /** Blocks in the network: 3N cells and two reduction blocks; lastact's weight is 2^blocks. */
    public int blocks() {
        return 3 * cells + 2;
    }

    /** The training-mode network that every proxy but synflow runs. */
    public Graph build(Nb201Arch arch) {
        return build(arch, true);
    }

    /**
     * @param batchNorm false removes every BN (synflow's network); the graph then has no conv units
     */
    public Graph build(Nb201Arch arch, boolean batchNorm) {
        Graph.Builder b = new Graph.Builder();
        BuildContext ctx = new BuildContext(b, batchNorm);
        int x = b.add(new Op.Input(), new int[]{3, imageSize, imageSize});
        int input = x;
        x = ctx.convBn(x, "stem.0", "stem.1", 3, channels, 3, 1, 1);
        if (batchNorm) {
            b.moduleOutput(x - 1, 1); // stem's conv
            b.moduleOutput(x, 3); // its BN, and the stem and its Sequential that end with it
        }
        if (batchNorm) b.feature(x);
        int c = channels;
        int block = 0;
        for (int stage = 0; stage < 3; stage++) {
            if (stage > 0) {
                x = ctx.reductionBlock(x, block++, c, 2 * c);
                if (batchNorm) b.feature(x);
                c *= 2;
            }
            for (int i = 0; i < cells; i++) {
                x = ctx.cell(x, block++, arch, c);
                if (batchNorm) b.feature(x);
                if (batchNorm) b.moduleOutput(x, i == cells - 1 ? 2 : 1); // the cell; the last one's stack (a Sequential) too
            }
        }
        int lastBn = ctx.bn(x, "lastact.0", c);
        int lastRelu = b.add(new Op.Relu(), b.shape(lastBn), lastBn);
        if (batchNorm) {
            b.moduleOutput(lastBn, 1); // lastact's BN (its hook runs before the in-place ReLU)
            b.moduleOutput(lastRelu, 2); // the ReLU, and lastact
            b.reluModule(lastBn);

            // lastact: the in-place ReLU makes the published hook see y = ReLU(BN(h)); the paper's reading takes h
            b.site(new Graph.Site(blocks(), List.of(Response.activation(lastRelu)), List.of(Response.gradInput(lastRelu)),
                    List.of(Response.activation(lastBn)), List.of(Response.gradInput(lastRelu))));
        }
        int pooled = b.add(new Op.GlobalAvgPool(), new int[]{c}, lastRelu);
        int logits = b.add(new Op.Linear("classifier", c, classes), new int[]{classes}, pooled);
        return b.build(input, logits);
    }

    private record BuildContext(Graph.Builder b, boolean batchNorm) {
        int bn(int x, String param, int c) {
            return batchNorm ? b.add(new Op.BatchNorm(param, c), b.shape(x), x) : x;
        }

        int convBn(int x, String convParam, String bnParam, int cin, int cout, int k, int stride, int pad) {
            int[] s = b.shape(x);
            int h = (s[1] + 2 * pad - k) / stride + 1, w = (s[2] + 2 * pad - k) / stride + 1;
            int conv = b.add(new Op.Conv(convParam, cin, cout, k, stride, pad), new int[]{cout, h, w}, x);
            return bn(conv, bnParam, cout);
        }

        /**
         * ReLU -> Conv -> BN, a WRCor response site; the reference names it {@code prefix.op.{1,2}}.
         * The published code reads its input x twice (the unit's wrapper module is hooked too), dL/dx
         * through its own ReLU, and dL/d(conv output) (the wrapper's old-style backward hook); the
         * paper's reading takes x once and dL/dx.
         */
        int reluConvBn(int x, int block, String prefix, int cin, int cout, int k, int stride) {
            int relu = b.add(new Op.Relu(), b.shape(x), x);
            int out = convBn(relu, prefix + ".op.1", prefix + ".op.2", cin, cout, k, stride, (k - 1) / 2);
            if (batchNorm) {
                b.moduleOutput(relu, 1);
                b.reluModule(x);
                b.moduleOutput(out - 1, 1); // the conv
                b.moduleOutput(out, 3); // the BN, the unit's Sequential and the unit

                Response in = Response.activation(x), dx = Response.gradInput(relu), dconv = Response.gradOutput(relu + 1);
                b.site(new Graph.Site(block, List.of(in, in), List.of(dx, dconv), List.of(in), List.of(dx)));
            }
            return out;
        }

        int cell(int x, int block, Nb201Arch arch, int c) {
            int[] nodes = new int[4];
            nodes[0] = x;
            int[] shape = b.shape(x);
            for (int target = 1; target <= 3; target++) {
                int[] terms = new int[target];
                for (int src = 0; src < target; src++) {
                    int j = target * (target - 1) / 2 + src; // edge index in arch-string order
                    String prefix = "cells." + block + ".layers." + j;
                    int in = nodes[src];
                    terms[src] = switch (arch.op(j)) {
                        case NONE -> b.add(new Op.Zero(), shape, in); // its zeros add nothing to meco
                        case SKIP_CONNECT -> {
                            if (batchNorm) b.moduleOutput(in, 1); // the Identity module returns its input
                            yield in;
                        }
                        case NOR_CONV_1X1 -> reluConvBn(in, block, prefix, c, c, 1, 1);
                        case NOR_CONV_3X3 -> reluConvBn(in, block, prefix, c, c, 3, 1);
                        case AVG_POOL_3X3 -> {
                            int pool = b.add(new Op.AvgPool(3, 1, 1, false), shape, in);
                            if (batchNorm) b.moduleOutput(pool, 2); // POOLING and its AvgPool2d
                            yield pool;
                        }
                    };
                }
                nodes[target] = target == 1 ? terms[0] : b.add(new Op.Add(), shape, terms);
            }
            return nodes[3];
        }

        /** ResNet basic block with stride 2: shortcut (AvgPool 2x2 -> Conv1x1) + conv_b(conv_a(x)). */
        int reductionBlock(int x, int block, int cin, int cout) {
            String p = "cells." + block;
            int a = reluConvBn(x, block, p + ".conv_a", cin, cout, 3, 2);
            int bb = reluConvBn(a, block, p + ".conv_b", cout, cout, 3, 1);
            int[] s = b.shape(x);
            int pooled = b.add(new Op.AvgPool(2, 2, 0, true), new int[]{cin, s[1] / 2, s[2] / 2}, x);
            int shortcut = b.add(new Op.Conv(p + ".downsample.1", cin, cout, 1, 1, 0), new int[]{cout, s[1] / 2, s[2] / 2}, pooled);
            int out = b.add(new Op.Add(), b.shape(bb), shortcut, bb);
            if (batchNorm) {
                b.moduleOutput(pooled, 1);
                b.moduleOutput(shortcut, 2); // the conv and its Sequential
                b.moduleOutput(out, 1);
            }
            return out;
        }
    }
}
