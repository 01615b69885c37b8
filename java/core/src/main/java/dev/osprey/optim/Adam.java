package dev.osprey.optim;

import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/** Adam with Keras' defaults: learning rate 0.001, beta1 0.9, beta2 0.999, epsilon 1e-7. */
public final class Adam implements Optimizer {
    private final AdamSpec spec;
    private final Map<String, Object> config = new LinkedHashMap<>();

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
        if (!(learningRate > 0)) {
            throw new IllegalArgumentException("Adam: expected learning rate > 0, received " + learningRate);
        }
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) {
            throw new IllegalArgumentException("Adam: expected 0 <= beta < 1, received beta1=" + beta1 + ", beta2=" + beta2);
        }
        if (!(epsilon > 0)) {
            throw new IllegalArgumentException("Adam: expected epsilon > 0, received " + epsilon);
        }
        spec = new AdamSpec((float) learningRate, (float) beta1, (float) beta2, (float) epsilon);
        config.put("learning_rate", learningRate);
        config.put("beta_1", beta1);
        config.put("beta_2", beta2);
        config.put("epsilon", epsilon);
    }

    @Override
    public String name() {
        return "adam";
    }

    @Override
    public Map<String, Object> config() {
        return new LinkedHashMap<>(config);
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads) {
        Tensor m = memory.allocate(params.shape());
        Tensor v = memory.allocate(params.shape());
        return new Updater() {
            private long step;
            private AdamSpec current = spec;

            @Override
            public void step() {
                backend.adamUpdate(current, ++step, params, grads, m, v);
            }

            @Override
            public long iterations() {
                return step;
            }

            @Override
            public Map<String, Tensor> slots() {
                return Map.of("m", m, "v", v);
            }

            @Override
            public void restoreIterations(long iterations) {
                step = iterations;
            }

            @Override
            public double learningRate() {
                return current.learningRate();
            }

            @Override
            public void learningRate(double rate) {
                if (!(rate >= 0) || Double.isInfinite(rate)) {
                    throw new IllegalArgumentException(name() + ": expected a learning rate >= 0, received " + rate);
                }
                current = new AdamSpec((float) rate, current.beta1(), current.beta2(), current.epsilon());
            }
        };
    }
}
