package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * stopTraining from onBatchEnd stops after that batch, as Keras' model.stop_training does: the epoch ends with the
 * batches it trained (logs, validation, onEpochEnd) and no other starts; from onEpochEnd, after that epoch.
 */
class StopTrainingTest {
    @Test
    void stoppingWithinAnEpochEndsItAfterThatBatch() {
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX().slice(0, 64);
        NDArray y = d.trainY().slice(0, 64);
        List<String> events = new ArrayList<>();
        Callback stopAtThirdBatch = new Callback() {
            @Override
            public void onBatchEnd(int batch, Training training) {
                events.add("batch " + batch);
                if (batch == 2) {
                    training.stopTraining();
                }
            }

            @Override
            public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                events.add("epoch " + epoch + (logs.containsKey("val_loss") ? " validated" : ""));
            }
        };
        java.io.ByteArrayOutputStream printed = new java.io.ByteArrayOutputStream();
        ProgressBar progress = new ProgressBar(new java.io.PrintStream(printed, true,
                java.nio.charset.StandardCharsets.UTF_8), false);
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            History h = model.fit(x, y, FitOptions.defaults().epochs(3).batchSize(8).verbose(false)
                    .validationData(d.testX().slice(0, 16), d.testY().slice(0, 16))
                    .callbacks(stopAtThirdBatch, progress));
            assertEquals(List.of("batch 0", "batch 1", "batch 2", "epoch 0 validated"), events);
            String line = printed.toString(java.nio.charset.StandardCharsets.UTF_8);
            assertTrue(line.contains("3/8 "), "the epoch's line counts the batches trained: " + line);
            assertEquals(1, h.epochs());
            assertTrue(Double.isFinite(h.get("loss").get(0)));
        }
    }
}
