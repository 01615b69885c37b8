package dev.osprey.backend.cpu;

/**
 * An inference convolution of Osprey's own kernels, whose native pass either runs at once or is appended to an op
 * chain ({@link CpuOpChain}): it implements {@link #submit} once, and runs or chains through it.
 */
interface ChainableConv extends InferenceConv {
    /**
     * The pass on these tensors: run now where chain is 0, else appended to that native chain; false where the chain
     * could not grow (out of native memory).
     */
    boolean submit(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y, long chain);

    @Override
    default void forward(CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual, CpuTensor y) {
        submit(x, kernel, bias, residual, y, 0);
    }

    @Override
    default boolean appendTo(CpuOpChain chain, CpuTensor x, CpuTensor kernel, CpuTensor bias, CpuTensor residual,
                             CpuTensor y) {
        chain.appended(submit(x, kernel, bias, residual, y, chain.handle()));
        return true;
    }
}
