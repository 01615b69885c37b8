package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.nio.file.Path;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestInstance;
import org.junit.jupiter.api.io.TempDir;

/**
 * int8 post-training quantization on the CPU: the tutorial CNN and a small ResNet trained on the bundled sample keep
 * their accuracy within half a point in int8, the calibration ranges survive a model file, and int8 without
 * calibration is refused with what is expected.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
class QuantizationTest {
    private LabeledData data;

    @BeforeAll
    void load() {
        data = Datasets.fashionMnistSample();
    }

    private static double accuracy(NDArray p, NDArray labels) {
        int[] predicted = p.argMax();
        int right = 0;
        for (int i = 0; i < predicted.length; i++) {
            right += predicted[i] == (int) labels.data()[i] ? 1 : 0;
        }
        return (double) right / predicted.length;
    }

    private void checkInt8KeepsAccuracy(Model model, String what, int epochs) {
        model.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(epochs).batchSize(64).verbose(false)
                .seed(1));
        NDArray test = data.testX();
        double fp32 = accuracy(model.predict(test, 256), data.testY());
        model.quantize(data.trainX().slice(0, 512));
        org.junit.jupiter.api.Assumptions.assumeTrue(model.inferencePrecision() == Precision.INT8,
                () -> model.backend().unavailable(Precision.INT8));
        NDArray p8 = model.predict(test, 256);
        double int8 = accuracy(p8, data.testY());
        assertTrue(Math.abs(int8 - fp32) <= 0.005, what + ": int8 " + int8 + " against fp32 " + fp32);
        assertTrue(fp32 > 0.5, what + " learned something (chance: 0.1): " + fp32);
        model.inferencePrecision(Precision.FP32);
        NDArray p32 = model.predict(test, 256);
        double largest = 0;
        for (int i = 0; i < p32.data().length; i++) {
            largest = Math.max(largest, Math.abs(p32.data()[i] - p8.data()[i]));
        }
        assertTrue(largest > 0 && largest < 0.25, what + ": int8 probabilities near fp32's, not equal: " + largest);
    }

    @Test
    void theTutorialCnnKeepsItsAccuracyInInt8() {
        try (Sequential m = Models.compiledTutorialCnn(Device.cpu())) {
            m.seed(3);
            checkInt8KeepsAccuracy(m, "tutorial CNN", 1);
        }
    }

    @Test
    void aResNetWithBatchNormAndResidualsKeepsItsAccuracyInInt8() {
        try (Model m = Models.resNet(8, Shape.of(28, 28, 1), 10).device(Device.cpu()).seed(3)) {
            m.compile(new dev.osprey.optim.Adam(0.001), dev.osprey.loss.Loss.sparseCategoricalCrossentropy());
            // 5 epochs: about 83% on the sample's test images. After 2 (66%) so many sat near a decision boundary
            // that a change in training's rounding (the Winograd kernel transform in float) moved int8's accuracy
            // 0.7 points from fp32's, past the 0.5 the issue allows trained models; after 3 (81%) 8-bit residuals
            // moved it 0.5 (0.35 with fp32 ones). After 4 it was 0.2 until the backward-data of strided convolutions
            // moved to another oneDNN kernel (PreferredKernels), whose rounding took it to 0.5 (10 of 2,000 images).
            // After 5: 0.15 with either kernel.
            checkInt8KeepsAccuracy(m, "ResNet-8", 5);
        }
    }

    @Test
    void calibrationRangesSurviveAModelFileAndPredictionsRepeat(@TempDir Path dir) throws Exception {
        try (Sequential m = Models.compiledTutorialCnn(Device.cpu())) {
            m.quantize(data.trainX().slice(0, 128));
            org.junit.jupiter.api.Assumptions.assumeTrue(m.inferencePrecision() == Precision.INT8,
                    () -> m.backend().unavailable(Precision.INT8));
            NDArray before = m.predict(data.testX().slice(0, 64), 64);
            Path file = dir.resolve("int8.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                assertEquals(m.inputRanges(), loaded.inputRanges());
                loaded.inferencePrecision(Precision.INT8);
                assertArrayEquals(before.data(), loaded.predict(data.testX().slice(0, 64), 64).data(), 0f);
            }
        }
    }

    @Test
    void aCopyInfersInInt8AsTheOriginalDoes() {
        try (Sequential m = Models.compiledTutorialCnn(Device.cpu())) {
            m.quantize(data.trainX().slice(0, 128));
            org.junit.jupiter.api.Assumptions.assumeTrue(m.inferencePrecision() == Precision.INT8,
                    () -> m.backend().unavailable(Precision.INT8));
            try (Model copy = m.copy(null)) {
                assertEquals(m.inputRanges(), copy.inputRanges());
                assertEquals(Precision.INT8, copy.inferencePrecision());
                assertArrayEquals(m.predict(data.testX().slice(0, 32), 32).data(),
                        copy.predict(data.testX().slice(0, 32), 32).data(), 0f);
            }
        }
    }

    @Test
    void int8WithoutCalibrationIsRefused() {
        try (Sequential m = Models.compiledTutorialCnn(Device.cpu())) {
            IllegalStateException e = assertThrows(IllegalStateException.class,
                    () -> m.inferencePrecision(Precision.INT8));
            assertTrue(e.getMessage().contains("expected quantize(calibrationSamples) first"), e.getMessage());
        }
    }
}
