package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;

import dev.osprey.backend.Device;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * An image's prediction does not depend on the batch it came in, bit for bit, at every batch size a server pads a
 * request to (serving's Predictor: 2, 4, ..., 64) and alone: MobileNetV2 at 32x32x3 runs its small 1x1 and depthwise
 * layers in Osprey's kernels at small batches and in oneDNN's at large ones, and every one sums in the same order;
 * the tutorial CNN's dense layers run in Osprey's kernel at every batch.
 */
class BatchInvarianceTest {
    @Test
    void mobileNetV2AnswersAnImageTheSameInEveryBatch() {
        try (Model model = Models.mobileNetV2(1.0, Shape.of(32, 32, 3), 10).device(Device.cpu())) {
            assertTheSameInEveryBatch(model, Shape.of(32, 32, 3));
        }
    }

    /** Its dense layers run in Osprey's kernel at every batch (oneDNN's inner product sums in a batch's own order). */
    @Test
    void theTutorialCnnAnswersAnImageTheSameInEveryBatch() {
        try (Model model = Models.tutorialCnn().device(Device.cpu())) {
            assertTheSameInEveryBatch(model, Shape.of(28, 28, 1));
        }
    }

    /** The first image's prediction alone and as the first of batches of 2, 4, ..., 64, compared bit for bit. */
    static void assertTheSameInEveryBatch(Model model, Shape input) {
        int largest = 64;
        Random r = new Random(42);
        float[] x = new float[largest * input.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] alone = model.predict(new NDArray(Arrays.copyOf(x, input.size()), input.withBatch(1)), 1).data();
        for (int batch = 2; batch <= largest; batch *= 2) {
            NDArray images = new NDArray(Arrays.copyOf(x, batch * input.size()), input.withBatch(batch));
            float[] first = Arrays.copyOf(model.predict(images, batch).data(), alone.length);
            assertArrayEquals(alone, first, 0f, "the first image at batch " + batch);
        }
    }
}
