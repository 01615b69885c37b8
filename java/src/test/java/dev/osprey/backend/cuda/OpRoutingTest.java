package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import dev.osprey.backend.Backend;
import java.io.IOException;
import java.lang.reflect.Method;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * Every op of the CUDA backend reports to the step recorder: a queued op notes itself ({@code replayed("op", ...)},
 * so a replay skips it and a changed step is caught), and anything that can't be part of a graph refuses
 * ({@code eagerOnly}). An op that did neither would run twice when a step is replayed (once by itself, once in the
 * graph), silently. Read from the source, so it holds on machines without a GPU.
 */
class OpRoutingTest {
    /** Methods of the seam that queue nothing on the stream. */
    private static final Set<String> NOT_OPS = Set.of("description", "view", "maxPool2dWorkspace", "newStepGraph",
            "nativeAllocations", "close");

    @Test
    void everyOpNotesItselfOrRefusesToBeRecorded() throws IOException {
        String source = Files.readString(Path.of("src/main/java/dev/osprey/backend/cuda/CudaBackend.java"));
        int checked = 0;
        for (Method m : Backend.class.getMethods()) {
            if (NOT_OPS.contains(m.getName()) || m.isDefault() && !source.contains(" " + m.getName() + "(")) {
                continue;
            }
            int start = source.indexOf(" " + m.getName() + "(");
            while (start >= 0 && !source.substring(source.lastIndexOf('\n', start), start).contains("public ")) {
                start = source.indexOf(" " + m.getName() + "(", start + 1);
            }
            if (start < 0) {
                fail("CudaBackend does not implement " + m.getName());
            }
            String body = source.substring(start, source.indexOf("\n    }\n", start));
            assertTrue(body.contains("replayed(\"" + m.getName() + "\"") || body.contains("eagerOnly(\""),
                    "CudaBackend." + m.getName() + " neither notes itself to the recorder nor refuses recording");
            checked++;
        }
        assertTrue(checked >= 20, "expected the seam's ops, checked " + checked);
    }
}
