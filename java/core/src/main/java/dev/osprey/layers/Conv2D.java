package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Regularizer;
import dev.osprey.Layer;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * 2-D convolution over (H, W, C) inputs, as Keras' Conv2D: kernel (kh, kw, in / groups, filters) and bias (filters),
 * strides, 'valid' or 'same' padding, dilation, groups, an activation fused into the op, and useBias(false) for a
 * convolution followed by BatchNormalization (which the inference plan then folds into the kernel).
 */
public final class Conv2D extends Layer implements Fusion.LinearOp, Fusion.Convolution,
        Fusion.PaddingAbsorber, Fusion.ResidualAbsorber, Fusion.Int8HandOver, Fusion.OwnInputGradients {
    private final int filters;
    private final int kernelH;
    private final int kernelW;
    private final Activation activation;
    private int strideH = 1;
    private int strideW = 1;
    private int dilationH = 1;
    private int dilationW = 1;
    private int groups = 1;
    private Padding padding = Padding.VALID;
    private boolean useBias = true;
    private Initializer kernelInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();
    private Regularizer kernelRegularizer;

    /** {@code filters} output channels, a square kernel of {@code kernelSize} and this activation (null: linear). */
    public Conv2D(int filters, int kernelSize, Activation activation) {
        this(filters, kernelSize, kernelSize, activation);
    }

    /** As {@link #Conv2D(int, int, Activation)}, the activation by its Keras name ("relu", ...). */
    public Conv2D(int filters, int kernelSize, String activation) {
        this(filters, kernelSize, kernelSize, dev.osprey.Activation.of(activation));
    }

    /** {@code filters} output channels and a square kernel of {@code kernelSize}, without activation. */
    public Conv2D(int filters, int kernelSize) {
        this(filters, kernelSize, kernelSize, Activation.LINEAR);
    }

    /** {@code filters} output channels, a kernel of kernelH rows by kernelW columns, this activation (null: linear). */
    public Conv2D(int filters, int kernelH, int kernelW, Activation activation) {
        this.filters = positive("Conv2D", "filters", filters);
        this.kernelH = positive("Conv2D", "kernel height", kernelH);
        this.kernelW = positive("Conv2D", "kernel width", kernelW);
        this.activation = activation == null ? Activation.LINEAR : activation;
    }

    /** The same stride along rows and columns (default 1). */
    public Conv2D strides(int stride) {
        return strides(stride, stride);
    }

    /** Steps of the kernel along rows and columns (default 1). */
    public Conv2D strides(int strideH, int strideW) {
        this.strideH = positive("Conv2D", "stride", strideH);
        this.strideW = positive("Conv2D", "stride", strideW);
        return this;
    }

    /** 'valid' (the default) or 'same' padding. */
    public Conv2D padding(Padding padding) {
        if (padding == null) {
            throw new IllegalArgumentException("Conv2D: expected padding 'valid' or 'same', received null");
        }
        this.padding = padding;
        return this;
    }

    /** Spacing of the kernel's taps (atrous convolution); 1 is a plain convolution. */
    public Conv2D dilationRate(int rate) {
        return dilationRate(rate, rate);
    }

    /** {@link #dilationRate(int)} with separate rates along rows and columns. */
    public Conv2D dilationRate(int rateH, int rateW) {
        this.dilationH = positive("Conv2D", "dilation rate", rateH);
        this.dilationW = positive("Conv2D", "dilation rate", rateW);
        return this;
    }

    /** Splits input channels and filters into this many groups, each convolved on its own (filters % groups == 0). */
    public Conv2D groups(int groups) {
        this.groups = positive("Conv2D", "groups", groups);
        if (filters % groups != 0) {
            throw new IllegalArgumentException("Conv2D: expected groups dividing filters (" + filters
                    + "), received groups=" + groups);
        }
        return this;
    }

    /** Whether the layer adds a bias (default true); off when BatchNormalization follows. */
    public Conv2D useBias(boolean useBias) {
        this.useBias = useBias;
        return this;
    }

    /** How the kernel starts (default Glorot uniform). */
    public Conv2D kernelInitializer(Initializer initializer) {
        this.kernelInitializer = initializer;
        return this;
    }

    /** How the bias starts (default zeros). */
    public Conv2D biasInitializer(Initializer initializer) {
        this.biasInitializer = initializer;
        return this;
    }

    /** The penalty training adds for the kernel (Keras' kernel_regularizer; null: none), e.g. Regularizer.l2(1e-4). */
    public Conv2D kernelRegularizer(Regularizer regularizer) {
        this.kernelRegularizer = regularizer;
        return this;
    }

    /** The number of output channels (Keras' {@code filters}). */
    public int filters() {
        return filters;
    }

    @Override
    public Activation activation() {
        return activation;
    }

    /** The rows and columns the dilated kernel spans. */
    private int windowH() {
        return Layers.dilatedWindow("Conv2D", kernelH, dilationH);
    }

    private int windowW() {
        return Layers.dilatedWindow("Conv2D", kernelW, dilationW);
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape input = image(inputs);
        if (input.dim(2) % groups != 0) {
            throw new IllegalArgumentException("Conv2D: expected input channels divisible by groups=" + groups
                    + ", received " + input);
        }
        return Shape.of(padding.outputLength("Conv2D", input.dim(0), windowH(), strideH),
                padding.outputLength("Conv2D", input.dim(1), windowW(), strideW), filters);
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        int in = inputs.get(0).dim(2) / groups;
        List<ParamSpec> p = new ArrayList<>();
        p.add(ParamSpec.trainable("kernel", new int[] {kernelH, kernelW, in, filters}, kernelInitializer)
                .regularized(kernelRegularizer));
        if (useBias) {
            p.add(ParamSpec.trainable("bias", new int[] {filters}, biasInitializer));
        }
        return p;
    }

    @Override
    public double forwardFlops(List<Shape> inputs) {
        return spec(inputs.get(0), 1).forwardFlops();
    }

    Conv2dSpec spec(Shape input, int batch) {
        return spec(input, batch, new int[4]);
    }

    /** The convolution of an input framed by extra zeros {top, bottom, left, right} (a ZeroPadding2D taken over). */
    Conv2dSpec spec(Shape input, int batch, int[] extra) {
        int h = input.dim(0) + extra[0] + extra[1];
        int w = input.dim(1) + extra[2] + extra[3];
        outputShape(List.of(Shape.of(h, w, input.dim(2))));
        int[] padH = padding.pads(h, windowH(), strideH);
        int[] padW = padding.pads(w, windowW(), strideW);
        return new Conv2dSpec(batch, input.dim(0), input.dim(1), input.dim(2), filters, kernelH, kernelW,
                strideH, strideW, padH[0] + extra[0], padW[0] + extra[2], padH[1] + extra[1], padW[1] + extra[3],
                dilationH, dilationW, groups, useBias, Activation.LINEAR);
    }

    @Override
    public Conv2dSpec convolutionSpec(Shape input, int batch, int[] extraPadding) {
        return spec(input, batch, extraPadding);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        return new ConvRun(ctx, spec(ctx.inputShape(), ctx.batch(), ctx.extraPadding()), ctx.param("kernel"),
                ctx.param("bias"), ctx.gradient("kernel"), ctx.gradient("bias"), activation);
    }

    @Override
    public boolean canAbsorbPadding() {
        return true;
    }

    @Override
    public boolean canAbsorbResidual() {
        return activation.kind() == Activation.Kind.LINEAR;
    }

    @Override
    public String kernelName() {
        return "kernel";
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("filters", filters);
        c.put("kernel_size", List.of(kernelH, kernelW));
        c.put("strides", List.of(strideH, strideW));
        c.put("padding", padding.kerasName());
        c.put("data_format", "channels_last");
        c.put("dilation_rate", List.of(dilationH, dilationW));
        c.put("groups", groups);
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
    public static Conv2D fromConfig(Config c) {
        int[] k = c.integers("kernel_size", 2);
        int[] s = c.integers("strides", 2, new int[] {1, 1});
        int[] d = c.integers("dilation_rate", 2, new int[] {1, 1});
        Layers.requireChannelsLast("Conv2D", c);
        Conv2D layer = new Conv2D(c.integer("filters"), k[0], k[1], c.activation("activation"))
                .strides(s[0], s[1]).padding(c.padding("padding")).dilationRate(d[0], d[1])
                .groups(c.integer("groups", 1)).useBias(c.bool("use_bias", true))
                .kernelInitializer(c.initializer("kernel_initializer", Initializer.glorotUniform()))
                .biasInitializer(c.initializer("bias_initializer", Initializer.zeros()))
                .kernelRegularizer(c.regularizer("kernel_regularizer"));
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning Conv2D so that they chain with this layer's own ----------------------------

    @Override
    public Conv2D name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Conv2D trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Conv2D inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
