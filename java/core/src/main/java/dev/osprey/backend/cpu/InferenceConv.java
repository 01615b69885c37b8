package dev.osprey.backend.cpu;

/**
 * A convolution as an inference plan runs it, by oneDNN ({@link ConvInferencePlan}) or by one of Osprey's kernels
 * ({@link WinogradConvPlan}, {@link PooledConvPlan}, and for few pixels {@link PointwiseConvPlan} and
 * {@link DepthwiseConvPlan}): the kernel is prepared once into the layout the implementation reads, then each call
 * computes y = activation(conv(x) + bias [+ residual]).
 */
interface InferenceConv extends AutoCloseable {
    /** Floats of the prepared kernel; 0 where the implementation reads Keras' layout (no copy is made). */
    long preparedFloats();

    /** Writes the Keras-layout kernel into prepared, in the implementation's layout ({@link #preparedFloats}). */
    void prepare(CpuTensor keras, CpuTensor prepared);

    /** y = activation(conv(x) + bias [+ residual]); kernel as prepared; bias and residual may be null. */
    void forward(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y);

    /**
     * Appends forward(x, kernel, bias, residual, y) to chain, to run on these tensors at each run of the chain: true
     * where the implementation runs in chains (Osprey's pointwise, depthwise and Winograd kernels), false otherwise (the default;
     * the chain is left as it was).
     */
    default boolean appendTo(CpuOpChain chain, CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual,
                             CpuTensor y) {
        return false;
    }

    /** The implementation's name, as oneDNN names its kernels ("brg_conv_fwd:avx2", "winograd_2x2_3x3:avx2"). */
    String implementation();

    /** The OpenMP team it was made for and runs on. */
    int threads();

    @Override
    void close();
}
