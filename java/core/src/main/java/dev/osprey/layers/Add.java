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
 * {@code new Add().apply(x, shortcut)}). Each input's gradient is the output's. A plan may let it take the activation
 * layer after it (a ResNet block's ReLU): the sum and the activation then run as one pass.
 */
public final class Add extends Merge implements dev.osprey.engine.Fusion.Sum, dev.osprey.engine.Fusion.ActivationAbsorber {
    /** An element-wise activation its backward can differentiate from the output alone (ReLU, sigmoid, tanh, ...). */
    @Override
    public boolean canAbsorbActivation(dev.osprey.Activation a, boolean training) {
        return a.kind() != dev.osprey.Activation.Kind.SOFTMAX && a.differentiableFromOutput();
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        List<Tensor> inputs = ctx.inputs();
        OutputActivation activation = new OutputActivation(ctx, dev.osprey.Activation.LINEAR);
        Tensor output = activation.output();
        Tensor raw = activation.raw();
        int last = inputs.size() - 1;
        return new LayerRun() {
            private Tensor lastGradient;
            private List<Tensor> inputGradients;

            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(long seed) {
                if (last == 1) {
                    backend.add(inputs.get(0), inputs.get(1), activation.fusedIntoOp(), raw);
                } else {
                    backend.add(inputs.get(0), inputs.get(1), raw);
                    for (int i = 2; i < last; i++) {
                        backend.add(raw, inputs.get(i), raw);
                    }
                    backend.add(raw, inputs.get(last), activation.fusedIntoOp(), raw);
                }
                activation.forward(backend);
            }

            @Override
            public List<Tensor> backward(Tensor dOutput) {
                return gradients(activation.backward(backend, dOutput));
            }

            /** The ReLU after the sum (a ResNet block's), whose gradient a reader of the output may apply instead. */
            @Override
            public Tensor reluGate() {
                return activation.reluGate();
            }

            @Override
            public List<Tensor> backwardGated(Tensor dOutput) {
                if (activation.reluGate() == null) {
                    throw new IllegalStateException("backwardGated: expected an Add with a plain ReLU after it");
                }
                return gradients(dOutput);
            }

            /** Each input's gradient is g. */
            private List<Tensor> gradients(Tensor g) {
                if (g != lastGradient) { // the same tensor every step (or two: gated or not), so made rarely
                    lastGradient = g;
                    inputGradients = new ArrayList<>();
                    for (int i = 0; i < inputs.size(); i++) {
                        inputGradients.add(ctx.needsInputGradient(i) ? g : null);
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

    // ---- Layer's setters, returning Add so that they chain with this layer's own ----------------------------

    @Override
    public Add name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Add trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Add inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
