package io.wrcor.cli;

import java.nio.file.Files;
import java.nio.file.Path;

/** Files the commands fall back to when no option names them. */
final class Defaults {
    private Defaults() {
    }

    /**
     * The ground-truth table: the given path, else the project's shared data folder
     * ({@code ../shared/data/nb201-accuracy.csv} beside the project, as the launcher reports it).
     */
    static Path groundTruth(String option) {
        if (option != null) return Path.of(option);
        Path shared = sharedData("nb201-accuracy.csv");
        if (shared == null) throw new UsageException("no ground-truth table: give --gt FILE (a NAS-Bench-201 accuracy CSV)");
        return shared;
    }

    /** A file of the shared data folder beside the project, or null when there is none. */
    static Path sharedData(String name) {
        String home = System.getProperty("wrcor.home");
        if (home == null) return null;
        Path p = Path.of(home).resolveSibling("shared").resolve("data").resolve(name);
        return Files.isRegularFile(p) ? p : null;
    }
}
