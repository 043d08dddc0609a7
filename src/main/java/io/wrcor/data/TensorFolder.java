package io.wrcor.data;

import io.wrcor.results.RunKey;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.util.Files2;
import io.wrcor.util.Json;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.security.MessageDigest;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A folder of raw little-endian C-order tensors described by {@code manifest.json} (the fixture
 * format): PyTorch state_dict names, an optional {@code input} float32 [B,3,H,W] and {@code target}
 * int64 [B]. Float tensors are read as float32; int64 ones are kept as labels. Sizes are checked
 * against the shapes, and contents against the manifest's sha256 where it gives one.
 */
public final class TensorFolder {
    private final Path dir;
    private final Map<String, Object> meta;
    private final Map<String, Tensor> tensors = new LinkedHashMap<>();
    private final Map<String, long[]> int64 = new LinkedHashMap<>();
    private final java.util.List<String> files = new java.util.ArrayList<>(); // the manifest's tensor files, in its order
    private String digest;

    private TensorFolder(Path dir, Map<String, Object> meta) {
        this.dir = dir;
        this.meta = meta;
    }

    @SuppressWarnings("unchecked")
    public static TensorFolder load(Path dir, Arena arena) {
        if (!Files.exists(dir)) throw new IllegalArgumentException("weights folder " + dir + " does not exist");
        if (!Files.isDirectory(dir)) throw new IllegalArgumentException("weights folder " + dir + ": is a file, not a folder");
        Path manifest = dir.resolve("manifest.json");
        if (!Files.exists(manifest)) throw new IllegalArgumentException("weights folder " + dir + " has no manifest.json");
        byte[] manifestBytes = Files2.readBytes("manifest", manifest);
        String text = Files2.decode("manifest", manifest, manifestBytes);
        Map<String, Object> m;
        try {
            m = Json.parseObject(text);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(manifest + ": " + e.getMessage());
        }
        if (!(m.get("tensors") instanceof List<?> list)) throw new IllegalArgumentException(manifest + ": no 'tensors' list");
        TensorFolder f = new TensorFolder(dir, m.get("meta") instanceof Map<?, ?> mm ? (Map<String, Object>) mm : Map.of());
        MessageDigest md = RunKey.sha256();
        md.update(manifestBytes);
        for (Object o : list) {
            if (!(o instanceof Map<?, ?> e)) throw new IllegalArgumentException(manifest + ": malformed tensor entry");
            f.read((Map<String, Object>) e, arena, md);
        }
        f.digest = "sha256:" + RunKey.hex(md.digest());
        return f;
    }

    private void read(Map<String, Object> e, Arena arena, MessageDigest folderDigest) {
        Path manifest = dir.resolve("manifest.json");
        if (!(e.get("name") instanceof String name) || !(e.get("file") instanceof String file) || !(e.get("dtype") instanceof String dtype)
                || !(e.get("shape") instanceof List<?> shapeList)) {
            throw new IllegalArgumentException(manifest + ": a tensor entry lacks name, file or dtype (strings) or shape (a list)");
        }
        String who = "tensor '" + Json.clip(name) + "'";
        int[] shape = new int[shapeList.size()];
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Double v) || v != Math.rint(v) || v < 0 || v > Integer.MAX_VALUE) {
                throw new IllegalArgumentException(manifest + ": " + who + ": shape entry " + i + " is not a non-negative integer");
            }
            shape[i] = v.intValue();
        }
        long numel;
        try {
            numel = Tensor.numel(shape);
        } catch (ArithmeticException overflow) {
            throw new IllegalArgumentException(manifest + ": " + who + ": shape " + shapeList + " is impossibly large");
        }
        // the file is named relative to the folder and stays inside it (no absolute path, no '..')
        Path rel = Path.of(file).normalize();
        if (file.isEmpty() || rel.isAbsolute() || rel.startsWith("..") || file.indexOf('\0') >= 0) {
            throw new IllegalArgumentException(manifest + ": " + who + ": file '" + Json.clip(file) + "' must be a path inside the weights folder");
        }
        int elem = switch (dtype) {
            case "float32" -> 4;
            case "float64", "int64" -> 8;
            default -> throw new IllegalArgumentException("tensor '" + name + "': unsupported dtype " + dtype);
        };
        if (e.containsKey("nbytes") && !(e.get("nbytes") instanceof Double nb && nb == (double) numel * elem)) {
            throw new IllegalArgumentException(manifest + ": " + who + ": nbytes " + Json.clip(String.valueOf(e.get("nbytes"))) + " does not match "
                    + numel * elem + " (" + dtype + " " + shapeList + ")");
        }
        Path p = dir.resolve(file);
        files.add(file);
        Files2.requireRegularFile(who + ": file", p);
        try {
            if (!p.toRealPath().startsWith(dir.toRealPath())) {
                throw new IllegalArgumentException(manifest + ": " + who + ": file '" + Json.clip(file) + "' links outside the weights folder");
            }
        } catch (IOException ex) {
            throw Files2.error(who + ": file", p, ex);
        }
        try (FileChannel ch = FileChannel.open(p, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size != numel * elem) {
                throw new IllegalArgumentException("tensor '" + name + "' (" + p.getFileName() + "): " + size + " bytes, expected "
                        + numel * elem + " for " + dtype + " " + shapeList);
            }
            MemorySegment raw = ch.map(FileChannel.MapMode.READ_ONLY, 0, size, arena);
            folderDigest.update(raw.asByteBuffer());
            if (e.get("sha256") instanceof String want && !want.equalsIgnoreCase(sha256(raw))) {
                throw new IllegalArgumentException("tensor '" + name + "' (" + p.getFileName() + "): content does not match the manifest's sha256");
            }
            switch (dtype) {
                case "int64" -> {
                    long[] v = new long[Math.toIntExact(numel)];
                    for (int i = 0; i < v.length; i++) v[i] = raw.getAtIndex(ValueLayout.JAVA_LONG_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN), i);
                    int64.put(name, v);
                }
                case "float32" -> {
                    Tensor t = Tensor.allocate(arena, DType.F32, shape);
                    MemorySegment.copy(raw, 0, t.data(), 0, size);
                    tensors.put(name, t);
                }
                default -> {
                    Tensor t = Tensor.allocate(arena, DType.F32, shape);
                    for (long i = 0; i < numel; i++) t.setF(i, (float) raw.getAtIndex(ValueLayout.JAVA_DOUBLE_UNALIGNED, i));
                    tensors.put(name, t);
                }
            }
        } catch (NoSuchFileException ex) {
            throw new IllegalArgumentException("tensor '" + name + "': file " + p + " is missing");
        } catch (IOException ex) {
            throw Files2.error("tensor '" + name + "': file", p, ex);
        }
    }

    private static String sha256(MemorySegment bytes) {
        try {
            java.security.MessageDigest md = java.security.MessageDigest.getInstance("SHA-256");
            md.update(bytes.asByteBuffer());
            return java.util.HexFormat.of().formatHex(md.digest());
        } catch (java.security.NoSuchAlgorithmException ex) {
            throw new IllegalStateException(ex);
        }
    }

    /**
     * The folder's files as they are on disk now: {@code manifest.json} first, then every tensor file the
     * manifest lists, by their names in the manifest (what a distributed run ships to its workers;
     * {@link #fromFiles} rebuilds the folder, and its {@link #digest} tells whether the files changed).
     */
    public Map<String, byte[]> rawFiles() {
        Map<String, byte[]> out = new LinkedHashMap<>();
        out.put("manifest.json", Files2.readBytes("manifest", dir.resolve("manifest.json")));
        for (String f : files) out.putIfAbsent(f, Files2.readBytes("tensor file", dir.resolve(f)));
        return out;
    }

    /**
     * A folder rebuilt from {@link #rawFiles} (written to a temporary folder, read and checked as
     * {@link #load} does, then deleted): the same tensors and the same digest as the folder they came from.
     */
    public static TensorFolder fromFiles(Map<String, byte[]> raw, Arena arena) {
        Path tmp;
        try {
            tmp = Files.createTempDirectory("wrcor-weights");
        } catch (IOException e) {
            throw new IllegalStateException("cannot make a temporary folder for the shipped weights: " + Files2.reason(e));
        }
        try {
            for (var e : raw.entrySet()) {
                Path rel = Path.of(e.getKey()).normalize();
                if (e.getKey().isEmpty() || rel.isAbsolute() || rel.startsWith("..")) {
                    throw new IllegalArgumentException("shipped weights: file '" + Json.clip(e.getKey()) + "' is not a path inside the folder");
                }
                Path p = tmp.resolve(rel);
                if (p.getParent() != null) Files.createDirectories(p.getParent());
                Files.write(p, e.getValue());
            }
            return load(tmp, arena);
        } catch (IOException e) {
            throw new IllegalStateException("cannot write the shipped weights to " + tmp + ": " + Files2.reason(e));
        } finally {
            try (var walk = Files.walk(tmp)) {
                walk.sorted(java.util.Comparator.reverseOrder()).forEach(q -> q.toFile().delete());
            } catch (IOException ignored) {
                // a temporary folder left behind
            }
        }
    }

    /** sha256 of the manifest and every tensor file it lists (what a results file keys stored scores on). */
    public String digest() {
        return digest;
    }

    public Map<String, Object> meta() {
        return meta;
    }

    /** Float tensors by name (parameters and the input batch). */
    public Map<String, Tensor> tensors() {
        return tensors;
    }

    /** The folder's batch, when it has both {@code input} and {@code target}. */
    public Batch batch() {
        Tensor in = tensors.get("input");
        long[] target = int64.get("target");
        if (in == null || target == null) return null;
        return Batch.of(in, target);
    }
}
