package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Regularizer;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fully connected layer over (features) inputs, or over the last axis of larger ones as Keras applies it; kernel (in,
 * units) and bias (units), the activation fused into the op.
 * With softmax as a classifier's last layer, the layer produces logits and the loss (or predict) applies softmax.
 */
public final class Dense extends Layer implements Fusion.LinearOp, Fusion.OwnInputGradients, Fusion.ResidualAbsorber {
    private final int units;
    private final Activation activation;
    private Initializer kernelInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();
    private Regularizer kernelRegularizer;
    private boolean useBias = true;

    /** {@code units} outputs and this activation (null: linear). */
    public Dense(int units, Activation activation) {
        this.units = positive("Dense", "units", units);
        this.activation = activation == null ? Activation.LINEAR : activation;
    }

    /** {@code units} outputs and the activation of this Keras name ("relu", "softmax", ...), as Keras writes it. */
    public Dense(int units, String activation) {
        this(units, dev.osprey.Activation.of(activation));
    }

    /** {@code units} outputs, without activation. */
    public Dense(int units) {
        this(units, Activation.LINEAR);
    }

    /** How the kernel starts (default Glorot uniform). */
    public Dense kernelInitializer(Initializer initializer) {
        this.kernelInitializer = initializer;
        return this;
    }

    /**
     * Whether the layer adds a bias (Keras' use_bias; default true). Without one, as before a BatchNormalization, the
     * ops add a zero bias the plan holds (a BatchNormalization folded in for inference gives it its own).
     */
    public Dense useBias(boolean useBias) {
        this.useBias = useBias;
        return this;
    }

    /** How the bias starts (default zeros). */
    public Dense biasInitializer(Initializer initializer) {
        this.biasInitializer = initializer;
        return this;
    }

    /** The penalty training adds for the kernel (Keras' kernel_regularizer; null: none), e.g. Regularizer.l2(1e-4). */
    public Dense kernelRegularizer(Regularizer regularizer) {
        this.kernelRegularizer = regularizer;
        return this;
    }

    @Override
    public Activation activation() {
        return activation;
    }

    /** The number of outputs (Keras' {@code units}). */
    public int units() {
        return units;
    }

    /**
     * (units,) for a flat input; for a larger one, as Keras, the layer applies to its last axis: (H, W, C) gives
     * (H, W, units), each pixel's C values multiplied by the same kernel (a 1x1 convolution's work).
     */
    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape input = single(inputs);
        int[] dims = input.dims();
        dims[dims.length - 1] = units;
        return Shape.of(dims);
    }

    @Override
    public double forwardFlops(List<Shape> inputs) {
        return 2.0 * inputs.get(0).size() * units;
    }

    /** The features each row has: the input's last axis. */
    private static int features(Shape input) {
        return input.dim(input.rank() - 1);
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        int in = features(inputs.get(0));
        ParamSpec kernel =
                ParamSpec.trainable("kernel", new int[] {in, units}, kernelInitializer).regularized(kernelRegularizer);
        return useBias ? List.of(kernel, ParamSpec.trainable("bias", new int[] {units}, biasInitializer))
                : List.of(kernel);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        int features = features(ctx.inputShape());
        if (ctx.inputShape().rank() > 1) {
            return asPointwiseConvolution(ctx, features);
        }
        // a vector per sample: the backend's inner product over the batch's rows
        OutputActivation out = new OutputActivation(ctx, activation);
        DenseSpec spec = new DenseSpec(ctx.batch(), features, units, out.fusedIntoOp(), ctx.trainingMath());
        Tensor input = ctx.input();
        Tensor raw = out.raw();
        Tensor kernel = ctx.param("kernel"), given = ctx.param("bias"); // a folded BatchNorm's, without one of its own
        Tensor bias = given != null ? given : zeros(ctx, backend);
        Tensor dKernel = ctx.gradient("kernel");
        Tensor dBias = ctx.gradient("bias") != null || dKernel == null ? ctx.gradient("bias") : ctx.allocate(units);
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        if (ctx.optimizedInference()) { // the kernel in the layout the backend's inference op reads, made once
            DenseInference op = new DenseInference(spec, ctx.precision(), ctx.inputRange());
            long floats = backend.denseInferenceKernelSize(op);
            Tensor prepared = floats == 0 ? kernel : ctx.preparedWeight(kernel, floats,
                    (keras, p) -> backend.densePrepareInferenceKernel(op, keras, p));
            return LayerRun.of(out.output(), seed -> {
                backend.denseInference(op, input, prepared, bias, raw);
                out.forward(backend);
            }, dOutput -> {
                throw new IllegalStateException("Dense: an inference plan has no backward pass");
            }, inputGradients);
        }
        return LayerRun.of(out.output(), seed -> {
            backend.denseForward(spec, input, kernel, bias, raw);
            out.forward(backend);
        }, dOutput -> {
            Tensor g = out.backward(backend, dOutput);
            if (dKernel != null) {
                backend.denseBackwardWeights(spec, input, g, dKernel, dBias);
            }
            if (dInput != null) {
                backend.denseBackwardData(spec, g, kernel, dInput);
            }
        }, inputGradients);
    }

    /**
     * The last axis of a larger input, in training and inference: each position's features times the kernel is a 1x1
     * convolution's work, and Keras' Dense kernel (in, units) is a 1x1 Conv2D's (1, 1, in, units) as it lies in memory
     * (its gradient likewise). The backends' convolutions run it near their peak where their inner products do not: on
     * ConvNeXt's (56, 56, 384) maps oneDNN's inner product took twice the time of its 1x1 convolution in inference
     * (benchmarks/results/convnext-tiny-imported-*.md), and a ViT MLP's training step about 1.1x its time
     * (benchmarks/results/dense-rows-training-*.md). (H, W, C) inputs are the convolution's image; others, (T, C) or
     * deeper, one row of positions.
     */
    private LayerRun asPointwiseConvolution(PlanContext ctx, int features) {
        Backend backend = ctx.backend();
        Shape in = ctx.inputShape();
        int height = in.rank() == 3 ? in.dim(0) : 1;
        int width = in.size() / features / height;
        dev.osprey.backend.Conv2dSpec spec = new dev.osprey.backend.Conv2dSpec(ctx.batch(), height, width, features,
                units, 1, 1, 1, 1, 0, 0, 0, 0, Activation.LINEAR);
        Tensor dKernel = ctx.gradient("kernel"); // null in inference plans
        return new ConvRun(ctx, spec, backend.view(ctx.param("kernel"), 0, 1, 1, features, units), ctx.param("bias"),
                dKernel == null ? null : backend.view(dKernel, 0, 1, 1, features, units), ctx.gradient("bias"),
                activation);
    }

    /** The zero bias a layer without one adds (the ops take a bias), made once for the plan. */
    private Tensor zeros(PlanContext ctx, Backend backend) {
        Tensor t = ctx.allocate(units);
        backend.fill(t, 0f);
        return t;
    }

    /**
     * On the last axis of larger inputs, which optimized inference runs as a 1x1 convolution, without an activation of
     * its own: it adds a residual as a convolution does (a transformer block's MLP and its skip connection).
     */
    @Override
    public boolean canAbsorbResidual() {
        return activation.kind() == Activation.Kind.LINEAR && !nodes().isEmpty()
                && nodes().stream().allMatch(n -> n.inputs().get(0).shape().rank() > 1);
    }

    @Override
    public String kernelName() {
        return "kernel";
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("units", units);
        c.put("activation", activation.toConfig());
        c.put("use_bias", useBias);
        c.put("kernel_initializer", kernelInitializer.toConfig());
        c.put("bias_initializer", biasInitializer.toConfig());
        if (kernelRegularizer != null) {
            c.put("kernel_regularizer", kernelRegularizer.toConfig());
        }
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Dense fromConfig(Config c) {
        Dense layer = new Dense(c.integer("units"), c.activation("activation")).useBias(c.bool("use_bias", true))
                .kernelInitializer(c.initializer("kernel_initializer", Initializer.glorotUniform()))
                .biasInitializer(c.initializer("bias_initializer", Initializer.zeros()))
                .kernelRegularizer(c.regularizer("kernel_regularizer"));
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning Dense so that they chain with this layer's own ----------------------------

    @Override
    public Dense name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Dense trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Dense inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
