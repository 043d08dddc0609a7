package io.wrcor.cli;

import io.wrcor.backend.Backend;
import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import java.lang.foreign.Arena;
import java.nio.file.Path;

/** Options shared by the commands that score: backend, threads, data. */
final class Session {
    private Session() {
    }

    /** The backend by name (see {@link Backends#open}); an unavailable one is a one-line error, exit 2. */
    static Backend backend(String name, int threads, java.io.PrintStream err) {
        try {
            return Backends.open(name, threads, note -> err.println("wrcor: " + note));
        } catch (Backends.UnavailableException e) {
            throw new UsageException(e.getMessage());
        }
    }

    /**
     * {@code --in-flight}'s default: 1 on the host (its threads already share each op) and on a CPU
     * OpenCL device; on a GPU, as many architectures as half its memory holds at this batch by the
     * engine's memory estimate (all proxies, the largest of 16 sampled architectures), at most 8.
     */
    static int defaultInFlight(Backend b, io.wrcor.space.SearchSpace space, io.wrcor.space.NetSize net, int batch) {
        long mem = b.deviceMemoryBytes();
        if (mem <= 0 || (b instanceof io.wrcor.backend.opencl.OpenClBackend o && !o.isGpu())) return 1;
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(0);
        long need = 1;
        for (int i = 0; i < 16; i++) {
            need = Math.max(need, io.wrcor.Engine.memoryNeeded(space.build(space.sample(rnd), net, true), batch,
                    space.defaultProxies()));
        }
        return (int) Math.max(1, Math.min(8, mem / 2 / need));
    }

    /** Whether {@code --data} names an ImageFolder (a folder) rather than a CIFAR-10 binary file. */
    static boolean isImageFolder(String data) {
        return java.nio.file.Files.isDirectory(Path.of(data));
    }

    /**
     * The batch of {@code data}: an ImageFolder (a folder of class folders of JPEG/PNG images,
     * resized and centre-cropped to the network's input size), a CIFAR-10 binary file, or the
     * synthetic default when it is null.
     */
    static Batch batch(String data, int batch, int classes, int imageSize, long seed, Arena arena) {
        return io.wrcor.data.Inputs.batch(data, batch, classes, imageSize, seed, arena);
    }

    /**
     * The backends of {@code --devices 0,1,...} (one per device, lane 0 on the first), or the one
     * backend of {@code --backend} when the option is absent; a device that does not exist is one line.
     */
    static java.util.List<Backend> devices(Args a, java.io.PrintStream err) {
        String name = a.get("--backend", "cpu");
        int threads = a.getInt("--threads", 2, 1, 1024);
        if (!a.has("--devices")) return java.util.List.of(backend(name, threads, err));
        java.util.List<Integer> ids = new java.util.ArrayList<>();
        for (String d : a.get("--devices", "").split(",", -1)) {
            try {
                int i = Integer.parseInt(d.strip());
                if (i < 0 || i > 1023) throw new NumberFormatException();
                ids.add(i);
            } catch (NumberFormatException e) {
                throw new UsageException("--devices expects device indices such as 0,1,2, got '" + io.wrcor.util.Json.clip(a.get("--devices", "")) + "'");
            }
        }
        try {
            return io.wrcor.backend.Backends.openDevices(name, ids, threads);
        } catch (io.wrcor.backend.Backends.UnavailableException | IllegalArgumentException e) {
            throw new UsageException(e.getMessage());
        }
    }

    static void close(Backend b) {
        if (b instanceof AutoCloseable c) {
            try {
                c.close();
            } catch (Exception ignored) {
                // nothing left to release
            }
        }
    }
}
