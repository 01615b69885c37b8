package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.backend.BackendException;
import org.junit.jupiter.api.Test;

/** OMP_DYNAMIC=true starves oneDNN's kernels of the threads they split work for: refused with the fix named. */
class OpenMpSettingsTest {
    @Test
    void dynamicTeamsAreRefusedWithTheFix() {
        BackendException e = assertThrows(BackendException.class, () -> CpuBackend.refuseDynamicOpenMpTeams(" TRUE"));
        assertEquals("the CPU backend can't run with OMP_DYNAMIC=TRUE: oneDNN needs the OpenMP teams it asks for "
                + "(unset OMP_DYNAMIC, or set it to false)", e.getMessage());
        assertThrows(BackendException.class, () -> CpuBackend.refuseDynamicOpenMpTeams("1"));
    }

    @Test
    void unsetOrFalseIsFine() {
        assertDoesNotThrow(() -> CpuBackend.refuseDynamicOpenMpTeams(null));
        assertDoesNotThrow(() -> CpuBackend.refuseDynamicOpenMpTeams("false"));
        assertDoesNotThrow(() -> CpuBackend.refuseDynamicOpenMpTeams("0"));
    }

    @Test
    void computeHasAThreadOfItsOwnWhereOpenMpHasATeamUnlessToldOtherwise() {
        assertEquals(ComputeAffinity.Mode.DEVICE_THREAD, ComputeAffinity.mode(null, 2));
        assertEquals(ComputeAffinity.Mode.CALLER, ComputeAffinity.mode(null, 1), "one thread: no pool to keep single");
        assertEquals(ComputeAffinity.Mode.DEVICE_THREAD, ComputeAffinity.mode(" TRUE", 1));
        assertEquals(ComputeAffinity.Mode.CALLER, ComputeAffinity.mode("false", 8));
        BackendException e = assertThrows(BackendException.class, () -> ComputeAffinity.mode("yes", 2));
        assertEquals("-Dosprey.cpu.deviceThread: expected true or false (unset: a thread of its own only where OpenMP "
                + "has more than one), received 'yes'", e.getMessage());
    }
}
