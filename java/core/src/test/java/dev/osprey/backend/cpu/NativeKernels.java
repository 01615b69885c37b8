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
}
