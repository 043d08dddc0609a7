package io.wrcor.backend.cpu;

import io.wrcor.backend.Backend;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * The fast CPU backend: convolutions as im2col + OpenBLAS GEMM, samples split across worker threads
 * (each with single-threaded BLAS and its own scratch), and float32 loops for the memory-bound ops.
 * Ops without a fast float32 path here (float64 elementwise ops for synflow's one-sample pass, the
 * tiny pooling/linear layers at the end of the network) run the reference code.
 *
 * <p>Not thread-safe: one engine thread drives it; it fans out to its own workers.
 */
public final class FastCpuBackend implements Backend, AutoCloseable {
    private static final ValueLayout.OfFloat F = ValueLayout.JAVA_FLOAT_UNALIGNED;
    private static final ValueLayout.OfDouble D = ValueLayout.JAVA_DOUBLE_UNALIGNED;

    private final ReferenceBackend ref = new ReferenceBackend();
    private final OpenBlas blas;
    private final int threads;
    private final ExecutorService workers;
    private final Arena arena = Arena.ofShared();
    private final MemorySegment[] scratch;
    private final MemorySegment[] partial;
    private MemorySegment flipped = MemorySegment.NULL;

    public FastCpuBackend(int threads) {
        if (threads < 1) throw new IllegalArgumentException("threads must be >= 1, got " + threads);
        this.blas = OpenBlas.get();
        if (blas == null) throw new IllegalStateException("cpu backend unavailable: OpenBLAS could not be loaded: " + OpenBlas.failure());
        this.threads = threads;
        this.workers = threads > 1 ? Executors.newFixedThreadPool(threads - 1, r -> {
            Thread t = new Thread(r, "wrcor-cpu");
            t.setDaemon(true);
            return t;
        }) : null;
        this.scratch = new MemorySegment[threads];
        this.partial = new MemorySegment[threads];
        java.util.Arrays.fill(scratch, MemorySegment.NULL);
        java.util.Arrays.fill(partial, MemorySegment.NULL);
    }

    @Override
    public String name() {
        return "cpu (" + threads + " threads, " + blas.origin() + ")";
    }

    @FunctionalInterface
    private interface Chunk {
        void run(int worker, int from, int to);
    }

    /** Splits [0, n) into one contiguous chunk per worker; the calling thread runs chunk 0. */
    private void parallelFor(int n, Chunk body) {
        int parts = Math.min(threads, n);
        if (parts <= 1) {
            body.run(0, 0, n);
            return;
        }
        List<Future<?>> futures = new ArrayList<>();
        for (int p = 1; p < parts; p++) {
            int worker = p, from = (int) ((long) n * p / parts), to = (int) ((long) n * (p + 1) / parts);
            futures.add(workers.submit(() -> body.run(worker, from, to)));
        }
        body.run(0, 0, (int) ((long) n / parts));
        try {
            for (Future<?> f : futures) f.get();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new IllegalStateException("interrupted", e);
        } catch (ExecutionException e) {
            if (e.getCause() instanceof RuntimeException re) throw re;
            throw new IllegalStateException(e.getCause());
        }
    }

    private MemorySegment scratch(int worker, long bytes) {
        if (scratch[worker].byteSize() < bytes) scratch[worker] = arena.allocate(bytes, 64);
        return scratch[worker];
    }

    private MemorySegment partial(int worker, long bytes) {
        if (partial[worker].byteSize() < bytes) partial[worker] = arena.allocate(bytes, 64);
        return partial[worker];
    }

    private void gemm(DType t, boolean ta, boolean tb, int m, int n, int k, MemorySegment a, int lda, MemorySegment b, int ldb,
                      double beta, MemorySegment c, int ldc) {
        if (t == DType.F32) blas.sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, (float) beta, c, ldc);
        else blas.dgemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
    }

    // ---------------------------------------------------------------- convolution

    private record ConvShape(int b, int cin, int h, int w, int cout, int k, int stride, int pad, int ho, int wo) {
        int kdim() { return cin * k * k; }
        int plane() { return ho * wo; }
        boolean pointwise() { return k == 1 && stride == 1 && pad == 0; }
    }

    private static ConvShape shape(Tensor x, Tensor w, int stride, int pad) {
        int k = w.dim(2);
        return new ConvShape(x.dim(0), x.dim(1), x.dim(2), x.dim(3), w.dim(0), k, stride, pad,
                ReferenceBackend.outSize(x.dim(2), k, stride, pad), ReferenceBackend.outSize(x.dim(3), k, stride, pad));
    }

    @Override
    public void convForward(Tensor x, Tensor w, int stride, int pad, Tensor y) {
        convForward(x, w.data(), shape(x, w, stride, pad), y);
    }

    private void convForward(Tensor x, MemorySegment w, ConvShape s, Tensor y) {
        DType t = x.dtype();
        int e = t.bytes, kd = s.kdim(), p = s.plane();
        long xs = (long) s.cin * s.h * s.w * e, ys = (long) s.cout * p * e;
        parallelFor(s.b, (worker, from, to) -> {
            for (int n = from; n < to; n++) {
                MemorySegment xn = x.data().asSlice(n * xs, xs), yn = y.data().asSlice(n * ys, ys);
                MemorySegment col = xn;
                if (!s.pointwise()) {
                    col = scratch(worker, (long) kd * p * e);
                    im2col(xn, s, col, e);
                }
                gemm(t, false, false, s.cout, p, kd, w, kd, col, p, 0.0, yn, p);
            }
        });
    }

    @Override
    public void convBackwardData(Tensor dy, Tensor w, int stride, int pad, Tensor dx) {
        ConvShape s = shape(dx, w, stride, pad);
        if (stride == 1 && 2 * pad == s.k - 1) {
            // a 'same' stride-1 conv: dx is the conv of dy with the weights transposed and flipped
            MemorySegment wf = flip(w, s);
            ConvShape back = new ConvShape(s.b, s.cout, s.ho, s.wo, s.cin, s.k, 1, s.k - 1 - pad, s.h, s.w);
            convForward(dy, wf, back, dx);
            return;
        }
        DType t = dx.dtype();
        int e = t.bytes, kd = s.kdim(), p = s.plane();
        long xs = (long) s.cin * s.h * s.w * e, ys = (long) s.cout * p * e;
        parallelFor(s.b, (worker, from, to) -> {
            for (int n = from; n < to; n++) {
                MemorySegment col = scratch(worker, (long) kd * p * e);
                gemm(t, true, false, kd, p, s.cout, w.data(), kd, dy.data().asSlice(n * ys, ys), p, 0.0, col, p);
                col2im(col, s, dx.data().asSlice(n * xs, xs), t);
            }
        });
    }

    /** w'[ci, co, ky, kx] = w[co, ci, k-1-ky, k-1-kx]. */
    private MemorySegment flip(Tensor w, ConvShape s) {
        int e = w.dtype().bytes, k = s.k;
        long bytes = w.numel() * e;
        if (flipped.byteSize() < bytes) flipped = arena.allocate(bytes, 64);
        for (int co = 0; co < s.cout; co++)
            for (int ci = 0; ci < s.cin; ci++)
                for (int ky = 0; ky < k; ky++)
                    for (int kx = 0; kx < k; kx++) {
                        long src = (((long) co * s.cin + ci) * k + ky) * k + kx;
                        long dst = (((long) ci * s.cout + co) * k + (k - 1 - ky)) * k + (k - 1 - kx);
                        MemorySegment.copy(w.data(), src * e, flipped, dst * e, e);
                    }
        return flipped;
    }

    @Override
    public void convBackwardWeight(Tensor x, Tensor dy, int stride, int pad, Tensor dw) {
        ConvShape s = shape(x, dw, stride, pad);
        DType t = x.dtype();
        int e = t.bytes, kd = s.kdim(), p = s.plane();
        long xs = (long) s.cin * s.h * s.w * e, ys = (long) s.cout * p * e, wbytes = (long) s.cout * kd * e;
        int parts = Math.min(threads, s.b);
        parallelFor(s.b, (worker, from, to) -> {
            MemorySegment acc = partial(worker, wbytes);
            for (int n = from; n < to; n++) {
                MemorySegment xn = x.data().asSlice(n * xs, xs), col = xn;
                if (!s.pointwise()) {
                    col = scratch(worker, (long) kd * p * e);
                    im2col(xn, s, col, e);
                }
                gemm(t, false, true, s.cout, kd, p, dy.data().asSlice(n * ys, ys), p, col, p, n == from ? 0.0 : 1.0, acc, kd);
            }
        });
        MemorySegment.copy(partial[0], 0, dw.data(), 0, wbytes);
        for (int w = 1; w < parts; w++) {
            for (long i = 0; i < dw.numel(); i++) {
                if (t == DType.F32) dw.setF(i, dw.getF(i) + partial[w].getAtIndex(F, i));
                else dw.setD(i, dw.getD(i) + partial[w].getAtIndex(D, i));
            }
        }
    }

    /** col[(c*k+ky)*k+kx, oy*wo+ox] = x[c, oy*stride-pad+ky, ox*stride-pad+kx], zero outside x. */
    private static void im2col(MemorySegment x, ConvShape s, MemorySegment col, int e) {
        int k = s.k, wo = s.wo, p = s.plane();
        for (int c = 0; c < s.cin; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    long row = ((long) (c * k + ky) * k + kx) * p;
                    for (int oy = 0; oy < s.ho; oy++) {
                        long dst = (row + (long) oy * wo) * e;
                        int iy = oy * s.stride - s.pad + ky;
                        if (iy < 0 || iy >= s.h) {
                            zero(col, dst, wo, e);
                            continue;
                        }
                        long srcRow = ((long) c * s.h + iy) * s.w;
                        if (s.stride == 1) {
                            int lo = Math.max(0, s.pad - kx), hi = Math.min(wo, s.w + s.pad - kx);
                            zero(col, dst, lo, e);
                            if (hi > lo) MemorySegment.copy(x, (srcRow + lo - s.pad + kx) * e, col, dst + (long) lo * e, (long) (hi - lo) * e);
                            zero(col, dst + (long) Math.max(hi, lo) * e, wo - Math.max(hi, lo), e);
                        } else {
                            for (int ox = 0; ox < wo; ox++) {
                                int ix = ox * s.stride - s.pad + kx;
                                if (ix < 0 || ix >= s.w) zero(col, dst + (long) ox * e, 1, e);
                                else MemorySegment.copy(x, (srcRow + ix) * e, col, dst + (long) ox * e, e);
                            }
                        }
                    }
                }
    }

    /** x = 0, then x[c, iy, ix] += col[...] for every column entry that im2col would have read from x. */
    private static void col2im(MemorySegment col, ConvShape s, MemorySegment x, DType t) {
        x.fill((byte) 0);
        int k = s.k, wo = s.wo, p = s.plane();
        for (int c = 0; c < s.cin; c++)
            for (int ky = 0; ky < k; ky++)
                for (int kx = 0; kx < k; kx++) {
                    long row = ((long) (c * k + ky) * k + kx) * p;
                    for (int oy = 0; oy < s.ho; oy++) {
                        int iy = oy * s.stride - s.pad + ky;
                        if (iy < 0 || iy >= s.h) continue;
                        long srcRow = ((long) c * s.h + iy) * s.w;
                        for (int ox = 0; ox < wo; ox++) {
                            int ix = ox * s.stride - s.pad + kx;
                            if (ix < 0 || ix >= s.w) continue;
                            long xi = srcRow + ix, ci = row + (long) oy * wo + ox;
                            if (t == DType.F32) x.setAtIndex(F, xi, x.getAtIndex(F, xi) + col.getAtIndex(F, ci));
                            else x.setAtIndex(D, xi, x.getAtIndex(D, xi) + col.getAtIndex(D, ci));
                        }
                    }
                }
    }

    private static void zero(MemorySegment seg, long byteOffset, int count, int e) {
        if (e == 4) for (int i = 0; i < count; i++) seg.set(ValueLayout.JAVA_INT_UNALIGNED, byteOffset + 4L * i, 0);
        else for (int i = 0; i < count; i++) seg.set(ValueLayout.JAVA_LONG_UNALIGNED, byteOffset + 8L * i, 0L);
    }

    // ---------------------------------------------------------------- batch norm

    @Override
    public void batchNormForward(Tensor x, Tensor gamma, Tensor beta, double eps, Tensor y, double[] mean, double[] invStd) {
        if (x.dtype() != DType.F32) { ref.batchNormForward(x, gamma, beta, eps, y, mean, invStd); return; }
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c), count = b * hw;
        MemorySegment xs = x.data(), ys = y.data();
        parallelFor(c, (worker, from, to) -> {
            for (int ch = from; ch < to; ch++) {
                double s = 0;
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    float ps = 0;
                    for (long i = 0; i < hw; i++) ps += xs.getAtIndex(F, base + i);
                    s += ps;
                }
                double m = s / count, v = 0;
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    float pm = (float) m, pv = 0;
                    for (long i = 0; i < hw; i++) {
                        float d = xs.getAtIndex(F, base + i) - pm;
                        pv += d * d;
                    }
                    v += pv;
                }
                double is = 1.0 / Math.sqrt(v / count + eps);
                mean[ch] = m;
                invStd[ch] = is;
                float scale = (float) (is * gamma.get(ch)), shift = (float) (beta.get(ch) - m * is * gamma.get(ch));
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    for (long i = 0; i < hw; i++) ys.setAtIndex(F, base + i, xs.getAtIndex(F, base + i) * scale + shift);
                }
            }
        });
    }

    @Override
    public void batchNormBackward(Tensor x, Tensor dy, Tensor gamma, double[] mean, double[] invStd, Tensor dx) {
        if (x.dtype() != DType.F32) { ref.batchNormBackward(x, dy, gamma, mean, invStd, dx); return; }
        int b = x.dim(0), c = x.dim(1);
        long hw = x.numel() / ((long) b * c), count = b * hw;
        MemorySegment xs = x.data(), gs = dy.data(), ds = dx.data();
        parallelFor(c, (worker, from, to) -> {
            for (int ch = from; ch < to; ch++) {
                float m = (float) mean[ch];
                double sdy = 0, sdyx = 0;
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    float a = 0, ax = 0;
                    for (long i = 0; i < hw; i++) {
                        float g = gs.getAtIndex(F, base + i);
                        a += g;
                        ax += g * (xs.getAtIndex(F, base + i) - m);
                    }
                    sdy += a;
                    sdyx += ax;
                }
                double is = invStd[ch], scale = gamma.get(ch) * is;
                double mdy = sdy / count, mdyx = sdyx * is / count; // mean(dy * xhat)
                // dx = scale * (dy - mdy - xhat * mdyx), xhat = (x - m) * is
                float k1 = (float) scale, k2 = (float) (scale * mdy), k3 = (float) (scale * is * mdyx);
                for (int n = 0; n < b; n++) {
                    long base = (n * (long) c + ch) * hw;
                    for (long i = 0; i < hw; i++) {
                        ds.setAtIndex(F, base + i, k1 * gs.getAtIndex(F, base + i) - k2 - k3 * (xs.getAtIndex(F, base + i) - m));
                    }
                }
            }
        });
    }

    // ---------------------------------------------------------------- elementwise

    private interface Range {
        void run(long from, long to);
    }

    private void parallelRange(long n, Range body) {
        if (n < 1 << 16) { body.run(0, n); return; }
        int blocks = threads;
        parallelFor(blocks, (worker, from, to) -> {
            for (int blk = from; blk < to; blk++) body.run(n * blk / blocks, n * (blk + 1) / blocks);
        });
    }

    @Override
    public void relu(Tensor x, Tensor y) {
        if (x.dtype() != DType.F32) { ref.relu(x, y); return; }
        MemorySegment xs = x.data(), ys = y.data();
        parallelRange(x.numel(), (from, to) -> {
            for (long i = from; i < to; i++) ys.setAtIndex(F, i, Math.max(xs.getAtIndex(F, i), 0f));
        });
    }

    @Override
    public void reluBackward(Tensor x, Tensor dy, Tensor dx) {
        if (x.dtype() != DType.F32) { ref.reluBackward(x, dy, dx); return; }
        MemorySegment xs = x.data(), gs = dy.data(), ds = dx.data();
        parallelRange(x.numel(), (from, to) -> {
            for (long i = from; i < to; i++) ds.setAtIndex(F, i, xs.getAtIndex(F, i) > 0 ? gs.getAtIndex(F, i) : 0f);
        });
    }

    @Override
    public void add(Tensor a, Tensor b, Tensor out) {
        if (a.dtype() != DType.F32) { ref.add(a, b, out); return; }
        MemorySegment as = a.data(), bs = b.data(), os = out.data();
        parallelRange(a.numel(), (from, to) -> {
            for (long i = from; i < to; i++) os.setAtIndex(F, i, as.getAtIndex(F, i) + bs.getAtIndex(F, i));
        });
    }

    @Override
    public void scale(Tensor x, double s, Tensor y) {
        if (x.dtype() != DType.F32) { ref.scale(x, s, y); return; }
        MemorySegment xs = x.data(), ys = y.data();
        float f = (float) s;
        parallelRange(x.numel(), (from, to) -> {
            for (long i = from; i < to; i++) ys.setAtIndex(F, i, xs.getAtIndex(F, i) * f);
        });
    }

    // ---------------------------------------------------------------- pooling

    /** The 3x3 stride-1 pad-1 average pool of NAS-Bench-201 gets a fast path; other pools are tiny. */
    private static boolean isCellPool(Tensor x, int k, int stride, int pad) {
        return x.dtype() == DType.F32 && k == 3 && stride == 1 && pad == 1;
    }

    @Override
    public void avgPoolForward(Tensor x, int k, int stride, int pad, boolean countIncludePad, Tensor y) {
        if (!isCellPool(x, k, stride, pad)) { ref.avgPoolForward(x, k, stride, pad, countIncludePad, y); return; }
        boxSum3x3(x, y, countIncludePad, false);
    }

    @Override
    public void avgPoolBackward(Tensor dy, int k, int stride, int pad, boolean countIncludePad, Tensor dx) {
        if (!isCellPool(dy, k, stride, pad)) { ref.avgPoolBackward(dy, k, stride, pad, countIncludePad, dx); return; }
        // dx = box-sum of dy / count(output): the window is symmetric, so the adjoint is the same box
        boxSum3x3(dy, dx, countIncludePad, true);
    }

    /**
     * out = 3x3 box sum with zero padding; divided by the window's cell count after the sum
     * (forward) or before it (backward, where each output's share is dy / count).
     */
    private void boxSum3x3(Tensor in, Tensor out, boolean countIncludePad, boolean divideFirst) {
        int planes = in.dim(0) * in.dim(1), h = in.dim(2), w = in.dim(3);
        MemorySegment is = in.data(), os = out.data();
        parallelFor(planes, (worker, from, to) -> {
            float[] src = new float[h * w], pad = new float[(h + 2) * (w + 2)], inv = new float[h * w];
            for (int y = 0; y < h; y++)
                for (int x = 0; x < w; x++) {
                    int rows = countIncludePad ? 3 : Math.min(y + 1, h - 1) - Math.max(y - 1, 0) + 1;
                    int cols = countIncludePad ? 3 : Math.min(x + 1, w - 1) - Math.max(x - 1, 0) + 1;
                    inv[y * w + x] = 1f / (rows * cols);
                }
            for (int p = from; p < to; p++) {
                long base = (long) p * h * w;
                MemorySegment.copy(is, F, base * 4, src, 0, h * w);
                for (int y = 0; y < h; y++)
                    for (int x = 0; x < w; x++) {
                        float v = src[y * w + x];
                        pad[(y + 1) * (w + 2) + x + 1] = divideFirst ? v * inv[y * w + x] : v;
                    }
                for (int y = 0; y < h; y++) {
                    int r0 = y * (w + 2), r1 = r0 + w + 2, r2 = r1 + w + 2;
                    for (int x = 0; x < w; x++) {
                        float s = pad[r0 + x] + pad[r0 + x + 1] + pad[r0 + x + 2]
                                + pad[r1 + x] + pad[r1 + x + 1] + pad[r1 + x + 2]
                                + pad[r2 + x] + pad[r2 + x + 1] + pad[r2 + x + 2];
                        src[y * w + x] = divideFirst ? s : s * inv[y * w + x];
                    }
                }
                MemorySegment.copy(src, 0, os, F, base * 4, h * w);
            }
        });
    }

    @Override
    public void globalAvgPoolForward(Tensor x, Tensor y) {
        ref.globalAvgPoolForward(x, y);
    }

    @Override
    public void globalAvgPoolBackward(Tensor dy, Tensor dx) {
        ref.globalAvgPoolBackward(dy, dx);
    }

    @Override
    public void linearForward(Tensor x, Tensor w, Tensor b, Tensor y) {
        ref.linearForward(x, w, b, y);
    }

    @Override
    public void linearBackwardData(Tensor dy, Tensor w, Tensor dx) {
        ref.linearBackwardData(dy, w, dx);
    }

    @Override
    public void linearBackwardWeight(Tensor x, Tensor dy, Tensor dw) {
        ref.linearBackwardWeight(x, dy, dw);
    }

    // ---------------------------------------------------------------- correlation

    /**
     * Rows centred in float32 around a float64 mean (exact for a constant row, so a zero-variance row
     * is detected exactly as numpy sees it), then the Gram matrix by SGEMM, split over columns across
     * workers and summed in float64.
     */
    @Override
    public double[] corrcoef(Tensor r) {
        if (r.dtype() != DType.F32) return ref.corrcoef(r);
        int b = r.dim(0);
        long d = r.rowSize();
        if (d > Integer.MAX_VALUE / 2) return ref.corrcoef(r);
        MemorySegment rs = r.data();
        MemorySegment cs = scratchCentred(b * d * 4);
        boolean[] constant = new boolean[b];
        parallelFor(b, (worker, from, to) -> {
            for (int i = from; i < to; i++) {
                long base = i * d;
                double s = 0;
                for (long j = 0; j < d; j++) s += rs.getAtIndex(F, base + j);
                float m = (float) (s / d);
                boolean allZero = true;
                for (long j = 0; j < d; j++) {
                    float v = rs.getAtIndex(F, base + j) - m;
                    allZero &= v == 0f;
                    cs.setAtIndex(F, base + j, v);
                }
                constant[i] = allZero;
            }
        });
        for (boolean c : constant) if (c) return null;
        int parts = (int) Math.min(threads, Math.max(1, d / 256));
        double[] gram = new double[b * b];
        parallelFor(parts, (worker, from, to) -> {
            MemorySegment g = partial(worker, (long) b * b * 4);
            for (int part = from; part < to; part++) {
                long c0 = d * part / parts, c1 = d * (part + 1) / parts;
                MemorySegment a = cs.asSlice(c0 * 4);
                blas.sgemm(false, true, b, b, (int) (c1 - c0), 1f, a, (int) d, a, (int) d, part == from ? 0f : 1f, g, b);
            }
        });
        for (int w = 0; w < parts; w++)
            for (int i = 0; i < b * b; i++) gram[i] += partial[w].getAtIndex(F, i);
        return Correlation.normalise(gram, b);
    }

    private MemorySegment centred = MemorySegment.NULL;

    private MemorySegment scratchCentred(long bytes) {
        if (centred.byteSize() < bytes) centred = arena.allocate(bytes, 64);
        return centred;
    }

    @Override
    public void close() {
        if (workers != null) workers.shutdownNow();
        arena.close();
    }
}
