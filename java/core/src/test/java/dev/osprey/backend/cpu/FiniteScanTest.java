package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The native copy and scan predict checks its inputs with finds the first NaN or infinity wherever it lies: in the first or
 * last value, at the edges of the chunks the threads take (16,384 floats), past a later one in another chunk; and
 * none among the extremes of finite floats (the largest, subnormals, negative zero).
 */
class FiniteScanTest {
    private static final int CHUNK = 16384;

    /** The Java reference: the first non-finite index, or -1. */
    private static long reference(float[] v) {
        for (int i = 0; i < v.length; i++) {
            if (!Float.isFinite(v[i])) {
                return i;
            }
        }
        return -1;
    }

    /**
     * The scan of a tensor holding v, and the copy and scan of v from an offset into one, which must agree and copy v
     * bit for bit (NaN payloads too).
     */
    private static long scan(float[] v, int threads) {
        try (CpuTensor t = CpuTensor.allocate(new int[] {v.length});
             CpuTensor copy = CpuTensor.allocate(new int[] {v.length})) {
            t.buffer().put(0, v);
            long scanned = OpenMpTeam.sized(threads, () -> FiniteScan.firstNonFinite(t));
            assertEquals(scanned, FiniteScan.firstNonFiniteInJava(t), "the scan without the native library");
            float[] padded = new float[v.length + 5];
            System.arraycopy(v, 0, padded, 3, v.length);
            long copied = OpenMpTeam.sized(threads, () -> FiniteScan.copyIn(padded, 3, copy));
            assertEquals(scanned, copied, "the copy's scan");
            for (int i = 0; i < v.length; i++) {
                assertEquals(Float.floatToRawIntBits(v[i]), Float.floatToRawIntBits(copy.buffer().get(i)),
                        "value " + i + " copied");
            }
            return scanned;
        }
    }

    @Test
    void itFindsTheFirstNonFiniteValueWhereverItIs() {
        NativeKernels.require(NativeCpu.unavailableReason(), "the finite-value scan");
        Random r = new Random(11);
        float[] finite = new float[5 * CHUNK + 7];
        for (int i = 0; i < finite.length; i++) {
            finite[i] = (float) r.nextGaussian();
        }
        finite[3] = Float.MAX_VALUE;
        finite[4] = -Float.MAX_VALUE;
        finite[5] = Float.MIN_VALUE;
        finite[6] = -0f;
        int[] places = {0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 5, 4 * CHUNK - 1, finite.length - 1};
        float[] bad = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY,
            Float.intBitsToFloat(0xffc00001)}; // a negative NaN with a payload
        for (int threads : new int[] {1, 2, 3}) {
            assertEquals(-1, scan(finite, threads), "all finite, " + threads + " threads");
            for (int place : places) {
                for (float b : bad) {
                    float[] v = finite.clone();
                    v[place] = b;
                    if (place + 3 * CHUNK < v.length) {
                        v[place + 3 * CHUNK] = Float.NaN; // a later one, in a chunk another thread may take
                    }
                    assertEquals(reference(v), scan(v, threads), b + " at " + place + ", " + threads + " threads");
                }
            }
        }
        assertEquals(0, scan(new float[] {Float.NaN}, 2), "a single value");
    }

    /** The backend checks the bounds the native copy trusts, an offset near Integer.MAX_VALUE too. */
    @Test
    void copiesPastTheArrayAreRefused() {
        try (CpuBackend backend = new CpuBackend(); dev.osprey.backend.Memory memory = backend.newMemory()) {
            dev.osprey.backend.Tensor t = memory.allocate(8);
            for (int offset : new int[] {-1, 3, Integer.MAX_VALUE - 2}) {
                IllegalArgumentException e = org.junit.jupiter.api.Assertions.assertThrows(
                        IllegalArgumentException.class, () -> backend.copyInFinite(new float[10], offset, t));
                assertEquals("copyInFinite: expected 8 floats from offset " + offset + ", received an array of 10",
                        e.getMessage());
            }
            assertEquals(-1, backend.copyInFinite(new float[10], 2, t));
        }
    }
}
