package dev.osprey.layers;

import dev.osprey.Config;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The rectifier with Keras' ReLU options: y = min(x, maxValue) for x >= 0, negativeSlope * x below (threshold 0).
 * {@code new ReLU(6.0f, 0)} is ReLU6, as in MobileNetV2.
 */
public final class ReLU extends ActivationLayer {
    private final Float maxValue;
    private final float negativeSlope;

    /** The plain rectifier: no cap, no negative slope. */
    public ReLU() {
        this(null, 0f);
    }

    /** Capped at maxValue (> 0), no negative slope: Keras' ReLU(max_value=6.0) is new ReLU(6.0). */
    public ReLU(double maxValue) {
        this((float) maxValue, 0f);
    }

    /** maxValue null (or infinite): no cap. */
    public ReLU(Float maxValue, float negativeSlope) {
        if (maxValue != null && !(maxValue > 0)) {
            throw new IllegalArgumentException("ReLU: expected max value > 0 (or none), received max_value=" + maxValue);
        }
        if (!(negativeSlope >= 0) || !Float.isFinite(negativeSlope)) {
            throw new IllegalArgumentException("ReLU: expected a finite negative slope >= 0, received negative_slope="
                    + negativeSlope);
        }
        this.maxValue = maxValue == null || maxValue.isInfinite() ? null : maxValue;
        this.negativeSlope = negativeSlope;
    }

    @Override
    dev.osprey.Activation function() {
        return dev.osprey.Activation.relu(maxValue, negativeSlope);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("max_value", maxValue);
        c.put("negative_slope", negativeSlope);
        c.put("threshold", 0.0);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static ReLU fromConfig(Config c) {
        if (c.number("threshold", 0) != 0) {
            throw new IllegalArgumentException("ReLU config: expected threshold 0, received " + c.raw("threshold"));
        }
        Double max = c.optionalNumber("max_value");
        return withCommonConfig(new ReLU(max == null ? null : max.floatValue(), (float) c.number("negative_slope", 0)),
                c);
    }

    // ---- Layer's setters, returning ReLU so that they chain with this layer's own ----------------------------

    @Override
    public ReLU name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public ReLU trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public ReLU inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
