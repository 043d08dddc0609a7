package io.wrcor.data;

import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintStream;
import java.net.URI;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.zip.GZIPInputStream;

/**
 * Public datasets by name ({@code --data cifar10}): the official binary archives, downloaded once
 * ({@code wrcor data get NAME}), checked against their published MD5, and unpacked into a folder of
 * this machine's cache: {@code -Dwrcor.datasets}, else {@code $WRCOR_DATASETS}, else the cache
 * folder's {@code datasets/}. A name means its training set, one binary file ({@code train.bin}).
 */
public final class Datasets {
    /** A dataset: where its archive is, its MD5, the archive's members to keep (as train.bin and test.bin), its record format. */
    public record Dataset(String name, String url, String md5, List<String> train, String test, Cifar10.Format format) {}

    public static final Map<String, Dataset> KNOWN = new LinkedHashMap<>();

    static {
        List<String> batches = new ArrayList<>();
        for (int i = 1; i <= 5; i++) batches.add("cifar-10-batches-bin/data_batch_" + i + ".bin");
        KNOWN.put("cifar10", new Dataset("cifar10", "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz", "c32a1d4ab5d03f1284b67883e8d87530",
                batches, "cifar-10-batches-bin/test_batch.bin", Cifar10.Format.CIFAR10));
        KNOWN.put("cifar100", new Dataset("cifar100", "https://www.cs.toronto.edu/~kriz/cifar-100-binary.tar.gz", "03b5dce01913d631647c71ecec9e9cb8",
                List.of("cifar-100-binary/train.bin"), "cifar-100-binary/test.bin", Cifar10.Format.CIFAR100));
    }

    private Datasets() {
    }

    /** The folder holding every dataset's folder. */
    public static Path root() {
        return io.wrcor.util.CacheDir.configured("wrcor.datasets", "WRCOR_DATASETS", () -> io.wrcor.util.CacheDir.root().resolve("datasets"));
    }

    /** The training file of a downloaded dataset. */
    public static Path trainFile(Dataset d) {
        return root().resolve(d.name()).resolve("train.bin");
    }

    public static Path testFile(Dataset d) {
        return root().resolve(d.name()).resolve("test.bin");
    }

    /** Whether it is downloaded and unpacked. */
    public static boolean present(Dataset d) {
        return Files.isRegularFile(trainFile(d)) && Files.isRegularFile(testFile(d));
    }

    /**
     * What {@code --data VALUE} names: a known dataset's training file and format when VALUE is its
     * name and no file or folder of that name is in the working directory; null for a path.
     */
    public static Resolved resolve(String value) {
        Dataset d = KNOWN.get(value);
        if (d == null || Files.exists(Path.of(value))) return null;
        if (!present(d)) {
            throw new IllegalArgumentException("dataset " + d.name() + " is not downloaded here (looked in " + root().resolve(d.name())
                    + "); run: bin/wrcor data get " + d.name());
        }
        return new Resolved(trainFile(d), d.format());
    }

    public record Resolved(Path file, Cifar10.Format format) {}

    /**
     * Downloads (or resumes) the archive from {@code url} (null: the official one), checks it
     * against {@code md5} (null: the published one), and unpacks the training and test files.
     */
    public static Path get(Dataset d, String url, String md5, PrintStream err) {
        Path dir = root().resolve(d.name());
        String address = url != null ? url : d.url();
        URI uri;
        try {
            uri = URI.create(address);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("--url " + io.wrcor.util.Json.clip(address) + " is not an address");
        }
        Path archive = dir.resolve(address.substring(address.lastIndexOf('/') + 1).replaceAll("[^A-Za-z0-9._-]", "_"));
        if (archive.getFileName().toString().isEmpty() || archive.getFileName().toString().startsWith(".")) archive = dir.resolve("archive.tar.gz");
        err.println("wrcor: downloading " + address + " to " + dir);
        Download.fetch(uri, md5 != null ? md5 : d.md5(), archive, err);
        err.println("wrcor: MD5 checked; unpacking " + archive.getFileName());
        unpack(archive, d, dir);
        try {
            Files.delete(archive); // the unpacked files are what is used; the archive is 160 MB more
        } catch (IOException ignored) {
            // kept: a later get checks it and unpacks again
        }
        return trainFile(d);
    }

    /** Writes the dataset's members of the .tar.gz archive into train.bin (its training members, in order) and test.bin. */
    static void unpack(Path archive, Dataset d, Path dir) {
        Map<String, byte[]> wanted = new LinkedHashMap<>();
        for (String m : d.train()) wanted.put(m, null);
        wanted.put(d.test(), null);
        try (InputStream in = new GZIPInputStream(new BufferedInputStream(Files.newInputStream(archive)))) {
            byte[] header = new byte[512];
            while (in.readNBytes(header, 0, 512) == 512) {
                boolean empty = true;
                for (byte b : header) empty &= b == 0;
                if (empty) break; // the end-of-archive block
                String name = field(header, 0, 100), prefix = field(header, 345, 155);
                if (!prefix.isEmpty() && "ustar".equals(field(header, 257, 5))) name = prefix + "/" + name;
                long size = Long.parseLong(field(header, 124, 12).isEmpty() ? "0" : field(header, 124, 12), 8);
                char type = (char) header[156];
                long padded = (size + 511) / 512 * 512;
                if ((type == '0' || type == 0) && wanted.containsKey(name) && wanted.get(name) == null) {
                    if (size > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("member " + name + " is impossibly large");
                    byte[] data = in.readNBytes((int) size);
                    if (data.length != size) throw new IllegalArgumentException("the archive ends inside " + name);
                    wanted.put(name, data);
                    in.skipNBytes(padded - size);
                } else {
                    in.skipNBytes(padded);
                }
            }
        } catch (IOException | NumberFormatException e) {
            throw new IllegalStateException("archive " + archive + " cannot be unpacked: "
                    + (e instanceof IOException ioe ? io.wrcor.util.Files2.reason(ioe) : "a damaged header"));
        }
        List<String> missing = wanted.entrySet().stream().filter(e -> e.getValue() == null).map(Map.Entry::getKey).toList();
        if (!missing.isEmpty()) throw new IllegalStateException("archive " + archive + " lacks " + String.join(", ", missing));
        try {
            Path trainTmp = dir.resolve("train.bin.tmp"), testTmp = dir.resolve("test.bin.tmp");
            try (OutputStream out = Files.newOutputStream(trainTmp)) {
                for (String m : d.train()) out.write(wanted.get(m));
            }
            Files.write(testTmp, wanted.get(d.test()));
            // each file is checked as the engine reads it before it takes its name
            Cifar10.read(trainTmp, d.format());
            Cifar10.read(testTmp, d.format());
            Files.move(testTmp, testFile(d), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            Files.move(trainTmp, trainFile(d), StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write " + dir + ": " + io.wrcor.util.Files2.reason(e));
        }
    }

    private static String field(byte[] h, int at, int len) {
        int end = at;
        while (end < at + len && h[end] != 0) end++;
        return new String(h, at, end - at, StandardCharsets.US_ASCII).strip();
    }
}
