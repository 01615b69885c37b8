package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.Map;
import org.junit.jupiter.api.Test;

/** EarlyStopping on scripted figures, against Keras' EarlyStopping worked by hand (its docstring's example too). */
class EarlyStoppingTest {
    /** The 0-based epoch after which training stopped with these monitored values, or -1 if it ran through them. */
    static int stopsAfter(EarlyStopping callback, String monitor, double... values) {
        boolean[] stopped = new boolean[1];
        ReduceLROnPlateauTest.Rate training = new ReduceLROnPlateauTest.Rate(0.1) {
            @Override
            public void stopTraining() {
                stopped[0] = true;
            }
        };
        callback.onTrainBegin(training);
        for (int e = 0; e < values.length; e++) {
            callback.onEpochEnd(e, Map.of(monitor, values[e]), training);
            if (stopped[0]) {
                assertEquals(e, callback.stoppedEpoch());
                return e;
            }
        }
        assertEquals(-1, callback.stoppedEpoch());
        return -1;
    }

    @Test
    void patienceCountsEpochsWithoutImprovementAsKerasDoes() {
        // Keras' docstring: patience 3 on a loss that never improves after the first epoch: 4 epochs run
        assertEquals(3, stopsAfter(new EarlyStopping("loss", 3), "loss", 1.0, 2.0, 3.0, 4.0, 5.0, 6.0));
        assertEquals(0 + 1, stopsAfter(new EarlyStopping("loss", 0), "loss", 1.0, 1.5, 0.5));
        assertEquals(2, stopsAfter(new EarlyStopping("loss", 2), "loss", 1.0, 1.1, 1.2, 0.1));
        // an improvement starts the count again
        assertEquals(4, stopsAfter(new EarlyStopping("val_loss", 2), "val_loss", 1.0, 1.1, 0.9, 0.95, 0.93, 0.91));
        // upwards for accuracy; min delta: a rise of 0.005 is no improvement at 0.01
        assertEquals(2, stopsAfter(new EarlyStopping("val_accuracy", 2, 0.01, false), "val_accuracy",
                0.80, 0.805, 0.81, 0.9));
        assertEquals(-1, stopsAfter(new EarlyStopping("val_accuracy", 2), "val_accuracy", 0.80, 0.81, 0.82, 0.80));
        // a NaN first epoch is not yet a reason to stop (Keras waits for epoch > 0), a NaN later is no improvement
        assertEquals(1, stopsAfter(new EarlyStopping("loss", 0), "loss", Double.NaN, Double.NaN, 1.0));
    }

    /**
     * Keras' baseline: improvements that stay above a loss baseline don't restart the count (stopping at the first
     * epoch without improvement once patience is spent); one below it does. start_from_epoch: the warm-up epochs are
     * neither counted nor kept as the best.
     */
    @Test
    void baselineAndStartFromEpochAsKerasHasThem() {
        // improvements 1.0 > 0.9 > 0.8 all above the baseline 0.5: the count runs 1, 2, 3; 0.85 is no improvement: 4
        assertEquals(3, stopsAfter(new EarlyStopping("loss", 3).baseline(0.5), "loss", 1.0, 0.9, 0.8, 0.85, 0.7));
        assertEquals(-1, stopsAfter(new EarlyStopping("loss", 3).baseline(0.5), "loss", 1.0, 0.9, 0.4, 0.45, 0.44));
        // epochs 0 and 1 are warm-up: their figures are ignored, so 5.0 at epoch 2 is the first best
        assertEquals(4, stopsAfter(new EarlyStopping("loss", 2).startFromEpoch(2), "loss", 0.1, 0.2, 5.0, 6.0, 7.0));
        assertEquals(-1, stopsAfter(new EarlyStopping("loss", 2).startFromEpoch(2), "loss", 9.0, 9.0, 5.0, 4.0, 3.0));
    }
}
