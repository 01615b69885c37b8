package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Keras' step-level calls: trainOnBatch is exactly one fit step; testOnBatch and predictOnBatch match evaluate/predict. */
class OnBatchTest {
    static Sequential compiled() {
        Sequential m = Models.tutorialCnn();
        m.device(Device.cpu()).seed(4);
        m.compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
        return m;
    }

    @Test
    void trainOnBatchIsOneFitStepBitForBit() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 48);
        NDArray y = d.trainY().slice(0, 48);
        try (Sequential a = compiled(); Sequential b = compiled()) {
            History h = a.fit(x, y, FitOptions.defaults().epochs(1).batchSize(48).shuffle(false).seed(4).verbose(false));
            Map<String, Double> logs = b.trainOnBatch(x, y);
            List<NDArray> wa = a.getWeights();
            List<NDArray> wb = b.getWeights();
            for (int i = 0; i < wa.size(); i++) {
                assertArrayEquals(wa.get(i).data(), wb.get(i).data(), 0f, "weight " + i);
            }
            assertEquals(h.last("loss"), logs.get("loss"), 1e-6);
            assertEquals(h.last("accuracy"), logs.get("accuracy"), 1e-9);
            double first = logs.get("loss");
            double last = first;
            for (int i = 0; i < 20; i++) {
                last = b.trainOnBatch(x, y).get("loss");
            }
            assertTrue(last < first, "loss " + first + " -> " + last);
            assertEquals(b.evaluate(x, y, 48), b.testOnBatch(x, y));
            assertArrayEquals(b.predict(x, 48).data(), b.predictOnBatch(x).data(), 0f);
        }
    }

    @Test
    void badBatchesAreClearErrors() {
        LabeledData d = Datasets.fashionMnistSample();
        try (Sequential m = compiled()) {
            assertThrows(IllegalArgumentException.class, () -> m.trainOnBatch(d.trainX().slice(0, 4),
                    d.trainY().slice(0, 5)));
            NDArray bad = d.trainX().slice(0, 2);
            bad.data()[3] = Float.NaN;
            assertThrows(IllegalArgumentException.class, () -> m.trainOnBatch(bad, d.trainY().slice(0, 2)));
        }
        try (Sequential notCompiled = Models.tutorialCnn()) {
            assertThrows(IllegalStateException.class, () -> notCompiled.trainOnBatch(d.trainX().slice(0, 2),
                    d.trainY().slice(0, 2)));
        }
    }
}
