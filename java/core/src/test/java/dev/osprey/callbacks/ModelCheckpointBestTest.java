package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.backend.Device;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * ModelCheckpoint with saveBestOnly keeps its best figure from one fit to the next, as Keras' does: a second fit (a
 * fine-tuning after a frozen first one, say) replaces the best file only with a better model.
 */
class ModelCheckpointBestTest {
    @TempDir
    Path dir;

    @Test
    void theBestFigureCarriesOverFromOneFitToTheNext() throws Exception {
        Path file = dir.resolve("best.osprey");
        try (Model model = Models.compiledTutorialCnn(Device.cpu())) {
            ReduceLROnPlateauTest.Rate training = new ReduceLROnPlateauTest.Rate(0.1) {
                @Override
                public Model model() {
                    return model;
                }
            };
            ModelCheckpoint checkpoint = new ModelCheckpoint(file, "val_loss", true);
            checkpoint.onTrainBegin(training); // the first fit
            checkpoint.onEpochEnd(0, Map.of("val_loss", 0.5), training);
            assertTrue(Files.exists(file));
            assertEquals(0.5, checkpoint.best());
            Files.delete(file);
            checkpoint.onTrainBegin(training); // the second fit: worse, then better
            checkpoint.onEpochEnd(0, Map.of("val_loss", 0.7), training);
            assertFalse(Files.exists(file), "a worse model than the first fit's best is not saved");
            checkpoint.onEpochEnd(1, Map.of("val_loss", 0.4), training);
            assertTrue(Files.exists(file));
            assertEquals(0.4, checkpoint.best());
        }
    }
}
