package io.wrcor.onnx;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.wrcor.backend.Backends;
import io.wrcor.data.Batch;
import io.wrcor.proxy.Proxy;
import io.wrcor.proxy.Scorer;
import io.wrcor.onnx.proto.OnnxIr;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.tensor.TensorPool;
import java.lang.foreign.Arena;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The reader on damaged models: the parity fixtures with one node changed at random (an attribute's
 * numbers, an attribute dropped, the op renamed, an input dropped or swapped, a constant's numbers or
 * dims changed). Each either reads and scores, or is refused by a {@link OnnxModel.BadModel} or
 * IllegalArgumentException, which the command prints as one line with exit 2; never another
 * exception (a stack trace) or a hang.
 */
class OnnxFuzzTest {
    static final List<String> CASES = List.of("small-mixed", "tiny-resnet", "small-grouped", "small-dilated", "small-hard");
    static final List<String> OPS = List.of("Conv", "Relu", "Add", "Mul", "Concat", "Split", "Slice", "MaxPool", "AveragePool", "Reshape", "Transpose",
            "Resize", "Pad", "Gather", "Flatten", "Gemm", "MatMul", "BatchNormalization", "GlobalAveragePool", "Shape", "Unsqueeze", "Cast");

    @TempDir
    Path tmp;

    @Test
    void damagedModelsAreScoredOrRefusedInOneLine() throws Exception {
        Random rnd = new Random(Long.getLong("wrcor.fuzz.seed", 20261207)); // -Dwrcor.fuzz.seed / .trials: other and longer runs
        int trials = Integer.getInteger("wrcor.fuzz.trials", 400);
        int read = 0, refused = 0;
        List<String> failures = new ArrayList<>();
        try (TensorPool pool = new TensorPool()) {
            Scorer scorer = new Scorer(Backends.open("reference", 1, n -> { }), pool);
            for (int trial = 0; trial < trials; trial++) {
                String name = CASES.get(rnd.nextInt(CASES.size()));
                OnnxIr.ModelProto m = OnnxIr.ModelProto.parseFrom(Files.readAllBytes(OnnxFixtureTest.ROOT.resolve(name).resolve("model.onnx")));
                OnnxIr.ModelProto.Builder b = m.toBuilder();
                String what = damage(b.getGraphBuilder(), rnd);
                Path file = tmp.resolve("m" + trial + ".onnx");
                Files.write(file, b.build().toByteArray());
                try (Arena arena = Arena.ofShared()) {
                    OnnxModel model = OnnxModel.load(file, arena);
                    int[] in = model.inputShape();
                    Tensor x = Tensor.allocate(arena, DType.F32, 4, in[0], in[1], in[2]);
                    for (long i = 0; i < x.numel(); i++) x.setF(i, (float) rnd.nextGaussian());
                    model.score(scorer, new Batch(x, new int[]{0, 1, 0, 1}), List.of(Proxy.WRCOR, Proxy.SYNFLOW, Proxy.MECO));
                    read++;
                } catch (IllegalArgumentException e) { // BadModel among them: one line, exit 2
                    refused++;
                    if (String.valueOf(e.getMessage()).contains("\n")) failures.add(name + " " + what + ": a message of several lines: " + e.getMessage());
                } catch (RuntimeException | Error e) {
                    failures.add(name + " " + what + ": " + e);
                }
            }
        }
        System.out.println("damaged models: " + read + " read and scored, " + refused + " refused in one line");
        assertTrue(failures.isEmpty(), failures.size() + " damaged models escaped the one-line refusal:\n" + String.join("\n", failures));
        assertTrue(read > 20 && refused > 20, "the damage should leave some models readable and make others unreadable: " + read + " / " + refused);
    }

    /** One random change to a random node (or a constant it reads); says what it did. */
    static String damage(OnnxIr.GraphProto.Builder g, Random rnd) {
        int k = rnd.nextInt(g.getNodeCount());
        OnnxIr.NodeProto.Builder n = g.getNode(k).toBuilder();
        String what = n.getOpType() + " node " + k + ": ";
        switch (rnd.nextInt(6)) {
            case 0 -> { // an attribute's numbers
                if (n.getAttributeCount() == 0) return what + "nothing";
                int a = rnd.nextInt(n.getAttributeCount());
                OnnxIr.AttributeProto.Builder at = n.getAttribute(a).toBuilder();
                if (at.getIntsCount() > 0) at.setInts(rnd.nextInt(at.getIntsCount()), rnd.nextInt(12) - 3);
                else at.setI(rnd.nextInt(12) - 3);
                n.setAttribute(a, at);
                what += "attribute " + at.getName() + " changed";
            }
            case 1 -> {
                if (n.getAttributeCount() == 0) return what + "nothing";
                int a = rnd.nextInt(n.getAttributeCount());
                what += "attribute " + n.getAttribute(a).getName() + " dropped";
                n.removeAttribute(a);
            }
            case 2 -> {
                String op = OPS.get(rnd.nextInt(OPS.size()));
                n.setOpType(op);
                what += "op renamed " + op;
            }
            case 3 -> {
                if (n.getInputCount() == 0) return what + "nothing";
                int i = rnd.nextInt(n.getInputCount());
                List<String> ins = new ArrayList<>(n.getInputList());
                if (rnd.nextBoolean()) ins.remove(i);
                else ins.set(i, g.getNode(rnd.nextInt(k + 1)).getOutput(0));
                n.clearInput().addAllInput(ins);
                what += "inputs now " + ins;
            }
            case 4 -> { // a constant node's numbers
                for (int j = 0; j < g.getNodeCount(); j++) {
                    OnnxIr.NodeProto c = g.getNode((k + j) % g.getNodeCount());
                    if (!c.getOpType().equals("Constant") || c.getAttributeCount() == 0) continue;
                    OnnxIr.TensorProto.Builder t = c.getAttribute(0).getT().toBuilder();
                    if (t.getDimsCount() > 0 && rnd.nextBoolean()) t.setDims(0, rnd.nextInt(6) - 1);
                    else if (t.hasRawData() && t.getRawData().size() >= 8) {
                        byte[] raw = t.getRawData().toByteArray();
                        raw[rnd.nextInt(raw.length)] = (byte) rnd.nextInt(256);
                        t.setRawData(com.google.protobuf.ByteString.copyFrom(raw));
                    }
                    g.setNode((k + j) % g.getNodeCount(), c.toBuilder().setAttribute(0, c.getAttribute(0).toBuilder().setT(t)));
                    return what + "constant " + c.getOutput(0) + " changed";
                }
                return what + "no constant";
            }
            default -> { // an initializer's dims
                if (g.getInitializerCount() == 0) return what + "nothing";
                int i = rnd.nextInt(g.getInitializerCount());
                OnnxIr.TensorProto.Builder t = g.getInitializer(i).toBuilder();
                if (t.getDimsCount() == 0) return what + "nothing";
                t.setDims(rnd.nextInt(t.getDimsCount()), rnd.nextInt(5));
                g.setInitializer(i, t);
                return what + "initializer " + t.getName() + " reshaped";
            }
        }
        g.setNode(k, n);
        return what;
    }
}
