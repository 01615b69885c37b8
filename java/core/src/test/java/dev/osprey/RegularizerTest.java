package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.optim.SGD;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Keras' kernel regularizers: a step moves each regularized kernel by the penalty's gradient on top of the loss's,
 * and the reported loss (fit, evaluate) adds the penalty.
 */
class RegularizerTest {
    private static final int N = 32;
    private static final double LR = 0.1;

    private static NDArray x() {
        return Datasets.fashionMnistSample().trainX().slice(0, N);
    }

    private static NDArray y() {
        return Datasets.fashionMnistSample().trainY().slice(0, N);
    }

    /** Conv2D(4, 3x3) -> Flatten -> Dense(10, softmax), the given penalties on the two kernels. */
    private static Sequential model(Regularizer conv, Regularizer dense) {
        Sequential m = new Sequential(new Conv2D(4, 3, Activation.RELU).kernelRegularizer(conv).inputShape(28, 28, 1),
                new Flatten(), new Dense(10, Activation.SOFTMAX).kernelRegularizer(dense));
        m.device(Device.cpu()).seed(9);
        m.compile(new SGD(LR), Loss.sparseCategoricalCrossentropy());
        return m;
    }

    private static FitOptions oneFullBatch() {
        return FitOptions.defaults().epochs(1).batchSize(N).shuffle(false).verbose(false);
    }

    @Test
    void aStepAddsThePenaltysGradientAndTheLossAddsThePenalty() {
        Regularizer conv = Regularizer.l1l2(0.003, 0.02);
        Regularizer dense = Regularizer.l2(0.05);
        try (Sequential plain = model(null, null); Sequential regularized = model(conv, dense)) {
            regularized.setWeights(plain.getWeights());
            List<NDArray> start = plain.getWeights(); // conv kernel, conv bias, dense kernel, dense bias
            double penalty = conv.penalty(start.get(0).data()) + dense.penalty(start.get(2).data());
            assertEquals(plain.evaluate(x(), y()).get("loss") + penalty, regularized.evaluate(x(), y()).get("loss"), 1e-5);

            History hp = plain.fit(x(), y(), oneFullBatch());
            History hr = regularized.fit(x(), y(), oneFullBatch());
            assertEquals(hp.last("loss") + penalty, hr.last("loss"), 1e-5, "the step's loss, penalty included");
            List<NDArray> p = plain.getWeights();
            List<NDArray> r = regularized.getWeights();
            Regularizer[] penalties = {conv, null, dense, null};
            for (int i = 0; i < 4; i++) {
                float[] w0 = start.get(i).data();
                float[] expected = p.get(i).data().clone();
                if (penalties[i] != null) {
                    for (int j = 0; j < w0.length; j++) {
                        expected[j] -= (float) (LR * (penalties[i].l1() * Math.signum(w0[j])
                                + 2 * penalties[i].l2() * w0[j]));
                    }
                }
                assertArrayEquals(expected, r.get(i).data(), 2e-6f, "weight " + i);
            }
        }
    }

    @Test
    void l1PullsSmallWeightsToZeroFasterThanTheyWouldGo() {
        try (Sequential plain = model(null, null); Sequential sparse = model(null, Regularizer.l1(0.01))) {
            sparse.setWeights(plain.getWeights());
            plain.fit(x(), y(), oneFullBatch().epochs(20));
            sparse.fit(x(), y(), oneFullBatch().epochs(20));
            double plainAbs = 0, sparseAbs = 0;
            for (float v : plain.getWeights().get(2).data()) {
                plainAbs += Math.abs(v);
            }
            for (float v : sparse.getWeights().get(2).data()) {
                sparseAbs += Math.abs(v);
            }
            assertEquals(true, sparseAbs < plainAbs * 0.9, "sum |w|: " + sparseAbs + " vs " + plainAbs);
        }
    }

    @Test
    void regularizersSurviveSaveAndLoadInKerasForm(@TempDir Path dir) throws Exception {
        try (Sequential m = model(Regularizer.l1l2(0.003, 0.02), Regularizer.l2(0.05))) {
            Path file = dir.resolve("regularized.osprey");
            m.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                Map<String, Object> denseConfig = loaded.layers().get(2).getConfig();
                assertEquals(Map.of("class_name", "L2", "config", Map.of("l2", 0.05)),
                        denseConfig.get("kernel_regularizer"));
                assertEquals(m.evaluate(x(), y()).get("loss"), loaded.evaluate(x(), y()).get("loss"), 0);
            }
        }
    }

    @Test
    void kerasFormsAndBadFactors() {
        assertEquals(Regularizer.l2(0.01), Regularizer.fromConfig("l2"));
        assertEquals(Regularizer.l1l2(0.0, 0.3), Regularizer.fromConfig(
                Map.of("class_name", "L1L2", "config", Map.of("l2", 0.3))));
        assertEquals("regularizer: expected a finite l2 >= 0, received -1.0",
                assertThrows(IllegalArgumentException.class, () -> Regularizer.l2(-1)).getMessage());
        assertThrows(IllegalArgumentException.class, () -> Regularizer.l1(Double.NaN));
        assertThrows(IllegalArgumentException.class, () -> Regularizer.fromConfig(Map.of("class_name", "Orthogonal")));
        assertThrows(IllegalArgumentException.class, () -> Regularizer.fromConfig(
                Map.of("class_name", "L2", "config", Map.of("l2", "lots"))));
    }
}
