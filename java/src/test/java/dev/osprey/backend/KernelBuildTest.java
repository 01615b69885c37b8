package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Wherever nvcc exists (our build machines and CI), the jar must carry every kernel as a real fatbin. */
class KernelBuildTest {
    static final List<String> MODULES = List.of("adam", "sgd", "softmax_cross_entropy", "normalize", "dropout",
            "dense_bias", "kernel_layout", "padding");

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

    /**
     * Every kernel the Java side launches exists in native/, and the argument kinds its launch site declares
     * ('p' pointer, 'l' 64-bit integer, 'i' int, 'f' float) match the kernel's parameters one by one: a mismatch
     * would hand the GPU garbage, and no test without a GPU could see it otherwise.
     */
    @Test
    void everyLaunchSiteMatchesItsKernelsParameters() throws IOException {
        Map<String, String> kernels = new HashMap<>();
        Pattern kernel = Pattern.compile("OSPREY_KERNEL\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)");
        try (var files = Files.list(Path.of("../native"))) {
            for (Path cu : files.filter(p -> p.toString().endsWith(".cu")).toList()) {
                Matcher m = kernel.matcher(Files.readString(cu));
                while (m.find()) {
                    kernels.put(m.group(1), kinds(m.group(2)));
                }
            }
        }
        Pattern launch = Pattern.compile("launch\\(\"(osprey_\\w+)\",\\s*\"(\\w+)\"\\)");
        int sites = 0;
        try (var files = Files.walk(Path.of("src/main/java/dev/osprey/backend/cuda"))) {
            for (Path java : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = launch.matcher(Files.readString(java));
                while (m.find()) {
                    sites++;
                    assertTrue(kernels.containsKey(m.group(1)), java.getFileName() + " launches " + m.group(1)
                            + ", which no .cu file in native/ defines");
                    assertEquals(kernels.get(m.group(1)), m.group(2), java.getFileName() + ": argument kinds of "
                            + m.group(1));
                }
            }
        }
        assertTrue(sites >= 12, "expected the backend's launch sites, found " + sites);
    }

    private static String kinds(String parameters) {
        StringBuilder out = new StringBuilder();
        for (String p : parameters.split(",")) {
            String t = p.trim().replaceAll("\\s+", " ");
            if (t.contains("*")) {
                out.append('p');
            } else if (t.startsWith("long long") || t.startsWith("unsigned long long")) {
                out.append('l');
            } else if (t.startsWith("int")) {
                out.append('i');
            } else if (t.startsWith("float")) {
                out.append('f');
            } else {
                throw new AssertionError("unexpected kernel parameter type: " + t);
            }
        }
        return out.toString();
    }
}
