package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.layers.Dense;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.SGD;
import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.List;
import org.junit.jupiter.api.Test;

/** The progress line names its figures as the epoch's logs do. */
class ProgressBarTest {
    private static String progress(Model m, List<NDArray> labels, NDArray x) {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ProgressBar bar = new ProgressBar(out, true, 0); // redrawn after every batch
        m.fit(List.of(x), labels, FitOptions.defaults().epochs(1).batchSize(4).verbose(false).callbacks(bar));
        return bytes.toString(StandardCharsets.UTF_8);
    }

    /**
     * A model of several outputs shows the classifying output's accuracy under its name (kind_accuracy), as the epoch
     * line does, never a bare "accuracy" that would read as the whole model's; compiled without accuracy, neither line
     * shows one.
     */
    @Test
    void theInteractiveLineNamesTheOutputWhoseAccuracyItShows() {
        Input in = Input.shape(3).name("x");
        SymbolicTensor hidden = new Dense(4, Activation.RELU).name("trunk").apply(in);
        SymbolicTensor box = new Dense(2).name("box").apply(hidden);
        SymbolicTensor kind = new Dense(3, Activation.SOFTMAX).name("kind").apply(hidden);
        float[] xs = new float[12 * 3];
        float[] classes = new float[12];
        for (int i = 0; i < 12; i++) {
            classes[i] = i % 3;
            xs[i * 3 + i % 3] = 1;
        }
        NDArray x = new NDArray(xs, 12, 3);
        try (Model m = new Model(List.of(in), List.of(box, kind)).device(Device.cpu())) {
            List<NDArray> labels = List.of(new NDArray(new float[24], 12, 2), new NDArray(classes, 12));
            m.compile(new SGD(0.1), List.of(Loss.meanSquaredError(), Loss.sparseCategoricalCrossentropy()),
                    Metric.ACCURACY);
            String shown = progress(m, labels, x);
            assertTrue(shown.contains("1/3 [") && shown.contains(" - kind_accuracy: "), shown);
            assertFalse(shown.replace("kind_accuracy", "").contains("accuracy"), shown);
            m.compile(new SGD(0.1), List.of(Loss.meanSquaredError(), Loss.sparseCategoricalCrossentropy()));
            String without = progress(m, labels, x);
            assertTrue(without.contains("1/3 ["), without);
            assertFalse(without.contains("accuracy"), without);
        }
    }

    /**
     * An epoch resumed from a backup after 6 of its 10 batches: the time per step and the ETA are those of the
     * batches trained since (2 seconds for 2 batches: 2 more to go take 2 seconds), not spread over the skipped ones.
     */
    @Test
    void anEpochResumedPartWayTimesOnlyTheBatchesItTrained() {
        ByteArrayOutputStream bytes = new ByteArrayOutputStream();
        PrintStream out = new PrintStream(bytes, true, StandardCharsets.UTF_8);
        ProgressBar bar = new ProgressBar(out, true, 0);
        double[] seconds = {0};
        Training training = new Training() {
            public Model model() {
                return null;
            }

            public int epochs() {
                return 3;
            }

            public int stepsPerEpoch() {
                return 10;
            }

            public void stopTraining() {
            }

            public double loss() {
                return 0.5;
            }

            public double accuracy() {
                return 0.75;
            }

            public double dataWaitShare() {
                return 0;
            }

            public double epochSeconds() {
                return seconds[0];
            }

            public double learningRate() {
                return 0.01;
            }

            public void learningRate(double rate) {
            }
        };
        bar.onEpochBegin(2, training);
        seconds[0] = 1;
        bar.onBatchEnd(6, training); // the first batch after the 6 skipped
        seconds[0] = 2;
        bar.onBatchEnd(7, training);
        String line = bytes.toString(StandardCharsets.UTF_8);
        assertTrue(line.contains(" 8/10 [") && line.contains("ETA: 2s"), line);
        bar.onBatchEnd(8, training);
        bar.onBatchEnd(9, training);
        bytes.reset();
        seconds[0] = 4;
        bar.onEpochEnd(2, new java.util.LinkedHashMap<>(java.util.Map.of("loss", 0.5)), training);
        assertTrue(bytes.toString(StandardCharsets.UTF_8).contains("1s/step"), bytes.toString(StandardCharsets.UTF_8));
    }

    /** Figures as Keras' progress bar shows them: 4 decimals above 0.001, else 4 significant digits. */
    @org.junit.jupiter.api.Test
    void smallFiguresKeepTheirDigits() {
        org.junit.jupiter.api.Assertions.assertEquals("0.2500", ProgressBar.figure(0.25));
        org.junit.jupiter.api.Assertions.assertEquals("1.0000e-05", ProgressBar.figure(1e-5));
        org.junit.jupiter.api.Assertions.assertEquals("-3.5000e-04", ProgressBar.figure(-3.5e-4));
        org.junit.jupiter.api.Assertions.assertEquals("NaN", ProgressBar.figure(Double.NaN));
    }
}
