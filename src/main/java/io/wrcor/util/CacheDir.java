package io.wrcor.util;

import java.io.ByteArrayInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;

/** Where wrcor keeps files it can rebuild (unpacked natives, device binaries). */
public final class CacheDir {
    private CacheDir() {
    }

    /** The system property {@code wrcor.cache}, else {@code $WRCOR_CACHE}, else {@code $XDG_CACHE_HOME/wrcor} or {@code ~/.cache/wrcor}. */
    public static Path root() {
        return configured("wrcor.cache", "WRCOR_CACHE", () -> {
            String xdg = System.getenv("XDG_CACHE_HOME");
            Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
            return base.resolve("wrcor");
        });
    }

    /** The folder the system property names, else the environment variable, else {@code otherwise}. */
    public static Path configured(String property, String env, java.util.function.Supplier<Path> otherwise) {
        String prop = System.getProperty(property);
        if (prop != null && !prop.isBlank()) return Path.of(prop);
        String e = System.getenv(env);
        if (e != null && !e.isBlank()) return Path.of(e);
        return otherwise.get();
    }

    /**
     * Writes {@code in} to {@code file} through a temporary file beside it and an atomic rename, so
     * that a reader (another process filling the same cache) sees the whole file or none.
     */
    public static void writeAtomically(Path file, InputStream in) throws IOException {
        Files.createDirectories(file.getParent());
        Path tmp = Files.createTempFile(file.getParent(), file.getFileName().toString(), ".part");
        try {
            Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
            Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    public static void writeAtomically(Path file, byte[] bytes) throws IOException {
        writeAtomically(file, new ByteArrayInputStream(bytes));
    }
}
