package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Map;

/**
 * Adam with decoupled weight decay (Loshchilov and Hutter), as Keras' AdamW: learning rate 0.001, weight decay 0.004,
 * beta1 0.9, beta2 0.999, epsilon 1e-7. Before each step every decayed weight w becomes w - learningRate * decay * w;
 * {@link #excludeFromWeightDecay} leaves biases or BatchNorm's scales alone, as is common.
 */
public final class AdamW implements Optimizer {
    private final Adam adam;

    /** AdamW with all of Keras' defaults. */
    public AdamW() {
        this(0.001, 0.004);
    }

    /** AdamW with this learning rate (> 0) and weight decay (>= 0), Keras' other defaults. */
    public AdamW(double learningRate, double weightDecay) {
        this(learningRate, weightDecay, 0.9, 0.999, 1e-7);
    }

    /** AdamW with every setting given: learning rate > 0, weight decay >= 0, betas in [0, 1), epsilon > 0. */
    public AdamW(double learningRate, double weightDecay, double beta1, double beta2, double epsilon) {
        this(renamed(() -> new Adam(learningRate, beta1, beta2, epsilon).weightDecay(weightDecay)));
    }

    private AdamW(Adam adam) {
        this.adam = adam;
    }

    private static Adam renamed(java.util.function.Supplier<Adam> make) {
        try {
            return make.get();
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().replaceFirst("^Adam: ", "AdamW: "), e);
        }
    }

    /** This AdamW with another weight decay (>= 0; 0 turns it off), as the other optimizers take it. */
    public AdamW weightDecay(double rate) {
        return new AdamW(renamed(() -> adam.weightDecay(rate)));
    }

    /**
     * This AdamW leaving alone the weights whose path ("dense/bias", "batch_normalization/gamma") matches any of these
     * regular expressions anywhere, as Keras' exclude_from_weight_decay(var_names=...).
     */
    public AdamW excludeFromWeightDecay(String... patterns) {
        return new AdamW(renamed(() -> adam.excludeFromWeightDecay(patterns)));
    }

    /** This AdamW with AMSGrad (see {@link Adam#amsgrad(boolean)}). */
    public AdamW amsgrad(boolean on) {
        return new AdamW(adam.amsgrad(on));
    }

    @Override
    public String name() {
        return "adamw";
    }

    /** Keras' AdamW config: learning_rate, beta_1, beta_2, epsilon, weight_decay (and the exclusions). */
    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = adam.config();
        c.putIfAbsent("weight_decay", 0.0);
        return c;
    }

    @Override
    public double weightDecay() {
        return adam.weightDecay();
    }

    @Override
    public boolean decays(String path) {
        return adam.decays(path);
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        return adam.bind(backend, memory, params, grads, decayMask);
    }
}
