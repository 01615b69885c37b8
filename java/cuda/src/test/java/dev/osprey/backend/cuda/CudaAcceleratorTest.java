package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.osprey.backend.Accelerator;
import dev.osprey.backend.Device;
import org.junit.jupiter.api.Test;

/** osprey-core finds this module's GPU backend through ServiceLoader, and asks it (not a stand-in) about GPUs. */
class CudaAcceleratorTest {
    @Test
    void coreFindsTheCudaBackendOnTheClassPath() {
        assertInstanceOf(CudaAccelerator.class, Accelerator.cuda());
        assertEquals(CudaProbe.probe(), Device.cudaAvailability());
    }
}
