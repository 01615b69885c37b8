package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * The Vision Transformer's token layers by their values: ClassToken puts its weight before every sample's tokens,
 * PositionEmbedding gives every sample its first rows, Cropping1D keeps the middle positions. Their gradients are
 * checked in GraphGradientTest, their configs and files in LayerRoundTripTest.
 */
class TokenLayersTest {
    private static final int BATCH = 3;
    private static final int POSITIONS = 5;
    private static final int FEATURES = 4;

    private static float[] predict(Model model, NDArray x) {
        return model.predict(x).data();
    }

    @Test
    void classTokenPutsItsWeightBeforeEverySamplesTokens() {
        Input in = Input.shape(POSITIONS, FEATURES);
        try (Model model = new Model(in, new ClassToken().apply(in))) {
            model.build();
            float[] token = {0.5f, -1f, 2f, 3.5f};
            model.setWeights(List.of(new NDArray(token, FEATURES)));
            NDArray x = GaussianArrays.of(new Random(1), BATCH, POSITIONS, FEATURES);
            float[] y = predict(model, x);
            int rows = POSITIONS + 1;
            for (int n = 0; n < BATCH; n++) {
                for (int f = 0; f < FEATURES; f++) {
                    assertEquals(token[f], y[n * rows * FEATURES + f], 0f, "sample " + n + " token");
                }
                for (int i = 0; i < POSITIONS * FEATURES; i++) {
                    assertEquals(x.data()[n * POSITIONS * FEATURES + i], y[(n * rows + 1) * FEATURES + i], 0f);
                }
            }
        }
    }

    @Test
    void positionEmbeddingGivesEverySampleItsFirstRows() {
        Input in = Input.shape(POSITIONS, FEATURES);
        PositionEmbedding layer = new PositionEmbedding(7);
        try (Model model = new Model(in, layer.apply(in))) {
            model.seed(3).build();
            float[] embeddings = model.getWeights().get(0).data(); // (7, 4)
            assertEquals(7 * FEATURES, embeddings.length);
            float[] y = predict(model, GaussianArrays.of(new Random(2), BATCH, POSITIONS, FEATURES));
            for (int n = 0; n < BATCH; n++) {
                assertArrayEquals(java.util.Arrays.copyOf(embeddings, POSITIONS * FEATURES),
                        java.util.Arrays.copyOfRange(y, n * POSITIONS * FEATURES, (n + 1) * POSITIONS * FEATURES), 0f);
            }
        }
        Input longer = Input.shape(8, FEATURES);
        IllegalArgumentException tooLong = assertThrows(IllegalArgumentException.class, () -> layer.apply(longer));
        assertTrue(tooLong.getMessage().contains("at most 7 positions") && tooLong.getMessage().contains("(8, 4)"),
                tooLong.getMessage());
    }

    @Test
    void croppingKeepsTheMiddlePositions() {
        Input in = Input.shape(POSITIONS, FEATURES);
        Cropping1D crop = new Cropping1D(1, 2);
        assertEquals(Shape.of(2, FEATURES), crop.apply(in).shape());
        try (Model model = new Model(in, crop.output())) {
            NDArray x = GaussianArrays.of(new Random(4), BATCH, POSITIONS, FEATURES);
            float[] y = predict(model, x);
            for (int n = 0; n < BATCH; n++) {
                assertArrayEquals(java.util.Arrays.copyOfRange(x.data(), (n * POSITIONS + 1) * FEATURES,
                                (n * POSITIONS + 3) * FEATURES),
                        java.util.Arrays.copyOfRange(y, n * 2 * FEATURES, (n + 1) * 2 * FEATURES), 0f);
            }
        }
        IllegalArgumentException all = assertThrows(IllegalArgumentException.class,
                () -> new Cropping1D(3, 2).apply(Input.shape(POSITIONS, FEATURES)));
        assertTrue(all.getMessage().contains("more than 5 positions"), all.getMessage());
        assertThrows(IllegalArgumentException.class, () -> new Cropping1D(-1, 0));
        // a file's cropping that would wrap int around (10 - 2 x (2^31 - 1) is 12 in int) is refused, not planned
        IllegalArgumentException wraps = assertThrows(IllegalArgumentException.class,
                () -> new Cropping1D(Integer.MAX_VALUE, Integer.MAX_VALUE).apply(Input.shape(10, 1)));
        assertTrue(wraps.getMessage().contains("more than 4294967294 positions, received (10, 1)"), wraps.getMessage());
        for (Object bad : List.<Object>of(1.5, 1e10, List.of(1, 2.5))) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Cropping1D.fromConfig(
                    new dev.osprey.Config("Cropping1D", java.util.Map.of("cropping", bad))));
            assertTrue(e.getMessage().contains("expected cropping of whole numbers"), e.getMessage());
        }
        IllegalArgumentException padded = assertThrows(IllegalArgumentException.class,
                () -> new ZeroPadding2D(Integer.MAX_VALUE, Integer.MAX_VALUE, 0, 0).apply(Input.shape(4, 4, 1)));
        assertTrue(padded.getMessage().contains("padded to 4294967298 x 4"), padded.getMessage());
    }
}
