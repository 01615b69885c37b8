package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.schedules.LearningRateSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * An optimizer with the settings every Keras optimizer shares on top: a learning-rate schedule
 * ({@link Optimizer#learningRate(LearningRateSchedule)}) and gradient clipping ({@link Optimizer#clipnorm} and
 * the others). With a schedule, each step's rate is computed on the host and handed to the same fused update, so
 * no step waits for the device. Saved as Keras saves them: the schedule in place of the learning rate, the clipping
 * under its Keras name.
 */
final class ScheduledOptimizer implements Optimizer {
    private final Optimizer optimizer;
    private final LearningRateSchedule schedule; // or null
    private final GradientClipping clipping;      // or null

    ScheduledOptimizer(Optimizer optimizer, LearningRateSchedule schedule, GradientClipping clipping) {
        this.optimizer = Objects.requireNonNull(optimizer, "optimizer");
        this.schedule = schedule;
        this.clipping = clipping;
    }

    @Override
    public String name() {
        return optimizer.name();
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>(optimizer.config());
        if (schedule != null) {
            c.put("learning_rate", schedule.toConfig());
        }
        if (clipping != null) {
            c.put(clipping.kind().kerasName(), clipping.value());
        }
        return c;
    }

    @Override
    public double weightDecay() {
        return optimizer.weightDecay();
    }

    @Override
    public boolean decays(String path) {
        return optimizer.decays(path);
    }

    @Override
    public Optimizer learningRate(LearningRateSchedule next) {
        return new ScheduledOptimizer(optimizer, Objects.requireNonNull(next, "schedule"), clipping);
    }

    @Override
    public Optimizer clipping(GradientClipping next) {
        return new ScheduledOptimizer(optimizer, schedule, next);
    }

    @Override
    public LearningRateSchedule schedule() {
        return schedule;
    }

    @Override
    public GradientClipping clipping() {
        return clipping;
    }

    @Override
    public DynamicLossScale lossScale() {
        return optimizer.lossScale();
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        Updater inner = optimizer.bind(backend, memory, params, grads, decayMask);
        if (schedule == null) {
            return inner;
        }
        inner.learningRate(schedule.rate(0));
        return new ForwardingUpdater(inner) {
            @Override
            public void step() {
                inner.learningRate(schedule.rate(inner.iterations()));
                inner.step();
            }

            @Override
            public void restoreIterations(long iterations) {
                inner.restoreIterations(iterations);
                inner.learningRate(schedule.rate(iterations));
            }

            @Override
            public double learningRate() {
                return schedule.rate(inner.iterations());
            }

            @Override
            public void learningRate(double rate) {
                throw new IllegalStateException(name() + ": the learning rate follows the schedule "
                        + schedule.className() + "; expected no other change of it (a LearningRateScheduler or "
                        + "ReduceLROnPlateau callback needs an optimizer with a fixed rate)");
            }

            @Override
            public boolean followsSchedule() {
                return true;
            }
        };
    }
}
