package dev.osprey.onnx;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.function.Function;
import java.util.function.ToIntFunction;
import onnx.Onnx.NodeProto;

/**
 * Finds multi-head scaled dot-product attention written out in ONNX ops, around its Softmax, as Osprey's exporter
 * (and exporters that keep the batch axis first) write it: for each of the query, key and value, a MatMul by a constant
 * kernel (features, heads * dim) on (N, positions, features) rows (after a Reshape to them, where there is one) and
 * the Add of a constant bias where there is one, a Reshape to (N, positions, heads, dim) and a Transpose to
 * (N, heads, positions, dim) (the key's to (N, heads, dim, positions)); the query scaled by 1/sqrt(dim) (a Mul, or a
 * Div by sqrt(dim)); MatMul, Softmax over the last axis, MatMul by the values; the heads transposed back, a Reshape to
 * (N, positions, heads * dim), the output MatMul and bias, and a Reshape to the query's shape where there is one. Every
 * intermediate value must feed only the pattern, so that importing the whole as one MultiHeadAttention layer loses
 * nothing.
 */
final class AttentionPattern {
    /** One projection into heads: its input, constant kernel (features, heads * dim), bias (or null), sizes. */
    record Projection(String input, float[] kernel, float[] bias, int positions, int features, int heads, int dim) {
    }

    /** A whole attention: the three projections, the output kernel (heads * valueDim, out) and bias (or null). */
    record Match(Projection query, Projection key, Projection value, float[] outputKernel, float[] outputBias,
                 int outputFeatures, long[] outputDims, List<NodeProto> parts, NodeProto last) {
    }

    private final Function<String, NodeProto> producer;
    private final ToIntFunction<String> uses;
    private final Function<String, TensorData> constant;
    private final Function<String, List<NodeProto>> consumers;
    private final int opset;

    /**
     * producer: the node computing a value (null for inputs and initializers); uses: how many node inputs and graph
     * outputs read a value; constant: a value's constant data, or null where the model computes it; consumers: the
     * nodes reading a value; opset: the graph's.
     */
    AttentionPattern(Function<String, NodeProto> producer, ToIntFunction<String> uses,
                     Function<String, TensorData> constant, Function<String, List<NodeProto>> consumers, int opset) {
        this.opset = opset;
        this.producer = producer;
        this.uses = uses;
        this.constant = constant;
        this.consumers = consumers;
    }

    /** The attention around this Softmax, or null where the ops around it are not attention's. */
    Match find(NodeProto softmax) {
        List<NodeProto> parts = new ArrayList<>();
        if (softmax.getInputCount() != 1 || !lastAxis(softmax)) {
            return null;
        }
        NodeProto scores = sole(softmax.getInput(0), "MatMul", parts);
        if (scores == null || scores.getInputCount() != 2) {
            return null;
        }
        NodeProto scaling = sole(scores.getInput(0), null, parts);
        if (scaling == null || scaling.getInputCount() != 2
                || !(scaling.getOpType().equals("Mul") || scaling.getOpType().equals("Div"))) {
            return null;
        }
        Float scale = scalar(scaling.getInput(1));
        Projection query = projection(scaling.getInput(0), parts, 0, 2, 1, 3);
        Projection key = projection(scores.getInput(1), parts, 0, 2, 3, 1);
        if (scale == null || query == null || key == null || query.heads() != key.heads()
                || query.dim() != key.dim()) {
            return null;
        }
        double expected = scaling.getOpType().equals("Mul") ? 1 / Math.sqrt(query.dim()) : Math.sqrt(query.dim());
        if (Math.abs(scale - expected) > 1e-5 * expected) {
            return null;
        }
        NodeProto context = onlyConsumer(softmax.getOutput(0), "MatMul");
        if (context == null || !context.getInput(0).equals(softmax.getOutput(0))) {
            return null;
        }
        Projection value = projection(context.getInput(1), parts, 0, 2, 1, 3);
        if (value == null || value.heads() != query.heads() || value.positions() != key.positions()) {
            return null;
        }
        int heads = query.heads();
        NodeProto rows = onlyConsumer(context.getOutput(0), "Transpose");
        NodeProto joined = rows == null || !perm(rows, 0, 2, 1, 3) ? null : onlyConsumer(rows.getOutput(0), "Reshape");
        if (joined == null || !Arrays.equals(shape(joined), new long[] {0, query.positions(),
                (long) heads * value.dim()})) {
            return null;
        }
        NodeProto output = onlyConsumer(joined.getOutput(0), "MatMul");
        TensorData outKernel = output == null ? null : constant.apply(output.getInput(1));
        if (outKernel == null || outKernel.rank() != 2 || outKernel.dims[0] != (long) heads * value.dim()) {
            return null;
        }
        int out = (int) outKernel.dims[1];
        parts.addAll(List.of(softmax, context, rows, joined, output));
        NodeProto last = output;
        float[] outBias = null;
        NodeProto add = onlyConsumer(last.getOutput(0), "Add");
        float[] bias = add == null ? null : bias(add, last.getOutput(0), out);
        if (bias != null) {
            outBias = bias;
            parts.add(add);
            last = add;
        }
        long[] outputDims = {query.positions(), out};
        NodeProto reshape = onlyConsumer(last.getOutput(0), "Reshape");
        long[] restored = reshape == null ? null : shape(reshape);
        if (restored != null && restored.length >= 3 && restored[0] == 0 && restored[restored.length - 1] == out
                && product(restored) == (long) query.positions() * out) {
            parts.add(reshape);
            last = reshape;
            outputDims = Arrays.copyOfRange(restored, 1, restored.length);
        }
        parts.remove(last);
        return new Match(query, key, value, outKernel.asFloats(), outBias, out, outputDims, parts, last);
    }

    /**
     * The projection ending in a Transpose by perm at value: Transpose(Reshape(Add(MatMul(rows, W), b), (0, T, H, d))),
     * where rows is the input or a Reshape of it to (0, T, F). Null where it is not one.
     */
    private Projection projection(String value, List<NodeProto> parts, long... perm) {
        List<NodeProto> found = new ArrayList<>();
        NodeProto transpose = sole(value, "Transpose", found);
        if (transpose == null || !perm(transpose, perm)) {
            return null;
        }
        NodeProto heads = sole(transpose.getInput(0), "Reshape", found);
        long[] split = heads == null ? null : shape(heads);
        if (split == null || split.length != 4 || split[0] != 0 || Arrays.stream(split).anyMatch(d -> d < 0)) {
            return null;
        }
        int units = (int) (split[2] * split[3]);
        NodeProto add = producer.apply(heads.getInput(0));
        NodeProto matMul;
        float[] bias = null;
        if (add != null && add.getOpType().equals("Add") && add.getInputCount() == 2) {
            NodeProto first = producer.apply(add.getInput(0));
            String product = first != null && first.getOpType().equals("MatMul") ? add.getInput(0) : add.getInput(1);
            bias = bias(add, product, units);
            if (bias == null || sole(heads.getInput(0), "Add", found) == null) {
                return null;
            }
            matMul = sole(product, "MatMul", found);
        } else {
            matMul = sole(heads.getInput(0), "MatMul", found);
        }
        TensorData kernel = matMul == null ? null : constant.apply(matMul.getInput(1));
        if (kernel == null || kernel.rank() != 2 || kernel.dims[1] != units) {
            return null;
        }
        String input = matMul.getInput(0);
        NodeProto rows = producer.apply(input);
        long[] rowShape = rows != null && rows.getOpType().equals("Reshape") ? shape(rows) : null;
        if (rowShape != null && rowShape.length == 3 && rowShape[0] == 0 && rowShape[1] == split[1]
                && rowShape[2] == kernel.dims[0] && uses.applyAsInt(input) == 1) {
            found.add(rows);
            input = rows.getInput(0);
        }
        parts.addAll(found);
        return new Projection(input, kernel.asFloats(), bias, (int) split[1], (int) kernel.dims[0], (int) split[2],
                (int) split[3]);
    }

    /** The node computing value, of this op (any op where null), where value feeds nothing else; added to parts. */
    private NodeProto sole(String value, String op, List<NodeProto> parts) {
        NodeProto p = producer.apply(value);
        if (p == null || uses.applyAsInt(value) != 1 || (op != null && !p.getOpType().equals(op))) {
            return null;
        }
        parts.add(p);
        return p;
    }

    /** The one node reading value, where it is of this op; else null. */
    private NodeProto onlyConsumer(String value, String op) {
        if (uses.applyAsInt(value) != 1) {
            return null;
        }
        List<NodeProto> readers = consumers.apply(value);
        return readers.size() == 1 && readers.get(0).getOpType().equals(op) ? readers.get(0) : null;
    }

    /** The constant other input of an Add beside value, where it is a bias of this many values; else null. */
    private float[] bias(NodeProto add, String value, int units) {
        if (add.getInputCount() != 2) {
            return null;
        }
        String other = add.getInput(0).equals(value) ? add.getInput(1) : add.getInput(0);
        TensorData b = constant.apply(other);
        return b != null && b.size() == units && b.dims[b.rank() - 1] == units ? b.asFloats() : null;
    }

    private Float scalar(String name) {
        TensorData t = constant.apply(name);
        return t != null && t.isScalarLike() ? t.asFloats()[0] : null;
    }

    /** A Reshape's constant target, or null. */
    private long[] shape(NodeProto reshape) {
        TensorData t = reshape.getInputCount() == 2 ? constant.apply(reshape.getInput(1)) : null;
        try {
            return t == null ? null : t.asInts("reshape target");
        } catch (OnnxImportException e) {
            return null;
        }
    }

    private static long product(long[] dims) {
        long p = 1;
        for (int i = 1; i < dims.length; i++) {
            p *= dims[i];
        }
        return p;
    }

    private static boolean perm(NodeProto transpose, long... perm) {
        for (onnx.Onnx.AttributeProto a : transpose.getAttributeList()) {
            if (a.getName().equals("perm")) {
                return a.getIntsList().stream().mapToLong(Long::longValue).boxed().toList()
                        .equals(Arrays.stream(perm).boxed().toList());
            }
        }
        return false;
    }

    /** Whether a Softmax of rank-4 scores runs over their last axis (by default from opset 13 on; 1 before). */
    private boolean lastAxis(NodeProto softmax) {
        for (onnx.Onnx.AttributeProto a : softmax.getAttributeList()) {
            if (a.getName().equals("axis")) {
                return a.getI() == -1 || a.getI() == 3;
            }
        }
        return opset >= 13;
    }
}
