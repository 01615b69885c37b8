package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.schedules.LearningRateSchedule;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;

/**
 * An optimizer whose learning rate follows a schedule ({@link Optimizer#learningRate(LearningRateSchedule)}): before
 * each step the rate of that step is computed on the host and handed to the same fused update, so no step waits for
 * the device. Saved with the schedule in place of the learning rate, as Keras saves it.
 */
final class ScheduledOptimizer implements Optimizer {
    private final Optimizer optimizer;
    private final LearningRateSchedule schedule;

    ScheduledOptimizer(Optimizer optimizer, LearningRateSchedule schedule) {
        this.optimizer = Objects.requireNonNull(optimizer, "optimizer");
        this.schedule = Objects.requireNonNull(schedule, "schedule");
    }

    @Override
    public String name() {
        return optimizer.name();
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>(optimizer.config());
        c.put("learning_rate", schedule.toConfig());
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
        return new ScheduledOptimizer(optimizer, next);
    }

    @Override
    public LearningRateSchedule schedule() {
        return schedule;
    }

    @Override
    public Updater bind(Backend backend, Memory memory, Tensor params, Tensor grads, Tensor decayMask) {
        Updater inner = optimizer.bind(backend, memory, params, grads, decayMask);
        inner.learningRate(schedule.rate(0));
        return new Updater() {
            @Override
            public void step() {
                inner.learningRate(schedule.rate(inner.iterations()));
                inner.step();
            }

            @Override
            public long iterations() {
                return inner.iterations();
            }

            @Override
            public Map<String, Tensor> slots() {
                return inner.slots();
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
                throw new IllegalStateException(name() + ": the learning rate follows the schedule " + schedule.className()
                        + "; expected no other change of it (a LearningRateScheduler or ReduceLROnPlateau "
                        + "callback needs an optimizer with a fixed rate)");
            }

            @Override
            public boolean followsSchedule() {
                return true;
            }
        };
    }
}
