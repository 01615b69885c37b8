package dev.osprey.optim;

import dev.osprey.backend.Tensor;
import java.util.Map;
import java.util.function.BiFunction;
import java.util.function.ToDoubleFunction;

/**
 * What every optimizer's updater shares: the step count, the state tensors, and the learning rate kept in the
 * optimizer's spec record (checked, then swapped for a copy at the new rate). Subclasses say how one step runs.
 *
 * @param <S> the optimizer's spec record (AdamSpec, SgdSpec)
 */
abstract class SpecUpdater<S> implements Optimizer.Updater {
    private final String optimizer;
    private final Map<String, Tensor> slots;
    private final ToDoubleFunction<S> rateOf;
    private final BiFunction<S, Float, S> withRate;
    private S spec;
    private long steps;

    SpecUpdater(String optimizer, S spec, Map<String, Tensor> slots, ToDoubleFunction<S> rateOf,
                BiFunction<S, Float, S> withRate) {
        this.optimizer = optimizer;
        this.spec = spec;
        this.slots = Map.copyOf(slots);
        this.rateOf = rateOf;
        this.withRate = withRate;
    }

    /** One step numbered {@code step} (1-based) with the current spec. */
    abstract void apply(S spec, long step);

    @Override
    public final void step() {
        apply(spec, ++steps);
    }

    @Override
    public final long iterations() {
        return steps;
    }

    @Override
    public final Map<String, Tensor> slots() {
        return slots;
    }

    @Override
    public final void restoreIterations(long iterations) {
        steps = iterations;
    }

    @Override
    public final double learningRate() {
        return rateOf.applyAsDouble(spec);
    }

    @Override
    public final void learningRate(double rate) {
        if (!(rate >= 0) || Double.isInfinite(rate)) {
            throw new IllegalArgumentException(optimizer + ": expected a learning rate >= 0, received " + rate);
        }
        spec = withRate.apply(spec, (float) rate);
    }
}
