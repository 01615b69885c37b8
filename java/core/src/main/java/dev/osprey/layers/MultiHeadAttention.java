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
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.PermuteSpec;
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
            // the projections' rows and the heads' context before it is joined live only during the forward pass:
            // memory every layer of the plan shares; so do the rest where no backward reads them (inference)
            // (the backward's own temporaries too: a layer's backward runs alone, after every forward)
            int projectedRows = Math.max(batch * tq * h * keyDim, batch * tv * h * Math.max(keyDim, valueDim));
            boolean keeps = ctx.backward();
            int[][] shapes = {{projectedRows}, {items, tq, valueDim}, {items, tq, keyDim}, {items, tv, keyDim},
                    {items, tv, valueDim}, {items * tq, tv}, {batch * tq, h * valueDim}};
            int[][] backwardShapes = {{projectedRows}, {batch * tq, h * valueDim}, {items, tq, valueDim},
                    {items * tq, tv}, {items, tq, keyDim}, {items, tv, keyDim}, {items, tv, valueDim},
                    {batch * tv, features(ctx.inputShapes().get(1))}};
            int[][] request = keeps ? new int[][] {shapes[0], shapes[1], backwardShapes[0], backwardShapes[1],
                    backwardShapes[2], backwardShapes[3], backwardShapes[4], backwardShapes[5], backwardShapes[6],
                    backwardShapes[7]} : shapes;
            List<Tensor> scratch = ctx.scratch(request);
            Tensor rows = scratch.get(0), contextHeads = scratch.get(1);
            // the backward's: the projections' row gradients (one at a time), then as named below
            Tensor dProjectedRows = keeps ? scratch.get(2) : null;
            Tensor qh = keeps ? ctx.allocate(shapes[2]) : scratch.get(2);
            Tensor kh = keeps ? ctx.allocate(shapes[3]) : scratch.get(3);
            Tensor vh = keeps ? ctx.allocate(shapes[4]) : scratch.get(4);
            Tensor weights = keeps ? ctx.allocate(shapes[5]) : scratch.get(5); // scores, then softmax in place
            Tensor context = keeps ? ctx.allocate(shapes[6]) : scratch.get(6);
            // each sample's (positions, heads, dim) rows as (heads, positions, dim), and back
            PermuteSpec queryHeads = PermuteSpec.of(batch, new int[] {tq, h, keyDim}, new int[] {1, 0, 2});
            PermuteSpec keyHeads = PermuteSpec.of(batch, new int[] {tv, h, keyDim}, new int[] {1, 0, 2});
            PermuteSpec valueHeads = PermuteSpec.of(batch, new int[] {tv, h, valueDim}, new int[] {1, 0, 2});
            PermuteSpec contextRows = PermuteSpec.of(batch, new int[] {h, tq, valueDim}, new int[] {1, 0, 2});
            Projection query = new Projection("query", 0, tq, h * keyDim, rows, dProjectedRows, queryHeads, null);
            Projection key = new Projection("key", keyIsValue ? 1 : 2, tv, h * keyDim, rows, dProjectedRows, keyHeads,
                    null);
            Projection value = new Projection("value", 1, tv, h * valueDim, rows, dProjectedRows, valueHeads, null);
            Projection output = new Projection("attention_output", -1, tq, outputUnits, null, null, null,
                    ctx.residual());
            BatchMatMulSpec scores = new BatchMatMulSpec(items, tq, tv, keyDim, false, true);   // Q . K^T
            BatchMatMulSpec mix = new BatchMatMulSpec(items, tq, valueDim, tv, false, false);  // W . V
            float scale = (float) (1 / Math.sqrt(keyDim));
            // an activation the plan folded in after the residual sum this layer takes (inference), else linear
            Activation after = ctx.activation(Activation.LINEAR);

            boolean drops = ctx.training() && dropout > 0;
            Tensor mask = drops ? ctx.allocate(items * tq, tv) : null;
            Tensor dropped = drops ? ctx.allocate(items * tq, tv) : weights;
            Tensor out = ctx.allocateOutput();
            Tensor outRows = backend.view(out, 0, batch * tq, output.spec.units());
            float rate = (float) dropout;

            LayerRun.Forward forward = seed -> {
                query.forward(qh);
                backend.scale(qh, scale, 0f, qh);
                key.forward(kh);
                value.forward(vh);
                backend.batchMatMul(scores, qh, kh, weights);
                backend.activationForward(Activation.SOFTMAX, weights, weights);
                if (drops) {
                    backend.dropoutForward(rate, seed, weights, mask, dropped);
                }
                backend.batchMatMul(mix, dropped, vh, contextHeads);
                backend.permute(contextRows, contextHeads, context);
                output.forwardRows(context, outRows);
                if (after.kind() != Activation.Kind.LINEAR) {
                    backend.activationForward(after, outRows, outRows);
                }
            };
            if (!ctx.backward()) {
                return LayerRun.of(out, forward, dOut -> {
                    throw new IllegalStateException(describe() + ": an inference plan has no backward pass");
                }, LayerRun.gradients(new Tensor[ctx.inputShapes().size()]));
            }

            Tensor dContext = scratch.get(3), dContextHeads = scratch.get(4), dWeights = scratch.get(5);
            Tensor dqh = scratch.get(6), dkh = scratch.get(7), dvh = scratch.get(8);
            ReshapedGradient dOutRows = new ReshapedGradient(backend, batch * tq, output.spec.units());
            BatchMatMulSpec dWeightsSpec = new BatchMatMulSpec(items, tq, tv, valueDim, false, true); // dC . V^T
            BatchMatMulSpec dValueSpec = new BatchMatMulSpec(items, tv, valueDim, tq, true, false);   // W^T . dC
            BatchMatMulSpec dQuerySpec = new BatchMatMulSpec(items, tq, keyDim, tv, false, false);    // dS . K
            BatchMatMulSpec dKeySpec = new BatchMatMulSpec(items, tv, keyDim, tq, true, false);       // dS^T . Q
            Tensor[] inputGradients = new Tensor[ctx.inputShapes().size()];
            for (int i = 0; i < inputGradients.length; i++) {
                inputGradients[i] = ctx.needsInputGradient(i) ? ctx.allocateInputGradient(i) : null;
            }
            Tensor keyIntoValue = keyIsValue && inputGradients[1] != null ? scratch.get(9) : null;
            PermuteSpec contextHeadsBack = contextRows.inverse();

            LayerRun.Backward backward = dOut -> {
                Tensor dy = dOutRows.of(dOut);
                output.backwardWeights(context, dy);
                output.backwardData(dy, dContext);
                backend.permute(contextHeadsBack, dContext, dContextHeads);
                backend.batchMatMul(dValueSpec, dropped, dContextHeads, dvh);
                backend.batchMatMul(dWeightsSpec, dContextHeads, vh, dWeights);
                if (drops) {
                    backend.multiply(dWeights, mask, dWeights);
                }
                backend.activationBackward(Activation.SOFTMAX, weights, weights, dWeights, dWeights); // now dScores
                backend.batchMatMul(dQuerySpec, dWeights, kh, dqh);
                backend.scale(dqh, scale, 0f, dqh);
                backend.batchMatMul(dKeySpec, dWeights, qh, dkh); // qh is already scaled
                query.backward(dqh, inputGradients[0]);
                value.backward(dvh, inputGradients[1]);
                if (keyIsValue) {
                    key.backward(dkh, keyIntoValue);
                    if (keyIntoValue != null) {
                        backend.add(inputGradients[1], keyIntoValue, inputGradients[1]);
                    }
                } else {
                    key.backward(dkh, inputGradients[2]);
                }
            };
            return LayerRun.of(out, forward, backward, LayerRun.gradients(inputGradients));
        }

        /**
         * One of the four projections, a dense op over every position's features: its kernel (in, heads * dim) as
         * Keras' (in, heads, dim) lies in memory, its bias (or zeros), their gradients, and the (rows, heads, dim)
         * buffer between the op and the per-head layout.
         */
        private final class Projection {
            final DenseSpec spec;
            final Tensor input;
            final Tensor kernel;
            final Tensor bias;
            final Tensor dKernel;
            final Tensor dBias;
            final Tensor rows;
            final Tensor dRows;
            final PermuteSpec toHeads;
            final PermuteSpec fromHeads;
            final ReshapedGradient dInputRows;
            final Tensor residual;
            /** Optimized fp32 or bf16 inference: the projection as a 1x1 convolution over the positions, else null. */
            final ConvInference pointwise;
            final Tensor pointwiseKernel;
            final Tensor pointwiseInput;

            /**
             * input -1 is the output projection, which reads the heads' concatenated context (and then rows, dRows and
             * toHeads are null); rows and dRows: the memory its output rows and (in training) their gradient go to
             * (views of them are taken); toHeads: how they are laid out per head; residual: what the output
             * projection adds (an Add the plan folded into it), or null.
             */
            Projection(String name, int input, int positions, int units, Tensor rows, Tensor dRows,
                       PermuteSpec toHeads, Tensor residual) {
                int in = input < 0 ? numHeads * valueDim : features(ctx.inputShapes().get(input));
                int rowCount = Math.multiplyExact(batch, positions);
                this.residual = residual == null ? null : backend.view(residual, 0, rowCount, units);
                spec = new DenseSpec(rowCount, in, units, Activation.LINEAR, ctx.trainingMath());
                this.input = input < 0 ? null : backend.view(ctx.inputs().get(input), 0, rowCount, in);
                kernel = backend.view(ctx.param(name + "/kernel"), 0, in, units);
                Tensor given = ctx.param(name + "/bias");
                if (given != null) {
                    bias = backend.view(given, 0, units);
                } else {
                    bias = ctx.allocate(units);
                    backend.fill(bias, 0f);
                }
                boolean backward = ctx.backward();
                Tensor k = backward ? ctx.gradient(name + "/kernel") : null;
                dKernel = k == null ? null : backend.view(k, 0, in, units);
                Tensor b = backward ? ctx.gradient(name + "/bias") : null;
                dBias = b != null ? backend.view(b, 0, units) : dKernel != null ? ctx.allocate(units) : null;
                this.rows = rows == null ? null : backend.view(rows, 0, rowCount, units);
                this.toHeads = toHeads;
                this.fromHeads = toHeads == null ? null : toHeads.inverse();
                this.dRows = dRows == null ? null : backend.view(dRows, 0, rowCount, units);
                dInputRows = new ReshapedGradient(backend, rowCount, in);
                // the kernel (in, units) is a 1x1 convolution's as it lies in memory; oneDNN runs a (positions, in)
                // map through its convolution faster than through its inner product (see Dense)
                Precision precision = ctx.precision();
                if (ctx.optimizedInference() && (precision == Precision.FP32 || precision == Precision.BF16)) {
                    Conv2dSpec conv = new Conv2dSpec(batch, 1, positions, in, units, 1, 1, 1, 1, 0, 0, 0, 0,
                            Activation.LINEAR).withBias(true);
                    pointwise = new ConvInference(conv, residual != null, precision, null, false, null, null, null,
                            null);
                    Tensor keras = backend.view(kernel, 0, 1, 1, in, units);
                    long floats = backend.conv2dInferenceKernelSize(pointwise);
                    pointwiseKernel = floats == 0 ? keras : ctx.preparedWeight(keras, floats,
                            (weights, prepared) -> backend.conv2dPrepareInferenceKernel(pointwise, weights, prepared));
                    pointwiseInput = this.input == null ? null : backend.view(this.input, 0, batch, 1, positions, in);
                } else {
                    pointwise = null;
                    pointwiseKernel = null;
                    pointwiseInput = null;
                }
            }

            /** Projects this input and lays its rows out per head. */
            void forward(Tensor heads) {
                if (pointwise != null) {
                    backend.conv2dInference(pointwise, pointwiseInput, pointwiseKernel, bias, null, rows);
                } else {
                    backend.denseForward(spec, input, kernel, bias, rows);
                }
                backend.permute(toHeads, rows, heads);
            }

            /** The output projection: from given rows into given rows (views of the plan's, made once). */
            void forwardRows(Tensor x, Tensor y) {
                if (pointwise != null) {
                    backend.conv2dInference(pointwise, x, pointwiseKernel, bias, residual, y);
                } else {
                    backend.denseForward(spec, x, kernel, bias, y);
                    if (residual != null) {
                        backend.add(y, residual, y);
                    }
                }
            }

            /** From the per-head gradient: this projection's weight gradients, and its input's into dInput if given. */
            void backward(Tensor dHeads, Tensor dInput) {
                if (dKernel == null && dInput == null) {
                    return;
                }
                backend.permute(fromHeads, dHeads, dRows);
                backwardWeights(input, dRows);
                if (dInput != null) {
                    backwardData(dRows, dInputRows.of(dInput));
                }
            }

            void backwardWeights(Tensor x, Tensor dy) {
                if (dKernel != null) {
                    backend.denseBackwardWeights(spec, x, dy, dKernel, dBias);
                }
            }

            void backwardData(Tensor dy, Tensor dx) {
                backend.denseBackwardData(spec, dy, kernel, dx);
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
