package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.Softmax;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import org.junit.jupiter.api.Test;

/**
 * Which models output logits that the command line and the server show as probabilities (their softmax), and the
 * softmax itself: an imported classifier's linear last layer does, a softmax or a regression's output does not.
 */
class OutputsLogitsTest {
    private static Sequential ending(Activation last, int outputs) {
        return new Sequential(new Flatten().inputShape(4, 4, 1), new Dense(outputs, last));
    }

    @Test
    void aLinearClassifierWithClassNamesOrALossFromLogitsOutputsLogits() {
        try (Sequential m = ending(Activation.LINEAR, 3)) {
            m.device(Device.cpu());
            assertFalse(m.outputsLogits(), "no loss, no class names: values of any kind (an embedding, a box)");
            m.classNames(java.util.List.of("cat", "dog", "bird"));
            assertTrue(m.outputsLogits(), "an uncompiled linear classifier, as ONNX import makes with --class-names");
        }
        try (Sequential m = ending(Activation.LINEAR, 10)) {
            m.compile(new Adam(), Loss.sparseCategoricalCrossentropy().fromLogits(true), Metric.ACCURACY);
            assertTrue(m.outputsLogits());
        }
    }

    @Test
    void aSoftmaxBeforeAReshapeOrDropoutAndSeveralOutputsAreNotLogits() {
        try (Sequential m = new Sequential(new Flatten().inputShape(4, 4, 1), new Dense(10, Activation.SOFTMAX),
                new dev.osprey.layers.Dropout(0.1), new dev.osprey.layers.Reshape(10))) {
            m.classNames(java.util.Collections.nCopies(10, "c"));
            assertFalse(m.outputsLogits(), "probabilities already, looked for through the reshape and the dropout");
        }
        Input in = Input.shape(4, 4, 1);
        SymbolicTensor flat = new Flatten().apply(in);
        try (Model two = new Model(java.util.List.of(in), java.util.List.of(new Dense(3).apply(flat),
                new Dense(3).apply(flat)))) {
            assertFalse(two.outputsLogits(), "two outputs: not one classifier's");
        }
    }

    @Test
    void probabilitiesARegressionAndOneOutputAreNotLogits() {
        try (Sequential m = ending(Activation.SOFTMAX, 10)) {
            assertFalse(m.outputsLogits(), "Dense(..., softmax)");
        }
        try (Sequential m = new Sequential(new Flatten().inputShape(4, 4, 1), new Dense(10), new Softmax())) {
            assertFalse(m.outputsLogits(), "a Softmax layer last");
        }
        try (Sequential m = ending(Activation.LINEAR, 10)) {
            m.compile(new Adam(), Loss.meanSquaredError());
            assertFalse(m.outputsLogits(), "values of a regression");
        }
        try (Sequential m = ending(Activation.LINEAR, 1)) {
            assertFalse(m.outputsLogits(), "one value");
        }
        try (Sequential m = ending(Activation.RELU, 10)) {
            assertFalse(m.outputsLogits(), "a ReLU's outputs are no logits a classifier was trained on");
        }
    }

    @Test
    void softmaxRowsTurnsEachRowIntoProbabilitiesStablyForLargeLogits() {
        float[] rows = {1f, 2f, 3f, 1000f, 1001f, 1002f, 0f, 0f, 0f};
        Model.softmaxRows(rows, 3);
        double e1 = Math.exp(-2), e2 = Math.exp(-1), sum = e1 + e2 + 1;
        float[] expected = {(float) (e1 / sum), (float) (e2 / sum), (float) (1 / sum)};
        for (int r = 0; r < 2; r++) { // a shift of every logit changes nothing
            assertArrayEquals(expected, java.util.Arrays.copyOfRange(rows, 3 * r, 3 * r + 3), 1e-7f, "row " + r);
        }
        assertArrayEquals(new float[] {1f / 3, 1f / 3, 1f / 3}, java.util.Arrays.copyOfRange(rows, 6, 9), 1e-7f);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> Model.softmaxRows(new float[5], 3));
        assertEquals("softmaxRows: expected rows of 3 values, received 5 values", e.getMessage());
    }
}
