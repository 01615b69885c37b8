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
 * ({@link Optimizer#learningRate(LearningRateSchedule)}), gradient clipping ({@link Optimizer#clipnorm} and
 * the others) and a moving average of the weights ({@link Optimizer#useEma}). With a schedule, each step's rate is
 * computed on the host and handed to the same fused update, so no step waits for the device. Saved as Keras saves
 * them: the schedule in place of the learning rate, the clipping under its Keras name, use_ema and its settings.
 */
final class ScheduledOptimizer implements Optimizer {
    private final Optimizer optimizer;
    private final LearningRateSchedule schedule; // or null
    private final GradientClipping clipping;      // or null
    private final Ema ema;                        // or null
    private final int accumulation;               // batches per update: 1 for every batch

    ScheduledOptimizer(Optimizer optimizer, LearningRateSchedule schedule, GradientClipping clipping, Ema ema,
                       int accumulation) {
        if (accumulation < 1) {
            throw new IllegalArgumentException("gradientAccumulationSteps: expected 1 or more batches per update, "
                    + "received " + accumulation);
        }
        this.optimizer = Objects.requireNonNull(optimizer, "optimizer");
        this.schedule = schedule;
        this.clipping = clipping;
        this.ema = ema;
        this.accumulation = accumulation;
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
        if (ema != null) {
            c.put("use_ema", true);
            c.put("ema_momentum", ema.momentum());
            c.put("ema_overwrite_frequency", ema.overwriteFrequency() == 0 ? null : ema.overwriteFrequency());
        }
        if (accumulation > 1) {
            c.put("gradient_accumulation_steps", accumulation);
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
        return new ScheduledOptimizer(optimizer, Objects.requireNonNull(next, "schedule"), clipping, ema, accumulation);
    }

    @Override
    public Optimizer clipping(GradientClipping next) {
        return new ScheduledOptimizer(optimizer, schedule, next, ema, accumulation);
    }

    @Override
    public Optimizer useEma(double momentum, int overwriteFrequency) {
        return new ScheduledOptimizer(optimizer, schedule, clipping, new Ema(momentum, overwriteFrequency),
                accumulation);
    }

    @Override
    public Ema ema() {
        return ema;
    }

    @Override
    public Optimizer gradientAccumulationSteps(int steps) {
        return new ScheduledOptimizer(optimizer, schedule, clipping, ema, steps);
    }

    @Override
    public int gradientAccumulationSteps() {
        return accumulation;
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
        Updater scheduled = scheduled(optimizer.bind(backend, memory, params, grads, decayMask));
        return ema == null ? scheduled : new EmaUpdater(scheduled, backend, memory, params, ema);
    }

    /** inner, its rate set by the schedule before each step (inner itself without a schedule). */
    private Updater scheduled(Updater inner) {
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
