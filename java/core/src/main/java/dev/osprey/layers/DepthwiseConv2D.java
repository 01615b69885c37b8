package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Regularizer;
import dev.osprey.Layer;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Depthwise 2-D convolution, as Keras' DepthwiseConv2D: each input channel convolved with its own depthMultiplier
 * filters, output channel c * depthMultiplier + m. The depthwise kernel (kh, kw, in, multiplier) is exactly a grouped
 * convolution's kernel (kh, kw, 1, in * multiplier) with one group per input channel, and runs as one.
 */
public final class DepthwiseConv2D extends Layer implements Fusion.LinearOp, Fusion.Convolution,
        Fusion.PaddingAbsorber, Fusion.ResidualAbsorber, Fusion.Int8HandOver, Fusion.OwnInputGradients {
    private final int kernelH;
    private final int kernelW;
    private int depthMultiplier = 1;
    private Activation activation = Activation.LINEAR;
    private int strideH = 1;
    private int strideW = 1;
    private int dilationH = 1;
    private int dilationW = 1;
    private Padding padding = Padding.VALID;
    private boolean useBias = true;
    private Initializer depthwiseInitializer = Initializer.glorotUniform();
    private Initializer biasInitializer = Initializer.zeros();
    private Regularizer depthwiseRegularizer;

    /** A square kernel of this size. */
    public DepthwiseConv2D(int kernelSize) {
        this(kernelSize, kernelSize);
    }

    /** A kernel of kernelH rows by kernelW columns. */
    public DepthwiseConv2D(int kernelH, int kernelW) {
        this.kernelH = positive("DepthwiseConv2D", "kernel height", kernelH);
        this.kernelW = positive("DepthwiseConv2D", "kernel width", kernelW);
    }

    /** Filters per input channel (default 1): the output has input channels times this many. */
    public DepthwiseConv2D depthMultiplier(int multiplier) {
        this.depthMultiplier = positive("DepthwiseConv2D", "depth multiplier", multiplier);
        return this;
    }

    /** The activation applied to the output (default and null: linear). */
    public DepthwiseConv2D activation(Activation activation) {
        this.activation = activation == null ? Activation.LINEAR : activation;
        return this;
    }

    /** The same stride along rows and columns (default 1). */
    public DepthwiseConv2D strides(int stride) {
        return strides(stride, stride);
    }

    /** Steps of the kernel along rows and columns (default 1). */
    public DepthwiseConv2D strides(int strideH, int strideW) {
        this.strideH = positive("DepthwiseConv2D", "stride", strideH);
        this.strideW = positive("DepthwiseConv2D", "stride", strideW);
        return this;
    }

    /** Spacing of the kernel's taps, the same along rows and columns (default 1). */
    public DepthwiseConv2D dilationRate(int rate) {
        this.dilationH = positive("DepthwiseConv2D", "dilation rate", rate);
        this.dilationW = dilationH;
        return this;
    }

    /** 'valid' (the default) or 'same' padding. */
    public DepthwiseConv2D padding(Padding padding) {
        if (padding == null) {
            throw new IllegalArgumentException("DepthwiseConv2D: expected padding 'valid' or 'same', received null");
        }
        this.padding = padding;
        return this;
    }

    /** Whether the layer adds a bias (default true); off when BatchNormalization follows. */
    public DepthwiseConv2D useBias(boolean useBias) {
        this.useBias = useBias;
        return this;
    }

    /** How the depthwise kernel starts (default Glorot uniform). */
    public DepthwiseConv2D depthwiseInitializer(Initializer initializer) {
        this.depthwiseInitializer = initializer;
        return this;
    }

    /** How the bias starts (default zeros). */
    public DepthwiseConv2D biasInitializer(Initializer initializer) {
        this.biasInitializer = initializer;
        return this;
    }

    /** The penalty training adds for the kernel (Keras' depthwise_regularizer; null: none), e.g. Regularizer.l2(1e-4). */
    public DepthwiseConv2D depthwiseRegularizer(Regularizer regularizer) {
        this.depthwiseRegularizer = regularizer;
        return this;
    }

    @Override
    public Activation activation() {
        return activation;
    }

    /** The rows and columns the dilated kernel spans. */
    private int windowH() {
        return Layers.dilatedWindow("DepthwiseConv2D", kernelH, dilationH);
    }

    private int windowW() {
        return Layers.dilatedWindow("DepthwiseConv2D", kernelW, dilationW);
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = image(inputs);
        return Shape.of(padding.outputLength("DepthwiseConv2D", in.dim(0), windowH(), strideH),
                padding.outputLength("DepthwiseConv2D", in.dim(1), windowW(), strideW),
                in.dim(2) * depthMultiplier);
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        int in = inputs.get(0).dim(2);
        List<ParamSpec> p = new ArrayList<>();
        p.add(ParamSpec.trainable("depthwise_kernel", new int[] {kernelH, kernelW, in, depthMultiplier},
                depthwiseInitializer).regularized(depthwiseRegularizer));
        if (useBias) {
            p.add(ParamSpec.trainable("bias", new int[] {in * depthMultiplier}, biasInitializer));
        }
        return p;
    }

    /** The convolution of an input framed by extra zeros {top, bottom, left, right} (a ZeroPadding2D taken over). */
    private Conv2dSpec spec(Shape in, int batch, int[] extra) {
        int h = in.dim(0) + extra[0] + extra[1];
        int w = in.dim(1) + extra[2] + extra[3];
        outputShape(List.of(Shape.of(h, w, in.dim(2))));
        int[] padH = padding.pads(h, windowH(), strideH);
        int[] padW = padding.pads(w, windowW(), strideW);
        int channels = in.dim(2);
        return new Conv2dSpec(batch, in.dim(0), in.dim(1), channels, channels * depthMultiplier, kernelH, kernelW,
                strideH, strideW, padH[0] + extra[0], padW[0] + extra[2], padH[1] + extra[1], padW[1] + extra[3],
                dilationH, dilationW, channels, useBias, Activation.LINEAR);
    }

    @Override
    public double forwardFlops(List<Shape> inputs) {
        return spec(inputs.get(0), 1, new int[4]).forwardFlops();
    }

    @Override
    public Conv2dSpec convolutionSpec(Shape input, int batch, int[] extraPadding) {
        return spec(input, batch, extraPadding);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        Conv2dSpec spec = spec(ctx.inputShape(), ctx.batch(), ctx.extraPadding());
        int[] grouped = spec.kernelShape(); // (kh, kw, 1, in * multiplier): the same floats in the same order
        Tensor kernel = backend.view(ctx.param("depthwise_kernel"), 0, grouped);
        Tensor dKernel = ctx.gradient("depthwise_kernel");
        return new ConvRun(ctx, spec, kernel, ctx.param("bias"), dKernel == null ? null : backend.view(dKernel, 0, grouped),
                ctx.gradient("bias"), activation);
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
        return "depthwise_kernel";
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("kernel_size", List.of(kernelH, kernelW));
        c.put("strides", List.of(strideH, strideW));
        c.put("padding", padding.kerasName());
        c.put("depth_multiplier", depthMultiplier);
        c.put("data_format", "channels_last");
        c.put("dilation_rate", List.of(dilationH, dilationW));
        c.put("activation", activation.toConfig());
        c.put("use_bias", useBias);
        c.put("depthwise_initializer", depthwiseInitializer.toConfig());
        c.put("bias_initializer", biasInitializer.toConfig());
        if (depthwiseRegularizer != null) {
            c.put("depthwise_regularizer", depthwiseRegularizer.toConfig());
        }
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static DepthwiseConv2D fromConfig(Config c) {
        Layers.requireChannelsLast("DepthwiseConv2D", c);
        int[] k = c.integers("kernel_size", 2);
        int[] s = c.integers("strides", 2, new int[] {1, 1});
        int[] d = c.integers("dilation_rate", 2, new int[] {1, 1});
        if (d[0] != d[1]) {
            throw new IllegalArgumentException("DepthwiseConv2D config: expected equal dilation rates, received "
                    + d[0] + " and " + d[1]);
        }
        DepthwiseConv2D layer = new DepthwiseConv2D(k[0], k[1]).strides(s[0], s[1]).padding(c.padding("padding"))
                .depthMultiplier(c.integer("depth_multiplier", 1)).dilationRate(d[0])
                .activation(c.activation("activation")).useBias(c.bool("use_bias", true))
                .depthwiseInitializer(c.initializer("depthwise_initializer", Initializer.glorotUniform()))
                .biasInitializer(c.initializer("bias_initializer", Initializer.zeros()))
                .depthwiseRegularizer(c.regularizer("depthwise_regularizer"));
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning DepthwiseConv2D so that they chain with this layer's own ----------------------------

    @Override
    public DepthwiseConv2D name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public DepthwiseConv2D trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public DepthwiseConv2D inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
