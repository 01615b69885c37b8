package dev.osprey.optim;

import java.util.LinkedHashMap;
import java.util.Map;

/**
 * What every optimizer with Keras' decoupled weight decay shares: the rate, the weights left alone, and the builder
 * methods that return a copy of the same optimizer with other decay settings.
 *
 * @param <O> the optimizer itself, so that the builder methods return it
 */
abstract class DecayingOptimizer<O extends DecayingOptimizer<O>> implements Optimizer {
    final WeightDecay decay;

    DecayingOptimizer(WeightDecay decay) {
        this.decay = decay;
    }

    /** A copy of this optimizer with these decay settings. */
    abstract O withDecay(WeightDecay decay);

    /**
     * This optimizer with Keras' decoupled weight decay (>= 0; 0 turns it off): before each step every decayed weight
     * w becomes w - learningRate * rate * w.
     */
    public O weightDecay(double rate) {
        try {
            return withDecay(decay.withRate(rate));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": " + e.getMessage(), e);
        }
    }

    /**
     * This optimizer leaving alone the weights whose path ("dense/bias", "batch_normalization/gamma") matches any of
     * these regular expressions anywhere, as Keras' exclude_from_weight_decay(var_names=...).
     */
    public O excludeFromWeightDecay(String... patterns) {
        try {
            return withDecay(decay.excluding(patterns));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(getClass().getSimpleName() + ": " + e.getMessage(), e);
        }
    }

    @Override
    public double weightDecay() {
        return decay.rate();
    }

    @Override
    public boolean decays(String path) {
        return decay.decays(path);
    }

    /** The settings with the weight decay's keys added, as Keras saves them. */
    Map<String, Object> withDecayKeys(Map<String, Object> settings) {
        Map<String, Object> c = new LinkedHashMap<>(settings);
        decay.addTo(c);
        return c;
    }
}
