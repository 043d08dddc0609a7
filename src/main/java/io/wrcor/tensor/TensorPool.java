package io.wrcor.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.HashMap;
import java.util.Iterator;
import java.util.Map;
import java.util.TreeMap;

/**
 * Scratch memory for one scoring thread. Networks of a search space repeat tensor sizes, so segments
 * handed out for one architecture are recycled for the next instead of being allocated and zeroed
 * again. Sizes are rounded up to classes a quarter-octave apart, so that the varied channel counts
 * and resolutions of the MobileNetV2-like space still reuse each other's segments.
 *
 * <p>Memory is bounded: a tensor can be given back as soon as its last reader is done
 * ({@link #release}), and when a new segment would take the pool past its budget, idle segments
 * are freed first (largest first). Segments the last few architectures did not use are freed at
 * {@link #recycle()}. Memory comes uninitialised from the C library ({@link NativeMemory}). {@link #peakBytes()} is the high-water mark of memory lent at once.
 * Segments from {@link #take} are not cleared: every op writes its whole output.
 */
public final class TensorPool implements AutoCloseable {
    private static final long SMALL = 1 << 16;
    static final int KEEP_GENERATIONS = 8;

    /** A segment, the arena that frees it alone (null: C library memory), the recycle generation that last used it. */
    private static final class Block {
        final Arena arena;
        final MemorySegment segment;
        final Residency residency; // a device buffer, if any, follows the segment
        long used;

        Block(Arena arena, MemorySegment segment) {
            this.arena = arena;
            this.segment = segment;
            this.residency = new Residency(false, segment.byteSize());
        }

        long bytes() {
            return segment.byteSize();
        }

        void free() {
            residency.free();
            if (arena != null) arena.close();
            else NativeMemory.free(segment);
        }
    }

    private final long budget;
    private final TreeMap<Long, ArrayDeque<Block>> free = new TreeMap<>();
    private final Map<Long, Block> lent = new HashMap<>(); // by address
    private long lentBytes, freeBytes, peakBytes, generation;

    /** A pool whose idle segments are freed before it grows past {@code budgetBytes} in all. */
    public TensorPool(long budgetBytes) {
        this.budget = budgetBytes;
    }

    /** A pool with a budget of 80% of this machine's physical memory. */
    public TensorPool() {
        this(defaultBudget());
    }

    public static long physicalMemory() {
        return ((com.sun.management.OperatingSystemMXBean) java.lang.management.ManagementFactory.getOperatingSystemMXBean())
                .getTotalMemorySize();
    }

    /** 80% of this machine's physical memory (no limit when it cannot be read). */
    public static long defaultBudget() {
        long physical = physicalMemory();
        return physical > 0 ? (long) (0.8 * physical) : Long.MAX_VALUE;
    }

    /** The size class of a request: small ones to 64 bytes, larger ones up to the next of 4 steps per power of two. */
    public static long sizeClass(long bytes) {
        if (bytes <= SMALL) return (bytes + 63) & ~63L;
        int shift = 63 - Long.numberOfLeadingZeros(bytes) - 2; // a quarter of the highest power of two
        long step = 1L << shift;
        return (bytes + step - 1) & -step;
    }

    /**
     * A tensor of the given shape, not cleared. An idle segment is reused when one fits: the same
     * size class for small tensors, the smallest idle segment of at most twice the size for large ones.
     */
    public Tensor take(DType dtype, int... shape) {
        long bytes = sizeClass(Math.max(1, Tensor.numel(shape)) * dtype.bytes);
        Map.Entry<Long, ArrayDeque<Block>> fit = bytes <= SMALL ? entry(bytes) : free.ceilingEntry(bytes);
        Block b;
        if (fit != null && fit.getKey() <= 2 * bytes) {
            b = fit.getValue().pop();
            if (fit.getValue().isEmpty()) free.remove(fit.getKey());
            freeBytes -= b.bytes();
        } else {
            makeRoom(bytes);
            b = allocate(bytes);
        }
        b.used = generation;
        lent.put(b.segment.address(), b);
        lentBytes += b.bytes();
        peakBytes = Math.max(peakBytes, lentBytes);
        b.residency.markUndefined();
        return new Tensor(dtype, b.segment, b.residency, shape);
    }

    private Map.Entry<Long, ArrayDeque<Block>> entry(long bytes) {
        ArrayDeque<Block> q = free.get(bytes);
        return q == null ? null : Map.entry(bytes, q);
    }

    private Block allocate(long bytes) {
        if (NativeMemory.available()) {
            MemorySegment m = NativeMemory.allocate(bytes);
            if (m == null) throw outOfMemory(bytes, null);
            return new Block(null, m);
        }
        Arena arena = Arena.ofShared();
        try {
            return new Block(arena, arena.allocate(bytes, 64));
        } catch (OutOfMemoryError e) {
            arena.close();
            throw outOfMemory(bytes, e);
        }
    }

    private IllegalStateException outOfMemory(long bytes, Throwable cause) {
        return new IllegalStateException(String.format("out of memory allocating %.2f GB of scratch (%.2f GB already in use)",
                bytes / 1e9, lentBytes / 1e9), cause);
    }

    /**
     * Gives a tensor's segment back before the next {@link #recycle()}: its last reader is done.
     * The tensor is invalid afterwards. A tensor the pool did not lend (or already took back) is ignored.
     */
    public void release(Tensor t) {
        Block b = lent.remove(t.hostSegment().address());
        if (b == null) return;
        lentBytes -= b.bytes();
        free.computeIfAbsent(b.bytes(), k -> new ArrayDeque<>()).push(b);
        freeBytes += b.bytes();
    }

    /** Frees idle segments, largest first, until {@code bytes} more fit in the budget. */
    private void makeRoom(long bytes) {
        while (lentBytes + freeBytes + bytes > budget && !free.isEmpty()) {
            Map.Entry<Long, ArrayDeque<Block>> e = free.lastEntry();
            Block b = e.getValue().pop();
            if (e.getValue().isEmpty()) free.remove(e.getKey());
            freeBytes -= b.bytes();
            b.free();
        }
    }

    /**
     * Takes back every segment lent since the last call; tensors taken before are invalid
     * afterwards. Idle segments that none of the last {@value #KEEP_GENERATIONS} architectures used are freed.
     */
    public void recycle() {
        for (Block b : lent.values()) {
            free.computeIfAbsent(b.bytes(), k -> new ArrayDeque<>()).push(b);
            freeBytes += b.bytes();
        }
        lent.clear();
        lentBytes = 0;
        for (Iterator<Map.Entry<Long, ArrayDeque<Block>>> it = free.entrySet().iterator(); it.hasNext(); ) {
            ArrayDeque<Block> q = it.next().getValue();
            for (Iterator<Block> bi = q.iterator(); bi.hasNext(); ) {
                Block b = bi.next();
                if (generation - b.used >= KEEP_GENERATIONS) {
                    bi.remove();
                    freeBytes -= b.bytes();
                    b.free();
                }
            }
            if (q.isEmpty()) it.remove();
        }
        generation++;
    }

    /** The most bytes lent at once since the pool was made or {@link #resetPeak()} was called. */
    public long peakBytes() {
        return peakBytes;
    }

    public void resetPeak() {
        peakBytes = lentBytes;
    }

    /** Bytes held now, lent or idle. */
    public long heldBytes() {
        return lentBytes + freeBytes;
    }

    @Override
    public void close() {
        for (Block b : lent.values()) b.free();
        for (ArrayDeque<Block> q : free.values()) for (Block b : q) b.free();
        lent.clear();
        free.clear();
        lentBytes = freeBytes = 0;
    }
}
