package io.wrcor.data;

import io.wrcor.tensor.Tensor;

/** Inputs [B,3,H,W] (float32, normalised) and integer labels [B]. */
public record Batch(Tensor input, int[] labels) {
    public Batch {
        if (input.rank() != 4 || input.dim(1) != 3) throw new IllegalArgumentException("input batch must be [B,3,H,W], got " + input);
        if (labels.length != input.dim(0)) {
            throw new IllegalArgumentException("batch has " + input.dim(0) + " inputs but " + labels.length + " labels");
        }
    }

    public static Batch of(Tensor input, long[] target) {
        int[] labels = new int[target.length];
        for (int i = 0; i < labels.length; i++) labels[i] = Math.toIntExact(target[i]);
        return new Batch(input, labels);
    }

    public int size() {
        return labels.length;
    }

    /** {@code batch} distinct indices of [0, n) chosen by {@code seed}: the first {@code batch} of a seeded partial shuffle. */
    static int[] draw(int n, int batch, long seed) {
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        for (int i = 0; i < batch; i++) {
            int j = i + rnd.nextInt(n - i);
            int t = idx[i]; idx[i] = idx[j]; idx[j] = t;
        }
        return java.util.Arrays.copyOf(idx, batch);
    }
}
