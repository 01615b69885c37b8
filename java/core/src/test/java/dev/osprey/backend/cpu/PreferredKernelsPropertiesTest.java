package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** The properties of {@link PreferredKernels}: each turns its own rule off with onednn, and a bad value is named. */
class PreferredKernelsPropertiesTest {
    private static final String[] PROPERTIES = {PreferredKernels.INT8_CONV, PreferredKernels.STRIDED_BACKWARD_DATA,
        PreferredKernels.FP32_DEPTHWISE};

    /** fromProperties with property set to value and the others unset. */
    private static PreferredKernels with(String property, String value) {
        return SystemProperties.with(PROPERTIES[0], null, () -> SystemProperties.with(PROPERTIES[1], null,
                () -> SystemProperties.with(PROPERTIES[2], null,
                        () -> SystemProperties.with(property, value, PreferredKernels::fromProperties))));
    }

    @Test
    void eachPropertyTurnsItsOwnRuleOff() {
        assertEquals(PreferredKernels.ALL, with(PreferredKernels.INT8_CONV, null));
        assertEquals(PreferredKernels.ALL, with(PreferredKernels.INT8_CONV, "jit"));
        assertEquals(new PreferredKernels(false, true, true), with(PreferredKernels.INT8_CONV, "onednn"));
        assertEquals(new PreferredKernels(true, false, true), with(PreferredKernels.STRIDED_BACKWARD_DATA, "onednn"));
        assertEquals(new PreferredKernels(true, true, false), with(PreferredKernels.FP32_DEPTHWISE, "onednn"));
    }

    /**
     * The rules act on the AVX-512 kernels they were measured against, and on nothing else; further down oneDNN's list,
     * they take only the AVX-512 JIT kernel measured, never one for another ISA.
     */
    @Test
    void aRuleActsOnAndTakesOnlyTheKernelsItWasMeasuredWith() {
        assertTrue(PreferredKernels.measured("brg_conv_fwd:avx512_core_vnni", "brg"));
        assertTrue(PreferredKernels.measured("brgconv_1x1:avx512_core_vnni", "brg"));
        assertTrue(PreferredKernels.measured("brgconv_strided:avx512_core_bf16", "brgconv_strided"));
        assertTrue(PreferredKernels.measured("brdgmm_dw:avx512_core", "brdgmm_dw"));
        assertFalse(PreferredKernels.measured("brg_conv_fwd:avx512_core_amx", "brg"), "AMX: never measured");
        assertFalse(PreferredKernels.measured("brgconv_strided:avx2", "brgconv_strided"), "AVX2: never measured");
        assertFalse(PreferredKernels.measured("brg_conv_fwd:avx2_vnni", "brg"), "AVX2: never measured");
        assertFalse(PreferredKernels.measured("jit:avx512_core", "brgconv_strided"), "another first choice");
        assertFalse(PreferredKernels.measured("jit_int8:avx512_core_vnni", "brg"), "already the JIT kernel");
        assertTrue(PreferredKernels.measured("jit_int8:avx512_core_vnni", "jit_int8"));
        assertTrue(PreferredKernels.measured("jit_int8_1x1:avx512_core_vnni", "jit_int8"));
        assertTrue(PreferredKernels.measured("jit_bf16:avx512_core_bf16", "jit"));
        assertTrue(PreferredKernels.measured("jit_dw:avx512_core", "jit_dw"));
        assertFalse(PreferredKernels.measured("jit_int8:avx2_vnni", "jit_int8"), "AVX2: never measured");
        assertFalse(PreferredKernels.measured("jit:avx2", "jit"), "AVX2: never measured");
        assertFalse(PreferredKernels.measured("jit:avx512_core_amx", "jit"), "AMX: never measured");
        assertFalse(PreferredKernels.measured("brg_conv_fwd:avx512_core", "jit"), "another kernel");
    }

    @Test
    void aBadValueNamesTheProperty() {
        for (String property : PROPERTIES) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> with(property, "brgemm"));
            assertTrue(e.getMessage().contains("-D" + property) && e.getMessage().contains("'brgemm'"),
                    e.getMessage());
        }
    }
}
