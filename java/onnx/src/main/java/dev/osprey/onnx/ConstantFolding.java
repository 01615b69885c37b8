package dev.osprey.onnx;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Set;
import onnx.Onnx.AttributeProto;
import onnx.Onnx.TensorProto;

/**
 * Evaluates the nodes of an ONNX graph whose inputs are all constants: the shape arithmetic exporters emit around
 * Reshape (Shape, Gather, Unsqueeze, Concat, ...) and Constant nodes. The batch size stays a symbol
 * ({@link TensorData#BATCH}); arithmetic on it is refused rather than guessed.
 */
final class ConstantFolding {
    private static final Set<String> OPS = Set.of("Constant", "Identity", "Cast", "Shape", "Gather", "Unsqueeze",
            "Squeeze", "Concat", "Add", "Sub", "Mul", "Div", "Reshape", "Flatten", "Slice", "Dropout", "ConstantOfShape",
            "Equal", "Where");

    private ConstantFolding() {
    }

    static boolean handles(String op) {
        return OPS.contains(op);
    }

    /**
     * The values a fold makes, a * b * c, checked before anything is allocated: at most
     * {@link dev.osprey.Limits#maxTensorElements()} (a Gather or Concat grows its inputs; a file decides by how much).
     */
    private static int foldedSize(NodeView n, long a, long b, long c) throws OnnxImportException {
        long limit = Math.min(Integer.MAX_VALUE - 8, dev.osprey.Limits.current().maxTensorElements());
        long size = TensorData.product(TensorData.product(a, b), c);
        if (size > limit) {
            throw n.error("folding it on constants would make " + (size == Long.MAX_VALUE ? "more than 2^63"
                    : String.valueOf(size)) + " values; expected at most " + limit + " (Limits.maxTensorElements)");
        }
        return (int) size;
    }

    static TensorData evaluate(NodeView n, List<TensorData> in, Path modelDir) throws OnnxImportException {
        return switch (n.op) {
            case "Constant" -> constant(n, modelDir);
            case "Identity", "Dropout" -> in.get(0);
            case "Cast" -> cast(n, in.get(0));
            case "Shape" -> TensorData.ofInts(new long[] {in.get(0).rank()}, in.get(0).dims.clone());
            case "Gather" -> gather(n, in.get(0), in.get(1));
            case "Unsqueeze" -> unsqueeze(n, in);
            case "Squeeze" -> squeeze(n, in);
            case "Concat" -> concat(n, in);
            case "Add", "Sub", "Mul", "Div" -> arithmetic(n, in.get(0), in.get(1));
            case "Reshape" -> reshape(n, in.get(0), in.get(1));
            case "Flatten" -> flatten(n, in.get(0));
            case "Slice" -> slice(n, in);
            case "ConstantOfShape" -> constantOfShape(n, in.get(0), modelDir);
            case "Equal" -> equal(n, in.get(0), in.get(1));
            case "Where" -> where(n, in.get(0), in.get(1), in.get(2));
            default -> throw n.error("cannot evaluate " + n.op + " on constants");
        };
    }

    private static TensorData constant(NodeView n, Path modelDir) throws OnnxImportException {
        if (n.attributes().size() != 1) {
            throw n.error("expected exactly one value attribute, received " + n.attributes().size());
        }
        AttributeProto a = n.attributes().get(0);
        return switch (a.getName()) {
            case "value" -> TensorData.read(a.getT(), modelDir, n.label + " value");
            case "value_float" -> TensorData.ofFloats(new long[0], new float[] {a.getF()});
            case "value_floats" -> {
                float[] f = new float[a.getFloatsCount()];
                for (int i = 0; i < f.length; i++) {
                    f[i] = a.getFloats(i);
                }
                yield TensorData.ofFloats(new long[] {f.length}, f);
            }
            case "value_int" -> TensorData.ofInts(new long[0], new long[] {a.getI()});
            case "value_ints" -> TensorData.ofInts(new long[] {a.getIntsCount()},
                    a.getIntsList().stream().mapToLong(Long::longValue).toArray());
            default -> throw n.error("attribute '" + a.getName() + "' is not supported (expected value, value_float, "
                    + "value_floats, value_int or value_ints)");
        };
    }

    /**
     * A tensor of the given (batch-free) shape filled with the value attribute's one element (0 by default), as the
     * shape arithmetic of torch's expand writes it; at most 1,048,576 elements.
     */
    private static TensorData constantOfShape(NodeView n, TensorData shape, Path modelDir)
            throws OnnxImportException {
        long[] dims = shape.asInts(n.label + " shape");
        long size = 1;
        for (long d : dims) {
            if (d < 0 || d == TensorData.BATCH) {
                throw n.error("expected a shape of sizes >= 0 (the batch size stays dynamic), received "
                        + Arrays.toString(dims));
            }
            size = TensorData.product(size, d);
            if (size > 1 << 20) {
                throw n.error("expected at most 1,048,576 elements, received shape " + Arrays.toString(dims));
            }
        }
        TensorData fill = null;
        for (AttributeProto a : n.attributes()) {
            if (a.getName().equals("value")) {
                fill = TensorData.read(a.getT(), modelDir, n.label + " value");
            }
        }
        if (fill == null || fill.ints == null) {
            float[] f = new float[(int) size];
            Arrays.fill(f, fill == null ? 0f : fill.asFloats()[0]);
            return TensorData.ofFloats(dims, f);
        }
        long[] l = new long[(int) size];
        Arrays.fill(l, fill.ints[0]);
        return TensorData.ofInts(dims, l);
    }

    /** Element-wise equality (1 or 0) of two operands of one shape or a scalar; the batch symbol equals only itself. */
    private static TensorData equal(NodeView n, TensorData a, TensorData b) throws OnnxImportException {
        if (!(Arrays.equals(a.dims, b.dims) || a.isScalarLike() || b.isScalarLike())) {
            throw n.error("expected operands of one shape or a scalar (broadcasting is not folded), received "
                    + a.shapeString() + " and " + b.shapeString());
        }
        TensorData shape = a.size() >= b.size() ? a : b;
        long[] out = new long[shape.size()];
        for (int i = 0; i < out.length; i++) {
            int ia = a.isScalarLike() ? 0 : i, ib = b.isScalarLike() ? 0 : i;
            boolean same = a.ints != null && b.ints != null ? a.ints[ia] == b.ints[ib]
                    : a.asFloats()[ia] == b.asFloats()[ib];
            out[i] = same ? 1 : 0;
        }
        return TensorData.ofInts(shape.dims.clone(), out);
    }

    /** Where(condition, x, y), each of one shape (or a scalar): x where the condition holds, else y. */
    private static TensorData where(NodeView n, TensorData c, TensorData x, TensorData y) throws OnnxImportException {
        int size = Math.max(c.size(), Math.max(x.size(), y.size()));
        long[] dims = (c.size() == size ? c : x.size() == size ? x : y).dims;
        for (TensorData t : List.of(c, x, y)) {
            if (!Arrays.equals(t.dims, dims) && !t.isScalarLike()) {
                throw n.error("expected operands of one shape or scalars (broadcasting is not folded), received "
                        + c.shapeString() + ", "
                        + x.shapeString() + " and " + y.shapeString());
            }
        }
        TensorData shape = c.size() == size ? c : x.size() == size ? x : y;
        long[] cond = c.asInts(n.label + " condition");
        if (x.ints != null && y.ints != null) {
            long[] out = new long[size];
            for (int i = 0; i < size; i++) {
                out[i] = cond[c.isScalarLike() ? 0 : i] != 0 ? x.ints[x.isScalarLike() ? 0 : i]
                        : y.ints[y.isScalarLike() ? 0 : i];
            }
            return TensorData.ofInts(shape.dims.clone(), out);
        }
        float[] xf = x.asFloats(), yf = y.asFloats();
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            out[i] = cond[c.isScalarLike() ? 0 : i] != 0 ? xf[x.isScalarLike() ? 0 : i] : yf[y.isScalarLike() ? 0 : i];
        }
        return TensorData.ofFloats(shape.dims.clone(), out);
    }

    private static TensorData cast(NodeView n, TensorData x) throws OnnxImportException {
        long to = n.integer("to", 0);
        if (to == TensorProto.DataType.FLOAT_VALUE || to == TensorProto.DataType.DOUBLE_VALUE) {
            return TensorData.ofFloats(x.dims, x.asFloats());
        }
        if (to == TensorProto.DataType.INT64_VALUE || to == TensorProto.DataType.INT32_VALUE) {
            if (x.ints != null) {
                return x;
            }
            long[] l = new long[x.floats.length];
            for (int i = 0; i < l.length; i++) {
                l[i] = (long) x.floats[i]; // ONNX casts truncate toward zero
            }
            return TensorData.ofInts(x.dims, l);
        }
        throw n.unsupported("to", TensorData.typeName((int) to), "float, double, int32 or int64");
    }

    private static int axis(NodeView n, long axis, int rank) throws OnnxImportException {
        long a = axis < 0 ? axis + rank : axis;
        if (a < 0 || a >= rank) {
            throw n.error("axis " + axis + " is out of range for rank " + rank);
        }
        return (int) a;
    }

    private static TensorData gather(NodeView n, TensorData data, TensorData indices) throws OnnxImportException {
        int ax = axis(n, n.integer("axis", 0), data.rank());
        long[] idx = indices.asInts(n.label + " indices");
        long outer = 1;
        for (int i = 0; i < ax; i++) {
            outer *= data.dims[i];
        }
        long inner = 1;
        for (int i = ax + 1; i < data.rank(); i++) {
            inner *= data.dims[i];
        }
        long len = data.dims[ax];
        long[] dims = new long[data.rank() - 1 + indices.rank()];
        System.arraycopy(data.dims, 0, dims, 0, ax);
        System.arraycopy(indices.dims, 0, dims, ax, indices.rank());
        System.arraycopy(data.dims, ax + 1, dims, ax + indices.rank(), data.rank() - ax - 1);
        int size = foldedSize(n, outer, idx.length, inner);
        float[] f = data.floats != null ? new float[size] : null;
        long[] l = data.ints != null ? new long[size] : null;
        int o = 0;
        for (long a = 0; a < outer; a++) {
            for (long k : idx) {
                long j = k < 0 ? k + len : k;
                if (j < 0 || j >= len) {
                    throw n.error("index " + k + " is out of range for a dimension of " + len);
                }
                for (long b = 0; b < inner; b++) {
                    int src = Math.toIntExact((a * len + j) * inner + b);
                    if (f != null) {
                        f[o++] = data.floats[src];
                    } else {
                        l[o++] = data.ints[src];
                    }
                }
            }
        }
        return f != null ? TensorData.ofFloats(dims, f) : TensorData.ofInts(dims, l);
    }

    private static long[] axesOf(NodeView n, List<TensorData> in) throws OnnxImportException {
        if (in.size() > 1 && in.get(1) != null) {
            return in.get(1).asInts(n.label + " axes");
        }
        int[] a = n.integers("axes", null);
        return a == null ? null : Arrays.stream(a).asLongStream().toArray();
    }

    private static TensorData unsqueeze(NodeView n, List<TensorData> in) throws OnnxImportException {
        TensorData x = in.get(0);
        long[] axes = axesOf(n, in);
        if (axes == null) {
            throw n.error("expected axes");
        }
        int rank = x.rank() + axes.length;
        boolean[] inserted = new boolean[rank];
        for (long a : axes) {
            inserted[axis(n, a, rank)] = true;
        }
        long[] dims = new long[rank];
        for (int i = 0, j = 0; i < rank; i++) {
            dims[i] = inserted[i] ? 1 : x.dims[j++];
        }
        return withDims(x, dims);
    }

    private static TensorData squeeze(NodeView n, List<TensorData> in) throws OnnxImportException {
        TensorData x = in.get(0);
        long[] axes = axesOf(n, in);
        List<Long> dims = new ArrayList<>();
        boolean[] removed = new boolean[x.rank()];
        if (axes == null) {
            for (int i = 0; i < x.rank(); i++) {
                removed[i] = x.dims[i] == 1;
            }
        } else {
            for (long a : axes) {
                int i = axis(n, a, x.rank());
                if (x.dims[i] != 1) {
                    throw n.error("cannot squeeze axis " + a + " of size " + x.dims[i]);
                }
                removed[i] = true;
            }
        }
        for (int i = 0; i < x.rank(); i++) {
            if (!removed[i]) {
                dims.add(x.dims[i]);
            }
        }
        return withDims(x, dims.stream().mapToLong(Long::longValue).toArray());
    }

    private static TensorData withDims(TensorData x, long[] dims) {
        return x.floats != null ? TensorData.ofFloats(dims, x.floats) : TensorData.ofInts(dims, x.ints);
    }

    private static TensorData concat(NodeView n, List<TensorData> in) throws OnnxImportException {
        TensorData first = in.get(0);
        int ax = axis(n, n.integer("axis", 0), first.rank());
        boolean ints = in.stream().allMatch(t -> t.ints != null);
        long outer = 1;
        for (int i = 0; i < ax; i++) {
            outer *= first.dims[i];
        }
        long[] dims = first.dims.clone();
        dims[ax] = 0;
        for (TensorData t : in) {
            if (t.rank() != first.rank()) {
                throw n.error("expected inputs of one rank, received " + first.shapeString() + " and " + t.shapeString());
            }
            dims[ax] += t.dims[ax];
        }
        int size = foldedSize(n, in.stream().mapToLong(TensorData::size).sum(), 1, 1);
        float[] f = ints ? null : new float[size];
        long[] l = ints ? new long[size] : null;
        int o = 0;
        for (long a = 0; a < outer; a++) {
            for (TensorData t : in) {
                int chunk = (int) (t.size() / Math.max(outer, 1));
                for (int k = 0; k < chunk; k++) {
                    int src = (int) (a * chunk + k);
                    if (ints) {
                        l[o++] = t.ints[src];
                    } else {
                        f[o++] = t.asFloats()[src];
                    }
                }
            }
        }
        return ints ? TensorData.ofInts(dims, l) : TensorData.ofFloats(dims, f);
    }

    private static TensorData arithmetic(NodeView n, TensorData a, TensorData b) throws OnnxImportException {
        if (!(a.size() == b.size() || a.isScalarLike() || b.isScalarLike())) {
            throw n.error("expected operands of one size or a scalar, received " + a.shapeString() + " and "
                    + b.shapeString());
        }
        TensorData shape = a.size() >= b.size() ? a : b;
        int size = shape.size();
        if (a.ints != null && b.ints != null) {
            long[] out = new long[size];
            for (int i = 0; i < size; i++) {
                long x = a.ints[a.isScalarLike() ? 0 : i];
                long y = b.ints[b.isScalarLike() ? 0 : i];
                if (x == TensorData.BATCH || y == TensorData.BATCH) {
                    throw n.error("arithmetic on the batch size is not supported (the batch stays dynamic)");
                }
                out[i] = switch (n.op) {
                    case "Add" -> x + y;
                    case "Sub" -> x - y;
                    case "Mul" -> x * y;
                    default -> {
                        if (y == 0) {
                            throw n.error("integer division by zero");
                        }
                        yield Math.floorDiv(x, y);
                    }
                };
            }
            return TensorData.ofInts(shape.dims, out);
        }
        float[] fa = a.asFloats();
        float[] fb = b.asFloats();
        float[] out = new float[size];
        for (int i = 0; i < size; i++) {
            float x = fa[a.isScalarLike() ? 0 : i];
            float y = fb[b.isScalarLike() ? 0 : i];
            out[i] = switch (n.op) {
                case "Add" -> x + y;
                case "Sub" -> x - y;
                case "Mul" -> x * y;
                default -> x / y;
            };
        }
        return TensorData.ofFloats(shape.dims, out);
    }

    private static TensorData reshape(NodeView n, TensorData x, TensorData shape) throws OnnxImportException {
        long[] target = shape.asInts(n.label + " shape").clone();
        int minus = -1;
        long known = 1;
        for (int i = 0; i < target.length; i++) {
            if (target[i] == 0 && n.integer("allowzero", 0) == 0) {
                target[i] = x.dims[i];
            }
            if (target[i] == -1) {
                minus = i;
            } else if (target[i] < 0) {
                throw n.error("expected sizes >= -1, received " + Arrays.toString(target));
            } else {
                known *= target[i];
            }
        }
        if (minus >= 0) {
            target[minus] = known == 0 ? 0 : x.size() / known;
        }
        long total = 1;
        for (long d : target) {
            total *= d;
        }
        if (total != x.size()) {
            throw n.error("cannot reshape " + x.shapeString() + " to " + Arrays.toString(target));
        }
        return withDims(x, target);
    }

    private static TensorData flatten(NodeView n, TensorData x) throws OnnxImportException {
        int ax = (int) n.integer("axis", 1);
        ax = ax < 0 ? ax + x.rank() : ax;
        long outer = 1;
        for (int i = 0; i < ax && i < x.rank(); i++) {
            outer *= x.dims[i];
        }
        return withDims(x, new long[] {outer, outer == 0 ? 0 : x.size() / outer});
    }

    private static TensorData slice(NodeView n, List<TensorData> in) throws OnnxImportException {
        TensorData x = in.get(0);
        if (x.rank() != 1 || in.size() < 3 || in.get(1) == null || in.get(2) == null) {
            throw n.error("only slices of 1-D constants with starts and ends inputs are supported");
        }
        long len = x.dims[0];
        long start = in.get(1).asInts("starts")[0];
        long end = in.get(2).asInts("ends")[0];
        long step = in.size() > 4 && in.get(4) != null ? in.get(4).asInts("steps")[0] : 1;
        if (step != 1) {
            throw n.error("only slices with step 1 are supported");
        }
        start = Math.max(0, Math.min(len, start < 0 ? start + len : start));
        end = Math.max(start, Math.min(len, end < 0 ? end + len : end));
        int from = (int) start;
        int to = (int) end;
        return x.floats != null ? TensorData.ofFloats(new long[] {to - from}, Arrays.copyOfRange(x.floats, from, to))
                : TensorData.ofInts(new long[] {to - from}, Arrays.copyOfRange(x.ints, from, to));
    }
}
