package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Collectors;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * The CUDA bindings are built for CUDA 13.1, and calling a runtime function that a CUDA 13.0 host lacks kills the
 * JVM outright (STACK.md). So every CUDA runtime function the backend calls must be one that CUDA 13.0's
 * libcudart defines. Checked against the CUDA 13.0 toolkit's libcudart wherever the toolkit is installed (our
 * build machines and CI, which compile the kernels with it).
 */
class CudaRuntimeSymbolsTest {
    @Test
    void everyRuntimeFunctionTheBackendCallsExistsInCuda130() throws IOException, InterruptedException {
        Path library = cuda130Runtime();
        Assumptions.assumeTrue(library != null, "no CUDA 13.0 toolkit runtime (libcudart.so.13) here");
        Set<String> called = new TreeSet<>();
        Pattern call = Pattern.compile("cudart\\.(cuda[A-Za-z0-9_]+)\\(");
        try (var files = Files.walk(Path.of("src/main/java/dev/osprey"))) {
            for (Path java : files.filter(p -> p.toString().endsWith(".java")).toList()) {
                Matcher m = call.matcher(Files.readString(java));
                while (m.find()) {
                    called.add(m.group(1));
                }
            }
        }
        assertTrue(called.size() >= 15, "expected the backend's runtime calls, found " + called);
        Set<String> defined = definedSymbols(library);
        Set<String> missing = called.stream().filter(f -> !defined.contains(f)).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(Set.of(), missing, "called by Osprey but absent from " + library + " (CUDA 13.0)");
    }

    private static Path cuda130Runtime() {
        for (String dir : List.of("/usr/local/cuda-13.0/lib", "/usr/local/cuda-13.0/lib64",
                "/usr/local/cuda-13.0/targets/x86_64-linux/lib")) {
            Path p = Path.of(dir, "libcudart.so.13");
            if (Files.isReadable(p)) {
                return p;
            }
        }
        return null;
    }

    private static Set<String> definedSymbols(Path library) throws IOException, InterruptedException {
        Process nm;
        try {
            nm = new ProcessBuilder("nm", "-D", "--defined-only", library.toString()).redirectErrorStream(true).start();
        } catch (IOException e) {
            Assumptions.abort("nm (binutils) is not installed here: " + e.getMessage());
            throw e;
        }
        String text = new String(nm.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(nm.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, nm.exitValue(), "nm failed: " + text);
        Set<String> names = new TreeSet<>();
        for (String line : text.split("\n")) {
            String[] parts = line.trim().split("\\s+");
            if (parts.length == 3) {
                names.add(parts[2].replaceAll("@.*", ""));
            }
        }
        return names;
    }
}
