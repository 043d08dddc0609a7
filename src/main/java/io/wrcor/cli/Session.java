package io.wrcor.cli;

import io.wrcor.backend.Backend;
import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
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
