package io.wrcor.eval;

import io.wrcor.space.nb201.Nb201Arch;
import io.wrcor.space.nb201.Nb201Op;
import io.wrcor.util.Files2;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * NAS-Bench-201 ground truth: test accuracy per architecture on CIFAR-10, CIFAR-100 and
 * ImageNet16-120, one CSV row per architecture in benchmark-index order (the NATS-Bench export's
 * columns {@code CIFAR10TestAccuracy200Epochs, CIFAR100TestAccuracy200Epochs,
 * ImageNetTestAccuracy200Epochs, ArchitectureString}).
 */
public final class GroundTruth {
    public enum Dataset {
        CIFAR10("cifar10", "CIFAR10TestAccuracy200Epochs"),
        CIFAR100("cifar100", "CIFAR100TestAccuracy200Epochs"),
        IMAGENET16_120("ImageNet16-120", "ImageNetTestAccuracy200Epochs");

        public final String label, column;

        Dataset(String label, String column) {
            this.label = label;
            this.column = column;
        }
    }

    private final Path file;
    private final List<String> archs;
    private final Map<String, Integer> index = new HashMap<>();
    private final double[][] accuracy; // [dataset][arch index]

    private GroundTruth(Path file, List<String> archs, double[][] accuracy) {
        this.file = file;
        this.archs = archs;
        this.accuracy = accuracy;
        for (int i = 0; i < archs.size(); i++) index.putIfAbsent(archs.get(i), i);
    }

    public static GroundTruth load(Path file) {
        List<String> lines = Files2.readLines("ground-truth file", file);
        if (lines.isEmpty()) throw new IllegalArgumentException("ground-truth file " + file + " is empty");
        List<String> header = Arrays.asList(lines.getFirst().strip().split(","));
        int archCol = header.indexOf("ArchitectureString");
        int[] accCol = new int[Dataset.values().length];
        for (Dataset d : Dataset.values()) accCol[d.ordinal()] = header.indexOf(d.column);
        if (archCol < 0 || Arrays.stream(accCol).anyMatch(c -> c < 0)) {
            throw new IllegalArgumentException("ground-truth file " + file + ": header must name ArchitectureString and "
                    + String.join(", ", Arrays.stream(Dataset.values()).map(d -> d.column).toList()) + ", got: " + lines.getFirst());
        }
        List<String> archs = new ArrayList<>();
        List<double[]> acc = new ArrayList<>();
        for (int i = 1; i < lines.size(); i++) {
            String line = lines.get(i).strip();
            if (line.isEmpty()) continue;
            String[] f = line.split(",", -1);
            String where = "ground-truth file " + file + ", line " + (i + 1);
            if (f.length < header.size()) throw new IllegalArgumentException(where + ": " + f.length + " fields, header has " + header.size());
            try {
                archs.add(Nb201Arch.parse(f[archCol]).toString());
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(where + ": " + e.getMessage());
            }
            double[] a = new double[accCol.length];
            for (int d = 0; d < accCol.length; d++) {
                try {
                    a[d] = Double.parseDouble(f[accCol[d]]);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(where + ": accuracy '" + f[accCol[d]] + "' is not a number");
                }
            }
            acc.add(a);
        }
        if (archs.isEmpty()) throw new IllegalArgumentException("ground-truth file " + file + " has no rows");
        double[][] accuracy = new double[accCol.length][archs.size()];
        for (int i = 0; i < archs.size(); i++)
            for (int d = 0; d < accCol.length; d++) accuracy[d][i] = acc.get(i)[d];
        return new GroundTruth(file, List.copyOf(archs), accuracy);
    }

    /** Every one of the 15,625 NAS-Bench-201 architectures must be in the table. */
    public GroundTruth requireComplete() {
        int ops = Nb201Op.values().length, all = (int) Math.pow(ops, Nb201Arch.EDGES);
        if (index.size() == all) return this;
        Nb201Op[] values = Nb201Op.values();
        for (int code = 0; code < all; code++) {
            Nb201Op[] arch = new Nb201Op[Nb201Arch.EDGES];
            for (int j = 0, c = code; j < arch.length; j++, c /= ops) arch[j] = values[c % ops];
            String s = new Nb201Arch(arch).toString();
            if (!index.containsKey(s)) {
                throw new IllegalArgumentException("ground-truth file " + file + " lacks " + (all - index.size()) + " of the " + all
                        + " NAS-Bench-201 architectures (for example " + s + ")");
            }
        }
        return this;
    }

    public int size() {
        return archs.size();
    }

    public String arch(int index) {
        return archs.get(index);
    }

    /** Benchmark index of an architecture; a clear error when the table lacks it. */
    public int indexOf(String arch) {
        Integer i = index.get(Nb201Arch.parse(arch).toString());
        if (i == null) throw new IllegalArgumentException("architecture " + arch + " is not in the ground-truth file " + file);
        return i;
    }

    public boolean contains(String arch) {
        return index.containsKey(arch);
    }

    public double accuracy(Dataset d, int index) {
        return accuracy[d.ordinal()][index];
    }

    /** 1 + the number of architectures with a strictly higher test accuracy on d. */
    public int rank(Dataset d, int index) {
        double a = accuracy[d.ordinal()][index];
        int better = 0;
        for (double v : accuracy[d.ordinal()]) if (v > a) better++;
        return better + 1;
    }
}
