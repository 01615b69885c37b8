package dev.osprey.onnx;

import com.google.protobuf.ByteString;
import dev.osprey.Activation;
import dev.osprey.Config;
import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.engine.Node;
import dev.osprey.io.AtomicFiles;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.GraphProto;
import onnx.Onnx.ModelProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.OperatorSetIdProto;
import onnx.Onnx.TensorProto;
import onnx.Onnx.TensorShapeProto;
import onnx.Onnx.TypeProto;
import onnx.Onnx.ValueInfoProto;

/**
 * Writes an Osprey model as ONNX (opset 17): the model's own NHWC input with a dynamic batch, feature maps turned to
 * NCHW for ONNX's convolutions and pooling by one Transpose, BatchNorm and activations kept as ONNX nodes, weights
 * as initializers in ONNX's layouts, and the outputs named after the layers that compute them.
 */
public final class OnnxExporter {
    /** The opset written. */
    public static final int OPSET = 17;
    /** Metadata key saying the inputs' layout ("NHWC"), so that Osprey's importer takes them as they are. */
    public static final String INPUT_LAYOUT_KEY = "osprey.input_layout";
    /** Metadata key holding the model's class names, a JSON list of strings (written where the model has them). */
    public static final String CLASS_NAMES_KEY = "osprey.class_names";

    private final GraphProto.Builder graph = GraphProto.newBuilder();
    private final Map<SymbolicTensor, Val> values = new IdentityHashMap<>();
    private final Map<String, NDArray> weights;
    private final Set<String> names = new HashSet<>();
    private int counter;

    /** An ONNX value standing for an Osprey tensor: its name and whether it holds a feature map as NCHW. */
    private record Val(String name, boolean nchw, Shape shape, Map<Boolean, String> layouts) {
        Val(String name, boolean nchw, Shape shape) {
            this(name, nchw, shape, new java.util.HashMap<>(Map.of(nchw, name)));
        }
    }

    private OnnxExporter(Map<String, NDArray> weights) {
        this.weights = weights;
    }

    /** Writes the model to path (atomically). */
    public static void export(Model model, Path path) throws IOException {
        ModelProto proto = toProto(model);
        Path absolute = path.toAbsolutePath();
        Path temporary = AtomicFiles.createSibling(absolute, ".tmp");
        try {
            try (var out = java.nio.file.Files.newOutputStream(temporary)) {
                proto.writeTo(out);
            }
            AtomicFiles.moveIntoPlace(temporary, absolute);
        } finally {
            java.nio.file.Files.deleteIfExists(temporary);
        }
    }

    /** The model as an ONNX ModelProto. */
    public static ModelProto toProto(Model model) {
        model.build();
        OnnxExporter e = new OnnxExporter(model.namedWeights());
        e.graph.setName(model.className().toLowerCase(java.util.Locale.ROOT));
        for (Input in : model.inputs()) {
            String name = e.unique(in.name());
            e.graph.addInput(info(name, in.shape()));
            e.values.put(in, new Val(name, false, in.shape()));
        }
        for (Node n : order(model.outputs())) {
            e.convert(n);
        }
        for (SymbolicTensor out : model.outputs()) {
            Val v = e.nhwc(e.values.get(out));
            String name = e.unique(out.layer() != null ? out.layer().name() : "output");
            e.node("Identity", List.of(v.name()), name);
            e.graph.addOutput(info(name, out.shape()));
        }
        ModelProto.Builder proto = ModelProto.newBuilder().setIrVersion(8).setProducerName("osprey")
                .setProducerVersion("0.1.0")
                .addOpsetImport(OperatorSetIdProto.newBuilder().setDomain("").setVersion(OPSET))
                .addMetadataProps(onnx.Onnx.StringStringEntryProto.newBuilder().setKey(INPUT_LAYOUT_KEY)
                        .setValue("NHWC"));
        if (!model.classNames().isEmpty()) {
            proto.addMetadataProps(onnx.Onnx.StringStringEntryProto.newBuilder().setKey(CLASS_NAMES_KEY)
                    .setValue(dev.osprey.io.Json.write(model.classNames())));
        }
        return proto.setGraph(e.graph).build();
    }

    /** The nodes the outputs depend on, each after the nodes it takes input from. */
    private static List<Node> order(List<SymbolicTensor> outputs) {
        List<Node> order = new ArrayList<>();
        Set<Node> seen = java.util.Collections.newSetFromMap(new IdentityHashMap<>());
        for (SymbolicTensor t : outputs) {
            visit(t, seen, order);
        }
        return order;
    }

    private static void visit(SymbolicTensor t, Set<Node> seen, List<Node> order) {
        Node n = t.node();
        if (n == null || t instanceof Input || !seen.add(n)) {
            return;
        }
        for (SymbolicTensor in : n.inputs()) {
            visit(in, seen, order);
        }
        order.add(n);
    }

    private static ValueInfoProto info(String name, Shape sample) {
        TensorShapeProto.Builder s = TensorShapeProto.newBuilder()
                .addDim(TensorShapeProto.Dimension.newBuilder().setDimParam("batch"));
        for (int d : sample.dims()) {
            s.addDim(TensorShapeProto.Dimension.newBuilder().setDimValue(d));
        }
        return ValueInfoProto.newBuilder().setName(name).setType(TypeProto.newBuilder().setTensorType(
                TypeProto.Tensor.newBuilder().setElemType(TensorProto.DataType.FLOAT_VALUE).setShape(s))).build();
    }

    // ---- graph building -----------------------------------------------------------------------------------

    private String unique(String base) {
        String name = base;
        for (int k = 2; !names.add(name); k++) {
            name = base + "_" + k;
        }
        return name;
    }

    private String fresh(String hint) {
        return unique(hint + "_" + (counter++));
    }

    private String node(String op, List<String> inputs, String output, AttributeProto... attributes) {
        NodeProto.Builder b = NodeProto.newBuilder().setOpType(op).setName(output).addAllInput(inputs)
                .addOutput(output);
        for (AttributeProto a : attributes) {
            b.addAttribute(a);
        }
        graph.addNode(b);
        return output;
    }

    private static AttributeProto ints(String name, int... values) {
        AttributeProto.Builder a = AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INTS);
        for (int v : values) {
            a.addInts(v);
        }
        return a.build();
    }

    private static AttributeProto integer(String name, long value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.INT).setI(value).build();
    }

    private static AttributeProto real(String name, float value) {
        return AttributeProto.newBuilder().setName(name).setType(AttributeProto.AttributeType.FLOAT).setF(value)
                .build();
    }

    private String initializer(String hint, float[] values, long... dims) {
        String name = unique(hint);
        ByteBuffer b = ByteBuffer.allocate(values.length * 4).order(ByteOrder.LITTLE_ENDIAN);
        for (float v : values) {
            b.putFloat(v);
        }
        TensorProto.Builder t = TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.FLOAT_VALUE)
                .setRawData(ByteString.copyFrom(b.array()));
        for (long d : dims) {
            t.addDims(d);
        }
        graph.addInitializer(t);
        return name;
    }

    private String longs(String hint, long... values) {
        String name = unique(hint);
        ByteBuffer b = ByteBuffer.allocate(values.length * 8).order(ByteOrder.LITTLE_ENDIAN);
        for (long v : values) {
            b.putLong(v);
        }
        graph.addInitializer(TensorProto.newBuilder().setName(name).setDataType(TensorProto.DataType.INT64_VALUE)
                .addDims(values.length).setRawData(ByteString.copyFrom(b.array())));
        return name;
    }

    private String scalar(String hint, float v) {
        return initializer(hint, new float[] {v});
    }

    private float[] weight(Layer layer, String param) {
        NDArray w = weights.get(layer.name() + "/" + param);
        if (w == null) {
            throw new IllegalStateException("ONNX export: " + layer.name() + " has no weight '" + param + "'");
        }
        return w.data();
    }

    /** A feature map (H, W, C) as NCHW (one Transpose, made once per tensor). */
    private Val nchw(Val v) {
        if (v.nchw() || v.shape().rank() != 3) {
            return v;
        }
        String name = v.layouts().computeIfAbsent(true, k -> node("Transpose", List.of(v.name()),
                fresh(v.name() + "_nchw"), ints("perm", 0, 3, 1, 2)));
        return new Val(name, true, v.shape(), v.layouts());
    }

    /** A tensor in Osprey's own layout (feature maps NHWC). */
    private Val nhwc(Val v) {
        if (!v.nchw()) {
            return v;
        }
        String name = v.layouts().computeIfAbsent(false, k -> node("Transpose", List.of(v.name()),
                fresh(v.name() + "_nhwc"), ints("perm", 0, 2, 3, 1)));
        return new Val(name, false, v.shape(), v.layouts());
    }

    // ---- layers -------------------------------------------------------------------------------------------

    private void convert(Node n) {
        Layer layer = n.layer();
        List<Val> in = n.inputs().stream().map(values::get).toList();
        Config c = new Config(layer.className(), layer.getConfig());
        String name = layer.name();
        Shape outShape = n.output().shape();
        Val out = switch (layer.className()) {
            case "Conv2D" -> conv(layer, c, nchw(in.get(0)), outShape, false);
            case "DepthwiseConv2D" -> conv(layer, c, nchw(in.get(0)), outShape, true);
            case "Dense" -> {
                Shape inShape = in.get(0).shape();
                int features = inShape.dim(inShape.rank() - 1);
                String kernel = initializer(name + "/kernel", weight(layer, "kernel"), features, c.integer("units"));
                String bias = initializer(name + "/bias", c.bool("use_bias", true) ? weight(layer, "bias")
                        : new float[c.integer("units")], c.integer("units")); // Gemm and Add take zeros for none
                String y = inShape.rank() == 1
                        ? node("Gemm", List.of(nhwc(in.get(0)).name(), kernel, bias), fresh(name))
                        // on the last axis of a larger input (Keras' Dense): MatMul broadcasts over the leading axes
                        : node("Add", List.of(node("MatMul", List.of(nhwc(in.get(0)).name(), kernel),
                                fresh(name + "_matmul")), bias), fresh(name));
                yield activation(new Val(y, false, outShape), c.activation("activation"), name);
            }
            case "BatchNormalization" -> batchNorm(layer, c, in.get(0), outShape);
            case "LayerNormalization" -> { // over the last axis of Osprey's layout: channels, for a feature map
                int features = outShape.dim(outShape.rank() - 1);
                String y = node("LayerNormalization", List.of(nhwc(in.get(0)).name(),
                        initializer(name + "/gamma", weight(layer, "gamma"), features),
                        initializer(name + "/beta", weight(layer, "beta"), features)), fresh(name),
                        integer("axis", -1), real("epsilon", (float) c.number("epsilon", 1e-3)));
                yield new Val(y, false, outShape);
            }
            case "MaxPooling2D", "AveragePooling2D" -> pool(layer, c, nchw(in.get(0)), outShape);
            case "GlobalAveragePooling2D", "GlobalMaxPooling2D" -> {
                String op = layer.className().startsWith("GlobalAverage") ? "GlobalAveragePool" : "GlobalMaxPool";
                String y = node(op, List.of(nchw(in.get(0)).name()), fresh(name));
                yield c.bool("keepdims", false) ? new Val(y, true, outShape)
                        : new Val(node("Flatten", List.of(y), fresh(name + "_flat")), false, outShape);
            }
            case "ZeroPadding2D" -> {
                List<?> p = (List<?>) c.raw("padding");
                int[] rows = new Config(name, Map.of("p", p.get(0))).integers("p", 2);
                int[] cols = new Config(name, Map.of("p", p.get(1))).integers("p", 2);
                yield new Val(node("Pad", List.of(nchw(in.get(0)).name(), longs(name + "/pads", 0, 0, rows[0], cols[0],
                        0, 0, rows[1], cols[1])), fresh(name)), true, outShape);
            }
            case "Add", "Multiply" -> merge(layer.className().equals("Add") ? "Add" : "Mul", in, name, outShape);
            case "Concatenate" -> concat(c, in, name, outShape);
            case "Flatten" -> new Val(node("Flatten", List.of(nhwc(in.get(0)).name()), fresh(name)), false, outShape);
            case "ChannelSlice" -> { // the channel axis: 1 in NCHW, the last in Osprey's layout
                Val x = in.get(0);
                String y = node("Slice", List.of(x.name(), longs(name + "/starts", c.integer("begin")),
                        longs(name + "/ends", c.integer("end")), longs(name + "/axes", x.nchw() ? 1 : -1)), fresh(name));
                yield new Val(y, x.nchw(), outShape);
            }
            case "Reshape" -> {
                int[] target = c.integerList("target_shape");
                long[] dims = new long[target.length + 1];
                for (int i = 0; i < target.length; i++) {
                    dims[i + 1] = target[i];
                }
                yield new Val(node("Reshape", List.of(nhwc(in.get(0)).name(), longs(name + "/shape", dims)),
                        fresh(name)), false, outShape);
            }
            case "Permute" -> {
                int[] dims = c.integerList("dims");
                int[] perm = new int[dims.length + 1];
                for (int i = 0; i < dims.length; i++) {
                    perm[i + 1] = dims[i];
                }
                yield new Val(node("Transpose", List.of(nhwc(in.get(0)).name()), fresh(name), ints("perm", perm)),
                        false, outShape);
            }
            case "Rescaling" -> {
                Val x = in.get(0);
                String y = node("Mul", List.of(x.name(), scalar(name + "/scale", (float) c.number("scale"))),
                        fresh(name));
                double offset = c.number("offset", 0);
                if (offset != 0) {
                    y = node("Add", List.of(y, scalar(name + "/offset", (float) offset)), fresh(name));
                }
                yield new Val(y, x.nchw(), outShape);
            }
            case "Dropout", "StochasticDepth" -> in.get(0); // the identity outside training
            case "Activation" -> activation(in.get(0), c.activation("activation"), name);
            case "ReLU" -> {
                Double max = c.optionalNumber("max_value");
                yield activation(in.get(0), Activation.relu(max == null ? null : max.floatValue(),
                        (float) c.number("negative_slope", 0)), name);
            }
            case "LeakyReLU" -> activation(in.get(0), Activation.leakyRelu((float) c.number("negative_slope", 0.3)),
                    name);
            case "Softmax" -> activation(in.get(0), Activation.SOFTMAX, name);
            case "MultiHeadAttention" -> attention(layer, c, in, outShape);
            case "ClassToken" -> { // Expand the token to (N, 1, C) and put it first
                Shape s = in.get(0).shape();
                String token = initializer(name + "/class_token", weight(layer, "class_token"), 1, 1, s.dim(1));
                String tokens = node("Expand", List.of(token, batchShape(in.get(0), name, 1, s.dim(1))),
                        fresh(name + "_tokens"));
                yield new Val(node("Concat", List.of(tokens, nhwc(in.get(0)).name()), fresh(name),
                        integer("axis", 1)), false, outShape);
            }
            case "PositionEmbedding" -> { // the first rows of the embeddings, the same for every sample
                Shape s = in.get(0).shape();
                float[] rows = java.util.Arrays.copyOf(weight(layer, "embeddings"), s.size());
                String embeddings = initializer(name + "/embeddings", rows, 1, s.dim(0), s.dim(1));
                yield new Val(node("Expand", List.of(embeddings, batchShape(in.get(0), name, s.dim(0), s.dim(1))),
                        fresh(name)), false, outShape);
            }
            case "Cropping1D" -> {
                int[] cropping = c.integerList("cropping");
                int positions = in.get(0).shape().dim(0);
                yield new Val(node("Slice", List.of(nhwc(in.get(0)).name(), longs(name + "/starts", cropping[0]),
                        longs(name + "/ends", positions - cropping[1]), longs(name + "/axes", 1)), fresh(name)), false,
                        outShape);
            }
            default -> throw new IllegalArgumentException("ONNX export: layer " + name + " (" + layer.className()
                    + ") has no ONNX mapping yet");
        };
        values.put(n.output(), out);
    }

    /** (N, dims...) with x's batch size N: the shape an Expand of a (1, dims...) constant to every sample takes. */
    private String batchShape(Val x, String name, long... dims) {
        String batch = node("Slice", List.of(node("Shape", List.of(x.name()), fresh(name + "_shape")),
                longs(name + "/zero", 0), longs(name + "/one", 1)), fresh(name + "_batch"));
        return node("Concat", List.of(batch, longs(name + "/dims", dims)), fresh(name + "_expanded_shape"),
                integer("axis", 0));
    }

    /**
     * MultiHeadAttention as ONNX's matrix products: each input as (N, positions, features); the query, key and value
     * projections (MatMul and Add), split into heads by Reshape and Transpose; the query scaled by 1/sqrt(keyDim);
     * softmax(Q . K^T) . V per head; the heads joined and the output projection; the query's positions restored.
     */
    private Val attention(Layer layer, Config c, List<Val> in, Shape outShape) {
        String name = layer.name();
        int heads = c.integer("num_heads");
        int keyDim = c.integer("key_dim");
        int valueDim = c.integer("value_dim");
        boolean bias = c.bool("use_bias", true);
        Val query = in.get(0), value = in.get(1), key = in.size() == 3 ? in.get(2) : in.get(1);
        String q = heads(layer, "query", query, heads, keyDim, bias, 0, 2, 1, 3);
        String k = heads(layer, "key", key, heads, keyDim, bias, 0, 2, 3, 1);
        String v = heads(layer, "value", value, heads, valueDim, bias, 0, 2, 1, 3);
        q = node("Mul", List.of(q, scalar(name + "/scale", (float) (1 / Math.sqrt(keyDim)))), fresh(name + "_q_scaled"));
        String weights = node("Softmax", List.of(node("MatMul", List.of(q, k), fresh(name + "_scores"))),
                fresh(name + "_weights"), integer("axis", -1));
        String context = node("MatMul", List.of(weights, v), fresh(name + "_context"));
        int positions = query.shape().size() / query.shape().dim(query.shape().rank() - 1);
        context = node("Reshape", List.of(node("Transpose", List.of(context), fresh(name + "_context_rows"),
                ints("perm", 0, 2, 1, 3)), longs(name + "/context_shape", 0, positions, (long) heads * valueDim)),
                fresh(name + "_joined"));
        int out = outShape.dim(outShape.rank() - 1);
        String y = node("MatMul", List.of(context, initializer(name + "/attention_output/kernel",
                weight(layer, "attention_output/kernel"), (long) heads * valueDim, out)), fresh(name + "_output"));
        if (bias) {
            y = node("Add", List.of(y, initializer(name + "/attention_output/bias",
                    weight(layer, "attention_output/bias"), out)), fresh(name + "_output_bias"));
        }
        if (outShape.rank() != 2) {
            long[] dims = new long[outShape.rank() + 1];
            for (int i = 0; i < outShape.rank(); i++) {
                dims[i + 1] = outShape.dim(i);
            }
            y = node("Reshape", List.of(y, longs(name + "/output_shape", dims)), fresh(name));
        }
        return new Val(y, false, outShape);
    }

    /** One projection of x (as (N, positions, features)) into heads, transposed by perm. */
    private String heads(Layer layer, String projection, Val x, int heads, int dim, boolean bias, int... perm) {
        String name = layer.name() + "/" + projection;
        Shape s = x.shape();
        int features = s.dim(s.rank() - 1);
        int positions = s.size() / features;
        String rows = node("Reshape", List.of(nhwc(x).name(), longs(name + "/rows", 0, positions, features)),
                fresh(name + "_rows"));
        String y = node("MatMul", List.of(rows, initializer(name + "/kernel", weight(layer, projection + "/kernel"),
                features, (long) heads * dim)), fresh(name));
        if (bias) {
            y = node("Add", List.of(y, initializer(name + "/bias", weight(layer, projection + "/bias"),
                    (long) heads * dim)), fresh(name + "_bias"));
        }
        y = node("Reshape", List.of(y, longs(name + "/heads", 0, positions, heads, dim)), fresh(name + "_heads"));
        return node("Transpose", List.of(y), fresh(name + "_per_head"), ints("perm", perm));
    }

    private Val conv(Layer layer, Config c, Val x, Shape outShape, boolean depthwise) {
        String name = layer.name();
        int[] k = c.integers("kernel_size", 2);
        int[] s = c.integers("strides", 2);
        int[] d = c.integers("dilation_rate", 2);
        Padding padding = c.padding("padding");
        int[] ph = padding.pads(x.shape().dim(0), (k[0] - 1) * d[0] + 1, s[0]);
        int[] pw = padding.pads(x.shape().dim(1), (k[1] - 1) * d[1] + 1, s[1]);
        int channels = x.shape().dim(2);
        int filters = outShape.dim(2);
        int groups = depthwise ? channels : c.integer("groups", 1);
        int perGroup = channels / groups;
        float[] kernel = weight(layer, depthwise ? "depthwise_kernel" : "kernel"); // (kh, kw, cg, M) in both
        float[] w = new float[kernel.length];
        for (int o = 0; o < filters; o++) {
            for (int ci = 0; ci < perGroup; ci++) {
                for (int i = 0; i < k[0]; i++) {
                    for (int j = 0; j < k[1]; j++) {
                        w[((o * perGroup + ci) * k[0] + i) * k[1] + j] = kernel[((i * k[1] + j) * perGroup + ci) * filters + o];
                    }
                }
            }
        }
        List<String> inputs = new ArrayList<>(List.of(x.name(), initializer(name + "/W", w, filters, perGroup, k[0],
                k[1])));
        if (c.bool("use_bias", true)) {
            inputs.add(initializer(name + "/bias", weight(layer, "bias"), filters));
        }
        String y = node("Conv", inputs, fresh(name), ints("kernel_shape", k), ints("strides", s), ints("dilations", d),
                ints("pads", ph[0], pw[0], ph[1], pw[1]), integer("group", groups));
        return activation(new Val(y, true, outShape), c.activation("activation"), name);
    }

    private Val batchNorm(Layer layer, Config c, Val x, Shape outShape) {
        String name = layer.name();
        Val in = x.shape().rank() == 3 ? nchw(x) : x;
        if (in.shape().rank() != 1 && !in.nchw()) {
            throw new IllegalArgumentException("ONNX export: " + name + " normalizes a tensor of shape " + x.shape()
                    + "; ONNX BatchNormalization takes (N, C) or (N, C, H, W)");
        }
        int channels = outShape.dim(outShape.rank() - 1);
        String y = node("BatchNormalization", List.of(in.name(),
                initializer(name + "/gamma", weight(layer, "gamma"), channels),
                initializer(name + "/beta", weight(layer, "beta"), channels),
                initializer(name + "/moving_mean", weight(layer, "moving_mean"), channels),
                initializer(name + "/moving_variance", weight(layer, "moving_variance"), channels)), fresh(name),
                real("epsilon", (float) c.number("epsilon")), real("momentum", (float) c.number("momentum")));
        return new Val(y, in.nchw(), outShape);
    }

    private Val pool(Layer layer, Config c, Val x, Shape outShape) {
        int[] k = c.integers("pool_size", 2);
        int[] s = c.integers("strides", 2);
        int[] pads;
        if (c.raw("padding") instanceof List<?> p) {
            int[] rows = new Config(layer.name(), Map.of("p", p.get(0))).integers("p", 2);
            int[] cols = new Config(layer.name(), Map.of("p", p.get(1))).integers("p", 2);
            pads = new int[] {rows[0], cols[0], rows[1], cols[1]};
        } else {
            Padding padding = c.padding("padding");
            int[] ph = padding.pads(x.shape().dim(0), k[0], s[0]);
            int[] pw = padding.pads(x.shape().dim(1), k[1], s[1]);
            pads = new int[] {ph[0], pw[0], ph[1], pw[1]};
        }
        boolean max = layer.className().equals("MaxPooling2D");
        List<AttributeProto> attrs = new ArrayList<>(List.of(ints("kernel_shape", k), ints("strides", s),
                ints("pads", pads)));
        if (!max) {
            attrs.add(integer("count_include_pad", 0));
        }
        String y = node(max ? "MaxPool" : "AveragePool", List.of(x.name()), fresh(layer.name()),
                attrs.toArray(AttributeProto[]::new));
        return new Val(y, true, outShape);
    }

    private Val merge(String op, List<Val> in, String name, Shape outShape) {
        boolean nchw = in.get(0).nchw();
        List<String> names = in.stream().map(v -> (nchw ? nchw(v) : nhwc(v)).name()).toList();
        String y = names.get(0);
        for (int i = 1; i < names.size(); i++) {
            y = node(op, List.of(y, names.get(i)), fresh(name));
        }
        return new Val(y, nchw, outShape);
    }

    private Val concat(Config c, List<Val> in, String name, Shape outShape) {
        boolean nchw = in.stream().anyMatch(Val::nchw);
        List<String> names = in.stream().map(v -> (nchw ? nchw(v) : nhwc(v)).name()).toList();
        int rank = outShape.rank() + 1;
        int axis = c.integer("axis", -1);
        axis = axis < 0 ? axis + rank : axis;
        if (nchw) {
            axis = switch (axis) {
                case 1 -> 2;
                case 2 -> 3;
                default -> 1;
            };
        }
        return new Val(node("Concat", names, fresh(name), integer("axis", axis)), nchw, outShape);
    }

    /** The ops of an activation after x; the tensor itself for linear. */
    private Val activation(Val x, Activation a, String name) {
        String in = x.name();
        String y = switch (a.kind()) {
            case LINEAR -> in;
            case RELU -> relu(in, a, name);
            case SIGMOID -> node("Sigmoid", List.of(in), fresh(name + "_sigmoid"));
            case TANH -> node("Tanh", List.of(in), fresh(name + "_tanh"));
            case ELU -> node("Elu", List.of(in), fresh(name + "_elu"), real("alpha", a.alpha()));
            case HARD_SIGMOID -> node("HardSigmoid", List.of(in), fresh(name + "_hard_sigmoid"),
                    real("alpha", 1f / 6), real("beta", 0.5f));
            case HARD_SWISH -> node("HardSwish", List.of(in), fresh(name + "_hard_swish"));
            case SWISH -> node("Mul", List.of(in, node("Sigmoid", List.of(in), fresh(name + "_sigmoid"))),
                    fresh(name + "_swish"));
            case GELU -> { // x * 0.5 * (1 + erf(x / sqrt(2))), the exact form (opset 17 has no Gelu)
                String erf = node("Erf", List.of(node("Div", List.of(in, scalar(name + "/sqrt2", (float) Math.sqrt(2))),
                        fresh(name + "_scaled"))), fresh(name + "_erf"));
                String half = node("Mul", List.of(node("Add", List.of(erf, scalar(name + "/one", 1f)),
                        fresh(name + "_one_plus")), scalar(name + "/half", 0.5f)), fresh(name + "_half"));
                yield node("Mul", List.of(in, half), fresh(name + "_gelu"));
            }
            case SOFTMAX -> node("Softmax", List.of(in), fresh(name + "_softmax"),
                    integer("axis", x.nchw() ? 1 : -1));
        };
        return new Val(y, x.nchw(), x.shape());
    }

    private String relu(String in, Activation a, String name) {
        String y = a.alpha() == 0 ? node("Relu", List.of(in), fresh(name + "_relu"))
                : node("LeakyRelu", List.of(in), fresh(name + "_leaky_relu"), real("alpha", a.alpha()));
        if (a.maxValue() != Float.POSITIVE_INFINITY) {
            y = node("Clip", List.of(y, "", scalar(name + "/max_value", a.maxValue())), fresh(name + "_clip"));
        }
        return y;
    }
}
