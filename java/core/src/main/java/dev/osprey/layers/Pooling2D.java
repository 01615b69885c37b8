package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * What Keras' 2-D pooling layers share: pool size, strides (defaulting to the pool size), 'valid' or 'same' padding,
 * and the run of one pooling op. A pooling layer names its mode.
 */
abstract class Pooling2D<P extends Pooling2D<P>> extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final int poolH;
    private final int poolW;
    private int strideH;
    private int strideW;
    private Padding padding = Padding.VALID;
    private int[] explicitPads; // {top, bottom, left, right}, or null: the padding mode decides

    Pooling2D(int poolH, int poolW) {
        this.poolH = positive(className(), "pool height", poolH);
        this.poolW = positive(className(), "pool width", poolW);
        this.strideH = poolH;
        this.strideW = poolW;
    }

    abstract Pool2dSpec.Mode mode();

    /** The same stride along rows and columns (default: the pool size). */
    public P strides(int stride) {
        return strides(stride, stride);
    }

    /** Steps between windows along rows and columns (default: the pool size). */
    @SuppressWarnings("unchecked")
    public P strides(int strideH, int strideW) {
        this.strideH = positive(className(), "stride", strideH);
        this.strideW = positive(className(), "stride", strideW);
        return (P) this;
    }

    /** 'valid' (the default) or 'same' padding. */
    @SuppressWarnings("unchecked")
    public P padding(Padding padding) {
        if (padding == null) {
            throw new IllegalArgumentException(className() + ": expected padding 'valid' or 'same', received null");
        }
        this.padding = padding;
        this.explicitPads = null;
        return (P) this;
    }

    /**
     * Explicit padding, as ONNX and PyTorch models have it (not a Keras option): rows above and below, columns left
     * and right. Padded cells never win a max and are left out of an average's count.
     */
    @SuppressWarnings("unchecked")
    public P padding(int top, int bottom, int left, int right) {
        if (top < 0 || bottom < 0 || left < 0 || right < 0) {
            throw new IllegalArgumentException(className() + ": expected padding of at least 0, received (" + top
                    + ", " + bottom + ", " + left + ", " + right + ")");
        }
        if (top >= poolH || bottom >= poolH || left >= poolW || right >= poolW) {
            throw new IllegalArgumentException(className() + ": expected padding smaller than the pool size " + poolH
                    + "x" + poolW + " (a window of padding alone), received (" + top + ", " + bottom + ", " + left
                    + ", " + right + ")");
        }
        this.explicitPads = new int[] {top, bottom, left, right};
        return (P) this;
    }

    /** {before, after} along rows (axis 0) or columns (axis 1) for this input length. */
    private int[] pads(int axis, int input) {
        if (explicitPads != null) {
            return new int[] {explicitPads[2 * axis], explicitPads[2 * axis + 1]};
        }
        return axis == 0 ? padding.pads(input, poolH, strideH) : padding.pads(input, poolW, strideW);
    }

    private int outputLength(int axis, int input) {
        int window = axis == 0 ? poolH : poolW;
        int[] p = pads(axis, input);
        if (input + p[0] + p[1] < window) {
            throw new IllegalArgumentException(className() + ": expected an input of at least " + window
                    + " along each spatial axis with its padding, received " + input);
        }
        return (input + p[0] + p[1] - window) / (axis == 0 ? strideH : strideW) + 1;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape input = image(inputs);
        return Shape.of(outputLength(0, input.dim(0)), outputLength(1, input.dim(1)), input.dim(2));
    }

    Pool2dSpec spec(Shape input, int batch) {
        outputShape(List.of(input));
        int[] padH = pads(0, input.dim(0));
        int[] padW = pads(1, input.dim(1));
        return new Pool2dSpec(mode(), batch, input.dim(0), input.dim(1), input.dim(2), poolH, poolW, strideH, strideW,
                padH[0], padW[0], padH[1], padW[1]);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        return new PoolRun(ctx, spec(ctx.inputShape(), ctx.batch()), ctx.outputBatchShape());
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("pool_size", List.of(poolH, poolW));
        c.put("strides", List.of(strideH, strideW));
        c.put("padding", explicitPads == null ? padding.kerasName() : List.of(List.of(explicitPads[0], explicitPads[1]),
                List.of(explicitPads[2], explicitPads[3])));
        c.put("data_format", "channels_last");
        return c;
    }

    /** Strides and padding from a config onto a layer made with its pool size. */
    static <P extends Pooling2D<P>> P configured(P layer, Config c, int[] pool) {
        int[] s = c.integers("strides", 2, pool);
        Layers.requireChannelsLast(layer.className(), c);
        layer.strides(s[0], s[1]);
        if (c.raw("padding") instanceof List<?> l && l.size() == 2) { // explicit: [[top, bottom], [left, right]]
            int[] rows = new Config(layer.className(), Map.of("padding", l.get(0))).integers("padding", 2);
            int[] cols = new Config(layer.className(), Map.of("padding", l.get(1))).integers("padding", 2);
            layer.padding(rows[0], rows[1], cols[0], cols[1]);
        } else {
            layer.padding(c.padding("padding"));
        }
        return withCommonConfig(layer, c);
    }

    static int[] poolSize(Config c) {
        return c.integers("pool_size", 2, new int[] {2, 2});
    }

    /** A pooling op forward and backward, with its workspace (max pooling's arg-max on the CPU). */
    static final class PoolRun implements LayerRun {
        private final Backend backend;
        private final Pool2dSpec spec;
        private final Tensor input;
        private final Tensor pooled;
        private final Tensor output;
        private final Tensor workspace;
        private final boolean inference;  // an optimized inference plan: no workspace, the backend's inference op
        private final dev.osprey.backend.InputRange int8; // int8 plans: the range of 8-bit values passed through
        private final Tensor dInput;
        private final List<Tensor> inputGradients;
        private final ReshapedGradient pooledGradient;

        /** outputShape: the layer's (batch, ...), which may view the op's (batch, outH, outW, channels) differently. */
        PoolRun(PlanContext ctx, Pool2dSpec spec, int[] outputShape) {
            this.backend = ctx.backend();
            this.spec = spec;
            this.input = ctx.input();
            this.pooled = ctx.allocateOutput(spec.outputShape());
            this.output = backend.view(pooled, 0, outputShape);
            this.inference = ctx.optimizedInference();
            this.int8 = ctx.quantizedInput() ? ctx.quantizedOutput() : null;
            if (ctx.quantizedInput() && (int8 == null || spec.mode() != Pool2dSpec.Mode.MAX)) {
                throw new IllegalStateException("int8 pooling: expected max pooling with 8-bit output, received "
                        + spec + " writing " + (int8 == null ? "fp32" : "8 bits"));
            }
            long workspaceSize = inference ? 0 : backend.pool2dWorkspaceSize(spec);
            this.workspace = workspaceSize > 0 ? ctx.allocate(Math.toIntExact(workspaceSize)) : null;
            this.dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
            this.inputGradients = LayerRun.gradients(dInput);
            this.pooledGradient = new ReshapedGradient(backend, spec.outputShape());
        }

        @Override
        public Tensor output() {
            return output;
        }

        @Override
        public void forward(long seed) {
            if (int8 != null) {
                backend.maxPool2dInt8(spec, int8.unsigned(), input, pooled);
            } else if (inference) {
                backend.pool2dInference(spec, input, pooled);
            } else {
                backend.pool2dForward(spec, input, pooled, workspace);
            }
        }

        @Override
        public List<Tensor> backward(Tensor dOutput) {
            if (dInput != null) {
                backend.pool2dBackward(spec, input, pooled, pooledGradient.of(dOutput), workspace, dInput);
            }
            return inputGradients;
        }
    }

    // ---- Layer's setters, returning P so that they chain with this layer's own ----------------------------

    @Override
    @SuppressWarnings("unchecked")
    public P name(String name) {
        super.name(name);
        return (P) this;
    }

    @Override
    @SuppressWarnings("unchecked")
    public P trainable(boolean trainable) {
        super.trainable(trainable);
        return (P) this;
    }

    @Override
    @SuppressWarnings("unchecked")
    public P inputShape(int... dims) {
        super.inputShape(dims);
        return (P) this;
    }
}
