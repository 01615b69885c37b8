package dev.osprey.optim.schedules;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.callbacks.LearningRateScheduler;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.io.Json;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.AdamW;
import dev.osprey.optim.Optimizer;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Each schedule's rate per step against Keras' formulas worked by hand; schedules in training and in model files. */
class LearningRateScheduleTest {
    @TempDir
    Path dir;

    static void rates(LearningRateSchedule s, double... stepThenRate) {
        for (int i = 0; i < stepThenRate.length; i += 2) {
            long step = (long) stepThenRate[i];
            assertEquals(stepThenRate[i + 1], s.rate(step), 1e-12, s.className() + " at step " + step);
        }
    }

    @Test
    void exponentialDecay() {
        rates(new ExponentialDecay(0.1, 10, 0.5, false), 0, 0.1, 10, 0.05, 5, 0.1 * Math.sqrt(0.5), 30, 0.0125);
        rates(new ExponentialDecay(0.1, 10, 0.5, true), 9, 0.1, 15, 0.05, 20, 0.025);
    }

    @Test
    void piecewiseConstantDecay() {
        rates(new PiecewiseConstantDecay(new long[] {10, 20}, new double[] {1, 0.5, 0.1}),
                0, 1, 10, 1, 11, 0.5, 20, 0.5, 21, 0.1, 1000, 0.1);
        assertThrows(IllegalArgumentException.class,
                () -> new PiecewiseConstantDecay(new long[] {10, 20}, new double[] {1, 0.5}));
        assertThrows(IllegalArgumentException.class,
                () -> new PiecewiseConstantDecay(new long[] {20, 10}, new double[] {1, 0.5, 0.1}));
    }

    @Test
    void polynomialDecay() {
        rates(new PolynomialDecay(0.1, 10, 0.01, 2, false), 0, 0.1, 5, 0.09 * 0.25 + 0.01, 10, 0.01, 20, 0.01);
        // cycle: at step 15 the decay runs over 20 steps
        rates(new PolynomialDecay(0.1, 10, 0.01, 2, true), 0, 0.1, 15, 0.09 * 0.0625 + 0.01, 10, 0.01);
        rates(new PolynomialDecay(1, 4, 0), 1, 0.75, 2, 0.5, 8, 0);
    }

    @Test
    void cosineDecayWithAndWithoutWarmup() {
        rates(new CosineDecay(0.1, 100, 0.1), 0, 0.1, 50, 0.1 * (0.9 * 0.5 + 0.1), 100, 0.01, 200, 0.01);
        rates(new CosineDecay(0, 100, 0.1).withWarmup(1.0, 10), 0, 0, 5, 0.5, 10, 1.0, 60, 0.55, 110, 0.1, 500, 0.1);
    }

    @Test
    void cosineDecayRestarts() {
        // periods of 10, 20, 40 steps; each restart at half the rate before (m_mul 0.5)
        rates(new CosineDecayRestarts(1.0, 10, 2, 0.5, 0), 0, 1, 5, 0.5, 10, 0.5, 20, 0.25, 30, 0.25);
        rates(new CosineDecayRestarts(1.0, 10, 1, 0.5, 0), 15, 0.25, 25, 0.125);
    }

    @Test
    void everyScheduleSurvivesItsConfigAsJson() {
        List<LearningRateSchedule> all = List.of(new ExponentialDecay(0.1, 10, 0.5, true),
                new PiecewiseConstantDecay(new long[] {3, 7}, new double[] {0.3, 0.2, 0.1}),
                new PolynomialDecay(0.1, 10, 0.01, 2, true), new CosineDecay(0, 100, 0.1).withWarmup(1.0, 10),
                new CosineDecay(0.5, 40), new CosineDecayRestarts(1.0, 10, 2, 0.5, 0.1));
        for (LearningRateSchedule s : all) {
            LearningRateSchedule back = LearningRateSchedule.fromConfig(Json.parse(Json.write(s.toConfig())));
            assertEquals(s.toConfig(), back.toConfig());
            for (long step = 0; step < 120; step += 7) {
                assertEquals(s.rate(step), back.rate(step), 0, s.className() + " at " + step);
            }
        }
        assertThrows(IllegalArgumentException.class, () -> LearningRateSchedule.fromConfig(Map.of("class_name",
                "Nonsense", "config", Map.of())));
    }

    /** The optimizer takes each step's rate from the schedule; the rate shows in History; model files keep it. */
    @Test
    void trainingFollowsTheScheduleStepByStepAndTheModelFileKeepsIt() throws Exception {
        LabeledData data = Datasets.fashionMnistSample();
        NDArray x = data.trainX().slice(0, 256);
        NDArray y = data.trainY().slice(0, 256);
        LearningRateSchedule schedule = new CosineDecay(0, 12, 0).withWarmup(2e-3, 4); // 8 steps of 32 an epoch
        try (Sequential model = Models.tutorialCnn()) {
            model.device(Device.cpu()).seed(5);
            model.compile(new AdamW(1e-3, 1e-4).learningRate(schedule), Loss.sparseCategoricalCrossentropy(),
                    Metric.ACCURACY);
            History h = model.fit(x, y, FitOptions.defaults().epochs(2).batchSize(32).seed(5).verbose(false));
            List<Double> logged = h.history().get("learning_rate");
            assertEquals(schedule.rate(8), logged.get(0), 1e-12); // after epoch 1: the rate of step 8 comes next
            assertEquals(schedule.rate(16), logged.get(1), 1e-12);
            Path file = dir.resolve("scheduled.osprey");
            model.save(file);
            try (Model loaded = Model.load(file, Device.cpu())) {
                Optimizer o = loaded.optimizer();
                assertEquals("adamw", o.name());
                assertEquals(schedule.toConfig(), o.schedule().toConfig());
                History more = loaded.fit(x, y, FitOptions.defaults().epochs(1).batchSize(32).seed(5).verbose(false));
                assertEquals(schedule.rate(24), more.history().get("learning_rate").get(0), 1e-12);
            }
        }
    }

    @Test
    void aCallbackSettingTheRateOfAScheduledOptimizerIsAClearError() {
        LabeledData data = Datasets.fashionMnistSample();
        try (Sequential model = Models.tutorialCnn()) {
            model.device(Device.cpu());
            model.compile(new Adam().learningRate(new ExponentialDecay(1e-3, 10, 0.9, false)),
                    Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> model.fit(
                    data.trainX().slice(0, 64), data.trainY().slice(0, 64), FitOptions.defaults().epochs(1)
                            .batchSize(32).verbose(false).callbacks(LearningRateScheduler.cosine(1e-3, 2, 0))));
            assertTrue(e.getMessage().contains("follows the schedule ExponentialDecay"), e.getMessage());
        }
    }
}
