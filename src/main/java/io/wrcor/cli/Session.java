package io.wrcor.cli;

import io.wrcor.backend.Backend;
import io.wrcor.backend.cpu.FastCpuBackend;
import io.wrcor.backend.cpu.ReferenceBackend;
import io.wrcor.backend.opencl.OpenClBackend;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import java.lang.foreign.Arena;
import java.nio.file.Path;

/** Options shared by the commands that score: backend, threads, data. */
final class Session {
    private Session() {
    }

    /**
     * The backend by name. {@code auto} takes the fastest available: OpenCL on a GPU, else the CPU
     * backend (an OpenCL CPU device such as PoCL is slower than OpenBLAS); it says which on stderr.
     */
    static Backend backend(String name, int threads, java.io.PrintStream err) {
        return switch (name) {
            case "cpu" -> new FastCpuBackend(threads);
            case "reference" -> new ReferenceBackend();
            case "opencl" -> {
                try {
                    yield OpenClBackend.open();
                } catch (OpenClBackend.Unavailable e) {
                    throw new UsageException("opencl backend unavailable: " + e.getMessage());
                }
            }
            case "cuda" -> throw new UsageException("cuda backend unavailable: this build has no CUDA backend yet");
            case "auto" -> {
                String why;
                try {
                    OpenClBackend cl = OpenClBackend.open();
                    if (cl.isGpu()) {
                        err.println("wrcor: backend auto: " + cl.name());
                        yield cl;
                    }
                    why = "the OpenCL device is not a GPU: " + cl.name();
                    cl.close();
                } catch (OpenClBackend.Unavailable e) {
                    why = "opencl unavailable: " + e.getMessage();
                }
                err.println("wrcor: backend auto: cpu (" + why + "; cuda: not in this build)");
                yield new FastCpuBackend(threads);
            }
            default -> throw new UsageException("unknown backend '" + name + "' (expected cpu, opencl, cuda, auto or reference)");
        };
    }

    /** The CIFAR-10 batch of {@code dataFile}, or the synthetic default when it is null. */
    static Batch batch(String dataFile, int batch, int classes, int imageSize, long seed, Arena arena) {
        if (dataFile == null) return Cifar10.synthetic(batch, classes, imageSize, seed, arena);
        return Cifar10.read(Path.of(dataFile)).batch(batch, seed, arena);
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
