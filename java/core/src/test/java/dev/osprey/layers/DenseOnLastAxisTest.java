package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import java.nio.file.Path;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dense on an input larger than a vector applies to its last axis, as Keras' does: on (H, W, C) it is a 1x1
 * convolution with the same kernel. Checked against Conv2D(units, 1) with the same weights, in the optimized
 * inference plan (a BatchNormalization after it folded in), in int8, and after saving.
 */
class DenseOnLastAxisTest {
    @TempDir
    Path dir;

    @Test
    void denseOnAFeatureMapIsAOneByOneConvolution() throws Exception {
        Input in = Input.shape(5, 7, 3);
        Input same = Input.shape(5, 7, 3);
        Dense dense = new Dense(4, Activation.RELU);
        Conv2D conv = new Conv2D(4, 1, Activation.RELU);
        assertEquals(Shape.of(5, 7, 4), dense.apply(in).shape());
        NDArray images = GaussianArrays.of(new Random(5), 6, 5, 7, 3);
        try (Model a = new Model(in, new GlobalAveragePooling2D().apply(new BatchNormalization().apply(
                     dense.output())));
             Model b = new Model(same, new GlobalAveragePooling2D().apply(new BatchNormalization().apply(
                     conv.apply(same))))) {
            a.seed(3).build();
            List<NDArray> weights = a.getWeights(); // kernel (3, 4), bias, BatchNorm's four
            List<NDArray> convWeights = new java.util.ArrayList<>(weights);
            convWeights.set(0, new NDArray(weights.get(0).data(), 1, 1, 3, 4));
            randomizeBatchNorm(convWeights, weights);
            b.setWeights(convWeights);
            a.setWeights(weights);
            float[] fromDense = a.predict(images).data();
            assertArrayEquals(b.predict(images).data(), fromDense, 1e-5f);

            Path file = dir.resolve("dense-nd.osprey");
            a.save(file);
            try (Model loaded = Model.load(file)) {
                assertArrayEquals(fromDense, loaded.predict(images).data(), 0f);
            }
            a.quantize(images);
            if (a.inferencePrecision() == Precision.INT8) {
                assertArrayEquals(fromDense, a.predict(images).data(), 0.05f);
            }
        }
    }

    /**
     * useBias(false), Keras' use_bias=False: no bias weight (Keras' count), the outputs a zero bias gives, trained and
     * saved, and a BatchNormalization after it folded in for inference as with a bias.
     */
    @Test
    void denseWithoutABiasHasNoneAndTrainsAndFoldsABatchNorm() throws Exception {
        Input in = Input.shape(6);
        Dense plain = new Dense(4, Activation.RELU).useBias(false);
        Dense withBias = new Dense(4, Activation.RELU);
        Input same = Input.shape(6);
        NDArray x = GaussianArrays.of(new Random(2), 8, 6);
        try (Model a = new Model(in, new Dense(3, "softmax").apply(new BatchNormalization().apply(plain.apply(in))));
             Model b = new Model(same, new Dense(3, "softmax").apply(new BatchNormalization().apply(
                     withBias.apply(same))))) {
            a.seed(1).build();
            b.seed(1).build();
            assertEquals(b.countParams() - 4, a.countParams(), "no bias weight");
            assertEquals(false, plain.getConfig().get("use_bias"));
            a.compile("adam", "sparse_categorical_crossentropy", "accuracy");
            a.fit(x, new NDArray(new float[] {0, 1, 2, 0, 1, 2, 0, 1}, 8), 3, 4, null, null); // weights and statistics move
            List<NDArray> withZeroBias = new java.util.ArrayList<>(a.getWeights());
            withZeroBias.add(1, new NDArray(new float[4], 4));
            b.setWeights(withZeroBias);
            assertArrayEquals(b.predict(x).data(), a.predict(x).data(), 1e-6f);
            Path file = dir.resolve("no-bias.osprey");
            a.save(file);
            try (Model loaded = Model.load(file)) {
                assertArrayEquals(a.predict(x).data(), loaded.predict(x).data(), 0f);
                assertEquals(a.countParams(), loaded.countParams());
            }
        }
    }

    /** BatchNorm's gamma, beta, moving mean and variance away from the identity, the same in both lists. */
    private static void randomizeBatchNorm(List<NDArray> convWeights, List<NDArray> weights) {
        Random r = new Random(9);
        for (int i = 2; i < weights.size(); i++) {
            float[] v = new float[weights.get(i).data().length];
            for (int j = 0; j < v.length; j++) {
                v[j] = i == 5 ? 0.5f + r.nextFloat() : (float) r.nextGaussian() * 0.3f + (i == 2 ? 1 : 0);
            }
            NDArray a = new NDArray(v, weights.get(i).shape());
            weights.set(i, a);
            convWeights.set(i, a);
        }
    }
}
