package io.wrcor.proxy;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * SWAP (Peng et al., ICLR 2024) as its authors' code computes it (pym1024/SWAP f6049f7,
 * src/metrics/swap.py, without the parameter regularisation): every neuron of every hooked ReLU
 * output gets its sample-wise activation pattern, the signs of its values over the batch's samples,
 * and the score is the number of distinct patterns. A ReLU output's sign is 1 exactly where its
 * input is positive, so the patterns are read from the ReLU inputs.
 */
public final class Swap {
    private final int batch;
    private final int words;
    private long[] table; // words longs per slot; a slot whose first word has the EMPTY bit is free
    private boolean[] used;
    private int size;

    public Swap(int batch) {
        if (batch < 1) throw new IllegalArgumentException("swap needs a batch of at least one sample");
        this.batch = batch;
        this.words = (batch + 63) / 64;
        this.used = new boolean[1024];
        this.table = new long[1024 * words];
    }

    /** The neurons of one response, a [B, ...] value. */
    public void add(Tensor t) {
        if (t.dim(0) != batch) throw new IllegalArgumentException("swap: a response of " + t.dim(0) + " samples, not " + batch);
        MemorySegment seg = t.read();
        long row = t.rowSize();
        int n = Math.toIntExact(row);
        long[] keys = new long[n * words];
        for (int b = 0; b < batch; b++) {
            int w = b >>> 6;
            long bit = 1L << (b & 63);
            long base = (long) b * row;
            if (t.dtype() == DType.F32) {
                for (int j = 0; j < n; j++) if (seg.getAtIndex(ValueLayout.JAVA_FLOAT, base + j) > 0) keys[j * words + w] |= bit;
            } else {
                for (int j = 0; j < n; j++) if (seg.getAtIndex(ValueLayout.JAVA_DOUBLE, base + j) > 0) keys[j * words + w] |= bit;
            }
        }
        for (int j = 0; j < n; j++) insert(keys, j * words);
    }

    /** Distinct patterns so far. */
    public int count() {
        return size;
    }

    private void insert(long[] keys, int at) {
        if (2 * (size + 1) > used.length) grow();
        int cap = used.length;
        int slot = (int) (hash(keys, at) & (cap - 1));
        while (used[slot]) {
            if (java.util.Arrays.equals(table, slot * words, slot * words + words, keys, at, at + words)) return;
            slot = (slot + 1) & (cap - 1);
        }
        used[slot] = true;
        System.arraycopy(keys, at, table, slot * words, words);
        size++;
    }

    private long hash(long[] keys, int at) {
        long h = 0x9E3779B97F4A7C15L;
        for (int i = 0; i < words; i++) {
            h ^= keys[at + i];
            h *= 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
        }
        return h;
    }

    private void grow() {
        long[] oldTable = table;
        boolean[] oldUsed = used;
        used = new boolean[oldUsed.length * 2];
        table = new long[used.length * words];
        size = 0;
        for (int s = 0; s < oldUsed.length; s++) if (oldUsed[s]) insert(oldTable, s * words);
    }
}
