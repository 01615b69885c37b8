package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** (H, W, C) to (H*W*C) in channels-last order, as Keras does; free, since activations are already NHWC. */
public final class Flatten extends Layer {
    @Override
    public Shape outputShape(List<Shape> inputs) {
        return Shape.of(single(inputs).size());
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        return new ViewRun(ctx, ctx.outputBatchShape());
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("data_format", "channels_last");
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Flatten fromConfig(Config c) {
        Layers.requireChannelsLast("Flatten", c);
        return withCommonConfig(new Flatten(), c);
    }

    /** A run whose output is its input seen in another shape; the gradient likewise (Flatten, Reshape). */
    static final class ViewRun implements LayerRun {
        private final PlanContext ctx;
        private final Tensor output;
        private final int[] inputShape;
        private Tensor lastOutputGradient;
        private List<Tensor> inputGradients;

        ViewRun(PlanContext ctx, int[] outputShape) {
            this.ctx = ctx;
            this.output = ctx.backend().view(ctx.input(), 0, outputShape);
            this.inputShape = ctx.inputShape().withBatch(ctx.batch());
        }

        @Override
        public Tensor output() {
            return output;
        }

        @Override
        public void forward(long seed) {
            // A view: nothing to compute.
        }

        @Override
        public boolean computesNothing() {
            return true;
        }

        @Override
        public List<Tensor> backward(Tensor dOutput) {
            if (dOutput != lastOutputGradient) { // the same tensor every step, so this runs once
                lastOutputGradient = dOutput;
                inputGradients = LayerRun.gradients(ctx.needsInputGradient(0)
                        ? ctx.backend().view(dOutput, 0, inputShape) : null);
            }
            return inputGradients;
        }
    }

    // ---- Layer's setters, returning Flatten so that they chain with this layer's own ----------------------------

    @Override
    public Flatten name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Flatten trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Flatten inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
