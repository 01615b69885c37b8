package dev.osprey.serving;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.osprey.testing.SlowInputs;
import dev.osprey.Shape;
import java.util.Arrays;

/**
 * Fuzzes the HTTP body decoder behind POST /v1/predict. The first byte picks the Content-Type (JSON, float32,
 * image or something else), the rest is the body. Only {@link RequestDecoder.BadRequest} may come out, and every
 * decoded sample has the model's size and holds finite numbers. Seeds in RequestDecoderFuzzTestInputs.
 */
class RequestDecoderFuzzTest {
    private static final String[] TYPES = {"application/json", "application/octet-stream", "image/png", "text/plain"};
    private final RequestDecoder decoder = new RequestDecoder(Shape.of(28, 28, 1), null, false);

    static {
        dev.osprey.data.images.ImageTestFiles.warmUpDecoding(); // OpenCV loads here, not inside a timed input
    }

    @FuzzTest(maxDuration = "30s")
    void bodiesDecodeOrGetABadRequest(byte[] input) {
        if (input.length == 0) {
            return;
        }
        String type = TYPES[(input[0] & 0xff) % TYPES.length];
        byte[] body = Arrays.copyOfRange(input, 1, input.length);
        long start = SlowInputs.start();
        try {
            for (float[] sample : decoder.decode(type, body)) {
                if (sample.length != 784) {
                    throw new AssertionError("a sample of " + sample.length + " values, expected 784");
                }
                for (float v : sample) {
                    if (!Float.isFinite(v)) {
                        throw new AssertionError("a non-finite value passed: " + v);
                    }
                }
            }
        } catch (RequestDecoder.BadRequest expected) {
            // answered 400
        }
        SlowInputs.check(start);
    }
}
