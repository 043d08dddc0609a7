package io.wrcor.util;

import java.nio.file.Path;

/** Where wrcor keeps files it can rebuild (unpacked natives, device binaries). */
public final class CacheDir {
    private CacheDir() {
    }

    /** The system property {@code wrcor.cache}, else {@code $WRCOR_CACHE}, else {@code $XDG_CACHE_HOME/wrcor} or {@code ~/.cache/wrcor}. */
    public static Path root() {
        String prop = System.getProperty("wrcor.cache");
        if (prop != null && !prop.isBlank()) return Path.of(prop);
        String env = System.getenv("WRCOR_CACHE");
        if (env != null && !env.isBlank()) return Path.of(env);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("wrcor");
    }
}
