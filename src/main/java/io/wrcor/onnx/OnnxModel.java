package io.wrcor.onnx;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.wrcor.graph.Graph;
import io.wrcor.graph.Op;
import io.wrcor.graph.Response;
import io.wrcor.graph.Weights;
import io.wrcor.onnx.proto.OnnxIr;
import io.wrcor.results.RunKey;
import io.wrcor.tensor.DType;
import io.wrcor.tensor.Tensor;
import io.wrcor.util.Files2;
import io.wrcor.util.Json;
import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;

/**
 * A network read from an ONNX model file, as the engine's graph: the weights from the model's
 * initializers, the input shape from its one image input (a dynamic batch dimension takes the
 * batch the caller chooses), the classes from its output. See docs/ONNX.md for what each ONNX op
 * becomes and which proxies read what.
 *
 * <p>Semantics, whatever the exporter wrote: BatchNormalization runs in training mode (batch
 * statistics), as the proxies' PyTorch code runs {@code net.train()}; the response sites are the
 * Relu nodes, the Clip nodes from 0 (ReLU6) and the LeakyRelu nodes, in the graph's order: site i reads the Relu's output y and the gradient dL/dy * 1[y > 0],
 * with weight 2^i (so {@code wrcor} and {@code wrcor_relu_only} coincide on an ONNX graph); naswot
 * reads the same outputs; meco reads every node's output with more than one channel; swap reads the
 * Relu nodes' inputs. synflow runs the same graph with every BatchNormalization removed.
 */
public final class OnnxModel {
    /** The opsets of the default domain this reader knows the ops of. */
    public static final int MIN_OPSET = 11, MAX_OPSET = 20;

    /** The name of a biased Conv's product before its bias node (not an output of the ONNX graph). */
    private static final String CONV_PART = "#conv";

    /** A Shape node's batch entry: the batch is chosen at scoring time, so no arithmetic may use it. */
    static final long BATCH = Long.MIN_VALUE + 7;

    /** The ops this reader turns into the engine's graph. */
    public static final List<String> OPS = List.of("Conv", "BatchNormalization", "Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Add", "Mul", "Concat",
            "Split", "Slice", "MaxPool", "AveragePool", "GlobalAveragePool", "ReduceMean", "Flatten", "Reshape", "Transpose (channel shuffle)", "Gemm", "MatMul",
            "Identity", "Dropout", "Constant", "Resize (nearest, bilinear)", "Pad (zeros on height and width, before a Conv or an AveragePool)",
            "Shape, Gather, Unsqueeze, Squeeze, Cast, Add, Sub, Mul, Div, Concat (on constants: shape arithmetic)");

    private final Path file;
    private final String digest;
    private final int opset;
    private final int[] input; // C, H, W
    private final Integer batch; // the model's fixed batch, or null: dynamic
    private final int classes;
    private final Graph graph, synflowGraph;
    private final Map<String, Tensor> params;
    private final long parameterCount;

    private OnnxModel(Path file, String digest, int opset, int[] input, Integer batch, int classes, Graph graph, Graph synflowGraph,
                      Map<String, Tensor> params, long parameterCount) {
        this.file = file;
        this.digest = digest;
        this.opset = opset;
        this.input = input;
        this.batch = batch;
        this.classes = classes;
        this.graph = graph;
        this.synflowGraph = synflowGraph;
        this.params = params;
        this.parameterCount = parameterCount;
    }

    /** A bad model: one line naming the file and what is wrong. */
    public static final class BadModel extends IllegalArgumentException {
        BadModel(String message) {
            super(message);
        }
    }

    public Path file() {
        return file;
    }

    /** sha256 of the model file's bytes (and of external data files, in the order the model names them). */
    public String digest() {
        return digest;
    }

    public int opset() {
        return opset;
    }

    /** The image input's channels, height and width. */
    public int[] inputShape() {
        return input.clone();
    }

    /** The batch the model's input fixes, or null when its batch dimension is dynamic. */
    public Integer fixedBatch() {
        return batch;
    }

    public int classes() {
        return classes;
    }

    /** The network with its BatchNormalization nodes (training mode). */
    public Graph graph() {
        return graph;
    }

    /** The network without BatchNormalization (synflow's). */
    public Graph synflowGraph() {
        return synflowGraph;
    }

    public Weights weights() {
        return new Weights(params);
    }

    /** The model's trainable parameters as PyTorch counts them: every float initializer the graph's ops read as weights or biases. */
    public long parameterCount() {
        return parameterCount;
    }

    /**
     * The batch this model is scored at: {@code given} (--batch), else the batch its input fixes, else
     * 64; refused in one line when the input is not a 3-channel square image (what wrcor draws), when
     * a fixed batch differs from the one given, or when it is below the 2 the correlations need.
     */
    public int batchFor(Integer given) {
        String name = file.getFileName() == null ? file.toString() : file.getFileName().toString();
        if (input[0] != 3 || input[1] != input[2]) {
            throw new BadModel("ONNX model " + name + " takes " + input[0] + " x " + input[1] + " x " + input[2]
                    + " inputs; wrcor draws batches of 3-channel square images");
        }
        int b = given != null ? given : batch != null ? batch : 64;
        if (batch != null && b != batch) {
            throw new BadModel("ONNX model " + name + " fixes its batch at " + batch + ", --batch is " + b
                    + " (export it with a dynamic batch axis, or drop --batch)");
        }
        if (b < 2) throw new BadModel("ONNX model " + name + " fixes its batch at " + b + "; the correlation proxies need 2 or more");
        return b;
    }

    /**
     * The proxies of this model on {@code b}, by {@code scorer}: the graph with BN and synflow's without,
     * the model's weights; {@code params} is the model's own count (PyTorch's), not the graph's
     * (a Gemm without bias reads a zero bias that is no parameter).
     */
    public io.wrcor.proxy.Scorer.Result score(io.wrcor.proxy.Scorer scorer, io.wrcor.data.Batch b, List<io.wrcor.proxy.Proxy> proxies) {
        io.wrcor.proxy.Scorer.Result r = scorer.score(graph, synflowGraph, weights(), b, proxies);
        if (!r.scores().containsKey(io.wrcor.proxy.Proxy.PARAMS)) return r;
        Map<io.wrcor.proxy.Proxy, Double> scores = new LinkedHashMap<>(r.scores());
        scores.put(io.wrcor.proxy.Proxy.PARAMS, (double) parameterCount);
        return new io.wrcor.proxy.Scorer.Result(scores, r.kernels(), r.used(), r.skipped());
    }

    /** The results store's key: the model's content, the batch's, and the precision. */
    public String runKey(io.wrcor.data.Batch b) {
        return "onnx=" + digest + " input=" + RunKey.input(b) + " precision=" + RunKey.PRECISION;
    }

    /** A clear refusal of the proxies an ONNX graph does not define: AZ-NAS's, which read a space's stage outputs. */
    public static void requireDefined(List<io.wrcor.proxy.Proxy> proxies) {
        for (io.wrcor.proxy.Proxy p : proxies) {
            if (p == io.wrcor.proxy.Proxy.AZ_EXPRESSIVITY || p == io.wrcor.proxy.Proxy.AZ_PROGRESSIVITY || p == io.wrcor.proxy.Proxy.AZ_TRAINABILITY) {
                throw new IllegalArgumentException(p.label + " is not defined on an ONNX model: AZ-NAS reads the outputs of a space's stages, which"
                        + " an ONNX graph does not declare");
            }
        }
    }

    /** Reads a model file; tensors live in {@code arena}. */
    public static OnnxModel load(Path file, Arena arena) {
        String name = file.getFileName() == null ? file.toString() : file.getFileName().toString();
        Files2.requireRegularFile("ONNX model", file);
        byte[] bytes = Files2.readBytes("ONNX model", file);
        OnnxIr.ModelProto model;
        try {
            model = OnnxIr.ModelProto.parseFrom(bytes);
        } catch (InvalidProtocolBufferException e) {
            throw new BadModel("ONNX model " + name + " is not an ONNX file (or is cut short): " + Json.clip(String.valueOf(e.getMessage())));
        }
        if (!model.hasGraph() || model.getIrVersion() < 3 || model.getGraph().getNodeCount() == 0) {
            throw new BadModel("ONNX model " + name + " is not an ONNX file (or is cut short): no graph of nodes with an IR version >= 3 in it");
        }
        int opset = -1;
        for (OnnxIr.OperatorSetIdProto o : model.getOpsetImportList()) {
            if (o.getDomain().isEmpty() || o.getDomain().equals("ai.onnx")) opset = (int) o.getVersion();
        }
        if (opset < 0) throw new BadModel("ONNX model " + name + " imports no opset of the default domain");
        if (opset < MIN_OPSET || opset > MAX_OPSET) {
            throw new BadModel("ONNX model " + name + " uses opset " + opset + "; this reader knows opsets " + MIN_OPSET + " to " + MAX_OPSET
                    + " (re-export with opset_version=13, say)");
        }
        if (model.getFunctionsCount() > 0) throw new BadModel("ONNX model " + name + " defines local functions, which this reader does not expand");
        java.security.MessageDigest md = RunKey.sha256();
        md.update(bytes);
        Builder b = new Builder(name, file.toAbsolutePath().getParent(), opset, arena, md);
        b.read(model.getGraph());
        String digest = "sha256:" + RunKey.hex(md.digest());
        return new OnnxModel(file, digest, opset, b.inputShape, b.fixedBatch, b.classes, b.build(true), b.build(false), b.params, b.parameterCount);
    }

    /** A value of the ONNX graph: an engine node (with its per-sample shape) or a constant tensor. */
    private record Value(int node, int[] shape, ConstTensor constant) {
        boolean isConstant() {
            return constant != null;
        }
    }

    /** A constant's values (floats, or whole numbers for shapes and axes) and its dims. */
    private record ConstTensor(long[] dims, float[] floats, long[] ints) {
        long numel() {
            long n = 1;
            for (long d : dims) n *= d;
            return n;
        }
    }

    /** One ONNX node turned into an engine op (null: an alias of its input), remembered so that the graph can be built with and without BN. */
    private record Step(Op op, int[] shape, String[] inputs, String output) {
    }

    private static final class Builder {
        private final String model;
        private final Path dir;
        private final int opset;
        private final Arena arena;
        private final java.security.MessageDigest digest;
        private final Map<String, ConstTensor> constants = new HashMap<>();
        private final Map<String, int[]> shapes = new HashMap<>(); // per-sample shapes of the non-constant values
        private final Map<String, String> alias = new HashMap<>();  // Identity, Dropout, Flatten, Reshape: the same values
        private final Map<String, int[]> padded = new HashMap<>();  // a Pad's output -> {pad}, its input in alias
        private final Map<String, String> unusable = new HashMap<>(); // outputs nothing may read (a training-mode Dropout's mask), and why
        private final Map<String, String> viewOnly = new HashMap<>(); // 5-D views of a map (a channel shuffle's steps): the one op that may read each
        private final Map<String, Integer> groupedView = new HashMap<>(); // a map reshaped to [batch, g, C / g, H, W] -> g
        private final List<Step> steps = new ArrayList<>();
        private final Map<String, Tensor> params = new LinkedHashMap<>();
        private final Set<String> usedNames = new HashSet<>();
        private long parameterCount;
        private String inputName, outputName;
        int[] inputShape;
        Integer fixedBatch;
        int classes;

        Builder(String model, Path dir, int opset, Arena arena, java.security.MessageDigest digest) {
            this.model = model;
            this.dir = dir;
            this.opset = opset;
            this.arena = arena;
            this.digest = digest;
        }

        private BadModel bad(String what) {
            return new BadModel("ONNX model " + model + ": " + what);
        }

        private BadModel bad(OnnxIr.NodeProto n, String what) {
            return bad(n.getOpType() + " node '" + Json.clip(n.getName()) + "': " + what);
        }

        void read(OnnxIr.GraphProto g) {
            if (g.getSparseInitializerCount() > 0) throw bad("sparse initializers are not supported");
            for (OnnxIr.TensorProto t : g.getInitializerList()) constants.put(t.getName(), decode(t));
            List<OnnxIr.ValueInfoProto> inputs = g.getInputList().stream().filter(v -> !constants.containsKey(v.getName())).toList();
            if (inputs.size() != 1) {
                throw bad("expected one image input [batch, channels, height, width], found " + inputs.size() + " inputs that are not weights"
                        + (inputs.isEmpty() ? "" : " (" + String.join(", ", inputs.stream().map(v -> Json.clip(v.getName())).toList()) + ")"));
            }
            OnnxIr.ValueInfoProto in = inputs.getFirst();
            if (!in.getType().hasTensorType() || in.getType().getTensorType().getElemType() != OnnxIr.TensorProto.DataType.FLOAT_VALUE) {
                throw bad("input '" + Json.clip(in.getName()) + "' is not a float tensor");
            }
            List<OnnxIr.TensorShapeProto.Dimension> dims = in.getType().getTensorType().getShape().getDimList();
            if (dims.size() != 4) throw bad("input '" + Json.clip(in.getName()) + "' has " + dims.size() + " dimensions; an image input has 4 (batch, channels, height, width)");
            inputShape = new int[3];
            for (int i = 1; i < 4; i++) {
                if (!dims.get(i).hasDimValue() || dims.get(i).getDimValue() < 1 || dims.get(i).getDimValue() > 1 << 16) {
                    throw bad("input '" + Json.clip(in.getName()) + "': dimension " + i + " is not a fixed size (" + Json.clip(dims.get(i).getDimParam())
                            + "); only the batch may be dynamic");
                }
                inputShape[i - 1] = (int) dims.get(i).getDimValue();
            }
            fixedBatch = dims.getFirst().hasDimValue() && dims.getFirst().getDimValue() > 0 ? (int) dims.getFirst().getDimValue() : null;
            inputName = in.getName();
            shapes.put(inputName, inputShape.clone());
            if (g.getOutputCount() != 1) throw bad("expected one output (the logits), found " + g.getOutputCount());
            outputName = g.getOutput(0).getName();
            for (OnnxIr.NodeProto n : g.getNodeList()) {
                try {
                    arity(n);
                    node(n);
                } catch (IndexOutOfBoundsException | ArithmeticException | NegativeArraySizeException | NullPointerException e) {
                    // a combination of shapes and attributes no check above foresaw: still one line naming the node
                    throw bad(n, "cannot be read with its inputs and attributes (" + e.getClass().getSimpleName() + ": " + Json.clip(String.valueOf(e.getMessage())) + ")");
                }
            }
            String out = resolve(outputName);
            int[] os = shapes.get(out);
            if (os == null) throw bad("the output '" + Json.clip(outputName) + "' is not computed from the input");
            if (os.length != 1) throw bad("the output '" + Json.clip(outputName) + "' has per-sample shape " + Arrays.toString(os) + "; logits [classes] expected");
            classes = os[0];
        }

        private String resolve(String name) {
            String s = name;
            while (alias.containsKey(s)) s = alias.get(s);
            return s;
        }

        /** The inputs each op takes (at least, at most; -1: any number), as the ONNX operators define them. */
        private static final Map<String, int[]> ARITY = Map.ofEntries(Map.entry("Conv", new int[]{2, 3}), Map.entry("BatchNormalization", new int[]{5, 5}),
                Map.entry("Relu", new int[]{1, 1}), Map.entry("Clip", new int[]{1, 3}), Map.entry("LeakyRelu", new int[]{1, 1}), Map.entry("Sigmoid", new int[]{1, 1}),
                Map.entry("HardSigmoid", new int[]{1, 1}), Map.entry("HardSwish", new int[]{1, 1}), Map.entry("Add", new int[]{2, 2}), Map.entry("Sub", new int[]{2, 2}),
                Map.entry("Mul", new int[]{2, 2}), Map.entry("Div", new int[]{2, 2}), Map.entry("Concat", new int[]{1, -1}), Map.entry("Split", new int[]{1, 2}),
                Map.entry("Slice", new int[]{3, 5}), Map.entry("MaxPool", new int[]{1, 1}), Map.entry("AveragePool", new int[]{1, 1}),
                Map.entry("GlobalAveragePool", new int[]{1, 1}), Map.entry("ReduceMean", new int[]{1, 2}), Map.entry("Flatten", new int[]{1, 1}),
                Map.entry("Reshape", new int[]{2, 2}), Map.entry("Transpose", new int[]{1, 1}), Map.entry("Gemm", new int[]{2, 3}), Map.entry("MatMul", new int[]{2, 2}),
                Map.entry("Identity", new int[]{1, 1}), Map.entry("Dropout", new int[]{1, 3}), Map.entry("Constant", new int[]{0, 0}), Map.entry("Resize", new int[]{1, 4}),
                Map.entry("Pad", new int[]{1, 4}), Map.entry("Shape", new int[]{1, 1}), Map.entry("Gather", new int[]{2, 2}), Map.entry("Unsqueeze", new int[]{1, 2}),
                Map.entry("Squeeze", new int[]{1, 2}), Map.entry("Cast", new int[]{1, 1}), Map.entry("ConstantOfShape", new int[]{1, 1}));

        private void arity(OnnxIr.NodeProto n) {
            int[] a = ARITY.get(n.getOpType());
            if (a == null) return; // an op this reader does not take: refused by name in node()
            int k = n.getInputCount();
            if (k < a[0] || (a[1] >= 0 && k > a[1])) {
                throw bad(n, "has " + k + " inputs; " + n.getOpType() + " takes " + (a[0] == a[1] ? a[0] : a[1] < 0 ? a[0] + " or more" : a[0] + " to " + a[1]));
            }
        }

        /** The per-sample shape of input i, which must be a map [C, H, W]. */
        private int[] mapOf(OnnxIr.NodeProto n, int i) {
            int[] s = shapeOf(n, i);
            if (s.length != 3) throw bad(n, "input " + i + " has per-sample shape " + Arrays.toString(s) + "; a map [channels, height, width] is expected");
            return s;
        }

        private int[] shapeOf(OnnxIr.NodeProto n, int i) {
            return shapeOf(n, i, false);
        }

        /** The per-sample shape of input i; {@code throughPad}: a Pad's output is read as its input (the consumer takes the padding). */
        private int[] shapeOf(OnnxIr.NodeProto n, int i, boolean throughPad) {
            if (i >= n.getInputCount() || n.getInput(i).isEmpty()) throw bad(n, "input " + i + " is missing");
            if (unusable.containsKey(n.getInput(i))) throw bad(n, "reads " + unusable.get(n.getInput(i)));
            if (viewOnly.containsKey(n.getInput(i)) && !viewOnly.get(n.getInput(i)).equals(n.getOpType())) {
                throw bad(n, "reads a 5-D view of a map; only a channel shuffle (Reshape to [batch, g, C / g, H, W], Transpose [0, 2, 1, 3, 4],"
                        + " Reshape back) is supported");
            }
            if (!throughPad && padded.containsKey(n.getInput(i))) {
                throw bad(n, "reads the output of a Pad; zero padding is supported only as the input of a Conv or an AveragePool");
            }
            String v = resolve(n.getInput(i));
            int[] s = shapes.get(v);
            if (s == null) {
                if (constants.containsKey(v)) throw bad(n, "input '" + Json.clip(v) + "' is a constant where a computed value is expected");
                throw bad(n, "input '" + Json.clip(v) + "' is not computed by an earlier node (nodes must be in topological order)");
            }
            return s;
        }

        private ConstTensor constant(OnnxIr.NodeProto n, int i, String what) {
            if (i >= n.getInputCount() || n.getInput(i).isEmpty()) return null;
            ConstTensor c = constants.get(resolve(n.getInput(i)));
            if (c == null) throw bad(n, what + " '" + Json.clip(n.getInput(i)) + "' is computed, not a constant: not supported");
            return c;
        }

        /** A constant input that the op cannot do without. */
        private ConstTensor required(OnnxIr.NodeProto n, int i, String what) {
            ConstTensor c = constant(n, i, what);
            if (c == null) throw bad(n, what + " (input " + i + ") is missing");
            return c;
        }

        /** A constant input of whole numbers that the op cannot do without. */
        private long[] requiredInts(OnnxIr.NodeProto n, int i, String what) {
            long[] v = required(n, i, what).ints();
            if (v == null) throw bad(n, what + " (input " + i + ") is not whole numbers");
            return v;
        }

        private String paramName(OnnxIr.NodeProto n) {
            String base = n.getName().isEmpty() ? n.getOpType() + "_" + steps.size() : n.getName();
            String name = base;
            for (int k = 2; !usedNames.add(name); k++) name = base + "#" + k;
            return name;
        }

        private Tensor tensor(ConstTensor c, int[] shape) {
            Tensor t = Tensor.allocate(arena, DType.F32, shape);
            for (int i = 0; i < c.floats().length; i++) t.setF(i, c.floats()[i]);
            return t;
        }

        private void param(String name, ConstTensor c, int[] shape, OnnxIr.NodeProto n, String what) {
            if (c == null) throw bad(n, what + " is missing");
            long want = 1;
            for (int d : shape) want *= d;
            if (c.floats() == null) throw bad(n, what + " is not a float tensor");
            if (c.numel() != want) throw bad(n, what + " has " + c.numel() + " values, " + Arrays.toString(shape) + " expected");
            params.put(name, tensor(c, shape));
            parameterCount += want;
        }

        private long attrInt(OnnxIr.NodeProto n, String name, long dflt) {
            for (OnnxIr.AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getI();
            return dflt;
        }

        private float attrFloat(OnnxIr.NodeProto n, String name, float dflt) {
            for (OnnxIr.AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getF();
            return dflt;
        }

        private long[] attrInts(OnnxIr.NodeProto n, String name) {
            for (OnnxIr.AttributeProto a : n.getAttributeList()) {
                if (a.getName().equals(name)) return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
            }
            return null;
        }

        private String attrString(OnnxIr.NodeProto n, String name, String dflt) {
            for (OnnxIr.AttributeProto a : n.getAttributeList()) if (a.getName().equals(name)) return a.getS().toStringUtf8();
            return dflt;
        }

        private void emit(Op op, int[] shape, OnnxIr.NodeProto n, String... inputs) {
            String out = n.getOutput(0);
            for (int i = 0; i < inputs.length; i++) inputs[i] = resolve(inputs[i]);
            steps.add(new Step(op, shape, inputs, out));
            shapes.put(out, shape);
        }

        /**
         * A pool's window: square, one stride, the same padding on every side, no dilation, the input
         * zero-padded by {@code extra} on each side by a Pad node before this one: (k, stride, pad, ho,
         * wo); else a clear refusal. {@code ceilMode}: ceil_mode 1 is allowed (max pools) and read as
         * PyTorch computes it (the output size rounded up, a last window that would start in the right or
         * bottom padding dropped; the cells a window hangs over never win).
         */
        private int[] window(OnnxIr.NodeProto n, int[] in, long[] kernel, int extra, boolean ceilMode) {
            if (kernel == null || kernel.length != 2) throw bad(n, "kernel_shape must give 2 sizes (a 2-D window)");
            if (kernel[0] != kernel[1]) throw bad(n, "a " + kernel[0] + "x" + kernel[1] + " window is not supported yet (square windows only)");
            long[] strides = attrInts(n, "strides"), pads = attrInts(n, "pads"), dil = attrInts(n, "dilations");
            long s = strides == null ? 1 : strides[0];
            if (strides != null && (strides.length != 2 || strides[1] != s)) throw bad(n, "unequal strides " + Arrays.toString(strides) + " are not supported yet");
            if (dil != null) for (long d : dil) if (d != 1) throw bad(n, "dilations " + Arrays.toString(dil) + " are not supported yet");
            String auto = attrString(n, "auto_pad", "NOTSET");
            int k = (int) kernel[0];
            long p;
            if (auto.equals("NOTSET")) {
                p = pads == null ? 0 : pads[0];
                if (pads != null && (pads.length != 4 || pads[1] != p || pads[2] != p || pads[3] != p)) {
                    throw bad(n, "pads " + Arrays.toString(pads) + " are not supported yet (the same padding on every side only)");
                }
            } else if (auto.equals("VALID")) {
                p = 0;
            } else if ((auto.equals("SAME_UPPER") || auto.equals("SAME_LOWER")) && s == 1 && k % 2 == 1) {
                p = (k - 1) / 2;
            } else {
                throw bad(n, "auto_pad " + Json.clip(auto) + " with kernel " + k + " and stride " + s + " is not supported yet");
            }
            boolean ceil = attrInt(n, "ceil_mode", 0) != 0;
            if (ceil && !ceilMode) throw bad(n, "ceil_mode 1 is supported for MaxPool only");
            if (extra > 0 && p > 0) throw bad(n, "pads of its own after a Pad node are not supported yet");
            p += extra;
            if (p >= k) throw bad(n, "padding " + p + " is not smaller than the window " + k);
            long ho = outSize(in[1], k, s, p, ceil), wo = outSize(in[2], k, s, p, ceil);
            if (ho < 1 || wo < 1) throw bad(n, "a " + k + "x" + k + " window does not fit the " + in[1] + "x" + in[2] + " map");
            return new int[]{k, (int) s, (int) p, (int) ho, (int) wo};
        }

        /** A convolution's window as the backends run it: k x k, one stride and pad, and the kernel's taps within it (null: all k x k of them). */
        private record ConvGeometry(int k, int stride, int pad, Op.Taps taps, int ho, int wo) {}

        /**
         * A Conv node's geometry: any kh x kw kernel, dilations, strides equal on both axes, pads (also
         * asymmetric, and auto_pad SAME_UPPER / SAME_LOWER / VALID), placed in a square window with one
         * symmetric pad P = the largest pad: per axis with effective kernel e = (k - 1) d + 1 and pads
         * b (begin), f (end), the window is 2P - b - f + e cells with the kernel from cell P - b, so that
         * windows start where ONNX's do and there are as many. Refused where the two axes need windows
         * of different sizes.
         */
        private ConvGeometry convGeometry(OnnxIr.NodeProto n, int[] in, int kh, int kw, int[] extra) {
            long[] strides = attrInts(n, "strides"), pads = attrInts(n, "pads"), dil = attrInts(n, "dilations");
            if (strides != null && (strides.length != 2 || strides[0] != strides[1] || strides[0] < 1)) {
                throw bad(n, "strides " + Arrays.toString(strides) + " are not supported (one stride for both axes)");
            }
            if (dil != null && (dil.length != 2 || dil[0] < 1 || dil[1] < 1)) throw bad(n, "dilations " + Arrays.toString(dil) + " are not 2 positive sizes");
            int s = strides == null ? 1 : (int) strides[0], dh = dil == null ? 1 : (int) dil[0], dw = dil == null ? 1 : (int) dil[1];
            int eh = (kh - 1) * dh + 1, ew = (kw - 1) * dw + 1;
            long[] p = new long[4]; // top, left, bottom, right
            String auto = attrString(n, "auto_pad", "NOTSET");
            switch (auto) {
                case "NOTSET" -> {
                    if (pads != null) {
                        if (pads.length != 4 || Arrays.stream(pads).anyMatch(v -> v < 0)) throw bad(n, "pads " + Arrays.toString(pads) + " are not 4 sizes >= 0");
                        p = pads.clone();
                    }
                }
                case "VALID" -> { }
                case "SAME_UPPER", "SAME_LOWER" -> {
                    int[] e = {eh, ew};
                    for (int axis = 0; axis < 2; axis++) {
                        long size = in[axis + 1], total = Math.max(0, ((size + s - 1) / s - 1) * s + e[axis] - size);
                        long small = total / 2, big = total - small;
                        p[axis] = auto.equals("SAME_UPPER") ? small : big;
                        p[axis + 2] = auto.equals("SAME_UPPER") ? big : small;
                    }
                }
                default -> throw bad(n, "auto_pad " + Json.clip(auto) + " is not supported");
            }
            for (int i = 0; i < 4; i++) p[i] += extra[i];
            long pad = Arrays.stream(p).max().getAsLong();
            long k1 = 2 * pad - p[0] - p[2] + eh, k2 = 2 * pad - p[1] - p[3] + ew;
            if (k1 != k2) {
                throw bad(n, "a " + kh + "x" + kw + " kernel (dilations " + dh + ", " + dw + ") with pads " + Arrays.toString(p)
                        + " is not supported (its two axes need windows of different sizes)");
            }
            int k = (int) k1, oh = (int) (pad - p[0]), ow = (int) (pad - p[1]);
            long ho = (in[1] + p[0] + p[2] - eh) / s + 1, wo = (in[2] + p[1] + p[3] - ew) / s + 1;
            if (in[1] + p[0] + p[2] < eh || in[2] + p[1] + p[3] < ew) {
                throw bad(n, "a " + eh + "x" + ew + " window does not fit the " + in[1] + "x" + in[2] + " map");
            }
            if (pad >= k) throw bad(n, "padding " + pad + " is not smaller than the window " + k);
            boolean plainTaps = kh == kw && dh == 1 && dw == 1 && oh == 0 && ow == 0 && k == kh;
            return new ConvGeometry(k, s, (int) pad, plainTaps ? null : new Op.Taps(kh, kw, dh, dw, oh, ow), (int) ho, (int) wo);
        }

        /** PyTorch's pooled size: floor or ceil of (n + 2p - k) / s, plus 1; in ceil mode a last window starting at or past n + p is dropped. */
        private static long outSize(long n, long k, long s, long p, boolean ceil) {
            long span = n + 2 * p - k;
            if (span < 0) return 0;
            long o = (ceil ? (span + s - 1) / s : span / s) + 1;
            if (ceil && (o - 1) * s >= n + p) o--;
            return o;
        }

        void node(OnnxIr.NodeProto n) {
            if (!n.getDomain().isEmpty() && !n.getDomain().equals("ai.onnx")) {
                throw bad("node '" + Json.clip(n.getName()) + "' uses op " + Json.clip(n.getOpType()) + " of domain " + Json.clip(n.getDomain())
                        + "; only the default ONNX domain is read");
            }
            if (n.getOutputCount() < 1) throw bad(n, "no output");
            String op = n.getOpType();
            if (FOLDED.contains(op) && n.getInputCount() > 0 && n.getInputList().stream().allMatch(i -> i.isEmpty() || constants.containsKey(resolve(i)))) {
                constants.put(n.getOutput(0), foldConstants(n)); // arithmetic on shapes and pads, as exporters write it
                return;
            }
            switch (op) {
                case "Constant" -> {
                    OnnxIr.AttributeProto value = n.getAttributeList().stream().filter(a -> a.getName().equals("value")).findFirst()
                            .orElseThrow(() -> bad(n, "only a 'value' tensor attribute is supported"));
                    constants.put(n.getOutput(0), decode(value.getT()));
                }
                case "Pad" -> {
                    int[] s = shapeOf(n, 0);
                    if (!attrString(n, "mode", "constant").equals("constant")) throw bad(n, "mode " + attrString(n, "mode", "constant") + " is not supported (constant zeros only)");
                    long[] pads = attrInts(n, "pads"); // opset < 11 gave them as an attribute
                    if (pads == null) {
                        ConstTensor t = constant(n, 1, "pads");
                        pads = t == null ? null : t.ints();
                    }
                    ConstTensor value = constant(n, 2, "constant_value");
                    if (value != null && (value.floats() == null || value.floats().length != 1 || value.floats()[0] != 0f)) {
                        throw bad(n, "a constant value other than 0 is not supported");
                    }
                    if (n.getInputCount() > 3 && !n.getInput(3).isEmpty()) throw bad(n, "axes are not supported");
                    if (pads == null || pads.length != 8 || pads[0] != 0 || pads[1] != 0 || pads[4] != 0 || pads[5] != 0
                            || pads[2] < 0 || pads[3] < 0 || pads[6] < 0 || pads[7] < 0 || s.length != 3) {
                        throw bad(n, "only zero padding of height and width is supported, got pads " + (pads == null ? "none" : Arrays.toString(pads)));
                    }
                    alias.put(n.getOutput(0), resolve(n.getInput(0)));
                    padded.put(n.getOutput(0), new int[]{(int) pads[2], (int) pads[3], (int) pads[6], (int) pads[7]}); // top, left, bottom, right
                }
                case "Identity", "Dropout" -> {
                    shapeOf(n, 0);
                    alias.put(n.getOutput(0), resolve(n.getInput(0)));
                    if (op.equals("Dropout") && n.getOutputCount() > 1 && !n.getOutput(1).isEmpty()) {
                        unusable.put(n.getOutput(1), "the mask of Dropout node '" + Json.clip(n.getName()) + "' (dropout is the identity here)");
                    }
                }
                case "Reshape" -> {
                    if (reshapeMap(n)) return;
                    flatten(n);
                }
                case "Flatten" -> flatten(n);
                case "Transpose" -> {
                    long[] perm = attrInts(n, "perm");
                    int[] s = shapeOf(n, 0);
                    Integer g = groupedView.get(n.getInput(0));
                    if (g == null || perm == null || !Arrays.equals(perm, new long[]{0, 2, 1, 3, 4})) {
                        throw bad(n, "only the transpose of a channel shuffle (perm [0, 2, 1, 3, 4] of a map reshaped to [batch, g, C / g, H, W]) is supported");
                    }
                    emit(new Op.ChannelShuffle(g), s, n, n.getInput(0));
                    viewOnly.put(n.getOutput(0), "Reshape");
                }
                case "Shape" -> {
                    int[] s = shapeOf(n, 0);
                    long[] dims = new long[s.length + 1];
                    dims[0] = BATCH;
                    for (int i = 0; i < s.length; i++) dims[i + 1] = s[i];
                    long start = attrInt(n, "start", 0), end = attrInt(n, "end", dims.length);
                    start = Math.clamp(start < 0 ? start + dims.length : start, 0, dims.length);
                    end = Math.clamp(end < 0 ? end + dims.length : end, 0, dims.length);
                    long[] v = Arrays.copyOfRange(dims, (int) start, (int) Math.max(start, end));
                    constants.put(n.getOutput(0), new ConstTensor(new long[]{v.length}, null, v));
                }
                case "Div", "Sub", "Gather", "Unsqueeze", "Squeeze", "Cast", "ConstantOfShape" ->
                        throw bad(n, "is supported on constants only (shape arithmetic), not on the network's values");
                case "Conv" -> {
                    int[] extra = takePad(n);
                    int[] s = shapeOf(n, 0, true);
                    if (s.length != 3) throw bad(n, "input 0 has per-sample shape " + Arrays.toString(s) + "; a map [channels, height, width] is expected");
                    ConstTensor w = required(n, 1, "weight");
                    if (w.dims().length != 4) throw bad(n, "weight of " + w.dims().length + " dimensions; 2-D convolutions only");
                    long[] kernel = attrInts(n, "kernel_shape");
                    if (kernel == null) kernel = new long[]{w.dims()[2], w.dims()[3]};
                    if (kernel.length != 2 || kernel[0] != w.dims()[2] || kernel[1] != w.dims()[3]) {
                        throw bad(n, "kernel_shape " + Arrays.toString(kernel) + " does not match weight " + Arrays.toString(w.dims()));
                    }
                    ConvGeometry geo = convGeometry(n, s, (int) kernel[0], (int) kernel[1], extra);
                    int group = (int) attrInt(n, "group", 1);
                    int cout = (int) w.dims()[0], cin = s[0];
                    if (group < 1 || cin % group != 0 || cout % group != 0 || w.dims()[1] != cin / group) {
                        throw bad(n, "a convolution of " + cin + " -> " + cout + " channels in " + group + " groups with weight " + Arrays.toString(w.dims()));
                    }
                    String p = paramName(n);
                    Op conv;
                    if (group == cin && cout == cin && group > 1 && geo.taps() == null) {
                        conv = new Op.DepthwiseConv(p, cin, geo.k(), geo.stride(), geo.pad());
                    } else {
                        conv = new Op.Conv(p, cin, cout, geo.k(), geo.stride(), geo.pad(), group, geo.taps());
                    }
                    param(p + ".weight", w, new int[]{cout, cin / group, (int) kernel[0], (int) kernel[1]}, n, "weight");
                    int[] shape = {cout, geo.ho(), geo.wo()};
                    ConstTensor bias = constant(n, 2, "bias");
                    if (bias == null) {
                        emit(conv, shape, n, n.getInput(0));
                    } else {
                        // the conv, then its bias as a node of its own
                        String mid = n.getOutput(0) + CONV_PART;
                        steps.add(new Step(conv, shape, new String[]{resolve(n.getInput(0))}, mid));
                        shapes.put(mid, shape);
                        param(p + ".bias", bias, new int[]{cout}, n, "bias");
                        emit(new Op.Bias(p, cout), shape, n, mid);
                    }
                }
                case "BatchNormalization" -> {
                    int[] s = mapOf(n, 0);
                    if (n.getOutputCount() > 1 && n.getOutputList().stream().skip(1).anyMatch(o -> !o.isEmpty())) {
                        // training-mode exports name the running statistics as outputs; nothing reads them here
                        for (int i = 1; i < n.getOutputCount(); i++) shapes.remove(n.getOutput(i));
                    }
                    String p = paramName(n);
                    int c = s[0];
                    param(p + ".weight", required(n, 1, "scale"), new int[]{c}, n, "scale");
                    param(p + ".bias", required(n, 2, "bias"), new int[]{c}, n, "bias");
                    emit(new Op.BatchNorm(p, c, attrFloat(n, "epsilon", 1e-5f)), s, n, n.getInput(0));
                }
                case "Relu" -> emit(new Op.Relu(), shapeOf(n, 0), n, n.getInput(0));
                case "Clip" -> {
                    int[] s = shapeOf(n, 0);
                    double lo = Double.NEGATIVE_INFINITY, hi = Double.POSITIVE_INFINITY;
                    ConstTensor min = constant(n, 1, "min"), max = constant(n, 2, "max");
                    if (min != null) lo = scalar(n, min, "min");
                    if (max != null) hi = scalar(n, max, "max");
                    if (!(lo < hi)) throw bad(n, "min " + lo + " is not below max " + hi);
                    emit(new Op.Clip(lo, hi), s, n, n.getInput(0));
                }
                case "Sigmoid" -> emit(new Op.Sigmoid(), shapeOf(n, 0), n, n.getInput(0));
                case "LeakyRelu" -> emit(new Op.Pointwise(Op.Pointwise.Kind.LEAKY_RELU, attrFloat(n, "alpha", 0.01f), 0), shapeOf(n, 0), n,
                        n.getInput(0));
                case "HardSigmoid" -> emit(new Op.Pointwise(Op.Pointwise.Kind.HARD_SIGMOID, attrFloat(n, "alpha", 0.2f),
                        attrFloat(n, "beta", 0.5f)), shapeOf(n, 0), n, n.getInput(0));
                case "HardSwish" -> emit(new Op.Pointwise(Op.Pointwise.Kind.HARD_SWISH, 0, 0), shapeOf(n, 0), n, n.getInput(0));
                case "Add" -> {
                    int ci = constantSide(n);
                    if (ci >= 0) {
                        int[] a = shapeOf(n, 1 - ci);
                        ConstTensor c = constant(n, ci, "addend");
                        int channels = a[0];
                        long[] d = c.dims();
                        boolean perChannel = c.floats() != null && c.numel() == channels && ((d.length == 1 && a.length == 1)
                                || (a.length == 3 && d.length >= 3 && d[d.length - 1] == 1 && d[d.length - 2] == 1 && (d.length == 3 || (d.length == 4 && d[0] == 1))));
                        if (!perChannel) throw bad(n, "adding a constant of shape " + Arrays.toString(c.dims()) + " to " + Arrays.toString(a)
                                + " is not supported (a bias per channel or feature only)");
                        String p = paramName(n);
                        param(p + ".bias", c, new int[]{channels}, n, "addend");
                        emit(new Op.Bias(p, channels), a, n, n.getInput(1 - ci));
                        return;
                    }
                    int[] a = shapeOf(n, 0), b = shapeOf(n, 1);
                    if (!Arrays.equals(a, b)) throw bad(n, "adding " + Arrays.toString(a) + " and " + Arrays.toString(b) + " (broadcasting) is not supported yet");
                    emit(new Op.Add(), a, n, n.getInput(0), n.getInput(1));
                }
                case "Mul" -> {
                    int ci = constantSide(n);
                    if (ci >= 0) {
                        int[] a = shapeOf(n, 1 - ci);
                        emit(new Op.Scale(scalar(n, constant(n, ci, "factor"), "a constant factor (only a scalar is supported)")), a, n, n.getInput(1 - ci));
                        return;
                    }
                    int[] a = shapeOf(n, 0), b = shapeOf(n, 1);
                    boolean gateSecond = b.length == 3 && b[1] == 1 && b[2] == 1 && a.length == 3 && a[0] == b[0];
                    boolean gateFirst = a.length == 3 && a[1] == 1 && a[2] == 1 && b.length == 3 && a[0] == b[0];
                    if (Arrays.equals(a, b) && !(a.length == 3 && a[1] == 1 && a[2] == 1)) emit(new Op.Mul(), a, n, n.getInput(0), n.getInput(1));
                    else if (gateSecond) emit(new Op.ChannelScale(), a, n, n.getInput(0), n.getInput(1));
                    else if (gateFirst) emit(new Op.ChannelScale(), b, n, n.getInput(1), n.getInput(0));
                    else throw bad(n, "multiplying " + Arrays.toString(a) + " by " + Arrays.toString(b) + " is not supported yet (values of one shape, or a map"
                            + " by a per-channel gate)");
                }
                case "Concat" -> {
                    long axis = attrInt(n, "axis", 0);
                    int[] first = shapeOf(n, 0);
                    if (first.length != 3 || (axis != 1 && axis != -3)) throw bad(n, "only a concatenation of maps over channels (axis 1) is supported");
                    int c = 0;
                    String[] ins = new String[n.getInputCount()];
                    for (int i = 0; i < ins.length; i++) {
                        int[] s = shapeOf(n, i);
                        if (s.length != 3 || s[1] != first[1] || s[2] != first[2]) throw bad(n, "inputs of different sizes");
                        c += s[0];
                        ins[i] = n.getInput(i);
                    }
                    emit(new Op.Concat(), new int[]{c, first[1], first[2]}, n, ins);
                }
                case "MaxPool", "AveragePool" -> {
                    int extra = op.equals("AveragePool") ? takeEvenPad(n) : 0; // zeros before a max pool are not its -inf padding: refused
                    int[] s = shapeOf(n, 0, op.equals("AveragePool"));
                    if (s.length != 3) throw bad(n, "input 0 has per-sample shape " + Arrays.toString(s) + "; a map [channels, height, width] is expected");
                    if (n.getOutputCount() > 1 && !n.getOutput(1).isEmpty()) throw bad(n, "its indices output is not supported");
                    int[] win = window(n, s, attrInts(n, "kernel_shape"), extra, op.equals("MaxPool"));
                    // a Pad's zeros are values of the pooled map: counted, whatever count_include_pad says of the pool's own padding
                    int[] shape = {s[0], win[3], win[4]};
                    if (op.equals("MaxPool")) {
                        if (attrInt(n, "storage_order", 0) != 0) throw bad(n, "storage_order 1 is not supported");
                        emit(new Op.MaxPool(win[0], win[1], win[2]), shape, n, n.getInput(0));
                    } else {
                        emit(new Op.AvgPool(win[0], win[1], win[2], extra > 0 || attrInt(n, "count_include_pad", 0) != 0), shape, n,
                                n.getInput(0));
                    }
                }
                case "GlobalAveragePool" -> {
                    int[] s = shapeOf(n, 0);
                    if (s.length != 3) throw bad(n, "the input is not a map");
                    emit(new Op.GlobalAvgPool(), new int[]{s[0], 1, 1}, n, n.getInput(0));
                }
                case "ReduceMean" -> {
                    int[] s = shapeOf(n, 0);
                    long[] axes = attrInts(n, "axes");
                    if (axes == null && n.getInputCount() > 1) {
                        ConstTensor a = constant(n, 1, "axes");
                        axes = a == null ? null : a.ints();
                    }
                    boolean hw = axes != null && axes.length == 2 && Arrays.stream(axes).map(x -> x < 0 ? x + 4 : x).sorted().boxed().toList().equals(List.of(2L, 3L));
                    if (s.length != 3 || !hw) throw bad(n, "only a mean over height and width (axes 2, 3) is supported");
                    boolean keep = attrInt(n, "keepdims", 1) != 0;
                    emit(new Op.GlobalAvgPool(), keep ? new int[]{s[0], 1, 1} : new int[]{s[0]}, n, n.getInput(0));
                }
                case "Split" -> {
                    int[] s = shapeOf(n, 0);
                    long axis = attrInt(n, "axis", 0);
                    if (s.length != 3 || (axis != 1 && axis != -3)) throw bad(n, "only a split of a map's channels (axis 1) is supported");
                    long[] sizes = attrInts(n, "split"); // opset < 13: an attribute; from 13 an input
                    if (sizes == null && n.getInputCount() > 1 && !n.getInput(1).isEmpty()) sizes = requiredInts(n, 1, "split");
                    int parts = n.getOutputCount();
                    if (sizes == null) {
                        if (s[0] % parts != 0) throw bad(n, s[0] + " channels do not split into " + parts + " equal parts");
                        sizes = new long[parts];
                        Arrays.fill(sizes, s[0] / parts);
                    }
                    if (sizes.length != parts || Arrays.stream(sizes).sum() != s[0] || Arrays.stream(sizes).anyMatch(v -> v < 1)) {
                        throw bad(n, "split sizes " + Arrays.toString(sizes) + " do not cover the " + s[0] + " channels in " + parts + " parts");
                    }
                    int at = 0;
                    for (int i = 0; i < parts; i++) {
                        if (!n.getOutput(i).isEmpty()) {
                            steps.add(new Step(new Op.Slice(at, (int) sizes[i]), new int[]{(int) sizes[i], s[1], s[2]}, new String[]{resolve(n.getInput(0))},
                                    n.getOutput(i)));
                            shapes.put(n.getOutput(i), new int[]{(int) sizes[i], s[1], s[2]});
                        }
                        at += (int) sizes[i];
                    }
                }
                case "Slice" -> {
                    int[] s = shapeOf(n, 0);
                    ConstTensor starts = constant(n, 1, "starts"), ends = constant(n, 2, "ends"), axes = constant(n, 3, "axes"), step = constant(n, 4, "steps");
                    if (starts == null || ends == null || starts.ints() == null || ends.ints() == null || starts.ints().length != 1
                            || ends.ints().length != 1 || (axes != null && (axes.ints() == null || axes.ints().length != 1))) {
                        throw bad(n, "only a slice of one axis by constant starts and ends is supported");
                    }
                    long axis = axes == null ? 0 : axes.ints()[0];
                    if (s.length != 3 || (axis != 1 && axis != -3)) throw bad(n, "only a slice of a map's channels (axis 1) is supported");
                    if (step != null && (step.ints() == null || step.ints().length != 1 || step.ints()[0] != 1)) throw bad(n, "only step 1 is supported");
                    long c = s[0], from = starts.ints()[0], to = ends.ints()[0];
                    from = Math.clamp(from < 0 ? from + c : from, 0, c);
                    to = Math.clamp(to < 0 ? to + c : to, 0, c);
                    if (to <= from) throw bad(n, "the slice [" + starts.ints()[0] + ", " + ends.ints()[0] + ") of " + c + " channels is empty");
                    emit(new Op.Slice((int) from, (int) (to - from)), new int[]{(int) (to - from), s[1], s[2]}, n, n.getInput(0));
                }
                case "MatMul" -> {
                    int[] s = shapeOf(n, 0);
                    if (s.length != 1) throw bad(n, "only features [batch, n] times a constant matrix is supported (flatten maps first)");
                    ConstTensor w = required(n, 1, "matrix");
                    if (w.dims().length != 2 || w.dims()[0] != s[0]) {
                        throw bad(n, "matrix " + Arrays.toString(w.dims()) + " does not take " + s[0] + " features");
                    }
                    int out = (int) w.dims()[1];
                    String p = paramName(n);
                    param(p + ".weight", transpose(w), new int[]{out, s[0]}, n, "matrix");
                    params.put(p + ".bias", Tensor.allocate(arena, DType.F32, out)); // zeros; not a parameter of the model
                    emit(new Op.Linear(p, s[0], out), new int[]{out}, n, n.getInput(0));
                }
                case "Resize" -> {
                    int[] s = shapeOf(n, 0);
                    if (s.length != 3) throw bad(n, "the input is not a map");
                    String mode = attrString(n, "mode", "nearest"), coords = attrString(n, "coordinate_transformation_mode", "half_pixel");
                    boolean nearest = mode.equals("nearest");
                    if (!nearest && !mode.equals("linear")) throw bad(n, "mode " + Json.clip(mode) + " is not supported (nearest and linear are)");
                    if (nearest && (!coords.equals("asymmetric") || !attrString(n, "nearest_mode", "round_prefer_floor").equals("floor"))) {
                        throw bad(n, "nearest with coordinate_transformation_mode " + Json.clip(coords) + " and nearest_mode "
                                + Json.clip(attrString(n, "nearest_mode", "round_prefer_floor")) + " is not supported (asymmetric and floor: PyTorch's mode='nearest')");
                    }
                    if (!nearest && !coords.equals("half_pixel") && !coords.equals("pytorch_half_pixel")) {
                        throw bad(n, "coordinate_transformation_mode " + Json.clip(coords) + " is not supported (half_pixel: PyTorch's align_corners=False)");
                    }
                    if (attrInt(n, "antialias", 0) != 0) throw bad(n, "antialias is not supported");
                    ConstTensor scales = n.getInputCount() > 2 && !n.getInput(2).isEmpty() ? constant(n, 2, "scales") : null;
                    ConstTensor sizes = n.getInputCount() > 3 && !n.getInput(3).isEmpty() ? constant(n, 3, "sizes") : null;
                    if (scales != null && scales.numel() == 0) scales = null;
                    long ho, wo;
                    if (sizes != null) {
                        if (sizes.ints() == null || sizes.ints().length != 4) throw bad(n, "sizes is not 4 whole numbers");
                        ho = sizes.ints()[2];
                        wo = sizes.ints()[3];
                    } else if (scales != null) {
                        if (scales.floats() == null || scales.floats().length != 4 || scales.floats()[0] != 1 || scales.floats()[1] != 1) {
                            throw bad(n, "scales must be 4 floats, 1 for batch and channels");
                        }
                        double fh = s[1] * (double) scales.floats()[2], fw = s[2] * (double) scales.floats()[3];
                        // PyTorch samples at 1 / scale; the engine at in / out: the same where the scaled size is whole
                        if (fh != Math.floor(fh) || fw != Math.floor(fw)) {
                            throw bad(n, "scales " + scales.floats()[2] + ", " + scales.floats()[3] + " do not give whole sizes for a " + s[1] + "x" + s[2]
                                    + " map (export with size=, not scale_factor=)");
                        }
                        ho = (long) fh;
                        wo = (long) fw;
                    } else {
                        throw bad(n, "neither scales nor sizes is given");
                    }
                    if (ho < 1 || wo < 1 || ho > 1 << 16 || wo > 1 << 16) throw bad(n, "output size " + ho + "x" + wo + " is impossible");
                    emit(new Op.Resize(nearest), new int[]{s[0], (int) ho, (int) wo}, n, n.getInput(0));
                }
                case "Gemm" -> {
                    int[] s = shapeOf(n, 0);
                    if (attrFloat(n, "alpha", 1f) != 1f || attrFloat(n, "beta", 1f) != 1f || attrInt(n, "transA", 0) != 0) {
                        throw bad(n, "only alpha 1, beta 1 and transA 0 are supported");
                    }
                    int in = 1;
                    for (int d : s) in *= d;
                    if (s.length == 3 && (s[1] != 1 || s[2] != 1)) throw bad(n, "the input is a map, not features");
                    ConstTensor w = required(n, 1, "weight");
                    if (w.dims().length != 2) throw bad(n, "weight is not a matrix");
                    boolean transB = attrInt(n, "transB", 0) != 0;
                    int out = (int) (transB ? w.dims()[0] : w.dims()[1]);
                    if ((transB ? w.dims()[1] : w.dims()[0]) != in) throw bad(n, "weight " + Arrays.toString(w.dims()) + " does not take " + in + " features");
                    String p = paramName(n);
                    ConstTensor wt = transB ? w : transpose(w);
                    param(p + ".weight", wt, new int[]{out, in}, n, "weight");
                    ConstTensor bias = constant(n, 2, "bias");
                    if (bias == null) {
                        params.put(p + ".bias", Tensor.allocate(arena, DType.F32, out)); // zeros; not a parameter of the model
                    } else {
                        if (bias.numel() != out) throw bad(n, "bias of " + bias.numel() + " values for " + out + " outputs (broadcast biases are not supported)");
                        param(p + ".bias", bias, new int[]{out}, n, "bias");
                    }
                    emit(new Op.Linear(p, in, out), new int[]{out}, n, n.getInput(0));
                }
                default -> throw bad("op " + Json.clip(op) + " (node '" + Json.clip(n.getName()) + "', opset " + opset + ") is not supported; this reader"
                        + " knows " + String.join(", ", OPS));
            }
        }

        /**
         * Flatten (axis 1), or Reshape to [batch, features]: the same values in the same (NCHW) order,
         * C x H x W features per sample: an alias whose shape is [C H W].
         */
        private void flatten(OnnxIr.NodeProto n) {
            int[] s = shapeOf(n, 0);
            long flat = 1;
            for (int d : s) flat *= d;
            if (n.getOpType().equals("Flatten") && attrInt(n, "axis", 1) != 1) {
                throw bad(n, "axis " + attrInt(n, "axis", 1) + " is not supported (axis 1 only)");
            }
            if (n.getOpType().equals("Reshape")) {
                ConstTensor shape = constant(n, 1, "shape");
                long[] t = shape == null ? null : shape.ints();
                if (t == null || t.length != 2 || !(t[1] == -1 || t[1] == flat) || !isBatch(t[0])) {
                    throw bad(n, "only a reshape to [batch, features] (or the channel shuffle's [batch, g, C / g, H, W] and back) is supported, got "
                            + (t == null ? "no constant shape" : shapeText(t)));
                }
            }
            String out = n.getOutput(0);
            steps.add(new Step(null, new int[]{(int) flat}, new String[]{resolve(n.getInput(0))}, out));
            shapes.put(out, new int[]{(int) flat});
        }

        /**
         * A reshape that keeps a map a map: [batch, g, C / g, H, W] of a map [C, H, W] (the first step of a
         * channel shuffle), or [batch, C, H, W] of a map or of the shuffle's transposed view (its last
         * step); false where the target is not one of these (then it may be a flatten).
         */
        private boolean reshapeMap(OnnxIr.NodeProto n) {
            ConstTensor shape = constant(n, 1, "shape");
            long[] t = shape == null ? null : shape.ints();
            if (t == null || (t.length != 5 && t.length != 4)) return false;
            int[] s = shapeOf(n, 0);
            if (s.length != 3) throw bad(n, "a reshape of features " + Arrays.toString(s) + " to " + shapeText(t) + " is not supported");
            if (!isBatch(t[0])) throw bad(n, "a reshape that moves the batch (" + shapeText(t) + ") is not supported");
            if (t.length == 5) {
                long g = t[1], cg = t[2] == -1 && g > 0 ? s[0] / g : t[2];
                if (g < 1 || g * cg != s[0] || t[3] != s[1] || t[4] != s[2]) {
                    throw bad(n, "a reshape of " + Arrays.toString(s) + " to " + shapeText(t) + " is not a channel shuffle's [batch, g, C / g, H, W]");
                }
                alias.put(n.getOutput(0), resolve(n.getInput(0)));
                groupedView.put(n.getOutput(0), (int) g);
                viewOnly.put(n.getOutput(0), "Transpose");
                return true;
            }
            long c = t[1] == -1 || t[1] == 0 ? s[0] : t[1], h = t[2] == 0 ? s[1] : t[2], w = t[3] == 0 ? s[2] : t[3];
            if (c != s[0] || h != s[1] || w != s[2]) {
                throw bad(n, "a reshape of " + Arrays.toString(s) + " to " + shapeText(t) + " is not supported (only the same map)");
            }
            alias.put(n.getOutput(0), resolve(n.getInput(0)));
            return true;
        }

        /** A shape's first entry that stands for the batch: a Shape node's batch, -1, 0 (copy), or the model's fixed batch. */
        private boolean isBatch(long v) {
            return v == BATCH || v == -1 || v == 0 || (fixedBatch != null && v == fixedBatch);
        }

        private static String shapeText(long[] t) {
            return Arrays.toString(Arrays.stream(t).mapToObj(v -> v == BATCH ? "batch" : Long.toString(v)).toArray());
        }

        private void requireNoBatch(OnnxIr.NodeProto n, ConstTensor c) {
            if (c.ints() != null) for (long v : c.ints()) if (v == BATCH) throw bad(n, "arithmetic on the batch size is not supported");
        }

        /** Add, Sub, Mul or Div of two constants (one may be a scalar): whole numbers (division truncated) or floats. */
        private ConstTensor fold(OnnxIr.NodeProto n) {
            ConstTensor a = constants.get(resolve(n.getInput(0))), b = constants.get(resolve(n.getInput(1)));
            requireNoBatch(n, a);
            requireNoBatch(n, b);
            boolean ints = a.ints() != null && b.ints() != null, floats = a.floats() != null && b.floats() != null;
            if (!ints && !floats) throw bad(n, "constants of two types");
            int na = (int) a.numel(), nb = (int) b.numel(), len = Math.max(na, nb);
            if (na != nb && na != 1 && nb != 1) throw bad(n, "constants of " + na + " and " + nb + " values");
            ConstTensor shape = na >= nb ? a : b;
            String op = n.getOpType();
            if (ints) {
                long[] v = new long[len];
                for (int i = 0; i < len; i++) {
                    long x = a.ints()[na == 1 ? 0 : i], y = b.ints()[nb == 1 ? 0 : i];
                    if (op.equals("Div") && y == 0) throw bad(n, "a division by zero");
                    v[i] = switch (op) { case "Add" -> x + y; case "Sub" -> x - y; case "Mul" -> x * y; default -> x / y; };
                }
                return new ConstTensor(shape.dims(), null, v);
            }
            float[] v = new float[len];
            for (int i = 0; i < len; i++) {
                float x = a.floats()[na == 1 ? 0 : i], y = b.floats()[nb == 1 ? 0 : i];
                v[i] = switch (op) { case "Add" -> x + y; case "Sub" -> x - y; case "Mul" -> x * y; default -> x / y; };
            }
            return new ConstTensor(shape.dims(), v, null);
        }

        /** The ops evaluated when every input is a constant. */
        private static final Set<String> FOLDED = Set.of("Shape", "ConstantOfShape", "Reshape", "Slice", "Transpose", "Cast", "Unsqueeze", "Squeeze",
                "Gather", "Concat", "Add", "Sub", "Mul", "Div", "Identity");

        /** A constant's values picked by flat index, under new dims. */
        private static ConstTensor pick(ConstTensor c, long[] dims, int[] from) {
            if (c.ints() != null) {
                long[] v = new long[from.length];
                for (int i = 0; i < v.length; i++) v[i] = c.ints()[from[i]];
                return new ConstTensor(dims, null, v);
            }
            if (c.floats() != null) {
                float[] v = new float[from.length];
                for (int i = 0; i < v.length; i++) v[i] = c.floats()[from[i]];
                return new ConstTensor(dims, v, null);
            }
            return new ConstTensor(dims, null, null);
        }

        private static long[] strides(long[] dims) {
            long[] st = new long[dims.length];
            long m = 1;
            for (int i = dims.length - 1; i >= 0; i--) {
                st[i] = m;
                m *= dims[i];
            }
            return st;
        }

        /** A node whose inputs are all constants, evaluated (tensors of a few values: shapes, pads, scales). */
        private ConstTensor foldConstants(OnnxIr.NodeProto n) {
            String op = n.getOpType();
            if (n.getInput(0).isEmpty()) throw bad(n, "input 0 is missing");
            if ((op.equals("Concat") || op.equals("Add") || op.equals("Sub") || op.equals("Mul") || op.equals("Div"))
                    && n.getInputList().stream().anyMatch(String::isEmpty)) {
                throw bad(n, "an input is missing");
            }
            ConstTensor x = constants.get(resolve(n.getInput(0)));
            if (x.numel() > 1 << 16) throw bad(n, "a constant of " + x.numel() + " values is not evaluated here");
            switch (op) {
                case "Identity" -> {
                    return x;
                }
                case "Shape" -> {
                    return new ConstTensor(new long[]{x.dims().length}, null, x.dims().clone());
                }
                case "ConstantOfShape" -> {
                    if (x.ints() == null) throw bad(n, "its shape is not whole numbers");
                    long count = 1;
                    for (long d : x.ints()) {
                        if (d < 0 || d == BATCH || d > 1 << 16) throw bad(n, "shape " + shapeText(x.ints()) + " is not a small constant size");
                        count *= d;
                        if (count > 1 << 16) break;
                    }
                    if (count > 1 << 16) throw bad(n, "a constant of " + count + " values is not evaluated here");
                    ConstTensor value = null;
                    for (OnnxIr.AttributeProto a : n.getAttributeList()) if (a.getName().equals("value")) value = decode(a.getT());
                    int[] from = new int[(int) count]; // all from element 0 of the value (a 0 float when none is given)
                    return pick(value == null ? new ConstTensor(new long[]{1}, new float[1], null) : value, x.ints().clone(), from);
                }
                case "Reshape" -> {
                    long[] t = requiredInts(n, 1, "shape");
                    long[] dims = t.clone();
                    long known = 1;
                    int infer = -1;
                    for (int i = 0; i < dims.length; i++) {
                        if (dims[i] == 0 && i < x.dims().length) dims[i] = x.dims()[i];
                        if (dims[i] == -1 && infer < 0) infer = i;
                        else if (dims[i] < 0 || dims[i] > x.numel()) throw bad(n, "a constant of " + x.numel() + " values reshaped to " + shapeText(t));
                        else known *= dims[i];
                    }
                    if (infer >= 0) dims[infer] = known == 0 ? 0 : x.numel() / known;
                    long count = 1;
                    for (long d : dims) count = d > x.numel() || count < 0 ? -1 : count * d;
                    if (count != x.numel()) throw bad(n, "a constant of " + x.numel() + " values reshaped to " + shapeText(t));
                    int[] from = new int[(int) x.numel()];
                    for (int i = 0; i < from.length; i++) from[i] = i;
                    return pick(x, dims, from);
                }
                case "Transpose" -> {
                    long[] perm = attrInts(n, "perm");
                    int r = x.dims().length;
                    if (perm == null) {
                        perm = new long[r];
                        for (int i = 0; i < r; i++) perm[i] = r - 1 - i;
                    }
                    if (!Arrays.equals(Arrays.stream(perm).sorted().toArray(), java.util.stream.LongStream.range(0, r).toArray())) {
                        throw bad(n, "perm " + Arrays.toString(perm) + " is not a permutation of the " + r + " axes");
                    }
                    long[] dims = new long[r], st = strides(x.dims());
                    for (int i = 0; i < r; i++) dims[i] = x.dims()[(int) perm[i]];
                    int[] from = new int[(int) x.numel()];
                    long[] ost = strides(dims);
                    for (int o = 0; o < from.length; o++) {
                        long src = 0;
                        for (int i = 0; i < r; i++) src += (o / ost[i] % dims[i]) * st[(int) perm[i]];
                        from[o] = (int) src;
                    }
                    return pick(x, dims, from);
                }
                case "Slice" -> {
                    long[] starts = requiredInts(n, 1, "starts"), ends = requiredInts(n, 2, "ends");
                    ConstTensor ax = constant(n, 3, "axes"), sp = constant(n, 4, "steps");
                    int r = x.dims().length;
                    if (ends.length != starts.length || (ax != null && (ax.ints() == null || ax.ints().length != starts.length))
                            || (sp != null && (sp.ints() == null || sp.ints().length != starts.length)) || starts.length > r) {
                        throw bad(n, "starts, ends, axes and steps of different lengths, or more of them than the " + r + " axes");
                    }
                    for (int j = 0; ax != null && j < starts.length; j++) {
                        if (ax.ints()[j] < -r || ax.ints()[j] >= r) throw bad(n, "axis " + ax.ints()[j] + " of a constant of " + r + " axes");
                    }
                    long[] lo = new long[r], step = new long[r], dims = x.dims().clone();
                    Arrays.fill(step, 1);
                    for (int j = 0; j < starts.length; j++) {
                        int a = (int) (ax == null ? j : ax.ints()[j] < 0 ? ax.ints()[j] + r : ax.ints()[j]);
                        long d = x.dims()[a], st = sp == null ? 1 : sp.ints()[j];
                        if (st == 0) throw bad(n, "step 0");
                        long b = starts[j] < 0 ? starts[j] + d : starts[j], e = ends[j] < 0 ? ends[j] + d : ends[j];
                        if (st > 0) {
                            b = Math.clamp(b, 0, d);
                            e = Math.clamp(e, 0, d);
                            dims[a] = Math.max(0, (e - b + st - 1) / st);
                        } else {
                            b = Math.clamp(b, -1, d - 1);
                            e = Math.clamp(e, -1, d - 1);
                            dims[a] = Math.max(0, (b - e + (-st) - 1) / (-st));
                        }
                        lo[a] = b;
                        step[a] = st;
                    }
                    long[] st = strides(x.dims()), ost = strides(dims);
                    long count = 1;
                    for (long d : dims) count *= d;
                    int[] from = new int[(int) count];
                    for (int o = 0; o < from.length; o++) {
                        long src = 0;
                        for (int i = 0; i < r; i++) src += (lo[i] + (o / ost[i] % dims[i]) * step[i]) * st[i];
                        from[o] = (int) src;
                    }
                    return pick(x, dims, from);
                }
                case "Cast" -> {
                    long to = attrInt(n, "to", -1);
                    boolean toInt = to == OnnxIr.TensorProto.DataType.INT64_VALUE || to == OnnxIr.TensorProto.DataType.INT32_VALUE;
                    boolean toFloat = to == OnnxIr.TensorProto.DataType.FLOAT_VALUE || to == OnnxIr.TensorProto.DataType.DOUBLE_VALUE;
                    if (!toInt && !toFloat) throw bad(n, "a cast to type " + to + " is not supported");
                    if (x.ints() == null && x.floats() == null) throw bad(n, "its input is neither whole numbers nor floats");
                    if (toInt && x.ints() == null) {
                        long[] v = new long[x.floats().length];
                        for (int i = 0; i < v.length; i++) v[i] = (long) x.floats()[i];
                        return new ConstTensor(x.dims(), null, v);
                    }
                    if (toFloat && x.floats() == null) {
                        requireNoBatch(n, x);
                        float[] v = new float[x.ints().length];
                        for (int i = 0; i < v.length; i++) v[i] = x.ints()[i];
                        return new ConstTensor(x.dims(), v, null);
                    }
                    return x;
                }
                case "Unsqueeze", "Squeeze" -> {
                    long[] axes = attrInts(n, "axes");
                    if (axes == null && n.getInputCount() > 1 && !n.getInput(1).isEmpty()) axes = requiredInts(n, 1, "axes");
                    List<Long> dims = new ArrayList<>(Arrays.stream(x.dims()).boxed().toList());
                    if (op.equals("Unsqueeze")) {
                        if (axes == null) throw bad(n, "no axes");
                        int r = dims.size() + axes.length;
                        long[] sorted = Arrays.stream(axes).map(a -> a < 0 ? a + r : a).sorted().toArray();
                        for (long a : sorted) dims.add((int) a, 1L);
                    } else {
                        int r = dims.size();
                        if (axes == null) dims.removeIf(d -> d == 1);
                        else for (long a : Arrays.stream(axes).map(a -> a < 0 ? a + r : a).boxed().sorted(java.util.Comparator.reverseOrder()).toList()) {
                            dims.remove((int) a);
                        }
                    }
                    int[] from = new int[(int) x.numel()];
                    for (int i = 0; i < from.length; i++) from[i] = i;
                    return pick(x, dims.stream().mapToLong(Long::longValue).toArray(), from);
                }
                case "Gather" -> {
                    ConstTensor idx = required(n, 1, "indices");
                    if (x.dims().length != 1 || idx.ints() == null || attrInt(n, "axis", 0) != 0) throw bad(n, "only the gathering of values from a 1-D constant is supported");
                    int[] from = new int[idx.ints().length];
                    for (int i = 0; i < from.length; i++) {
                        long k = idx.ints()[i] < 0 ? idx.ints()[i] + x.numel() : idx.ints()[i];
                        if (k < 0 || k >= x.numel()) throw bad(n, "index " + idx.ints()[i] + " is outside the " + x.numel() + " values");
                        from[i] = (int) k;
                    }
                    return pick(x, idx.dims(), from);
                }
                case "Concat" -> {
                    return concatConstants(n);
                }
                default -> {
                    return fold(n); // Add, Sub, Mul, Div
                }
            }
        }

        /** The 1-D constants a Concat joins, joined. */
        private ConstTensor concatConstants(OnnxIr.NodeProto n) {
            List<ConstTensor> parts = n.getInputList().stream().map(i -> constants.get(resolve(i))).toList();
            boolean floats = parts.getFirst().floats() != null;
            int total = 0;
            for (ConstTensor c : parts) {
                if (c.dims().length != 1 || (floats ? c.floats() == null : c.ints() == null)) throw bad(n, "only 1-D constants of one type are joined");
                total += (int) c.numel();
            }
            float[] f = floats ? new float[total] : null;
            long[] l = floats ? null : new long[total];
            int at = 0;
            for (ConstTensor c : parts) {
                if (floats) System.arraycopy(c.floats(), 0, f, at, c.floats().length);
                else System.arraycopy(c.ints(), 0, l, at, c.ints().length);
                at += (int) c.numel();
            }
            return new ConstTensor(new long[]{total}, f, l);
        }

        /** Which of a binary node's two inputs is a constant (0 or 1), or -1 where both are computed. */
        private int constantSide(OnnxIr.NodeProto n) {
            if (n.getInputCount() != 2) throw bad(n, "expected 2 inputs, found " + n.getInputCount());
            for (int i = 0; i < 2; i++) {
                if (constants.containsKey(resolve(n.getInput(i)))) return i; // both constants: folded before (foldConstants)
            }
            return -1;
        }

        private double scalar(OnnxIr.NodeProto n, ConstTensor c, String what) {
            if (c.floats() != null && c.floats().length == 1) return c.floats()[0];
            throw bad(n, what + " is not one float");
        }

        /** The zero padding (top, left, bottom, right) a Pad node put before this node's input 0 (then read through the Pad), or zeros. */
        private int[] takePad(OnnxIr.NodeProto n) {
            int[] p = n.getInputCount() == 0 ? null : padded.get(n.getInput(0));
            return p == null ? new int[4] : p;
        }

        /** As {@link #takePad}, for an op that takes only the same padding on every side. */
        private int takeEvenPad(OnnxIr.NodeProto n) {
            int[] p = takePad(n);
            if (p[0] != p[1] || p[0] != p[2] || p[0] != p[3]) throw bad(n, "reads a Pad node's uneven padding " + Arrays.toString(p) + "; only a Conv takes that");
            return p[0];
        }

        private static ConstTensor transpose(ConstTensor w) {
            int r = (int) w.dims()[0], c = (int) w.dims()[1];
            float[] t = new float[r * c];
            for (int i = 0; i < r; i++) for (int j = 0; j < c; j++) t[j * r + i] = w.floats()[i * c + j];
            return new ConstTensor(new long[]{c, r}, t, null);
        }

        /** The graph of the recorded steps: with BN (training mode) or without (synflow's), Relu sites in order. */
        Graph build(boolean batchNorm) {
            Graph.Builder g = new Graph.Builder();
            Map<String, Integer> id = new HashMap<>();
            id.put(inputName, g.add(new Op.Input(), inputShape.clone()));
            int site = 0;
            for (Step s : steps) {
                int[] ins = new int[s.inputs().length];
                for (int i = 0; i < ins.length; i++) {
                    Integer k = id.get(s.inputs()[i]);
                    if (k == null) throw bad("value '" + Json.clip(s.inputs()[i]) + "' is used before it is computed");
                    ins[i] = k;
                }
                if (s.op() == null || (!batchNorm && s.op() instanceof Op.BatchNorm)) {
                    id.put(s.output(), ins[0]); // an alias (flatten), or BN removed for synflow
                    continue;
                }
                int node = g.add(s.op(), s.shape().clone(), ins);
                id.put(s.output(), node);
                if (batchNorm) {
                    if (s.shape()[0] > 1 && !s.output().endsWith(CONV_PART)) g.moduleOutput(node, 1); // a Conv with a bias is one node's output
                    if (s.op() instanceof Op.Relu || (s.op() instanceof Op.Clip c && c.lo() == 0)
                            || (s.op() instanceof Op.Pointwise p && p.kind() == Op.Pointwise.Kind.LEAKY_RELU)) {
                        Response act = Response.activation(node), grad = Response.gradInput(node);
                        g.site(new Graph.Site(site++, List.of(act), List.of(grad), List.of(act), List.of(grad)));
                        if (s.shape().length == 3) g.reluModule(ins[0]);
                    }
                }
            }
            Integer logits = id.get(resolve(outputName));
            if (logits == null) throw bad("the output '" + Json.clip(outputName) + "' is not computed");
            return g.build(id.get(inputName), logits);
        }

        /** A tensor's values: float32 (or float64, converted) for weights, whole numbers for shapes and axes. */
        private ConstTensor decode(OnnxIr.TensorProto t) {
            long[] dims = t.getDimsList().stream().mapToLong(Long::longValue).toArray();
            long numel = 1;
            for (long d : dims) {
                if (d < 0) throw bad("tensor '" + Json.clip(t.getName()) + "' has a negative dimension");
                numel = Math.multiplyExact(numel, d);
            }
            if (numel > Integer.MAX_VALUE / 8) throw bad("tensor '" + Json.clip(t.getName()) + "' is too large (" + numel + " values)");
            int n = (int) numel;
            ByteString raw = t.hasRawData() ? t.getRawData() : null;
            if (t.getDataLocation() == OnnxIr.TensorProto.DataLocation.EXTERNAL) raw = external(t);
            int type = t.getDataType();
            if (type == OnnxIr.TensorProto.DataType.FLOAT_VALUE || type == OnnxIr.TensorProto.DataType.DOUBLE_VALUE) {
                boolean f32 = type == OnnxIr.TensorProto.DataType.FLOAT_VALUE;
                float[] v = new float[n];
                if (raw != null) {
                    if (raw.size() != (long) n * (f32 ? 4 : 8)) throw bad("tensor '" + Json.clip(t.getName()) + "' has " + raw.size() + " bytes for " + n + " values");
                    ByteBuffer bb = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < n; i++) v[i] = f32 ? bb.getFloat() : (float) bb.getDouble();
                } else if (f32) {
                    if (t.getFloatDataCount() != n) throw bad("tensor '" + Json.clip(t.getName()) + "' has " + t.getFloatDataCount() + " values, " + n + " expected");
                    for (int i = 0; i < n; i++) v[i] = t.getFloatData(i);
                } else {
                    if (t.getDoubleDataCount() != n) throw bad("tensor '" + Json.clip(t.getName()) + "' has " + t.getDoubleDataCount() + " values, " + n + " expected");
                    for (int i = 0; i < n; i++) v[i] = (float) t.getDoubleData(i);
                }
                return new ConstTensor(dims, v, null);
            }
            if (type == OnnxIr.TensorProto.DataType.INT64_VALUE || type == OnnxIr.TensorProto.DataType.INT32_VALUE) {
                boolean i64 = type == OnnxIr.TensorProto.DataType.INT64_VALUE;
                long[] v = new long[n];
                if (raw != null) {
                    if (raw.size() != (long) n * (i64 ? 8 : 4)) throw bad("tensor '" + Json.clip(t.getName()) + "' has " + raw.size() + " bytes for " + n + " values");
                    ByteBuffer bb = raw.asReadOnlyByteBuffer().order(ByteOrder.LITTLE_ENDIAN);
                    for (int i = 0; i < n; i++) v[i] = i64 ? bb.getLong() : bb.getInt();
                } else {
                    int count = i64 ? t.getInt64DataCount() : t.getInt32DataCount();
                    if (count != n) throw bad("tensor '" + Json.clip(t.getName()) + "' has " + count + " values, " + n + " expected");
                    for (int i = 0; i < n; i++) v[i] = i64 ? t.getInt64Data(i) : t.getInt32Data(i);
                }
                return new ConstTensor(dims, null, v);
            }
            // other types (bool, strings, float16, ...) are kept without values: any use of them is refused
            return new ConstTensor(dims, null, null);
        }

        /** An initializer's bytes from the external data file it names (a path beside the model). */
        private ByteString external(OnnxIr.TensorProto t) {
            Map<String, String> kv = new HashMap<>();
            for (OnnxIr.StringStringEntryProto e : t.getExternalDataList()) kv.put(e.getKey(), e.getValue());
            String location = kv.get("location");
            if (location == null || location.isEmpty()) throw bad("tensor '" + Json.clip(t.getName()) + "' is stored externally but names no location");
            Path rel = Path.of(location).normalize();
            if (rel.isAbsolute() || rel.startsWith("..")) throw bad("tensor '" + Json.clip(t.getName()) + "': external data '" + Json.clip(location) + "' is not beside the model");
            Path p = dir.resolve(rel);
            if (!Files.isRegularFile(p)) {
                throw bad("tensor '" + Json.clip(t.getName()) + "': its external data file " + Json.clip(location) + " is missing (expected beside the model)");
            }
            try {
                long offset = kv.containsKey("offset") ? Long.parseLong(kv.get("offset")) : 0;
                long size = Files.size(p);
                long length = kv.containsKey("length") ? Long.parseLong(kv.get("length")) : size - offset;
                if (offset < 0 || length < 0 || offset + length > size || length > Integer.MAX_VALUE) {
                    throw bad("tensor '" + Json.clip(t.getName()) + "': bytes " + offset + " to " + (offset + length) + " of " + Json.clip(location)
                            + ", which has " + size);
                }
                byte[] all = new byte[(int) length];
                try (var ch = java.nio.channels.FileChannel.open(p)) {
                    ByteBuffer bb = ByteBuffer.wrap(all);
                    while (bb.hasRemaining()) if (ch.read(bb, offset + bb.position()) < 0) throw new IOException("cut short");
                }
                digest.update(all);
                return ByteString.copyFrom(all);
            } catch (NumberFormatException e) {
                throw bad("tensor '" + Json.clip(t.getName()) + "': external data offset or length is not a number");
            } catch (IOException e) {
                throw bad("tensor '" + Json.clip(t.getName()) + "': cannot read " + Json.clip(location) + ": " + Files2.reason(e));
            }
        }
    }
}
