package io.wrcor.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.Fixtures;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import javax.imageio.ImageIO;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** An ImageFolder made from real CIFAR-10 images, written as PNG and JPEG. */
public class ImageFolderTest {
    @TempDir
    Path tmp;

    /** CIFAR-10 image i of the shared training file as an RGB image. */
    static BufferedImage cifar(byte[] bytes, int i) {
        BufferedImage im = new BufferedImage(32, 32, BufferedImage.TYPE_INT_RGB);
        int base = i * Cifar10.Format.CIFAR10.record() + 1;
        for (int p = 0; p < 1024; p++) {
            int r = bytes[base + p] & 0xff, g = bytes[base + 1024 + p] & 0xff, b = bytes[base + 2048 + p] & 0xff;
            im.setRGB(p % 32, p / 32, (r << 16) | (g << 8) | b);
        }
        return im;
    }

    /** Classes 'bird' (2 PNG), 'cat' (2 JPEG), 'plain' (one uniform 40x20 PNG); returns the folder. */
    public static Path makeFolder(Path root) throws IOException {
        byte[] bytes = Files.readAllBytes(Fixtures.shared().resolve("data/cifar10-train-0.bin"));
        for (String c : List.of("plain", "cat", "bird")) Files.createDirectories(root.resolve(c)); // made out of order: labels follow names
        for (int i = 0; i < 2; i++) {
            ImageIO.write(cifar(bytes, i), "png", root.resolve("bird/im" + i + ".png").toFile());
            ImageIO.write(cifar(bytes, 10 + i), "jpg", root.resolve("cat/im" + i + ".JPG").toFile());
        }
        BufferedImage plain = new BufferedImage(40, 20, BufferedImage.TYPE_INT_RGB);
        for (int y = 0; y < 20; y++) for (int x = 0; x < 40; x++) plain.setRGB(x, y, (200 << 16) | (100 << 8) | 50);
        ImageIO.write(plain, "png", root.resolve("plain/flat.png").toFile());
        Files.writeString(root.resolve("bird/notes.txt"), "not an image: ignored");
        return root;
    }

    @Test
    void labelsFollowSortedClassFoldersAndPixelsAreNormalisedWithImageNetStatistics() throws IOException {
        ImageFolder f = ImageFolder.open(makeFolder(tmp.resolve("imgs")));
        assertEquals(List.of("bird", "cat", "plain"), f.classes());
        assertEquals(5, f.size());
        try (Arena arena = Arena.ofConfined()) {
            Batch b = f.batch(5, 3, 24, 10, arena);
            assertEquals(List.of(24, 24), List.of(b.input().dim(2), b.input().dim(3)));
            int[] count = new int[3];
            for (int label : b.labels()) count[label]++;
            assertEquals(List.of(2, 2, 1), List.of(count[0], count[1], count[2]), "every image once");
            int n = java.util.stream.IntStream.range(0, 5).filter(i -> b.labels()[i] == 2).findFirst().orElseThrow();
            int[] rgb = {200, 100, 50};
            for (int c = 0; c < 3; c++) {
                float want = (rgb[c] / 255f - ImageFolder.MEAN[c]) / ImageFolder.STD[c];
                for (int p = 0; p < 24 * 24; p++) {
                    assertEquals(want, b.input().getF((n * 3L + c) * 576 + p), 1e-5, "the uniform image, channel " + c + ", pixel " + p);
                }
            }
            Batch again = f.batch(5, 3, 24, 10, arena), other = f.batch(2, 4, 24, 10, arena);
            assertEquals(java.util.Arrays.toString(b.labels()), java.util.Arrays.toString(again.labels()), "the same seed draws the same batch");
            assertEquals(2, other.size());
        }
    }

    @Test
    void aCifarImageKeepsItsContentThroughResizeAndCrop() throws IOException {
        byte[] bytes = Files.readAllBytes(Fixtures.shared().resolve("data/cifar10-train-0.bin"));
        int[] same = ImageFolder.centreCrop(cifar(bytes, 5), 32);
        for (int p = 0; p < 1024; p++) assertEquals(cifar(bytes, 5).getRGB(p % 32, p / 32) & 0xffffff, same[p] & 0xffffff, "pixel " + p + " at its own size");
    }

    @Test
    void badFoldersAndCorruptImagesAreNamed() throws IOException {
        Path root = makeFolder(tmp.resolve("bad"));
        Files.write(root.resolve("cat/broken.jpg"), new byte[]{(byte) 0xff, (byte) 0xd8, 1, 2, 3, 4});
        ImageFolder f = ImageFolder.open(root);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> {
            try (Arena arena = Arena.ofConfined()) {
                f.batch(6, 0, 24, 10, arena);
            }
        });
        assertTrue(e.getMessage().contains("broken.jpg"), e.getMessage());
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(tmp.resolve("missing"))).getMessage().contains("is not a folder"));
        Files.createDirectories(tmp.resolve("flat"));
        assertTrue(assertThrows(IllegalArgumentException.class, () -> ImageFolder.open(tmp.resolve("flat"))).getMessage().contains("no class folders"));
        try (Arena arena = Arena.ofConfined()) {
            assertTrue(assertThrows(IllegalArgumentException.class, () -> f.batch(3, 0, 24, 2, arena)).getMessage().contains("has 3 classes"));
            assertTrue(assertThrows(IllegalArgumentException.class, () -> f.batch(7, 0, 24, 10, arena)).getMessage().contains("larger than the 6"));
        }
    }
}
