package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.ClassificationReport;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** Compiled metrics: what evaluate returns and fit logs, against the report computed on the host from predict. */
class MetricsTest {
    private static Sequential model() {
        Sequential m = new Sequential(new Flatten().inputShape(28, 28, 1), new Dense(16, Activation.RELU),
                new Dense(10, Activation.SOFTMAX));
        m.device(Device.cpu()).seed(7);
        m.compile(new Adam(0.003), Loss.sparseCategoricalCrossentropy(), Metric.values());
        return m;
    }

    @Test
    void evaluateReturnsEveryCompiledMetricAsTheReportComputesIt() {
        LabeledData d = Datasets.fashionMnistSample();
        try (Sequential m = model()) {
            m.fit(d.trainX().slice(0, 1000), d.trainY().slice(0, 1000),
                    FitOptions.defaults().epochs(1).batchSize(50).verbose(false).seed(7));
            NDArray x = d.testX().slice(0, 600);
            NDArray y = d.testY().slice(0, 600);
            Map<String, Double> e = m.evaluate(x, y, 64);
            ClassificationReport report = m.classificationReport(x, y, 64);
            assertEquals(report.accuracy(), e.get("accuracy"), 1e-9);
            assertEquals(report.topKAccuracy(Metric.TOP_K), e.get("top_k_categorical_accuracy"), 1e-9);
            assertEquals(ClassificationReport.macro(report.precision()), e.get("precision"), 1e-9);
            assertEquals(ClassificationReport.macro(report.recall()), e.get("recall"), 1e-9);
            assertEquals(ClassificationReport.macro(report.f1()), e.get("f1_score"), 1e-9);
            assertEquals(ClassificationReport.macro(report.auc()), e.get("auc"), 0.005, "binned into 200 thresholds");
            assertTrue(e.get("auc") > 0.8, "a trained model separates the classes: " + e);
        }
    }

    @Test
    void fitLogsTrainingAndValidationMetricsOncePerEpoch() {
        LabeledData d = Datasets.fashionMnistSample();
        try (Sequential m = model(); Sequential same = model()) {
            History h = m.fit(d.trainX().slice(0, 500), d.trainY().slice(0, 500), FitOptions.defaults().epochs(2)
                    .batchSize(50).verbose(false).seed(7).validationData(d.testX().slice(0, 200), d.testY().slice(0, 200)));
            for (Metric metric : Metric.values()) {
                for (String key : new String[] {metric.kerasName(), "val_" + metric.kerasName()}) {
                    assertEquals(2, h.history().get(key).size(), key + " each epoch");
                    double v = h.last(key);
                    assertTrue(v >= 0 && v <= 1, key + " = " + v);
                }
            }
            // validation figures are evaluate's on the weights at the epoch's end
            Map<String, Double> e = m.evaluate(d.testX().slice(0, 200), d.testY().slice(0, 200), 50);
            for (Metric metric : Metric.values()) {
                assertEquals(e.get(metric.kerasName()), h.last("val_" + metric.kerasName()), 1e-9, metric.kerasName());
            }
            // the training figures count each batch as its forward pass saw it, before the step's update
            NDArray xb = d.trainX().slice(0, 50);
            NDArray yb = d.trainY().slice(0, 50);
            Map<String, Double> before = same.evaluate(xb, yb, 50);
            Map<String, Double> step = same.trainOnBatch(xb, yb);
            for (Metric metric : Metric.values()) {
                assertEquals(before.get(metric.kerasName()), step.get(metric.kerasName()), 1e-6, metric.kerasName());
            }
        }
    }
}
