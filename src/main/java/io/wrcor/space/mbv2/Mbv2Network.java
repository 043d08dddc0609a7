package io.wrcor.space.mbv2;

import io.wrcor.graph.Graph;
import io.wrcor.graph.Op;
import io.wrcor.graph.Response;
import java.util.List;

/**
 * Builds the published MobileNetV2-like network (ZenNet's PlainNet blocks, SE on) of an
 * architecture: a bilinear resize of the input to the architecture's resolution, the blocks, global
 * average pooling and a linear classifier with bias. Every BN in training mode with eps 1e-3.
 * Parameter names are the published model's state_dict names ({@code module_list.{b}...}).
 *
 * <p>Response sites: the published WRCor matches only the ReLU inside each SE (its BN output and the
 * masked gradient), weight 2^b with b the top-level block; {@code wrcor_relu_only} adds every RELU
 * block of the main path (its input and masked gradient), same weight.
 *
 * <p>swap's one {@code nn.ReLU} per SE ({@link Graph#reluInputs}: PlainNet's RELU blocks call
 * F.relu); AZ-NAS's features ({@link Graph#features}) as the AZ-NAS authors' MobileNetV2 code lists
 * them (cvlab-yonsei/AZ-NAS 5e6683a, ImageNet_MBV2/Masternet.py, extract_layer_features_and_logit):
 * the output of every RELU block directly in a top-level block's list, i.e. each conv layer's
 * ReLU and each residual layer's closing ReLU.
 *
 * <p>meco's module outputs ({@link Graph#moduleOutputs}) are those of ZenNAS's PlainNet modules as
 * cvlab-yonsei/AZ-NAS 5e6683a carries them (ImageNet_MBV2/PlainNet): ConvKX, ConvDW and BN wrap their
 * torch module as {@code netblock} (two hooks on one output), RELU is a module calling F.relu, SE
 * multiplies by its {@code netblock} Sequential's gate, a residual layer adds its inner list and its
 * {@code proj} Sequential (conv with bias, BN), and each top-level block is called as a module (its
 * last RELU's output once more). The SE's inner values are 1 x 1 and the logits one value per class:
 * one column each, left out.
 */
public record Mbv2Network(int inputSize, int classes) {
    public static final double BN_EPS = 1e-3;

    public Graph build(Mbv2Arch arch, boolean batchNorm) {
        Graph.Builder g = new Graph.Builder();
        Ctx ctx = new Ctx(g, batchNorm);
        int x = g.add(new Op.Input(), new int[]{3, inputSize, inputSize});
        int input = x;
        int r = arch.resolution();
        x = g.add(new Op.Resize(), new int[]{3, r, r}, x);
        List<Mbv2Arch.Block> blocks = arch.blocks();
        for (int b = 0; b < blocks.size(); b++) {
            String p = "module_list." + b + ".module_list.";
            switch (blocks.get(b)) {
                case Mbv2Arch.ConvBlock c -> {
                    for (int j = 0; j < c.layers(); j++) {
                        int cin = j == 0 ? c.in() : c.out(), s = j == 0 ? c.stride() : 1;
                        x = ctx.wrapped(ctx.conv(x, p + (3 * j) + ".netblock", cin, c.out(), c.k(), s));
                        x = ctx.wrapped(ctx.bn(x, p + (3 * j + 1) + ".netblock", c.out()));
                        x = ctx.module(ctx.mainRelu(x, b), j == c.layers() - 1 ? 2 : 1); // the last: also the block's output
                        if (batchNorm) g.feature(x);
                    }
                }
                case Mbv2Arch.ResBlock rb -> {
                    int dw = rb.innerWidth();
                    for (int j = 0; j < rb.layers(); j++) {
                        int cin = j == 0 ? rb.in() : rb.out(), s = j == 0 ? rb.stride() : 1;
                        String q = p + (2 * j) + ".module_list."; // a RELU block follows each layer in the list
                        int h = ctx.wrapped(ctx.conv(x, q + "0.netblock", cin, dw, 1, 1));
                        h = ctx.module(ctx.mainRelu(ctx.wrapped(ctx.bn(h, q + "1.netblock", dw)), b), 1);
                        h = ctx.wrapped(ctx.depthwise(h, q + "3.netblock", dw, rb.k(), s));
                        h = ctx.module(ctx.mainRelu(ctx.wrapped(ctx.bn(h, q + "4.netblock", dw)), b), 1);
                        h = ctx.module(ctx.se(h, q + "6.netblock.", dw, b), 1);
                        h = ctx.wrapped(ctx.conv(h, q + "7.netblock", dw, rb.out(), 1, 1));
                        h = ctx.wrapped(ctx.bn(h, q + "8.netblock", rb.out()));
                        int skip = x;
                        if (j == 0) {
                            String pr = p + "0.proj.";
                            skip = ctx.conv(x, pr + "0", cin, rb.out(), 1, s);
                            skip = ctx.module(g.add(new Op.Bias(pr + "0", rb.out()), g.shape(skip), skip), 1);
                            skip = ctx.module(ctx.bn(skip, pr + "1", rb.out()), 2); // the BatchNorm2d and the Sequential it ends
                        }
                        int sum = ctx.module(g.add(new Op.Add(), g.shape(h), h, skip), 1); // the residual layer
                        x = ctx.module(ctx.mainRelu(sum, b), j == rb.layers() - 1 ? 2 : 1);
                        if (batchNorm) g.feature(x);
                    }
                }
            }
        }
        int c = g.shape(x)[0];
        int pooled = g.add(new Op.GlobalAvgPool(), new int[]{c}, x);
        int logits = g.add(new Op.Linear("fc_linear.netblock", c, classes), new int[]{classes}, pooled);
        return g.build(input, logits);
    }

    private record Ctx(Graph.Builder g, boolean batchNorm) {
        /** {@code times} hooked modules output {@code x} (meco; declared on the BN network only). */
        int module(int x, int times) {
            if (batchNorm) g.moduleOutput(x, times);
            return x;
        }

        /** A PlainNet block wrapping one torch module as its {@code netblock}: two hooks on one output. */
        int wrapped(int x) {
            return module(x, 2);
        }

        int conv(int x, String param, int cin, int cout, int k, int stride) {
            int[] s = g.shape(x);
            int pad = (k - 1) / 2;
            int ho = (s[1] + 2 * pad - k) / stride + 1, wo = (s[2] + 2 * pad - k) / stride + 1;
            return g.add(new Op.Conv(param, cin, cout, k, stride, pad), new int[]{cout, ho, wo}, x);
        }

        int depthwise(int x, String param, int c, int k, int stride) {
            int[] s = g.shape(x);
            int pad = (k - 1) / 2;
            int ho = (s[1] + 2 * pad - k) / stride + 1, wo = (s[2] + 2 * pad - k) / stride + 1;
            return g.add(new Op.DepthwiseConv(param, c, k, stride, pad), new int[]{c, ho, wo}, x);
        }

        int bn(int x, String param, int c) {
            return batchNorm ? g.add(new Op.BatchNorm(param, c, BN_EPS), g.shape(x), x) : x;
        }

        /** A PlainNet RELU block: a site of wrcor_relu_only only (the published test does not match its class name). */
        int mainRelu(int x, int block) {
            int relu = g.add(new Op.Relu(), g.shape(x), x);
            if (batchNorm) {
                g.site(new Graph.Site(block, List.of(), List.of(), List.of(Response.activation(x)), List.of(Response.gradInput(relu))));
            }
            return relu;
        }

        /**
         * SE(c): x * sigmoid(BN(Conv1x1(se -> c)(ReLU(BN(Conv1x1(c -> se)(avgpool(x))))))); its ReLU is
         * the published WRCor's site: the BN output (B x se) and the masked gradient.
         */
        int se(int x, String p, int c, int block) {
            int se = Mbv2Arch.seWidth(c);
            int pooled = g.add(new Op.GlobalAvgPool(), new int[]{c, 1, 1}, x);
            int a = conv(pooled, p + "1", c, se, 1, 1);
            a = bn(a, p + "2", se);
            int relu = g.add(new Op.Relu(), g.shape(a), a);
            if (batchNorm) {
                Response act = Response.activation(a), grad = Response.gradInput(relu);
                g.site(new Graph.Site(block, List.of(act), List.of(grad), List.of(act), List.of(grad)));
                g.reluModule(a); // the one nn.ReLU of the published model (swap); the RELU blocks call F.relu
            }
            int z = conv(relu, p + "4", se, c, 1, 1);
            z = bn(z, p + "5", c);
            int gate = g.add(new Op.Sigmoid(), g.shape(z), z);
            return g.add(new Op.ChannelScale(), g.shape(x), x, gate);
        }
    }
}
