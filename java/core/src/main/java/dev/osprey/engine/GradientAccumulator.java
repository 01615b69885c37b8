package dev.osprey.engine;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.ForwardingUpdater;
import dev.osprey.optim.Optimizer;
import java.util.Map;

/**
 * Keras' gradient_accumulation_steps around an updater (and its clipping): every batch's gradients are summed into
 * one state tensor, and every steps-th batch the mean of the sum and that batch's gradients is handed to the inner
 * updater as one batch's would be. {@link #iterations()} counts batches (it seeds dropout, and is what a saved model
 * resumes from); the inner updater counts its updates.
 */
public final class GradientAccumulator extends ForwardingUpdater {
    static final String SLOT = "accumulated_gradients";

    private final Backend backend;
    private final Tensor grads;
    private final Tensor sum;
    private final int steps;
    private final Map<String, Tensor> slots;
    private long batches;

    private GradientAccumulator(Optimizer.Updater inner, int steps, Backend backend, Memory memory, Tensor grads) {
        super(inner);
        this.backend = backend;
        this.grads = grads;
        this.sum = memory.allocate(grads.shape());
        this.steps = steps;
        this.slots = withSlot(inner, SLOT, sum, "gradientAccumulationSteps");
    }

    /** inner accumulating the gradients of this many batches per update; inner itself for 1. */
    public static Optimizer.Updater wrap(Optimizer.Updater inner, int steps, Backend backend, Memory memory,
                                         Tensor gradientArena) {
        return steps <= 1 ? inner : new GradientAccumulator(inner, steps, backend, memory, gradientArena);
    }

    @Override
    public void step() {
        if ((batches + 1) % steps != 0) {
            backend.add(sum, grads, sum);
        } else {
            backend.add(sum, grads, grads);
            backend.scale(grads, 1f / steps, 0f, grads);
            backend.fill(sum, 0f);
            inner.step();
        }
        batches++;
    }

    @Override
    public long iterations() {
        return batches;
    }

    @Override
    public void restoreIterations(long iterations) {
        batches = iterations;
        inner.restoreIterations(iterations / steps);
    }

    @Override
    public Map<String, Tensor> slots() {
        return slots;
    }
}
