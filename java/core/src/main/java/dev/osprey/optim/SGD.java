package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * Stochastic gradient descent with optional (Nesterov) momentum; Keras' default learning rate 0.01; optionally with
 * Keras' decoupled weight decay ({@link #weightDecay(double)}).
 */
public final class SGD implements Optimizer {
    private final SgdSpec spec;
    private final Map<String, Object> config = new LinkedHashMap<>();
    private final WeightDecay decay;

    /** SGD at learning rate 0.01, without momentum. */
    public SGD() {
        this(0.01, 0, false);
    }

    /** SGD at this learning rate (> 0), without momentum. */
    public SGD(double learningRate) {
        this(learningRate, 0, false);
    }

    /** SGD with momentum in [0, 1), in Nesterov's form when {@code nesterov}. */
    public SGD(double learningRate, double momentum, boolean nesterov) {
        if (!(learningRate > 0)) {
            throw new IllegalArgumentException("SGD: expected learning rate > 0, received " + learningRate);
        }
        if (!(momentum >= 0 && momentum < 1)) {
            throw new IllegalArgumentException("SGD: expected 0 <= momentum < 1, received " + momentum);
        }
        spec = new SgdSpec((float) learningRate, (float) momentum, nesterov);
        config.put("learning_rate", learningRate);
        config.put("momentum", momentum);
        config.put("nesterov", nesterov);
        decay = WeightDecay.NONE;
    }

    private SGD(SGD base, WeightDecay decay) {
        this.spec = new SgdSpec(base.spec.learningRate(), base.spec.momentum(), base.spec.nesterov(),
                (float) decay.rate());
        this.config.putAll(base.config);
        this.decay = decay;
    }

    /**
     * This SGD with Keras' decoupled weight decay (>= 0; 0 turns it off): before each step every decayed weight w
     * becomes w - learningRate * rate * w.
     */
    public SGD weightDecay(double rate) {
        try {
            return new SGD(this, decay.withRate(rate));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("SGD: " + e.getMessage(), e);
        }
    }

    /** This SGD leaving alone the weights whose path matches any of these regular expressions (see {@link Adam}). */
    public SGD excludeFromWeightDecay(String... patterns) {
        try {
            return new SGD(this, decay.excluding(patterns));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("SGD: " + e.getMessage(), e);
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

    @Override
    public String name() {
        return "sgd";
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>(config);
        decay.addTo(c);
        return c;
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        Tensor velocity = memory.allocate(params.shape());
        return new SpecUpdater<>(name(), spec, Map.of("velocity", velocity), SgdSpec::learningRate,
                SgdSpec::withLearningRate) {
            @Override
            void apply(SgdSpec s, long step) {
                backend.sgdUpdate(s, params, grads, velocity, decayMask);
            }
        };
    }
}
