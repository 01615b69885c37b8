package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.BackendException;
import dev.osprey.backend.Device;
import dev.osprey.backend.DeviceThread;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.Training;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;

/** One model, many threads: right answers for everyone, exclusive training, compute on the device's own thread. */
class ModelThreadsTest {
    private static NDArray randomImages(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 784];
        for (int i = 0; i < x.length; i++) {
            x[i] = r.nextFloat();
        }
        return new NDArray(x, n, 28, 28, 1);
    }

    /**
     * Finding 1 of the hardening issue: one Sequential used from 4 threads at once gave 54-63% of the threads
     * another thread's results, without an error. Each thread predicts its own images 40 times and must get, bit
     * for bit, what a lone thread gets.
     */
    @Test
    void oneModelFromFourThreadsGivesEachThreadItsOwnAnswers() throws Exception {
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            List<NDArray> inputs = new ArrayList<>();
            List<float[]> expected = new ArrayList<>();
            for (int t = 0; t < 4; t++) {
                inputs.add(randomImages(8 + t, 100 + t)); // batch sizes differ too: 8, 9, 10, 11
                expected.add(model.predict(inputs.get(t), 4).data());
            }
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                CountDownLatch start = new CountDownLatch(1);
                List<Future<Integer>> wrong = new ArrayList<>();
                for (int t = 0; t < 4; t++) {
                    int thread = t;
                    wrong.add(pool.submit(() -> {
                        start.await();
                        int mismatches = 0;
                        for (int i = 0; i < 40; i++) {
                            float[] got = model.predict(inputs.get(thread), 4).data();
                            if (!java.util.Arrays.equals(got, expected.get(thread))) {
                                mismatches++;
                            }
                        }
                        return mismatches;
                    }));
                }
                start.countDown();
                for (int t = 0; t < 4; t++) {
                    assertEquals(0, wrong.get(t).get(60, TimeUnit.SECONDS), "thread " + t + " got other answers");
                }
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /** Training is exclusive: another thread's call fails at once with the reason; fit's own callbacks may call. */
    @Test
    void callsFromOtherThreadsDuringFitFailClearlyWhileCallbacksMayPredict() throws Exception {
        NDArray x = randomImages(64, 1);
        float[] labels = new float[64];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = i % 10;
        }
        NDArray y = new NDArray(labels, 64);
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            CountDownLatch inFit = new CountDownLatch(1);
            CountDownLatch release = new CountDownLatch(1);
            List<float[]> fromCallback = new ArrayList<>();
            Callback hold = new Callback() {
                @Override
                public void onBatchEnd(int batch, Training training) {
                    if (batch == 0) {
                        fromCallback.add(model.predict(x.slice(0, 2), 2).data()); // fit's own thread may call
                        inFit.countDown();
                        try {
                            release.await();
                        } catch (InterruptedException e) {
                            Thread.currentThread().interrupt();
                        }
                    }
                }
            };
            CompletableFuture<History> fit = CompletableFuture.supplyAsync(() -> model.fit(x, y,
                    FitOptions.defaults().epochs(1).batchSize(32).verbose(false).callbacks(hold)));
            assertTrue(inFit.await(60, TimeUnit.SECONDS));
            IllegalStateException e = assertThrows(IllegalStateException.class, () -> model.predict(x, 8));
            assertTrue(e.getMessage().startsWith("predict: the model is training (fit on thread '"), e.getMessage());
            e = assertThrows(IllegalStateException.class, () -> model.fit(x, y, FitOptions.defaults().verbose(false)));
            assertTrue(e.getMessage().startsWith("fit: the model is training"), e.getMessage());
            assertThrows(IllegalStateException.class, model::getWeights);
            release.countDown();
            assertEquals(1, fit.get(60, TimeUnit.SECONDS).epochs());
            assertEquals(1, fromCallback.size());
            assertEquals(8 * 10, model.predict(x.slice(0, 8), 8).data().length); // free again once fit returned
        }
    }

    /**
     * fit's callbacks may predict and evaluate, but a training call from one (fit, trainOnBatch, profileTraining) would
     * reset the running epoch's loss and metrics: it is refused with what to do instead, and the fit goes on to give
     * the figures of the same fit without the attempts, bit for bit.
     */
    @Test
    void trainingCallsFromInsideFitAreRefusedAndTheFitGoesOnUndisturbed() throws Exception {
        NDArray x = randomImages(64, 2);
        float[] labels = new float[64];
        for (int i = 0; i < labels.length; i++) {
            labels[i] = (i * 7) % 10;
        }
        NDArray y = new NDArray(labels, 64);
        List<String> refusals = new ArrayList<>();
        Callback nested = new Callback() {
            @Override
            public void onBatchEnd(int batch, Training training) {
                if (batch == 1) {
                    Sequential self = (Sequential) training.model();
                    for (Runnable call : List.<Runnable>of(
                            () -> self.fit(x, y, FitOptions.defaults().verbose(false)),
                            () -> self.trainOnBatch(x.slice(0, 8), y.slice(0, 8)),
                            () -> self.profileTraining(x.slice(0, 8), y.slice(0, 8), 1))) {
                        try {
                            call.run();
                            refusals.add("accepted");
                        } catch (IllegalStateException e) {
                            refusals.add(e.getMessage());
                        }
                    }
                }
            }
        };
        History alone;
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            alone = model.fit(x, y, FitOptions.defaults().epochs(1).batchSize(16).shuffle(false).verbose(false));
        }
        try (Sequential model = Models.compiledTutorialCnn(Device.cpu())) {
            History h = model.fit(x, y, FitOptions.defaults().epochs(1).batchSize(16).shuffle(false).verbose(false)
                    .callbacks(nested));
            assertEquals(3, refusals.size(), refusals.toString());
            assertTrue(refusals.get(0).startsWith("fit:") && refusals.get(1).startsWith("trainOnBatch:")
                    && refusals.get(2).startsWith("profileTraining:"), refusals.toString());
            for (String refusal : refusals) {
                assertTrue(refusal.contains(": called from inside fit (one of its callbacks), which it would break"),
                        refusal);
            }
            assertEquals(alone.history(), h.history(), "the refused calls changed nothing");
        }
    }

    /** CPU compute runs on the backend's own thread, whichever thread asks; results and errors come back. */
    @Test
    void cpuComputeRunsOnTheDeviceThread() throws Exception {
        var backend = Device.cpu().backend();
        assertEquals("osprey-cpu", backend.execute(() -> Thread.currentThread().getName()));
        assertEquals("osprey-cpu", CompletableFuture.supplyAsync(() -> backend.execute(
                () -> Thread.currentThread().getName())).get(30, TimeUnit.SECONDS));
        // Re-entry from the device thread runs at once instead of waiting for itself.
        assertEquals(7, (int) backend.execute(() -> backend.execute(() -> 7)));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> backend.execute(() -> { throw new IllegalArgumentException("from the device thread"); }));
        assertEquals("from the device thread", e.getMessage());
        BackendException checked = assertThrows(BackendException.class,
                () -> new DeviceThread("test-device").call(() -> { throw new java.io.IOException("checked"); }));
        assertTrue(checked.getMessage().contains("checked"), checked.getMessage());
    }

    /** Many callers at once each get their own result back. */
    @Test
    void aDeviceThreadAnswersEachOfManyCallers() throws Exception {
        DeviceThread device = new DeviceThread("test-many");
        ExecutorService pool = Executors.newFixedThreadPool(8);
        try {
            List<Future<Long>> sums = new ArrayList<>();
            for (int t = 0; t < 8; t++) {
                long base = t * 1_000_000L;
                sums.add(pool.submit(() -> {
                    long total = 0;
                    for (int i = 0; i < 2_000; i++) {
                        long v = base + i;
                        total += device.call(() -> v);
                    }
                    return total;
                }));
            }
            for (int t = 0; t < 8; t++) {
                assertEquals(t * 1_000_000L * 2_000 + 1_999L * 2_000 / 2, sums.get(t).get(60, TimeUnit.SECONDS));
            }
        } finally {
            pool.shutdownNow();
        }
    }
}
