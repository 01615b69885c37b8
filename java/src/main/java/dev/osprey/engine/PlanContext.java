package dev.osprey.engine;

import dev.osprey.Activation;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.List;
import java.util.Map;

/**
 * What a layer gets when it is planned for one batch size: the backend, memory owned by the plan, its input tensors
 * and shapes, its weights (and their gradients when this plan trains them), and what the plan needs of it. A layer
 * allocates its outputs and scratch here, once, never per step.
 */
public final class PlanContext {
    private final Backend backend;
    private final Memory memory;
    private final int batch;
    private final boolean training;
    private final List<Tensor> inputs;
    private final List<Shape> inputShapes;
    private final Shape outputShape;
    private final Map<String, Tensor> params;
    private final Map<String, Tensor> gradients;
    private final boolean[] inputGradients;
    private final boolean backward;
    private final boolean logits;
    private final Activation fusedActivation;

    PlanContext(Backend backend, Memory memory, int batch, boolean training, List<Tensor> inputs,
                List<Shape> inputShapes, Shape outputShape, Map<String, Tensor> params, Map<String, Tensor> gradients,
                boolean[] inputGradients, boolean backward, boolean logits, Activation fusedActivation) {
        this.backend = backend;
        this.memory = memory;
        this.batch = batch;
        this.training = training;
        this.inputs = inputs;
        this.inputShapes = inputShapes;
        this.outputShape = outputShape;
        this.params = params;
        this.gradients = gradients;
        this.inputGradients = inputGradients;
        this.backward = backward;
        this.logits = logits;
        this.fusedActivation = fusedActivation;
    }

    public Backend backend() {
        return backend;
    }

    /** A tensor owned by the plan, freed with it. */
    public Tensor allocate(int... shape) {
        return memory.allocate(shape);
    }

    public int batch() {
        return batch;
    }

    /**
     * Whether this plan trains: dropout drops, BatchNormalization uses and updates batch statistics (unless the layer
     * is frozen: a frozen BatchNormalization normalizes as in inference, as Keras does). False in inference plans.
     */
    public boolean training() {
        return training;
    }

    public List<Tensor> inputs() {
        return inputs;
    }

    /** The only input. */
    public Tensor input() {
        return inputs.get(0);
    }

    public List<Shape> inputShapes() {
        return inputShapes;
    }

    public Shape inputShape() {
        return inputShapes.get(0);
    }

    public Shape outputShape() {
        return outputShape;
    }

    /** (batch, output shape...). */
    public int[] outputBatchShape() {
        return outputShape.withBatch(batch);
    }

    /** The weight of this name (null when the layer has none of that name, e.g. a bias with useBias(false)). */
    public Tensor param(String name) {
        return params.get(name);
    }

    /** Its gradient, or null when this plan doesn't train it. */
    public Tensor gradient(String name) {
        return gradients.get(name);
    }

    /** Whether backward must compute dL/d(input i). */
    public boolean needsInputGradient(int i) {
        return inputGradients[i];
    }

    /** Whether backward will be called at all (false in inference plans). */
    public boolean backward() {
        return backward;
    }

    /**
     * True for the last layer of a classifier whose loss takes logits: the layer leaves out its softmax (the loss, or
     * the model's predict, applies it) and its output is the logits.
     */
    public boolean logits() {
        return logits;
    }

    /**
     * The activation to fuse into this layer's op: its own, or one the engine folded in from a following activation
     * layer (inference plans fold BatchNormalization and a following activation into a convolution).
     */
    public Activation activation(Activation own) {
        return fusedActivation != null ? fusedActivation : own;
    }
}
