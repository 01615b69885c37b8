package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Map;
import org.junit.jupiter.api.Test;

/**
 * Which way the callbacks take a monitored figure to improve: Keras' "auto" mode knows that AUC, precision, recall and
 * F1 rise as accuracy does (they were taken for losses: EarlyStopping stopped while AUC rose every epoch), and "min"
 * and "max" say it outright.
 */
class MonitorDirectionTest {
    @Test
    void scoresRiseAndLossesFall() {
        for (String score : new String[] {"accuracy", "val_accuracy", "top_k_categorical_accuracy", "auc", "val_auc",
                "precision", "val_recall", "f1_score", "val_f1_score", "auc_1", "kind_precision", "val_kind_auc",
                "kind_f1_score", "val_kind_recall_2", "kind_accuracy", "val_acc", "binary_accuracy", "accuracy_1"}) {
            assertTrue(Monitor.higherIsBetter(score, "auto", "t"), score);
        }
        for (String loss : new String[] {"loss", "val_loss", "mean_squared_error", "val_mae",
                "accuracy_loss", "box_mae", "val_box_mse", "root_mean_squared_error", "kind_loss", "precision_loss",
                "accel_mae", "val_vaccine_mse", "tobacco_root_mean_squared_error"}) {
            assertFalse(Monitor.higherIsBetter(loss, "auto", "t"), loss);
        }
        assertFalse(Monitor.higherIsBetter("val_auc", "min", "t"));
        assertTrue(Monitor.higherIsBetter("val_loss", "MAX", "t"));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new EarlyStopping("val_loss", 1).mode("lowest"));
        assertEquals("EarlyStopping: expected mode auto, min or max, received 'lowest'", e.getMessage());
    }

    @Test
    void earlyStoppingWaitsWhileAucRises() {
        EarlyStopping stop = new EarlyStopping("val_auc", 0);
        ReduceLROnPlateauTest.Rate t = new ReduceLROnPlateauTest.Rate(1e-3);
        stop.onTrainBegin(t);
        double[] auc = {0.9292, 0.9498, 0.9502, 0.9400};
        for (int epoch = 0; epoch < auc.length; epoch++) {
            stop.onEpochEnd(epoch, Map.of("val_auc", auc[epoch]), t);
        }
        assertEquals(3, stop.stoppedEpoch(), "only the fall at epoch 3 stops it");
    }

    @Test
    void reduceLrOnPlateauCutsOnlyWhenAucStopsRising() {
        assertArrayEquals(new double[] {1, 1, 1, 0.1}, ReduceLROnPlateauTest.run(
                new ReduceLROnPlateau("val_auc").patience(1).minDelta(0), "val_auc", 1, 0.93, 0.95, 0.96, 0.955),
                1e-12);
        assertArrayEquals(new double[] {1, 0.1, 0.01}, ReduceLROnPlateauTest.run(
                new ReduceLROnPlateau("val_auc").mode("min").patience(1).minDelta(0), "val_auc", 1, 0.93, 0.95, 0.96),
                1e-12);
    }
}
