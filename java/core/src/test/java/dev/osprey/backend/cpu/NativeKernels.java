package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The precondition of the native kernels' tests: libospreycpu.so is built wherever gcc is, and its kernels run on AVX2
 * + FMA. CI has both, so there a kernel that can't run fails the test; elsewhere the test is skipped, saying why.
 */
final class NativeKernels {
    private NativeKernels() {
    }

    /** unavailableReason: the kernel's own (null where it can run); name: what it is, for the messages. */
    static void require(String unavailableReason, String name) {
        assumeTrue(unavailableReason == null || "true".equals(System.getenv("CI")),
                () -> name + " can't run here: " + unavailableReason);
        assertNull(unavailableReason, name + " can't run");
    }

    /** The int8 3x3 kernel (Int8ConvPlan): the library as require says; skipped where the processor lacks VNNI. */
    static void requireInt8Conv3x3() {
        require(PooledConvPlan.unavailableReason(), "the int8 convolution");
        assumeTrue(PooledConvPlan.int8Available(), "this processor has no VNNI: the int8 3x3 kernel does not run here");
    }
}
