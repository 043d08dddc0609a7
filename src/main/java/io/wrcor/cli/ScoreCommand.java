package io.wrcor.cli;

import io.wrcor.proxy.Proxy;
import io.wrcor.space.nb201.Nb201Arch;
import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.util.SplittableRandom;

/** {@code wrcor score}: one row per architecture on stdout (and appended to --out). */
final class ScoreCommand {
    private ScoreCommand() {
    }

    static void run(String[] argv, PrintStream out, PrintStream err) {
        Set<String> withValue = new HashSet<>(Scoring.OPTIONS);
        withValue.addAll(Set.of("--arch", "--arch-file", "--sample", "--proxies"));
        Args a = new Args(argv, 1, withValue, Set.of("--quiet"));
        List<Proxy> proxies = a.has("--proxies") ? Proxy.parseList(a.get("--proxies", "")) : List.of(Proxy.values());
        List<String> labels = proxies.stream().map(p -> p.label).toList();
        boolean csv = ResultsFile.formatOf(a.get("--format", null), a.has("--out") ? Path.of(a.get("--out", "")) : null)
                == ResultsFile.Format.CSV;
        try (Scoring scoring = new Scoring(a, proxies, err)) {
            List<String> archs = architectures(a, scoring.folderArch(), a.getLong("--seed", 0));
            if (archs.isEmpty()) throw new UsageException("no architectures: give --arch, --arch-file, --sample or --weights");
            if (csv) out.println(ResultsFile.csvHeader(labels));
            List<String> todo = archs.stream().filter(s -> scoring.cached(s, proxies) == null).toList();
            if (todo.size() < archs.size()) {
                err.printf("wrcor: resuming: %d of %d architectures already in %s%n", archs.size() - todo.size(), archs.size(),
                        a.get("--out", ""));
            }
            Progress progress = new Progress(err, todo.size(), !a.has("--quiet"));
            for (String s : todo) {
                ResultsFile.Row row = scoring.score(s, proxies);
                out.println(csv ? row.toCsv(labels) : row.toJson());
                out.flush();
                progress.step();
            }
        }
    }

    /** The architectures to score, validated up front so a bad one fails before any work is done. */
    private static List<String> architectures(Args a, String folderArch, long seed) {
        List<String> archs = new ArrayList<>();
        for (String s : a.all("--arch")) archs.add(Nb201Arch.parse(s).toString());
        for (String f : a.all("--arch-file")) {
            List<String> lines;
            try {
                lines = Files.readAllLines(Path.of(f));
            } catch (NoSuchFileException e) {
                throw new UsageException("arch file " + f + " does not exist");
            } catch (IOException e) {
                throw new UsageException("cannot read arch file " + f + ": " + e.getMessage());
            }
            for (int i = 0; i < lines.size(); i++) {
                String line = lines.get(i).strip();
                if (line.isEmpty() || line.startsWith("#")) continue;
                try {
                    archs.add(Nb201Arch.parse(line).toString());
                } catch (IllegalArgumentException e) {
                    throw new UsageException(f + ", line " + (i + 1) + ": " + e.getMessage());
                }
            }
        }
        if (a.has("--sample")) {
            int n = a.getInt("--sample", 0, 1, 15_625);
            SplittableRandom rnd = new SplittableRandom(seed);
            for (int i = 0; i < n; i++) archs.add(Nb201Arch.sample(rnd).toString());
        }
        if (archs.isEmpty() && folderArch != null) archs.add(folderArch);
        return archs;
    }
}
