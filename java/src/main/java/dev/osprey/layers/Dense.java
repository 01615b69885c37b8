package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.Layer;
import dev.osprey.LayerRun;
import dev.osprey.ParamSpec;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Fully connected layer over (features) inputs; kernel (in, units) and bias (units). With softmax, the layer
 * produces logits and the model applies softmax (fused with the loss when training).
 */
public final class Dense extends Layer {
    private final int units;
    private final Activation activation;

    public Dense(int units, Activation activation) {
        this.units = positive("Dense", "units", units);
        this.activation = activation == null ? Activation.LINEAR : activation;
    }

    public Dense(int units) {
        this(units, Activation.LINEAR);
    }

    @Override
    public String className() {
        return "Dense";
    }

    @Override
    public Activation activation() {
        return activation;
    }

    public int units() {
        return units;
    }

    @Override
    public Shape outputShape(Shape input) {
        if (input.rank() != 1) {
            throw new IllegalArgumentException("Dense: expected a flat input of shape (features,), received " + input
                    + " (add a Flatten layer before it)");
        }
        return Shape.of(units);
    }

    @Override
    public double forwardFlops(Shape input) {
        return 2.0 * input.dim(0) * units;
    }

    @Override
    public List<ParamSpec> parameters(Shape input) {
        int in = input.dim(0);
        return List.of(
                new ParamSpec("kernel", new int[] {in, units}, ParamSpec.Initializer.GLOROT_UNIFORM, in, units),
                new ParamSpec("bias", new int[] {units}, ParamSpec.Initializer.ZEROS, 0, 0));
    }

    @Override
    public LayerRun plan(Backend backend, Tensor input, Shape inputShape, int batch, List<Tensor> params,
                         List<Tensor> grads, boolean inputGradient) {
        outputShape(inputShape);
        Activation fused = activation == Activation.RELU ? Activation.RELU : Activation.LINEAR;
        DenseSpec spec = new DenseSpec(batch, inputShape.dim(0), units, fused);
        Tensor kernel = params.get(0), bias = params.get(1);
        Tensor dKernel = grads.get(0), dBias = grads.get(1);
        Tensor output = backend.allocate(spec.outputShape());
        Tensor dInput = inputGradient ? backend.allocate(spec.inputShape()) : null;
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(boolean training, long seed) {
                backend.denseForward(spec, input, kernel, bias, output);
            }

            @Override
            public Tensor backward(Tensor dOutput) {
                backend.activationBackward(fused, output, dOutput, dOutput);
                backend.denseBackwardWeights(spec, input, dOutput, dKernel, dBias);
                if (dInput != null) {
                    backend.denseBackwardData(spec, dOutput, kernel, dInput);
                }
                return dInput;
            }
        };
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("units", units);
        c.put("activation", activation.kerasName());
        return c;
    }
}
