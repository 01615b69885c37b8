package dev.osprey.backend;

import dev.osprey.backend.cpu.CpuBackend;

/** The contract on oneDNN: fp32 results differ from the double-accumulated reference only by rounding. */
class CpuBackendContractTest extends BackendContractTest {
    @Override
    Backend open() {
        return new CpuBackend();
    }

    @Override
    double matmulTolerance() {
        return 1e-4;
    }

    /** Depthwise convolutions (one input channel per group): Osprey's own filter gradient, in fp32, on some shapes. */
    @Override
    protected boolean mayTakeFilterGradientInFp32(Conv2dSpec s) {
        return s.groups() > 1 && s.groups() == s.inC();
    }
}
