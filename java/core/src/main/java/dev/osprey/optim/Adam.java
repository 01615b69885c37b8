package dev.osprey.optim;

import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Adam with Keras' defaults: learning rate 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7; optionally with Keras'
 * decoupled weight decay ({@link #weightDecay(double)}; {@link AdamW} is Adam with it on by default).
 */
public final class Adam extends DecayingOptimizer<Adam> {
    private final AdamSpec spec;
    private final Map<String, Object> settings; // Keras' names, the values as given
    private final boolean amsgrad;

    /** Adam with all of Keras' defaults. */
    public Adam() {
        this(0.001);
    }

    /** Adam with this learning rate (> 0) and Keras' other defaults. */
    public Adam(double learningRate) {
        this(learningRate, 0.9, 0.999, 1e-7);
    }

    /** Adam with every setting given: learning rate > 0, betas in [0, 1), epsilon > 0. */
    public Adam(double learningRate, double beta1, double beta2, double epsilon) {
        this(checked(learningRate, beta1, beta2, epsilon), settings(learningRate, beta1, beta2, epsilon),
                WeightDecay.NONE, false);
    }

    private Adam(AdamSpec spec, Map<String, Object> settings, WeightDecay decay, boolean amsgrad) {
        super(decay);
        this.spec = new AdamSpec(spec.learningRate(), spec.beta1(), spec.beta2(), spec.epsilon(), (float) decay.rate());
        this.settings = settings;
        this.amsgrad = amsgrad;
    }

    @Override
    Adam withDecay(WeightDecay d) {
        return new Adam(spec, settings, d, amsgrad);
    }

    /**
     * This Adam with AMSGrad (Reddi et al. 2018, Keras' amsgrad=True): each step divides by the running maximum of
     * the second moment instead of the moment itself, with one more state tensor ("vhat").
     */
    public Adam amsgrad(boolean on) {
        return new Adam(spec, settings, decay, on);
    }

    /** Whether this Adam uses AMSGrad. */
    public boolean amsgrad() {
        return amsgrad;
    }

    private static Map<String, Object> settings(double learningRate, double beta1, double beta2, double epsilon) {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("learning_rate", learningRate);
        c.put("beta_1", beta1);
        c.put("beta_2", beta2);
        c.put("epsilon", epsilon);
        return java.util.Collections.unmodifiableMap(c);
    }

    private static AdamSpec checked(double learningRate, double beta1, double beta2, double epsilon) {
        if (!(learningRate > 0)) {
            throw new IllegalArgumentException("Adam: expected learning rate > 0, received " + learningRate);
        }
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("Adam: expected 0 <= beta < 1, received beta1=" + beta1 + ", beta2=" + beta2);
        }
        if (!(epsilon > 0)) {
            throw new IllegalArgumentException("Adam: expected epsilon > 0, received " + epsilon);
        }
        return new AdamSpec((float) learningRate, (float) beta1, (float) beta2, (float) epsilon);
    }



    @Override
    public String name() {
        return "adam";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> config = new LinkedHashMap<>(settings);
        config.put("amsgrad", amsgrad);
        return withDecayKeys(config);
    }



    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        Tensor m = memory.allocate(params.shape());
        Tensor v = memory.allocate(params.shape());
        if (amsgrad) {
            Tensor vhat = memory.allocate(params.shape());
            return new SpecUpdater<>(name(), spec, Map.of("m", m, "v", v, "vhat", vhat), AdamSpec::learningRate,
                    AdamSpec::withLearningRate) {
                @Override
                void apply(AdamSpec s, long step) {
                    backend.adamAmsgradUpdate(s, step, params, grads, m, v, vhat, decayMask);
                }
            };
        }
        return new SpecUpdater<>(name(), spec, Map.of("m", m, "v", v), AdamSpec::learningRate,
                AdamSpec::withLearningRate) {
            @Override
            void apply(AdamSpec s, long step) {
                backend.adamUpdate(s, step, params, grads, m, v, decayMask);
            }
        };
    }
}
