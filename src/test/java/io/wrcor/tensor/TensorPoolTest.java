package io.wrcor.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

class TensorPoolTest {
    @Test
    void sizeClassesCoverTheRequestWithinAQuarterOctave() {
        for (long bytes = 1; bytes < 1L << 40; bytes = bytes * 3 / 2 + 7) {
            long c = TensorPool.sizeClass(bytes);
            assertTrue(c >= bytes, "class of " + bytes + " is " + c);
            assertTrue(c <= Math.max(bytes + 63, bytes * 5 / 4 + 1), "class of " + bytes + " is " + c + ": too much waste");
            assertEquals(c, TensorPool.sizeClass(c), "a class is its own class");
        }
    }

    @Test
    void aReleasedSegmentIsReusedBeforeTheNextRecycle() {
        try (TensorPool pool = new TensorPool(1L << 30)) {
            Tensor a = pool.take(DType.F32, 1000, 1000);
            long address = a.data().address();
            pool.release(a);
            Tensor b = pool.take(DType.F32, 990, 1000); // same size class
            assertEquals(address, b.data().address());
            assertEquals(4_000_000, pool.peakBytes(), 4_000_000 / 4);
            pool.release(b);
            pool.release(b); // a second release is ignored
            assertEquals(0, pool.heldBytes() - TensorPool.sizeClass(4_000_000));
        }
    }

    @Test
    void idleSegmentsAreFreedBeforeThePoolOutgrowsItsBudget() {
        long mb = 1 << 20;
        try (TensorPool pool = new TensorPool(10 * mb)) {
            for (int i = 1; i <= 8; i++) pool.release(pool.take(DType.F32, i * 1024, 256)); // i MB each, all idle
            assertTrue(pool.heldBytes() <= 10 * mb + mb, "held " + pool.heldBytes());
            Tensor big = pool.take(DType.F32, 9 * 1024, 256);
            assertTrue(pool.heldBytes() <= 11 * mb + 9 * mb / 4, "held " + pool.heldBytes());
            assertNotEquals(0, big.data().address());
        }
    }

    @Test
    void recycleFreesWhatTheLastArchitecturesDidNotUse() {
        try (TensorPool pool = new TensorPool(1L << 32)) {
            pool.take(DType.F32, 3, 1 << 20);
            pool.recycle();
            long held = pool.heldBytes();
            pool.take(DType.F32, 3, 1 << 20); // reused
            pool.recycle();
            assertEquals(held, pool.heldBytes());
            for (int i = 0; i < TensorPool.KEEP_GENERATIONS; i++) {
                pool.take(DType.F32, 7, 1 << 20); // too large for the first segment, which sits idle
                pool.recycle();
            }
            assertEquals(TensorPool.sizeClass(28L << 20), pool.heldBytes(), "the idle segment is freed once that many architectures did not use it");
        }
    }

    @Test
    void aSmallerRequestReusesALargerIdleSegment() {
        try (TensorPool pool = new TensorPool(1L << 32)) {
            Tensor a = pool.take(DType.F32, 10, 1 << 20);
            long address = a.data().address();
            pool.recycle();
            assertEquals(address, pool.take(DType.F32, 6, 1 << 20).data().address(), "60% of the segment: reused");
            pool.recycle();
            Tensor c = pool.take(DType.F32, 4, 1 << 20);
            assertNotEquals(address, c.data().address(), "40%: too wasteful, a new segment");
        }
    }
}
