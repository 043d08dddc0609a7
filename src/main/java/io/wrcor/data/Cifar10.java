package io.wrcor.data;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.util.Files2;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * The CIFAR binary formats: CIFAR-10's records of 3073 bytes (the label, then 1024 R, 1024 G, 1024
 * B bytes, each a 32x32 row-major plane) and CIFAR-100's of 3074 (coarse label, fine label, the
 * planes; the fine label is the class). Images are normalised as NAS-Bench-201 and the WRCor
 * reference do: (pixel/255 - mean) / std per channel with the dataset's mean and std, in float32.
 */
public final class Cifar10 {
    public static final int SIZE = 32, PLANE = SIZE * SIZE;
    static final float[] MEAN = {125.3f / 255, 123.0f / 255, 113.9f / 255};
    static final float[] STD = {63.0f / 255, 62.1f / 255, 66.7f / 255};

    /** A binary layout: bytes before the planes, which of them is the class, the classes, the normalisation. */
    public enum Format {
        CIFAR10("CIFAR-10", 1, 0, 10, MEAN, STD),
        CIFAR100("CIFAR-100", 2, 1, 100, new float[]{129.3f / 255, 124.1f / 255, 112.4f / 255}, new float[]{68.2f / 255, 65.4f / 255, 70.4f / 255});

        public final String label;
        final int header, labelAt, classes;
        final float[] mean, std;

        Format(String label, int header, int labelAt, int classes, float[] mean, float[] std) {
            this.label = label;
            this.header = header;
            this.labelAt = labelAt;
            this.classes = classes;
            this.mean = mean;
            this.std = std;
        }

        public int record() {
            return header + 3 * PLANE;
        }

        public int classes() {
            return classes;
        }
    }

    private final Path file;
    private final byte[] bytes;
    private final Format format;

    private Cifar10(Path file, byte[] bytes, Format format) {
        this.file = file;
        this.bytes = bytes;
        this.format = format;
    }

    /** A CIFAR-10 binary file. */
    public static Cifar10 read(Path file) {
        return read(file, Format.CIFAR10);
    }

    public static Cifar10 read(Path file, Format format) {
        byte[] b = Files2.readBytes("data file", file);
        int record = format.record();
        if (b.length == 0 || b.length % record != 0) {
            throw new IllegalArgumentException("data file " + file + ": " + b.length + " bytes is not a positive multiple of "
                    + record + " (" + format.label + " binary records)");
        }
        for (int i = 0; i < b.length; i += record) {
            if ((b[i + format.labelAt] & 0xff) >= format.classes) {
                throw new IllegalArgumentException("data file " + file + ": record " + i / record + " has label " + (b[i + format.labelAt] & 0xff)
                        + ", " + format.label + " labels are 0-" + (format.classes - 1));
            }
        }
        return new Cifar10(file, b, format);
    }

    public int size() {
        return bytes.length / format.record();
    }

    /** {@code batch} distinct images chosen by {@code seed} (a seeded partial shuffle), as they are (no augmentation). */
    public Batch batch(int batch, long seed, Arena arena) {
        if (batch < 1) throw new IllegalArgumentException("batch size must be positive, got " + batch);
        if (batch > size()) {
            throw new IllegalArgumentException("batch of " + batch + " is larger than the " + size() + " images in " + file);
        }
        int[] idx = Batch.draw(size(), batch, seed);
        Tensor x = Tensor.allocate(arena, DType.F32, batch, 3, SIZE, SIZE);
        int[] labels = new int[batch];
        for (int n = 0; n < batch; n++) {
            int base = idx[n] * format.record();
            labels[n] = bytes[base + format.labelAt] & 0xff;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < PLANE; p++) {
                    float v = (bytes[base + format.header + c * PLANE + p] & 0xff) / 255f;
                    x.setF(((long) n * 3 + c) * PLANE + p, (v - format.mean[c]) / format.std[c]);
                }
        }
        return new Batch(x, labels);
    }

    /** The embedded default: N(0,1) inputs and uniform labels, drawn from {@code seed}. */
    public static Batch synthetic(int batch, int classes, int imageSize, long seed, Arena arena) {
        if (batch < 1) throw new IllegalArgumentException("batch size must be positive, got " + batch);
        SplittableRandom rnd = new SplittableRandom(seed ^ 0x5DEECE66DL);
        Tensor x = Tensor.allocate(arena, DType.F32, batch, 3, imageSize, imageSize);
        for (long i = 0; i < x.numel(); i++) x.setF(i, (float) rnd.nextGaussian());
        int[] labels = new int[batch];
        for (int n = 0; n < batch; n++) labels[n] = rnd.nextInt(classes);
        return new Batch(x, labels);
    }
}
