package io.wrcor.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * Scratch memory for one scoring thread. Networks of a search space repeat the same tensor sizes, so
 * segments handed out for one architecture are recycled for the next instead of being allocated and
 * zeroed again. The pool's arena owns every segment; {@link #close()} frees them all at once.
 * Segments from {@link #take} are not cleared: every op writes its whole output.
 */
public final class TensorPool implements AutoCloseable {
    private final Arena arena = Arena.ofShared();
    private final Map<Long, ArrayDeque<MemorySegment>> free = new HashMap<>();
    private final List<MemorySegment> lent = new ArrayList<>();

    public Tensor take(DType dtype, int... shape) {
        long bytes = Math.max(1, Tensor.numel(shape)) * dtype.bytes;
        ArrayDeque<MemorySegment> q = free.get(bytes);
        MemorySegment seg = (q == null || q.isEmpty()) ? arena.allocate(bytes, 64) : q.pop();
        lent.add(seg);
        return new Tensor(dtype, seg, shape);
    }

    /** Returns every segment lent since the last call; tensors taken before are invalid afterwards. */
    public void recycle() {
        for (MemorySegment s : lent) free.computeIfAbsent(s.byteSize(), k -> new ArrayDeque<>()).push(s);
        lent.clear();
    }

    @Override
    public void close() {
        arena.close();
    }
}
