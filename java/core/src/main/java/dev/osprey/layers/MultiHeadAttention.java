package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Layer;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BatchMatMulSpec;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Multi-head scaled dot-product attention, as Keras' MultiHeadAttention (and PyTorch's nn.MultiheadAttention): the
 * query, key and value are projected into {@code numHeads} heads; each head's query attends over the key's positions
 * with softmax(Q K^T / sqrt(keyDim)); the weights average the head's values; the heads are concatenated and projected
 * to the output. Called Keras' way, {@code apply(query, value)} or {@code apply(query, value, key)} (the key is the
 * value when not given): self-attention is {@code apply(x, x)}. Inputs are (positions..., features); attention runs
 * over every position axis (Keras' default attention_axes), and the output has the query's positions and
 * {@code outputShape} features (the query's own by default).
 *
 * <p>Weights in Keras' order and shapes: query, key and value kernels (features, heads, keyDim or valueDim) with biases
 * (heads, dim), then attention_output's kernel (heads, valueDim, output) and bias. {@code dropout} drops attention
 * weights while training. Not supported: attention masks (padding or causal) and other attention_axes.
 */
public final class MultiHeadAttention extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients,
        dev.osprey.engine.Fusion.ResidualAbsorber {
    private final int numHeads;
    private final int keyDim;
    private int valueDim;
    private double dropout;
    private boolean useBias = true;
    private int outputDim;
    private Initializer kernelInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();

    /** numHeads heads, each of keyDim features for the query and key (and, by default, the value). */
    public MultiHeadAttention(int numHeads, int keyDim) {
        this.numHeads = positive("MultiHeadAttention", "numHeads", numHeads);
        this.keyDim = positive("MultiHeadAttention", "keyDim", keyDim);
        this.valueDim = keyDim;
    }

    /** Features of each head's value (default keyDim). */
    public MultiHeadAttention valueDim(int valueDim) {
        this.valueDim = positive("MultiHeadAttention", "valueDim", valueDim);
        return this;
    }

    /** Share of attention weights dropped while training, 0 <= rate < 1 (default 0). */
    public MultiHeadAttention dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException("MultiHeadAttention: expected 0 <= dropout < 1, received dropout="
                    + rate);
        }
        this.dropout = rate;
        return this;
    }

    /** Whether the four projections add biases (default true). */
    public MultiHeadAttention useBias(boolean useBias) {
        this.useBias = useBias;
        return this;
    }

    /** Features of the output (Keras' output_shape; default the query's last axis). */
    public MultiHeadAttention outputShape(int features) {
        this.outputDim = positive("MultiHeadAttention", "outputShape", features);
        return this;
    }

    /** How the four kernels start (default glorot uniform, over Keras' kernel shapes). */
    public MultiHeadAttention kernelInitializer(Initializer i) {
        this.kernelInitializer = java.util.Objects.requireNonNull(i, "kernelInitializer");
        return this;
    }

    /** How the four biases start (default zeros). */
    public MultiHeadAttention biasInitializer(Initializer i) {
        this.biasInitializer = java.util.Objects.requireNonNull(i, "biasInitializer");
        return this;
    }

    public int numHeads() {
        return numHeads;
    }

    public int keyDim() {
        return keyDim;
    }

    public int valueDim() {
        return valueDim;
    }

    public double dropout() {
        return dropout;
    }

    /** The shapes of this call's query, value and key (the value's where the key is not given), checked. */
    private Shape[] qvk(List<Shape> inputs) {
        if (inputs.size() < 2 || inputs.size() > 3) {
            throw new IllegalArgumentException(describe() + ": expected a query and a value, and optionally a key "
                    + "(self-attention is apply(x, x)), received " + inputs.size() + " input(s)");
        }
        Shape query = inputs.get(0), value = inputs.get(1), key = inputs.size() == 3 ? inputs.get(2) : value;
        String[] names = {"query", "value", "key"};
        Shape[] all = {query, value, key};
        for (int i = 0; i < 3; i++) {
            if (all[i].rank() < 2) {
                throw new IllegalArgumentException(describe() + ": expected a " + names[i]
                        + " of shape (positions..., features), received " + all[i]);
            }
        }
        if (positions(value) != positions(key)) {
            throw new IllegalArgumentException(describe() + ": expected a key with the value's " + positions(value)
                    + " positions, received key " + key + " for value " + value);
        }
        return all;
    }

    private static int positions(Shape s) {
        return s.size() / features(s);
    }

    private static int features(Shape s) {
        return s.dim(s.rank() - 1);
    }

    private int outputFeatures(Shape query) {
        return outputDim > 0 ? outputDim : features(query);
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape query = qvk(inputs)[0];
        int[] dims = query.dims();
        dims[dims.length - 1] = outputFeatures(query);
        return Shape.of(dims);
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        Shape[] s = qvk(inputs);
        List<ParamSpec> p = new ArrayList<>();
        projection(p, "query", features(s[0]), keyDim);
        projection(p, "key", features(s[2]), keyDim);
        projection(p, "value", features(s[1]), valueDim);
        int out = outputFeatures(s[0]);
        p.add(ParamSpec.trainable("attention_output/kernel", new int[] {numHeads, valueDim, out}, kernelInitializer));
        if (useBias) {
            p.add(ParamSpec.trainable("attention_output/bias", new int[] {out}, biasInitializer));
        }
        return p;
    }

    private void projection(List<ParamSpec> p, String name, int in, int perHead) {
        p.add(ParamSpec.trainable(name + "/kernel", new int[] {in, numHeads, perHead}, kernelInitializer));
        if (useBias) {
            p.add(ParamSpec.trainable(name + "/bias", new int[] {numHeads, perHead}, biasInitializer));
        }
    }

    @Override
    public double forwardFlops(List<Shape> inputs) {
        Shape[] s = qvk(inputs);
        double tq = positions(s[0]), tv = positions(s[1]);
        double projections = tq * features(s[0]) * numHeads * keyDim + tv * features(s[2]) * numHeads * keyDim
                + tv * features(s[1]) * numHeads * valueDim + tq * numHeads * valueDim * outputFeatures(s[0]);
        return 2.0 * (projections + numHeads * tq * tv * (keyDim + valueDim));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        return new AttentionPlan(ctx).run();
    }

    /** Optimized inference adds a residual (a transformer block's skip connection) in the output projection. */
    @Override
    public boolean canAbsorbResidual() {
        return true;
    }

    /** One plan's tensors and ops: the four projections, the heads' products, the softmax and its gradients. */
    private final class AttentionPlan {
        private final PlanContext ctx;
        private final Backend backend;
        private final int batch;
        private final int tq;
        private final int tv;
        private final boolean keyIsValue;

        AttentionPlan(PlanContext ctx) {
            this.ctx = ctx;
            this.backend = ctx.backend();
            this.batch = ctx.batch();
            Shape[] s = qvk(ctx.inputShapes());
            this.tq = positions(s[0]);
            this.tv = positions(s[1]);
            this.keyIsValue = ctx.inputShapes().size() == 2;
        }

        LayerRun run() {
            int h = numHeads;
            int items = batch * h;
            int outputUnits = outputFeatures(ctx.inputShapes().get(0));
            // the projections leave (positions, heads, dim) rows, and the heads' products read and write each head's
            // columns where they lie (BatchMatMulSpec.Layout.interleaved): no permute on either side
            int[] queryRows = {batch * tq, h * keyDim};
            int[] keyRows = {batch * tv, h * keyDim};
            int[] valueRows = {batch * tv, h * valueDim};
            int[] scoreRows = {items * tq, tv};
            int[] contextRows = {batch * tq, h * valueDim};
            // training keeps what the backward reads; inference plans share all of it between layers, as the backward
            // shares its temporaries (a layer's backward runs alone, after every forward)
            boolean keeps = ctx.backward();
            // optimized inference of self-attention projects the query, key and value in one op, into rows of all
            // three side by side (PackedProjection)
            boolean packs = !keeps && ctx.optimizedInference() && keyIsValue
                    && ctx.inputs().get(0) == ctx.inputs().get(1);
            int packedWidth = 2 * h * keyDim + h * valueDim;
            int[][] request = keeps
                    ? new int[][] {contextRows, scoreRows, queryRows, keyRows, valueRows,
                            {batch * tv, features(ctx.inputShapes().get(1))}}
                    : packs ? new int[][] {scoreRows, contextRows, {batch * tq, packedWidth}}
                    : new int[][] {scoreRows, contextRows, queryRows, keyRows, valueRows};
            List<Tensor> scratch = ctx.scratch(request);
            Tensor weights = keeps ? ctx.allocate(scoreRows) : scratch.get(0); // scores, then softmax in place
            Tensor context = keeps ? ctx.allocate(contextRows) : scratch.get(1);
            float scale = (float) (1 / Math.sqrt(keyDim));
            Tensor q, k, v;
            BatchMatMulSpec.Layout queryHeads, keyHeads, valueHeads;
            Projection query = null, key = null, value = null;
            Runnable projectInputs;
            if (packs) {
                Tensor rows = scratch.get(2);
                int total = Math.toIntExact(rows.size());
                q = rows;
                k = backend.view(rows, h * keyDim, total - h * keyDim);
                v = backend.view(rows, 2 * h * keyDim, total - 2 * h * keyDim);
                queryHeads = BatchMatMulSpec.Layout.interleaved(tq, keyDim, packedWidth);
                keyHeads = queryHeads;
                valueHeads = BatchMatMulSpec.Layout.interleaved(tv, valueDim, packedWidth);
                projectInputs = new PackedProjection(packedWidth, rows, scale)::forward;
            } else {
                q = keeps ? ctx.allocate(queryRows) : scratch.get(2);
                k = keeps ? ctx.allocate(keyRows) : scratch.get(3);
                v = keeps ? ctx.allocate(valueRows) : scratch.get(4);
                queryHeads = BatchMatMulSpec.Layout.interleaved(tq, keyDim, h * keyDim);
                keyHeads = BatchMatMulSpec.Layout.interleaved(tv, keyDim, h * keyDim);
                valueHeads = BatchMatMulSpec.Layout.interleaved(tv, valueDim, h * valueDim);
                Projection qp = new Projection("query", 0, tq, h * keyDim, q, null);
                Projection kp = new Projection("key", keyIsValue ? 1 : 2, tv, h * keyDim, k, null);
                Projection vp = new Projection("value", 1, tv, h * valueDim, v, null);
                Tensor scaled = q;
                projectInputs = () -> {
                    qp.forward();
                    backend.scale(scaled, scale, 0f, scaled);
                    kp.forward();
                    vp.forward();
                };
                query = qp;
                key = kp;
                value = vp;
            }
            Tensor out = ctx.allocateOutput();
            Projection output = new Projection("attention_output", -1, tq, outputUnits, out, ctx.residual());
            Tensor contextMap = output.map(context, h * valueDim);
            BatchMatMulSpec.Layout contextHeads = BatchMatMulSpec.Layout.interleaved(tq, valueDim, h * valueDim);
            BatchMatMulSpec.Layout scoreHeads = BatchMatMulSpec.Layout.packed(h, tq, tv);
            BatchMatMulSpec scores = BatchMatMulSpec.ofHeads(batch, h, tq, tv, keyDim, false, true, queryHeads,
                    keyHeads, scoreHeads); // Q . K^T
            BatchMatMulSpec mix = BatchMatMulSpec.ofHeads(batch, h, tq, valueDim, tv, false, false, scoreHeads,
                    valueHeads, contextHeads); // W . V
            // an activation the plan folded in after the residual sum this layer takes (inference), else linear
            Activation after = ctx.activation(Activation.LINEAR);

            boolean drops = ctx.training() && dropout > 0;
            Tensor mask = drops ? ctx.allocate(scoreRows) : null;
            Tensor dropped = drops ? ctx.allocate(scoreRows) : weights;
            float rate = (float) dropout;

            LayerRun.Forward forward = seed -> {
                projectInputs.run();
                backend.batchMatMul(scores, q, k, weights);
                backend.activationForward(Activation.SOFTMAX, weights, weights);
                if (drops) {
                    backend.dropoutForward(rate, seed, weights, mask, dropped);
                }
                backend.batchMatMul(mix, dropped, v, context);
                output.forwardRows(contextMap, output.rows);
                if (after.kind() != Activation.Kind.LINEAR) {
                    backend.activationForward(after, output.rows, output.rows);
                }
            };
            if (!ctx.backward()) {
                return LayerRun.of(out, forward, dOut -> {
                    throw new IllegalStateException(describe() + ": an inference plan has no backward pass");
                }, LayerRun.gradients(new Tensor[ctx.inputShapes().size()]));
            }

            Tensor dContext = scratch.get(0), dWeights = scratch.get(1);
            Tensor dq = scratch.get(2), dk = scratch.get(3), dv = scratch.get(4);
            ReshapedGradient dOutMap = new ReshapedGradient(backend, batch, 1, tq, outputUnits);
            Tensor dContextMap = output.map(dContext, h * valueDim);
            BatchMatMulSpec dValueSpec = BatchMatMulSpec.ofHeads(batch, h, tv, valueDim, tq, true, false, scoreHeads,
                    contextHeads, valueHeads);   // W^T . dC
            BatchMatMulSpec dWeightsSpec = BatchMatMulSpec.ofHeads(batch, h, tq, tv, valueDim, false, true,
                    contextHeads, valueHeads, scoreHeads); // dC . V^T
            BatchMatMulSpec dQuerySpec = BatchMatMulSpec.ofHeads(batch, h, tq, keyDim, tv, false, false, scoreHeads,
                    keyHeads, queryHeads);  // dS . K
            BatchMatMulSpec dKeySpec = BatchMatMulSpec.ofHeads(batch, h, tv, keyDim, tq, true, false, scoreHeads,
                    queryHeads, keyHeads);  // dS^T . Q
            Tensor[] inputGradients = new Tensor[ctx.inputShapes().size()];
            for (int i = 0; i < inputGradients.length; i++) {
                inputGradients[i] = ctx.needsInputGradient(i) ? ctx.allocateInputGradient(i) : null;
            }
            Tensor keyIntoValue = keyIsValue && inputGradients[1] != null ? scratch.get(5) : null;
            Projection queryProjection = query, keyProjection = key, valueProjection = value;

            LayerRun.Backward backward = dOut -> {
                output.backward(contextMap, dOutMap.of(dOut), dContextMap);
                backend.batchMatMul(dValueSpec, dropped, dContext, dv);
                backend.batchMatMul(dWeightsSpec, dContext, v, dWeights);
                if (drops) {
                    backend.multiply(dWeights, mask, dWeights);
                }
                backend.activationBackward(Activation.SOFTMAX, weights, weights, dWeights, dWeights); // now dScores
                backend.batchMatMul(dQuerySpec, dWeights, k, dq);
                backend.scale(dq, scale, 0f, dq);
                backend.batchMatMul(dKeySpec, dWeights, q, dk); // q is already scaled
                queryProjection.backward(dq, inputGradients[0]);
                valueProjection.backward(dv, inputGradients[1]);
                if (keyIsValue) {
                    keyProjection.backward(dk, keyIntoValue);
                    if (keyIntoValue != null) {
                        backend.add(inputGradients[1], keyIntoValue, inputGradients[1]);
                    }
                } else {
                    keyProjection.backward(dk, inputGradients[2]);
                }
            };
            return LayerRun.of(out, forward, backward, LayerRun.gradients(inputGradients));
        }

        /**
         * A projection of in to units features at every one of positions, as an optimized inference plan's 1x1
         * convolution runs it: in bf16 in bf16 plans, else in fp32 (int8 plans too: attention has no int8 form).
         */
        ConvInference pointwise(int positions, int in, int units, boolean addsResidual) {
            Conv2dSpec conv = new Conv2dSpec(batch, 1, positions, in, units, 1, 1, 1, 1, 0, 0, 0, 0,
                    Activation.LINEAR).withBias(true);
            Precision precision = ctx.precision() == Precision.BF16 ? Precision.BF16 : Precision.FP32;
            return new ConvInference(conv, addsResidual, precision, null, false, null, null, null, null);
        }

        /** The kernel (in, units) as the op reads it: in place where that is its own layout, else prepared. */
        Tensor pointwiseKernel(ConvInference op, Tensor kernel, int in, int units) {
            Tensor keras = backend.view(kernel, 0, 1, 1, in, units);
            long floats = backend.conv2dInferenceKernelSize(op);
            return floats == 0 ? keras : ctx.preparedWeight(keras, floats,
                    (weights, prepared) -> backend.conv2dPrepareInferenceKernel(op, weights, prepared));
        }

        /**
         * Self-attention in optimized inference: the query, key and value projections as one 1x1
         * convolution, whose kernel (in, query | key | value units) and bias the plan packs from the three whenever
         * the weights change. The query's share is scaled by 1 / sqrt(keyDim) there, so that no pass over the queries
         * scales them. Its output rows hold each position's query, key and value side by side.
         */
        private final class PackedProjection {
            private final ConvInference op;
            private final Tensor input;
            private final Tensor kernel;
            private final Tensor bias;
            private final Tensor rows;

            PackedProjection(int width, Tensor rows, float scale) {
                int in = features(ctx.inputShapes().get(0));
                int queryUnits = numHeads * keyDim;
                Tensor packedKernel = packed(in, width, scale, queryUnits, "kernel");
                Tensor packedBias = useBias ? packed(1, width, scale, queryUnits, "bias") : zeros(width);
                this.op = pointwise(tq, in, width, false);
                this.kernel = pointwiseKernel(op, packedKernel, in, width);
                this.bias = packedBias;
                this.input = backend.view(ctx.inputs().get(0), 0, batch, 1, tq, in);
                this.rows = rows;
            }

            /**
             * The three weights of this name side by side in each of rows, the query's scaled: prepared by the plan
             * whenever any weight of the model changes (so also when only the key's or the value's did).
             */
            private Tensor packed(int rows, int width, float scale, int queryUnits, String name) {
                Tensor query = ctx.param("query/" + name), key = ctx.param("key/" + name);
                Tensor value = ctx.param("value/" + name);
                Tensor scaledQuery = ctx.allocate(rows * queryUnits); // read only while packing
                return ctx.preparedWeight(query, (long) rows * width, (weights, prepared) -> {
                    backend.scale(weights, scale, 0f, scaledQuery);
                    backend.concat(rows, List.of(scaledQuery, key, value), prepared);
                });
            }

            private Tensor zeros(int width) {
                Tensor zeros = ctx.allocate(width);
                backend.fill(zeros, 0f);
                return zeros;
            }

            void forward() {
                backend.conv2dInference(op, input, kernel, bias, null, rows);
            }
        }

        /**
         * One of the four projections, a dense op over every position's features, run as a 1x1 convolution over the
         * positions (Keras' kernel (in, heads, dim) is its (1, 1, in, heads * dim) as it lies in memory; oneDNN runs it
         * nearer its peak as a convolution than as an inner product, see Dense): its bias (or zeros), their gradients,
         * and the (rows, heads * dim) tensor it writes.
         */
        private final class Projection {
            final Conv2dSpec spec;
            final Tensor input;
            final Tensor kernel;
            final Tensor bias;
            final Tensor dKernel;
            final Tensor dBias;
            final Tensor rows;
            final ReshapedGradient dInputMap;
            final Tensor residual;
            final int positions;
            final int units;
            /** Optimized inference: the convolution as the plan's inference op runs it, else null. */
            final ConvInference pointwise;
            final Tensor pointwiseKernel;

            /**
             * input -1 is the output projection, which reads the heads' concatenated context; rows: the tensor of
             * batch * positions * units values its output goes to; residual: what the output projection adds (an Add the plan
             * folded into it), or null.
             */
            Projection(String name, int input, int positions, int units, Tensor rows, Tensor residual) {
                int in = input < 0 ? numHeads * valueDim : features(ctx.inputShapes().get(input));
                this.positions = positions;
                this.units = units;
                this.residual = residual == null ? null : map(residual, units);
                spec = new Conv2dSpec(batch, 1, positions, in, units, 1, 1, 1, 1, 0, 0, 0, 0, Activation.LINEAR)
                        .withBias(true).withMath(ctx.trainingMath());
                this.input = input < 0 ? null : map(ctx.inputs().get(input), in);
                kernel = backend.view(ctx.param(name + "/kernel"), 0, 1, 1, in, units);
                Tensor given = ctx.param(name + "/bias");
                if (given != null) {
                    bias = backend.view(given, 0, units);
                } else {
                    bias = ctx.allocate(units);
                    backend.fill(bias, 0f);
                }
                Tensor k = ctx.gradient(name + "/kernel"); // null where the plan doesn't train it
                dKernel = k == null ? null : backend.view(k, 0, 1, 1, in, units);
                Tensor b = ctx.gradient(name + "/bias");
                dBias = b != null ? backend.view(b, 0, units) : dKernel != null ? ctx.allocate(units) : null;
                this.rows = rows == null ? null : map(rows, units);
                dInputMap = new ReshapedGradient(backend, batch, 1, positions, in);
                if (ctx.optimizedInference()) {
                    pointwise = pointwise(positions, in, units, residual != null);
                    pointwiseKernel = pointwiseKernel(pointwise, ctx.param(name + "/kernel"), in, units);
                } else {
                    pointwise = null;
                    pointwiseKernel = null;
                }
            }

            /** A tensor of this projection's positions as the convolution's (batch, 1, positions, width) map. */
            Tensor map(Tensor t, int width) {
                return backend.view(t, 0, batch, 1, positions, width);
            }

            /** Projects this input into its rows. */
            void forward() {
                if (pointwise != null) {
                    backend.conv2dInference(pointwise, input, pointwiseKernel, bias, null, rows);
                } else {
                    backend.conv2dForward(spec, input, kernel, bias, rows);
                }
            }

            /** The output projection: from given rows into given rows (maps of the plan's, made once). */
            void forwardRows(Tensor x, Tensor y) {
                if (pointwise != null) {
                    backend.conv2dInference(pointwise, x, pointwiseKernel, bias, residual, y);
                } else {
                    backend.conv2dForward(spec, x, kernel, bias, y);
                    if (residual != null) {
                        backend.add(y, residual, y);
                    }
                }
            }

            /** From its rows' gradient: this projection's weight gradients, and its input's into dInput if given. */
            void backward(Tensor dRows, Tensor dInput) {
                backward(input, dRows, dInput == null ? null : dInputMap.of(dInput));
            }

            /** The weight gradients from x and dy, and x's gradient into dx if not null (maps, all three). */
            void backward(Tensor x, Tensor dy, Tensor dx) {
                if (dKernel == null && dx == null) {
                    return;
                }
                backend.conv2dBackward(spec, x, dy, kernel, dKernel, dKernel == null ? null : dBias, null, dx);
            }
        }
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("num_heads", numHeads);
        c.put("key_dim", keyDim);
        c.put("value_dim", valueDim);
        c.put("dropout", dropout);
        c.put("use_bias", useBias);
        c.put("output_shape", outputDim > 0 ? outputDim : null);
        c.put("attention_axes", null);
        c.put("kernel_initializer", kernelInitializer.toConfig());
        c.put("bias_initializer", biasInitializer.toConfig());
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static MultiHeadAttention fromConfig(Config c) {
        if (c.raw("attention_axes") != null) {
            throw new IllegalArgumentException("MultiHeadAttention config: expected attention_axes null (attention over "
                    + "every position axis), received " + c.raw("attention_axes"));
        }
        MultiHeadAttention layer = new MultiHeadAttention(c.integer("num_heads"), c.integer("key_dim"))
                .dropout(c.number("dropout", 0)).useBias(c.bool("use_bias", true))
                .kernelInitializer(c.initializer("kernel_initializer", Initializer.glorotUniform()))
                .biasInitializer(c.initializer("bias_initializer", Initializer.zeros()));
        Object valueDim = c.raw("value_dim");
        if (valueDim != null) {
            layer.valueDim(c.integer("value_dim"));
        }
        Object output = c.raw("output_shape");
        Object single = output instanceof List<?> l && l.size() == 1 ? l.get(0) : output;
        if (single instanceof Number n) {
            layer.outputShape(n.intValue());
        } else if (single != null) {
            throw new IllegalArgumentException("MultiHeadAttention config: expected output_shape null or a number of "
                    + "features, received " + output);
        }
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning MultiHeadAttention so that they chain with this layer's own ------------------

    @Override
    public MultiHeadAttention name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public MultiHeadAttention trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public MultiHeadAttention inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
