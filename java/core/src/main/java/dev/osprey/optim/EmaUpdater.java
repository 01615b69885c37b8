package dev.osprey.optim;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Map;

/**
 * The updater of an optimizer that keeps a moving average of the weights ({@link Ema}): after each step of the inner
 * updater, one backend call averages the whole arena. The average is one more state tensor ("ema"), so a saved model
 * keeps it and training goes on from it.
 */
final class EmaUpdater extends ForwardingUpdater {
    static final String SLOT = "ema";

    private final Backend backend;
    private final Tensor params;
    private final Tensor average;
    private final Ema ema;
    private final Map<String, Tensor> slots;

    EmaUpdater(Optimizer.Updater inner, Backend backend, Memory memory, Tensor params, Ema ema) {
        super(inner);
        this.backend = backend;
        this.params = params;
        this.average = memory.allocate(params.shape());
        this.ema = ema;
        this.slots = withSlot(inner, SLOT, average, "useEma");
    }

    @Override
    public void step() {
        long before = inner.iterations();
        inner.step();
        // the first step starts the average at the weights (Keras: momentum 0 at iteration 0)
        backend.movingAverage(average, params, before == 0 ? 0f : (float) ema.momentum());
        if (ema.overwriteFrequency() > 0 && (before + 1) % ema.overwriteFrequency() == 0) {
            backend.scale(average, 1f, 0f, params);
        }
    }

    @Override
    public Map<String, Tensor> slots() {
        return slots;
    }

    @Override
    public void finishTraining() {
        inner.finishTraining();
        if (inner.iterations() > 0) { // before any step the average holds nothing yet
            backend.scale(average, 1f, 0f, params);
        }
    }
}
