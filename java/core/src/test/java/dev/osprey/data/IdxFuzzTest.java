package dev.osprey.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.osprey.Limits;
import java.io.ByteArrayInputStream;
import java.io.IOException;

/**
 * Fuzzes the IDX reader (raw and gzip). Anything but a format error is a finding, and so is an array larger than the
 * element limit. Seeds (replayed by every test run) are in IdxFuzzTestInputs: a valid file, truncated and overlong
 * ones, a gzip that inflates far past its header's promise, a header claiming 2^31 images.
 * Fuzz for longer with benchmarks/run-fuzz.sh.
 */
class IdxFuzzTest {
    @FuzzTest(maxDuration = "30s")
    void idxReaderFailsOnlyWithFormatErrors(byte[] file) {
        try {
            Idx.Array a = Idx.read(new ByteArrayInputStream(file), "fuzz");
            long values = 1;
            for (int d : a.dims()) {
                values *= d;
            }
            assertEquals(values, a.data().length);
            assertTrue(a.data().length <= Limits.current().maxTensorElements());
        } catch (IOException expected) {
            // IdxFormatException, or damaged gzip: the reader's answer to bad input
        }
    }
}
