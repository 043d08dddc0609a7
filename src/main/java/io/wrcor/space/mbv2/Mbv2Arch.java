package io.wrcor.space.mbv2;

import io.wrcor.space.Arch;
import java.util.ArrayList;
import java.util.List;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * An architecture of the MobileNetV2-like space: the published structure string and the input
 * resolution, written as one token {@code STRUCTURE@RESOLUTION} ({@code @224} when omitted), e.g.
 * {@code SuperConvK3BNRELU(3,32,2,1)SuperResIDWE6K3(32,48,2,16,1)...SuperConvK1BNRELU(256,1280,1,1)@224}.
 */
public record Mbv2Arch(List<Block> blocks, int resolution) implements Arch {
    public static final int DEFAULT_RESOLUTION = 224;

    /** One block of the structure string. */
    public sealed interface Block {
        int in();

        int out();

        int stride();

        int layers();
    }

    /** {@code SuperConvK{k}BNRELU(in,out,stride,L)}: L times Conv k x k -> BN -> ReLU, the stride on the first. */
    public record ConvBlock(int k, int in, int out, int stride, int layers) implements Block {
        @Override
        public String toString() {
            return "SuperConvK" + k + "BNRELU(" + in + "," + out + "," + stride + "," + layers + ")";
        }
    }

    /** {@code SuperResIDWE{e}K{k}(in,out,stride,b,L)}: L inverted residual layers of inner width smart_round(b*e, 8). */
    public record ResBlock(int e, int k, int in, int out, int stride, int bottleneck, int layers) implements Block {
        public int innerWidth() {
            return smartRound(bottleneck * (double) e, 8);
        }

        @Override
        public String toString() {
            return "SuperResIDWE" + e + "K" + k + "(" + in + "," + out + "," + stride + "," + bottleneck + "," + layers + ")";
        }
    }

    public Mbv2Arch {
        blocks = List.copyOf(blocks);
    }

    /** max(base, base * round(x / base)), rounding halves to the even neighbour as Python's round does. */
    public static int smartRound(double x, int base) {
        return (int) Math.max(base, base * Math.rint(x / base));
    }

    /**
     * The space's size bounds, generous around the published sampler (9 blocks, at most 6 layers a
     * block, widths up to 1536) and the published genotypes (up to 10 layers, widths 2048, bottleneck
     * 352): anything larger is not of this space, and would take hours to build and estimate.
     */
    public static final int MAX_BLOCKS = 16, MAX_LAYERS = 16, MAX_WIDTH = 4096;

    private static final Pattern BLOCK = Pattern.compile("Super(ConvK(\\d+)BNRELU|ResIDWE(\\d+)K(\\d+))\\(([^)]*)\\)");

    public static Mbv2Arch parse(String s) {
        if (s == null || s.isBlank()) throw new IllegalArgumentException("empty structure string");
        String t = s.strip();
        int resolution = DEFAULT_RESOLUTION;
        int at = t.lastIndexOf('@');
        String where = "structure '" + io.wrcor.util.Json.clip(t) + "'";
        if (at >= 0) {
            try {
                resolution = Integer.parseInt(t.substring(at + 1).strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(where + ": resolution '" + io.wrcor.util.Json.clip(t.substring(at + 1)) + "' after '@' is not an integer");
            }
            t = t.substring(0, at).strip();
        }
        if (resolution < 8 || resolution > 4096) throw new IllegalArgumentException(where + ": resolution " + resolution + " is not in 8..4096");
        List<Block> blocks = new ArrayList<>();
        Matcher m = BLOCK.matcher(t);
        int pos = 0;
        while (pos < t.length()) {
            if (!m.find(pos) || m.start() != pos) {
                throw new IllegalArgumentException(where + ": cannot read a block at character " + pos + " ('"
                        + t.substring(pos, Math.min(t.length(), pos + 24)) + "'); blocks are SuperConvK{k}BNRELU(in,out,stride,L) and"
                        + " SuperResIDWE{e}K{k}(in,out,stride,b,L)");
            }
            int[] a = ints(m.group(5), where + ", block " + (blocks.size() + 1));
            if (m.group(2) != null) {
                if (a.length != 4) throw new IllegalArgumentException(where + ": " + m.group() + " needs 4 numbers (in,out,stride,L)");
                blocks.add(new ConvBlock(ints(m.group(2), where)[0], a[0], a[1], a[2], a[3]));
            } else {
                if (a.length != 5) throw new IllegalArgumentException(where + ": " + m.group() + " needs 5 numbers (in,out,stride,b,L)");
                int e = ints(m.group(3), where)[0], k = ints(m.group(4), where)[0];
                if (e < 1 || e > 16) throw new IllegalArgumentException(where + ": expansion " + e + " in " + m.group() + " is not in 1..16");
                blocks.add(new ResBlock(e, k, a[0], a[1], a[2], a[3], a[4]));
            }
            pos = m.end();
        }
        if (blocks.isEmpty()) throw new IllegalArgumentException(where + ": no blocks");
        if (blocks.size() > MAX_BLOCKS) throw new IllegalArgumentException(where + ": " + blocks.size() + " blocks, more than " + MAX_BLOCKS);
        int c = 3;
        for (int i = 0; i < blocks.size(); i++) {
            Block b = blocks.get(i);
            String which = where + ", block " + (i + 1) + " " + b;
            int k = b instanceof ConvBlock cb ? cb.k() : ((ResBlock) b).k();
            if (k < 1 || k > 15 || k % 2 == 0) throw new IllegalArgumentException(which + ": kernel size " + k + " must be odd, 1..15");
            if (b.in() < 1 || b.out() < 1 || b.layers() < 1 || (b instanceof ResBlock r && r.bottleneck() < 1)) {
                throw new IllegalArgumentException(which + ": widths, bottleneck and layer count must be positive");
            }
            if (b.layers() > MAX_LAYERS) throw new IllegalArgumentException(which + ": " + b.layers() + " layers, more than " + MAX_LAYERS + " per block");
            if (b.in() > MAX_WIDTH || b.out() > MAX_WIDTH || (b instanceof ResBlock r && r.bottleneck() > MAX_WIDTH)) {
                throw new IllegalArgumentException(which + ": widths and bottleneck must be at most " + MAX_WIDTH);
            }
            if (b.stride() != 1 && b.stride() != 2) throw new IllegalArgumentException(which + ": stride " + b.stride() + " must be 1 or 2");
            if (b.in() != c) throw new IllegalArgumentException(which + ": takes " + b.in() + " channels, the previous block gives " + c);
            c = b.out();
        }
        return new Mbv2Arch(blocks, resolution);
    }

    private static int[] ints(String csv, String where) {
        String[] f = csv.split(",", -1);
        int[] v = new int[f.length];
        for (int i = 0; i < f.length; i++) {
            try {
                v[i] = Integer.parseInt(f[i].strip());
            } catch (NumberFormatException e) {
                throw new IllegalArgumentException(where + ": '" + io.wrcor.util.Json.clip(f[i]) + "' is not an integer");
            }
        }
        return v;
    }

    /** The structure string without the resolution. */
    public String structure() {
        StringBuilder sb = new StringBuilder();
        for (Block b : blocks) sb.append(b);
        return sb.toString();
    }

    @Override
    public String toString() {
        return structure() + "@" + resolution;
    }

    /** SE width of an inner width c: max(1, round(c / 4)) with Python's rounding. */
    public static int seWidth(int c) {
        return (int) Math.max(1, Math.rint(c / 4.0));
    }

    /**
     * The published get_FLOPs at this resolution for {@code classes} outputs: the resolution follows
     * r // stride through the blocks; a conv in*out*k*k*r*r // stride^2 // groups, BN r*r*c, SE
     * c*se + se*c + c + c*r*r, a projection in*out*(r'/stride)^2 + (r'/stride)^2*out at its output
     * resolution r' (the stride applied twice, with true division), ReLU 0, the classifier in*out.
     */
    public double flops(int classes) {
        long f = 0;
        double proj = 0;
        long r = resolution;
        for (Block b : blocks) {
            switch (b) {
                case ConvBlock c -> {
                    for (int j = 0; j < c.layers(); j++) {
                        long in = j == 0 ? c.in() : c.out(), s = j == 0 ? c.stride() : 1;
                        f += in * c.out() * c.k() * c.k() * r * r / (s * s);
                        r = r / s;
                        f += r * r * c.out();
                    }
                }
                case ResBlock rb -> {
                    long dw = rb.innerWidth(), se = seWidth((int) dw);
                    for (int j = 0; j < rb.layers(); j++) {
                        long in = j == 0 ? rb.in() : rb.out(), s = j == 0 ? rb.stride() : 1;
                        f += in * dw * r * r + r * r * dw;                 // conv1x1 + BN
                        f += dw * dw * rb.k() * rb.k() * r * r / (s * s) / dw; // depthwise
                        long r2 = r / s;
                        f += r2 * r2 * dw;                                  // BN
                        f += dw * se + se * dw + dw + dw * r2 * r2;         // SE
                        f += dw * rb.out() * r2 * r2 + r2 * r2 * rb.out();  // conv1x1 + BN
                        if (j == 0) {
                            double rp = (double) r2 / s; // true division: the published counter divides the output resolution again
                            proj += in * rb.out() * rp * rp + rp * rp * rb.out();
                        }
                        r = r2;
                    }
                }
            }
        }
        f += (long) blocks.getLast().out() * classes;
        return f + proj;
    }

    /**
     * The published get_model_size for {@code classes} outputs: conv weights, 1 per BN channel, SE
     * c*se + 2se + se*c + 2c, a projection in*out + out, the classifier in*out + 1.
     */
    public double params(int classes) {
        long p = 0;
        for (Block b : blocks) {
            switch (b) {
                case ConvBlock c -> {
                    for (int j = 0; j < c.layers(); j++) p += (long) (j == 0 ? c.in() : c.out()) * c.out() * c.k() * c.k() + c.out();
                }
                case ResBlock rb -> {
                    long dw = rb.innerWidth(), se = seWidth((int) dw);
                    for (int j = 0; j < rb.layers(); j++) {
                        long in = j == 0 ? rb.in() : rb.out();
                        p += in * dw + dw;                      // conv1x1 + BN
                        p += dw * rb.k() * rb.k() + dw;         // depthwise + BN
                        p += dw * se + 2 * se + se * dw + 2 * dw; // SE
                        p += dw * rb.out() + rb.out();          // conv1x1 + BN
                        if (j == 0) p += in * rb.out() + rb.out();
                    }
                }
            }
        }
        p += (long) blocks.getLast().out() * classes + 1;
        return p;
    }
}
