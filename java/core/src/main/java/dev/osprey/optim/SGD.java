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
public final class SGD extends DecayingOptimizer<SGD> {
    private final SgdSpec spec;
    private final Map<String, Object> config = new LinkedHashMap<>();

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
        super(WeightDecay.NONE);
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
    }

    private SGD(SGD base, WeightDecay decay) {
        super(decay);
        this.spec = new SgdSpec(base.spec.learningRate(), base.spec.momentum(), base.spec.nesterov(),
                (float) decay.rate());
        this.config.putAll(base.config);
    }

    @Override
    SGD withDecay(WeightDecay d) {
        return new SGD(this, d);
    }





    @Override
    public String name() {
        return "sgd";
    }

    @Override
    public Map<String, Object> config() {
        return withDecayKeys(config);
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
