package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.List;

/**
 * The element-wise product of two or more tensors of one shape, as Keras' Multiply (gates, attention masks). Input i's
 * gradient is the output's times every other input.
 */
public final class Multiply extends Merge implements dev.osprey.engine.Fusion.OwnInputGradients {
    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        List<Tensor> inputs = ctx.inputs();
        int[] shape = ctx.outputBatchShape();
        Tensor output = ctx.allocateOutput();
        List<Tensor> dInputs = new ArrayList<>();
        for (int i = 0; i < inputs.size(); i++) {
            dInputs.add(ctx.needsInputGradient(i) ? ctx.allocateInputGradient(i) : null);
        }
        List<Tensor> inputGradients = LayerRun.gradients(dInputs.toArray(Tensor[]::new));
        return LayerRun.of(output, seed -> {
            backend.multiply(inputs.get(0), inputs.get(1), output);
            for (int i = 2; i < inputs.size(); i++) {
                backend.multiply(output, inputs.get(i), output);
            }
        }, dOutput -> {
            for (int i = 0; i < inputs.size(); i++) {
                Tensor d = dInputs.get(i);
                if (d == null) {
                    continue;
                }
                boolean first = true;
                for (int j = 0; j < inputs.size(); j++) {
                    if (j != i) {
                        backend.multiply(first ? dOutput : d, inputs.get(j), d);
                        first = false;
                    }
                }
            }
        }, inputGradients);
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Multiply fromConfig(Config c) {
        return withCommonConfig(new Multiply(), c);
    }

    // ---- Layer's setters, returning Multiply so that they chain with this layer's own ----------------------------

    @Override
    public Multiply name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Multiply trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Multiply inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
