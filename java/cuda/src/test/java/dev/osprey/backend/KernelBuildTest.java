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

/**
 * Wherever nvcc exists (our build machines and CI), the jar must carry every kernel as a real fatbin; and every kernel's
 * one declaration in native/kernels.h must agree with each Java launch site and with Osprey's activation kinds.
 */
class KernelBuildTest {
    /** One module per native/*.cu. */
    static List<String> modules() throws IOException {
        try (var files = Files.list(Path.of("../../native"))) {
            return files.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(".cu"))
                    .map(n -> n.substring(0, n.length() - 3)).sorted().toList();
        }
    }

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
        List<String> modules = modules();
        assertTrue(modules.size() >= 10, "expected the kernel modules, found " + modules);
        try (InputStream list = getClass().getResourceAsStream("/dev/osprey/backend/cuda/kernels/modules.txt")) {
            assertNotNull(list, "modules.txt is missing from the build output");
            assertEquals(modules, new String(list.readAllBytes()).lines().sorted().toList());
        }
        for (String module : modules) {
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
     * Every kernel the Java side launches is declared in native/kernels.h, and the argument kinds its launch site
     * declares ('p' pointer, 'l' 64-bit integer, 'i' int, 'f' float) match the declaration one by one: a mismatch
     * would hand the GPU garbage, and no test without a GPU could see it otherwise. (nvcc and the host build hold the
     * .cu definitions to the same declarations.)
     */
    @Test
    void everyLaunchSiteMatchesItsKernelsParameters() throws IOException {
        Map<String, String> kernels = new HashMap<>();
        Pattern kernel = Pattern.compile("OSPREY_KERNEL\\s+void\\s+(\\w+)\\s*\\(([^)]*)\\)");
        Matcher declared = kernel.matcher(Files.readString(Path.of("../../native/kernels.h")));
        while (declared.find()) {
            kernels.put(declared.group(1), kinds(declared.group(2)));
        }
        try (var files = Files.list(Path.of("../../native"))) {
            for (Path cu : files.filter(p -> p.toString().endsWith(".cu")).toList()) {
                Matcher m = kernel.matcher(Files.readString(cu));
                while (m.find()) {
                    assertTrue(kernels.containsKey(m.group(1)), cu.getFileName() + " defines " + m.group(1)
                            + ", which native/kernels.h does not declare");
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
                            + ", which native/kernels.h does not declare");
                    assertEquals(kernels.get(m.group(1)), m.group(2), java.getFileName() + ": argument kinds of "
                            + m.group(1));
                }
            }
        }
        assertTrue(sites >= 20, "expected the backend's launch sites, found " + sites);
    }

    /** The kernels take an activation as the ordinal of Activation.Kind: the header's enum must list the same order. */
    @Test
    void activationKindsAreNumberedAlikeInJavaAndInTheKernels() throws IOException {
        assertNumberedAlike("osprey_activation_kind", dev.osprey.Activation.Kind.values());
    }

    /** The loss kernel takes the ordinal of LossKind: the header's enum must list the same order. */
    @Test
    void lossKindsAreNumberedAlikeInJavaAndInTheKernels() throws IOException {
        assertNumberedAlike("osprey_loss_kind", LossKind.values());
    }

    /** kernels.h's enum of this name lists OSPREY_ + each Java constant's name, in the Java order. */
    private static void assertNumberedAlike(String enumName, Enum<?>[] javaValues) throws IOException {
        Matcher m = Pattern.compile("enum " + enumName + " \\{([^}]*)\\}").matcher(
                Files.readString(Path.of("../../native/kernels.h")));
        assertTrue(m.find(), "kernels.h declares enum " + enumName);
        List<String> native_ = java.util.Arrays.stream(m.group(1).split(",")).map(String::trim)
                .filter(t -> !t.isEmpty()).toList();
        List<String> expected = java.util.Arrays.stream(javaValues).map(k -> "OSPREY_" + k.name()).toList();
        assertEquals(expected, native_);
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
