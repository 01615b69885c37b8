package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Multiply with channel gates, as squeeze-and-excitation blocks use it: a (1, 1, C) input scales every pixel of its
 * sample's (H, W, C) input. Its gradients are checked by GraphGradientTest; here the values, the shapes it refuses, and
 * the model around it in inference, int8 and a saved file.
 */
class MultiplyGateTest {
    @TempDir
    Path dir;

    @Test
    void gatesScaleEveryPixelOfTheirSample() {
        int batch = 2, h = 3, w = 5, c = 4;
        Input x = Input.shape(h, w, c);
        Input g = Input.shape(1, 1, c);
        Input g2 = Input.shape(1, 1, c);
        NDArray images = GaussianArrays.of(new Random(1), batch, h, w, c);
        NDArray gates = GaussianArrays.of(new Random(2), batch, 1, 1, c);
        NDArray gates2 = GaussianArrays.of(new Random(3), batch, 1, 1, c);
        float[] one = new float[batch * h * w * c];
        float[] two = new float[batch * h * w * c];
        for (int n = 0; n < batch; n++) {
            for (int p = 0; p < h * w; p++) {
                for (int k = 0; k < c; k++) {
                    int i = (n * h * w + p) * c + k;
                    one[i] = gates.data()[n * c + k] * images.data()[i];
                    two[i] = one[i] * gates2.data()[n * c + k];
                }
            }
        }
        // the same products, exactly
        try (Model model = new Model(List.of(x, g), List.of(new Multiply().apply(g, x)))) {
            assertArrayEquals(one, model.predict(List.of(images, gates), batch).get(0).data(), 0f);
        }
        try (Model model = new Model(List.of(x, g, g2), List.of(new Multiply().apply(g, x, g2)))) {
            assertArrayEquals(two, model.predict(List.of(images, gates, gates2), batch).get(0).data(), 0f);
        }
    }

    @Test
    void shapesThatAreNotOneShapeOrAChannelGateAreRefusedNamingThem() {
        Input x = Input.shape(4, 4, 8);
        IllegalArgumentException wrongChannels = assertThrows(IllegalArgumentException.class,
                () -> new Multiply().apply(x, Input.shape(1, 1, 4)));
        assertTrue(wrongChannels.getMessage().contains("(1, 1, C) channel gates beside (H, W, C)")
                && wrongChannels.getMessage().contains("(1, 1, 4)"), wrongChannels.getMessage());
        IllegalArgumentException rowGate = assertThrows(IllegalArgumentException.class,
                () -> new Multiply().apply(x, Input.shape(4, 1, 8)));
        assertTrue(rowGate.getMessage().contains("(4, 1, 8)"), rowGate.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Multiply().apply(Input.shape(8), Input.shape(1)));
    }

    /** An SE block: the optimized inference plan, int8, and a saved and loaded copy predict what training computed. */
    @Test
    void aSqueezeAndExcitationModelPredictsAlikeInEveryPlanAndAfterSaving() throws Exception {
        Input in = Input.shape(8, 8, 3);
        SymbolicTensor x = new Conv2D(8, 3, Activation.RELU).padding(Padding.SAME).apply(in);
        SymbolicTensor se = new GlobalAveragePooling2D().keepDims(true).apply(x);
        se = new Conv2D(2, 1, Activation.RELU).apply(se);
        se = new Conv2D(8, 1, "hard_sigmoid").apply(se);
        x = new Multiply().apply(x, se);
        SymbolicTensor out = new Dense(5, "softmax").apply(new GlobalAveragePooling2D().apply(x));
        NDArray images = GaussianArrays.of(new Random(3), 16, 8, 8, 3);
        NDArray labels = new NDArray(new float[16], 16);
        try (Model model = new Model(in, out)) {
            model.compile("adam", "sparse_categorical_crossentropy", "accuracy");
            model.fit(images, labels, 1, 8, null, null); // moves the weights off their start
            float[] fp32 = model.predict(images).data();
            float[] evaluated = model.predictOnBatch(images.slice(0, 4)).data();
            assertArrayEquals(java.util.Arrays.copyOf(fp32, 20), evaluated, 1e-5f);

            Path file = dir.resolve("se.osprey");
            model.save(file);
            try (Model loaded = Model.load(file)) {
                assertArrayEquals(fp32, loaded.predict(images).data(), 0f);
            }

            model.quantize(images);
            if (model.inferencePrecision() == Precision.INT8) {
                float[] int8 = model.predict(images).data();
                for (int i = 0; i < fp32.length; i++) {
                    assertEquals(fp32[i], int8[i], 0.05, "int8 probability " + i);
                }
            }
        }
    }
}
