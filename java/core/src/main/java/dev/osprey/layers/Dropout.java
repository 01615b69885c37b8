package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Inverted dropout: while training, zeroes a share {@code rate} of values and scales the rest by 1/(1-rate); in
 * inference it is the identity and costs nothing (its output is its input).
 */
public final class Dropout extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients,
        dev.osprey.engine.Fusion.InferenceIdentity {
    private final double rate;

    /** Drops this share of values while training, 0 <= rate < 1. */
    public Dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException("Dropout: expected 0 <= rate < 1, received rate=" + rate);
        }
        this.rate = rate;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        return single(inputs);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Tensor input = ctx.input();
        if (!ctx.training()) {
            return LayerRun.passThrough(input);
        }
        Backend backend = ctx.backend();
        int[] shape = ctx.outputBatchShape();
        Tensor output = ctx.allocateOutput();
        Tensor mask = ctx.allocate(shape);
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        float r = (float) rate;
        return LayerRun.of(output, seed -> backend.dropoutForward(r, seed, input, mask, output), dOutput -> {
            if (dInput != null) {
                backend.multiply(dOutput, mask, dInput);
            }
        }, inputGradients);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("rate", rate);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Dropout fromConfig(Config c) {
        return withCommonConfig(new Dropout(c.number("rate")), c);
    }

    // ---- Layer's setters, returning Dropout so that they chain with this layer's own ----------------------------

    @Override
    public Dropout name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Dropout trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Dropout inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
