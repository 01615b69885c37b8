package dev.osprey.layers;

import dev.osprey.Layer;
import dev.osprey.LayerRun;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** (H, W, C) to (H*W*C) in channels-last order, as Keras does; free, since activations are already NHWC. */
public final class Flatten extends Layer {
    @Override
    public String className() {
        return "Flatten";
    }

    @Override
    public Shape outputShape(Shape input) {
        return Shape.of(input.size());
    }

    @Override
    public LayerRun plan(Backend backend, Tensor input, Shape inputShape, int batch, List<Tensor> params,
                         List<Tensor> grads, boolean inputGradient) {
        Tensor output = backend.view(input, 0, batch, inputShape.size());
        int[] inShape = inputShape.withBatch(batch);
        return new LayerRun() {
            private Tensor lastOutputGradient;
            private Tensor inputGradientView;

            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(boolean training, long seed) {
                // A view: nothing to compute.
            }

            @Override
            public Tensor backward(Tensor dOutput) {
                if (!inputGradient) {
                    return null;
                }
                if (dOutput != lastOutputGradient) { // the same tensor every step, so this runs once
                    lastOutputGradient = dOutput;
                    inputGradientView = backend.view(dOutput, 0, inShape);
                }
                return inputGradientView;
            }
        };
    }

    @Override
    public Map<String, Object> config() {
        return new LinkedHashMap<>();
    }
}
