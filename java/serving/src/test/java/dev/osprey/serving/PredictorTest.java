package dev.osprey.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.FitOptions;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

class PredictorTest {
    static Sequential model;
    static NDArray images;

    @BeforeAll
    static void trainATutorialModel() {
        LabeledData d = Datasets.fashionMnistSample();
        model = Models.compiledTutorialCnn(Device.cpu());
        model.fit(d.trainX().slice(0, 2000), d.trainY().slice(0, 2000), FitOptions.defaults().verbose(false));
        images = d.testX().slice(0, 1000);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static float[] row(int i) {
        float[] r = new float[784];
        System.arraycopy(images.data(), (i % images.rows()) * 784, r, 0, 784);
        return r;
    }

    /**
     * A classifier that outputs logits (a linear last layer, no loss and class names, as ONNX import makes with
     * --class-names): the predictor answers
     * with their softmax, class probabilities, as it promises; model.predict keeps the logits.
     */
    @Test
    void aModelOfLogitsIsAnsweredWithProbabilities() {
        try (Sequential logits = new Sequential(new dev.osprey.layers.Flatten().inputShape(28, 28, 1),
                new dev.osprey.layers.Dense(10))) {
            logits.device(Device.cpu()).seed(7).classNames(Datasets.FASHION_MNIST_CLASSES);
            float[] raw = logits.predict(new NDArray(row(3), 1, 28, 28, 1), 1).data();
            try (Predictor p = Predictor.builder(logits).maxBatchSize(4).build()) {
                float[] answer = p.predict(row(3));
                float[] expected = raw.clone();
                dev.osprey.Model.softmaxRows(expected, 10);
                assertArrayEquals(expected, answer, 1e-6f);
                double sum = 0;
                for (float v : answer) {
                    sum += v;
                }
                assertEquals(1.0, sum, 1e-5);
            }
        }
        try (Predictor p = Predictor.builder(model).maxBatchSize(4).build()) { // softmax already: answered as it is
            assertArrayEquals(model.predict(new NDArray(row(3), 1, 28, 28, 1), 1).data(), p.predict(row(3)), 1e-6f);
        }
    }

    @Test
    void thirtyTwoThreadsGetExactlyTheSerialResults() throws Exception {
        int threads = 32, perThread = 1000;
        float[][] serial = new float[images.rows()][];
        try (Predictor p = Predictor.builder(model).maxBatchSize(64).build()) {
            for (int i = 0; i < images.rows(); i++) {
                serial[i] = p.predict(row(i));
            }
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int offset = t * 31;
                done.add(pool.submit(() -> {
                    start.await();
                    for (int k = 0; k < perThread; k++) {
                        int i = (offset + k) % images.rows();
                        assertArrayEquals(serial[i], p.predict(row(i)), 0f, "image " + i);
                    }
                    return perThread;
                }));
            }
            start.countDown();
            int total = 0;
            for (Future<Integer> f : done) {
                total += f.get(120, TimeUnit.SECONDS);
            }
            pool.shutdown();
            assertEquals(threads * perThread, total);
        }
    }

    @Test
    void aBatchCallMatchesOneByOneCalls() {
        try (Predictor p = Predictor.builder(model).build()) {
            NDArray batch = p.predict(images.slice(0, 50));
            for (int i = 0; i < 50; i++) {
                assertArrayEquals(p.predict(row(i)), batch.slice(i, i + 1).data(), 0f);
            }
        }
    }

    @Test
    void aFullQueueRefusesInsteadOfGrowing() throws Exception {
        try (Predictor p = Predictor.builder(model).maxBatchSize(2).queueCapacity(8).maxDelay(Duration.ZERO).build()) {
            List<CompletableFuture<float[]>> accepted = new ArrayList<>();
            int refused = 0;
            for (int i = 0; i < 500; i++) {
                try {
                    accepted.add(p.submit(row(i)));
                } catch (QueueFullException e) {
                    refused++;
                }
            }
            assertTrue(refused > 0, "500 instant submissions should overflow a queue of 8");
            assertTrue(p.maxQueueDepth() <= 8, "queue depth " + p.maxQueueDepth());
            for (CompletableFuture<float[]> f : accepted) {
                assertEquals(10, f.get(30, TimeUnit.SECONDS).length);
            }
            assertEquals(10, p.predict(row(1)).length, "serves normally after the overload");
        }
    }

    @Test
    void closeFinishesWhatWasAcceptedAndRefusesTheRest() throws Exception {
        Predictor p = Predictor.builder(model).queueCapacity(512).build();
        List<CompletableFuture<float[]>> accepted = new ArrayList<>();
        for (int i = 0; i < 300; i++) {
            accepted.add(p.submit(row(i)));
        }
        p.close();
        for (CompletableFuture<float[]> f : accepted) {
            assertTrue(f.isDone() && !f.isCompletedExceptionally(), "every accepted request is answered");
        }
        assertThrows(IllegalStateException.class, () -> p.predict(row(0)));
        p.close();
    }

    @Test
    void aWrongSizedSampleIsAClearError() {
        try (Predictor p = Predictor.builder(model).build()) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.predict(new float[100]));
            assertEquals("Predictor: expected 784 values (one sample of shape (28, 28, 1)), received 100", e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> p.predict(NDArray.zeros(2, 10)));
        }
    }

    @Test
    void eachBuildOfABuilderServesItsOwnCopyOfTheWeights() {
        Predictor.Builder builder = Predictor.builder(model).maxBatchSize(4);
        float[] expected = model.predict(images.slice(0, 1)).data();
        Predictor first = builder.build();
        try (Predictor second = builder.build()) {
            first.close(); // must leave the second predictor's model alone
            assertArrayEquals(expected, second.predict(row(0)), 1e-6f);
        }
    }
}
