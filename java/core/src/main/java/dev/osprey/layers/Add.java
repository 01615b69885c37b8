package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.List;

/**
 * The element-wise sum of two or more tensors of one shape, as Keras' Add (a residual connection:
 * {@code new Add().apply(x, shortcut)}). Each input's gradient is the output's.
 */
public final class Add extends Merge implements dev.osprey.engine.Fusion.Sum {
    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        List<Tensor> inputs = ctx.inputs();
        Tensor output = ctx.allocateOutput();
        return new LayerRun() {
            private Tensor lastOutputGradient;
            private List<Tensor> inputGradients;

            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(long seed) {
                backend.add(inputs.get(0), inputs.get(1), output);
                for (int i = 2; i < inputs.size(); i++) {
                    backend.add(output, inputs.get(i), output);
                }
            }

            @Override
            public List<Tensor> backward(Tensor dOutput) {
                if (dOutput != lastOutputGradient) { // the same tensor every step, so this list is made once
                    lastOutputGradient = dOutput;
                    inputGradients = new ArrayList<>();
                    for (int i = 0; i < inputs.size(); i++) {
                        inputGradients.add(ctx.needsInputGradient(i) ? dOutput : null);
                    }
                }
                return inputGradients;
            }
        };
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Add fromConfig(Config c) {
        return withCommonConfig(new Add(), c);
    }
}
