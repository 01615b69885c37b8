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

/** y = x * scale + offset, as Keras' Rescaling (e.g. scale 1/255 for 8-bit pixels, or 1/127.5 and offset -1). */
public final class Rescaling extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final double scale;
    private final double offset;

    /** Multiplies by scale, without offset. */
    public Rescaling(double scale) {
        this(scale, 0);
    }

    /** x * scale + offset, both finite. */
    public Rescaling(double scale, double offset) {
        if (!Double.isFinite(scale) || !Double.isFinite(offset)) {
            throw new IllegalArgumentException("Rescaling: expected a finite scale and offset, received scale=" + scale
                    + ", offset=" + offset);
        }
        this.scale = scale;
        this.offset = offset;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        return single(inputs);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        Tensor input = ctx.input();
        Tensor output = ctx.allocateOutput();
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        float s = (float) scale, o = (float) offset;
        return LayerRun.of(output, seed -> backend.scale(input, s, o, output), dOutput -> {
            if (dInput != null) {
                backend.scale(dOutput, s, 0f, dInput);
            }
        }, inputGradients);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("scale", scale);
        c.put("offset", offset);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Rescaling fromConfig(Config c) {
        return withCommonConfig(new Rescaling(c.number("scale"), c.number("offset", 0)), c);
    }

    // ---- Layer's setters, returning Rescaling so that they chain with this layer's own ----------------------------

    @Override
    public Rescaling name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Rescaling trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Rescaling inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
