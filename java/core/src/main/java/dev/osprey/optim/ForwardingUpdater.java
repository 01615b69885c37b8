package dev.osprey.optim;

import dev.osprey.backend.Tensor;
import java.util.Map;

/** An updater that passes every call on to another; a decorator overrides only what it changes. */
public abstract class ForwardingUpdater implements Optimizer.Updater {
    /** The updater calls go to. */
    protected final Optimizer.Updater inner;

    /** Forwards to inner. */
    protected ForwardingUpdater(Optimizer.Updater inner) {
        this.inner = inner;
    }

    /**
     * For a decorator that keeps a state tensor of its own: inner's state tensors and this one under name, as
     * {@link #slots()} returns them (saved with the model). Refuses a name inner already uses, naming who asks.
     */
    protected static Map<String, Tensor> withSlot(Optimizer.Updater inner, String name, Tensor slot, String who) {
        if (inner.slots().containsKey(name)) {
            throw new IllegalArgumentException(who + ": expected an optimizer without a state named '" + name
                    + "', received one with " + inner.slots().keySet());
        }
        Map<String, Tensor> all = new java.util.LinkedHashMap<>(inner.slots());
        all.put(name, slot);
        return java.util.Collections.unmodifiableMap(all);
    }

    @Override
    public void step() {
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
    }

    @Override
    public double learningRate() {
        return inner.learningRate();
    }

    @Override
    public void learningRate(double rate) {
        inner.learningRate(rate);
    }

    @Override
    public boolean followsSchedule() {
        return inner.followsSchedule();
    }

    @Override
    public float lossScale() {
        return inner.lossScale();
    }

    @Override
    public boolean unscaleGradients() {
        return inner.unscaleGradients();
    }

    @Override
    public void finishTraining() {
        inner.finishTraining();
    }
}
