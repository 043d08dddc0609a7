package io.wrcor.cli;

import io.wrcor.Engine;
import io.wrcor.backend.Backend;
import io.wrcor.backend.Profiled;
import io.wrcor.data.Batch;
import io.wrcor.proxy.Proxy;
import io.wrcor.space.Arch;
import io.wrcor.space.NetSize;
import io.wrcor.space.SearchSpace;
import io.wrcor.space.SearchSpaces;
import java.io.PrintStream;
import java.lang.foreign.Arena;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.HashMap;
import java.util.Map;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/**
 * {@code wrcor bench}: seconds per architecture for each proxy set over the same random
 * NAS-Bench-201 architectures, after an untimed warm-up pass over them. Prints median, min and max per set.
 */
final class BenchCommand {
    private BenchCommand() {
    }

    /**
     * {@code bench --onnx FILE}: one ONNX model scored {@code --repeat} times per proxy set on one batch
     * (default 64), after an untimed warm-up per set; median, min and max seconds per set.
     */
    static void onnx(String[] argv, PrintStream out, PrintStream err) {
        Args a = new Args(argv, 1, Set.of("--onnx", "--batch", "--threads", "--seed", "--data", "--sets", "--backend", "--repeat"), Set.of("--no-warmup"));
        int repeat = a.getInt("--repeat", 5, 1, 10_000), threads = a.getInt("--threads", 2, 1, 1024);
        long seed = a.getLong("--seed", 0);
        List<List<Proxy>> sets = new ArrayList<>();
        for (String s : a.get("--sets", "wrcor;synflow,jacob_cor,wrcor").split(";", -1)) {
            if (s.isBlank()) throw new UsageException("--sets: an empty set (sets are comma-separated proxies, separated by ';')");
            sets.add(Proxy.parseList(s));
        }
        java.nio.file.Path file = java.nio.file.Path.of(a.get("--onnx", ""));
        try (Arena arena = Arena.ofShared(); io.wrcor.tensor.TensorPool pool = new io.wrcor.tensor.TensorPool()) {
            io.wrcor.onnx.OnnxModel m = io.wrcor.onnx.OnnxModel.load(file, arena);
            int[] in = m.inputShape();
            int b = m.batchFor(a.has("--batch") ? a.getInt("--batch", 64, 2, 1 << 16) : null);
            for (List<Proxy> set : sets) Engine.requireMemory(m.graph(), b, set);
            Batch batch = Session.batch(a.get("--data", null), b, m.classes(), in[1], seed, arena);
            Backend backend = Session.backend(a.get("--backend", "cpu"), threads, err);
            try {
                io.wrcor.proxy.Scorer scorer = new io.wrcor.proxy.Scorer(backend, pool);
                out.printf("backend %s, batch %d, ONNX model %s (%d nodes, %d response sites, %d parameters, %d x %d input)%n", label(backend), b,
                        file.getFileName(), m.graph().size(), m.graph().sites().size(), m.parameterCount(), in[1], in[2]);
                for (List<Proxy> set : sets) {
                    if (!a.has("--no-warmup")) m.score(scorer, batch, set);
                    double[] secs = new double[repeat];
                    for (int i = 0; i < repeat; i++) {
                        long t0 = System.nanoTime();
                        m.score(scorer, batch, set);
                        secs[i] = (System.nanoTime() - t0) / 1e9;
                    }
                    Arrays.sort(secs);
                    out.printf("%-28s median %.3f s   min %.3f   max %.3f   (%d runs)%n", label(set), median(secs), secs[0], secs[repeat - 1], repeat);
                }
            } finally {
                Session.close(backend);
            }
        }
    }

    static void run(String[] argv, PrintStream out, PrintStream err) {
        if (java.util.Arrays.asList(argv).contains("--onnx")) {
            onnx(argv, out, err);
            return;
        }
        Args a = new Args(argv, 1, Set.of("--space", "--archs", "--batch", "--threads", "--seed", "--data", "--sets", "--backend", "--flops-limit", "--largest-of", "--in-flight", "--arch-file"), Set.of("--profile", "--no-warmup", "--per-arch"));
        int n = a.getInt("--archs", 20, 1, 15_625), batchSize = a.getInt("--batch", 64, 2, 1 << 16);
        int threads = a.getInt("--threads", 2, 1, 1024);
        long seed = a.getLong("--seed", 0);
        List<List<Proxy>> sets = new ArrayList<>();
        String[] given = a.get("--sets", "wrcor;synflow,jacob_cor,wrcor").split(";", -1);
        for (int i = 0; i < given.length; i++) {
            if (given[i].isBlank()) {
                throw new UsageException("--sets: set " + (i + 1) + " of " + given.length + " is empty (sets are comma-separated proxies, separated"
                        + " by ';', e.g. 'wrcor;synflow,jacob_cor,wrcor')");
            }
            sets.add(Proxy.parseList(given[i]));
        }
        SearchSpace space = Scoring.spaceOf(a, null);
        NetSize net = space.defaultSize();
        SplittableRandom rnd = new SplittableRandom(seed);
        List<Arch> archs = new ArrayList<>();
        boolean listed = a.has("--arch-file");
        if (listed) {
            if (a.has("--archs") || a.has("--largest-of")) throw new UsageException("give --arch-file or --archs/--largest-of, not both");
            for (String f : a.all("--arch-file")) for (String s : ScoreCommand.readArchFile(f, space)) archs.add(space.parse(s));
            if (archs.isEmpty()) throw new UsageException("--arch-file: no architectures in " + String.join(", ", a.all("--arch-file")));
            n = archs.size();
        }
        int pool = listed ? n : a.getInt("--largest-of", n, n, 10_000_000);
        if (!listed) for (int i = 0; i < pool; i++) archs.add(space.sample(rnd));
        boolean largest = a.has("--largest-of");
        if (largest) {
            // the candidates that need the most memory at this batch: the worst case for the memory bound
            Map<Arch, Long> need = new HashMap<>();
            List<Proxy> all = sets.stream().flatMap(List::stream).distinct().toList();
            for (Arch arch : archs) need.put(arch, Engine.memoryNeeded(space.build(arch, net, true), batchSize, all));
            archs.sort(Comparator.comparingLong((Arch x) -> need.get(x)).reversed());
            archs = new ArrayList<>(archs.subList(0, n));
            for (Arch arch : archs) out.printf("candidate needing %.2f GB (estimate): %s%n", need.get(arch) / 1e9, arch);
        }

        List<Integer> inFlight = new ArrayList<>();
        if (a.has("--in-flight")) {
            for (String k : a.get("--in-flight", "").split(",")) {
                try {
                    int v = Integer.parseInt(k.trim());
                    if (v < 1 || v > 64) throw new NumberFormatException();
                    inFlight.add(v);
                } catch (NumberFormatException e) {
                    throw new UsageException("option --in-flight expects numbers of lanes from 1 to 64 separated by commas, got '" + a.get("--in-flight", "") + "'");
                }
            }
            if (a.has("--profile")) throw new UsageException("--profile times one lane's ops; it cannot be combined with --in-flight");
        }

        try (Arena arena = Arena.ofShared()) {
            Batch batch = Session.batch(a.get("--data", null), batchSize, net.classes(), net.imageSize(), seed, arena);
            Backend backend = Session.backend(a.get("--backend", "cpu"), threads, err);
            if (!inFlight.isEmpty()) {
                try {
                    inFlight(out, err, backend, space, net, batch, archs, sets, inFlight, seed, !a.has("--no-warmup"));
                } finally {
                    Session.close(backend);
                }
                return;
            }
            Profiled profile = a.has("--profile") ? new Profiled() : null;
            io.wrcor.backend.cpu.Ceilings ceilings = profile != null && backend instanceof io.wrcor.backend.cpu.FastCpuBackend fb ? fb.ceilings() : null;
            if (ceilings != null) out.println(ceilings);
            try (Engine engine = new Engine(profile == null ? backend : profile.wrap(backend), space, net)) {
                out.printf("backend %s, batch %d, %d %s %s architectures (seed %d), %s data%n", label(backend), batchSize, n,
                        largest ? "largest (by memory) of " + pool : listed ? "listed" : "random", space.name(), seed, a.has("--data") ? "CIFAR-10" : "synthetic");
                // warm-up: one untimed pass over the same architectures with every set, so that the JIT
                // has compiled the hot loops and the scratch pool holds the sizes they need (steady
                // state, as in a long scoring run)
                if (!a.has("--no-warmup")) for (List<Proxy> set : sets) for (Arch arch : archs) engine.score(arch, seed, batch, set);
                for (List<Proxy> set : sets) {
                    if (profile != null) profile.reset();
                    if (backend instanceof io.wrcor.backend.KernelBackend kb) kb.resetTransfers();
                    engine.takePeakScratchBytes();
                    double[] secs = new double[n];
                    Progress progress = new Progress(err, n, true);
                    for (int i = 0; i < n; i++) {
                        long t0 = System.nanoTime();
                        engine.score(archs.get(i), seed, batch, set);
                        secs[i] = (System.nanoTime() - t0) / 1e9;
                        progress.step(label(set));
                    }
                    if (a.has("--per-arch")) {
                        for (int i = 0; i < n; i++) out.printf("  %s  %.4f s  %s%n", label(set), secs[i], archs.get(i));
                    }
                    Arrays.sort(secs);
                    out.printf("%-28s median %.3f s/arch   min %.3f   max %.3f   peak scratch %.2f GB%n", label(set), median(secs), secs[0],
                            secs[n - 1], engine.takePeakScratchBytes() / 1e9);
                    if (backend instanceof io.wrcor.backend.KernelBackend kb) out.println(transfers(List.of(kb.transfers()), n));
                    if (profile != null) {
                        if (ceilings != null) out.print(profile.report(n, ceilings.gemmGflops(), ceilings.streamGBs()));
                        else out.print(profile.report(n));
                    }
                }
            } finally {
                Session.close(backend);
            }
        }
    }

    /**
     * Throughput with K architectures in flight, for each K: two architectures per lane scored
     * untimed (the lanes' JIT, programs and pools warm), then every architecture once, timed; architectures per second over the
     * wall time, the median seconds one architecture took in its lane, and the transfers per
     * architecture summed over the lanes.
     */
    private static void inFlight(PrintStream out, PrintStream err, Backend backend, SearchSpace space, NetSize net, Batch batch, List<Arch> archs,
                                 List<List<Proxy>> sets, List<Integer> ks, long seed, boolean warmup) {
        int n = archs.size();
        out.printf("backend %s, batch %d, %d random %s architectures (seed %d), in flight %s%n", label(backend), batch.size(), n, space.name(), seed, ks);
        for (List<Proxy> set : sets) {
            double base = 0;
            for (int k : ks) {
                try (io.wrcor.InFlight lanes = new io.wrcor.InFlight(backend, space, net, batch, k)) {
                    // warm-up: two architectures per lane (JIT, programs, each lane's pool)
                    if (warmup) lanes.score(archs.subList(0, Math.min(n, 2 * k)), seed, null, set, (i, r, s) -> { });
                    for (int l = 0; l < k; l++) if (lanes.backend(l) instanceof io.wrcor.backend.KernelBackend kb) kb.resetTransfers();
                    double[] secs = new double[n];
                    Progress progress = new Progress(err, n, true);
                    long t0 = System.nanoTime();
                    lanes.score(archs, seed, null, set, (i, r, s) -> {
                        secs[i] = s;
                        progress.step(label(set) + " x" + k);
                    });
                    double wall = (System.nanoTime() - t0) / 1e9, rate = n / wall;
                    List<io.wrcor.backend.KernelBackend.Transfers> perLane = new ArrayList<>();
                    for (int l = 0; l < k; l++) if (lanes.backend(l) instanceof io.wrcor.backend.KernelBackend kb) perLane.add(kb.transfers());
                    Arrays.sort(secs);
                    if (k == ks.getFirst()) base = rate;
                    out.printf("%-28s in flight %2d: %7.2f arch/s (%.2fx of %d in flight), wall %.1f s, median %.3f s/arch in its lane%n",
                            label(set), k, rate, rate / base, ks.getFirst(), wall, median(secs));
                    if (!perLane.isEmpty()) out.println(transfers(perLane, n) + " over " + k + " lanes");
                }
            }
        }
    }

    /** The median of sorted values. */
    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /** The transfers per architecture over n architectures, summed over lanes (device memory peaks added: each lane holds its own). */
    private static String transfers(List<io.wrcor.backend.KernelBackend.Transfers> lanes, int n) {
        long in = 0, back = 0, launches = 0, allocations = 0, peak = 0;
        for (io.wrcor.backend.KernelBackend.Transfers t : lanes) {
            in += t.bytesIn();
            back += t.bytesOut();
            launches += t.launches();
            allocations += t.allocations();
            peak += t.deviceBytesPeak();
        }
        return String.format("  per architecture: %.1f KB to the device, %.1f KB back, %d kernel launches, %.1f device allocations; device memory peak %.1f MB",
                in / 1e3 / n, back / 1e3 / n, launches / n, allocations / (double) n, peak / 1e6);
    }

    /** The backend's name and, on a device, the shape of its kernels (tiles, rows or gemm). */
    private static String label(io.wrcor.backend.Backend backend) {
        return backend.name() + (backend instanceof io.wrcor.backend.KernelBackend kb ? ", " + kb.shape().name().toLowerCase() + " kernels" : "");
    }

    private static String label(List<Proxy> set) {
        return String.join(",", set.stream().map(p -> p.label).toList());
    }
}
