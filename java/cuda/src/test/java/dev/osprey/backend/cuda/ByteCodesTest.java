package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

/** Training sets go to the GPU as byte codes only when decoding gives back every float bit for bit. */
class ByteCodesTest {
    @Test
    void eightBitImagesScaledToFloatsDecodeExactly() {
        SplittableRandom random = new SplittableRandom(7);
        float[] x = new float[50_000];
        for (int i = 0; i < x.length; i++) {
            x[i] = i % 3 == 0 ? 0f : random.nextInt(256) / 255f;
        }
        ByteCodes codes = ByteCodes.encode(x);
        assertNotNull(codes);
        for (int i = 0; i < x.length; i++) {
            assertEquals(Float.floatToRawIntBits(x[i]), Float.floatToRawIntBits(codes.decode(i)), "element " + i);
        }
    }

    @Test
    void standardisedValuesQualifyToo() {
        float[] x = new float[1000];
        for (int i = 0; i < x.length; i++) {
            x[i] = ((i * 37) % 256 / 255f - 0.2860f) / 0.3530f;
        }
        ByteCodes codes = ByteCodes.encode(x);
        assertNotNull(codes);
        for (int i = 0; i < x.length; i++) {
            assertEquals(x[i], codes.decode(i));
        }
    }

    @Test
    void signedZerosStayDistinct() {
        ByteCodes codes = ByteCodes.encode(new float[] {0f, -0f, 0f, -0f});
        assertNotNull(codes);
        assertEquals(Float.floatToRawIntBits(-0f), Float.floatToRawIntBits(codes.decode(1)));
        assertEquals(Float.floatToRawIntBits(0f), Float.floatToRawIntBits(codes.decode(2)));
    }

    @Test
    void moreThan256DistinctValuesStayFloats() {
        float[] x = new float[257];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        assertNull(ByteCodes.encode(x));
        assertNotNull(ByteCodes.encode(java.util.Arrays.copyOf(x, 256)));
    }
}
