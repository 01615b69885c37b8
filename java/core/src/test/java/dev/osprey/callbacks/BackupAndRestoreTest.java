package dev.osprey.callbacks;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.SGD;
import dev.osprey.optim.schedules.ExponentialDecay;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Training that stops part way (an exception at an epoch's end, as a crash would) and is run again with the same
 * BackupAndRestore folder ends exactly where the uninterrupted run ends: weights, BatchNormalization's statistics,
 * Adam's moments and step count, a decaying rate, dropout masks and shuffling all go on as they would have.
 */
class BackupAndRestoreTest {
    private static final int N = 40;
    private static final int EPOCHS = 4;

    @TempDir
    Path dir;

    private static Sequential model(long seed) {
        return new Sequential(
                new Conv2D(4, 3).inputShape(6, 6, 1),
                new BatchNormalization(),
                new dev.osprey.layers.ReLU(),
                new Flatten(),
                new Dropout(0.3),
                new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).seed(seed)
                .compile(new Adam().learningRate(new ExponentialDecay(0.02, 3, 0.7)),
                        Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    private static NDArray[] data() {
        Random r = new Random(9);
        float[] x = new float[N * 36];
        float[] y = new float[N];
        for (int i = 0; i < N; i++) {
            y[i] = i % 3;
            for (int j = 0; j < 36; j++) {
                x[i * 36 + j] = (float) r.nextGaussian() + (j % 3 == y[i] ? 0.8f : 0f);
            }
        }
        return new NDArray[] {new NDArray(x, N, 6, 6, 1), new NDArray(y, N)};
    }

    private static FitOptions options(String... devices) {
        FitOptions options = FitOptions.defaults().epochs(EPOCHS).batchSize(8).seed(17).verbose(false)
                .validationSplit(0.2);
        return devices.length == 0 ? options : options.devices(devices);
    }

    /**
     * Throws at the end of one epoch (counted from 0), before the backup of that epoch (fit runs it last): a crash
     * between epochs, after the backup of the one before.
     */
    private static Callback crashAfter(int epoch) {
        return new Callback() {
            @Override
            public void onEpochEnd(int e, Map<String, Double> logs, Training training) {
                if (e == epoch) {
                    throw new IllegalStateException("crash after epoch " + (e + 1));
                }
            }
        };
    }

    /** Throws at the end of one batch (counted from 0) of one epoch, before the backup fit would take after it. */
    private static Callback crashAt(int epoch, int batch) {
        int[] running = new int[1];
        return new Callback() {
            @Override
            public void onEpochBegin(int e, Training training) {
                running[0] = e;
            }

            @Override
            public void onBatchEnd(int b, Training training) {
                if (running[0] == epoch && b == batch) {
                    throw new IllegalStateException("crash at batch " + (b + 1) + " of epoch " + (epoch + 1));
                }
            }
        };
    }

    private List<Path> files(Path folder) throws IOException {
        if (!Files.isDirectory(folder)) {
            return List.of();
        }
        try (Stream<Path> s = Files.list(folder)) {
            return s.toList();
        }
    }

    @Test
    void aRunInterruptedAndRunAgainEndsAsTheUninterruptedRun() throws IOException {
        NDArray[] d = data();
        for (String[] devices : new String[][] {{"cpu"}, {"cpu", "cpu"}}) {
            Path folder = dir.resolve("backup-" + devices.length);
            String setting = devices.length + " device(s)";
            History whole;
            List<NDArray> expected;
            try (Sequential uninterrupted = model(1)) {
                whole = uninterrupted.fit(d[0], d[1], options(devices));
                expected = uninterrupted.getWeights();
            }
            try (Sequential first = model(1)) {
                IllegalStateException crash = assertThrows(IllegalStateException.class, () -> first.fit(d[0], d[1],
                        options(devices).callbacks(new BackupAndRestore(folder), crashAfter(2))));
                assertEquals("crash after epoch 3", crash.getMessage());
            }
            assertEquals(List.of(folder.resolve("epoch-00002.osprey")), files(folder),
                    "one backup, the last epoch's, " + setting);
            List<Integer> epochsRun = new ArrayList<>();
            Callback epochs = new Callback() {
                @Override
                public void onEpochBegin(int epoch, Training training) {
                    epochsRun.add(epoch);
                }
            };
            try (Sequential again = model(99)) { // other initial weights: the backup's replace them
                History rest = again.fit(d[0], d[1], options(devices).callbacks(new BackupAndRestore(folder), epochs));
                assertEquals(List.of(2, 3), epochsRun, setting);
                assertEquals(List.of(2, 3), rest.epochIndices(), "History numbers the epochs as the run does");
                assertEquals(List.of(0, 1, 2, 3), whole.epochIndices());
                assertEquals(whole.get("loss").subList(2, EPOCHS), rest.get("loss"), setting);
                assertEquals(whole.get("val_accuracy").subList(2, EPOCHS), rest.get("val_accuracy"), setting);
                assertEquals(whole.get("learning_rate").subList(2, EPOCHS), rest.get("learning_rate"), setting);
                List<NDArray> actual = again.getWeights();
                for (int w = 0; w < expected.size(); w++) {
                    assertArrayEquals(expected.get(w).data(), actual.get(w).data(), 0f,
                            again.weightPaths().get(w) + ", " + setting);
                }
            }
            assertEquals(List.of(), files(folder), "a run that ends deletes its backup, " + setting);
        }
    }

    /**
     * Backups every batch (a save frequency of 1): a run that crashes in the middle of epoch 3 goes on from the batch
     * after the last one backed up, its batches read and skipped, and ends bit for bit as the uninterrupted run, on one
     * CPU (batches gathered from the data kept on the device), on two replicas (batches read from the arrays), and
     * with gradients accumulated over 3 batches (the backup taken part way through a group).
     */
    @Test
    void aRunInterruptedWithinAnEpochGoesOnFromTheBatchBackedUp() throws IOException {
        NDArray[] d = data();
        for (int setting = 0; setting < 3; setting++) {
            String[] devices = setting == 1 ? new String[] {"cpu", "cpu"} : new String[] {"cpu"};
            boolean accumulated = setting == 2;
            String name = devices.length + " device(s)" + (accumulated ? ", 3 batches an update" : "");
            Path folder = dir.resolve("within-" + setting);
            java.util.function.Function<Long, Sequential> make = seed -> {
                Sequential m = model(seed);
                if (accumulated) {
                    m.compile(new Adam(0.01).gradientAccumulationSteps(3), Loss.sparseCategoricalCrossentropy(),
                            Metric.ACCURACY);
                }
                return m;
            };
            History whole;
            List<NDArray> expected;
            try (Sequential uninterrupted = make.apply(1L)) {
                whole = uninterrupted.fit(d[0], d[1], options(devices));
                expected = uninterrupted.getWeights();
            }
            try (Sequential first = make.apply(1L)) {
                IllegalStateException crash = assertThrows(IllegalStateException.class, () -> first.fit(d[0], d[1],
                        options(devices).callbacks(new BackupAndRestore(folder, 1, true), crashAt(2, 2))));
                assertEquals("crash at batch 3 of epoch 3", crash.getMessage());
            }
            assertEquals(List.of(folder.resolve("epoch-00002-batch-0000002-of-0000004.osprey")), files(folder),
                    "the backup after 2 batches of epoch 3, " + name);
            BackupAndRestore backup = new BackupAndRestore(folder, 1, true);
            assertEquals(new BackupAndRestore.Progress(2, 2, 4), backup.backedUp());
            assertEquals("after batch 2 of epoch 3", backup.backedUp().toString());
            List<Integer> batchesRun = new ArrayList<>();
            Callback batches = new Callback() {
                @Override
                public void onBatchEnd(int batch, Training training) {
                    batchesRun.add(batch);
                }
            };
            try (Sequential again = make.apply(99L)) {
                History rest = again.fit(d[0], d[1], options(devices).callbacks(backup, batches));
                assertEquals(List.of(2, 3, 0, 1, 2, 3), batchesRun, "epoch 3 from its third batch, then epoch 4");
                assertEquals(List.of(2, 3), rest.epochIndices());
                assertEquals(whole.get("val_loss").subList(2, EPOCHS), rest.get("val_loss"), name);
                assertEquals(whole.get("loss").get(3), rest.get("loss").get(1), name);
                for (int w = 0; w < expected.size(); w++) {
                    assertArrayEquals(expected.get(w).data(), again.getWeights().get(w).data(), 0f,
                            again.weightPaths().get(w) + ", " + name);
                }
            }
            assertEquals(List.of(), files(folder), name);
        }
    }

    /**
     * A backup taken within an epoch needs as many batches an epoch: with a larger or a smaller batch size (fewer or
     * more batches) it is refused before the weights change; a negative frequency is refused; a source that cannot jump
     * reads and drops the batches it skips, arriving at the same batch as one that jumps.
     */
    @Test
    void aBackupWithinAnEpochNeedsTheSameBatchesAndSkippingReadsAsAJump() throws IOException {
        NDArray[] d = data();
        Path folder = dir.resolve("batches");
        try (Sequential first = model(1)) {
            assertThrows(IllegalStateException.class, () -> first.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder, 2, true), crashAt(1, 2))));
        }
        assertEquals(List.of(folder.resolve("epoch-00001-batch-0000002-of-0000004.osprey")), files(folder));
        for (int batchSize : new int[] {16, 4}) { // 2 and 8 batches an epoch
            try (Sequential other = model(1)) {
                other.build();
                List<NDArray> before = other.getWeights();
                String refused = assertThrows(IllegalArgumentException.class, () -> other.fit(d[0], d[1],
                        options().batchSize(batchSize).callbacks(new BackupAndRestore(folder, 2, true)))).getMessage();
                assertTrue(refused.contains("was taken after batch 2 of epoch 2 (an epoch of 4 batches), but this "
                        + "data and batch size give " + (32 / batchSize) + " batches an epoch"), refused);
                for (int w = 0; w < before.size(); w++) {
                    assertArrayEquals(before.get(w).data(), other.getWeights().get(w).data(), 0f);
                }
            }
        }
        String negative = assertThrows(IllegalArgumentException.class,
                () -> new BackupAndRestore(folder, -1, true)).getMessage();
        assertTrue(negative.contains("expected a save frequency of 1 batch or more, or 0"), negative);
        dev.osprey.ArrayBatchSource jumps = new dev.osprey.ArrayBatchSource(d[0], d[1]);
        dev.osprey.ArrayBatchSource inner = new dev.osprey.ArrayBatchSource(d[0], d[1]);
        dev.osprey.BatchSource reads = new dev.osprey.BatchSource() { // skip as the interface's default does it
            public int size() {
                return inner.size();
            }

            public dev.osprey.Shape sampleShape() {
                return inner.sampleShape();
            }

            public int labelRowSize() {
                return inner.labelRowSize();
            }

            public void startEpoch(int epoch, int batchSize, boolean shuffle, long seed) {
                inner.startEpoch(epoch, batchSize, shuffle, seed);
            }

            public Batch next() {
                return inner.next();
            }

            public double waitSeconds() {
                return 0;
            }
        };
        for (dev.osprey.BatchSource s : new dev.osprey.BatchSource[] {jumps, reads}) {
            s.startEpoch(3, 7, true, 5);
            s.skip(2);
        }
        dev.osprey.BatchSource.Batch a = jumps.next();
        dev.osprey.BatchSource.Batch b = reads.next();
        assertArrayEquals(java.util.Arrays.copyOf(a.samples(), a.count()), java.util.Arrays.copyOf(b.samples(), b.count()));
        assertArrayEquals(java.util.Arrays.copyOf(a.x(), a.count() * 36), java.util.Arrays.copyOf(b.x(), b.count() * 36));
        for (dev.osprey.BatchSource s : new dev.osprey.BatchSource[] {jumps, reads}) {
            s.skip(100);
            assertEquals(null, s.next(), "past the epoch's end: none left");
        }
    }

    /**
     * A run that diverges within an epoch keeps the backup taken while its loss was finite: the backups due after
     * the loss became NaN or infinite are left out, and fit stops with its divergence error.
     */
    @Test
    void aRunThatDivergesKeepsItsLastFiniteBackup() throws IOException {
        NDArray[] d = data();
        Path folder = dir.resolve("diverged");
        // squared errors with a rate of 1e30: the weights reach 1e30 at the first step, the loss overflows at the second
        try (Sequential m = new Sequential(new Flatten().inputShape(6, 6, 1), new Dense(1))) {
            m.device(Device.cpu()).seed(1).compile(new SGD(1e30), Loss.meanSquaredError());
            assertThrows(dev.osprey.TrainingDivergedException.class, () -> m.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder, 1, true))));
        }
        assertEquals(List.of(folder.resolve("epoch-00000-batch-0000001-of-0000004.osprey")), files(folder),
                "the backup after the first batch, whose loss was finite");
    }

    /**
     * A moving average of the weights (useEma) is part of the backup: the resumed run ends with the uninterrupted run's
     * averaged weights, bit for bit; and a backup kept after the last epoch, run again, trains nothing and still ends
     * with the average in place of the weights (the backup holds the weights before the average replaced them).
     */
    @Test
    void aMovingAverageOfTheWeightsResumesToo() {
        NDArray[] d = data();
        java.util.function.Supplier<dev.osprey.optim.Optimizer> averaged = () -> new Adam(0.01).useEma(0.9);
        List<NDArray> expected;
        Path kept = dir.resolve("kept");
        try (Sequential whole = model(1)) {
            whole.compile(averaged.get(), Loss.sparseCategoricalCrossentropy());
            whole.fit(d[0], d[1], options().callbacks(new BackupAndRestore(kept, false)));
            expected = whole.getWeights();
        }
        Path folder = dir.resolve("ema");
        try (Sequential first = model(1)) {
            first.compile(averaged.get(), Loss.sparseCategoricalCrossentropy());
            assertThrows(IllegalStateException.class, () -> first.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder), crashAfter(2))));
        }
        for (Path backup : new Path[] {folder, kept}) {
            try (Sequential again = model(99)) {
                again.compile(averaged.get(), Loss.sparseCategoricalCrossentropy());
                History rest = again.fit(d[0], d[1], options().callbacks(new BackupAndRestore(backup)));
                assertEquals(backup == kept ? 0 : 2, rest.epochs(), backup.toString());
                for (int w = 0; w < expected.size(); w++) {
                    assertArrayEquals(expected.get(w).data(), again.getWeights().get(w).data(), 0f,
                            again.weightPaths().get(w) + " from " + backup);
                }
            }
        }
    }

    /**
     * Dynamic loss scaling that skipped steps (gradients scaled by 2^64 overflow until the scale comes down): the skipped
     * steps seed dropout, so the backup keeps their count, and the resumed run still ends as the uninterrupted one.
     */
    @Test
    void aRunWhoseLossScalingSkippedStepsResumesExactly() {
        NDArray[] d = data();
        Path folder = dir.resolve("scaled");
        java.util.function.Supplier<dev.osprey.optim.Optimizer> scaled =
                () -> new dev.osprey.optim.LossScaleOptimizer(new Adam(0.01), 0x1p64, 3);
        List<NDArray> expected;
        try (Sequential whole = model(1)) {
            whole.compile(scaled.get(), Loss.sparseCategoricalCrossentropy());
            whole.fit(d[0], d[1], options());
            dev.osprey.Model.OptimizerState state = whole.optimizerState();
            assertTrue(state.lossScale().skippedSteps() > 0 && state.iterations() > 0, state.toString());
            expected = whole.getWeights();
        }
        try (Sequential first = model(1)) {
            first.compile(scaled.get(), Loss.sparseCategoricalCrossentropy());
            assertThrows(IllegalStateException.class, () -> first.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder), crashAfter(2))));
        }
        try (Sequential again = model(99)) {
            again.compile(scaled.get(), Loss.sparseCategoricalCrossentropy());
            again.fit(d[0], d[1], options().callbacks(new BackupAndRestore(folder)));
            for (int w = 0; w < expected.size(); w++) {
                assertArrayEquals(expected.get(w).data(), again.getWeights().get(w).data(), 0f,
                        again.weightPaths().get(w));
            }
        }
    }

    /**
     * The backup is taken after the other callbacks' epoch ends, whatever their order: it holds the rate
     * ReduceLROnPlateau (listed after it) lowered at that epoch's end.
     */
    @Test
    void theBackupHoldsWhatCallbacksListedAfterItChanged() throws IOException {
        NDArray[] d = data();
        Path folder = dir.resolve("plateau");
        List<Double> rates = new ArrayList<>();
        Callback recorder = new Callback() {
            @Override
            public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                rates.add(training.learningRate());
            }
        };
        try (Sequential m = model(1)) {
            m.compile(new Adam(0.01), Loss.sparseCategoricalCrossentropy());
            // after the first epoch none improves by 100: the rate halves at each epoch's end from the second on
            assertThrows(IllegalStateException.class, () -> m.fit(d[0], d[1], options().callbacks(
                    new BackupAndRestore(folder), new ReduceLROnPlateau("loss").factor(0.5).patience(0).minDelta(100),
                    recorder, crashAfter(2))));
        }
        assertEquals(0.005, rates.get(1), 1e-9, "halved at the end of epoch 2");
        try (dev.osprey.Model saved = dev.osprey.Model.load(folder.resolve("epoch-00002.osprey"), Device.cpu())) {
            assertEquals(rates.get(1), saved.optimizerState().learningRate(), 1e-9, "the backup of epoch 2");
        }
    }

    /** initialEpoch alone: the epochs from it to the total run, numbered as in the whole run; at or past it, refused. */
    @Test
    void initialEpochRunsTheRestOfTheRun() {
        NDArray[] d = data();
        List<Integer> epochsRun = new ArrayList<>();
        Callback epochs = new Callback() {
            @Override
            public void onEpochBegin(int epoch, Training training) {
                epochsRun.add(epoch);
            }
        };
        try (Sequential m = model(1)) {
            History h = m.fit(d[0], d[1], options().initialEpoch(1).callbacks(epochs));
            assertEquals(List.of(1, 2, 3), epochsRun);
            assertEquals(3, h.get("loss").size());
            String past = assertThrows(IllegalArgumentException.class,
                    () -> m.fit(d[0], d[1], options().initialEpoch(EPOCHS))).getMessage();
            assertTrue(past.contains("expected initialEpoch below epochs (4") && past.contains("received initialEpoch 4"),
                    past);
        }
        String negative = assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults().initialEpoch(-1))
                .getMessage();
        assertTrue(negative.contains("initialEpoch >= 0"), negative);
    }

    /**
     * A backup of another model, or of the same layers trained with another optimizer, is refused before any training,
     * saying what differs; the backup stays. A backup whose run had finished its epochs trains nothing more.
     */
    @Test
    void aBackupOfAnotherModelIsRefusedAndKept() throws IOException {
        NDArray[] d = data();
        Path folder = dir.resolve("other");
        try (Sequential first = model(1)) {
            assertThrows(IllegalStateException.class, () -> first.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder), crashAfter(1))));
        }
        try (Sequential wider = new Sequential(new Flatten().inputShape(6, 6, 1), new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).compile(new Adam(), Loss.sparseCategoricalCrossentropy())) {
            String other = assertThrows(IllegalArgumentException.class, () -> wider.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder)))).getMessage();
            assertTrue(other.contains("is of another model") && other.contains("expected the weights [dense"), other);
        }
        try (Sequential sgd = model(1)) {
            sgd.compile(new SGD(0.1), Loss.sparseCategoricalCrossentropy());
            sgd.build();
            List<NDArray> before = sgd.getWeights();
            String optimizer = assertThrows(IllegalArgumentException.class, () -> sgd.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder)))).getMessage();
            assertTrue(optimizer.contains("another optimizer: expected sgd") && optimizer.contains("received adam"),
                    optimizer);
            for (int w = 0; w < before.size(); w++) {
                assertArrayEquals(before.get(w).data(), sgd.getWeights().get(w).data(), 0f,
                        "a refused backup leaves the weights as they were");
            }
        }
        try (Sequential grouped = model(1)) {
            grouped.compile(new Adam().learningRate(new ExponentialDecay(0.02, 3, 0.7)).gradientAccumulationSteps(2),
                    Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            String steps = assertThrows(IllegalArgumentException.class, () -> grouped.fit(d[0], d[1],
                    options().callbacks(new BackupAndRestore(folder)))).getMessage();
            assertTrue(steps.contains("over 1 batches per update; expected 2"), steps);
        }
        assertEquals(List.of(folder.resolve("epoch-00001.osprey")), files(folder), "the backup is kept");
        Path done = dir.resolve("done");
        try (Sequential m = model(1)) { // a run that keeps its backup when it ends
            m.fit(d[0], d[1], options().callbacks(new BackupAndRestore(done, false)));
        }
        assertEquals(List.of(done.resolve("epoch-00004.osprey")), files(done));
        try (Sequential m = model(1)) {
            History none = m.fit(d[0], d[1], options().callbacks(new BackupAndRestore(done)));
            assertEquals(0, none.epochs(), "every epoch had run");
        }
        assertEquals(List.of(), files(done));
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        String notFolder = assertThrows(IllegalArgumentException.class, () -> new BackupAndRestore(file)).getMessage();
        assertTrue(notFolder.contains("expected a folder"), notFolder);
    }
}
