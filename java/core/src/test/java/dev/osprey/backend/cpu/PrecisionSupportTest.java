package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Precision;
import org.bytedeco.dnnl.global.dnnl;
import org.junit.jupiter.api.Test;

/** Which instruction sets give bf16 inference, and the reason given where they don't. */
class PrecisionSupportTest {
    @Test
    void bf16NeedsAvx512Bf16OrBetter() {
        String reason = CpuBackend.unavailable(Precision.BF16, dnnl.cpu_isa.avx512_core_vnni);
        assertTrue(reason != null && reason.contains("AVX512_BF16") && reason.contains("avx512_core_vnni"), reason);
        assertTrue(CpuBackend.unavailable(Precision.BF16, dnnl.cpu_isa.avx2) != null);
        assertNull(CpuBackend.unavailable(Precision.BF16, dnnl.cpu_isa.avx512_core_bf16));
        assertNull(CpuBackend.unavailable(Precision.BF16, dnnl.cpu_isa.avx512_core_amx));
        assertNull(CpuBackend.unavailable(Precision.FP32, dnnl.cpu_isa.avx2));
    }
}
