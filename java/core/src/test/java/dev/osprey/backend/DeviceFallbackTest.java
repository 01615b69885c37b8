package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/**
 * What a GPU that fails to open gives (no GPU needed: the accelerator is a stand-in): an automatic choice goes on on the
 * CPU, a GPU asked for by name throws the reason; and an open that fails with a defect or a broken install (any
 * exception, a linkage error) counts as a GPU that can't be used, rather than escaping the choice. Needs the CPU
 * backend, so the GPU bundle does not run it.
 */
class DeviceFallbackTest {
    /** A stand-in accelerator whose open throws failure. */
    private static Accelerator failingWith(Throwable failure) {
        return new Accelerator() {
            @Override
            public Availability probe() {
                return new Availability(true, 1, "a stand-in");
            }

            @Override
            public Backend open(int index) {
                if (failure instanceof RuntimeException e) {
                    throw e;
                }
                throw (Error) failure;
            }
        };
    }

    @Test
    void everyWayAnOpenFailsBecomesTheReasonTheGpuCannotBeUsed() {
        BackendException refused = new BackendException("the self-check failed");
        assertSame(refused, Device.opened(() -> failingWith(refused), 0));
        Object defect = Device.opened(() -> failingWith(new IllegalStateException("a defect")), 0);
        assertInstanceOf(BackendException.class, defect);
        assertTrue(((BackendException) defect).getMessage().contains("IllegalStateException: a defect"),
                ((BackendException) defect).getMessage());
        Object broken = Device.opened(() -> failingWith(new UnsatisfiedLinkError("libcudnn_cnn.so.9: not found")), 0);
        assertInstanceOf(BackendException.class, broken);
        assertTrue(((BackendException) broken).getMessage().contains("libcudnn_cnn.so.9"),
                ((BackendException) broken).getMessage());
        Object unloadable = Device.opened(() -> {
            throw new NoClassDefFoundError("dev/osprey/backend/cuda/CudaAccelerator");
        }, 0);
        assertInstanceOf(BackendException.class, unloadable, "an accelerator that can't be loaded is a GPU not usable");
    }

    @Test
    void anAutomaticChoiceGoesOnOnTheCpuAndANamedGpuThrows() {
        java.util.function.Supplier<Backend> failing = () -> {
            throw new BackendException("the self-check failed");
        };
        Backend cpu = Device.gpuOrCpu(true, failing);
        assertInstanceOf(dev.osprey.backend.cpu.CpuBackend.class, cpu);
        assertSame(Device.cpu().backend(), cpu);
        BackendException e = assertThrows(BackendException.class, () -> Device.gpuOrCpu(false, failing));
        assertEquals("the self-check failed", e.getMessage());
    }
}
