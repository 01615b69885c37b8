package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.SGD;
import java.util.List;
import org.junit.jupiter.api.Test;

/** Keras' class_weight: each sample's loss and gradient scaled by its class's weight, the mean still over the batch. */
class ClassWeightTest {
    static Sequential model(double lr) {
        Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(12, Activation.RELU),
                new Dense(10, Activation.SOFTMAX));
        m.device(Device.cpu()).seed(6);
        m.compile(new SGD(lr), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
        return m;
    }

    static FitOptions oneStep() {
        return FitOptions.defaults().epochs(1).batchSize(40).shuffle(false).seed(6).verbose(false);
    }

    @Test
    void weightTwoEverywhereIsTwiceTheLearningRateBitForBit() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 40);
        NDArray y = d.trainY().slice(0, 40);
        try (Sequential weighted = model(0.05); Sequential faster = model(0.1)) {
            double[] twos = new double[10];
            java.util.Arrays.fill(twos, 2.0);
            History hw = weighted.fit(x, y, oneStep().classWeight(twos));
            History hf = faster.fit(x, y, oneStep());
            List<NDArray> a = weighted.getWeights();
            List<NDArray> b = faster.getWeights();
            for (int i = 0; i < a.size(); i++) {
                assertArrayEquals(b.get(i).data(), a.get(i).data(), 0f, "weight " + i);
            }
            assertEquals(2 * hf.last("loss"), hw.last("loss"), 1e-6);
        }
    }

    @Test
    void theLossWeighsEachSampleByItsClass() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 40);
        NDArray y = d.trainY().slice(0, 40);
        double[] w = {1, 0, 3, 0.5, 0, 0, 2, 0, 1, 0.25};
        try (Sequential m = model(0.05)) {
            NDArray p = m.predict(x, 40); // the probabilities the step's forward pass sees
            double expected = 0;
            for (int i = 0; i < 40; i++) {
                int label = (int) y.data()[i];
                expected -= w[label] * Math.log(p.data()[i * 10 + label]);
            }
            History h = m.fit(x, y, oneStep().classWeight(w));
            assertEquals(expected / 40, h.last("loss"), 1e-5);
        }
    }

    @Test
    void balancedWeightsAndBadWeights() {
        NDArray labels = new NDArray(new float[] {0, 0, 0, 1, 2, 2}, 6, 1);
        assertArrayEquals(new double[] {0.5, 1.5, 0.75, 0}, FitOptions.balancedClassWeights(labels, 4), 1e-12);
        assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults().classWeight(1, -1));
        LabeledData d = Datasets.fashionMnistSample();
        try (Sequential m = model(0.05)) {
            assertThrows(IllegalArgumentException.class, () -> m.fit(d.trainX().slice(0, 8), d.trainY().slice(0, 8),
                    oneStep().classWeight(1, 2, 3)));
        }
    }
}
