package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import dev.osprey.Precision;
import org.bytedeco.dnnl.global.dnnl;
import org.junit.jupiter.api.Test;

/** Which instruction sets get int8 kernels: AVX2 and above; an older CPU gets a one-line reason (and fp32). */
class Int8AvailabilityTest {
    @Test
    void int8NeedsAvx2AndSaysSoOnAnOlderCpu() {
        assertEquals("this CPU lacks AVX2, which oneDNN's int8 kernels need (its instruction set: sse41)",
                CpuBackend.unavailable(Precision.INT8, dnnl.cpu_isa.sse41));
        assertNull(CpuBackend.unavailable(Precision.INT8, dnnl.cpu_isa.avx2));
        assertNull(CpuBackend.unavailable(Precision.INT8, dnnl.cpu_isa.avx512_core_amx));
    }
}
