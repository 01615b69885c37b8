package dev.osprey.layers;

import dev.osprey.Layer;
import dev.osprey.LayerRun;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Inverted dropout: while training, zeroes a share {@code rate} of values and scales the rest by 1/(1-rate). */
public final class Dropout extends Layer {
    private final double rate;

    public Dropout(double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException("Dropout: expected 0 <= rate < 1, received rate=" + rate);
        }
        this.rate = rate;
    }

    @Override
    public String className() {
        return "Dropout";
    }

    @Override
    public Shape outputShape(Shape input) {
        return input;
    }

    @Override
    public LayerRun plan(Backend backend, Tensor input, Shape inputShape, int batch, List<Tensor> params,
                         List<Tensor> grads, boolean inputGradient) {
        int[] shape = inputShape.withBatch(batch);
        Tensor output = backend.allocate(shape);
        Tensor mask = backend.allocate(shape);
        Tensor dInput = inputGradient ? backend.allocate(shape) : null;
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(boolean training, long seed) {
                backend.dropoutForward(training ? (float) rate : 0f, seed, input, mask, output);
            }

            @Override
            public Tensor backward(Tensor dOutput) {
                if (dInput != null) {
                    backend.multiply(dOutput, mask, dInput);
                }
                return dInput;
            }
        };
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("rate", rate);
        return c;
    }
}
