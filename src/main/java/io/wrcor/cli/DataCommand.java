package io.wrcor.cli;

import io.wrcor.data.Datasets;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;

/** {@code wrcor data get NAME | list}: the public datasets that {@code --data NAME} means. */
final class DataCommand {
    private DataCommand() {
    }

    static void run(String[] argv, PrintStream out, PrintStream err) {
        if (argv.length < 2) throw new UsageException("data: expected 'get NAME' or 'list' (" + String.join(", ", Datasets.KNOWN.keySet()) + ")");
        switch (argv[1]) {
            case "list" -> {
                new Args(argv, 2, Set.of(), Set.of());
                out.println("datasets in " + Datasets.root() + " (-Dwrcor.datasets or $WRCOR_DATASETS elsewhere):");
                for (Datasets.Dataset d : Datasets.KNOWN.values()) {
                    Path train = Datasets.trainFile(d);
                    String state = Datasets.present(d)
                            ? String.format("present: %s (%d training images), %s", train, size(train) / d.format().record(), Datasets.testFile(d))
                            : "not downloaded (bin/wrcor data get " + d.name() + ")";
                    out.printf("  %-9s %s, %s%n", d.name(), d.format().label, state);
                }
            }
            case "get" -> {
                Args a = new Args(argv, 3, Set.of("--url", "--md5"), Set.of());
                if (argv.length < 3 || argv[2].startsWith("--")) throw new UsageException("data get: which dataset? " + String.join(", ", Datasets.KNOWN.keySet()));
                Datasets.Dataset d = Datasets.KNOWN.get(argv[2]);
                if (d == null) {
                    throw new UsageException("data get: unknown dataset '" + io.wrcor.util.Json.clip(argv[2]) + "' (known: "
                            + String.join(", ", Datasets.KNOWN.keySet()) + ")");
                }
                if (a.has("--url") != a.has("--md5")) throw new UsageException("data get: --url (a mirror) needs the archive's --md5, and --md5 needs --url");
                if (a.has("--md5") && !a.get("--md5", "").matches("[0-9a-fA-F]{32}")) throw new UsageException("data get: --md5 is 32 hex digits");
                if (Datasets.present(d) && !a.has("--url")) {
                    out.println(d.name() + " is already here: " + Datasets.trainFile(d));
                    return;
                }
                Path train = Datasets.get(d, a.get("--url", null), a.get("--md5", null), err);
                out.println(d.name() + ": " + train + " (" + size(train) / d.format().record() + " training images); --data " + d.name() + " now means it");
            }
            default -> throw new UsageException("data: unknown action '" + io.wrcor.util.Json.clip(argv[1]) + "' (get NAME, list)");
        }
    }

    private static long size(Path p) {
        try {
            return Files.size(p);
        } catch (java.io.IOException e) {
            return 0;
        }
    }
}
