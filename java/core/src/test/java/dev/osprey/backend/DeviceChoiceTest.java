package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Runs everywhere: the choice follows what the probe finds, and the reason names what is missing. */
class DeviceChoiceTest {
    @Test
    void autoTakesTheGpuWhenUsableAndOtherwiseTheCpuWithAReason() {
        dev.osprey.backend.Accelerator.Availability cuda = dev.osprey.backend.Device.cudaAvailability();
        Device auto = Device.auto();
        if (cuda.usable()) {
            assertEquals(Device.Kind.CUDA, auto.kind());
        } else {
            assertEquals(Device.Kind.CPU, auto.kind());
            assertTrue(auto.reason().startsWith("no usable GPU: "), auto.reason());
            assertTrue(cuda.reason().matches(".*(lib[\\w.]+\\.so[.\\d]*|no CUDA device|no CUDA kernels|no NVIDIA driver|osprey-cuda is not on the class path).*"),
                    "the reason should name what is missing: " + cuda.reason());
        }
    }

    @Test
    void forcingCudaWhereItIsUnusableIsAClearException() {
        dev.osprey.backend.Accelerator.Availability cuda = dev.osprey.backend.Device.cudaAvailability();
        if (cuda.usable()) {
            assertEquals(Device.Kind.CUDA, Device.parse("cuda").kind());
            assertThrows(BackendException.class, () -> Device.parse("cuda:" + cuda.devices()));
            return;
        }
        BackendException e = assertThrows(BackendException.class, () -> Device.parse("cuda"));
        assertEquals("device cuda:0 was asked for, but " + cuda.reason(), e.getMessage());
        assertThrows(BackendException.class, () -> Device.parse("cuda:1"));
    }

    @Test
    void thePropertyOverridesTheAutomaticChoice() {
        String old = System.getProperty("osprey.device");
        System.setProperty("osprey.device", "cpu");
        try {
            assertEquals(Device.Kind.CPU, Device.auto().kind());
            System.setProperty("osprey.device", "tpu");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, Device::auto);
            assertEquals("expected device auto, cpu, cuda or cuda:N, received 'tpu'", e.getMessage());
        } finally {
            if (old == null) {
                System.clearProperty("osprey.device");
            } else {
                System.setProperty("osprey.device", old);
            }
        }
    }
}
