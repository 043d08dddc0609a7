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
        if (data == null) return Cifar10.synthetic(batch, classes, imageSize, seed, arena);
        if (Files.isDirectory(data)) return ImageFolder.open(data).batch(batch, seed, imageSize, classes, arena);
        Batch b = Cifar10.read(data).batch(batch, seed, arena);
        if (b.input().dim(2) != imageSize) {
            throw new IllegalArgumentException("data file " + data + " holds 32x32 CIFAR-10 images; this network takes " + imageSize + "x"
                    + imageSize + " inputs (give an ImageFolder of JPEG/PNG images)");
        }
        return b;
    }
}
