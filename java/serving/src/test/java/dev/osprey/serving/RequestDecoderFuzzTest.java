package dev.osprey.serving;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.osprey.testing.SlowInputs;
import dev.osprey.Shape;
import java.util.Arrays;

/**
 * Fuzzes the HTTP body decoder behind POST /v1/predict. The first byte picks the Content-Type (JSON, float32,
 * image or something else), the rest is the body. Only {@link RequestDecoder.BadRequest} may come out, and every
 * decoded sample has the model's size and holds finite numbers. Each body goes to the decoder of a model of one input
 * and to one of a model of two named inputs. Seeds in RequestDecoderFuzzTestInputs.
 */
class RequestDecoderFuzzTest {
    private static final String[] TYPES = {"application/json", "application/octet-stream", "image/png", "text/plain"};
    private final RequestDecoder decoder = new RequestDecoder(Shape.of(28, 28, 1), null, false);
    private final RequestDecoder twoInputs = new RequestDecoder(java.util.List.of("image", "meta"),
            java.util.List.of(Shape.of(2, 2, 1), Shape.of(3)), null, false);

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
        check(decoder, type, body, 784);
        check(twoInputs, type, body, 4, 3);
        SlowInputs.check(start);
    }

    private static void check(RequestDecoder decoder, String type, byte[] body, int... sizes) {
        try {
            for (float[][] sample : decoder.decode(type, body)) {
                if (sample.length != sizes.length) {
                    throw new AssertionError("a sample of " + sample.length + " inputs, expected " + sizes.length);
                }
                for (int in = 0; in < sizes.length; in++) {
                    if (sample[in].length != sizes[in]) {
                        throw new AssertionError("input " + in + " of " + sample[in].length + " values, expected "
                                + sizes[in]);
                    }
                    for (float v : sample[in]) {
                        if (!Float.isFinite(v)) {
                            throw new AssertionError("a non-finite value passed: " + v);
                        }
                    }
                }
            }
        } catch (RequestDecoder.BadRequest expected) {
            // answered 400
        }
    }
}
