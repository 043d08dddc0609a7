package io.wrcor.backend.cpu;

import io.wrcor.util.CacheDir;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;

/**
 * This machine's own limits for the CPU backend's ops, measured with its threads all busy at once:
 * float32 GEMM throughput on a wide convolution's shape (M 512, N 1024, K 1152: 512 output channels, a
 * 32 x 32 plane, 128 input channels x 3 x 3; the best of its rounds) through the BLAS the backend uses, and streaming memory bandwidth
 * (large copies, bytes read plus written). Measured once per CPU, BLAS and thread count and kept in the
 * cache folder ({@code ceilings-*.txt}); {@code bench --profile} shows each op as a share of them.
 */
public record Ceilings(double gemmGflops, double streamGBs, String source) {
    private static final int M = 512, N = 1024, K = 1152;
    private static final long STREAM_BYTES = 64L << 20; // per thread: well past the last-level cache

    /** The cached measurement for this CPU, BLAS and thread count, else a new one (about 2 s), cached. */
    public static Ceilings of(OpenBlas blas, int threads) {
        String key = cpuModel() + " | " + blas.origin() + " | " + threads + " threads | M " + M + " N " + N + " K " + K;
        Path file = CacheDir.root().resolve("ceilings-" + Integer.toHexString(key.hashCode()) + ".txt");
        try {
            if (Files.isRegularFile(file)) {
                List<String> lines = Files.readAllLines(file, StandardCharsets.UTF_8);
                if (lines.size() == 3 && lines.get(0).equals(key)) {
                    return new Ceilings(Double.parseDouble(lines.get(1)), Double.parseDouble(lines.get(2)), "measured earlier, cached");
                }
            }
        } catch (IOException | RuntimeException e) {
            // unreadable or stale: measure again
        }
        Ceilings c = measure(blas, threads);
        try {
            CacheDir.writeAtomically(file, (key + "\n" + c.gemmGflops + "\n" + c.streamGBs + "\n").getBytes(StandardCharsets.UTF_8));
        } catch (IOException | RuntimeException e) {
            // a read-only cache: measured again next time
        }
        return c;
    }

    /** A new measurement: each of {@code threads} threads runs its own GEMMs, then its own copies, all at once. */
    public static Ceilings measure(OpenBlas blas, int threads) {
        ExecutorService pool = Executors.newFixedThreadPool(threads, r -> {
            Thread t = new Thread(r, "wrcor-ceilings");
            t.setDaemon(true);
            return t;
        });
        try (Arena arena = Arena.ofShared()) {
            List<MemorySegment[]> gemm = new ArrayList<>(), stream = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                MemorySegment a = arena.allocate(4L * M * K, 64), b = arena.allocate(4L * K * N, 64), c = arena.allocate(4L * M * N, 64);
                for (long j = 0; j < (long) M * K; j++) a.setAtIndex(ValueLayout.JAVA_FLOAT, j, (j % 7) * 0.1f);
                for (long j = 0; j < (long) K * N; j++) b.setAtIndex(ValueLayout.JAVA_FLOAT, j, (j % 5) * 0.1f);
                gemm.add(new MemorySegment[] {a, b, c});
                MemorySegment src = arena.allocate(STREAM_BYTES, 64), dst = arena.allocate(STREAM_BYTES, 64);
                src.fill((byte) 1);
                dst.fill((byte) 2);
                stream.add(new MemorySegment[] {src, dst});
            }
            double flops = 2.0 * M * N * K;
            double gflops = rate(pool, threads, 3, i -> {
                MemorySegment[] s = gemm.get(i);
                blas.sgemm(false, false, M, N, K, 1f, s[0], K, s[1], N, 0f, s[2], N);
            }) * flops / 1e9;
            double gbs = rate(pool, threads, 4, i -> MemorySegment.copy(stream.get(i)[0], 0, stream.get(i)[1], 0, STREAM_BYTES)) * 2.0 * STREAM_BYTES / 1e9;
            return new Ceilings(gflops, gbs, "measured now");
        } finally {
            pool.shutdownNow();
        }
    }

    private interface Step {
        void run(int thread);
    }

    /** Steps per second over all threads: one untimed step each, then the best of five rounds of {@code reps} steps in each thread at once. */
    private static double rate(ExecutorService pool, int threads, int reps, Step step) {
        try {
            List<Callable<Void>> warm = new ArrayList<>(), timed = new ArrayList<>();
            for (int i = 0; i < threads; i++) {
                int t = i;
                warm.add(() -> { step.run(t); return null; });
                timed.add(() -> { for (int r = 0; r < reps; r++) step.run(t); return null; });
            }
            for (Future<Void> f : pool.invokeAll(warm)) f.get();
            double best = 0;
            for (int round = 0; round < 5; round++) {
                long t0 = System.nanoTime();
                for (Future<Void> f : pool.invokeAll(timed)) f.get();
                best = Math.max(best, (double) threads * reps / ((System.nanoTime() - t0) / 1e9));
            }
            return best;
        } catch (Exception e) {
            throw new IllegalStateException("measuring the machine's ceilings failed", e);
        }
    }

    static String cpuModel() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/cpuinfo"))) {
                if (line.startsWith("model name")) return line.substring(line.indexOf(':') + 1).strip();
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: the architecture names it
        }
        return System.getProperty("os.arch");
    }

    @Override
    public String toString() {
        return String.format("this machine's ceilings (%s): float32 GEMM %.1f GFLOP/s (M %d, N %d, K %d), streaming copy %.1f GB/s", source, gemmGflops, M, N, K,
                streamGBs);
    }
}
