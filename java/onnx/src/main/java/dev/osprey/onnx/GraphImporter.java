package dev.osprey.onnx;

import dev.osprey.Input;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.layers.Activation;
import dev.osprey.layers.Add;
import dev.osprey.layers.AveragePooling2D;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.GlobalMaxPooling2D;
import dev.osprey.layers.LayerNormalization;
import dev.osprey.layers.LeakyReLU;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.layers.Multiply;
import dev.osprey.layers.ReLU;
import dev.osprey.layers.Rescaling;
import dev.osprey.layers.Reshape;
import dev.osprey.layers.Softmax;
import dev.osprey.layers.ZeroPadding2D;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import onnx.Onnx.GraphProto;
import onnx.Onnx.NodeProto;
import onnx.Onnx.TensorProto;
import onnx.Onnx.TensorShapeProto;
import onnx.Onnx.ValueInfoProto;

/**
 * Maps an ONNX graph onto Osprey layers, node by node in the graph's (topological) order. Weights are converted
 * once, here, to Osprey's layouts: convolution kernels from (M, C/g, kH, kW) to (kH, kW, C/g, M), Dense kernels
 * from Gemm's (N, K) or MatMul's (K, N) to (K, N) with rows reordered where a flattened feature map feeds them.
 * Constant subgraphs (the shape arithmetic exporters emit) are evaluated here and never become layers.
 */
final class GraphImporter {
    private final GraphProto graph;
    private final int opset;
    private final Path modelDir;
    private final Map<String, TensorProto> boundInputs;

    private final Map<String, TensorData> constants = new HashMap<>();

    /** Whether a folded result holds an input's own array (Identity, Reshape, Squeeze...): it costs no new memory. */
    private static boolean sharesAnInputsValues(TensorData folded, List<TensorData> in) {
        for (TensorData t : in) {
            if (t != null && (folded.floats != null && folded.floats == t.floats
                    || folded.ints != null && folded.ints == t.ints)) {
                return true;
            }
        }
        return false;
    }
    /** Values made by folding ops on constants so far, held in constants: bounded as a file's weights are. */
    private long foldedValues;
    private final Map<String, Value> values = new HashMap<>();
    private final Map<String, ValueInfoProto> graphInputs = new LinkedHashMap<>();
    private final Map<String, Input> inputs = new HashMap<>();
    private final Map<String, Integer> uses = new HashMap<>();
    private final Map<String, NodeProto> producers = new HashMap<>();
    /** The nodes reading each value, each once, in graph order. */
    private final Map<String, List<NodeProto>> readers = new HashMap<>();
    private final Set<String> layerNames = new HashSet<>();
    /** The batch size graph inputs fix (0: dynamic): a Reshape target may name it instead of 0 or -1. */
    private long fixedBatch;
    /** Weights by path ("conv1/kernel"), in Osprey's layouts. */
    final Map<String, float[]> weights = new LinkedHashMap<>();
    /** MatMul nodes whose bias comes from the Add that alone consumes them: MatMul output name -> Add node. */
    private final Map<String, NodeProto> matMulBias = new HashMap<>();
    /** Nodes of an exact-GELU subgraph other than its last: imported as nothing (the last one is the GELU). */
    private final Set<NodeProto> geluParts = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    /** The last node of an exact-GELU subgraph -> the name of its input x. */
    private final Map<NodeProto, String> geluOutputs = new java.util.IdentityHashMap<>();
    /** Nodes of a layer normalization written out in ops, other than its last: imported as nothing. */
    private final Set<NodeProto> layerNormParts = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    /** The last node of a layer normalization written out in ops -> what it normalizes, and how. */
    private final Map<NodeProto, LayerNormMatch> layerNormEnds = new java.util.IdentityHashMap<>();
    /** Sigmoid outputs consumed only by a Mul with the Sigmoid's own input: imported as one swish. */
    private final Set<String> swishSigmoids = new HashSet<>();
    /** Nodes of a multi-head attention written out in ops, other than its last: imported as nothing. */
    private final Set<NodeProto> attentionParts = java.util.Collections.newSetFromMap(new java.util.IdentityHashMap<>());
    /**
     * Expand outputs that repeat a constant (1, ...) for every sample (the shape's first dim the batch): a class token
     * (a Concat's first input) or a position embedding (an Add's input), by value name.
     */
    private final Map<String, TensorData> perSampleConstants = new HashMap<>();
    /** Why the first Softmax over a product of two computed tensors was not read as attention, or null. */
    private String attentionMiss;

    /** Finds attention written out in ops, and splits PyTorch's packed projections once shapes are known. */
    private AttentionPattern attention;
    /** The last node of a multi-head attention written out in ops -> what it computes. */
    private final Map<NodeProto, AttentionPattern.Match> attentionEnds = new java.util.IdentityHashMap<>();

    /** Whether the graph's 4-D inputs are NHWC (a model Osprey exported says so in its metadata). */
    private final boolean nhwcInputs;

    /** Whether NCHW inputs stay NCHW at the model's edge (a Permute turns them NHWC inside the model). */
    private final boolean keepNchwInputs;

    GraphImporter(GraphProto graph, int opset, Path modelDir, Map<String, TensorProto> boundInputs,
                  boolean nhwcInputs, boolean keepNchwInputs) {
        this.nhwcInputs = nhwcInputs;
        this.keepNchwInputs = keepNchwInputs;
        this.graph = graph;
        this.opset = opset;
        this.modelDir = modelDir;
        this.boundInputs = boundInputs;
    }

    /** The model's inputs (in the graph's order) and outputs. */
    record Result(List<Input> inputs, List<SymbolicTensor> outputs, List<String> inputNames,
                  List<String> outputNames, List<Value> outputValues, Map<String, float[]> weights) { }

    Result run() throws OnnxImportException {
        for (TensorProto t : graph.getInitializerList()) {
            constants.put(t.getName(), TensorData.read(t, modelDir, "initializer '" + t.getName() + "'"));
        }
        for (ValueInfoProto v : graph.getInputList()) {
            if (constants.containsKey(v.getName())) {
                continue; // older exporters list initializers among the inputs
            }
            TensorProto bound = boundInputs.get(v.getName());
            if (bound != null) {
                constants.put(v.getName(), TensorData.read(bound, modelDir, "input '" + v.getName() + "'"));
            } else {
                graphInputs.put(v.getName(), v);
            }
        }
        if (graph.getSparseInitializerCount() > 0) {
            throw new OnnxImportException("the graph has sparse initializers, which Osprey does not read");
        }
        for (NodeProto n : graph.getNodeList()) {
            for (String in : n.getInputList()) {
                uses.merge(in, 1, Integer::sum);
                List<NodeProto> r = readers.computeIfAbsent(in, k -> new ArrayList<>());
                if (r.isEmpty() || r.get(r.size() - 1) != n) { // a node reading a value twice is listed once
                    r.add(n);
                }
            }
            for (String out : n.getOutputList()) {
                producers.put(out, n);
            }
        }
        for (ValueInfoProto o : graph.getOutputList()) {
            uses.merge(o.getName(), 1, Integer::sum);
        }
        findFusions();
        for (NodeProto n : graph.getNodeList()) {
            try {
                convert(new NodeView(n));
            } catch (OnnxImportException e) { // with the graph's other unmapped ops, where the refusal has not named them
                String others = e.getMessage().contains("which Osprey does not map either") ? ""
                        : othersUnmapped(n.getOpType());
                String why = attentionMiss == null ? "" : "; " + attentionMiss;
                if (others.isEmpty() && why.isEmpty()) {
                    throw e;
                }
                throw new OnnxImportException(e.getMessage() + others + why, e);
            }
        }
        List<SymbolicTensor> outs = new ArrayList<>();
        List<String> outNames = new ArrayList<>();
        List<Value> outValues = new ArrayList<>();
        for (ValueInfoProto o : graph.getOutputList()) {
            Value v = values.get(o.getName());
            if (v == null) {
                throw new OnnxImportException("graph output '" + o.getName() + "' is "
                        + (constants.containsKey(o.getName()) ? "a constant" : "not computed by any node")
                        + "; expected an output computed from the model's input");
            }
            if (v.flatOrderDiffers()) {
                throw new OnnxImportException("graph output '" + o.getName() + "' is a flattened feature map "
                        + Arrays.toString(v.chw()) + " (C, H, W); Osprey flattens feature maps channels-last, so its "
                        + "values would come in another order: not supported");
            }
            outs.add(v.tensor());
            outNames.add(o.getName());
            outValues.add(v);
        }
        List<Input> ins = new ArrayList<>();
        List<String> inNames = new ArrayList<>();
        for (String name : graphInputs.keySet()) {
            Input in = inputs.get(name);
            if (in != null) {
                ins.add(in);
                inNames.add(name);
            }
        }
        if (ins.isEmpty()) {
            throw new OnnxImportException("no graph input reaches an output; expected a model computed from its input");
        }
        return new Result(ins, outs, inNames, outNames, outValues, weights);
    }

    // ---- fusions found before conversion -----------------------------------------------------------------

    private void findFusions() {
        attention = new AttentionPattern(producers::get, v -> uses.getOrDefault(v, 0), this::constantData,
                this::consumers, opset, modelDir);
        for (NodeProto n : graph.getNodeList()) {
            if (n.getOpType().equals("Softmax")) {
                attention.forget();
                AttentionPattern.Match found = attention.find(n);
                AttentionPattern.Match m = found != null ? found : attention.findSequenceFirst(n);
                if (m != null && m.parts().stream().noneMatch(attentionParts::contains)) {
                    attentionParts.addAll(m.parts());
                    attentionEnds.put(m.last(), m);
                } else if (m == null && attentionMiss == null && productOfComputedTensors(n.getInput(0))) {
                    attentionMiss = "the Softmax '" + n.getName() + "' reads a product of two computed tensors, as "
                            + "attention's does, but was not read as attention: " + (attention.reason() != null
                            ? attention.reason() : "the ops around it differ from the forms Osprey reads (its own "
                            + "export, batch first; torch 1.13's nn.MultiheadAttention, sequence first with a packed "
                            + "in_proj)");
                }
            }
            if (n.getOpType().equals("Add") && n.getInputCount() == 2) {
                for (int i = 0; i < 2; i++) {
                    NodeProto p = producers.get(n.getInput(i));
                    String other = n.getInput(1 - i);
                    if (p != null && p.getOpType().equals("MatMul") && uses.getOrDefault(n.getInput(i), 0) == 1
                            && isConstantName(other) && p.getInputCount() == 2 && isConstantName(p.getInput(1))) {
                        matMulBias.put(n.getInput(i), n);
                        break;
                    }
                }
            }
            if (n.getOpType().equals("Erf") && n.getInputCount() == 1) {
                findGelu(n);
            }
            if (n.getOpType().equals("ReduceMean") && n.getInputCount() >= 1) {
                findLayerNorm(n);
            }
            if (n.getOpType().equals("Mul") && n.getInputCount() == 2) {
                for (int i = 0; i < 2; i++) {
                    NodeProto p = producers.get(n.getInput(i));
                    if (p != null && p.getOpType().equals("Sigmoid") && p.getInputCount() == 1
                            && p.getInput(0).equals(n.getInput(1 - i)) && uses.getOrDefault(n.getInput(i), 0) == 1) {
                        swishSigmoids.add(n.getInput(i));
                        break;
                    }
                }
            }
        }
        if (!attentionEnds.isEmpty()) {
            skipShapeArithmeticOfAttention();
        }
    }

    /** Whether value is a MatMul of two tensors the model computes (attention's scores are). */
    private boolean productOfComputedTensors(String value) {
        NodeProto p = producers.get(value);
        return p != null && p.getOpType().equals("MatMul") && p.getInputCount() == 2
                && !isConstantName(p.getInput(0)) && !isConstantName(p.getInput(1));
    }

    /**
     * Adds to the attention parts the nodes whose every output only attention parts read (the shape arithmetic
     * exporters write for the Reshapes and Slices inside, Shape nodes of values inside): imported as nothing, as what
     * they feed. The attentions' own inputs are kept, and so is everything a graph output or another node reads.
     */
    private void skipShapeArithmeticOfAttention() {
        Set<String> inputs = new HashSet<>();
        for (AttentionPattern.Match m : attentionEnds.values()) {
            if (m.packed() != null) {
                inputs.add(m.packed().input());
            } else {
                inputs.addAll(List.of(m.query().input(), m.key().input(), m.value().input()));
            }
        }
        Set<String> graphOutputs = new HashSet<>();
        graph.getOutputList().forEach(o -> graphOutputs.add(o.getName()));
        boolean grew = true;
        while (grew) {
            grew = false;
            for (NodeProto n : graph.getNodeList()) {
                if (attentionParts.contains(n) || attentionEnds.containsKey(n) || n.getOutputCount() == 0) {
                    continue;
                }
                boolean onlyFeedsParts = true;
                for (String out : n.getOutputList()) {
                    List<NodeProto> r = readers.getOrDefault(out, List.of());
                    if (inputs.contains(out) || graphOutputs.contains(out) || r.isEmpty()
                            || !r.stream().allMatch(attentionParts::contains)) {
                        onlyFeedsParts = false;
                        break;
                    }
                }
                if (onlyFeedsParts) {
                    attentionParts.add(n);
                    grew = true;
                }
            }
        }
    }

    /**
     * x * 0.5 * (1 + erf(x / sqrt 2)) as exporters write it (opset 17 has no Gelu): Div (or Mul by 1/sqrt 2), Erf,
     * Add 1, then Mul by 0.5 and Mul by x in either order. Each intermediate value must feed only the next node.
     */
    private void findGelu(NodeProto erf) {
        NodeProto div = producers.get(erf.getInput(0));
        if (div == null || uses.getOrDefault(erf.getInput(0), 0) != 1 || div.getInputCount() != 2) {
            return;
        }
        Float scale = constantScalar(div.getInput(1));
        boolean scaled = scale != null && ((div.getOpType().equals("Div") && Math.abs(scale - Math.sqrt(2)) < 1e-5)
                || (div.getOpType().equals("Mul") && Math.abs(scale - 1 / Math.sqrt(2)) < 1e-5));
        if (!scaled) {
            return;
        }
        String x = div.getInput(0);
        NodeProto add = soleConsumer(erf.getOutput(0), "Add");
        if (add == null || !isScalar(otherInput(add, erf.getOutput(0)), 1f)) {
            return;
        }
        NodeProto first = soleConsumer(add.getOutput(0), "Mul");
        if (first == null) {
            return;
        }
        String other = otherInput(first, add.getOutput(0));
        NodeProto last = soleConsumer(first.getOutput(0), "Mul");
        if (last == null) {
            return;
        }
        String lastOther = otherInput(last, first.getOutput(0));
        boolean halfThenX = isScalar(other, 0.5f) && x.equals(lastOther);
        boolean xThenHalf = x.equals(other) && isScalar(lastOther, 0.5f);
        if (halfThenX || xThenHalf) {
            geluParts.addAll(List.of(div, erf, add, first));
            geluOutputs.put(last, x);
        }
    }

    /**
     * A layer normalization over the input's last axis (x = the first mean's input); epsilon added to the variance;
     * gamma and beta the names of the constant scale and offset after it, or null where there is none.
     */
    private record LayerNormMatch(String x, long axis, float epsilon, String gamma, String beta) {
    }

    /**
     * (x - mean(x)) / sqrt(mean((x - mean(x))^2) + epsilon), then Mul by a constant and Add of a constant where they
     * follow, both means over one axis, as PyTorch writes LayerNorm before opset 17: ReduceMean, Sub, Pow 2 (or Mul by
     * itself), ReduceMean, Add epsilon, Sqrt, Div. Each intermediate value must feed only the pattern.
     */
    private void findLayerNorm(NodeProto mean) {
        String x = mean.getInput(0);
        long[] axes = reductionAxes(mean);
        NodeProto sub = soleConsumer(mean.getOutput(0), "Sub");
        if (axes == null || axes.length != 1 || keepsDims(mean) == 0 || sub == null || !sub.getInput(0).equals(x)
                || !sub.getInput(1).equals(mean.getOutput(0))) {
            return;
        }
        String centered = sub.getOutput(0);
        List<NodeProto> readers = consumers(centered);
        if (readers.size() != 2) {
            return;
        }
        NodeProto square = null, div = null;
        for (NodeProto r : readers) {
            boolean pow = r.getOpType().equals("Pow") && r.getInputCount() == 2 && r.getInput(0).equals(centered)
                    && isScalar(r.getInput(1), 2f);
            boolean self = r.getOpType().equals("Mul") && r.getInputCount() == 2 && r.getInput(0).equals(centered)
                    && r.getInput(1).equals(centered);
            if (pow || self) {
                square = r;
            } else if (r.getOpType().equals("Div") && r.getInputCount() == 2 && r.getInput(0).equals(centered)) {
                div = r;
            }
        }
        int squareReads = square != null && square.getOpType().equals("Mul") ? 2 : 1;
        if (square == null || div == null || uses.getOrDefault(centered, 0) != squareReads + 1) {
            return; // another reader, or a graph output
        }
        NodeProto variance = onlyConsumer(square.getOutput(0));
        if (variance == null || !variance.getOpType().equals("ReduceMean")
                || !Arrays.equals(reductionAxes(variance), axes) || keepsDims(variance) == 0) {
            return;
        }
        NodeProto plusEpsilon = soleConsumer(variance.getOutput(0), "Add");
        Float epsilon = plusEpsilon == null ? null : constantScalar(otherInput(plusEpsilon, variance.getOutput(0)));
        NodeProto sqrt = plusEpsilon == null ? null : onlyConsumer(plusEpsilon.getOutput(0));
        if (epsilon == null || !(epsilon > 0) || sqrt == null || !sqrt.getOpType().equals("Sqrt")
                || onlyConsumer(sqrt.getOutput(0)) != div || !div.getInput(1).equals(sqrt.getOutput(0))) {
            return;
        }
        NodeProto last = div;
        String gamma = null, beta = null;
        NodeProto scale = soleConsumer(last.getOutput(0), "Mul");
        if (scale != null && isConstantName(otherInput(scale, last.getOutput(0)))) {
            gamma = otherInput(scale, last.getOutput(0));
            last = scale;
        }
        NodeProto offset = soleConsumer(last.getOutput(0), "Add");
        if (offset != null && isConstantName(otherInput(offset, last.getOutput(0)))) {
            beta = otherInput(offset, last.getOutput(0));
            last = offset;
        }
        List<NodeProto> parts = new ArrayList<>(List.of(mean, sub, square, variance, plusEpsilon, sqrt, div));
        if (gamma != null) {
            parts.add(scale);
        }
        parts.remove(last);
        layerNormParts.addAll(parts);
        layerNormEnds.put(last, new LayerNormMatch(x, axes[0], epsilon, gamma, beta));
    }

    /** A ReduceMean's axes: the attribute, or (opset 18) a constant second input; null where neither is known. */
    private long[] reductionAxes(NodeProto reduce) {
        for (onnx.Onnx.AttributeProto a : reduce.getAttributeList()) {
            if (a.getName().equals("axes")) {
                return a.getIntsList().stream().mapToLong(Long::longValue).toArray();
            }
        }
        if (reduce.getInputCount() < 2 || !isConstantName(reduce.getInput(1))) {
            return null;
        }
        try {
            TensorData t = constants.get(reduce.getInput(1));
            if (t == null) {
                t = ConstantFolding.evaluate(new NodeView(producers.get(reduce.getInput(1))), List.of(), modelDir);
            }
            return t.asInts("axes");
        } catch (OnnxImportException | RuntimeException e) {
            return null;
        }
    }

    private static long keepsDims(NodeProto reduce) {
        for (onnx.Onnx.AttributeProto a : reduce.getAttributeList()) {
            if (a.getName().equals("keepdims")) {
                return a.getI();
            }
        }
        return 1;
    }

    /** The nodes that read value, each once. */
    private List<NodeProto> consumers(String value) {
        return readers.getOrDefault(value, List.of());
    }

    /** The one node that reads value, where it is a two-input op of this type; else null. */
    private NodeProto soleConsumer(String value, String op) {
        NodeProto n = onlyConsumer(value);
        return n != null && n.getOpType().equals(op) && n.getInputCount() == 2 ? n : null;
    }

    private static String otherInput(NodeProto n, String one) {
        return n.getInput(0).equals(one) ? n.getInput(1) : n.getInput(0);
    }

    private boolean isScalar(String name, float value) {
        Float v = constantScalar(name);
        return v != null && Math.abs(v - value) < 1e-6;
    }

    /**
     * A constant's data before conversion (an initializer, a bound input, a Constant node's or an Identity's of one),
     * or null.
     */
    private TensorData constantData(String name) {
        TensorData t = constants.get(name);
        NodeProto p = producers.get(name);
        if (t == null && p != null && p.getOpType().equals("Identity") && p.getInputCount() == 1) {
            return constantData(p.getInput(0)); // exporters name one initializer twice this way
        }
        if (t == null && p != null && p.getOpType().equals("Constant")) {
            try {
                t = ConstantFolding.evaluate(new NodeView(p), List.of(), modelDir);
            } catch (OnnxImportException | RuntimeException e) {
                return null;
            }
        }
        return t;
    }

    /** The value of a one-element constant (an initializer or a Constant node), or null. */
    private Float constantScalar(String name) {
        try {
            TensorData t = constants.get(name);
            NodeProto p = producers.get(name);
            if (t == null && p != null && p.getOpType().equals("Constant")) {
                t = ConstantFolding.evaluate(new NodeView(p), List.of(), modelDir);
            }
            return t != null && t.isScalarLike() ? t.asFloats()[0] : null;
        } catch (OnnxImportException e) {
            return null;
        }
    }

    /** Whether a name is a constant before conversion: an initializer, a bound input or a Constant node's output. */
    private boolean isConstantName(String name) {
        if (constants.containsKey(name)) {
            return true;
        }
        NodeProto p = producers.get(name);
        return p != null && (p.getOpType().equals("Constant")
                || p.getOpType().equals("Identity") && p.getInputCount() == 1 && isConstantName(p.getInput(0)));
    }

    // ---- dispatch ---------------------------------------------------------------------------------------

    private void convert(NodeView n) throws OnnxImportException {
        String domain = n.node.getDomain();
        if (!domain.isEmpty() && !domain.equals("ai.onnx")) {
            throw n.error("ops of domain '" + domain + "' are not supported; expected the default ONNX domain");
        }
        if (attentionParts.contains(n.node)) {
            return; // inside a multi-head attention written out in ops (or its shape arithmetic): imported at its end
        }
        if (ConstantFolding.handles(n.op) && allInputsConstant(n)) {
            List<TensorData> in = new ArrayList<>();
            for (int i = 0; i < n.inputCount(); i++) {
                in.add(n.input(i).isEmpty() ? null : constants.get(n.input(i)));
            }
            TensorData folded;
            try {
                folded = ConstantFolding.evaluate(n, in, modelDir);
            } catch (RuntimeException e) { // an overflow or a bad index in a file's arithmetic: the file's error
                OnnxImportException wrapped = n.error("cannot fold it on constants: " + e);
                wrapped.initCause(e);
                throw wrapped;
            }
            foldedValues += sharesAnInputsValues(folded, in) ? 0 : folded.size(); // Identity, Reshape: no new values
            long budget = dev.osprey.Limits.current().maxParameters();
            if (foldedValues > budget) {
                throw n.error("the constants folded so far hold " + foldedValues + " values; expected at most "
                        + budget + " (Limits.maxParameters)");
            }
            constants.put(n.output(0), folded);
            return;
        }
        if (n.op.equals("Shape")) {
            shapeOf(n);
            return;
        }
        if (geluParts.contains(n.node)) {
            return; // inside an exact GELU, imported at its last node
        }
        if (shuffleParts.contains(n.node)) {
            return; // inside a channel shuffle or a token reshape, imported at its first node
        }
        if (layerNormParts.contains(n.node)) {
            return; // inside a layer normalization written out in ops, imported at its last node
        }
        if (layerNormEnds.containsKey(n.node)) {
            LayerNormMatch m = layerNormEnds.get(n.node);
            layerNorm(n, values.get(m.x()), m.axis(), m.epsilon(), m.gamma(), m.beta());
            return;
        }
        if (attentionEnds.containsKey(n.node)) {
            attention(n, attentionEnds.get(n.node));
            return;
        }
        if (geluOutputs.containsKey(n.node)) {
            Value x = values.get(geluOutputs.get(n.node));
            if (x == null) {
                x = data(new NodeView(producers.get(n.input(0))), 0); // (never: x is computed before the GELU)
            }
            put(n, like(x, named(n, new Activation(dev.osprey.Activation.GELU)).apply(x.tensor())));
            return;
        }
        try {
            switch (n.op) {
                case "Conv" -> conv(n);
                case "BatchNormalization" -> batchNorm(n);
                case "LayerNormalization" -> layerNormalization(n);
                case "Relu" -> activation(n, new ReLU());
                case "LeakyRelu" -> leakyRelu(n);
                case "Sigmoid" -> sigmoid(n);
                case "Tanh" -> activation(n, new Activation(dev.osprey.Activation.TANH));
                case "Elu" -> elu(n);
                case "HardSigmoid" -> hardSigmoid(n);
                case "HardSwish" -> activation(n, new Activation(dev.osprey.Activation.HARD_SWISH));
                case "Clip" -> clip(n);
                case "Softmax" -> softmax(n);
                case "MaxPool", "AveragePool" -> pool(n);
                case "GlobalAveragePool" -> globalPool(n, new GlobalAveragePooling2D().keepDims(true));
                case "GlobalMaxPool" -> globalPool(n, new GlobalMaxPooling2D().keepDims(true));
                case "ReduceMean", "ReduceMax" -> spatialReduction(n);
                case "Gemm" -> gemm(n);
                case "MatMul" -> matMul(n);
                case "Add", "Sum" -> add(n);
                case "Mul" -> mul(n);
                case "Sub", "Div" -> subOrDiv(n);
                case "Concat" -> concat(n);
                case "Flatten" -> flatten(n);
                case "Reshape" -> reshape(n);
                case "Slice" -> slice(n);
                case "Split" -> split(n);
                case "Pad" -> pad(n);
                case "Dropout" -> dropout(n);
                case "Identity" -> identity(n);
                case "Transpose" -> transpose(n);
                case "Expand" -> expand(n);
                case "Gather" -> gather(n);
                case "ConvTranspose" -> throw n.error("ConvTranspose (transposed convolution) is not supported");
                default -> throw n.error("op " + n.op + " is not supported (Osprey maps the ops of image classifiers: "
                        + "Conv, BatchNormalization, pooling, Gemm/MatMul, activations, Add, Concat, Flatten, Reshape, "
                        + "Pad, Softmax, ...)");
            }
        } catch (IllegalArgumentException | IllegalStateException e) {
            throw n.error(e.getMessage());
        }
    }

    /** The ops this importer maps (constant arithmetic aside, which it folds where the inputs are constants). */
    private static final Set<String> MAPPED = Set.of("Conv", "BatchNormalization", "Relu", "LeakyRelu", "Sigmoid",
            "Tanh", "Elu", "HardSigmoid", "HardSwish", "Clip", "Softmax", "MaxPool", "AveragePool", "GlobalAveragePool",
            "GlobalMaxPool", "ReduceMean", "ReduceMax", "Gemm", "MatMul", "Add", "Sum", "Mul", "Sub", "Div", "Concat",
            "Flatten", "Reshape", "Pad", "Dropout", "Identity", "Transpose", "Shape", "Constant", "Erf", "Slice",
            "LayerNormalization", "Split", "Expand", "Gather");

    /**
     * The other op types of the graph that Osprey does not map, so that one refusal tells how far the model is from
     * importing (ShuffleNet's first refusal hid two more); empty where there are none.
     */
    private String othersUnmapped(String refused) {
        java.util.SortedSet<String> others = new java.util.TreeSet<>();
        for (NodeProto node : graph.getNodeList()) {
            String op = node.getOpType();
            if (!MAPPED.contains(op) && !op.equals(refused) && !ConstantFolding.handles(op)
                    && !layerNormParts.contains(node)) {
                others.add(op);
            }
        }
        return others.isEmpty() ? "" : "; the model also uses " + String.join(", ", others)
                + ", which Osprey does not map either";
    }

    private boolean allInputsConstant(NodeView n) {
        for (int i = 0; i < n.inputCount(); i++) {
            String in = n.input(i);
            if (!in.isEmpty() && !constants.containsKey(in)) {
                return false;
            }
        }
        return true;
    }

    // ---- operands ---------------------------------------------------------------------------------------

    /** Input i as a tensor computed by the model (creating the model input on first use). */
    private Value data(NodeView n, int i) throws OnnxImportException {
        String name = n.input(i);
        Value v = values.get(name);
        if (v != null) {
            return v;
        }
        ValueInfoProto info = graphInputs.get(name);
        if (info != null) {
            return newInput(info);
        }
        if (constants.containsKey(name)) {
            throw n.error("input " + i + " ('" + name + "') is a constant; expected a tensor computed from the "
                    + "model's input");
        }
        if (perSampleConstants.containsKey(name)) {
            throw n.error("input " + i + " ('" + name + "') is a constant expanded over the batch; Osprey imports one "
                    + "as a class token (the first input of a Concat over positions) or a position embedding (added "
                    + "to tokens of its shape)");
        }
        throw n.error("input " + i + " ('" + name + "') is not produced by any earlier node");
    }

    private Value newInput(ValueInfoProto info) throws OnnxImportException {
        String name = info.getName();
        if (!info.getType().hasTensorType()) {
            throw new OnnxImportException("graph input '" + name + "': expected a tensor, received "
                    + info.getType().getValueCase());
        }
        var tt = info.getType().getTensorType();
        if (tt.getElemType() != TensorProto.DataType.FLOAT_VALUE) {
            throw new OnnxImportException("graph input '" + name + "': expected float32, received "
                    + TensorData.typeName(tt.getElemType()));
        }
        if (!tt.hasShape() || tt.getShape().getDimCount() < 2) {
            throw new OnnxImportException("graph input '" + name + "': expected a shape of rank 2 or more (batch "
                    + "first), received " + (tt.hasShape() ? tt.getShape().getDimCount() : "no shape"));
        }
        TensorShapeProto s = tt.getShape();
        if (s.getDim(0).hasDimValue() && s.getDim(0).getDimValue() > 0) {
            fixedBatch = s.getDim(0).getDimValue();
        }
        int[] dims = new int[s.getDimCount() - 1];
        for (int d = 1; d < s.getDimCount(); d++) {
            TensorShapeProto.Dimension dim = s.getDim(d);
            if (!dim.hasDimValue() || dim.getDimValue() <= 0 || dim.getDimValue() > (1 << 24)) {
                throw new OnnxImportException("graph input '" + name + "': dimension " + d + " is "
                        + (dim.hasDimParam() ? "the symbol '" + dim.getDimParam() + "'" : dim.hasDimValue()
                        ? dim.getDimValue() : "unknown") + "; expected a fixed size for every axis but the batch "
                        + "(a dynamic image size cannot be resolved)");
            }
            dims[d - 1] = (int) dim.getDimValue();
        }
        Input in;
        Value v;
        if (dims.length == 3 && (nhwcInputs || onlyTransposedToNchw(name))) { // an NHWC input (as Osprey exports): Osprey's own
            in = Input.shape(dims);
            v = Value.plain(in);
        } else if (dims.length == 3 && keepNchwInputs) { // (C, H, W) at the edge, (H, W, C) inside
            in = Input.shape(dims);
            in.name(layerName(name));
            inputs.put(name, in);
            v = Value.channelsLast(new dev.osprey.layers.Permute(2, 3, 1).name(layerName(name + "_to_nhwc")).apply(in));
            values.put(name, v);
            return v;
        } else if (dims.length == 3) { // (C, H, W) -> Osprey's (H, W, C)
            in = Input.shape(dims[1], dims[2], dims[0]);
            v = Value.channelsLast(in);
        } else {
            in = Input.shape(dims);
            v = Value.plain(in);
        }
        in.name(layerName(name));
        inputs.put(name, in);
        values.put(name, v);
        return v;
    }

    /** Whether the value feeds Gemm or MatMul nodes only (as their A), whose weights can absorb its order. */
    private boolean onlyDenseConsumers(String name) {
        for (ValueInfoProto o : graph.getOutputList()) {
            if (o.getName().equals(name)) {
                return false;
            }
        }
        boolean any = false;
        for (NodeProto n : graph.getNodeList()) {
            for (int i = 0; i < n.getInputCount(); i++) {
                if (n.getInput(i).equals(name)) {
                    if (i != 0 || !(n.getOpType().equals("Gemm") || n.getOpType().equals("MatMul"))) {
                        return false;
                    }
                    any = true;
                }
            }
        }
        return any;
    }

    /** Whether every node taking this value is a Transpose from NHWC to NCHW (perm 0, 3, 1, 2). */
    private boolean onlyTransposedToNchw(String name) {
        boolean any = false;
        for (NodeProto n : graph.getNodeList()) {
            for (String in : n.getInputList()) {
                if (in.equals(name)) {
                    if (!n.getOpType().equals("Transpose") || !permIs(n, 0, 3, 1, 2)) {
                        return false;
                    }
                    any = true;
                }
            }
        }
        return any;
    }

    private static boolean permIs(NodeProto n, long... perm) {
        for (var a : n.getAttributeList()) {
            if (a.getName().equals("perm")) {
                return a.getIntsList().equals(java.util.Arrays.stream(perm).boxed().toList());
            }
        }
        return false;
    }

    /** Input i as a constant (an initializer, a Constant node's output or a bound graph input). */
    private TensorData constant(NodeView n, int i, String what) throws OnnxImportException {
        String name = n.input(i);
        TensorData t = constants.get(name);
        if (t != null) {
            return t;
        }
        throw n.error("input " + i + " (" + what + ", '" + name + "') is computed by the model; expected a constant "
                + "(an initializer)");
    }

    private TensorData optionalConstant(NodeView n, int i, String what) throws OnnxImportException {
        return n.input(i).isEmpty() ? null : constant(n, i, what);
    }

    private void put(NodeView n, Value v) {
        values.put(n.output(0), v);
    }

    /** A unique layer name from an ONNX name, in Osprey's alphabet. */
    private String layerName(String onnxName) {
        String base = onnxName.replaceAll("[^A-Za-z0-9_.\\-/]", "_").replaceAll("^/+", "");
        if (base.isEmpty()) {
            base = "onnx";
        }
        if (base.length() > 180) {
            base = base.substring(0, 180);
        }
        String name = base;
        for (int k = 2; !layerNames.add(name); k++) {
            name = base + "_" + k;
        }
        return name;
    }

    private <L extends Layer> L named(NodeView n, L layer) {
        String source = !n.node.getName().isEmpty() ? n.node.getName() : n.output(0);
        layer.name(layerName(source));
        return layer;
    }

    private static Value like(Value input, SymbolicTensor out) {
        return new Value(out, input.layout(), input.chw());
    }

    private Value requireFeatureMap(NodeView n, Value v) throws OnnxImportException {
        if (v.layout() != Value.Layout.CHANNELS_LAST) {
            throw n.error("expected a feature map (N, C, H, W), received a tensor of ONNX shape (N, "
                    + joinDims(v.onnxDims()) + ")");
        }
        return v;
    }

    private static String joinDims(int[] d) {
        StringBuilder b = new StringBuilder();
        for (int i = 0; i < d.length; i++) {
            b.append(i == 0 ? "" : ", ").append(d[i]);
        }
        return b.toString();
    }

    // ---- convolution and normalization ------------------------------------------------------------------

    private void conv(NodeView n) throws OnnxImportException {
        n.allowOnly("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides");
        Value x = requireFeatureMap(n, data(n, 0));
        TensorData w = constant(n, 1, "weights");
        TensorData b = optionalConstant(n, 2, "bias");
        if (w.rank() != 4) {
            throw n.error("expected 2-D convolution weights (M, C/group, kH, kW), received dims " + w.shapeString());
        }
        int filters = (int) w.dims[0];
        int perGroup = (int) w.dims[1];
        int kH = (int) w.dims[2];
        int kW = (int) w.dims[3];
        int group = n.smallInteger("group", 1);
        int channels = x.shape().dim(2);
        if (group < 1 || perGroup * group != channels || filters % group != 0) {
            throw n.error("expected weights (M, C/group, kH, kW) with C = " + channels + " input channels and group="
                    + group + ", received dims " + w.shapeString());
        }
        int[] kernel = n.integers("kernel_shape", new int[] {kH, kW});
        if (kernel.length != 2 || kernel[0] != kH || kernel[1] != kW) {
            throw n.unsupported("kernel_shape", Arrays.toString(kernel), "[" + kH + ", " + kW + "] (the weights')");
        }
        int[] strides = twoInts(n, "strides");
        int[] dilations = twoInts(n, "dilations");
        if (b != null && b.size() != filters) {
            throw n.error("expected a bias of " + filters + " values, received dims " + b.shapeString());
        }
        int[] pads = pads(n, x.shape().dim(0), x.shape().dim(1), new int[] {kH, kW}, strides, dilations);
        SymbolicTensor in = x.tensor();
        if (pads[0] + pads[1] + pads[2] + pads[3] > 0) {
            in = named(n, new ZeroPadding2D(pads[0], pads[1], pads[2], pads[3])).apply(in);
        }
        Layer layer;
        String kernelParam;
        float[] kernelValues;
        if (group > 1 && group == channels && perGroup == 1) {
            int multiplier = filters / channels;
            DepthwiseConv2D d = new DepthwiseConv2D(kH, kW).depthMultiplier(multiplier)
                    .strides(strides[0], strides[1]).dilationRate(dilations[0]).useBias(b != null);
            if (dilations[0] != dilations[1]) {
                throw n.unsupported("dilations", Arrays.toString(dilations), "equal dilations for a depthwise conv");
            }
            layer = named(n, d);
            kernelParam = "depthwise_kernel";
            kernelValues = convKernel(w.floats, filters, 1, kH, kW); // (kH, kW, 1, C*mult) == (kH, kW, C, mult)
        } else {
            layer = named(n, new Conv2D(filters, kH, kW, dev.osprey.Activation.LINEAR).strides(strides[0], strides[1])
                    .dilationRate(dilations[0], dilations[1]).groups(group).useBias(b != null));
            kernelParam = "kernel";
            kernelValues = convKernel(w.floats, filters, perGroup, kH, kW);
        }
        SymbolicTensor out = layer.apply(in);
        weights.put(layer.name() + "/" + kernelParam, kernelValues);
        if (b != null) {
            weights.put(layer.name() + "/bias", b.asFloats().clone());
        }
        put(n, Value.channelsLast(out));
    }

    /** (M, Cg, kH, kW) -> (kH, kW, Cg, M). */
    static float[] convKernel(float[] w, int m, int cg, int kh, int kw) {
        float[] out = new float[w.length];
        for (int o = 0; o < m; o++) {
            for (int c = 0; c < cg; c++) {
                for (int i = 0; i < kh; i++) {
                    for (int j = 0; j < kw; j++) {
                        out[((i * kw + j) * cg + c) * m + o] = w[((o * cg + c) * kh + i) * kw + j];
                    }
                }
            }
        }
        return out;
    }

    private int[] twoInts(NodeView n, String name) throws OnnxImportException {
        int[] v = n.integers(name, new int[] {1, 1});
        if (v.length != 2 || v[0] < 1 || v[1] < 1) {
            throw n.unsupported(name, Arrays.toString(v), "two values >= 1 (2-D)");
        }
        return v;
    }

    /** {top, bottom, left, right} from pads or auto_pad. */
    private int[] pads(NodeView n, int h, int w, int[] kernel, int[] strides, int[] dilations)
            throws OnnxImportException {
        String auto = n.string("auto_pad", "NOTSET");
        switch (auto) {
            case "NOTSET" -> {
                int[] p = n.integers("pads", new int[] {0, 0, 0, 0});
                if (p.length != 4) {
                    throw n.unsupported("pads", Arrays.toString(p), "4 values (2-D)");
                }
                for (int v : p) {
                    if (v < 0) {
                        throw n.unsupported("pads", Arrays.toString(p), "values >= 0");
                    }
                }
                return new int[] {p[0], p[2], p[1], p[3]}; // ONNX: [top, left, bottom, right]
            }
            case "VALID" -> {
                return new int[4];
            }
            case "SAME_UPPER", "SAME_LOWER" -> {
                int[] ph = same(h, kernel[0], strides[0], dilations[0], auto.equals("SAME_UPPER"));
                int[] pw = same(w, kernel[1], strides[1], dilations[1], auto.equals("SAME_UPPER"));
                return new int[] {ph[0], ph[1], pw[0], pw[1]};
            }
            default -> throw n.unsupported("auto_pad", auto, "NOTSET, VALID, SAME_UPPER or SAME_LOWER");
        }
    }

    private static int[] same(int in, int k, int s, int d, boolean upper) {
        int out = (in + s - 1) / s;
        int total = Math.max((out - 1) * s + (k - 1) * d + 1 - in, 0);
        int small = total / 2;
        return upper ? new int[] {small, total - small} : new int[] {total - small, small};
    }

    private void batchNorm(NodeView n) throws OnnxImportException {
        n.allowOnly("epsilon", "momentum", "training_mode", "spatial", "is_test", "consumed_inputs");
        if (n.integer("training_mode", 0) != 0) {
            throw n.unsupported("training_mode", 1, "0 (inference; Osprey trains BatchNorm itself)");
        }
        if (n.integer("spatial", 1) != 1) {
            throw n.unsupported("spatial", 0, "1");
        }
        if (n.node.getOutputCount() > 1 && n.node.getOutputList().subList(1, n.node.getOutputCount()).stream()
                .anyMatch(o -> !o.isEmpty() && uses.getOrDefault(o, 0) > 0)) {
            throw n.error("only the normalized output is supported; the graph uses the running statistics outputs");
        }
        Value x = data(n, 0);
        int channels = x.layout() == Value.Layout.CHANNELS_LAST ? x.shape().dim(2)
                : x.shape().rank() == 1 ? x.shape().dim(0) : -1;
        if (channels < 0 || x.flatOrderDiffers()) {
            throw n.error("expected an input (N, C) or (N, C, H, W), received ONNX shape (N, " + joinDims(x.onnxDims())
                    + ")");
        }
        float[][] p = new float[4][];
        String[] what = {"scale", "bias", "mean", "variance"};
        for (int i = 0; i < 4; i++) {
            TensorData t = constant(n, i + 1, what[i]);
            if (t.size() != channels) {
                throw n.error("expected " + what[i] + " of " + channels + " values, received dims " + t.shapeString());
            }
            p[i] = t.asFloats().clone();
        }
        float momentum = n.real("momentum", 0.9f);
        BatchNormalization bn = named(n, new BatchNormalization().epsilon(n.real("epsilon", 1e-5f))
                .momentum(momentum > 0 && momentum < 1 ? momentum : 0.99));
        SymbolicTensor out = bn.apply(x.tensor());
        weights.put(bn.name() + "/gamma", p[0]);
        weights.put(bn.name() + "/beta", p[1]);
        weights.put(bn.name() + "/moving_mean", p[2]);
        weights.put(bn.name() + "/moving_variance", p[3]);
        put(n, like(x, out));
    }

    // ---- activations ------------------------------------------------------------------------------------

    /** ONNX's LayerNormalization (opset 17): over the last axis only, its Mean and InvStdDev outputs unused. */
    private void layerNormalization(NodeView n) throws OnnxImportException {
        n.allowOnly("axis", "epsilon", "stash_type");
        for (int i = 1; i < n.node.getOutputCount(); i++) {
            if (!n.node.getOutput(i).isEmpty() && uses.getOrDefault(n.node.getOutput(i), 0) > 0) {
                throw n.error("expected only output Y to be used, received a use of output " + i
                        + " (the mean or inverse standard deviation), which Osprey does not compute apart");
            }
        }
        String beta = n.inputCount() > 2 && !n.input(2).isEmpty() ? n.input(2) : null;
        layerNorm(n, data(n, 0), n.integer("axis", -1), n.real("epsilon", 1e-5f), n.input(1), beta);
    }

    /**
     * A LayerNormalization layer for a normalization over axis of x, with the constants gamma and beta (names; null:
     * ones and zeros). Osprey normalizes its last axis, which is ONNX's for tensors in ONNX's own order (ConvNeXt
     * transposes its maps to (N, H, W, C) first); the last axis of an (N, C, H, W) map, its width, is refused.
     */
    private void layerNorm(NodeView n, Value x, long axis, float epsilon, String gamma, String beta)
            throws OnnxImportException {
        if (x == null) {
            throw n.error("expected the normalized tensor to be computed by an earlier node, received none");
        }
        int rank = x.onnxRank();
        if ((axis < 0 ? axis + rank : axis) != rank - 1) {
            throw n.error("expected a layer normalization over the last axis, received axis " + axis + " of ONNX shape "
                    + "(N, " + joinDims(x.onnxDims()) + ") (Osprey normalizes the last axis only)");
        }
        if (x.layout() == Value.Layout.CHANNELS_LAST || x.flatOrderDiffers()) {
            throw n.error("expected a layer normalization over channels (a tensor in ONNX's own order, such as a map "
                    + "transposed to (N, H, W, C)), received one over the width of a feature map (N, "
                    + joinDims(x.onnxDims()) + ")");
        }
        int width = x.shape().dim(x.shape().rank() - 1);
        LayerNormalization layer = named(n, new LayerNormalization().epsilon(epsilon));
        SymbolicTensor out = layer.apply(x.tensor());
        weights.put(layer.name() + "/gamma", perFeature(n, gamma, width, 1f, "scale"));
        weights.put(layer.name() + "/beta", perFeature(n, beta, width, 0f, "bias"));
        put(n, like(x, out));
    }

    /** A constant of one value per feature (or one for all), by name; fill where the name is null. */
    private float[] perFeature(NodeView n, String name, int width, float fill, String what)
            throws OnnxImportException {
        float[] out = new float[width];
        if (name == null) {
            Arrays.fill(out, fill);
            return out;
        }
        TensorData t = constants.get(name);
        if (t == null) {
            throw n.error("expected the " + what + " '" + name + "' to be a constant, received a computed tensor");
        }
        float[] v = t.asFloats();
        if (t.isScalarLike()) {
            Arrays.fill(out, v[0]);
        } else if (v.length == width && t.dims[t.rank() - 1] == width) {
            System.arraycopy(v, 0, out, 0, width);
        } else {
            throw n.error("expected a " + what + " of " + width + " values (one per feature), received dims "
                    + t.shapeString());
        }
        return out;
    }

    private void activation(NodeView n, Layer layer) throws OnnxImportException {
        n.allowOnly();
        Value x = data(n, 0);
        put(n, like(x, named(n, layer).apply(x.tensor())));
    }

    private void leakyRelu(NodeView n) throws OnnxImportException {
        n.allowOnly("alpha");
        float alpha = n.real("alpha", 0.01f);
        if (!(alpha >= 0)) {
            throw n.unsupported("alpha", alpha, "a slope >= 0");
        }
        Value x = data(n, 0);
        put(n, like(x, named(n, new LeakyReLU(alpha)).apply(x.tensor())));
    }

    private void sigmoid(NodeView n) throws OnnxImportException {
        n.allowOnly();
        if (swishSigmoids.contains(n.output(0))) {
            return; // the Mul after it imports x * sigmoid(x) as one swish
        }
        Value x = data(n, 0);
        put(n, like(x, named(n, new Activation(dev.osprey.Activation.SIGMOID)).apply(x.tensor())));
    }

    private void elu(NodeView n) throws OnnxImportException {
        n.allowOnly("alpha");
        float alpha = n.real("alpha", 1f);
        if (!(alpha >= 0)) {
            throw n.unsupported("alpha", alpha, "alpha >= 0");
        }
        Value x = data(n, 0);
        put(n, like(x, named(n, new Activation(dev.osprey.Activation.elu(alpha))).apply(x.tensor())));
    }

    private void hardSigmoid(NodeView n) throws OnnxImportException {
        n.allowOnly("alpha", "beta");
        float alpha = n.real("alpha", 0.2f);
        float beta = n.real("beta", 0.5f);
        Value x = data(n, 0);
        SymbolicTensor out;
        if (Math.abs(alpha - 1f / 6) < 1e-7 && beta == 0.5f) {
            out = named(n, new Activation(dev.osprey.Activation.HARD_SIGMOID)).apply(x.tensor());
        } else { // max(0, min(1, alpha * x + beta)) exactly: an affine map, then ReLU capped at 1
            SymbolicTensor scaled = named(n, new Rescaling(alpha, beta)).apply(x.tensor());
            out = named(n, new ReLU(1f, 0f)).apply(scaled);
        }
        put(n, like(x, out));
    }

    private void clip(NodeView n) throws OnnxImportException {
        float min;
        float max;
        if (opset < 11) {
            n.allowOnly("min", "max");
            min = n.real("min", Float.NEGATIVE_INFINITY);
            max = n.real("max", Float.POSITIVE_INFINITY);
        } else {
            n.allowOnly();
            TensorData lo = optionalConstant(n, 1, "min");
            TensorData hi = optionalConstant(n, 2, "max");
            if ((lo != null && !lo.isScalarLike()) || (hi != null && !hi.isScalarLike())) {
                throw n.error("expected scalar min and max, received dims " + (lo == null ? "-" : lo.shapeString())
                        + " and " + (hi == null ? "-" : hi.shapeString()));
            }
            min = lo == null ? Float.NEGATIVE_INFINITY : lo.asFloats()[0];
            max = hi == null ? Float.POSITIVE_INFINITY : hi.asFloats()[0];
        }
        Value x = data(n, 0);
        if (!(max > min)) {
            throw n.error("expected min < max, received min=" + min + ", max=" + max);
        }
        SymbolicTensor out;
        if (min == 0f) {
            out = named(n, new ReLU(Float.isInfinite(max) ? null : max, 0f)).apply(x.tensor());
        } else if (Float.isInfinite(min) && Float.isInfinite(max)) {
            out = x.tensor();
        } else if (Float.isFinite(min)) { // clip(x, a, b) = relu(x - a, cap b - a) + a
            SymbolicTensor shifted = named(n, new Rescaling(1, -min)).apply(x.tensor());
            SymbolicTensor capped = named(n, new ReLU(Float.isInfinite(max) ? null : max - min, 0f)).apply(shifted);
            out = named(n, new Rescaling(1, min)).apply(capped);
        } else { // only a max: min(x, b) = b - relu(b - x)
            SymbolicTensor flipped = named(n, new Rescaling(-1, max)).apply(x.tensor());
            SymbolicTensor r = named(n, new ReLU()).apply(flipped);
            out = named(n, new Rescaling(-1, max)).apply(r);
        }
        put(n, like(x, out));
    }

    private void softmax(NodeView n) throws OnnxImportException {
        n.allowOnly("axis");
        Value x = data(n, 0);
        int rank = x.onnxRank();
        int axis = n.smallInteger("axis", opset < 13 ? 1 : -1);
        if (axis < 0) {
            axis += rank;
        }
        boolean last = x.layout() == Value.Layout.CHANNELS_LAST ? axis == 1 : axis == rank - 1;
        if (!last || x.flatOrderDiffers()) {
            throw n.unsupported("axis", n.smallInteger("axis", opset < 13 ? 1 : -1), "the channel (last) axis of a "
                    + "tensor of rank " + rank);
        }
        put(n, like(x, named(n, new Softmax()).apply(x.tensor())));
    }

    // ---- pooling ----------------------------------------------------------------------------------------

    private void pool(NodeView n) throws OnnxImportException {
        boolean max = n.op.equals("MaxPool");
        if (max) {
            n.allowOnly("auto_pad", "ceil_mode", "dilations", "kernel_shape", "pads", "storage_order", "strides");
            if (n.node.getOutputCount() > 1 && !n.output(1).isEmpty()) {
                throw n.error("the indices output is not supported");
            }
            if (n.integer("storage_order", 0) != 0) {
                throw n.unsupported("storage_order", 1, "0");
            }
        } else {
            n.allowOnly("auto_pad", "ceil_mode", "count_include_pad", "dilations", "kernel_shape", "pads", "strides");
        }
        Value x = requireFeatureMap(n, data(n, 0));
        int[] kernel = n.integers("kernel_shape", null);
        if (kernel == null || kernel.length != 2 || kernel[0] < 1 || kernel[1] < 1) {
            throw n.unsupported("kernel_shape", kernel == null ? "absent" : Arrays.toString(kernel), "2 sizes >= 1");
        }
        int[] strides = twoInts(n, "strides");
        int[] dilations = twoInts(n, "dilations");
        if (dilations[0] != 1 || dilations[1] != 1) {
            throw n.unsupported("dilations", Arrays.toString(dilations), "[1, 1]");
        }
        int h = x.shape().dim(0);
        int w = x.shape().dim(1);
        int[] pads = pads(n, h, w, kernel, strides, dilations);
        // ceil_mode: the windows that a floor division leaves out at the bottom and right run over padding that the
        // pooling never counts (PyTorch's rule: no window starts beyond the input and its leading padding)
        int extraH = n.integer("ceil_mode", 0) != 0 ? ceilPadding(h, pads[0], pads[1], kernel[0], strides[0]) : 0;
        int extraW = n.integer("ceil_mode", 0) != 0 ? ceilPadding(w, pads[2], pads[3], kernel[1], strides[1]) : 0;
        SymbolicTensor in = x.tensor();
        boolean padded = pads[0] + pads[1] + pads[2] + pads[3] + extraH + extraW > 0;
        SymbolicTensor out;
        if (max) {
            MaxPooling2D p = new MaxPooling2D(kernel[0], kernel[1]).strides(strides[0], strides[1]);
            out = named(n, padded ? p.padding(pads[0], pads[1] + extraH, pads[2], pads[3] + extraW) : p).apply(in);
        } else if (pads[0] + pads[1] + pads[2] + pads[3] > 0 && n.integer("count_include_pad", 0) != 0) {
            // zeros counted: pad with zeros, then average (a ceil_mode window's overhang still not counted)
            in = named(n, new ZeroPadding2D(pads[0], pads[1], pads[2], pads[3])).apply(in);
            AveragePooling2D p = new AveragePooling2D(kernel[0], kernel[1]).strides(strides[0], strides[1]);
            out = named(n, extraH + extraW > 0 ? p.padding(0, extraH, 0, extraW) : p).apply(in);
        } else {
            AveragePooling2D p = new AveragePooling2D(kernel[0], kernel[1]).strides(strides[0], strides[1]);
            out = named(n, padded ? p.padding(pads[0], pads[1] + extraH, pads[2], pads[3] + extraW) : p).apply(in);
        }
        put(n, Value.channelsLast(out));
    }

    /**
     * The padding ceil_mode adds after an axis: its output is ceil((in + padded - kernel) / stride) + 1 windows, less
     * one where the last would start beyond the input and its leading padding, as PyTorch and ONNX Runtime count.
     */
    static int ceilPadding(int in, int before, int after, int kernel, int stride) {
        int span = in + before + after - kernel;
        if (span < 0) {
            return 0; // no window fits: the pooling refuses the shape itself
        }
        int out = -Math.floorDiv(-span, stride) + 1;
        if ((long) (out - 1) * stride >= in + before) {
            out--;
        }
        return Math.max(0, (out - 1) * stride + kernel - (in + before + after));
    }

    private void globalPool(NodeView n, Layer keepingDims) throws OnnxImportException {
        n.allowOnly();
        Value x = requireFeatureMap(n, data(n, 0));
        put(n, Value.channelsLast(named(n, keepingDims).apply(x.tensor())));
    }

    /**
     * ReduceMean or ReduceMax over a feature map's height and width (PyTorch's x.mean((2, 3)), MNASNet's and
     * ShuffleNet's global pooling) as a global pooling, keeping the axes or not. Any other axes are refused, naming them.
     */
    private void spatialReduction(NodeView n) throws OnnxImportException {
        n.allowOnly("axes", "keepdims", "noop_with_empty_axes");
        Value x = data(n, 0);
        int[] axes = n.integers("axes", null);
        if (axes == null && n.inputCount() > 1 && !n.input(1).isEmpty()) { // opset 18: the axes as an input
            axes = java.util.Arrays.stream(constant(n, 1, "axes").asInts(n.label + " axes"))
                    .mapToInt(a -> (int) Math.max(-64, Math.min(64, a))).toArray(); // beyond any rank: refused below
        }
        if ((axes == null || axes.length == 0) && n.integer("noop_with_empty_axes", 0) != 0) {
            put(n, x); // no axes, and told that means none: the identity
            return;
        }
        int rank = x.onnxRank();
        java.util.SortedSet<Integer> normalized = new java.util.TreeSet<>();
        for (int a : axes == null ? new int[0] : axes) {
            normalized.add(a < 0 ? a + rank : a);
        }
        if (x.layout() != Value.Layout.CHANNELS_LAST || !normalized.equals(java.util.Set.of(2, 3))) {
            throw n.error("expected a reduction over the height and width of a feature map (N, C, H, W), axes [2, 3], "
                    + "which is a global pooling; received axes " + (axes == null ? "absent (every axis)"
                    : Arrays.toString(axes)) + " of ONNX shape (N, " + joinDims(x.onnxDims()) + ")"
                    + (n.op.equals("ReduceMean") && normalized.equals(java.util.Set.of(rank - 1))
                    ? " (a mean over the last axis, as a LayerNormalization computes, is not supported)" : ""));
        }
        boolean keep = n.integer("keepdims", 1) != 0;
        Layer pool = n.op.equals("ReduceMean") ? new GlobalAveragePooling2D().keepDims(keep)
                : new GlobalMaxPooling2D().keepDims(keep);
        SymbolicTensor out = named(n, pool).apply(x.tensor());
        put(n, keep ? Value.channelsLast(out) : Value.plain(out));
    }

    // ---- dense ------------------------------------------------------------------------------------------

    private void gemm(NodeView n) throws OnnxImportException {
        n.allowOnly("alpha", "beta", "transA", "transB", "broadcast");
        if (n.integer("transA", 0) != 0) {
            throw n.unsupported("transA", 1, "0 (the batch along the rows of A)");
        }
        Value a = flatInput(n, data(n, 0));
        TensorData b = constant(n, 1, "B");
        TensorData c = optionalConstant(n, 2, "C");
        if (b.rank() != 2) {
            throw n.error("expected B of rank 2, received dims " + b.shapeString());
        }
        boolean transB = n.integer("transB", 0) != 0;
        int k = (int) (transB ? b.dims[1] : b.dims[0]);
        int units = (int) (transB ? b.dims[0] : b.dims[1]);
        float alpha = n.real("alpha", 1f);
        float beta = n.real("beta", 1f);
        float[] bias = new float[units];
        if (c != null) {
            float[] cv = c.asFloats();
            boolean perUnit = c.size() == units && (c.rank() == 1 || (c.rank() == 2 && c.dims[0] == 1));
            if (!perUnit && !c.isScalarLike()) {
                throw n.error("expected C of shape (" + units + "), (1, " + units + ") or a scalar, received dims "
                        + c.shapeString() + " (a bias per batch row is not supported)");
            }
            for (int j = 0; j < units; j++) {
                bias[j] = beta * (perUnit ? cv[j] : cv[0]);
            }
        }
        dense(n, a, b.floats != null ? b.floats : b.asFloats(), k, units, transB, alpha, bias);
    }

    private void matMul(NodeView n) throws OnnxImportException {
        n.allowOnly();
        Value a = data(n, 0);
        if (a.shape().rank() == 1 || a.layout() != Value.Layout.PLAIN) {
            a = flatInput(n, a);
        } // else a tensor in ONNX's own order, (N, ..., K): a Dense layer on its last axis, as MatMul broadcasts
        TensorData b = constant(n, 1, "B");
        if (b.rank() != 2) {
            throw n.error("expected B of rank 2, received dims " + b.shapeString());
        }
        int units = (int) b.dims[1];
        float[] bias = new float[units];
        NodeProto add = matMulBias.get(n.output(0));
        String output = n.output(0);
        if (add != null) {
            String biasName = add.getInput(0).equals(output) ? add.getInput(1) : add.getInput(0);
            TensorData c = constants.get(biasName);
            if (c == null || !(c.size() == units || c.isScalarLike()) || c.rank() > 2
                    || (c.rank() == 2 && c.dims[0] != 1)) {
                add = null; // not a bias: the Add node maps on its own
            } else {
                float[] cv = c.asFloats();
                for (int j = 0; j < units; j++) {
                    bias[j] = c.isScalarLike() ? cv[0] : cv[j];
                }
            }
        }
        dense(n, a, b.asFloats(), (int) b.dims[0], units, false, 1f, bias);
        if (add != null) {
            values.put(add.getOutput(0), values.get(output));
            skippedAdds.add(add);
        }
    }

    private final Set<NodeProto> skippedAdds = new HashSet<>();

    /** A (N, K) input for a Dense layer: a vector, or a flattened feature map whose order the kernel absorbs. */
    private Value flatInput(NodeView n, Value a) throws OnnxImportException {
        if (a.shape().rank() != 1) {
            throw n.error("expected an input of ONNX shape (N, K), received (N, " + joinDims(a.onnxDims()) + ")");
        }
        return a;
    }

    private void dense(NodeView n, Value a, float[] b, int k, int units, boolean transB, float alpha, float[] bias)
            throws OnnxImportException {
        int features = a.shape().dim(a.shape().rank() - 1);
        if (features != k) {
            throw n.error("expected B with " + features + " rows (the input's features), received " + k);
        }
        float[] kernel = new float[k * units];
        int[] chw = a.flatOrderDiffers() ? a.chw() : null;
        for (int row = 0; row < k; row++) {
            int onnxRow = row;
            if (chw != null) { // Osprey's row (h, w, c) holds ONNX's row (c, h, w)
                int c = row % chw[0];
                int hw = row / chw[0];
                onnxRow = c * chw[1] * chw[2] + hw;
            }
            for (int j = 0; j < units; j++) {
                float v = transB ? b[j * k + onnxRow] : b[onnxRow * units + j];
                kernel[row * units + j] = alpha == 1f ? v : alpha * v;
            }
        }
        Dense d = named(n, new Dense(units));
        SymbolicTensor out = d.apply(a.tensor());
        weights.put(d.name() + "/kernel", kernel);
        weights.put(d.name() + "/bias", bias);
        put(n, Value.plain(out));
    }

    // ---- attention --------------------------------------------------------------------------------------

    /** A multi-head attention found in ops ({@link AttentionPattern}) as one MultiHeadAttention layer. */
    private void attention(NodeView n, AttentionPattern.Match found) throws OnnxImportException {
        AttentionPattern.Match m = found;
        if (found.packed() != null) { // PyTorch's in_proj: split once the input's positions are known
            Value x = values.get(found.packed().input());
            if (x == null || x.layout() != Value.Layout.PLAIN || x.shape().rank() != 2) {
                throw n.error("expected the input of a packed attention ('" + found.packed().input() + "') to be "
                        + "tokens (N, T, E), received " + (x == null ? "no computed tensor"
                        : "ONNX shape (N, " + joinDims(x.onnxDims()) + ")"));
            }
            m = attention.resolve(found, x.shape().dim(0), fixedBatch);
        }
        Value query = projectionInput(n, "query", m.query());
        Value value = projectionInput(n, "value", m.value());
        Value key = m.key().input().equals(m.value().input()) ? null : projectionInput(n, "key", m.key());
        boolean bias = m.query().bias() != null || m.key().bias() != null || m.value().bias() != null
                || m.outputBias() != null;
        dev.osprey.layers.MultiHeadAttention layer = named(n, new dev.osprey.layers.MultiHeadAttention(
                m.query().heads(), m.query().dim()).valueDim(m.value().dim()).outputShape(m.outputFeatures())
                .useBias(bias));
        SymbolicTensor out = key == null ? layer.apply(query.tensor(), value.tensor())
                : layer.apply(query.tensor(), value.tensor(), key.tensor());
        for (var p : List.of(Map.entry("query", m.query()), Map.entry("key", m.key()), Map.entry("value", m.value()))) {
            weights.put(layer.name() + "/" + p.getKey() + "/kernel", p.getValue().kernel());
            if (bias) {
                float[] b = p.getValue().bias();
                weights.put(layer.name() + "/" + p.getKey() + "/bias",
                        b != null ? b : new float[p.getValue().heads() * p.getValue().dim()]);
            }
        }
        weights.put(layer.name() + "/attention_output/kernel", m.outputKernel());
        if (bias) {
            weights.put(layer.name() + "/attention_output/bias",
                    m.outputBias() != null ? m.outputBias() : new float[m.outputFeatures()]);
        }
        int[] dims = Arrays.stream(m.outputDims()).mapToInt(Math::toIntExact).toArray();
        if (!out.shape().equals(Shape.of(dims))) { // the query's positions as the ONNX graph shapes them
            out = named(n, new Reshape(dims)).apply(out);
        }
        put(n, Value.plain(out));
    }

    /** The input of one of attention's projections: a tensor in ONNX's own order, (N, positions..., features). */
    private Value projectionInput(NodeView n, String which, AttentionPattern.Projection p)
            throws OnnxImportException {
        Value v = values.get(p.input());
        if (v == null && graphInputs.containsKey(p.input())) {
            v = newInput(graphInputs.get(p.input()));
        }
        if (v == null) {
            throw n.error("attention's " + which + " ('" + p.input() + "') is not computed by an earlier node");
        }
        Shape s = v.shape();
        if (v.layout() != Value.Layout.PLAIN || s.rank() < 2 || s.dim(s.rank() - 1) != p.features()
                || s.size() / p.features() != p.positions()) {
            throw n.error("expected attention's " + which + " of ONNX shape (N, " + p.positions() + ", "
                    + p.features() + ") in ONNX's own order, received (N, " + joinDims(v.onnxDims()) + ")"
                    + (v.layout() == Value.Layout.PLAIN ? "" : " held as a feature map"));
        }
        return v;
    }

    // ---- element-wise merges ----------------------------------------------------------------------------

    private void add(NodeView n) throws OnnxImportException {
        n.allowOnly();
        if (skippedAdds.contains(n.node)) {
            return; // the bias of the MatMul before it
        }
        if (n.op.equals("Add") && n.inputCount() == 2) {
            for (int i = 0; i < 2; i++) {
                TensorData c = constants.get(n.input(i));
                if (c != null && c.isScalarLike()) {
                    Value x = data(n, 1 - i);
                    put(n, like(x, named(n, new Rescaling(1, c.asFloats()[0])).apply(x.tensor())));
                    return;
                }
                if (c != null && perChannel(data(n, 1 - i), c)) { // a bias per channel: a depthwise 1x1 convolution
                    Value x = data(n, 1 - i);                      // with unit weights and that bias
                    DepthwiseConv2D bias = named(n, new DepthwiseConv2D(1));
                    SymbolicTensor out = bias.apply(x.tensor());
                    float[] ones = new float[c.size()];
                    Arrays.fill(ones, 1f);
                    weights.put(bias.name() + "/depthwise_kernel", ones);
                    weights.put(bias.name() + "/bias", c.asFloats().clone());
                    put(n, like(x, out));
                    return;
                }
            }
        }
        if (n.op.equals("Add") && n.inputCount() == 2 && positionEmbedding(n)) {
            return;
        }
        merge(n, new Add());
    }

    /**
     * Tokens (N, T, C) plus a constant (1, T, C) or (T, C), or plus an Expand of one over the batch: a learned position
     * embedding (ViT's), imported as PositionEmbedding(T) and Add. False where the Add is not one.
     */
    private boolean positionEmbedding(NodeView n) throws OnnxImportException {
        for (int i = 0; i < 2; i++) {
            TensorData c = constants.containsKey(n.input(i)) ? constants.get(n.input(i))
                    : perSampleConstants.get(n.input(i));
            Value x = c == null ? null : values.get(n.input(1 - i));
            if (x == null || x.layout() != Value.Layout.PLAIN || x.shape().rank() != 2) {
                continue;
            }
            long[] d = c.dims;
            int t = x.shape().dim(0), f = x.shape().dim(1);
            boolean matches = (d.length == 3 && d[0] == 1 && d[1] == t && d[2] == f)
                    || (d.length == 2 && d[0] == t && d[1] == f);
            if (matches) {
                dev.osprey.layers.PositionEmbedding embedding = named(n, new dev.osprey.layers.PositionEmbedding(t));
                weights.put(embedding.name() + "/embeddings", c.asFloats().clone());
                SymbolicTensor sum = named(n, new Add()).apply(x.tensor(), embedding.apply(x.tensor()));
                put(n, Value.plain(sum));
                return true;
            }
        }
        return false;
    }

    /** Expand of a constant (1, ...) to (batch, ...): kept for the Concat (class token) or Add that reads it. */
    private void expand(NodeView n) throws OnnxImportException {
        n.allowOnly();
        TensorData data = constants.get(n.input(0));
        TensorData shape = constants.get(n.input(1));
        long[] to = shape == null ? null : shape.asInts(n.label + " shape");
        boolean perSample = data != null && to != null && data.rank() == to.length && data.rank() >= 2
                && data.dims[0] == 1 && (to[0] == TensorData.BATCH || to[0] == fixedBatch && fixedBatch > 0)
                && broadcastsTo(data.dims, to);
        if (!perSample) {
            throw n.error("expected an Expand of a constant (1, ...) to (batch, ...) (a class token or a position "
                    + "embedding), received " + (data == null ? "a tensor the model computes" : "a constant of dims "
                    + data.shapeString()) + " expanded to " + (to == null ? "a computed shape" : Arrays.toString(to)));
        }
        perSampleConstants.put(n.output(0), data);
    }

    /** Whether Expand keeps every dim after the first: each target dim the data's or 1 (numpy broadcasting). */
    private static boolean broadcastsTo(long[] data, long[] to) {
        for (int i = 1; i < data.length; i++) {
            if (to[i] != data[i] && to[i] != 1) {
                return false;
            }
        }
        return true;
    }

    /**
     * Gather of one position of tokens (N, T, C) at a constant index (ViT's class token, x[:, 0]): a Cropping1D that
     * keeps it, flattened where the index is a scalar.
     */
    private void gather(NodeView n) throws OnnxImportException {
        n.allowOnly("axis");
        Value x = data(n, 0);
        TensorData index = constant(n, 1, "indices");
        int axis = n.smallInteger("axis", 0);
        axis = axis < 0 ? axis + x.onnxRank() : axis;
        if (x.layout() != Value.Layout.PLAIN || x.shape().rank() != 2 || axis != 1 || index.size() != 1
                || index.rank() > 1) {
            throw n.error("expected a Gather of one position (axis 1, one index) of tokens (N, T, C), received axis "
                    + axis + ", indices of dims " + index.shapeString() + ", data of ONNX shape (N, "
                    + joinDims(x.onnxDims()) + ")");
        }
        int t = x.shape().dim(0);
        long i = index.asInts(n.label + " indices")[0];
        i = i < 0 ? i + t : i;
        if (i < 0 || i >= t) {
            throw n.error("expected an index within the " + t + " positions, received " + index.asInts("index")[0]);
        }
        SymbolicTensor kept = named(n, new dev.osprey.layers.Cropping1D((int) i, (int) (t - 1 - i))).apply(x.tensor());
        put(n, Value.plain(index.rank() == 0 ? named(n, new Flatten()).apply(kept) : kept));
    }

    private void mul(NodeView n) throws OnnxImportException {
        n.allowOnly();
        if (n.inputCount() != 2) {
            throw n.error("expected 2 inputs, received " + n.inputCount());
        }
        for (int i = 0; i < 2; i++) {
            if (swishSigmoids.contains(n.input(i))) {
                Value x = data(n, 1 - i);
                put(n, like(x, named(n, new Activation(dev.osprey.Activation.SWISH)).apply(x.tensor())));
                return;
            }
            TensorData c = constants.get(n.input(i));
            if (c != null && c.isScalarLike()) {
                Value x = data(n, 1 - i);
                put(n, like(x, named(n, new Rescaling(c.asFloats()[0])).apply(x.tensor())));
                return;
            }
            if (c != null) {
                Value x = data(n, 1 - i);
                if (perChannel(x, c)) { // ConvNeXt's layer scale: a depthwise 1x1 convolution, trainable as it was
                    DepthwiseConv2D scale = named(n, new DepthwiseConv2D(1).useBias(false));
                    SymbolicTensor out = scale.apply(x.tensor());
                    weights.put(scale.name() + "/depthwise_kernel", c.asFloats().clone()); // (1, 1, C, 1)
                    put(n, like(x, out));
                    return;
                }
                throw n.error("expected a constant factor that is a scalar or one value per channel of the feature map "
                        + "(N, " + joinDims(x.onnxDims()) + "), received dims " + c.shapeString());
            }
        }
        merge(n, new Multiply());
    }

    /**
     * Whether constant c holds one factor per channel of feature map x, broadcast as ONNX does: (C, 1, 1) or
     * (1, C, 1, 1) beside an (N, C, H, W) map; (C), (1, C) ... beside a map in ONNX's own order, (N, H, W, C).
     */
    private static boolean perChannel(Value x, TensorData c) {
        if (x.shape().rank() != 3 || x.flatOrderDiffers() || c.rank() > x.onnxRank()) {
            return false;
        }
        int channels = x.shape().dim(2);
        int channelAxis = x.layout() == Value.Layout.CHANNELS_LAST ? 1 : 3; // in ONNX's dims, with the batch
        int offset = x.onnxRank() - c.rank(); // c's dims align with the trailing ones
        for (int i = 0; i < c.rank(); i++) {
            long expected = i + offset == channelAxis ? channels : 1;
            if (c.dims[i] != expected) {
                return false;
            }
        }
        return channelAxis >= offset && c.size() == channels;
    }

    private void subOrDiv(NodeView n) throws OnnxImportException {
        n.allowOnly();
        TensorData c = n.inputCount() == 2 ? constants.get(n.input(1)) : null;
        if (c == null || !c.isScalarLike()) {
            throw n.error("expected a tensor and a scalar constant second, received "
                    + (c == null ? "a computed second input" : "a constant of dims " + c.shapeString())
                    + " (Osprey maps " + n.op + " by a scalar)");
        }
        float v = c.asFloats()[0];
        if (n.op.equals("Div") && v == 0f) {
            throw n.error("division by the constant 0");
        }
        Value x = data(n, 0);
        Rescaling r = n.op.equals("Sub") ? new Rescaling(1, -v) : new Rescaling(1.0 / v);
        put(n, like(x, named(n, r).apply(x.tensor())));
    }

    private void merge(NodeView n, Layer layer) throws OnnxImportException {
        if (n.inputCount() < 2) {
            if (n.inputCount() == 1) {
                put(n, data(n, 0));
                return;
            }
            throw n.error("expected inputs, received none");
        }
        List<Value> in = new ArrayList<>();
        for (int i = 0; i < n.inputCount(); i++) {
            Value v = data(n, i);
            if (!in.isEmpty() && (v.layout() != in.get(0).layout() || !v.shape().equals(in.get(0).shape()))
                    && !(layer instanceof Multiply && v.layout() == in.get(0).layout() && gatePair(v, in.get(0)))) {
                throw n.error("expected inputs of one shape" + (layer instanceof Multiply
                        ? ", or (N, C, 1, 1) channel gates beside (N, C, H, W) feature maps" : "")
                        + " (other broadcasting is not supported), received ONNX shapes (N, "
                        + joinDims(in.get(0).onnxDims()) + ") and (N, " + joinDims(v.onnxDims()) + ")");
            }
            in.add(v);
        }
        SymbolicTensor out = named(n, layer).apply(in.stream().map(Value::tensor).toArray(SymbolicTensor[]::new));
        put(n, like(in.get(0), out));
    }

    /** Whether one of two feature maps is the other's channel gate: (1, 1, C) beside (H, W, C) in Osprey's shapes. */
    private static boolean gatePair(Value a, Value b) {
        Shape x = a.shape(), y = b.shape();
        Shape gate = x.size() <= y.size() ? x : y, full = gate == x ? y : x;
        return gate.rank() == 3 && full.rank() == 3 && gate.dim(0) == 1 && gate.dim(1) == 1
                && gate.dim(2) == full.dim(2);
    }

    private void concat(NodeView n) throws OnnxImportException {
        n.allowOnly("axis");
        TensorData token = n.inputCount() == 2 ? perSampleConstants.get(n.input(0)) : null;
        if (token != null) { // a class token (1, 1, C) expanded over the batch, put before tokens (N, T, C)
            Value x = data(n, 1);
            int axis = n.smallInteger("axis", 1);
            if (x.layout() != Value.Layout.PLAIN || x.shape().rank() != 2 || (axis != 1 && axis != -2)
                    || !Arrays.equals(token.dims, new long[] {1, 1, x.shape().dim(1)})) {
                throw n.error("expected a class token (1, 1, C) put before tokens (N, T, C) along axis 1, received a "
                        + "constant of dims " + token.shapeString() + " and tokens of ONNX shape (N, "
                        + joinDims(x.onnxDims()) + ") along axis " + axis);
            }
            dev.osprey.layers.ClassToken layer = named(n, new dev.osprey.layers.ClassToken());
            weights.put(layer.name() + "/class_token", token.asFloats().clone());
            put(n, Value.plain(layer.apply(x.tensor())));
            return;
        }
        List<Value> in = new ArrayList<>();
        for (int i = 0; i < n.inputCount(); i++) {
            in.add(data(n, i));
        }
        Value first = in.get(0);
        int rank = first.onnxRank();
        int axis = n.smallInteger("axis", 1);
        if (axis < 0) {
            axis += rank;
        }
        if (axis <= 0 || axis >= rank) {
            throw n.unsupported("axis", n.smallInteger("axis", 1), "an axis other than the batch's, of rank " + rank);
        }
        for (Value v : in) {
            if (v.layout() != first.layout() || v.flatOrderDiffers()) {
                throw n.error("expected inputs of one layout, received a mix of feature maps and flattened tensors");
            }
        }
        if (in.size() == 1) {
            put(n, first);
            return;
        }
        int kerasAxis = first.layout() == Value.Layout.CHANNELS_LAST ? (axis == 1 ? -1 : axis - 1) : axis;
        SymbolicTensor out = named(n, new Concatenate(kerasAxis))
                .apply(in.stream().map(Value::tensor).toArray(SymbolicTensor[]::new));
        put(n, like(first, out));
    }

    // ---- shapes -----------------------------------------------------------------------------------------

    private void flatten(NodeView n) throws OnnxImportException {
        n.allowOnly("axis");
        Value x = data(n, 0);
        int rank = x.onnxRank();
        int axis = n.smallInteger("axis", 1);
        if (axis < 0) {
            axis += rank;
        }
        if (axis != 1) {
            throw n.unsupported("axis", n.smallInteger("axis", 1), "1 (keep the batch, flatten the rest)");
        }
        put(n, flattened(n, x));
    }

    private Value flattened(NodeView n, Value x) {
        if (x.shape().rank() == 1) {
            return x;
        }
        boolean map = x.layout() == Value.Layout.CHANNELS_LAST && x.shape().dim(0) * x.shape().dim(1) > 1;
        if (map && !onlyDenseConsumers(n.output(0))) { // the CHW order itself is needed: put the channels first
            SymbolicTensor chw = named(n, new dev.osprey.layers.Permute(3, 1, 2)).apply(x.tensor());
            return Value.plain(named(n, new Flatten()).apply(chw));
        }
        SymbolicTensor out = named(n, new Flatten()).apply(x.tensor());
        if (map) {
            Shape s = x.shape();
            return new Value(out, Value.Layout.FLAT_CHW, new int[] {s.dim(2), s.dim(0), s.dim(1)});
        }
        return Value.plain(out);
    }

    private void reshape(NodeView n) throws OnnxImportException {
        n.allowOnly("allowzero", "shape");
        Value x = data(n, 0);
        long[] target;
        if (opset < 5) {
            int[] s = n.integers("shape", null);
            if (s == null) {
                throw n.error("expected a shape attribute");
            }
            target = Arrays.stream(s).asLongStream().toArray();
        } else {
            target = constant(n, 1, "shape").asInts(n.label + " shape");
        }
        boolean allowZero = n.integer("allowzero", 0) != 0;
        int[] in = x.onnxDims();
        long perSample = 1;
        for (int d : in) {
            perSample *= d;
        }
        // Resolve against (batch, in...): 0 copies the input's dim, -1 takes what is left, BATCH is the batch.
        long[] out = target.clone();
        int minusOne = -1;
        for (int i = 0; i < out.length; i++) {
            if (out[i] == TensorData.BATCH || (out[i] == 0 && !allowZero && i == 0)
                    || (i == 0 && fixedBatch > 0 && out[i] == fixedBatch)) {
                out[i] = TensorData.BATCH;
            } else if (out[i] == 0 && !allowZero) {
                if (i - 1 >= in.length) {
                    throw n.error("shape " + Arrays.toString(target) + ": a 0 at axis " + i + " beyond the input's rank");
                }
                out[i] = in[i - 1];
            } else if (out[i] == -1) {
                if (minusOne >= 0) {
                    throw n.error("shape " + Arrays.toString(target) + ": expected at most one -1");
                }
                minusOne = i;
            } else if (out[i] <= 0) {
                throw n.error("shape " + Arrays.toString(target) + ": expected sizes > 0, 0 or -1");
            }
        }
        if (out.length == 0 || (out[0] != TensorData.BATCH && minusOne != 0)) {
            throw n.error("shape " + Arrays.toString(target) + ": expected the batch first (0, -1 or the batch size "
                    + "from Shape), Osprey reshapes each sample");
        }
        long known = 1;
        for (int i = 1; i < out.length; i++) {
            if (i != minusOne) {
                known *= out[i];
            }
        }
        if (minusOne > 0) {
            if (known == 0 || perSample % known != 0) {
                throw n.error("shape " + Arrays.toString(target) + " does not fit " + perSample + " values a sample");
            }
            out[minusOne] = perSample / known;
        } else if (known != perSample) {
            throw n.error("shape " + Arrays.toString(target) + " holds " + known + " values a sample; the input holds "
                    + perSample);
        }
        int[] sample = new int[out.length - 1];
        for (int i = 1; i < out.length; i++) {
            sample[i - 1] = Math.toIntExact(out[i]);
        }
        if (sample.length == 1) {
            put(n, flattened(n, x));
        } else if (Arrays.equals(sample, in)) {
            put(n, x);
        } else if (x.layout() == Value.Layout.PLAIN) {
            put(n, Value.plain(named(n, new Reshape(sample)).apply(x.tensor())));
        } else if (tokens(n, x, in, sample)) {
            return;
        } else {
            boolean channelGroups = in.length == 3 && sample.length == 4 && sample[0] * sample[1] == in[0]
                    && sample[2] == in[1] && sample[3] == in[2];
            if (channelGroups && channelShuffle(n, x, sample[0])) {
                return;
            }
            throw n.error("reshaping a feature map (N, " + joinDims(in) + ") to (N, " + joinDims(sample) + ") is not "
                    + "supported (Osprey holds feature maps channels-last and reshapes only other tensors"
                    + (channelGroups ? "; this one splits the channels into groups, a channel shuffle as in ShuffleNet, "
                    + "which Osprey does not import" : "") + ")");
        }
    }

    /**
     * A Vision Transformer's patches as tokens: this Reshape of (N, C, H, W) to (N, C, H * W) and a Transpose (0, 2, 1)
     * after it (torchvision's {@code x.reshape(n, c, h * w).permute(0, 2, 1)}). Channels-last the two are one Reshape
     * to (H * W, C). Returns false, having done nothing, where the node after is not that Transpose or the Reshape's
     * output feeds anything else.
     */
    private boolean tokens(NodeView n, Value x, int[] in, int[] sample) throws OnnxImportException {
        if (in.length != 3 || sample.length != 2 || sample[0] != in[0] || sample[1] != in[1] * in[2]) {
            return false;
        }
        NodeProto transpose = onlyConsumer(n.output(0));
        if (transpose == null || !transpose.getOpType().equals("Transpose")
                || !Arrays.equals(new NodeView(transpose).integers("perm", null), new int[] {0, 2, 1})) {
            return false;
        }
        values.put(transpose.getOutput(0), Value.plain(named(n, new Reshape(sample[1], sample[0])).apply(x.tensor())));
        shuffleParts.add(transpose);
        return true;
    }

    /**
     * ShuffleNet's channel shuffle, three nodes: this Reshape of (N, C, H, W) to (N, g, C/g, H, W), a Transpose
     * (0, 2, 1, 3, 4) and a Reshape back to (N, C, H, W). Channels-last it is (H * W, g, C/g) swapped to (H * W, C/g,
     * g): Reshape, Permute(1, 3, 2), Reshape. Returns false, having done nothing, where the nodes after are not that.
     */
    private boolean channelShuffle(NodeView n, Value x, int groups) throws OnnxImportException {
        NodeProto transpose = onlyConsumer(n.output(0));
        if (transpose == null || !transpose.getOpType().equals("Transpose")
                || !Arrays.equals(new NodeView(transpose).integers("perm", null), new int[] {0, 2, 1, 3, 4})) {
            return false;
        }
        NodeProto back = onlyConsumer(transpose.getOutput(0));
        int[] chw = x.onnxDims();
        TensorData target = back == null || !back.getOpType().equals("Reshape") || back.getInputCount() < 2 ? null
                : constants.get(back.getInput(1));
        NodeProto constant = back == null || back.getInputCount() < 2 ? null : producers.get(back.getInput(1));
        if (target == null && constant != null && constant.getOpType().equals("Constant")) { // not converted yet
            target = ConstantFolding.evaluate(new NodeView(constant), List.of(), modelDir);
        }
        long[] dims = target == null || target.ints == null ? null : target.ints;
        if (dims == null || dims.length != 4 || (dims[1] != chw[0] && dims[1] != -1) || dims[2] != chw[1]
                || dims[3] != chw[2]) { // (N, C, H, W), C often written -1 (PyTorch's x.view(n, -1, h, w))
            return false;
        }
        int c = chw[0], h = chw[1], w = chw[2];
        SymbolicTensor y = named(n, new Reshape(h * w, groups, c / groups)).apply(x.tensor());
        y = named(n, new dev.osprey.layers.Permute(1, 3, 2)).apply(y);
        y = named(n, new Reshape(h, w, c)).apply(y);
        values.put(back.getOutput(0), Value.channelsLast(y));
        shuffleParts.add(transpose);
        shuffleParts.add(back);
        return true;
    }

    /** The one node that reads value (and nothing else does, the graph's outputs included), or null. */
    private NodeProto onlyConsumer(String value) {
        List<NodeProto> r = consumers(value);
        return uses.getOrDefault(value, 0) == 1 && r.size() == 1 ? r.get(0) : null;
    }

    private final Set<NodeProto> shuffleParts = new HashSet<>();

    /**
     * Slice of a feature map's channels (ShuffleNet's channel split: x[:, begin:end]), step 1, as a ChannelSlice;
     * other slices of computed tensors are refused naming them.
     */
    private void slice(NodeView n) throws OnnxImportException {
        n.allowOnly();
        Value x = data(n, 0);
        long[] starts = constant(n, 1, "starts").asInts(n.label + " starts");
        long[] ends = constant(n, 2, "ends").asInts(n.label + " ends");
        long[] axes = n.inputCount() > 3 && !n.input(3).isEmpty() ? constant(n, 3, "axes").asInts(n.label + " axes")
                : new long[] {0};
        long[] steps = n.inputCount() > 4 && !n.input(4).isEmpty()
                ? constant(n, 4, "steps").asInts(n.label + " steps") : new long[] {1};
        int rank = x.onnxRank();
        long axis = axes.length == 1 ? (axes[0] < 0 ? axes[0] + rank : axes[0]) : -1;
        if (x.layout() == Value.Layout.PLAIN && x.shape().rank() == 2 && axis == 1 && starts.length == 1
                && ends.length == 1 && steps.length == 1 && steps[0] == 1) { // positions of tokens (N, T, C)
            int t = x.shape().dim(0);
            int begin = (int) Math.max(0, Math.min(t, starts[0] < 0 ? starts[0] + t : starts[0]));
            int end = (int) Math.max(0, Math.min(t, ends[0] < 0 ? ends[0] + t : ends[0]));
            if (end <= begin) {
                throw n.error("expected a slice of at least one position, received positions " + begin + " to " + end);
            }
            put(n, begin == 0 && end == t ? x
                    : Value.plain(named(n, new dev.osprey.layers.Cropping1D(begin, t - end)).apply(x.tensor())));
            return;
        }
        if (x.layout() != Value.Layout.CHANNELS_LAST || starts.length != 1 || ends.length != 1 || axis != 1
                || steps.length != 1 || steps[0] != 1) {
            throw n.error("expected a slice of a feature map's channels (axis 1, step 1), received axes "
                    + Arrays.toString(axes) + " and steps " + Arrays.toString(steps) + " of ONNX shape (N, "
                    + joinDims(x.onnxDims()) + ")");
        }
        int channels = x.shape().dim(2);
        int begin = (int) Math.max(0, Math.min(channels, starts[0] < 0 ? starts[0] + channels : starts[0]));
        int end = (int) Math.max(0, Math.min(channels, ends[0] < 0 ? ends[0] + channels : ends[0]));
        if (end <= begin) {
            throw n.error("expected a slice of at least one channel, received channels " + begin + " to " + end);
        }
        if (begin == 0 && end == channels) {
            put(n, x);
            return;
        }
        put(n, Value.channelsLast(named(n, new dev.osprey.layers.ChannelSlice(begin, end)).apply(x.tensor())));
    }

    /**
     * Split of a feature map's channels into consecutive parts (torch.chunk and torch.split as newer PyTorch and other
     * exporters write ShuffleNet's channel split), or of the last axis of a tensor in ONNX's own order (a GLU's
     * halves): one ChannelSlice per output. The sizes come from the split input
     * (opset 13 on) or attribute (before), else equal parts (num_outputs, opset 18: the last part smaller where the
     * channels do not divide); other axes are refused, naming them.
     */
    private void split(NodeView n) throws OnnxImportException {
        n.allowOnly("axis", "split", "num_outputs");
        Value x = data(n, 0);
        int rank = x.onnxRank();
        long axis = n.integer("axis", 0);
        long normalized = axis < 0 ? axis + rank : axis;
        boolean channels1 = x.layout() == Value.Layout.CHANNELS_LAST && normalized == 1;
        boolean lastAxis = x.layout() == Value.Layout.PLAIN && normalized == rank - 1 && rank > 1; // Osprey's last too
        if (!channels1 && !lastAxis) {
            throw n.error("expected a split of a feature map's channels (axis 1), or of the last axis of another "
                    + "tensor, received axis " + axis + " of ONNX shape (N, " + joinDims(x.onnxDims()) + ")");
        }
        int channels = x.shape().dim(x.shape().rank() - 1);
        int outputs = n.node.getOutputCount();
        if (outputs < 1) {
            throw n.error("expected at least one output, received none");
        }
        long declared = n.integer("num_outputs", outputs);
        if (declared != outputs) {
            throw n.error("expected num_outputs to match the node's " + outputs + " outputs, received " + declared);
        }
        long[] sizes;
        if (n.inputCount() > 1 && !n.input(1).isEmpty()) {
            sizes = constant(n, 1, "split").asInts(n.label + " split");
        } else if (n.integers("split", null) != null) {
            sizes = Arrays.stream(n.integers("split", null)).asLongStream().toArray();
        } else { // equal parts; from opset 18 the last one smaller where they do not divide (before, an error)
            if (opset < 18 && channels % outputs != 0) {
                throw n.error("expected the " + channels + " channels to split evenly into " + outputs + " parts "
                        + "(opset " + opset + " has no uneven equal split), received a remainder of "
                        + channels % outputs);
            }
            long part = (channels + outputs - 1) / outputs;
            sizes = new long[outputs];
            for (int i = 0; i < outputs; i++) {
                sizes[i] = Math.max(0, Math.min(part, channels - part * i));
            }
        }
        if (sizes.length != outputs || Arrays.stream(sizes).anyMatch(v -> v < 1 || v > channels)
                || Arrays.stream(sizes).sum() != channels) { // each at most channels: the sum cannot wrap
            throw n.error("expected " + outputs + " part sizes of at least 1 that add up to the " + channels
                    + " channels, received " + Arrays.toString(sizes));
        }
        int begin = 0;
        for (int i = 0; i < outputs; i++) {
            int end = begin + (int) sizes[i];
            if (!n.node.getOutput(i).isEmpty()) {
                values.put(n.node.getOutput(i), outputs == 1 ? x
                        : like(x, named(n, new dev.osprey.layers.ChannelSlice(begin, end)).apply(x.tensor())));
            }
            begin = end;
        }
    }

    private void shapeOf(NodeView n) throws OnnxImportException {
        n.allowOnly("start", "end");
        Value x = data(n, 0);
        int[] d = x.onnxDims();
        long[] shape = new long[d.length + 1];
        shape[0] = TensorData.BATCH;
        for (int i = 0; i < d.length; i++) {
            shape[i + 1] = d[i];
        }
        int rank = shape.length;
        int start = n.smallInteger("start", 0);
        int end = n.smallInteger("end", rank);
        start = Math.max(0, Math.min(rank, start < 0 ? start + rank : start));
        end = Math.max(start, Math.min(rank, end < 0 ? end + rank : end));
        long[] slice = Arrays.copyOfRange(shape, start, end);
        constants.put(n.output(0), TensorData.ofInts(new long[] {slice.length}, slice));
    }

    private void pad(NodeView n) throws OnnxImportException {
        String mode = n.string("mode", "constant");
        if (!mode.equals("constant")) {
            throw n.unsupported("mode", mode, "constant");
        }
        long[] p;
        float value = 0f;
        if (opset < 11) {
            n.allowOnly("mode", "pads", "value");
            int[] attr = n.integers("pads", null);
            if (attr == null) {
                throw n.error("expected a pads attribute");
            }
            p = Arrays.stream(attr).asLongStream().toArray();
            value = n.real("value", 0f);
        } else {
            n.allowOnly("mode");
            p = constant(n, 1, "pads").asInts(n.label + " pads");
            TensorData v = optionalConstant(n, 2, "constant_value");
            if (v != null) {
                value = v.asFloats()[0];
            }
            if (n.inputCount() > 3) {
                throw n.error("the axes input is not supported");
            }
        }
        if (value != 0f) {
            throw n.error("expected padding with zeros, received constant_value " + value);
        }
        Value x = requireFeatureMap(n, data(n, 0));
        if (p.length != 8 || p[0] != 0 || p[1] != 0 || p[4] != 0 || p[5] != 0) {
            throw n.error("expected pads on the two spatial axes of (N, C, H, W) only, received " + Arrays.toString(p));
        }
        for (long v : p) {
            if (v < 0 || v > (1 << 16)) {
                throw n.error("expected pads between 0 and 65536, received " + Arrays.toString(p));
            }
        }
        put(n, Value.channelsLast(named(n, new ZeroPadding2D((int) p[2], (int) p[6], (int) p[3], (int) p[7]))
                .apply(x.tensor())));
    }

    private void dropout(NodeView n) throws OnnxImportException {
        n.allowOnly("ratio", "seed", "is_test");
        if (n.node.getOutputCount() > 1 && !n.output(1).isEmpty() && uses.getOrDefault(n.output(1), 0) > 0) {
            throw n.error("the mask output is not supported");
        }
        float ratio = n.real("ratio", 0.5f);
        if (opset >= 12) {
            TensorData r = optionalConstant(n, 1, "ratio");
            ratio = r == null ? 0.5f : r.asFloats()[0];
            TensorData training = optionalConstant(n, 2, "training_mode");
            if (training != null && training.asFloats()[0] != 0f) {
                throw n.error("training_mode true is not supported (inference graphs only)");
            }
        }
        Value x = data(n, 0);
        put(n, like(x, named(n, new Dropout(ratio)).apply(x.tensor())));
    }

    /**
     * The two transposes between NCHW and NHWC, which cost nothing here: Osprey holds feature maps NHWC either way,
     * only the ONNX view of the tensor changes. Other permutations are not supported.
     */
    private void transpose(NodeView n) throws OnnxImportException {
        n.allowOnly("perm");
        Value x = data(n, 0);
        if (x.onnxRank() == 4 && x.layout() == Value.Layout.CHANNELS_LAST && permIs(n.node, 0, 2, 3, 1)) {
            put(n, Value.plain(x.tensor()));
        } else if (x.onnxRank() == 4 && x.layout() == Value.Layout.PLAIN && permIs(n.node, 0, 3, 1, 2)) {
            put(n, Value.channelsLast(x.tensor()));
        } else {
            int[] perm = n.integers("perm", null);
            int rank = x.onnxRank();
            if (perm == null || perm.length != rank || perm[0] != 0 || rank < 2 || rank > 4 || x.flatOrderDiffers()) {
                throw n.error("expected a perm keeping the batch first over a tensor of rank 2 to 4, received "
                        + (perm == null ? "none" : Arrays.toString(perm)) + " for rank " + rank);
            }
            int[] dims = new int[rank - 1];
            for (int i = 1; i < rank; i++) { // output axis i is ONNX axis perm[i]: find where Osprey holds it
                int onnxAxis = perm[i];
                dims[i - 1] = x.layout() == Value.Layout.CHANNELS_LAST ? (onnxAxis == 1 ? 3 : onnxAxis - 1) : onnxAxis;
            }
            put(n, Value.plain(named(n, new dev.osprey.layers.Permute(dims)).apply(x.tensor())));
        }
    }

    private void identity(NodeView n) throws OnnxImportException {
        n.allowOnly();
        put(n, data(n, 0));
    }
}
