package dev.osprey.engine;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.GradientClipping;
import dev.osprey.optim.Optimizer;
import java.util.ArrayList;
import java.util.List;

/**
 * Clips the gradient arena before each optimizer step, as the optimizer's {@link GradientClipping} asks: per weight
 * (each trainable weight's gradient view, with a scratch value of its own), for all weights at once, or by value.
 * Everything stays on the device; a step costs one or two extra passes over the gradients.
 */
public final class GradientClipper {
    private GradientClipper() {
    }

    /** The updater with clipping before each of its steps; the updater itself when the optimizer has none. */
    public static Optimizer.Updater wrap(Optimizer.Updater inner, GradientClipping clipping, Backend backend,
                                         Memory memory, Parameters parameters) {
        if (clipping == null) {
            return inner;
        }
        float value = (float) clipping.value();
        Tensor grads = parameters.gradientArena();
        Runnable clip = switch (clipping.kind()) {
            case VALUE -> () -> backend.clipByValue(grads, value);
            case GLOBAL_NORM -> {
                Tensor sum = memory.allocate(1);
                yield () -> {
                    backend.sumOfSquares(grads, sum);
                    backend.scaleToNorm(grads, sum, value);
                };
            }
            case NORM -> {
                List<Tensor> views = new ArrayList<>();
                for (Parameters.Slot s : parameters.slots()) {
                    if (s.gradient() != null) {
                        views.add(s.gradient());
                    }
                }
                Tensor sums = memory.allocate(Math.max(1, views.size()));
                List<Tensor> sumViews = new ArrayList<>();
                for (int i = 0; i < views.size(); i++) {
                    sumViews.add(backend.view(sums, i, new int[] {1}));
                }
                yield () -> {
                    for (int i = 0; i < views.size(); i++) {
                        backend.sumOfSquares(views.get(i), sumViews.get(i));
                        backend.scaleToNorm(views.get(i), sumViews.get(i), value);
                    }
                };
            }
        };
        return new dev.osprey.optim.ForwardingUpdater(inner) {
            @Override
            public void step() {
                clip.run();
                inner.step();
            }
        };
    }
}
