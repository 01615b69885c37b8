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

/** Max pooling over (H, W, C); strides default to the pool size, as in Keras. */
public final class MaxPooling2D extends Layer {
    private final int poolH;
    private final int poolW;
    private int strideH;
    private int strideW;
    private Padding padding = Padding.VALID;

    public MaxPooling2D(int poolSize) {
        this(poolSize, poolSize);
    }

    public MaxPooling2D(int poolH, int poolW) {
        this.poolH = positive("MaxPooling2D", "pool height", poolH);
        this.poolW = positive("MaxPooling2D", "pool width", poolW);
        this.strideH = poolH;
        this.strideW = poolW;
    }

    public MaxPooling2D strides(int stride) {
        return strides(stride, stride);
    }

    public MaxPooling2D strides(int strideH, int strideW) {
        this.strideH = positive("MaxPooling2D", "stride", strideH);
        this.strideW = positive("MaxPooling2D", "stride", strideW);
        return this;
    }

    public MaxPooling2D padding(Padding padding) {
        this.padding = padding;
        return this;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape input = image(inputs);
        return Shape.of(padding.outputLength("MaxPooling2D", input.dim(0), poolH, strideH),
                padding.outputLength("MaxPooling2D", input.dim(1), poolW, strideW), input.dim(2));
    }

    Pool2dSpec spec(Shape input, int batch) {
        outputShape(List.of(input));
        int[] padH = padding.pads(input.dim(0), poolH, strideH);
        int[] padW = padding.pads(input.dim(1), poolW, strideW);
        return new Pool2dSpec(Pool2dSpec.Mode.MAX, batch, input.dim(0), input.dim(1), input.dim(2), poolH, poolW,
                strideH, strideW, padH[0], padW[0], padH[1], padW[1]);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        return new PoolRun(ctx, spec(ctx.inputShape(), ctx.batch()));
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("pool_size", List.of(poolH, poolW));
        c.put("strides", List.of(strideH, strideW));
        c.put("padding", padding.kerasName());
        c.put("data_format", "channels_last");
        return c;
    }

    public static MaxPooling2D fromConfig(Config c) {
        int[] p = c.integers("pool_size", 2, new int[] {2, 2});
        int[] s = c.integers("strides", 2, p);
        Layers.requireChannelsLast("MaxPooling2D", c);
        return withCommonConfig(new MaxPooling2D(p[0], p[1]).strides(s[0], s[1]).padding(c.padding("padding")), c);
    }

    /** A pooling op forward and backward, with its workspace (max pooling's arg-max on the CPU). */
    static final class PoolRun implements LayerRun {
        private final Backend backend;
        private final Pool2dSpec spec;
        private final Tensor input;
        private final Tensor output;
        private final Tensor workspace;
        private final Tensor dInput;
        private final List<Tensor> inputGradients;

        PoolRun(PlanContext ctx, Pool2dSpec spec) {
            this.backend = ctx.backend();
            this.spec = spec;
            this.input = ctx.input();
            this.output = ctx.allocate(spec.outputShape());
            long workspaceSize = backend.pool2dWorkspaceSize(spec);
            this.workspace = workspaceSize > 0 ? ctx.allocate(Math.toIntExact(workspaceSize)) : null;
            this.dInput = ctx.needsInputGradient(0) ? ctx.allocate(spec.inputShape()) : null;
            this.inputGradients = LayerRun.gradients(dInput);
        }

        @Override
        public Tensor output() {
            return output;
        }

        @Override
        public void forward(long seed) {
            backend.pool2dForward(spec, input, output, workspace);
        }

        @Override
        public List<Tensor> backward(Tensor dOutput) {
            if (dInput != null) {
                backend.pool2dBackward(spec, input, output, dOutput, workspace, dInput);
            }
            return inputGradients;
        }
    }
}
