package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.RmspropSpec;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * RMSprop with Keras' defaults: learning rate 0.001, rho 0.9, momentum 0, epsilon 1e-7, not centered; optionally
 * with Keras' decoupled weight decay. One fused update over the parameter arena on either backend.
 */
public final class RMSprop extends DecayingOptimizer<RMSprop> {
    private final RmspropSpec spec;
    private final Map<String, Object> config = new LinkedHashMap<>();

    /** RMSprop with all of Keras' defaults. */
    public RMSprop() {
        this(0.001);
    }

    /** RMSprop at this learning rate (> 0) with Keras' other defaults. */
    public RMSprop(double learningRate) {
        this(learningRate, 0.9, 0.0, 1e-7, false);
    }

    /** Every setting: learning rate > 0, rho in [0, 1), momentum in [0, 1), epsilon > 0, centered or not. */
    public RMSprop(double learningRate, double rho, double momentum, double epsilon, boolean centered) {
        super(WeightDecay.NONE);
        if (!(learningRate > 0) || !(rho >= 0 && rho < 1) || !(momentum >= 0 && momentum < 1) || !(epsilon > 0)) {
            throw new IllegalArgumentException("RMSprop: expected learning rate > 0, 0 <= rho < 1, 0 <= momentum < 1 "
                    + "and epsilon > 0, received " + learningRate + ", " + rho + ", " + momentum + ", " + epsilon);
        }
        spec = new RmspropSpec((float) learningRate, (float) rho, (float) momentum, (float) epsilon, centered, 0f);
        config.put("learning_rate", learningRate);
        config.put("rho", rho);
        config.put("momentum", momentum);
        config.put("epsilon", epsilon);
        config.put("centered", centered);
    }

    private RMSprop(RMSprop base, WeightDecay decay) {
        super(decay);
        RmspropSpec s = base.spec;
        this.spec = new RmspropSpec(s.learningRate(), s.rho(), s.momentum(), s.epsilon(), s.centered(),
                (float) decay.rate());
        this.config.putAll(base.config);
    }

    @Override
    RMSprop withDecay(WeightDecay d) {
        return new RMSprop(this, d);
    }





    @Override
    public String name() {
        return "rmsprop";
    }

    @Override
    public Map<String, Object> config() {
        return withDecayKeys(config);
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        Map<String, Tensor> slots = new LinkedHashMap<>();
        Tensor velocity = memory.allocate(params.shape());
        slots.put("velocity", velocity);
        Tensor momentum = spec.momentum() > 0 ? memory.allocate(params.shape()) : null;
        if (momentum != null) {
            slots.put("momentum", momentum);
        }
        Tensor mean = spec.centered() ? memory.allocate(params.shape()) : null;
        if (mean != null) {
            slots.put("average_gradient", mean);
        }
        return new SpecUpdater<>(name(), spec, slots, RmspropSpec::learningRate, RmspropSpec::withLearningRate) {
            @Override
            void apply(RmspropSpec s, long step) {
                backend.rmspropUpdate(s, params, grads, velocity, momentum, mean, decayMask);
            }
        };
    }
}
