package io.wrcor.tensor;

import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Uninitialised native memory from the C library, for scratch that every op overwrites: an
 * {@link java.lang.foreign.Arena} zero-fills each allocation on one thread, which for the
 * gigabytes of a MobileNetV2-like candidate costs more than the network's own arithmetic. Large
 * blocks are aligned to 2 MiB and advised to use transparent huge pages (Linux), so first touch
 * faults once per 2 MiB instead of per 4 KiB page. Falls back to the arena when the C library's
 * functions cannot be found.
 */
final class NativeMemory {
    private static final long HUGE = 2L << 20;
    private static final int MADV_HUGEPAGE = 14;
    private static final MethodHandle ALIGNED_ALLOC, FREE, MADVISE;

    static {
        MethodHandle alloc = null, free = null, madvise = null;
        try {
            Linker linker = Linker.nativeLinker();
            SymbolLookup libc = linker.defaultLookup();
            alloc = linker.downcallHandle(libc.find("aligned_alloc").orElseThrow(),
                    FunctionDescriptor.of(ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_LONG));
            free = linker.downcallHandle(libc.find("free").orElseThrow(), FunctionDescriptor.ofVoid(ValueLayout.ADDRESS));
            madvise = libc.find("madvise").map(f -> linker.downcallHandle(f,
                    FunctionDescriptor.of(ValueLayout.JAVA_INT, ValueLayout.ADDRESS, ValueLayout.JAVA_LONG, ValueLayout.JAVA_INT))).orElse(null);
        } catch (RuntimeException e) {
            alloc = null;
        }
        ALIGNED_ALLOC = alloc;
        FREE = free;
        MADVISE = madvise;
    }

    private NativeMemory() {
    }

    static boolean available() {
        return ALIGNED_ALLOC != null;
    }

    /** {@code bytes} (a multiple of 64) of uninitialised memory, or null when the C library has none left. */
    static MemorySegment allocate(long bytes) {
        long align = bytes >= HUGE ? HUGE : 64;
        long size = (bytes + align - 1) / align * align;
        try {
            MemorySegment p = (MemorySegment) ALIGNED_ALLOC.invokeExact(align, size);
            if (p.address() == 0) return null;
            if (align == HUGE && MADVISE != null) {
                int ignored = (int) MADVISE.invokeExact(p, size, MADV_HUGEPAGE); // advice only: failure changes nothing
            }
            return p.reinterpret(bytes);
        } catch (Throwable t) {
            throw new IllegalStateException("aligned_alloc failed", t);
        }
    }

    static void free(MemorySegment s) {
        try {
            FREE.invokeExact(s);
        } catch (Throwable t) {
            throw new IllegalStateException("free failed", t);
        }
    }
}
