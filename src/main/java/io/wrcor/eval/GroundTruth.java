package io.wrcor.eval;

import io.wrcor.space.Arch;
import io.wrcor.space.SearchSpace;
import io.wrcor.util.Files2;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * A benchmark's ground truth: accuracy per architecture on each of its datasets, one CSV row per
 * architecture, in the layout its space declares ({@link SearchSpace.GroundTruthFormat}).
 * NAS-Bench-201's table (the NATS-Bench export: {@code CIFAR10TestAccuracy200Epochs,
 * CIFAR100TestAccuracy200Epochs, ImageNetTestAccuracy200Epochs, ArchitectureString}) is in
 * benchmark-index order.
 */
public final class GroundTruth {
    private final Path file;
    private final List<String> labels;
    private final int complete;
    private final List<String> archs;
    private final Map<String, Integer> index = new HashMap<>();
    private final double[][] accuracy; // [dataset][arch index]

    private final SearchSpace space;

    private GroundTruth(Path file, SearchSpace space, List<String> labels, int complete, List<String> archs, List<String> keys,
                        double[][] accuracy) {
        this.file = file;
        this.space = space;
        this.labels = labels;
        this.complete = complete;
        this.archs = archs;
        this.accuracy = accuracy;
        for (int i = 0; i < keys.size(); i++) index.putIfAbsent(keys.get(i), i);
    }

    public static GroundTruth load(Path file, SearchSpace space) {
        SearchSpace.GroundTruthFormat fmt = space.groundTruth();
        List<String> lines = Files2.readLines("ground-truth file", file);
        if (lines.isEmpty()) throw new IllegalArgumentException("ground-truth file " + file + " is empty");
        List<String> header = Arrays.asList(lines.getFirst().strip().split(","));
        int[] archCol = fmt.archColumns().stream().mapToInt(header::indexOf).toArray();
        int[] accCol = fmt.accuracyColumns().stream().mapToInt(header::indexOf).toArray();
        int[] rowCol = fmt.rowColumns().stream().mapToInt(header::indexOf).toArray();
        if (Arrays.stream(archCol).anyMatch(c -> c < 0) || Arrays.stream(accCol).anyMatch(c -> c < 0) || Arrays.stream(rowCol).anyMatch(c -> c < 0)) {
            List<String> want = new ArrayList<>(fmt.archColumns());
            want.addAll(fmt.accuracyColumns());
            for (String c : fmt.rowColumns()) if (!want.contains(c)) want.add(c);
            throw new IllegalArgumentException("ground-truth file " + file + ": a " + space.name() + " table's header must name "
                    + String.join(", ", want) + ", got: " + lines.getFirst());
        }
        List<String> archs = new ArrayList<>(), keys = new ArrayList<>();
        List<double[]> acc = new ArrayList<>();
        Map<String, int[]> firstOfRow = new HashMap<>(); // line and index of each row's first appearance, by its identifying columns
        int duplicates = 0;
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String[] f = line.split(",", -1);
            String where = "ground-truth file " + file + ", line " + (i + 1);
            if (f.length < header.size()) throw new IllegalArgumentException(where + ": " + f.length + " fields, header has " + header.size());
            Arch a;
            try {
                List<String> values = Arrays.stream(archCol).mapToObj(c -> f[c]).toList();
                a = space.parse(fmt.arch().arch(values));
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage());
            }
            double[] v = new double[accCol.length];
            for (int d = 0; d < accCol.length; d++) v[d] = accuracy(f[accCol[d]].strip(), where + ", " + header.get(accCol[d]));
            String key = space.key(a);
            String row = String.join(",", Arrays.stream(rowCol).mapToObj(c -> f[c]).toList());
            int[] first = firstOfRow.putIfAbsent(row, new int[]{i + 1, archs.size()});
            if (first != null) {
                double[] earlier = acc.get(first[1]);
                if (!Arrays.equals(earlier, v)) {
                    throw new IllegalArgumentException(where + ": architecture " + a + " is listed again (first on line " + first[0] + ") with other"
                            + " accuracies (" + Arrays.toString(v) + " against " + Arrays.toString(earlier) + "); keep one row per architecture");
                }
                duplicates++;
                continue; // the same row again: counted once
            }
            archs.add(a.toString());
            keys.add(key);
            acc.add(v);
        }
        if (duplicates > 0) {
            System.err.println("wrcor: ground-truth file " + file + ": " + duplicates + " rows repeat an earlier row exactly; each counts once");
        }
        if (archs.isEmpty()) throw new IllegalArgumentException("ground-truth file " + file + " has no rows");
        double[][] accuracy = new double[accCol.length][archs.size()];
        for (int i = 0; i < archs.size(); i++)
            for (int d = 0; d < accCol.length; d++) accuracy[d][i] = acc.get(i)[d];
        return new GroundTruth(file, space, fmt.labels(), fmt.complete(), List.copyOf(archs), keys, accuracy);
    }

    /** An accuracy in percent: a plain decimal number from 0 to 100; anything else is an error naming the line and column. */
    static double accuracy(String text, String where) {
        Double v = io.wrcor.util.Numbers.plainDecimal(text);
        if (v == null) {
            throw new IllegalArgumentException(where + ": accuracy '" + io.wrcor.util.Json.clip(text) + "' is not a number (plain decimals such as 93.76)");
        }
        if (!(v >= 0 && v <= 100)) throw new IllegalArgumentException(where + ": accuracy " + text + " is not a percentage from 0 to 100");
        return v;
    }

    /** Where the space's table must list every architecture (NAS-Bench-201's 15,625), it does. */
    public GroundTruth requireComplete() {
        if (complete > 0 && index.size() < complete) {
            throw new IllegalArgumentException("ground-truth file " + file + " lacks " + (complete - index.size()) + " of the " + complete
                    + " architectures of the space");
        }
        return this;
    }

    /** The datasets' labels, in column order. */
    public List<String> datasets() {
        return labels;
    }

    public int size() {
        return archs.size();
    }

    public String arch(int index) {
        return archs.get(index);
    }

    /** Row index of an architecture (or of one the space counts as the same); a clear error when the table lacks it. */
    public int indexOf(String arch) {
        int i = find(arch);
        if (i < 0) throw new IllegalArgumentException("architecture " + arch + " is not in the ground-truth file " + file);
        return i;
    }

    /** Row index of an architecture, or -1 when the table lacks it. */
    public int find(String arch) {
        return index.getOrDefault(key(arch), -1);
    }

    public boolean contains(String arch) {
        return find(arch) >= 0;
    }

    private String key(String arch) {
        try {
            return space.key(space.parse(arch));
        } catch (IllegalArgumentException e) {
            return "\u0000not an architecture of " + space.name();
        }
    }

    public double accuracy(int dataset, int index) {
        return accuracy[dataset][index];
    }

    /**
     * The JSON fields {@code "accuracy": {dataset: percent, ...}, "rank": {dataset: rank, ...}} of a
     * row: accuracies rounded to 0.01 as they are printed (the tables hold means such as
     * 93.66000000000001), ranks among the table's rows (1 is best).
     */
    public String accuracyAndRankJson(int row) {
        StringBuilder acc = new StringBuilder("\"accuracy\": {"), rank = new StringBuilder("\"rank\": {");
        for (int d = 0; d < labels.size(); d++) {
            String sep = d == 0 ? "" : ", ";
            acc.append(sep).append(io.wrcor.util.Json.quote(labels.get(d))).append(": ")
                    .append(java.math.BigDecimal.valueOf(accuracy(d, row)).setScale(2, java.math.RoundingMode.HALF_EVEN).stripTrailingZeros().toPlainString());
            rank.append(sep).append(io.wrcor.util.Json.quote(labels.get(d))).append(": ").append(rank(d, row));
        }
        return acc.append('}') + ", " + rank.append('}');
    }

    /** 1 + the number of architectures with a strictly higher accuracy on the dataset. */
    public int rank(int dataset, int index) {
        double a = accuracy[dataset][index];
        int better = 0;
        for (double v : accuracy[dataset]) if (v > a) better++;
        return better + 1;
    }

    /** k distinct indices of [0, n) drawn by a seeded partial shuffle (the rows {@code correlate} scores). */
    public static int[] pick(int n, int k, long seed) {
        if (k < 0 || k > n) throw new IllegalArgumentException("cannot pick " + k + " of " + n + " rows");
        int[] idx = new int[n];
        for (int i = 0; i < n; i++) idx[i] = i;
        java.util.SplittableRandom rnd = new java.util.SplittableRandom(seed);
        for (int i = 0; i < k; i++) {
            int j = i + rnd.nextInt(n - i);
            int t = idx[i];
            idx[i] = idx[j];
            idx[j] = t;
        }
        return java.util.Arrays.copyOf(idx, k);
    }
}
