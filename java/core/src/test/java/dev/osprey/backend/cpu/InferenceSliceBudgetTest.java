package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import org.junit.jupiter.api.Test;

/** The CPU backend's inference slice budget: 1 MiB per thread unless -Dosprey.cpu.inferenceSliceBytes sets it. */
class InferenceSliceBudgetTest {
    private static final long MIB = 1L << 20;

    /** Without a budget no model would slice (the default is what dev.osprey.engine.InferenceSlices reads). */
    @Test
    void theBackendHasABudget() {
        assertTrue(Device.cpu().backend().inferenceSliceBytes() > 0);
    }

    @Test
    void aMebibytePerThreadUnlessSet() {
        assertEquals(2 * MIB, CpuBackend.inferenceSliceBytes(null, 2));
        assertEquals(16 * MIB, CpuBackend.inferenceSliceBytes(null, 16));
        assertEquals(MIB, CpuBackend.inferenceSliceBytes(null, 0));
        assertEquals(0, CpuBackend.inferenceSliceBytes("0", 2));
        assertEquals(12345, CpuBackend.inferenceSliceBytes(" 12345", 2));
    }

    @Test
    void aValueThatIsNotACountOfBytesIsRefusedNamingTheProperty() {
        for (String bad : new String[] {"-1", "2MiB", ""}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> CpuBackend.inferenceSliceBytes(bad, 2));
            assertTrue(e.getMessage().contains("-Dosprey.cpu.inferenceSliceBytes: expected a count of bytes >= 0")
                    && e.getMessage().contains("received '" + bad + "'"), e.getMessage());
        }
    }
}
