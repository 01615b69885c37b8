package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.Map;

/** Stochastic gradient descent with optional (Nesterov) momentum; Keras' default learning rate 0.01. */
public final class SGD implements Optimizer {
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

    @Override
    public String name() {
        return "sgd";
    }

    @Override
    public Map<String, Object> config() {
        return new LinkedHashMap<>(config);
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads) {
        Tensor velocity = memory.allocate(params.shape());
        return new Updater() {
            private long step;
            private SgdSpec current = spec;

            @Override
            public void step() {
                backend.sgdUpdate(current, params, grads, velocity);
                step++;
            }

            @Override
            public long iterations() {
                return step;
            }

            @Override
            public Map<String, Tensor> slots() {
                return Map.of("velocity", velocity);
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
                current = new SgdSpec((float) rate, current.momentum(), current.nesterov());
            }
        };
    }
}
