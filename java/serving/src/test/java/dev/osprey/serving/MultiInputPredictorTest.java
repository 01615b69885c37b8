package dev.osprey.serving;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A model of two inputs (a 6x6 image and 3 numbers) and two outputs (4 class probabilities and a 2-value box), served
 * by name: each sample's answers are the model's own, alone or batched with others from many threads.
 */
class MultiInputPredictorTest {
    static final int SAMPLES = 40;
    static Model model;
    static final float[][] images = new float[SAMPLES][36];
    static final float[][] metas = new float[SAMPLES][3];

    static {
        Random random = new Random(5);
        for (int i = 0; i < SAMPLES; i++) {
            for (int k = 0; k < 36; k++) {
                images[i][k] = random.nextFloat();
            }
            for (int k = 0; k < 3; k++) {
                metas[i][k] = (float) random.nextGaussian();
            }
        }
    }

    /** image (6, 6, 1) and meta (3) in; kind (4, softmax) and box (2, linear) out. */
    static Model twoInTwoOut() {
        Input image = Input.shape(6, 6, 1).name("image");
        Input meta = Input.shape(3).name("meta");
        SymbolicTensor features = new Flatten().apply(new Conv2D(4, 3, Activation.RELU).apply(image));
        SymbolicTensor joined = new Concatenate().apply(features, new Dense(5, Activation.RELU).apply(meta));
        SymbolicTensor kind = new Dense(4, Activation.SOFTMAX).name("kind").apply(joined);
        SymbolicTensor box = new Dense(2).name("box").apply(joined);
        return new Model(List.of(image, meta), List.of(kind, box));
    }

    @BeforeAll
    static void build() {
        model = twoInTwoOut();
        model.device(Device.cpu()).seed(11);
    }

    @AfterAll
    static void close() {
        model.close();
    }

    static Map<String, float[]> sample(int i) {
        Map<String, float[]> s = new LinkedHashMap<>();
        s.put("meta", metas[i]); // not the model's order: names, not positions, decide
        s.put("image", images[i]);
        return s;
    }

    /** The model's own outputs for sample i, predicted alone. */
    static List<NDArray> expected(Model m, int i) {
        return m.predict(List.of(new NDArray(images[i], 1, 6, 6, 1), new NDArray(metas[i], 1, 3)), 1);
    }

    @Test
    void eachSampleIsAnsweredWithEveryOutputByName() {
        try (Predictor p = Predictor.builder(model).maxBatchSize(8).build()) {
            assertEquals(List.of("image", "meta"), p.inputNames());
            assertEquals(List.of(Shape.of(6, 6, 1), Shape.of(3)), p.inputShapes());
            assertEquals(List.of("kind", "box"), p.outputNames());
            assertEquals(List.of(Shape.of(4), Shape.of(2)), p.outputShapes());
            for (int i = 0; i < 5; i++) {
                Map<String, float[]> answer = p.predict(sample(i));
                assertEquals(List.of("kind", "box"), List.copyOf(answer.keySet()));
                List<NDArray> own = expected(model, i);
                assertArrayEquals(own.get(0).data(), answer.get("kind"), 1e-6f, "kind of sample " + i);
                assertArrayEquals(own.get(1).data(), answer.get("box"), 1e-6f, "box of sample " + i);
            }
        }
    }

    @Test
    void sixteenThreadsGetExactlyTheSerialAnswers() throws Exception {
        try (Predictor p = Predictor.builder(model).maxBatchSize(16).build()) {
            List<Map<String, float[]>> serial = new ArrayList<>();
            for (int i = 0; i < SAMPLES; i++) {
                serial.add(p.predict(sample(i)));
            }
            int threads = 16, perThread = 200;
            ExecutorService pool = Executors.newFixedThreadPool(threads);
            CountDownLatch start = new CountDownLatch(1);
            List<Future<Integer>> done = new ArrayList<>();
            for (int t = 0; t < threads; t++) {
                int offset = t * 7;
                done.add(pool.submit(() -> {
                    start.await();
                    for (int k = 0; k < perThread; k++) {
                        int i = (offset + k) % SAMPLES;
                        Map<String, float[]> answer = k % 2 == 0 ? p.predict(sample(i)) : p.submit(sample(i)).get();
                        assertArrayEquals(serial.get(i).get("kind"), answer.get("kind"), 0f, "kind of sample " + i);
                        assertArrayEquals(serial.get(i).get("box"), answer.get("box"), 0f, "box of sample " + i);
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
    void aSavedModelIsServedByTheSameNames(@TempDir Path dir) throws Exception {
        Path file = dir.resolve("two.osprey");
        model.save(file);
        try (Predictor fromFile = Predictor.builder(file).build();
             Predictor fromModel = Predictor.builder(model).build()) {
            assertEquals(List.of("image", "meta"), fromFile.inputNames());
            assertEquals(List.of("kind", "box"), fromFile.outputNames());
            Map<String, float[]> a = fromFile.predict(sample(3));
            Map<String, float[]> b = fromModel.predict(sample(3));
            assertArrayEquals(b.get("kind"), a.get("kind"), 0f);
            assertArrayEquals(b.get("box"), a.get("box"), 0f);
        }
    }

    @Test
    void badSamplesAreClearErrorsThatNameTheInput() {
        try (Predictor p = Predictor.builder(model).build()) {
            Map<String, float[]> missing = Map.of("image", images[0]);
            String m = assertThrows(IllegalArgumentException.class, () -> p.predict(missing)).getMessage();
            assertTrue(m.contains("received none for 'meta' (shape (3,))") && m.contains("[image, meta]"), m);

            Map<String, float[]> unknown = new LinkedHashMap<>(sample(0));
            unknown.put("extra", new float[1]);
            m = assertThrows(IllegalArgumentException.class, () -> p.predict(unknown)).getMessage();
            assertTrue(m.contains("an input named 'extra' this model lacks"), m);

            Map<String, float[]> wrongSize = Map.of("image", images[0], "meta", new float[4]);
            m = assertThrows(IllegalArgumentException.class, () -> p.submit(wrongSize)).getMessage();
            assertTrue(m.contains("input 'meta': expected 3 values") && m.contains("received 4"), m);

            Map<String, float[]> nan = Map.of("image", images[0], "meta", new float[] {0, Float.NaN, 0});
            m = assertThrows(IllegalArgumentException.class, () -> p.predict(nan)).getMessage();
            assertTrue(m.contains("input 'meta': expected finite inputs, received NaN at index 1"), m);

            m = assertThrows(UnsupportedOperationException.class, () -> p.predict(images[0])).getMessage();
            assertTrue(m.contains("2 inputs [image, meta] and 2 outputs [kind, box]")
                    && m.contains("use predict(Map<String, float[]>)"), m);
            assertThrows(UnsupportedOperationException.class, () -> p.submit(images[0]));
            assertThrows(UnsupportedOperationException.class, () -> p.predict(new NDArray(images[0], 1, 6, 6, 1)));

            // the predictor still serves after refusing them
            assertArrayEquals(expected(model, 0).get(1).data(), p.predict(sample(0)).get("box"), 1e-6f);
        }
    }

    /**
     * Two inputs of the same shape whose names sort against the model's order: the answer is the model's for the
     * values given by name, not by position or by sorted name.
     */
    @Test
    void inputsOfTheSameShapeAreTakenByNameNotPosition() {
        Input zeta = Input.shape(3).name("zeta");
        Input alpha = Input.shape(3).name("alpha");
        SymbolicTensor out = new Dense(2).name("out").apply(new Concatenate().apply(zeta, alpha));
        try (Model m = new Model(List.of(zeta, alpha), List.of(out)).device(Device.cpu()).seed(9);
             Predictor p = Predictor.builder(m).build()) {
            float[] z = {1, 2, 3};
            float[] a = {-4, 0.5f, 7};
            float[] expected = m.predict(List.of(new NDArray(z, 1, 3), new NDArray(a, 1, 3)), 1).get(0).data();
            float[] swapped = m.predict(List.of(new NDArray(a, 1, 3), new NDArray(z, 1, 3)), 1).get(0).data();
            float[] answer = p.predict(Map.of("alpha", a, "zeta", z)).get("out");
            assertArrayEquals(expected, answer, 1e-6f);
            assertTrue(Math.abs(expected[0] - swapped[0]) > 1e-3 || Math.abs(expected[1] - swapped[1]) > 1e-3,
                    "the test tells the two orders apart");
        }
    }

    /** One input, two outputs: by name, each output as it is (no softmax of a box). */
    @Test
    void aModelOfOneInputAndSeveralOutputsIsServedByName() {
        Input x = Input.shape(3).name("x");
        SymbolicTensor hidden = new Dense(5, Activation.RELU).apply(x);
        try (Model m = new Model(List.of(x), List.of(new Dense(3).name("logits").apply(hidden),
                new Dense(1).name("score").apply(hidden))).device(Device.cpu()).seed(4)
                .classNames(List.of("a", "b", "c"));
             Predictor p = Predictor.builder(m).build()) {
            List<NDArray> own = m.predict(List.of(new NDArray(metas[2], 1, 3)), 1);
            Map<String, float[]> answer = p.predict(Map.of("x", metas[2]));
            assertArrayEquals(own.get(0).data(), answer.get("logits"), 1e-6f, "several outputs: values as they are");
            assertArrayEquals(own.get(1).data(), answer.get("score"), 1e-6f);
        }
    }

    /** One input and one output of logits (class names, no loss): by name too, answered with their softmax. */
    @Test
    void aModelOfOneInputAndOutputAlsoTakesItsInputByName() throws Exception {
        Input x = Input.shape(3).name("x");
        try (Model one = new Model(x, new Dense(3).name("y").apply(x)).device(Device.cpu()).seed(3)) {
            one.classNames(List.of("a", "b", "c"));
            float[] logits = one.predict(new NDArray(metas[1], 1, 3), 1).data();
            try (Predictor p = Predictor.builder(one).build()) {
                float[] byValue = p.predict(metas[1]);
                Map<String, float[]> byName = p.predict(Map.of("x", metas[1]));
                assertEquals(List.of("y"), List.copyOf(byName.keySet()));
                float[] probabilities = logits.clone();
                Model.softmaxRows(probabilities, 3);
                assertArrayEquals(probabilities, byName.get("y"), 1e-6f);
                assertArrayEquals(byValue, byName.get("y"), 0f);
                assertArrayEquals(byValue, p.submit(Map.of("x", metas[1])).get().get("y"), 0f);
            }
        }
    }
}
