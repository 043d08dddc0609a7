package io.wrcor.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A dense row-major (C order) tensor whose elements live off the heap in a {@link MemorySegment}.
 * The tensor does not own its memory: the {@link Arena} (or {@link TensorPool}) that allocated the
 * segment does, and frees it in one place.
 */
public final class Tensor {
    static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private final DType dtype;
    private final int[] shape;
    private final long numel;
    private final MemorySegment data;
    private final Residency residency;

    /** A tensor over {@code data}, whose content is its current value (host memory only). */
    public Tensor(DType dtype, MemorySegment data, int... shape) {
        this(dtype, data, new Residency(true, data.byteSize()), shape);
    }

    /** A view of a pooled segment sharing the segment's residency (see {@link TensorPool}). */
    Tensor(DType dtype, MemorySegment data, Residency residency, int... shape) {
        this.dtype = dtype;
        this.shape = shape.clone();
        this.numel = numel(shape);
        if (data.byteSize() < numel * dtype.bytes) {
            throw new IllegalArgumentException("segment of " + data.byteSize() + " bytes is too small for "
                    + dtype + Arrays.toString(shape));
        }
        this.data = data.asSlice(0, numel * dtype.bytes);
        this.residency = residency;
    }

    /** A zero-filled tensor owned by {@code arena}. */
    public static Tensor allocate(Arena arena, DType dtype, int... shape) {
        return new Tensor(dtype, arena.allocate(Math.max(1, numel(shape)) * dtype.bytes, 64), shape);
    }

    public static long numel(int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in " + Arrays.toString(shape));
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public DType dtype() { return dtype; }
    public int[] shape() { return shape.clone(); }
    public int rank() { return shape.length; }
    public int dim(int i) { return shape[i]; }
    public long numel() { return numel; }
    /**
     * The host segment, holding the current value (brought back from the device first if only a
     * device had it). The caller may write it: any device copy is stale afterwards.
     */
    public MemorySegment data() {
        residency.beforeHostWrite(data);
        return data;
    }

    /** The host segment for reading only: the current value, and a device copy stays current. */
    public MemorySegment read() {
        residency.beforeHostRead(data);
        return data;
    }

    /**
     * The host segment as it is, without bringing anything back or marking anything: for device
     * backends moving bytes under {@link #residency()}'s bookkeeping.
     */
    public MemorySegment hostSegment() {
        return data;
    }

    /** Where the current value lives; device backends keep it up to date. */
    public Residency residency() {
        return residency;
    }

    /** Drops any device copy (bringing the value to the host first when only the device had it). */
    public void dropDevice() {
        residency.detach(data);
    }

    /** Elements per leading index: the flattened size of one sample for a batch-first tensor. */
    public long rowSize() { return shape.length == 0 ? 1 : numel / shape[0]; }

    public boolean sameShape(Tensor o) { return Arrays.equals(shape, o.shape); }

    /** Every element as a double, read from the host segment once (a device value is brought back first). */
    public double[] toDoubles() {
        return toDoubles(0, numel);
    }

    /** Elements {@code from .. from + count - 1} (flat, C order) as doubles (a device value is brought back first). */
    public double[] toDoubles(long from, long count) {
        if (from < 0 || count < 0 || from + count > numel) throw new IndexOutOfBoundsException("elements " + from + ".." + (from + count) + " of " + numel);
        MemorySegment s = read().asSlice(from * dtype.bytes, count * dtype.bytes);
        return dtype == DType.F32 ? toDoublesFrom(s.toArray(F)) : s.toArray(D);
    }

    private static double[] toDoublesFrom(float[] f) {
        double[] d = new double[f.length];
        for (int i = 0; i < f.length; i++) d[i] = f[i];
        return d;
    }

    public double get(long i) {
        MemorySegment s = read();
        return dtype == DType.F32 ? s.getAtIndex(F, i) : s.getAtIndex(D, i);
    }

    public void set(long i, double v) {
        MemorySegment s = data();
        if (dtype == DType.F32) s.setAtIndex(F, i, (float) v);
        else s.setAtIndex(D, i, v);
    }

    public float getF(long i) { return read().getAtIndex(F, i); }
    public void setF(long i, float v) { data().setAtIndex(F, i, v); }
    public double getD(long i) { return read().getAtIndex(D, i); }
    public void setD(long i, double v) { data().setAtIndex(D, i, v); }

    public void fill(double v) {
        MemorySegment s = data();
        if (v == 0.0) { s.fill((byte) 0); return; }
        if (dtype == DType.F32) for (long i = 0; i < numel; i++) s.setAtIndex(F, i, (float) v);
        else for (long i = 0; i < numel; i++) s.setAtIndex(D, i, v);
    }

    public void copyFrom(Tensor src) {
        requireSameShape(src, "copy");
        if (src.dtype == dtype) { MemorySegment.copy(src.read(), 0, data(), 0, data.byteSize()); return; }
        for (long i = 0; i < numel; i++) set(i, src.get(i));
    }

    public void requireSameShape(Tensor o, String what) {
        if (!sameShape(o)) {
            throw new IllegalArgumentException(what + ": shape " + Arrays.toString(o.shape) + " does not match "
                    + Arrays.toString(shape));
        }
    }

    @Override
    public String toString() {
        return "Tensor" + dtype + Arrays.toString(shape);
    }
}
