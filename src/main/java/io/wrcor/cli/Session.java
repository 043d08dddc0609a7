package io.wrcor.cli;

import io.wrcor.backend.Backend;
import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import io.wrcor.data.Cifar10;
import io.wrcor.data.ImageFolder;
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
        if (data == null) return Cifar10.synthetic(batch, classes, imageSize, seed, arena);
        if (isImageFolder(data)) return ImageFolder.open(Path.of(data)).batch(batch, seed, imageSize, classes, arena);
        Batch b = Cifar10.read(Path.of(data)).batch(batch, seed, arena);
        if (b.input().dim(2) != imageSize) {
            throw new UsageException("data file " + data + " holds 32x32 CIFAR-10 images; this network takes " + imageSize + "x" + imageSize
                    + " inputs (give an ImageFolder of JPEG/PNG images with --data DIR)");
        }
        return b;
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
