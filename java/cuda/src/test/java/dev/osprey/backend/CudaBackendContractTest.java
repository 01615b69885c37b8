package dev.osprey.backend;

import dev.osprey.Activation;
import dev.osprey.backend.cuda.CudaBackend;
import java.util.stream.Stream;

/**
 * The contract on cuDNN/cuBLAS with TF32 tensor-core math (the default): TF32 keeps 10 mantissa bits, so
 * products of 3x3x64 terms land within 1e-2 of the reference (relative to max(1, |value|)).
 */
class CudaBackendContractTest extends BackendContractTest {
    @Override
    Backend open() {
        GpuTests.requireOrSkip();
        return new CudaBackend(0);
    }

    @Override
    double matmulTolerance() {
        return 1e-2;
    }

    /** cuDNN's bf16 convolutions write bf16 outputs (2^-9 relative), which the shared 1e-4 does not allow. */
    @Override
    double bf16InferenceTolerance() {
        return 1e-2;
    }

    /** Beside the shared shapes (one with uneven padding), one that cuDNN pads by itself at stride 2. */
    @Override
    Stream<Conv2dSpec> convSpecs() {
        return Stream.concat(super.convSpecs(),
                Stream.of(new Conv2dSpec(2, 9, 9, 4, 8, 5, 5, 2, 2, 2, 2, 2, 2, Activation.RELU)));
    }
}
