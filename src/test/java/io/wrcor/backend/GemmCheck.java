package io.wrcor.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.tensor.DType;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * A device backend's batched products ({@link KernelBackend#gemm}: the gemm_batched kernel, or
 * cuBLAS on CUDA) against plain loops, in cuBLAS's column-major terms: every combination of
 * transposes, padded leading dimensions, offsets, strides between the batch's matrices (0: one
 * matrix shared), and accumulation onto C. Elements of C's buffer outside the product stay as they
 * were.
 */
final class GemmCheck {
    private GemmCheck() {
    }

    /** A column-major operand with {@code rows} x {@code cols} stored at offset + z stride + r + c ld, padded and spaced at random. */
    private record Layout(int rows, int cols, int ld, long offset, long stride, long elems) {
        static Layout random(SplittableRandom rnd, int rows, int cols, int count, boolean shared) {
            int ld = rows + rnd.nextInt(3);
            long one = (long) ld * cols, offset = rnd.nextInt(5), stride = shared ? 0 : one + rnd.nextInt(4);
            return new Layout(rows, cols, ld, offset, stride, offset + stride * (count - 1) + one + rnd.nextInt(3));
        }

        long at(int z, int r, int c) {
            return offset + z * stride + r + (long) c * ld;
        }
    }

    private static double get(MemorySegment s, DType t, long i) {
        return t == DType.F32 ? s.getAtIndex(ValueLayout.JAVA_FLOAT, i) : s.getAtIndex(ValueLayout.JAVA_DOUBLE, i);
    }

    private static MemorySegment random(Arena a, SplittableRandom rnd, DType t, long elems) {
        MemorySegment s = a.allocate(elems * t.bytes);
        for (long i = 0; i < elems; i++) {
            double v = rnd.nextDouble(-1, 1);
            if (t == DType.F32) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) v);
            else s.setAtIndex(ValueLayout.JAVA_DOUBLE, i, v);
        }
        return s;
    }

    static void productsMatchPlainLoops(KernelBackend be, DType t, SplittableRandom rnd) {
        double tol = t == DType.F32 ? 1e-5 : 1e-12; // cuBLAS's float32 sums (or gemm_batched's plain ones): k eps at worst, k <= 70
        for (int variant = 0; variant < 16; variant++) {
            boolean ta = (variant & 1) != 0, tb = (variant & 2) != 0, accumulate = (variant & 4) != 0, sharedA = (variant & 8) != 0;
            int m = 1 + rnd.nextInt(40), n = 1 + rnd.nextInt(40), k = 1 + rnd.nextInt(70), count = 1 + rnd.nextInt(3);
            Layout la = ta ? Layout.random(rnd, k, m, count, sharedA) : Layout.random(rnd, m, k, count, sharedA);
            Layout lb = tb ? Layout.random(rnd, n, k, count, false) : Layout.random(rnd, k, n, count, false);
            Layout lc = Layout.random(rnd, m, n, count, false);
            String what = String.format("%s gemm %s%s m=%d n=%d k=%d count=%d%s%s", t, ta ? "T" : "N", tb ? "T" : "N", m, n, k, count,
                    accumulate ? " accumulate" : "", sharedA ? " A shared" : "");
            try (Arena a = Arena.ofConfined()) {
                MemorySegment ha = random(a, rnd, t, la.elems), hb = random(a, rnd, t, lb.elems), hc = random(a, rnd, t, lc.elems);
                long da = be.createBuffer(ha, ha.byteSize()), db = be.createBuffer(hb, hb.byteSize()), dc = be.createBuffer(hc, hc.byteSize());
                try {
                    be.gemm(t, new KernelBackend.Gemm(ta, tb, m, n, k, new KernelBackend.Operand(da, la.offset, la.ld, la.stride),
                            new KernelBackend.Operand(db, lb.offset, lb.ld, lb.stride), new KernelBackend.Operand(dc, lc.offset, lc.ld, lc.stride),
                            count, accumulate));
                    be.finish();
                    MemorySegment got = a.allocate(hc.byteSize());
                    be.read(dc, got);
                    boolean[] inside = new boolean[(int) lc.elems];
                    for (int z = 0; z < count; z++)
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < n; j++) {
                                double sum = 0, scale = 0;
                                for (int l = 0; l < k; l++) {
                                    double x = get(ha, t, ta ? la.at(z, l, i) : la.at(z, i, l)), y = get(hb, t, tb ? lb.at(z, j, l) : lb.at(z, l, j));
                                    sum += x * y;
                                    scale += Math.abs(x * y);
                                }
                                long at = lc.at(z, i, j);
                                double c0 = get(hc, t, at), want = accumulate ? c0 + sum : sum;
                                scale += accumulate ? Math.abs(c0) : 0;
                                inside[(int) at] = true;
                                double g = get(got, t, at);
                                assertTrue(Math.abs(g - want) <= tol * Math.max(scale, 1e-30),
                                        what + ": C_" + z + "[" + i + "," + j + "] = " + g + ", want " + want);
                            }
                    for (int e = 0; e < inside.length; e++) {
                        if (!inside[e]) assertEquals(get(hc, t, e), get(got, t, e), 0.0, what + ": element " + e + " outside the products changed");
                    }
                } finally {
                    be.releaseBuffer(da);
                    be.releaseBuffer(db);
                    be.releaseBuffer(dc);
                }
            }
        }
    }
}
