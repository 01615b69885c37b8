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

    /**
     * A whole attention: the three projections, the output kernel (heads * valueDim, out) and bias (or null), the
     * output's dims without the batch (null: the query's positions and out), the nodes it covers and its last node.
     * Where one packed projection makes the query, key and value (PyTorch's in_proj), packed holds it and the three
     * projections are null until {@link #resolve} splits it.
     */
    record Match(Projection query, Projection key, Projection value, float[] outputKernel, float[] outputBias,
                 int outputFeatures, long[] outputDims, List<NodeProto> parts, NodeProto last, Packed packed) {
    }

    /**
     * PyTorch's packed in_proj: input (N, T, E) transposed to (T, N, E), one MatMul by kernel (E, 3E) and bias (3E) (E is
     * the width),
     * then three Slices of the last axis (query, key, value) whose bounds the graph computes from shapes.
     */
    record Packed(String input, String transposed, String projected, float[] kernel, float[] bias, List<NodeProto> slices,
                  int width, int heads, int dim, NodeProto joined, NodeProto back) {
    }

    private final Function<String, NodeProto> producer;
    private final ToIntFunction<String> uses;
    private final Function<String, TensorData> constant;
    private final Function<String, List<NodeProto>> consumers;
    private final int opset;
    private final java.nio.file.Path modelDir;

    /**
     * producer: the node computing a value (null for inputs and initializers); uses: how many node inputs and graph
     * outputs read a value; constant: a value's constant data, or null where the model computes it; consumers: the
     * nodes reading a value; opset: the graph's; modelDir: where its external data lies.
     */
    AttentionPattern(Function<String, NodeProto> producer, ToIntFunction<String> uses,
                     Function<String, TensorData> constant, Function<String, List<NodeProto>> consumers, int opset,
                     java.nio.file.Path modelDir) {
        this.opset = opset;
        this.modelDir = modelDir;
        this.producer = producer;
        this.uses = uses;
        this.constant = constant;
        this.consumers = consumers;
    }

    /** Why the last search for attention around a Softmax came to nothing, where a check could say; else null. */
    private String reason;

    /** Why the searches since {@link #forget} found no attention, where a check could say; else null. */
    String reason() {
        return reason;
    }

    /** Starts the searches around another Softmax. */
    void forget() {
        reason = null;
    }

    private Match miss(String why) {
        reason = why;
        return null;
    }

    /** The attention around this Softmax, or null where the ops around it are not attention's. */
    Match find(NodeProto softmax) {
        List<NodeProto> parts = new ArrayList<>();
        if (softmax.getInputCount() != 1 || !lastAxis(softmax, 4)) {
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
            return miss("its query is " + (scaling.getOpType().equals("Mul") ? "multiplied" : "divided") + " by "
                    + scale + ", where heads of " + query.dim() + " values take " + (float) expected);
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
        return new Match(query, key, value, outKernel.asFloats(), outBias, out, outputDims, parts, last, null);
    }

    /**
     * PyTorch's nn.MultiheadAttention with batch_first and one packed in_proj, as torch.onnx (1.13) writes it: the
     * input (N, T, E) transposed to (T, N, E); MatMul by in_proj (E, 3E) and Add of its bias; three Slices of the last
     * axis; each reshaped to (T, N * heads, dim) and transposed to (N * heads, T, dim) (the key's to (N * heads, dim,
     * T)); the query divided by sqrt(dim) (or multiplied by its inverse); MatMul, Softmax, MatMul by the values;
     * transposed back, reshaped to (T * N, E), out_proj (Gemm with transB, or MatMul and Add), reshaped to (T, N, E)
     * and transposed to (N, T, E). The Reshape targets and Slice bounds are shape arithmetic on the batch size; the
     * bounds are checked by {@link #resolve} once the input's shape is known. Shape nodes may read any value inside.
     */
    Match findSequenceFirst(NodeProto softmax) {
        List<NodeProto> parts = new ArrayList<>();
        if (softmax.getInputCount() != 1 || !lastAxis(softmax, 3)) {
            return null;
        }
        NodeProto scores = soleReader(softmax.getInput(0), "MatMul", parts);
        NodeProto scaling = scores == null || scores.getInputCount() != 2 ? null
                : soleReader(scores.getInput(0), null, parts);
        if (scaling == null || scaling.getInputCount() != 2
                || !(scaling.getOpType().equals("Mul") || scaling.getOpType().equals("Div"))) {
            return null;
        }
        Float scale = scalar(scaling.getInput(1));
        NodeProto q = packedHead(scaling.getInput(0), parts, 1, 0, 2);
        NodeProto k = packedHead(scores.getInput(1), parts, 1, 2, 0);
        NodeProto context = onlyNonShapeReader(softmax.getOutput(0), "MatMul");
        NodeProto v = context == null || !context.getInput(0).equals(softmax.getOutput(0)) ? null
                : packedHead(context.getInput(1), parts, 1, 0, 2);
        if (scale == null || q == null || k == null || v == null) {
            return null;
        }
        String projected = sliced(q);
        if (!projected.equals(sliced(k)) || !projected.equals(sliced(v))) {
            return null;
        }
        NodeProto add = producer.apply(projected);
        if (add == null || !add.getOpType().equals("Add") || add.getInputCount() != 2
                || nonShapeReaders(projected).size() != 3) {
            return null;
        }
        NodeProto first = producer.apply(add.getInput(0));
        String product = first != null && first.getOpType().equals("MatMul") ? add.getInput(0) : add.getInput(1);
        NodeProto matMul = soleReader(product, "MatMul", parts);
        TensorData kernel = matMul == null ? null : constant.apply(matMul.getInput(1));
        if (kernel == null || kernel.rank() != 2 || kernel.dims[1] != 3 * kernel.dims[0]) {
            return null;
        }
        int width = (int) kernel.dims[0];
        float[] bias = bias(add, product, 3 * width);
        NodeProto transposed = soleReader(matMul.getInput(0), "Transpose", parts);
        if (bias == null || transposed == null || !perm(transposed, 1, 0, 2)) {
            return null;
        }
        parts.add(add);
        double dim = scaling.getOpType().equals("Div") ? scale * (double) scale : 1 / (scale * (double) scale);
        int dk = (int) Math.round(dim);
        if (dk < 1 || Math.abs(dim - dk) > 1e-3 * dk || width % dk != 0) {
            return miss("its query is " + (scaling.getOpType().equals("Mul") ? "multiplied" : "divided") + " by "
                    + scale + ", which makes heads of " + (float) dim + " values: not a whole number dividing its width "
                    + width);
        }
        NodeProto rows = onlyNonShapeReader(context.getOutput(0), "Transpose");
        NodeProto joined = rows == null || !perm(rows, 1, 0, 2) ? null : onlyNonShapeReader(rows.getOutput(0), "Reshape");
        NodeProto output = joined == null ? null : onlyNonShapeReader(joined.getOutput(0), null);
        if (output == null) {
            return null;
        }
        parts.addAll(List.of(softmax, context, rows, joined, output));
        float[] outKernel;
        float[] outBias = null;
        NodeProto last = output;
        if (output.getOpType().equals("Gemm") && output.getInputCount() >= 2 && gemmTransposesB(output)) {
            TensorData w = constant.apply(output.getInput(1));
            TensorData b = output.getInputCount() == 3 ? constant.apply(output.getInput(2)) : null;
            if (w == null || w.rank() != 2 || w.dims[1] != width || (output.getInputCount() == 3
                    && (b == null || b.size() != w.dims[0]))) {
                return null;
            }
            outKernel = transposed(w);
            outBias = b == null ? null : b.asFloats();
        } else if (output.getOpType().equals("MatMul")) {
            TensorData w = constant.apply(output.getInput(1));
            if (w == null || w.rank() != 2 || w.dims[0] != width) {
                return null;
            }
            outKernel = w.asFloats();
            NodeProto outAdd = onlyNonShapeReader(output.getOutput(0), "Add");
            outBias = outAdd == null ? null : bias(outAdd, output.getOutput(0), (int) w.dims[1]);
            if (outBias != null) {
                parts.add(outAdd);
                last = outAdd;
            }
        } else {
            return null;
        }
        int out = outKernel.length / width;
        NodeProto back = onlyNonShapeReader(last.getOutput(0), "Reshape");
        NodeProto batchFirst = back == null ? null : onlyNonShapeReader(back.getOutput(0), "Transpose");
        if (batchFirst == null || !perm(batchFirst, 1, 0, 2)) {
            return null;
        }
        parts.addAll(List.of(back, batchFirst));
        last = batchFirst;
        parts.remove(last);
        Packed packed = new Packed(transposed.getInput(0), transposed.getOutput(0), projected, kernel.asFloats(), bias,
                List.of(q, k, v), width, width / dk, dk, joined, back);
        return new Match(null, null, null, outKernel, outBias, out, null, parts, last, packed);
    }

    /**
     * The packed match with its three projections split out of in_proj, once the input's positions are known: each
     * Slice must take the last axis's thirds in order (query, key, value), and the Reshapes must split the heads the
     * scale says, join them and restore the rows, all computed from the shapes (at the batch size the graph fixes, or
     * 0 for a dynamic one). Throws where they do not.
     */
    Match resolve(Match m, int positions, long fixedBatch) throws OnnxImportException {
        Packed p = m.packed();
        int width = p.width();
        java.util.Map<String, long[]> shapes = java.util.Map.of(p.input(), new long[] {TensorData.BATCH, positions,
                width}, p.transposed(), new long[] {positions, TensorData.BATCH, width}, p.projected(),
                new long[] {positions, TensorData.BATCH, 3L * width});
        Projection[] three = new Projection[3];
        String[] names = {"query", "key", "value"};
        for (int i = 0; i < 3; i++) {
            NodeProto reshape = p.slices().get(i);
            NodeProto slice = producer.apply(reshape.getInput(0));
            long[] starts = evaluate(slice.getInput(1), shapes);
            long[] ends = evaluate(slice.getInput(2), shapes);
            long[] axes = slice.getInputCount() > 3 ? evaluate(slice.getInput(3), shapes) : new long[] {0};
            long[] steps = slice.getInputCount() > 4 ? evaluate(slice.getInput(4), shapes) : new long[] {1};
            boolean third = starts != null && ends != null && axes != null && steps != null && starts.length == 1
                    && ends.length == 1 && axes.length == 1 && (axes[0] == -1 || axes[0] == 2) && steps.length == 1
                    && steps[0] == 1 && starts[0] == (long) i * width && ends[0] == (long) (i + 1) * width;
            if (!third) {
                throw new OnnxImportException("node '" + slice.getName() + "' (Slice): expected the " + names[i]
                        + " of a packed in_proj, the last axis's values " + (long) i * width + " to "
                        + (long) (i + 1) * width + ", received starts " + java.util.Arrays.toString(starts) + ", ends "
                        + java.util.Arrays.toString(ends) + ", axes " + java.util.Arrays.toString(axes));
            }
            float[] kernel = new float[width * width];
            for (int r = 0; r < width; r++) {
                System.arraycopy(p.kernel(), r * 3 * width + i * width, kernel, r * width, width);
            }
            float[] bias = java.util.Arrays.copyOfRange(p.bias(), i * width, (i + 1) * width);
            three[i] = new Projection(p.input(), kernel, bias, positions, width, p.heads(), p.dim());
        }
        // the heads as the graph splits them: at the batch size the graph fixes, else at two batch sizes
        for (long batch : fixedBatch > 0 ? new long[] {fixedBatch} : new long[] {2, 3}) {
            java.util.Map<String, long[]> at = new java.util.HashMap<>();
            at.put(p.input(), new long[] {batch, positions, width});
            at.put(p.transposed(), new long[] {positions, batch, width});
            at.put(p.projected(), new long[] {positions, batch, 3L * width});
            for (NodeProto reshape : p.slices()) {
                at.put(reshape.getInput(0), new long[] {positions, batch, width});
            }
            at.put(p.back().getInput(0), new long[] {positions * batch, m.outputFeatures()});
            long[] heads = {positions, batch * p.heads(), p.dim()};
            String scale = " (the scale 1/sqrt(" + p.dim() + ") says " + p.heads() + " heads of " + p.dim() + ")";
            for (int i = 0; i < 3; i++) {
                requireTarget(p.slices().get(i), at, heads, "the " + names[i] + " split into heads" + scale);
            }
            requireTarget(p.joined(), at, new long[] {positions * batch, width}, "the heads joined" + scale);
            requireTarget(p.back(), at, new long[] {positions, batch, m.outputFeatures()}, "the output's rows");
        }
        return new Match(three[0], three[1], three[2], m.outputKernel(), m.outputBias(), m.outputFeatures(),
                new long[] {positions, m.outputFeatures()}, m.parts(), m.last(), null);
    }

    /** Throws unless the Reshape's target, folded from the given shapes, resolves to expected. */
    private void requireTarget(NodeProto reshape, java.util.Map<String, long[]> shapes, long[] expected, String what)
            throws OnnxImportException {
        long[] target = reshape.getInputCount() == 2 ? evaluate(reshape.getInput(1), shapes) : null;
        long[] resolved = target == null ? null : target.clone();
        if (resolved != null) { // ONNX's 0 copies the input's dim, -1 takes what is left
            long[] in = shapes.get(reshape.getInput(0));
            long known = 1, total = 1;
            int free = -1;
            for (long d : in == null ? new long[0] : in) {
                total *= d;
            }
            for (int i = 0; i < resolved.length; i++) {
                if (resolved[i] == 0 && in != null && i < in.length) {
                    resolved[i] = in[i];
                }
                if (resolved[i] == -1) {
                    free = i;
                } else {
                    known *= resolved[i];
                }
            }
            if (free >= 0 && in != null && known > 0) {
                resolved[free] = total / known;
            }
        }
        if (resolved == null || !java.util.Arrays.equals(resolved, expected)) {
            throw new OnnxImportException("node '" + reshape.getName() + "' (Reshape): expected " + what + ", dims "
                    + java.util.Arrays.toString(expected) + " at batch " + shapes.get(reshape.getInput(0))[1]
                    + ", received " + (target == null ? "a shape Osprey cannot compute"
                    : java.util.Arrays.toString(resolved)));
        }
    }

    /** A value's integers, folding the shape arithmetic that computes it from the given values' shapes; or null. */
    private long[] evaluate(String name, java.util.Map<String, long[]> shapes) {
        TensorData t = fold(name, shapes, 0);
        try {
            return t == null ? null : t.asInts(name);
        } catch (OnnxImportException e) {
            return null;
        }
    }

    private TensorData fold(String name, java.util.Map<String, long[]> shapes, int depth) {
        TensorData c = constant.apply(name);
        if (c != null || depth > 64) {
            return c;
        }
        NodeProto p = producer.apply(name);
        if (p == null) {
            return null;
        }
        if (p.getOpType().equals("Shape")) {
            long[] dims = shapes.get(p.getInput(0));
            return dims == null || p.getAttributeCount() > 0 ? null
                    : TensorData.ofInts(new long[] {dims.length}, dims.clone());
        }
        if (!ConstantFolding.handles(p.getOpType())) {
            return null;
        }
        List<TensorData> in = new ArrayList<>();
        for (String input : p.getInputList()) {
            TensorData t = input.isEmpty() ? null : fold(input, shapes, depth + 1);
            if (t == null && !input.isEmpty()) {
                return null;
            }
            in.add(t);
        }
        try {
            return ConstantFolding.evaluate(new NodeView(p), in, modelDir);
        } catch (OnnxImportException | RuntimeException e) {
            return null;
        }
    }

    /**
     * One head layout of a packed projection ending at value: Transpose(Reshape(Slice(...)), perm); returns the
     * Reshape (whose input is the Slice), or null.
     */
    private NodeProto packedHead(String value, List<NodeProto> parts, long... perm) {
        List<NodeProto> found = new ArrayList<>();
        NodeProto transpose = soleReader(value, "Transpose", found);
        NodeProto reshape = transpose == null || !perm(transpose, perm) ? null
                : soleReader(transpose.getInput(0), "Reshape", found);
        NodeProto slice = reshape == null ? null : soleReader(reshape.getInput(0), "Slice", found);
        if (slice == null || slice.getInputCount() < 3) {
            return null;
        }
        parts.addAll(found);
        return reshape;
    }

    /** What the Slice before this head's Reshape slices. */
    private String sliced(NodeProto reshape) {
        return producer.apply(reshape.getInput(0)).getInput(0);
    }

    /** The node computing value, of this op (any op where null), where only Shape nodes read it besides one node. */
    private NodeProto soleReader(String value, String op, List<NodeProto> parts) {
        NodeProto p = producer.apply(value);
        if (p == null || nonShapeReaders(value).size() != 1 || (op != null && !p.getOpType().equals(op))) {
            return null;
        }
        parts.add(p);
        return p;
    }

    /** The one node other than Shape nodes reading value, where it is of this op (any where null); else null. */
    private NodeProto onlyNonShapeReader(String value, String op) {
        List<NodeProto> readers = nonShapeReaders(value);
        return readers.size() == 1 && (op == null || readers.get(0).getOpType().equals(op)) ? readers.get(0) : null;
    }

    /** The nodes reading value other than Shape nodes; empty where a graph output is value. */
    private List<NodeProto> nonShapeReaders(String value) {
        List<NodeProto> all = consumers.apply(value);
        if (uses.applyAsInt(value) != all.stream().mapToInt(r -> (int) r.getInputList().stream()
                .filter(value::equals).count()).sum()) {
            return List.of(); // a graph output
        }
        return all.stream().filter(r -> !r.getOpType().equals("Shape")).toList();
    }

    private static boolean gemmTransposesB(NodeProto gemm) {
        long transA = 0, transB = 0;
        float alpha = 1, beta = 1;
        for (onnx.Onnx.AttributeProto a : gemm.getAttributeList()) {
            switch (a.getName()) {
                case "transA" -> transA = a.getI();
                case "transB" -> transB = a.getI();
                case "alpha" -> alpha = a.getF();
                case "beta" -> beta = a.getF();
                default -> {
                    return false;
                }
            }
        }
        return transA == 0 && transB == 1 && alpha == 1 && beta == 1;
    }

    /** A constant (rows, columns) transposed to (columns, rows). */
    private static float[] transposed(TensorData w) {
        int rows = (int) w.dims[0], columns = (int) w.dims[1];
        float[] v = w.asFloats(), t = new float[v.length];
        for (int r = 0; r < rows; r++) {
            for (int c = 0; c < columns; c++) {
                t[c * rows + r] = v[r * columns + c];
            }
        }
        return t;
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

    /**
     * Whether a Softmax of scores of this rank runs over their last axis alone (by default from opset 13 on; before,
     * the default axis 1 flattens every axis after it).
     */
    private boolean lastAxis(NodeProto softmax, int rank) {
        for (onnx.Onnx.AttributeProto a : softmax.getAttributeList()) {
            if (a.getName().equals("axis")) {
                return a.getI() == -1 || a.getI() == rank - 1;
            }
        }
        return opset >= 13;
    }
}
