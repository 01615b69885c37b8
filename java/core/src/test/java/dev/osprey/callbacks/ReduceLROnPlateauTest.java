package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.Model;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** ReduceLROnPlateau on scripted loss sequences, against Keras' rules worked by hand. */
class ReduceLROnPlateauTest {
    /** A training whose only state is its learning rate. */
    static class Rate implements Training {
        double rate;

        Rate(double rate) {
            this.rate = rate;
        }

        @Override
        public Model model() {
            return null;
        }

        @Override
        public int epochs() {
            return 100;
        }

        @Override
        public int stepsPerEpoch() {
            return 1;
        }

        @Override
        public void stopTraining() {
        }

        @Override
        public double loss() {
            return 0;
        }

        @Override
        public double accuracy() {
            return 0;
        }

        @Override
        public double dataWaitShare() {
            return 0;
        }

        @Override
        public double epochSeconds() {
            return 0;
        }

        @Override
        public double learningRate() {
            return rate;
        }

        @Override
        public void learningRate(double r) {
            rate = r;
        }
    }

    /** The rate after each epoch with these monitored values. */
    static double[] run(ReduceLROnPlateau callback, String monitor, double start, double... values) {
        Rate t = new Rate(start);
        callback.onTrainBegin(t);
        double[] rates = new double[values.length];
        for (int e = 0; e < values.length; e++) {
            callback.onEpochEnd(e, Map.of(monitor, values[e]), t);
            rates[e] = t.rate;
        }
        return rates;
    }

    @Test
    void halvesAfterPatienceEpochsWithoutImprovementThenCoolsDown() {
        ReduceLROnPlateau c = new ReduceLROnPlateau().factor(0.5).patience(2).cooldown(1).minDelta(0.01);
        // best 1.0 at epoch 0; 0.995 is no improvement (min_delta); epoch 2 is the 2nd epoch without one -> 0.5;
        // epoch 3 ends the cooldown and waits (1), epoch 4 waits (2) -> 0.25; epoch 5 cools down, 0.5 improves.
        assertArrayEquals(new double[] {1, 1, 0.5, 0.5, 0.25, 0.25, 0.25},
                run(c, "val_loss", 1, 1.0, 0.995, 1.2, 1.1, 1.05, 1.0, 0.5), 1e-12);
    }

    @Test
    void accuracyIsMaximizedAndTheRateNeverFallsBelowMinLr() {
        ReduceLROnPlateau c = new ReduceLROnPlateau("val_accuracy").factor(0.1).patience(1).minLr(0.05);
        assertArrayEquals(new double[] {1, 0.1, 0.1, 0.05, 0.05, 0.05},
                run(c, "val_accuracy", 1, 0.5, 0.5, 0.6, 0.55, 0.55, 0.54), 1e-12);
    }

    @Test
    void aMissingFigureIsAClearError() {
        assertThrows(IllegalArgumentException.class, () -> run(new ReduceLROnPlateau(), "loss", 1, 0.5));
        assertThrows(IllegalArgumentException.class, () -> new ReduceLROnPlateau().factor(1.5));
    }
}
