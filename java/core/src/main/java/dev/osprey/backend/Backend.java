package dev.osprey.backend;

import dev.osprey.Activation;
import java.util.List;

/**
 * The seam between layers and native libraries: a small set of ops, each named op + direction. One backend per device
 * and process (see {@link Device#backend()}) serves every model on that device; each model owns its tensors through
 * a {@link Memory} of its own.
 *
 * <p>Rules every implementation keeps: ops write into the tensors they are given and never allocate; expensive
 * choices (primitive creation, algorithm search, workspace sizing) happen once per spec record and are cached
 * (the cache is bounded, so shapes no longer used are eventually freed); every op is safe to call from any thread
 * (a backend serializes them). Activations are (N, H, W, C) or (N, features), row-major; parameters use Keras'
 * layouts (conv kernel (kh, kw, in / groups, out), dense kernel (in, out)). Backends may keep private copies in
 * faster layouts, but what {@link #copyOut} returns is always in these layouts. Gradients an op is given
 * ({@code dy}) are read-only unless the op says otherwise.
 */
public interface Backend extends AutoCloseable {

    /** One line: library, instruction set or device, threads. */
    String description();

    // ---- memory ------------------------------------------------------------------------------------------

    /** A new owner for tensors on this backend; the caller closes it. */
    Memory newMemory();

    /** A window of {@code base} starting {@code offset} elements in, with its own shape; shares storage. */
    Tensor view(Tensor base, long offset, int... shape);

    /**
     * Fills all of destination, row-major, from {@code destination.size()} floats of source starting at sourceOffset;
     * throws IllegalArgumentException when source holds fewer.
     */
    void copyIn(float[] source, int sourceOffset, Tensor destination);

    /**
     * {@link #copyIn}, and then the index (from sourceOffset) of the first NaN or infinite value it copied, or -1 where
     * all are finite: how predict checks the inputs it refuses. A backend may scan its own copy, faster than this loop
     * over the source.
     */
    default long copyInFinite(float[] source, int sourceOffset, Tensor destination) {
        copyIn(source, sourceOffset, destination);
        for (int i = 0; i < destination.size(); i++) {
            if (!Float.isFinite(source[sourceOffset + i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * Copies all of source, row-major (parameters in Keras' layouts), into destination from destinationOffset on;
     * throws IllegalArgumentException when destination has no room for {@code source.size()} floats there.
     */
    void copyOut(Tensor source, float[] destination, int destinationOffset);

    /** Sets every element of tensor to value. */
    void fill(Tensor tensor, float value);

    // ---- convolution -------------------------------------------------------------------------------------
    // The training ops of convolutions and dense layers multiply in their spec's math: fp32, or bf16 (mixed
    // precision) where trainingUnavailable says so; every tensor they read and write is fp32 either way.

    /**
     * Null when this backend's training ops can multiply in this precision (fp32 always), else a one-line reason why
     * not. The default trains in fp32 only.
     */
    default String trainingUnavailable(dev.osprey.Precision math) {
        return math == dev.osprey.Precision.FP32 ? null
                : description() + " has no " + math + " training kernels";
    }

    /** bias is null when the spec has none. */
    void conv2dForward(Conv2dSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y);

    /**
     * Writes dx, the gradient of the convolution's input x, from dy, the gradient of its output before the spec's
     * activation (this op does not differentiate the activation: the caller does, first), and kernel in Keras' layout.
     */
    void conv2dBackwardData(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor dx);

    /**
     * dx = what {@link #conv2dBackwardData} writes, plus addend: x's gradient from its other readers (a graph's tensor
     * read by two layers, as a ResNet block's input, gets the sum of their gradients), of x's shape and not dx itself.
     * A backend adds it as it writes dx where it can, saving a pass over both; the default computes dx, then adds.
     */
    default void conv2dBackwardDataAdding(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor addend, Tensor dx) {
        if (addend == dx) {
            throw new IllegalArgumentException("conv2dBackwardDataAdding: expected an addend other than dx, received dx "
                    + "itself");
        }
        conv2dBackwardData(spec, dy, kernel, dx);
        add(dx, addend, dx);
    }

    /** dBias is null when the spec has no bias. */
    void conv2dBackwardFilter(Conv2dSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias);

    /**
     * Both backward directions of a convolution in one call: the filter gradient (where dKernel is not null), then dx
     * (where not null; plus addend where that is not null, as {@link #conv2dBackwardDataAdding}), so a backend can
     * share work between them (dy converted to bf16 once). The default makes the separate calls.
     */
    default void conv2dBackward(Conv2dSpec spec, Tensor x, Tensor dy, Tensor kernel, Tensor dKernel, Tensor dBias,
                                Tensor addend, Tensor dx) {
        if (addend != null && addend == dx) {
            throw new IllegalArgumentException("conv2dBackward: expected an addend other than dx, received dx itself");
        }
        if (dKernel != null) {
            conv2dBackwardFilter(spec, x, dy, dKernel, dBias);
        }
        if (dx != null && addend != null) {
            conv2dBackwardDataAdding(spec, dy, kernel, addend, dx);
        } else if (dx != null) {
            conv2dBackwardData(spec, dy, kernel, dx);
        }
    }

    /**
     * Whether {@link #conv2dBackwardGated} runs here as one pass for spec (else nobody calls it): the engine lets a
     * convolution that writes its input's summed gradient also apply the ReLU gradient of that input's producer.
     */
    default boolean fusesReluGate(Conv2dSpec spec) {
        return false;
    }

    /**
     * {@link #conv2dBackward} with an addend (dx not null), then on dx the gradient of the ReLU whose output gate is (x's
     * producer): dx times 0 where gate is at most 0, else dx, as the ReLU's own backward computes it from its output.
     * The default makes the two calls; a backend for which {@link #fusesReluGate} says so for spec does it in one pass.
     */
    default void conv2dBackwardGated(Conv2dSpec spec, Tensor x, Tensor dy, Tensor kernel, Tensor dKernel, Tensor dBias,
                                     Tensor addend, Tensor gate, Tensor dx) {
        if (dx == null || addend == null || gate == null || addend == dx || gate == dx) {
            throw new IllegalArgumentException("conv2dBackwardGated: expected dx, an addend and a gate, the last two "
                    + "other than dx, received dx " + dx + ", addend " + addend + ", gate " + gate);
        }
        conv2dBackward(spec, x, dy, kernel, dKernel, dBias, addend, dx);
        activationBackward(Activation.RELU, null, gate, dx, dx);
    }

    // ---- pooling -----------------------------------------------------------------------------------------

    /** Floats of scratch the forward op fills (oneDNN: max pooling's arg-max) for the backward op; 0 for none. */
    long pool2dWorkspaceSize(Pool2dSpec spec);

    /** workspace: {@link #pool2dWorkspaceSize} floats, or null when that is 0. */
    void pool2dForward(Pool2dSpec spec, Tensor x, Tensor y, Tensor workspace);

    /** x and y are the forward's input and output (cuDNN finds the maxima from them; oneDNN uses the workspace). */
    void pool2dBackward(Pool2dSpec spec, Tensor x, Tensor y, Tensor dy, Tensor workspace, Tensor dx);

    // ---- dense -------------------------------------------------------------------------------------------

    /**
     * y = activation(x . kernel + bias) with the spec's activation; kernel in Keras' (inFeatures, units), bias (units)
     * never null.
     */
    void denseForward(DenseSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y);

    /**
     * dx = dy . kernel^T, where dy is the gradient of the output before the spec's activation (this op does not
     * differentiate the activation: the caller does, first).
     */
    void denseBackwardData(DenseSpec spec, Tensor dy, Tensor kernel, Tensor dx);

    /**
     * dKernel = x^T . dy and dBias = dy summed over the batch, overwriting both (neither may be null); dy as
     * {@link #denseBackwardData} reads it.
     */
    void denseBackwardWeights(DenseSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias);

    // ---- normalization -----------------------------------------------------------------------------------

    /** Floats of scratch the training forward fills for the backward (oneDNN: the fused ReLU's mask); 0 for none. */
    long batchNormWorkspaceSize(BatchNormSpec spec);

    /**
     * Normalizes x with its own per-channel statistics (then the ReLU, if the spec fuses one), writing the statistics to
     * batchMean and batchVariance (biased), and moves movingMean and movingVariance towards them by the spec's
     * momentum. workspace: {@link #batchNormWorkspaceSize} floats, or null when that is 0.
     */
    void batchNormForwardTraining(BatchNormSpec spec, Tensor x, Tensor gamma, Tensor beta, Tensor movingMean,
                                  Tensor movingVariance, Tensor y, Tensor batchMean, Tensor batchVariance,
                                  Tensor workspace);

    /**
     * Whether {@link #batchNormForwardTrainingAdding} runs here as one pass with this activation after the sum, so that
     * a training plan may let a BatchNormalization write the residual sum after it (a ResNet block's tail) and skip the
     * sum's own pass. The default: no, and the plan runs the normalization and the sum apart.
     */
    default boolean fusesBatchNormResidual(Activation after) {
        return false;
    }

    /**
     * {@link #batchNormForwardTraining} for a spec without a ReLU, writing y = after(normalized x + residual) instead.
     * No workspace: the backward of the normalization ({@link #batchNormBackward} with the same spec) then needs none,
     * and the sum's backward differentiates after from y. Only where {@link #fusesBatchNormResidual} says so for
     * after; the default throws.
     */
    default void batchNormForwardTrainingAdding(BatchNormSpec spec, Tensor x, Tensor residual, Activation after,
                                                Tensor gamma, Tensor beta, Tensor movingMean, Tensor movingVariance,
                                                Tensor y, Tensor batchMean, Tensor batchVariance) {
        throw new UnsupportedOperationException("this backend does not add a residual in its batch normalization: "
                + "expected a call only where fusesBatchNormResidual(after) is true");
    }

    /** Normalizes x with the moving statistics (then the fused ReLU, if any). */
    void batchNormForwardInference(BatchNormSpec spec, Tensor x, Tensor gamma, Tensor beta, Tensor movingMean,
                                   Tensor movingVariance, Tensor y);

    /**
     * Gradients of a training-mode forward, from the statistics it saved; dy is the gradient of its output y (after the
     * fused ReLU, which this op differentiates too, from y or the workspace).
     */
    void batchNormBackward(BatchNormSpec spec, Tensor x, Tensor y, Tensor dy, Tensor gamma, Tensor batchMean,
                           Tensor batchVariance, Tensor workspace, Tensor dx, Tensor dGamma, Tensor dBeta);

    /**
     * Normalizes each row of x, (rows, width), over its width: y = gamma (x - mean) / sqrt(variance + epsilon) + beta,
     * gamma and beta (width) per column. mean and variance (rows floats each) receive every row's statistics (biased
     * variance) for {@link #layerNormBackward}; both are null in inference, where nothing is kept. y may be x.
     */
    void layerNormForward(LayerNormSpec spec, Tensor x, Tensor gamma, Tensor beta, Tensor y, Tensor mean,
                          Tensor variance);

    /**
     * Gradients of {@link #layerNormForward} from the statistics it saved: dx (rows, width), dGamma and dBeta (width),
     * all three overwritten (none may be null).
     */
    void layerNormBackward(LayerNormSpec spec, Tensor x, Tensor dy, Tensor gamma, Tensor mean, Tensor variance,
                           Tensor dx, Tensor dGamma, Tensor dBeta);

    // ---- batched matrix products ---------------------------------------------------------------------------

    /**
     * For each of the spec's batch items, c = op(a) . op(b) (see {@link BatchMatMulSpec} for the layouts), summed in
     * fp32 and overwriting c, which may not be a or b.
     */
    void batchMatMul(BatchMatMulSpec spec, Tensor a, Tensor b, Tensor c);

    // ---- element-wise ------------------------------------------------------------------------------------

    /** y = activation(x); softmax runs over the last axis of y's shape. y may be x. */
    void activationForward(Activation activation, Tensor x, Tensor y);

    /**
     * out = activation(a + b) for an element-wise activation (not softmax): a residual sum and the ReLU after it in one
     * pass where the backend can. out may be a or b. The default adds, then activates.
     */
    default void add(Tensor a, Tensor b, Activation activation, Tensor out) {
        Checks.elementwise("add", activation);
        add(a, b, out);
        if (activation.kind() != Activation.Kind.LINEAR) {
            activationForward(activation, out, out);
        }
    }

    /**
     * dx = dy * activation'(x). x (the forward's input) may be null when the activation is
     * {@link Activation#differentiableFromOutput()}; y is the forward's output. dx may be dy.
     */
    void activationBackward(Activation activation, Tensor x, Tensor y, Tensor dy, Tensor dx);

    /** out = a + b, element-wise; out may be a or b. */
    void add(Tensor a, Tensor b, Tensor out);

    /** out = a * b, element-wise; out may be a or b. */
    void multiply(Tensor a, Tensor b, Tensor out);

    /**
     * out = x with each sample's values times that sample's gate for their channel: x and out (batch, H, W, C), gate
     * (batch, 1, 1, C), as Multiply's channel gates (squeeze-and-excitation) multiply. out may be x.
     */
    void multiplyChannels(Tensor x, Tensor gate, Tensor out);

    /** y = x * scale + offset, element-wise; y may be x. */
    void scale(Tensor x, float scale, float offset, Tensor y);

    /** y = x framed by zeros. */
    void pad2dForward(Pad2dSpec spec, Tensor x, Tensor y);

    /** dx = the interior of dy (the gradient of {@link #pad2dForward}). */
    void pad2dBackward(Pad2dSpec spec, Tensor dy, Tensor dx);

    /** result (1 value) = the sum of x's squared values, computed on the device (gradient clipping). */
    void sumOfSquares(Tensor x, Tensor result);

    /** x *= min(1, maxNorm / sqrt(sumOfSquares[0])), reading the sum where it lies (no copy to the host). */
    void scaleToNorm(Tensor x, Tensor sumOfSquares, float maxNorm);

    /** Each value of x clipped into [-limit, limit]. */
    void clipByValue(Tensor x, float limit);

    /**
     * average = momentum * average + (1 - momentum) * values, element-wise (Keras' use_ema: a moving average of the
     * weights after each step); momentum in [0, 1], 0 copying the values.
     */
    void movingAverage(Tensor average, Tensor values, float momentum);

    /** y = x with each sample's axes transposed (its own gradient is the inverse transposition). */
    void permute(PermuteSpec spec, Tensor x, Tensor y);

    /**
     * Joins parts side by side: each is (rows, width_i), the whole (rows, sum of widths) (concatenation along an axis
     * once the axes before it are folded into rows).
     */
    void concat(int rows, List<Tensor> parts, Tensor whole);

    /** The inverse of {@link #concat}: copies each part's columns out of the whole. */
    void split(int rows, Tensor whole, List<Tensor> parts);

    // ---- inference ----------------------------------------------------------------------------------------
    // An inference plan prepares each kernel once, in the layout (and number format) the backend's inference op
    // reads, and prepares it again only when the model's weights change; per call nothing is reordered. A backend
    // without a faster layout keeps the defaults: no prepared copy, fp32 only, and the ops above composed.

    /** Null when this backend can run inference in this precision, else a one-line reason why not. */
    default String unavailable(dev.osprey.Precision precision) {
        return precision == dev.osprey.Precision.FP32 ? null
                : description() + " has no " + precision + " inference kernels";
    }

    /**
     * Floats a convolution kernel takes in the layout {@link #conv2dInference} reads, or 0 when it reads Keras' fp32
     * layout as it is (then no prepared copy is made).
     */
    default long conv2dInferenceKernelSize(ConvInference op) {
        requireAvailable(op.precision());
        return 0;
    }

    /** Writes kernel (Keras' layout, fp32) into prepared ({@link #conv2dInferenceKernelSize} floats). */
    default void conv2dPrepareInferenceKernel(ConvInference op, Tensor kernel, Tensor prepared) {
        throw new UnsupportedOperationException(description() + " prepares no convolution kernels");
    }

    /**
     * y = activation(conv(x, kernel) + bias + residual) in inference: kernel as {@link #conv2dPrepareInferenceKernel}
     * wrote it (or in Keras' layout where the size is 0), bias null when the spec has none, residual of y's shape when
     * the op adds one, else null. The default composes {@link #conv2dForward}, {@link #add} and
     * {@link #activationForward}; in bf16 or fp16 (where {@link #unavailable} allows it) the convolution multiplies
     * with the training ops' math of that precision.
     */
    default void conv2dInference(ConvInference op, Tensor x, Tensor kernel, Tensor bias, Tensor residual, Tensor y) {
        requireAvailable(op.precision());
        Checks.notFused("conv2dInference", op);
        Checks.notPooled("conv2dInference", op);
        Conv2dSpec spec = op.precision() == dev.osprey.Precision.FP32 ? op.spec() : op.spec().withMath(op.precision());
        if (op.residual() != (residual != null)) {
            throw new IllegalArgumentException("conv2dInference: expected " + (op.residual() ? "a residual" : "none")
                    + ", received " + (residual == null ? "none" : Tensor.describe(residual.shape())));
        }
        if (residual == null) {
            conv2dForward(spec, x, kernel, bias, y);
            return;
        }
        Checks.expect("conv2dInference residual", residual, spec.outputShape());
        conv2dForward(spec.withActivation(Activation.LINEAR), x, kernel, bias, y);
        add(y, residual, y);
        if (spec.activation().kind() != Activation.Kind.LINEAR) {
            activationForward(spec.activation(), y, y);
        }
    }

    /**
     * The cache budget of an inference call: a batch whose largest activation would exceed it runs in slices of rows
     * that fit (see {@code dev.osprey.engine.InferenceSlices}), so that each layer reads what the one before it wrote
     * from the cache instead of memory. 0, the default, runs every batch whole: right where memory is fast beside the
     * compute, or large batches are what keep the device busy (a GPU).
     */
    default long inferenceSliceBytes() {
        return 0;
    }

    /**
     * Whether this backend runs the fp32 inference convolution conv (bias flag and activation set) followed by the max
     * pooling pool that alone reads its output as one op ({@link ConvInference#maxPool} through
     * {@link #conv2dInference}, writing only the pooled map), and is faster that way for these shapes. The default
     * fuses nothing.
     */
    default boolean fusesMaxPool(Conv2dSpec conv, Pool2dSpec pool) {
        return false;
    }

    /**
     * Whether an int8 inference plan can run the convolution conv and the max pooling pool after it as one int8 op
     * ({@link ConvInference} in int8 with {@link ConvInference#maxPool}): its input fp32, mapped onto 8 bits by range
     * as it is read, or 8-bit values an int8 layer before handed over; its output fp32 or 8-bit for int8 readers.
     * Asked before {@link #keepsFp32InInt8}. The default: never.
     */
    default boolean fusesMaxPoolInInt8(Conv2dSpec conv, Pool2dSpec pool, InputRange range) {
        return false;
    }

    /**
     * Whether an int8 inference plan should run the convolution conv and the max pooling pool after it (as {@link
     * #fusesMaxPool} runs them) in fp32 instead: where int8 products cannot pay, as on few input channels (8-bit
     * kernels multiply groups of 4 channels, so 1 channel wastes three quarters of each) and the fp32 kernel is
     * faster. Its input is then fp32. Its pooled output is fp32 too, or, where the plan hands it to int8 readers
     * ({@link ConvInference#quantizedOutput}: an fp32 op with the pooling and an output range), written as 8-bit values
     * mapped by their range, which a backend answering true must do. The default: never.
     */
    default boolean keepsFp32InInt8(Conv2dSpec conv, Pool2dSpec pool) {
        return false;
    }

    // ---- a pointwise convolution and the depthwise one after it, as one inference op (MobileNet's expansion) ----

    /**
     * Whether this backend runs the pointwise convolution (1x1, stride 1, unpadded, one group) followed by the depthwise
     * convolution that alone reads its output as one fp32 inference op ({@link ConvInference#depthwise},
     * {@link #conv2dInferenceWithDepthwise}), and is faster that way for these shapes: the pointwise output then never
     * goes to memory. The specs are given as the fused op will run them (bias flags and activations set). The default
     * fuses nothing.
     */
    default boolean fusesDepthwise(Conv2dSpec pointwise, Conv2dSpec depthwise) {
        return false;
    }

    /**
     * Floats the depthwise kernel of a fused op ({@link ConvInference#depthwise}) takes in the layout
     * {@link #conv2dInferenceWithDepthwise} reads, or 0 when it reads Keras' layout as it is.
     */
    default long conv2dInferenceDepthwiseKernelSize(ConvInference op) {
        throw new UnsupportedOperationException(description() + " fuses no depthwise convolution");
    }

    /** Writes the depthwise kernel (Keras' layout) into prepared ({@link #conv2dInferenceDepthwiseKernelSize}). */
    default void conv2dPrepareInferenceDepthwiseKernel(ConvInference op, Tensor kernel, Tensor prepared) {
        throw new UnsupportedOperationException(description() + " fuses no depthwise convolution");
    }

    /**
     * y = dwActivation(depthwise(activation(conv(x, kernel) + bias), depthwiseKernel) + depthwiseBias) for a fused
     * op: both kernels as prepared (or in Keras' layout where their sizes are 0), biases null where the specs have
     * none, y of {@link ConvInference#outputShape()}. Only where {@link #fusesDepthwise} said so; the default refuses.
     */
    default void conv2dInferenceWithDepthwise(ConvInference op, Tensor x, Tensor kernel, Tensor bias,
                                              Tensor depthwiseKernel, Tensor depthwiseBias, Tensor y) {
        throw new UnsupportedOperationException(description() + " fuses no depthwise convolution");
    }

    // ---- chains: consecutive inference ops run in one call ----

    /**
     * A new, empty chain of inference ops ({@link OpChain}), or null where this backend runs every op on its own (the
     * default).
     */
    default OpChain newChain() {
        return null;
    }

    /**
     * Appends {@link #conv2dInference}(op, x, kernel, bias, residual, y) to chain, to run on these very tensors at each
     * {@link #runChain}, after the ops appended before it; checks the arguments as conv2dInference does. False where
     * this backend runs op only on its own (the chain is left as it was): the caller runs it then.
     */
    default boolean chainConv2dInference(OpChain chain, ConvInference op, Tensor x, Tensor kernel, Tensor bias,
                                         Tensor residual, Tensor y) {
        return false;
    }

    /** Runs the ops appended to chain, in order. */
    default void runChain(OpChain chain) {
        throw new UnsupportedOperationException(description() + " makes no op chains");
    }

    /** Floats a dense kernel takes in the layout {@link #denseInference} reads, or 0 for Keras' fp32 layout. */
    default long denseInferenceKernelSize(DenseInference op) {
        requireAvailable(op.precision());
        return 0;
    }

    /** Writes kernel (Keras' (in, out), fp32) into prepared ({@link #denseInferenceKernelSize} floats). */
    default void densePrepareInferenceKernel(DenseInference op, Tensor kernel, Tensor prepared) {
        throw new UnsupportedOperationException(description() + " prepares no dense kernels");
    }

    /**
     * y = activation(x . kernel + bias) in inference, kernel as prepared (or Keras' where the size is 0). The default
     * is {@link #denseForward}, with the training ops' math of the op's precision (bf16, fp16).
     */
    default void denseInference(DenseInference op, Tensor x, Tensor kernel, Tensor bias, Tensor y) {
        requireAvailable(op.precision());
        denseForward(op.precision() == dev.osprey.Precision.FP32 ? op.spec() : op.spec().withMath(op.precision()), x,
                kernel, bias, y);
    }

    /**
     * int8 inference: max pooling of 8-bit values as they are (unsigned, or signed), handed over between int8
     * convolutions; x and y are tensors of the spec's shapes holding one byte per value. Exact: the mapping onto 8
     * bits keeps order. Backends without int8 inference (the default) refuse.
     */
    default void maxPool2dInt8(Pool2dSpec spec, boolean unsigned, Tensor x, Tensor y) {
        throw new UnsupportedOperationException(description() + " has no int8 pooling");
    }

    /** Pooling in inference: no workspace for a backward pass. The default is {@link #pool2dForward}. */
    default void pool2dInference(Pool2dSpec spec, Tensor x, Tensor y) {
        long workspace = pool2dWorkspaceSize(spec);
        if (workspace > 0) {
            throw new UnsupportedOperationException(description() + " needs a workspace for " + spec
                    + " and has no pooling for inference");
        }
        pool2dForward(spec, x, y, null);
    }

    private void requireAvailable(dev.osprey.Precision precision) {
        String reason = unavailable(precision);
        if (reason != null) {
            throw new UnsupportedOperationException(reason);
        }
    }

    // ---- loss and regularization -------------------------------------------------------------------------

    /**
     * Softmax cross-entropy of (N, classes) logits against one-hot or soft targets:
     * {@link #loss loss(SOFTMAX_CROSS_ENTROPY, ...)}.
     */
    default void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor dLogits, Tensor stats) {
        loss(LossKind.SOFTMAX_CROSS_ENTROPY, logits, targets, dLogits, stats);
    }

    /**
     * The fused loss op: the loss of (N, width) outputs against targets, its gradient and its accuracy count, with
     * nothing read back. targets is (N, width), or (N, width + 1) when each row carries its weight in the extra
     * column (Keras' sample_weight and class_weight, multiplied). Writes the gradient of the batch's mean loss
     * (sum of weighted row losses / N, Keras' reduction) into dOutputs (may be null: evaluation), and adds
     * [sum of weighted row losses, correct predictions] to the two-element stats tensor. A row's loss is the mean
     * over its values for the binary cross-entropy and the errors, and the sum for the softmax cross-entropy.
     */
    void loss(LossKind kind, Tensor outputs, Tensor targets, Tensor dOutputs, Tensor stats);

    /**
     * Adds a batch to the classification counts of an epoch or evaluation (laid out as
     * {@link dev.osprey.metrics.ClassificationCounts} says), on the backend: outputs (N, width) become scores through
     * the activation of kind scores (SOFTMAX, SIGMOID; null: as they are), true classes come from targets (arg-max;
     * for one output, target > 0.5; a weight column is ignored), top-k hits with this k; the counts end with the
     * scores' error sums, as {@link #errorSums} adds them. The batch's rows are rows firstRow... of the epoch.
     */
    void classificationCounts(Tensor outputs, Activation.Kind scores, Tensor targets, int k, Tensor counts,
                              long firstRow);

    /** {@link #classificationCounts(Tensor, Activation.Kind, Tensor, int, Tensor, long)} of rows counted from 0. */
    default void classificationCounts(Tensor outputs, Activation.Kind scores, Tensor targets, int k, Tensor counts) {
        classificationCounts(outputs, scores, targets, k, counts, 0);
    }

    /**
     * Adds a batch to the error sums of an epoch or evaluation ({@link dev.osprey.metrics.ErrorSums#SIZE} floats, laid
     * out as that class says), on the backend: outputs (N, width) become scores through the activation of kind scores
     * (SOFTMAX for more than one value, SIGMOID; null: as they are), each row's absolute and squared errors against
     * its targets (a weight column is ignored) and the row itself added to the lane of its row in the epoch: row r of
     * the batch, which is row firstRow + r of the epoch, to lane (firstRow + r) % LANES.
     */
    void errorSums(Tensor outputs, Activation.Kind scores, Tensor targets, Tensor sums, long firstRow);

    /** {@link #errorSums(Tensor, Activation.Kind, Tensor, Tensor, long)} of rows counted from 0. */
    default void errorSums(Tensor outputs, Activation.Kind scores, Tensor targets, Tensor sums) {
        errorSums(outputs, scores, targets, sums, 0);
    }

    /**
     * A weight penalty (Keras' kernel regularizers): adds l1 * sign(w) + 2 * l2 * w to gradient (when not null) and
     * lossScale * (l1 * sum|w| + l2 * sum w^2) to stats[0], so the reported loss includes it without a read-back.
     */
    void regularize(Tensor weights, Tensor gradient, float l1, float l2, float lossScale, Tensor stats);

    /** Inverted dropout: mask = keep / (1 - rate) from a counter-based generator keyed by seed; y = x * mask. */
    void dropoutForward(float rate, long seed, Tensor x, Tensor mask, Tensor y);

    // ---- optimizers (one call over the whole parameter arena) --------------------------------------------

    /**
     * Adam step number {@code step} (1-based). With {@code spec.weightDecay() > 0}, each weight first shrinks by
     * learningRate * weightDecay of itself where decayMask holds 1 (decayMask: 1 or 0 per arena float; null decays
     * every weight), as Keras applies weight decay before the update. One pass over the arena.
     */
    void adamUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v, Tensor decayMask);

    /** {@link #adamUpdate(AdamSpec, long, Tensor, Tensor, Tensor, Tensor, Tensor)} decaying every weight. */
    default void adamUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v) {
        adamUpdate(spec, step, params, grads, m, v, null);
    }

    /**
     * Adam with AMSGrad (Keras' amsgrad=True): as {@link #adamUpdate}, but the step divides by the running maximum of
     * v, kept in vhat (vhat = max(vhat, v)). One pass over the arena.
     */
    void adamAmsgradUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v, Tensor vhat,
                           Tensor decayMask);

    /** SGD step, with weight decay as {@link #adamUpdate} applies it. */
    void sgdUpdate(SgdSpec spec, Tensor params, Tensor grads, Tensor velocity, Tensor decayMask);

    /**
     * One RMSprop step over the whole arena (Keras' formulation, {@link RmspropSpec}). momentumBuffer is null
     * without momentum, meanGrad null unless centered; decayMask as for {@link #adamUpdate}.
     */
    void rmspropUpdate(RmspropSpec spec, Tensor params, Tensor grads, Tensor velocity, Tensor momentumBuffer,
                       Tensor meanGrad, Tensor decayMask);

    /** {@link #sgdUpdate(SgdSpec, Tensor, Tensor, Tensor, Tensor)} decaying every weight. */
    default void sgdUpdate(SgdSpec spec, Tensor params, Tensor grads, Tensor velocity) {
        sgdUpdate(spec, params, grads, velocity, null);
    }

    // ---- whole data sets ---------------------------------------------------------------------------------

    /**
     * Keeps a training set where this backend computes: samples (sampleSize floats each) and their target rows
     * (classes floats each). The default keeps Java's arrays and copies each batch in; the CUDA backend holds the
     * set in device memory when it fits, so a step copies nothing. The arrays must not change while it is in use.
     */
    default ResidentData keepResident(float[] x, int sampleSize, float[] targets, int classes) {
        return new HostResidentData(this, x, sampleSize, targets, classes);
    }

    /**
     * Runs a unit of compute (a predict call, a training step) where this backend wants its ops called from, and
     * returns its result. The CPU backend runs one unit at a time, on its {@link DeviceThread} (so that oneDNN's OpenMP
     * pool is made once, whichever Java threads ask) or, with -Dosprey.cpu.deviceThread=false, on the caller; the
     * default runs it on the caller's thread.
     */
    default <T> T execute(java.util.concurrent.Callable<T> work) {
        try {
            return work.call();
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Exception e) {
            throw new BackendException(e.toString(), e);
        }
    }

    /**
     * Waits until every op called so far has finished (a GPU queues them), so that a clock read next shows their time;
     * a per-layer profile calls it around each layer. The default, for a backend whose ops finish before they return,
     * returns at once.
     */
    default void synchronize() {
    }

    /**
     * How many native buffers and op plans this backend has created so far. Steady-state training and
     * inference create none, so this stays constant once every batch size has been seen (tests check it).
     */
    long nativeAllocations();

    /** Frees every plan this backend made (the tensors belong to their {@link Memory}). Idempotent. */
    @Override
    void close();
}
