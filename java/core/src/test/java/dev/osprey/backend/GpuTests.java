package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.fail;

import org.junit.jupiter.api.Assumptions;

/**
 * GPU tests run where CUDA is usable and are skipped elsewhere, with the reason; -Dosprey.test.requireGpu=true
 * (the GPU bundle sets it) turns "no GPU" into a failure, so a GPU host can't pass by skipping.
 */
public final class GpuTests {
    private GpuTests() {
    }

    public static void requireOrSkip() {
        dev.osprey.backend.Accelerator.Availability cuda = dev.osprey.backend.Device.cudaAvailability();
        if (cuda.usable()) {
            return;
        }
        if (Boolean.getBoolean("osprey.test.requireGpu")) {
            fail("a GPU is required (osprey.test.requireGpu=true) but " + cuda.reason());
        }
        Assumptions.abort("no usable GPU: " + cuda.reason());
    }
}
