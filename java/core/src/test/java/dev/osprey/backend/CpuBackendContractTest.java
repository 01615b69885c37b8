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
}
