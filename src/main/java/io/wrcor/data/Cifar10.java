package io.wrcor.data;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.util.Files2;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.SplittableRandom;

/**
 * CIFAR-10 binary format: records of 3073 bytes (label, then 1024 R, 1024 G, 1024 B bytes, each a
 * 32x32 row-major plane). Images are normalised as NAS-Bench-201 and the WRCor reference do:
 * (pixel/255 - mean) / std per channel, in float32.
 */
public final class Cifar10 {
    public static final int RECORD = 3073, SIZE = 32, PLANE = SIZE * SIZE;
    static final float[] MEAN = {125.3f / 255, 123.0f / 255, 113.9f / 255};
    static final float[] STD = {63.0f / 255, 62.1f / 255, 66.7f / 255};

    private final Path file;
    private final byte[] bytes;

    private Cifar10(Path file, byte[] bytes) {
        this.file = file;
        this.bytes = bytes;
    }

    public static Cifar10 read(Path file) {
        byte[] b = Files2.readBytes("data file", file);
        if (b.length == 0 || b.length % RECORD != 0) {
            throw new IllegalArgumentException("data file " + file + ": " + b.length + " bytes is not a positive multiple of "
                    + RECORD + " (CIFAR-10 binary records)");
        }
        for (int i = 0; i < b.length; i += RECORD) {
            if ((b[i] & 0xff) > 9) {
                throw new IllegalArgumentException("data file " + file + ": record " + i / RECORD + " has label " + (b[i] & 0xff)
                        + ", CIFAR-10 labels are 0-9");
            }
        }
        return new Cifar10(file, b);
    }

    public int size() {
        return bytes.length / RECORD;
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
            int base = idx[n] * RECORD;
            labels[n] = bytes[base] & 0xff;
            for (int c = 0; c < 3; c++)
                for (int p = 0; p < PLANE; p++) {
                    float v = (bytes[base + 1 + c * PLANE + p] & 0xff) / 255f;
                    x.setF(((long) n * 3 + c) * PLANE + p, (v - MEAN[c]) / STD[c]);
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
