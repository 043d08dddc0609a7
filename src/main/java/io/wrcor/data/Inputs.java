package io.wrcor.data;

import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;

/** The input batch of a scoring run, from where the user keeps images. */
public final class Inputs {
    private Inputs() {
    }

    /**
     * The batch of {@code data}: an ImageFolder (a folder of class folders of JPEG/PNG images,
     * resized and centre-cropped to the network's input size), a CIFAR-10 binary file, or the
     * synthetic default when it is null; a clear {@link IllegalArgumentException} when the data
     * does not fit the network.
     */
    public static Batch batch(Path data, int batch, int classes, int imageSize, long seed, Arena arena) {
        return batch(data, Cifar10.Format.CIFAR10, batch, classes, imageSize, seed, arena);
    }

    /** As above, a binary file read in {@code format}. */
    public static Batch batch(Path data, Cifar10.Format format, int batch, int classes, int imageSize, long seed, Arena arena) {
        if (data == null) return Cifar10.synthetic(batch, classes, imageSize, seed, arena);
        if (Files.isDirectory(data)) return ImageFolder.open(data).batch(batch, seed, imageSize, classes, arena);
        if (classes < format.classes()) {
            throw new IllegalArgumentException("data " + data + " has " + format.classes() + " classes (" + format.label + "); this network has "
                    + classes + " (give --classes " + format.classes() + ")");
        }
        Batch b = Cifar10.read(data, format).batch(batch, seed, arena);
        if (b.input().dim(2) != imageSize) {
            throw new IllegalArgumentException("data file " + data + " holds 32x32 " + format.label + " images; this network takes " + imageSize + "x"
                    + imageSize + " inputs (give an ImageFolder of JPEG/PNG images)");
        }
        return b;
    }

    /** The batch of a {@code --data} value: a known dataset's name ({@link Datasets}), a binary file, an ImageFolder, or null (synthetic). */
    public static Batch batch(String data, int batch, int classes, int imageSize, long seed, Arena arena) {
        if (data == null) return batch((Path) null, batch, classes, imageSize, seed, arena);
        Datasets.Resolved named = Datasets.resolve(data);
        if (named != null) return batch(named.file(), named.format(), batch, classes, imageSize, seed, arena);
        return batch(Path.of(data), batch, classes, imageSize, seed, arena);
    }

    /** The classes of a {@code --data} value's labels when it names a known dataset, else {@code otherwise}. */
    public static int classesOf(String data, int otherwise) {
        Datasets.Dataset d = data == null ? null : Datasets.KNOWN.get(data);
        return d != null && !Files.exists(Path.of(data)) ? d.format().classes() : otherwise;
    }
}
