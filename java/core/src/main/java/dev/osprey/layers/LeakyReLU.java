package dev.osprey.layers;

import dev.osprey.Config;
import java.util.LinkedHashMap;
import java.util.Map;

/** y = x for x >= 0, negativeSlope * x below, as Keras' LeakyReLU (default slope 0.3). */
public final class LeakyReLU extends ActivationLayer {
    private final float negativeSlope;

    /** Negative slope 0.3, Keras' default. */
    public LeakyReLU() {
        this(0.3f);
    }

    /** This finite negative slope, >= 0 (as a double literal is written: new LeakyReLU(0.2)). */
    public LeakyReLU(double negativeSlope) {
        this((float) negativeSlope);
    }

    /** This finite negative slope, >= 0. */
    public LeakyReLU(float negativeSlope) {
        if (!(negativeSlope >= 0) || !Float.isFinite(negativeSlope)) {
            throw new IllegalArgumentException("LeakyReLU: expected a finite negative slope >= 0, received "
                    + "negative_slope=" + negativeSlope);
        }
        this.negativeSlope = negativeSlope;
    }

    @Override
    dev.osprey.Activation function() {
        return dev.osprey.Activation.leakyRelu(negativeSlope);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("negative_slope", negativeSlope);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static LeakyReLU fromConfig(Config c) {
        // Keras 2 called the slope alpha.
        double slope = c.has("negative_slope") ? c.number("negative_slope") : c.number("alpha", 0.3);
        return withCommonConfig(new LeakyReLU((float) slope), c);
    }

    // ---- Layer's setters, returning LeakyReLU so that they chain with this layer's own ----------------------------

    @Override
    public LeakyReLU name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public LeakyReLU trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public LeakyReLU inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
