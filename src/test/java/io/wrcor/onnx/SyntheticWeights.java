package io.wrcor.onnx;

import io.wrcor.onnx.proto.OnnxIr;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

/**
 * The weights of a fixture whose model keeps its float initializers in an external file that is not
 * committed ({@code "synthetic_weights": true} in expected.json): each tensor's values follow from its
 * name and shape alone, as {@code synthetic()} in src/test/python/onnx_fixtures.py computes them
 * (splitmix64 of the name's FNV-1a hash plus 1, 2, ..., top 53 bits as u in [0, 1); uniform(-1, 1) /
 * sqrt(fan_in) for weights of two or more dimensions, 1 + (u - 0.5) / 5 for a BatchNorm's scale or
 * running variance, (u - 0.5) / 5 else; rounded to float32), written where the model says.
 */
final class SyntheticWeights {
    private SyntheticWeights() {
    }

    /** Copies the model into {@code dir} and writes its external data file there; returns the copy's path. */
    static Path materialise(Path model, Path dir) throws IOException {
        Path copy = dir.resolve(model.getFileName());
        Files.copy(model, copy);
        OnnxIr.ModelProto m = OnnxIr.ModelProto.parseFrom(Files.readAllBytes(model));
        record Entry(OnnxIr.TensorProto tensor, String location, int offset) {}
        List<Entry> entries = new ArrayList<>();
        Map<String, Long> sizes = new HashMap<>(); // bytes of each external file
        for (OnnxIr.TensorProto t : m.getGraph().getInitializerList()) {
            if (t.getDataLocation() != OnnxIr.TensorProto.DataLocation.EXTERNAL) continue;
            if (t.getDataType() != OnnxIr.TensorProto.DataType.FLOAT_VALUE) throw new IllegalStateException(t.getName() + " is not float");
            Map<String, String> kv = new HashMap<>();
            for (OnnxIr.StringStringEntryProto e : t.getExternalDataList()) kv.put(e.getKey(), e.getValue());
            Entry e = new Entry(t, kv.get("location"), Integer.parseInt(kv.getOrDefault("offset", "0")));
            entries.add(e);
            sizes.merge(e.location(), e.offset() + Long.parseLong(kv.get("length")), Math::max);
        }
        Map<String, ByteBuffer> files = new HashMap<>();
        for (var e : sizes.entrySet()) files.put(e.getKey(), ByteBuffer.allocate(Math.toIntExact(e.getValue())).order(ByteOrder.LITTLE_ENDIAN));
        for (Entry e : entries) {
            float[] v = values(e.tensor().getName(), e.tensor().getDimsList().stream().mapToLong(Long::longValue).toArray());
            ByteBuffer b = files.get(e.location());
            for (int i = 0; i < v.length; i++) b.putFloat(e.offset() + 4 * i, v[i]);
        }
        for (var e : files.entrySet()) Files.write(dir.resolve(e.getKey()), e.getValue().array());
        return copy;
    }

    /** The tensor's values from its name and shape. */
    static float[] values(String name, long[] dims) {
        long n = 1, fanIn = 1;
        for (long d : dims) n *= d;
        for (int i = 1; i < dims.length; i++) fanIn *= dims[i];
        long seed = fnv(name);
        float[] v = new float[Math.toIntExact(n)];
        for (int i = 0; i < v.length; i++) {
            double u = splitmix(seed, i + 1);
            double x;
            if (dims.length >= 2) x = (2 * u - 1) / Math.sqrt((double) fanIn);
            else if (name.endsWith(".weight") || name.endsWith(".running_var")) x = 1 + (u - 0.5) / 5;
            else x = (u - 0.5) / 5;
            v[i] = (float) x;
        }
        return v;
    }

    /** splitmix64's output for seed + k times its increment, as u in [0, 1) from the top 53 bits. */
    static double splitmix(long seed, long k) {
        long z = seed + k * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 11) * 0x1.0p-53;
    }

    static long fnv(String name) {
        long h = 0xCBF29CE484222325L;
        for (byte c : name.getBytes(StandardCharsets.UTF_8)) h = (h ^ (c & 0xff)) * 0x100000001B3L;
        return h;
    }
}
