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
    private Tensor[] plannedInputGradients; // per input: a view of the plan's gradient arena, or null
    private final boolean backward;
    private final Activation.Kind leftOut;
    private final Activation fusedActivation;
    private final java.util.function.Function<int[], Tensor> outputs;
    private final int[] extraPadding;
    private final boolean prepareWeights;
    private final Tensor residual;
    private final dev.osprey.Precision precision;
    private final dev.osprey.backend.InputRange inputRange;
    private final HandOver handOver;
    private final DepthwiseAfter depthwiseAfter;
    private final dev.osprey.backend.Pool2dSpec maxPoolAfter;
    private final List<Preparation> preparations = new java.util.ArrayList<>();
    private boolean outputAllocated;

    /**
     * int8 activations handed over between layers ({@link Fusion.Int8HandOver}): whether the input holds 8-bit values
     * already, the range to write the output in as 8-bit values (null: fp32), and the range the residual a layer adds
     * holds 8-bit values in (null: an fp32 residual, or none).
     */
    record HandOver(boolean quantizedInput, dev.osprey.backend.InputRange quantizedOutput,
                    dev.osprey.backend.InputRange quantizedResidual) {
        static final HandOver NONE = new HandOver(false, null, null);
    }

    /**
     * The depthwise convolution a pointwise one runs after itself in an fp32 inference plan ({@link
     * Fusion.Convolution}): its spec with bias flag and activation set, its kernel in that spec's kernel shape (folded
     * with its BatchNormalization where it had one), and its bias (null when it has none). The pointwise layer's output
     * is then the depthwise's, of the context's output shape.
     */
    public record DepthwiseAfter(dev.osprey.backend.Conv2dSpec spec, Tensor kernel, Tensor bias) {
    }

    /** A weight kept in a backend's own layout: prepare(source, prepared) runs whenever the model's weights change. */
    record Preparation(Tensor source, Tensor prepared, java.util.function.BiConsumer<Tensor, Tensor> prepare) {
    }

    PlanContext(Backend backend, Memory memory, java.util.function.Function<int[], Tensor> outputs, int[] extraPadding,
                int batch, boolean training, List<Tensor> inputs,
                List<Shape> inputShapes, Shape outputShape, Map<String, Tensor> params, Map<String, Tensor> gradients,
                boolean[] inputGradients, boolean backward, Activation.Kind leftOut, Activation fusedActivation,
                boolean prepareWeights, Tensor residual, dev.osprey.Precision precision,
                dev.osprey.backend.InputRange inputRange, HandOver handOver, DepthwiseAfter depthwiseAfter,
                dev.osprey.backend.Pool2dSpec maxPoolAfter) {
        this.backend = backend;
        this.memory = memory;
        this.outputs = outputs;
        this.extraPadding = extraPadding;
        this.batch = batch;
        this.training = training;
        this.inputs = inputs;
        this.inputShapes = inputShapes;
        this.outputShape = outputShape;
        this.params = params;
        this.gradients = gradients;
        this.inputGradients = inputGradients;
        this.backward = backward;
        this.leftOut = leftOut;
        this.fusedActivation = fusedActivation;
        this.prepareWeights = prepareWeights;
        this.residual = residual;
        this.precision = precision;
        this.inputRange = inputRange;
        this.handOver = handOver;
        this.depthwiseAfter = depthwiseAfter;
        this.maxPoolAfter = maxPoolAfter;
    }

    /**
     * The max pooling a convolution runs after itself as one op in an fp32 inference plan ({@link Fusion.MaxPooling}),
     * or null; the convolution's output is then the pooled map, of the context's output shape.
     */
    public dev.osprey.backend.Pool2dSpec maxPoolAfter() {
        return maxPoolAfter;
    }

    /** The depthwise convolution to run after this pointwise one as one op, or null (see {@link DepthwiseAfter}). */
    public DepthwiseAfter depthwiseAfter() {
        return depthwiseAfter;
    }

    /** The backend the plan runs on, for the layer's ops. */
    public Backend backend() {
        return backend;
    }

    /** A tensor owned by the plan, freed with it: scratch, workspaces, gradients. */
    public Tensor allocate(int... shape) {
        return memory.allocate(shape);
    }

    /**
     * The gradient of input i, (batch, input shape), for the layer's backward to write in full: where the layer is
     * {@link Fusion.OwnInputGradients} and the plan laid its input gradients out in its gradient arena, memory it shares
     * with gradients whose lives do not overlap this one's (so it holds no values before the backward writes it, and
     * loses them after the last reader); otherwise a tensor of its own, as {@link #allocate} makes it.
     */
    public Tensor allocateInputGradient(int i) {
        Tensor planned = plannedInputGradients == null ? null : plannedInputGradients[i];
        return planned != null ? planned : memory.allocate(inputShapes.get(i).withBatch(batch));
    }

    /** The views of the plan's gradient arena this call's input gradients take, null entries where none (see above). */
    void plannedInputGradients(Tensor[] views) {
        this.plannedInputGradients = views;
    }

    private LayerScratch scratch;
    private boolean scratchTaken;

    /** The memory the plan's layers share for values that live only while one of them runs. */
    void scratch(LayerScratch shared) {
        this.scratch = shared;
    }

    /**
     * Tensors of these shapes for this layer's run alone: every layer of the plan shares this memory, so what is
     * written here is lost once another layer runs. For values only the forward pass reads (an inference plan's
     * intermediates); ask once, while planning. Where the plan shares none, tensors of their own.
     */
    public List<Tensor> scratch(int[]... shapes) {
        if (scratchTaken) { // a second request would be laid over the first
            throw new IllegalStateException("PlanContext.scratch: expected one request per layer for all its tensors, "
                    + "received a second");
        }
        scratchTaken = true;
        if (scratch != null) {
            return scratch.take(shapes);
        }
        List<Tensor> own = new java.util.ArrayList<>(shapes.length);
        for (int[] shape : shapes) {
            own.add(memory.allocate(shape));
        }
        return own;
    }

    /**
     * A tensor owned by the plan as {@link #allocate} makes it, but made the first time it is asked for and kept: for
     * a buffer that the plan's runs may never need (the Add's ReLU gradient where the next layer's backward applies
     * it), so that it costs memory only where a step uses it. Ask for it only while the plan runs (under its lock).
     */
    public java.util.function.Supplier<Tensor> allocateOnFirstUse(int... shape) {
        int[] s = shape.clone();
        return new java.util.function.Supplier<>() {
            private Tensor made;

            @Override
            public Tensor get() {
                if (made == null) {
                    made = memory.allocate(s);
                }
                return made;
            }
        };
    }

    /**
     * The layer's output tensor, (batch, output shape...). Call it once, for the tensor the layer's output lives in. An
     * inference plan may hand out memory that an earlier layer's output no longer needs (outputs live only until their
     * last reader has run), so write only the output here.
     */
    public Tensor allocateOutput() {
        return allocateOutput(outputBatchShape());
    }

    /** The same, in another shape of the same size (a pooling's (batch, 1, 1, C) for a (batch, C) output). */
    public Tensor allocateOutput(int... shape) {
        if (outputAllocated) {
            throw new IllegalStateException("allocateOutput: a layer has one output tensor");
        }
        outputAllocated = true;
        return outputs.apply(shape);
    }

    /** Whether the layer took its output from {@link #allocateOutput} (else it is a view of, or is, an input). */
    boolean allocatedOutput() {
        return outputAllocated;
    }

    /** The batch size the plan is made for. */
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

    /** The input tensors, (batch, input shape...) each, in the call's input order. */
    public List<Tensor> inputs() {
        return inputs;
    }

    /** The only input. */
    public Tensor input() {
        return inputs.get(0);
    }

    /** The inputs' shapes of one sample (without the batch axis), in order. */
    public List<Shape> inputShapes() {
        return inputShapes;
    }

    /**
     * The only input's shape of one sample (without the batch axis); unpadded when the layer took over a padding (see
     * {@link #extraPadding()}).
     */
    public Shape inputShape() {
        return inputShapes.get(0);
    }

    /** The output's shape of one sample (without the batch axis). */
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

    /**
     * Zeros the engine asks this layer to frame its input with, {top, bottom, left, right}: a convolution that took over
     * the ZeroPadding2D before it reads the unpadded input ({@link #inputShape()}) and pads it itself. All zero
     * otherwise.
     */
    public int[] extraPadding() {
        return extraPadding.clone();
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
     * True when this layer is the model's last and leaves out its activation of this kind (softmax, sigmoid): the
     * loss, or the model's predict, applies it, and the layer's output is the logits.
     */
    public boolean leavesOut(Activation.Kind kind) {
        return leftOut == kind;
    }

    /**
     * The activation to fuse into this layer's op: its own, or one the engine folded in from a following activation
     * layer (inference plans fold BatchNormalization and a following activation into a convolution).
     */
    public Activation activation(Activation own) {
        return fusedActivation != null ? fusedActivation : own;
    }

    /**
     * True in an optimized inference plan: the layer may keep its kernels in the layout its backend's inference op
     * reads ({@link #preparedWeight}) and call the backend's inference ops.
     */
    public boolean optimizedInference() {
        return prepareWeights;
    }

    /**
     * A tensor of this many floats, owned by the plan, that holds weight in another layout: the plan runs
     * prepare(weight, prepared) before the first forward and again whenever the model's weights have changed.
     */
    public Tensor preparedWeight(Tensor weight, long floats, java.util.function.BiConsumer<Tensor, Tensor> prepare) {
        if (!prepareWeights) {
            throw new IllegalStateException("preparedWeight: only optimized inference plans prepare weights");
        }
        Tensor prepared = memory.allocate(Math.toIntExact(floats));
        preparations.add(new Preparation(weight, prepared, prepare));
        return prepared;
    }

    /**
     * The range this layer's input took on calibration data, which int8 convolutions and dense layers map onto 8
     * bits; null when the model was not calibrated (or the plan is not int8).
     */
    public dev.osprey.backend.InputRange inputRange() {
        return precision == dev.osprey.Precision.INT8 ? inputRange : null;
    }

    /**
     * int8 plans: whether the only input holds 8-bit values already, mapped by {@link #inputRange()} (the layer before
     * handed them over); only layers that say {@link Fusion.Int8HandOver} are handed any.
     */
    public boolean quantizedInput() {
        return precision == dev.osprey.Precision.INT8 && handOver.quantizedInput();
    }

    /**
     * int8 plans: the range in which to write the output as 8-bit values for its readers (every one an int8 layer that
     * reads them as they are), or null for fp32; only layers that say {@link Fusion.Int8HandOver} are asked. A
     * convolution with its max pooling that an int8 plan keeps in fp32 ({@link #precision()} fp32, {@link
     * #maxPoolAfter()} set) may be asked too (Backend.keepsFp32InInt8).
     */
    public dev.osprey.backend.InputRange quantizedOutput() {
        return precision == dev.osprey.Precision.INT8 || maxPoolAfter != null ? handOver.quantizedOutput() : null;
    }

    /**
     * int8 plans: the range in which the {@link #residual()} holds 8-bit values (its producer handed them over), or
     * null when it is fp32 or there is none.
     */
    public dev.osprey.backend.InputRange quantizedResidual() {
        return precision == dev.osprey.Precision.INT8 && residual != null ? handOver.quantizedResidual() : null;
    }

    /**
     * The precision convolutions and dense layers compute in: fp32, bf16 or int8 in optimized inference plans, fp32 or
     * bf16 (mixed precision) in training plans, fp32 elsewhere.
     */
    public dev.osprey.Precision precision() {
        return precision;
    }

    /** The precision the training ops (conv2dForward, denseForward and their backward ops) multiply in here. */
    public dev.osprey.Precision trainingMath() {
        return prepareWeights ? dev.osprey.Precision.FP32 : precision;
    }

    List<Preparation> preparations() {
        return preparations;
    }

    /**
     * A tensor of the output's shape that this layer must add to its output before its activation (an Add after it
     * that the engine folded into it), or null. Only layers that say {@code Fusion.ResidualAbsorber} (inference) or
     * {@code Fusion.TrainingResidualAbsorber} (training) get one.
     */
    public Tensor residual() {
        return residual;
    }
}
