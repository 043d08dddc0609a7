package io.wrcor.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;

/** Files and folders the commands fall back to when no option names them. */
final class Defaults {
    private Defaults() {
    }

    /**
     * The shared folder (fixtures, CIFAR-10 batches, ground-truth tables): {@code $WRCOR_SHARED},
     * else the system property {@code wrcor.shared}, else {@code shared} beside the project folder
     * (the launcher passes the project folder as {@code wrcor.home}). It may not exist.
     */
    static Path shared() {
        return sharedFolder().path();
    }

    /** Where {@link #shared()} came from, for messages. */
    static String sharedOrigin() {
        return sharedFolder().origin();
    }

    private record Located(Path path, String origin) {}

    private static Located sharedFolder() {
        String env = System.getenv("WRCOR_SHARED");
        if (env != null && !env.isBlank()) return new Located(Path.of(env), "$WRCOR_SHARED");
        String prop = System.getProperty("wrcor.shared");
        if (prop != null && !prop.isBlank()) return new Located(Path.of(prop), "-Dwrcor.shared");
        String home = System.getProperty("wrcor.home", ".");
        return new Located(Path.of(home).toAbsolutePath().normalize().resolveSibling("shared"), "the folder 'shared' beside the project");
    }

    /** The ground-truth table: the given path, else the space's table in the shared data folder. */
    static Path groundTruth(String option, io.wrcor.space.SearchSpace space) {
        if (option != null) return Path.of(option);
        if (space.groundTruth().defaultFile() == null) {
            throw new UsageException("the " + space.name() + " space has no accuracy table (accuracy needs training, which this project does not"
                    + " do); give --gt FILE with " + String.join(",", space.groundTruth().archColumns()) + " and accuracy columns");
        }
        Path p = sharedData(space.groundTruth().defaultFile());
        if (!Files.isRegularFile(p)) {
            throw new UsageException("no ground-truth table: " + p + " does not exist (looked in " + sharedOrigin()
                    + "); give --gt FILE (a " + space.name() + " accuracy table) or set WRCOR_SHARED to the shared folder");
        }
        return p;
    }

    /** A file of the shared data folder (it may not exist). */
    static Path sharedData(String name) {
        return shared().resolve("data").resolve(name);
    }

    /** A new run folder {@code runs/<command>-<date>-<time>} in the working directory (not created yet). */
    static Path newRunFolder(String command) {
        String stamp = LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss"));
        Path p = Path.of("runs", command + "-" + stamp);
        for (int i = 2; Files.exists(p); i++) p = Path.of("runs", command + "-" + stamp + "-" + i);
        return p;
    }
}
