package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.LayerNormSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Layer normalization over the last axis, as Keras' LayerNormalization (and PyTorch's LayerNorm over the last
 * dimension): each position's features are normalized by their own mean and biased variance, then scaled by gamma and
 * shifted by beta per feature. Epsilon 1e-3 by default, as Keras (PyTorch's is 1e-5; ConvNeXt uses 1e-6). Unlike
 * BatchNormalization it keeps no statistics between batches: training and inference compute the same function, and a
 * sample's output never depends on the rest of its batch. On a feature map (height, width, channels) it normalizes
 * each pixel's channels, as ConvNeXt does.
 */
public final class LayerNormalization extends Layer implements Fusion.OwnInputGradients {
    private double epsilon = 1e-3;
    private Initializer gammaInitializer = Initializer.ones();
    private Initializer betaInitializer = Initializer.zeros();

    /** Small constant added to the variance, > 0 (default 1e-3, Keras'). */
    public LayerNormalization epsilon(double epsilon) {
        if (!(epsilon > 0) || Double.isInfinite(epsilon)) {
            throw new IllegalArgumentException("LayerNormalization: expected a finite epsilon > 0, received epsilon="
                    + epsilon);
        }
        this.epsilon = epsilon;
        return this;
    }

    /** The variance offset. */
    public double epsilon() {
        return epsilon;
    }

    /** How the scale gamma starts (default ones). */
    public LayerNormalization gammaInitializer(Initializer i) {
        this.gammaInitializer = java.util.Objects.requireNonNull(i, "gammaInitializer");
        return this;
    }

    /** How the offset beta starts (default zeros). */
    public LayerNormalization betaInitializer(Initializer i) {
        this.betaInitializer = java.util.Objects.requireNonNull(i, "betaInitializer");
        return this;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        return single(inputs);
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        Shape in = inputs.get(0);
        int[] features = {in.dim(in.rank() - 1)};
        return List.of(ParamSpec.trainable("gamma", features, gammaInitializer),
                ParamSpec.trainable("beta", features, betaInitializer));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        Shape in = ctx.inputShape();
        int width = in.dim(in.rank() - 1);
        LayerNormSpec spec = new LayerNormSpec(Math.multiplyExact(ctx.batch(), in.size() / width), width,
                (float) epsilon);
        Tensor x = backend.view(ctx.input(), 0, spec.shape());
        Tensor output = ctx.allocateOutput();
        Tensor y = backend.view(output, 0, spec.shape());
        Tensor gamma = ctx.param("gamma"), beta = ctx.param("beta");
        boolean backward = ctx.backward();
        // statistics are kept only for a backward; an inference plan holds none
        Tensor mean = backward ? ctx.allocate(spec.rows()) : null;
        Tensor variance = backward ? ctx.allocate(spec.rows()) : null;
        Tensor dInput = backward && ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        // the backward op writes all three gradients: scratch stands in for those nobody wants (a frozen layer's)
        Tensor dx = !backward ? null : dInput != null ? backend.view(dInput, 0, spec.shape())
                : ctx.allocate(spec.shape());
        Tensor dGamma = !backward ? null : ctx.gradient("gamma") != null ? ctx.gradient("gamma")
                : ctx.allocate(spec.width());
        Tensor dBeta = !backward ? null : ctx.gradient("beta") != null ? ctx.gradient("beta")
                : ctx.allocate(spec.width());
        boolean anyGradient = dInput != null || ctx.gradient("gamma") != null || ctx.gradient("beta") != null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        ReshapedGradient dy = new ReshapedGradient(backend, spec.shape());
        return LayerRun.of(output, seed -> backend.layerNormForward(spec, x, gamma, beta, y, mean, variance),
                dOutput -> {
                    if (anyGradient) {
                        backend.layerNormBackward(spec, x, dy.of(dOutput), gamma, mean, variance, dx, dGamma, dBeta);
                    }
                }, inputGradients);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("axis", -1);
        c.put("epsilon", epsilon);
        c.put("center", true);
        c.put("scale", true);
        c.put("beta_initializer", betaInitializer.toConfig());
        c.put("gamma_initializer", gammaInitializer.toConfig());
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static LayerNormalization fromConfig(Config c) {
        Object axisConfig = c.raw("axis");
        Object single = axisConfig instanceof List<?> l && l.size() == 1 ? l.get(0) : axisConfig;
        if (single != null && !(single instanceof Number n && n.intValue() == -1)) {
            throw new IllegalArgumentException("LayerNormalization config: expected axis -1 (the last axis), received "
                    + axisConfig + " (normalizing over other or several axes is not supported)");
        }
        if (!c.bool("center", true) || !c.bool("scale", true)) {
            throw new IllegalArgumentException("LayerNormalization config: expected center and scale true, received "
                    + "center=" + c.raw("center") + ", scale=" + c.raw("scale"));
        }
        LayerNormalization layer = new LayerNormalization().epsilon(c.number("epsilon", 1e-3))
                .gammaInitializer(c.initializer("gamma_initializer", Initializer.ones()))
                .betaInitializer(c.initializer("beta_initializer", Initializer.zeros()));
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning LayerNormalization so that they chain with this layer's own ------------------

    @Override
    public LayerNormalization name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public LayerNormalization trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public LayerNormalization inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
