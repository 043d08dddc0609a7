package io.wrcor.data;

import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import java.awt.Graphics2D;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.IOException;
import java.io.UncheckedIOException;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.stream.Stream;
import javax.imageio.ImageIO;

/**
 * Images in the ImageFolder layout (torchvision's): one sub-folder per class, JPEG or PNG files in
 * it; labels are the classes' indices in sorted folder-name order. A batch is drawn by seed (as
 * for CIFAR-10); each chosen image is resized bilinearly so that its shorter side is the network's
 * input size, centre-cropped to a square of that size, and normalised with the ImageNet mean and
 * standard deviation.
 */
public final class ImageFolder {
    static final float[] MEAN = {0.485f, 0.456f, 0.406f};
    static final float[] STD = {0.229f, 0.224f, 0.225f};

    private record Image(Path file, int label) {}

    private final Path root;
    private final List<String> classes;
    private final List<Image> images;

    private ImageFolder(Path root, List<String> classes, List<Image> images) {
        this.root = root;
        this.classes = classes;
        this.images = images;
    }

    static boolean isImage(Path p) {
        String n = p.getFileName().toString().toLowerCase(Locale.ROOT);
        return n.endsWith(".jpg") || n.endsWith(".jpeg") || n.endsWith(".png");
    }

    /** The class folders and image files under {@code root}; a clear message when it is not an ImageFolder. */
    public static ImageFolder open(Path root) {
        if (!Files.isDirectory(root)) throw new IllegalArgumentException("data folder " + root + " is not a folder");
        List<Path> dirs;
        try (Stream<Path> s = Files.list(root)) {
            dirs = s.filter(Files::isDirectory).sorted().toList();
        } catch (IOException e) {
            throw new IllegalArgumentException("data folder " + root + ": cannot list it (" + e.getMessage() + ")");
        }
        if (dirs.isEmpty()) {
            throw new IllegalArgumentException("data folder " + root + " has no class folders (expected the ImageFolder layout: one folder per class"
                    + " with JPEG or PNG images)");
        }
        List<String> classes = new ArrayList<>();
        List<Image> images = new ArrayList<>();
        for (Path d : dirs) {
            int label = classes.size();
            classes.add(d.getFileName().toString());
            try (Stream<Path> s = Files.list(d)) {
                for (Path f : s.filter(Files::isRegularFile).filter(ImageFolder::isImage).sorted().toList()) images.add(new Image(f, label));
            } catch (IOException e) {
                throw new IllegalArgumentException("data folder " + d + ": cannot list it (" + e.getMessage() + ")");
            }
        }
        if (images.isEmpty()) throw new IllegalArgumentException("data folder " + root + ": no .jpg, .jpeg or .png files in its class folders");
        return new ImageFolder(root, List.copyOf(classes), List.copyOf(images));
    }

    public int size() {
        return images.size();
    }

    public List<String> classes() {
        return classes;
    }

    /** {@code batch} distinct images chosen by {@code seed}, at {@code imageSize} x {@code imageSize}, for a network of {@code networkClasses}. */
    public Batch batch(int batch, long seed, int imageSize, int networkClasses, Arena arena) {
        if (batch < 1) throw new IllegalArgumentException("batch size must be positive, got " + batch);
        if (batch > size()) throw new IllegalArgumentException("batch of " + batch + " is larger than the " + size() + " images in " + root);
        if (classes.size() > networkClasses) {
            throw new IllegalArgumentException("data folder " + root + " has " + classes.size() + " classes, the network only " + networkClasses
                    + " (--classes)");
        }
        int[] idx = Batch.draw(size(), batch, seed);
        Tensor x = Tensor.allocate(arena, DType.F32, batch, 3, imageSize, imageSize);
        int[] labels = new int[batch];
        long plane = (long) imageSize * imageSize;
        for (int n = 0; n < batch; n++) {
            Image im = images.get(idx[n]);
            labels[n] = im.label();
            int[] rgb = centreCrop(decode(im.file()), imageSize);
            for (int p = 0; p < rgb.length; p++) {
                for (int c = 0; c < 3; c++) {
                    float v = ((rgb[p] >> (16 - 8 * c)) & 0xff) / 255f;
                    x.setF((n * 3L + c) * plane + p, (v - MEAN[c]) / STD[c]);
                }
            }
        }
        return new Batch(x, labels);
    }

    /** The largest image file read: 64 MB. */
    static final long MAX_IMAGE_BYTES = 64L << 20;

    private static BufferedImage decode(Path file) {
        byte[] bytes = io.wrcor.util.Files2.readBytes("image", file, MAX_IMAGE_BYTES);
        try {
            BufferedImage im = ImageIO.read(new java.io.ByteArrayInputStream(bytes));
            if (im == null) throw new IllegalArgumentException("image " + file + " cannot be read: not a JPEG or PNG image");
            return im;
        } catch (IOException | RuntimeException e) {
            if (e instanceof IllegalArgumentException iae && iae.getMessage() != null && iae.getMessage().startsWith("image ")) throw iae;
            // the decoders' own messages name Java internals ("Invalid scanline stride"): say what it means
            throw new IllegalArgumentException("image " + file + " cannot be read: corrupt or unsupported image data");
        }
    }

    /** The image resized (bilinear) so that its shorter side is {@code size}, its centre {@code size} x {@code size} square, as RGB ints. */
    static int[] centreCrop(BufferedImage im, int size) {
        int w = im.getWidth(), h = im.getHeight();
        double scale = (double) size / Math.min(w, h);
        int sw = Math.max(size, (int) Math.round(w * scale)), sh = Math.max(size, (int) Math.round(h * scale));
        BufferedImage out = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
        Graphics2D g = out.createGraphics();
        try {
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(im, -(sw - size) / 2, -(sh - size) / 2, sw, sh, null);
        } finally {
            g.dispose();
        }
        return out.getRGB(0, 0, size, size, null, 0, size);
    }
}
