package io.wrcor.onnx;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.google.protobuf.ByteString;
import io.wrcor.cli.Main;
import io.wrcor.onnx.proto.OnnxIr;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.function.UnaryOperator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * score --onnx from the command line: a row keyed by the model's content, a rerun that reuses it; and
 * every bad model the issue names (cut short, not ONNX, an unknown op, missing external data, no
 * image input, unresolved shapes, too large for memory) one line and exit 2, nothing written.
 */
class OnnxBadInputTest {
    @TempDir
    Path tmp;

    record Run(int code, String out, String err) {
    }

    static Run run(String... args) {
        ByteArrayOutputStream out = new ByteArrayOutputStream(), err = new ByteArrayOutputStream();
        try (PrintStream o = new PrintStream(out, true, StandardCharsets.UTF_8); PrintStream e = new PrintStream(err, true, StandardCharsets.UTF_8)) {
            int code = Main.run(args, o, e);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString(StandardCharsets.UTF_8));
        }
    }

    static void assertOneLine(Run r, String contains) {
        assertEquals(2, r.code(), r.err());
        String err = r.err().strip();
        assertTrue(err.startsWith("wrcor: error: "), err);
        assertFalse(err.contains("\n"), "one line: " + err);
        assertFalse(err.contains("Exception") || err.contains("\tat "), "no stack trace: " + err);
        assertTrue(err.contains(contains), err);
    }

    /** A float initializer with raw little-endian values. */
    static OnnxIr.TensorProto floats(String name, float[] v, long... dims) {
        ByteBuffer b = ByteBuffer.allocate(4 * v.length).order(ByteOrder.LITTLE_ENDIAN);
        for (float x : v) b.putFloat(x);
        return OnnxIr.TensorProto.newBuilder().setName(name).setDataType(OnnxIr.TensorProto.DataType.FLOAT_VALUE)
                .addAllDims(Arrays.stream(dims).boxed().toList()).setRawData(ByteString.copyFrom(b.array())).build();
    }

    static OnnxIr.ValueInfoProto image(String name, Object... dims) {
        OnnxIr.TensorShapeProto.Builder s = OnnxIr.TensorShapeProto.newBuilder();
        for (Object d : dims) {
            if (d instanceof Integer i) s.addDim(OnnxIr.TensorShapeProto.Dimension.newBuilder().setDimValue(i));
            else s.addDim(OnnxIr.TensorShapeProto.Dimension.newBuilder().setDimParam((String) d));
        }
        return OnnxIr.ValueInfoProto.newBuilder().setName(name).setType(OnnxIr.TypeProto.newBuilder().setTensorType(
                OnnxIr.TypeProto.Tensor.newBuilder().setElemType(OnnxIr.TensorProto.DataType.FLOAT_VALUE).setShape(s))).build();
    }

    /** An attribute of whole numbers. */
    static OnnxIr.AttributeProto ints(String name, long... v) {
        return OnnxIr.AttributeProto.newBuilder().setName(name).setType(OnnxIr.AttributeProto.AttributeType.INTS)
                .addAllInts(Arrays.stream(v).boxed().toList()).build();
    }

    /** The small valid model with one more attribute on its Conv. */
    Path withConvAttribute(String file, OnnxIr.AttributeProto a) throws Exception {
        return model(file, b -> {
            b.getGraphBuilder().setNode(0, b.getGraph().getNode(0).toBuilder().addAttribute(a));
            return b;
        });
    }

    static OnnxIr.NodeProto node(String op, String name, List<String> in, String out) {
        return OnnxIr.NodeProto.newBuilder().setOpType(op).setName(name).addAllInput(in).addOutput(out).build();
    }

    /** A small valid model: conv 3->4 (3x3, pad 1), relu, global pool, flatten, gemm to 5 classes; {@code edit} changes it. */
    Path model(String file, UnaryOperator<OnnxIr.ModelProto.Builder> edit) throws Exception {
        float[] w = new float[4 * 3 * 9], fc = new float[5 * 4], bias = new float[5];
        for (int i = 0; i < w.length; i++) w[i] = (float) Math.sin(i);
        for (int i = 0; i < fc.length; i++) fc[i] = (float) Math.cos(i);
        OnnxIr.NodeProto conv = node("Conv", "conv", List.of("x", "w"), "c").toBuilder()
                .addAttribute(ints("pads", 1, 1, 1, 1))
                .build();
        OnnxIr.NodeProto gemm = node("Gemm", "fc", List.of("f", "fcw", "fcb"), "y").toBuilder()
                .addAttribute(OnnxIr.AttributeProto.newBuilder().setName("transB").setType(OnnxIr.AttributeProto.AttributeType.INT).setI(1)).build();
        OnnxIr.GraphProto g = OnnxIr.GraphProto.newBuilder().setName("g")
                .addInitializer(floats("w", w, 4, 3, 3, 3)).addInitializer(floats("fcw", fc, 5, 4)).addInitializer(floats("fcb", bias, 5))
                .addInput(image("x", "batch", 3, 16, 16))
                .addNode(conv).addNode(node("Relu", "relu", List.of("c"), "r")).addNode(node("GlobalAveragePool", "gap", List.of("r"), "p"))
                .addNode(node("Flatten", "flat", List.of("p"), "f")).addNode(gemm)
                .addOutput(OnnxIr.ValueInfoProto.newBuilder().setName("y")).build();
        OnnxIr.ModelProto.Builder m = OnnxIr.ModelProto.newBuilder().setIrVersion(8).setProducerName("wrcor-test").setGraph(g)
                .addOpsetImport(OnnxIr.OperatorSetIdProto.newBuilder().setDomain("").setVersion(13));
        Path p = tmp.resolve(file);
        Files.write(p, edit.apply(m).build().toByteArray());
        return p;
    }

    @Test
    void aValidModelScoresAndARerunReusesItsRow() throws Exception {
        Path m = model("ok.onnx", b -> b);
        Path out = tmp.resolve("scores.jsonl");
        Run r = run("score", "--onnx", m.toString(), "--batch", "6", "--proxies", "wrcor,naswot,synflow,params,flops", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.out().contains("\"arch\": \"ok.onnx\""), r.out());
        assertTrue(r.out().contains("\"params\": 133.0"), "conv 108 + fc 20 + bias 5: " + r.out());
        assertTrue(r.out().contains("\"flops\": 27668.0"), "108 x 256 + 20: " + r.out());
        assertTrue(r.out().contains("onnx=sha256:"), r.out());
        assertEquals(1, Files.readAllLines(out).size());
        Run again = run("score", "--onnx", m.toString(), "--batch", "6", "--proxies", "wrcor,naswot,synflow,params,flops", "--out", out.toString());
        assertEquals(0, again.code(), again.err());
        assertTrue(again.err().contains("already in"), again.err());
        assertEquals(1, Files.readAllLines(out).size(), "nothing appended");
        // another batch: another run key, a second row
        Run other = run("score", "--onnx", m.toString(), "--batch", "4", "--proxies", "wrcor,naswot,synflow,params,flops", "--out", out.toString());
        assertEquals(0, other.code(), other.err());
        assertEquals(2, Files.readAllLines(out).size());
    }

    @Test
    void badModelsAreOneLineAndExit2() throws Exception {
        Path good = model("good.onnx", b -> b);
        byte[] all = Files.readAllBytes(good);
        Path cut = tmp.resolve("cut.onnx");
        Files.write(cut, Arrays.copyOf(all, all.length / 2));
        assertOneLine(run("score", "--onnx", cut.toString()), "is not an ONNX file (or is cut short)");
        Path text = tmp.resolve("notes.onnx");
        Files.writeString(text, "this is not a model\n");
        assertOneLine(run("score", "--onnx", text.toString()), "is not an ONNX file");
        assertOneLine(run("score", "--onnx", tmp.resolve("missing.onnx").toString()), "missing.onnx");
        assertOneLine(run("score", "--onnx", model("softmax.onnx", b -> {
            b.getGraphBuilder().setNode(1, node("Softmax", "sm", List.of("c"), "r"));
            return b;
        }).toString()), "op Softmax (node 'sm', opset 13) is not supported");
        assertOneLine(run("score", "--onnx", model("old.onnx", b -> b.setOpsetImport(0, OnnxIr.OperatorSetIdProto.newBuilder().setVersion(9))).toString()),
                "uses opset 9; this reader knows opsets 11 to 20");
        assertOneLine(run("score", "--onnx", model("noimage.onnx", b -> {
            b.getGraphBuilder().clearInput().addInput(image("x", "batch", 48));
            return b;
        }).toString()), "has 2 dimensions; an image input has 4");
        assertOneLine(run("score", "--onnx", model("twoinputs.onnx", b -> {
            b.getGraphBuilder().addInput(image("z", 1, 3, 16, 16));
            return b;
        }).toString()), "expected one image input");
        assertOneLine(run("score", "--onnx", model("dynamic.onnx", b -> {
            b.getGraphBuilder().clearInput().addInput(image("x", "batch", 3, "height", "width"));
            return b;
        }).toString()), "dimension 2 is not a fixed size (height); only the batch may be dynamic");
        assertOneLine(run("score", "--onnx", model("external.onnx", b -> {
            OnnxIr.TensorProto w = b.getGraph().getInitializer(0).toBuilder().clearRawData()
                    .setDataLocation(OnnxIr.TensorProto.DataLocation.EXTERNAL)
                    .addExternalData(OnnxIr.StringStringEntryProto.newBuilder().setKey("location").setValue("weights.bin")).build();
            b.getGraphBuilder().setInitializer(0, w);
            return b;
        }).toString()), "external data file weights.bin is missing");
        assertOneLine(run("score", "--onnx", withConvAttribute("strides.onnx", ints("strides", 1, 2)).toString()),
                "strides [1, 2] are not supported (one stride for both axes)");
        OnnxIr.AttributeProto twoGroups = OnnxIr.AttributeProto.newBuilder().setName("group").setType(OnnxIr.AttributeProto.AttributeType.INT).setI(2).build();
        assertOneLine(run("score", "--onnx", withConvAttribute("grouped.onnx", twoGroups).toString()), "channels in 2 groups with weight");
        assertOneLine(run("score", "--onnx", withConvAttribute("kernel.onnx", ints("kernel_shape", 5, 5)).toString()), "kernel_shape [5, 5] does not match weight [4, 3, 3, 3]");
        assertOneLine(run("score", "--onnx", model("transpose.onnx", b -> { // a transpose that is no channel shuffle, between the relu and the pool
            OnnxIr.NodeProto t = node("Transpose", "t", List.of("r"), "rt").toBuilder().addAttribute(ints("perm", 0, 1, 3, 2)).build();
            b.getGraphBuilder().addNode(2, t).setNode(3, node("GlobalAveragePool", "gap", List.of("rt"), "p"));
            return b;
        }).toString()), "only the transpose of a channel shuffle");
        assertOneLine(run("score", "--onnx", model("cubic.onnx", b -> { // a cubic upsampling between the relu and the pool
            OnnxIr.TensorProto sizes = OnnxIr.TensorProto.newBuilder().setName("sizes").setDataType(OnnxIr.TensorProto.DataType.INT64_VALUE)
                    .addDims(4).addAllInt64Data(List.of(1L, 4L, 32L, 32L)).build();
            OnnxIr.NodeProto rs = OnnxIr.NodeProto.newBuilder().setOpType("Resize").setName("up").addAllInput(List.of("r", "", "", "sizes")).addOutput("ru")
                    .addAttribute(OnnxIr.AttributeProto.newBuilder().setName("mode").setType(OnnxIr.AttributeProto.AttributeType.STRING)
                            .setS(ByteString.copyFromUtf8("cubic"))).build();
            b.getGraphBuilder().addInitializer(sizes).addNode(2, rs).setNode(3, node("GlobalAveragePool", "gap", List.of("ru"), "p"));
            return b;
        }).toString()), "mode cubic is not supported (nearest and linear are)");
        assertOneLine(run("score", "--onnx", model("fixed.onnx", b -> {
            b.getGraphBuilder().clearInput().addInput(image("x", 8, 3, 16, 16));
            return b;
        }).toString(), "--batch", "16"), "fixes its batch at 8, --batch is 16");
        assertOneLine(run("score", "--onnx", model("huge.onnx", b -> {
            b.getGraphBuilder().clearInput().addInput(image("x", "batch", 3, 16384, 16384));
            return b;
        }).toString(), "--batch", "64", "--proxies", "wrcor"), "this machine allows");
        assertOneLine(run("score", "--onnx", good.toString(), "--proxies", "az_expressivity"), "not defined on an ONNX model");
    }

    /**
     * correlate --onnx-dir: four models whose conv weights differ by scale; accuracies made to follow
     * their synflow give synflow a Spearman rho of +1; a model without a row is left out with a note;
     * a table that lists a model twice with other accuracies is refused in one line.
     */
    @Test
    void correlateOverAFolderOfModels() throws Exception {
        Path dir = Files.createDirectories(tmp.resolve("bench"));
        double[] synflow = new double[4];
        for (int k = 0; k < 4; k++) {
            final float f = 0.5f + k;
            Path m = model("bench/m" + k + ".onnx", b -> {
                OnnxIr.TensorProto w = b.getGraph().getInitializer(0);
                ByteBuffer raw = w.getRawData().asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                float[] v = new float[raw.remaining() / 4];
                for (int i = 0; i < v.length; i++) v[i] = raw.getFloat() * f * (i % 3 == 0 ? -1 : 1);
                b.getGraphBuilder().setInitializer(0, floats("w", v, 4, 3, 3, 3));
                return b;
            });
            Run r = run("score", "--onnx", m.toString(), "--batch", "6", "--proxies", "synflow");
            assertEquals(0, r.code(), r.err());
            String line = r.out().strip();
            synflow[k] = Double.parseDouble(line.substring(line.indexOf("\"synflow\": ") + 11, line.indexOf('}')));
        }
        model("bench/extra.onnx", b -> b);
        StringBuilder table = new StringBuilder("model,cifar10\n");
        for (int k = 0; k < 4; k++) {
            int rank = 0;
            for (double s : synflow) if (s < synflow[k]) rank++;
            table.append("m").append(k).append(".onnx,").append(60 + 5 * rank).append(".5\n");
        }
        table.append("missing,50.0\n");
        Path gt = tmp.resolve("acc.csv");
        Files.writeString(gt, table);
        Path out = tmp.resolve("bench.jsonl");
        Run r = run("correlate", "--onnx-dir", dir.toString(), "--gt", gt.toString(), "--batch", "6", "--proxies", "synflow,naswot,params",
                "--votes", "synflow,naswot", "--out", out.toString(), "--quiet");
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("1 of the 5 models in"), r.err());
        assertTrue(r.err().contains("1 rows of the table name no model"), r.err());
        String synRow = r.out().lines().filter(l -> l.startsWith("synflow ")).findFirst().orElseThrow();
        assertTrue(synRow.contains("+1.000     +1.000"), r.out());
        assertTrue(r.out().lines().anyMatch(l -> l.startsWith("vote(synflow,naswot) copeland")), r.out());
        assertEquals(4, Files.readAllLines(out).size(), "each model's row stored");
        Run again = run("correlate", "--onnx-dir", dir.toString(), "--gt", gt.toString(), "--batch", "6", "--proxies", "synflow,naswot,params",
                "--votes", "synflow,naswot", "--out", out.toString(), "--quiet");
        assertEquals(r.out(), again.out());
        assertEquals(4, Files.readAllLines(out).size(), "a rerun scores nothing again");
        Files.writeString(gt, table + "m0,12.0\n");
        assertOneLine(run("correlate", "--onnx-dir", dir.toString(), "--gt", gt.toString()), "is listed twice with other accuracies");
        assertOneLine(run("correlate", "--onnx-dir", dir.toString()), "needs --gt TABLE");
    }
}
