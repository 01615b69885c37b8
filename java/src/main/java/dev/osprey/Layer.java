package dev.osprey;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A layer, as in Keras: the constructor validates and stores configuration only; {@link #outputShape} is pure,
 * so a model checks every shape when it is compiled; {@link #plan} makes the per-batch-size run that does the work.
 */
public abstract class Layer {
    private Shape declaredInputShape;

    /** Keras' class name, e.g. "Conv2D". */
    public abstract String className();

    /** The shape of one output sample for one input sample of this shape; throws on a shape this layer can't take. */
    public abstract Shape outputShape(Shape input);

    /** Parameters for this input shape, in Keras' order (kernel, bias). */
    public List<ParamSpec> parameters(Shape input) {
        return List.of();
    }

    /**
     * Plans this layer for one batch size.
     *
     * @param input         (batch, input shape...), the previous layer's output; fixed for the run's lifetime
     * @param params        this layer's parameter tensors, in {@link #parameters} order
     * @param grads         their gradients, same order
     * @param inputGradient whether backward must compute dL/dinput
     */
    public abstract LayerRun plan(Backend backend, Tensor input, Shape inputShape, int batch, List<Tensor> params,
                                  List<Tensor> grads, boolean inputGradient);

    /** Multiply-adds times two of the forward pass for one input sample of this shape (0 for layers that only move data). */
    public double forwardFlops(Shape input) {
        return 0;
    }

    /** Configuration for the model file (Keras' keys). */
    public abstract Map<String, Object> config();

    /** The activation applied to the output, for layers that have one. */
    public Activation activation() {
        return Activation.LINEAR;
    }

    /** Declares the model's input shape on its first layer, like Keras' input_shape=(28, 28, 1). */
    @SuppressWarnings("unchecked")
    public <L extends Layer> L inputShape(int... dims) {
        declaredInputShape = Shape.of(dims);
        return (L) this;
    }

    public Optional<Shape> declaredInputShape() {
        return Optional.ofNullable(declaredInputShape);
    }

    protected static int positive(String layer, String what, int value) {
        if (value <= 0) {
            throw new IllegalArgumentException(layer + ": expected " + what + " > 0, received " + what + "=" + value);
        }
        return value;
    }

    @Override
    public String toString() {
        return className() + config();
    }
}
