package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.TrainingDivergedException;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.SGD;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * A run that diverges (the rate jumps to 1e12 in its third epoch) stops with TrainingDivergedException; with
 * EarlyStopping(restoreBestWeights) the model keeps the best epoch's weights, not the NaN ones, and its optimizer
 * starts afresh (its momentum held NaN): the model saves, loads and trains on.
 */
class DivergenceTest {
    @Test
    void aDivergedRunKeepsItsBestEpochsWeights(@org.junit.jupiter.api.io.TempDir java.nio.file.Path dir)
            throws Exception {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 256);
        NDArray y = d.trainY().slice(0, 256);
        List<List<NDArray>> weightsByEpoch = new ArrayList<>();
        List<Double> valLoss = new ArrayList<>();
        Callback record = new Callback() {
            @Override
            public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                weightsByEpoch.add(training.model().getWeights());
                valLoss.add(logs.get("val_loss"));
            }
        };
        try (Sequential model = Models.tutorialCnn()) {
            model.device(Device.cpu()).seed(5);
            model.compile(new SGD(0.05, 0.9, false), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            FitOptions options = FitOptions.defaults().epochs(5).batchSize(32).verbose(false)
                    .validationData(d.testX().slice(0, 128), d.testY().slice(0, 128))
                    .callbacks(new LearningRateScheduler((epoch, rate) -> epoch < 2 ? 0.05 : 1e12), record,
                            new EarlyStopping("val_loss", 5, 0, true));
            TrainingDivergedException e = assertThrows(TrainingDivergedException.class, () -> model.fit(x, y, options));
            assertTrue(e.getMessage().contains("epoch 3"), e.getMessage());
            assertEquals(2, weightsByEpoch.size(), "two epochs ended before the divergence");
            int best = valLoss.get(0) <= valLoss.get(1) ? 0 : 1;
            List<NDArray> now = model.getWeights();
            for (int i = 0; i < now.size(); i++) {
                assertArrayEquals(weightsByEpoch.get(best).get(i).data(), now.get(i).data(), 0f, "weight " + i);
            }
            java.nio.file.Path file = dir.resolve("best.osprey");
            model.save(file); // refused on load if the NaN momentum were saved with it
            try (dev.osprey.Model loaded = dev.osprey.Model.load(file, Device.cpu())) {
                assertArrayEquals(model.predict(x.slice(0, 4)).data(), loaded.predict(x.slice(0, 4)).data(), 0f);
            }
            double loss = model.fit(x, y, FitOptions.defaults().epochs(1).batchSize(32).verbose(false))
                    .get("loss").get(0);
            assertTrue(Double.isFinite(loss), "the model trains on from its best weights: loss " + loss);
        }
    }
}
