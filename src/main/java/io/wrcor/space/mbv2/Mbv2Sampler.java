package io.wrcor.space.mbv2;

import java.util.ArrayList;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * The published search's moves in the MobileNetV2-like space, under a FLOPs limit (1000 classes):
 * the sampler, the mutation and REINFORCE's choices. Ranges and order as the published code draws
 * them; the random stream is this engine's, not Python's.
 */
public final class Mbv2Sampler {
    /** Width ranges of c0..c8 (before smart_round to 8). */
    static final int[][] WIDTH = {{16, 48}, {16, 48}, {16, 48}, {32, 64}, {48, 96}, {80, 256}, {80, 256}, {128, 512}, {128, 1536}};
    /** Bottleneck ranges of b0..b6. */
    static final int[][] BOTTLENECK = {{16, 48}, {16, 48}, {16, 48}, {32, 64}, {48, 96}, {80, 256}, {80, 256}};
    /** Layer-count ranges of L0..L6. */
    static final int[][] DEPTH = {{1, 2}, {2, 3}, {2, 3}, {2, 4}, {2, 6}, {2, 6}, {1, 2}};
    static final int[] EXPANSIONS = {1, 2, 4, 6}, KERNELS = {3, 5, 7};
    static final int BLOCKS = 7, STRIDE2 = 4, RES_MIN = 192, RES_MAX = 320;

    private final double flopsLimit;

    /** Draws that miss the FLOPs limit before the sampler or a mutation gives up (the published code retries forever). */
    static final int MAX_TRIES = 100_000;

    public Mbv2Sampler(double flopsLimit) {
        if (!(flopsLimit > 0) || Double.isInfinite(flopsLimit)) throw new IllegalArgumentException("the FLOPs limit must be a positive number, got " + flopsLimit);
        double smallest = smallestFlops();
        if (flopsLimit < smallest) {
            throw new IllegalArgumentException(String.format("the FLOPs limit %.4g is below the smallest network of the mbv2 space (%.4g FLOPs"
                    + " at 1000 classes): no candidate can meet it", flopsLimit, smallest));
        }
        this.flopsLimit = flopsLimit;
    }

    /**
     * The FLOPs of the smallest network the sampler can draw: every width, bottleneck and depth at
     * its range's low end, expansion 1, kernel 3, resolution 192, and the four stride-2 blocks where
     * they cost least (FLOPs grow with each of these).
     */
    public static double smallestFlops() {
        int[] c = new int[WIDTH.length], b = new int[BLOCKS], l = new int[BLOCKS], e = new int[BLOCKS], k = new int[BLOCKS];
        for (int i = 0; i < c.length; i++) c[i] = Mbv2Arch.smartRound(WIDTH[i][0], 8);
        for (int i = 0; i < BLOCKS; i++) {
            b[i] = Mbv2Arch.smartRound(BOTTLENECK[i][0], 8);
            l[i] = DEPTH[i][0];
            e[i] = EXPANSIONS[0];
            k[i] = KERNELS[0];
        }
        double best = Double.POSITIVE_INFINITY;
        for (int mask = 0; mask < 1 << BLOCKS; mask++) {
            if (Integer.bitCount(mask) != STRIDE2) continue;
            boolean[] s2 = new boolean[BLOCKS];
            for (int i = 0; i < BLOCKS; i++) s2[i] = (mask >> i & 1) != 0;
            best = Math.min(best, new Genes(c, b, l, e, k, s2, RES_MIN).arch().flops(1000));
        }
        return best;
    }

    public double flopsLimit() {
        return flopsLimit;
    }

    /** The draws of one candidate, before the FLOPs check. */
    record Genes(int[] c, int[] b, int[] l, int[] e, int[] k, boolean[] stride2, int resolution) {
        Mbv2Arch arch() {
            List<Mbv2Arch.Block> blocks = new ArrayList<>();
            blocks.add(new Mbv2Arch.ConvBlock(3, 3, c[0], 2, 1));
            for (int i = 0; i < BLOCKS; i++) blocks.add(new Mbv2Arch.ResBlock(e[i], k[i], c[i], c[i + 1], stride2[i] ? 2 : 1, b[i], l[i]));
            blocks.add(new Mbv2Arch.ConvBlock(1, c[7], c[8], 1, 1));
            return new Mbv2Arch(blocks, resolution);
        }
    }

    private static int uniform(RandomGenerator rnd, int[] range) {
        return range[0] + rnd.nextInt(range[1] - range[0] + 1);
    }

    private static int width(RandomGenerator rnd, int[] range) {
        return Mbv2Arch.smartRound(uniform(rnd, range), 8);
    }

    public static int resolution(RandomGenerator rnd) {
        return Mbv2Arch.smartRound(uniform(rnd, new int[]{RES_MIN, RES_MAX}), 32);
    }

    Genes draw(RandomGenerator rnd) {
        int[] c = new int[WIDTH.length], b = new int[BLOCKS], l = new int[BLOCKS], e = new int[BLOCKS], k = new int[BLOCKS];
        for (int i = 0; i < c.length; i++) c[i] = width(rnd, WIDTH[i]);
        for (int i = 0; i < BLOCKS; i++) b[i] = width(rnd, BOTTLENECK[i]);
        for (int i = 0; i < BLOCKS; i++) l[i] = uniform(rnd, DEPTH[i]);
        for (int i = 0; i < BLOCKS; i++) e[i] = EXPANSIONS[rnd.nextInt(EXPANSIONS.length)];
        for (int i = 0; i < BLOCKS; i++) k[i] = KERNELS[rnd.nextInt(KERNELS.length)];
        boolean[] s2 = new boolean[BLOCKS];
        for (int picked = 0; picked < STRIDE2; ) {
            int i = rnd.nextInt(BLOCKS);
            if (!s2[i]) {
                s2[i] = true;
                picked++;
            }
        }
        return new Genes(c, b, l, e, k, s2, resolution(rnd));
    }

    /** A candidate drawn as the published sampler draws, redrawn until within the FLOPs limit. */
    public Mbv2Arch sample(RandomGenerator rnd) {
        for (int tries = 0; tries < MAX_TRIES; tries++) {
            Mbv2Arch a = draw(rnd).arch();
            if (a.flops(1000) <= flopsLimit) return a;
        }
        throw new IllegalArgumentException(String.format("none of %d candidates drawn was within the FLOPs limit %.4g; the limit is too tight"
                + " for the published sampler (the smallest network of the space has %.4g FLOPs)", MAX_TRIES, flopsLimit, smallestFlops()));
    }

    private static int steps(int[] range) {
        return (range[1] - range[0]) / 8 + 1;
    }

    /**
     * REINFORCE's choices: a categorical for each width c_i and bottleneck b_i over min..max in steps
     * of 8 (no smart_round), each depth L_i, expansion e_i and kernel k_i, the resolution (192..320 in
     * steps of 32), and four over the seven block positions for the stride-2 blocks; a draw whose
     * positions repeat, or whose FLOPs exceed the limit, is redrawn whole. Initial logits 1e-3 N(0, 1).
     */
    public io.wrcor.space.SearchSpace.Policy policy() {
        List<Integer> cats = new ArrayList<>();
        for (int[] r : WIDTH) cats.add(steps(r));
        for (int[] r : BOTTLENECK) cats.add(steps(r));
        for (int[] r : DEPTH) cats.add(r[1] - r[0] + 1);
        for (int i = 0; i < BLOCKS; i++) cats.add(EXPANSIONS.length);
        for (int i = 0; i < BLOCKS; i++) cats.add(KERNELS.length);
        cats.add((RES_MAX - RES_MIN) / 32 + 1);
        for (int i = 0; i < STRIDE2; i++) cats.add(BLOCKS);
        int[] k = cats.stream().mapToInt(Integer::intValue).toArray();
        return new io.wrcor.space.SearchSpace.Policy(k, 0, 1e-3, (choices, bits) -> {
            int at = 0;
            int[] c = new int[WIDTH.length], b = new int[BLOCKS], l = new int[BLOCKS], e = new int[BLOCKS], kk = new int[BLOCKS];
            for (int i = 0; i < c.length; i++) c[i] = WIDTH[i][0] + 8 * choices[at++];
            for (int i = 0; i < BLOCKS; i++) b[i] = BOTTLENECK[i][0] + 8 * choices[at++];
            for (int i = 0; i < BLOCKS; i++) l[i] = DEPTH[i][0] + choices[at++];
            for (int i = 0; i < BLOCKS; i++) e[i] = EXPANSIONS[choices[at++]];
            for (int i = 0; i < BLOCKS; i++) kk[i] = KERNELS[choices[at++]];
            int res = RES_MIN + 32 * choices[at++];
            boolean[] s2 = new boolean[BLOCKS];
            for (int i = 0; i < STRIDE2; i++) {
                int pos = choices[at++];
                if (s2[pos]) return null; // positions must be distinct
                s2[pos] = true;
            }
            Mbv2Arch a = new Genes(c, b, l, e, kk, s2, res).arch();
            return a.flops(1000) <= flopsLimit ? a : null;
        });
    }

    /** The genes of a sampler-shaped architecture (stem, seven inverted residual blocks, last conv). */
    static Genes genes(Mbv2Arch a) {
        List<Mbv2Arch.Block> bl = a.blocks();
        if (bl.size() != BLOCKS + 2 || !(bl.getFirst() instanceof Mbv2Arch.ConvBlock) || !(bl.getLast() instanceof Mbv2Arch.ConvBlock)) {
            throw new IllegalArgumentException("mutation needs the sampler's shape (a conv stem, " + BLOCKS + " SuperResIDWE blocks, a last conv): "
                    + a);
        }
        int[] c = new int[WIDTH.length], b = new int[BLOCKS], l = new int[BLOCKS], e = new int[BLOCKS], k = new int[BLOCKS];
        boolean[] s2 = new boolean[BLOCKS];
        c[0] = bl.getFirst().out();
        for (int i = 0; i < BLOCKS; i++) {
            if (!(bl.get(i + 1) instanceof Mbv2Arch.ResBlock r)) throw new IllegalArgumentException("block " + (i + 2) + " of " + a + " is not SuperResIDWE");
            c[i + 1] = r.out();
            b[i] = r.bottleneck();
            l[i] = r.layers();
            e[i] = r.e();
            k[i] = r.k();
            s2[i] = r.stride() == 2;
        }
        c[8] = bl.getLast().out();
        return new Genes(c, b, l, e, k, s2, a.resolution());
    }

    /**
     * The published mutation: one of the seven blocks gets a new (e, k) pair (redrawn until it
     * changes), a new input width (the previous block's output too), bottleneck and depth from its
     * ranges, keeping its output width and stride; the resolution is redrawn; all of it retried
     * until within the FLOPs limit.
     */
    public Mbv2Arch mutate(Mbv2Arch parent, RandomGenerator rnd) {
        Genes p = genes(parent);
        for (int tries = 0; ; tries++) {
            if (tries == MAX_TRIES) {
                throw new IllegalArgumentException(String.format("no mutation of %s is within the FLOPs limit %.4g after %d tries (its fixed"
                        + " widths and strides are too large for it)", parent, flopsLimit, MAX_TRIES));
            }
            Genes g = new Genes(p.c().clone(), p.b().clone(), p.l().clone(), p.e().clone(), p.k().clone(), p.stride2().clone(), p.resolution());
            int i = rnd.nextInt(BLOCKS);
            int e, k;
            do {
                e = EXPANSIONS[rnd.nextInt(EXPANSIONS.length)];
                k = KERNELS[rnd.nextInt(KERNELS.length)];
            } while (e == g.e()[i] && k == g.k()[i]);
            g.e()[i] = e;
            g.k()[i] = k;
            g.c()[i] = width(rnd, WIDTH[i]);
            g.b()[i] = width(rnd, BOTTLENECK[i]);
            g.l()[i] = uniform(rnd, DEPTH[i]);
            Mbv2Arch child = new Genes(g.c(), g.b(), g.l(), g.e(), g.k(), g.stride2(), resolution(rnd)).arch();
            if (child.flops(1000) <= flopsLimit) return child;
        }
    }
}
