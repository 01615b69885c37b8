package dev.osprey.backend;

import dev.osprey.Activation;

/**
 * The seam between layers and native libraries: a small set of ops, each named op + direction.
 *
 * <p>Rules every implementation keeps: ops write into the tensors they are given and never allocate;
 * expensive choices (primitive creation, algorithm search, workspace sizing) happen once per spec record and
 * are cached; only {@link #allocate}, {@link #view} and {@link #maxPool2dWorkspace} create tensors.
 * Activations are (N, H, W, C) or (N, features), row-major; parameters use Keras' layouts
 * (conv kernel (kh, kw, in, out), dense kernel (in, out)). Backends may keep private copies in faster
 * layouts, but what {@link #copyOut} returns is always in these layouts.
 */
public interface Backend extends AutoCloseable {

    /** One line: library, instruction set or device, threads. */
    String description();

    // ---- memory ------------------------------------------------------------------------------------------

    /** A new zero-filled tensor of this logical shape. */
    Tensor allocate(int... shape);

    /** A window of {@code base} starting {@code offset} elements in, with its own shape; shares storage. */
    Tensor view(Tensor base, long offset, int... shape);

    void copyIn(float[] source, int sourceOffset, Tensor destination);

    void copyOut(Tensor source, float[] destination, int destinationOffset);

    void fill(Tensor tensor, float value);

    // ---- convolution -------------------------------------------------------------------------------------

    void conv2dForward(Conv2dSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y);

    void conv2dBackwardData(Conv2dSpec spec, Tensor dy, Tensor kernel, Tensor dx);

    void conv2dBackwardFilter(Conv2dSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias);

    // ---- pooling -----------------------------------------------------------------------------------------

    /** Scratch the forward op may fill (oneDNN: the arg-max) for the backward op; one per layer and batch size. */
    Tensor maxPool2dWorkspace(Pool2dSpec spec);

    void maxPool2dForward(Pool2dSpec spec, Tensor x, Tensor y, Tensor workspace);

    /** x and y are the forward's input and output (cuDNN finds the maxima from them; oneDNN uses the workspace). */
    void maxPool2dBackward(Pool2dSpec spec, Tensor x, Tensor y, Tensor dy, Tensor workspace, Tensor dx);

    // ---- dense -------------------------------------------------------------------------------------------

    void denseForward(DenseSpec spec, Tensor x, Tensor kernel, Tensor bias, Tensor y);

    void denseBackwardData(DenseSpec spec, Tensor dy, Tensor kernel, Tensor dx);

    void denseBackwardWeights(DenseSpec spec, Tensor x, Tensor dy, Tensor dKernel, Tensor dBias);

    // ---- element-wise and loss ---------------------------------------------------------------------------

    /** dx = dy * activation'(.), from the activation's output y (ReLU: dy where y > 0). dx may be dy. */
    void activationBackward(Activation activation, Tensor y, Tensor dy, Tensor dx);

    /** Row-wise softmax of (N, classes) logits. */
    void softmaxForward(Tensor logits, Tensor probabilities);

    /**
     * Softmax cross-entropy of (N, classes) logits against one-hot or soft targets. Writes the gradient of the
     * batch-mean loss into dLogits (may be null) and adds [sum of losses, number of correct arg-max] to the
     * two-element stats tensor, so that nothing has to be read back per step.
     */
    void softmaxCrossEntropy(Tensor logits, Tensor targets, Tensor dLogits, Tensor stats);

    /** Inverted dropout: mask = keep / (1 - rate) from a counter-based generator keyed by seed; y = x * mask. */
    void dropoutForward(float rate, long seed, Tensor x, Tensor mask, Tensor y);

    /** out = a * b, element-wise. */
    void multiply(Tensor a, Tensor b, Tensor out);

    // ---- optimizers (one call over the whole parameter arena) --------------------------------------------

    /** Adam step number {@code step} (1-based). */
    void adamUpdate(AdamSpec spec, long step, Tensor params, Tensor grads, Tensor m, Tensor v);

    void sgdUpdate(SgdSpec spec, Tensor params, Tensor grads, Tensor velocity);

    // ---- whole steps and whole data sets ------------------------------------------------------------------

    /**
     * A recorder for one training step of fixed shapes (one per batch size). Backends whose ops cost a launch each
     * (CUDA) record the step once and replay it; the default runs it eagerly every time.
     */
    default StepGraph newStepGraph() {
        return StepGraph.EAGER;
    }

    /**
     * Keeps a training set where this backend computes: samples (sampleSize floats each) and their target rows
     * (classes floats each). The default keeps Java's arrays and copies each batch in; the CUDA backend holds the
     * set in device memory when it fits, so a step copies nothing. The arrays must not change while it is in use.
     */
    default ResidentData keepResident(float[] x, int sampleSize, float[] targets, int classes) {
        return new HostResidentData(this, x, sampleSize, targets, classes);
    }

    /**
     * How many native buffers and op plans this backend has created so far. Steady-state training and
     * inference create none, so this stays constant once every batch size has been seen (tests check it).
     */
    long nativeAllocations();

    /** Frees every tensor and plan this backend made. Idempotent. */
    @Override
    void close();
}
