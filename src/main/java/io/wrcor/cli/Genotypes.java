package io.wrcor.cli;

import io.wrcor.space.SearchSpace;
import io.wrcor.util.Files2;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Published MobileNetV2-like genotypes by name ({@code --arch @MobileNetV2}): the names and
 * structure strings of the shared table {@code data/mbv2-flops.csv} (the genotypes of the published
 * code and its seeded samples), read when a name is used.
 */
final class Genotypes {
    static final String TABLE = "mbv2-flops.csv";

    private static Map<String, String> table; // read on first use, once per process

    private Genotypes() {
    }

    /** {@code arch} itself, or the STRUCTURE@RESOLUTION that an {@code @NAME} stands for. */
    static String resolve(SearchSpace space, String arch) {
        if (!arch.startsWith("@")) return arch;
        String name = arch.substring(1);
        if (!space.name().equals("mbv2")) {
            throw new UsageException("named architectures (" + arch + ") are published genotypes of the mbv2 space; this is the " + space.name() + " space");
        }
        Map<String, String> table = table();
        String s = table.get(name);
        if (s == null) {
            List<String> names = new ArrayList<>();
            for (String n : table.keySet()) if (!n.startsWith("sampled-")) names.add("@" + n);
            throw new UsageException("no published genotype named '" + name + "'; known: " + String.join(", ", names)
                    + " (and @sampled-seed0 ... in " + TABLE + ")");
        }
        return s;
    }

    private static synchronized Map<String, String> table() {
        if (table == null) table = read();
        return table;
    }

    private static Map<String, String> read() {
        Path p = Defaults.sharedData(TABLE);
        if (!Files.isRegularFile(p)) {
            throw new UsageException("named genotypes come from " + p + ", which does not exist (looked in " + Defaults.sharedOrigin()
                    + "); set WRCOR_SHARED to the shared folder or give the structure string");
        }
        List<String> lines = Files2.readLines("genotype table", p);
        if (lines.isEmpty() || !lines.getFirst().startsWith("name,source,structure,resolution")) {
            throw new UsageException(p + " is not the genotype table: its header should start with name,source,structure,resolution");
        }
        Map<String, String> table = new LinkedHashMap<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i);
            if (line.isBlank()) continue;
            String[] f = line.split(",(?=(?:[^\"]*\"[^\"]*\")*[^\"]*$)", -1); // commas outside quotes
            if (f.length < 4) throw new UsageException(p + ", line " + (i + 1) + ": expected name,source,structure,resolution,...");
            table.putIfAbsent(f[0].strip(), f[2].replace("\"", "").strip() + "@" + f[3].strip());
        }
        return table;
    }
}
