package io.wrcor.graph;

/** One op applied to earlier nodes; {@code shape} is the per-sample output shape (C, H, W) or (F). */
public record Node(int id, Op op, int[] inputs, int[] shape) {
    public long sampleSize() {
        long n = 1;
        for (int d : shape) n *= d;
        return n;
    }
}
