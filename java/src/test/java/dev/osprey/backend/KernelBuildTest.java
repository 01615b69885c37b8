package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Wherever nvcc exists (our build machines and CI), the jar must carry every kernel as a real fatbin. */
class KernelBuildTest {
    static final List<String> MODULES = List.of("adam", "sgd", "softmax_cross_entropy", "normalize", "dropout",
            "dense_bias", "kernel_layout");

    static boolean nvccPresent() {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, "nvcc"))) {
                return true;
            }
        }
        return Files.isExecutable(Path.of("/usr/local/cuda/bin/nvcc"));
    }

    @Test
    void everyKernelWasCompiledIntoAFatbin() throws IOException {
        Assumptions.assumeTrue(nvccPresent(), "nvcc is not installed here, so the build skipped the kernels");
        for (String module : MODULES) {
            try (InputStream in = getClass().getResourceAsStream("/dev/osprey/backend/cuda/kernels/" + module + ".fatbin")) {
                assertNotNull(in, module + ".fatbin is missing from the build output");
                byte[] head = in.readNBytes(4);
                // A fatbin starts with the magic number 0xBA55ED50, little-endian.
                assertEquals(4, head.length);
                assertEquals(0x50, head[0] & 0xff, module);
                assertEquals(0xED, head[1] & 0xff, module);
                assertEquals(0x55, head[2] & 0xff, module);
                assertEquals(0xBA, head[3] & 0xff, module);
                assertTrue(in.available() > 1000 || in.readAllBytes().length > 1000, module + " is implausibly small");
            }
        }
    }
}
