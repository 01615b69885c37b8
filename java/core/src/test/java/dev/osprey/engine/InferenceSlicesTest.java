package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.ArrayBatchSource;
import dev.osprey.Input;
import dev.osprey.NDArray;
import dev.osprey.Padding;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.layers.Add;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.loss.Loss;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;

/**
 * Large inference batches run in slices that keep their largest activation within the backend's cache budget, where
 * that pays: the rule on its own, then predict and evaluate of a network that slices against the same network run
 * whole.
 */
class InferenceSlicesTest {
    private static final long MIB = 1L << 20;

    /** ResNet-20's figures at 32x32x3: a 64 KiB largest output, 2.6 MiB written, 1 MiB of weights, 82 MFLOP. */
    private static InferenceSlices resNet20(long budget) {
        return new InferenceSlices(64 << 10, 2640L << 10, 1070L << 10, 8.2e7, budget);
    }

    @Test
    void aLargeBatchOfSmallWeightsAndLargeActivationsRunsInSlicesThatFitTheBudget() {
        assertEquals(32, resNet20(2 * MIB).rows(256));
        assertEquals(32, resNet20(2 * MIB).rows(1024));
        assertEquals(64, resNet20(4 * MIB).rows(256));
    }

    @Test
    void aBatchThatFitsRunsWhole() {
        assertEquals(32, resNet20(2 * MIB).rows(32));
        assertEquals(20, resNet20(2 * MIB).rows(20));
        assertEquals(1, resNet20(2 * MIB).rows(1));
    }

    @Test
    void aBatchRunsInTheFewestSlicesThatFitOfEqualRowsButTheLast() {
        // 30 rows fit: 256 rows take 9 slices, 8 of 29 and one of 24, not 8 of 30 and one of 16
        InferenceSlices s = new InferenceSlices(100, 1_000_000, 0, 1e9, 3000);
        assertEquals(29, s.rows(256));
        assertEquals(30, s.rows(60));
        assertEquals(21, s.rows(61)); // 3 slices: 21, 21 and 19
        assertEquals(30, s.rows(993)); // 34 slices: 33 of 30 and one of 3
    }

    /** The work checks hold for the slices a batch actually runs in, not for the most rows that would fit. */
    @Test
    void aBatchWhoseSlicesWouldBeTooSmallRunsWhole() {
        // 32 rows fit and 20 are enough (0.5 GFLOP at 25 MFLOP a row): 64 rows run as 2 x 32, 33 rows (17 + 16) whole
        InferenceSlices s = new InferenceSlices(64 << 10, 2640L << 10, 0, 2.5e7, 2 * MIB);
        assertEquals(32, s.rows(64));
        assertEquals(33, s.rows(33));
        assertEquals(21, s.rows(41)); // 21 + 20
    }

    @Test
    void noBudgetRunsEveryBatchWhole() {
        assertEquals(256, resNet20(0).rows(256));
    }

    /** MobileNetV2 at 32x32x3: 8.7 MiB of weights beside 1.8 MiB written a sample; 16 rows would fit 2 MiB. */
    @Test
    void weightsLargeBesideASlicesActivationsRunWhole() {
        assertEquals(256, new InferenceSlices(121L << 10, 1828L << 10, 8870L << 10, 1.9e8, 2 * MIB).rows(256));
    }

    /** The tutorial CNN: 24 rows would fit, but 24 rows are 0.13 GFLOP, a call so short that per-op costs would show. */
    @Test
    void aSliceTooShortToHideItsFixedCostsRunsWhole() {
        assertEquals(256, new InferenceSlices(84L << 10, 146L << 10, 364L << 10, 5.6e6, 2 * MIB).rows(256));
    }

    /** ResNet-18 at 224x224x3: a 3.2 MiB output, more than the whole budget. */
    @Test
    void anActivationLargerThanTheBudgetRunsWhole() {
        assertEquals(32, new InferenceSlices(3249L << 10, 37565L << 10, 45699L << 10, 3.6e9, 2 * MIB).rows(32));
    }

    @Test
    void badFiguresAreRefused() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new InferenceSlices(10, 5, 0, 1, 0));
        assertTrue(e.getMessage().contains("received largest 10, written 5"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> resNet20(MIB).rows(0));
        assertTrue(e.getMessage().contains("expected a batch of at least 1 row, received 0"), e.getMessage());
    }

    /**
     * A residual CNN whose 32x32x32 outputs (128 KiB a sample) fit 16 rows in a 2 MiB budget: predict and evaluate of
     * 70 rows in batches of 32 run in slices (32 as 16 + 16, the last 6 whole) and agree with the same weights run
     * whole (no budget): the predictions, the loss, the accuracy and the classification counts.
     */
    @Test
    void predictAndEvaluateInSlicesAgreeWithTheWholeBatch() {
        int n = 70;
        int batch = 32;
        Backend cpu = Device.cpu().backend();
        try (Network sliced = new Network(graph(), withBudget(cpu, 2 * MIB));
             Network whole = new Network(graph(), withBudget(cpu, 0))) {
            sliced.parameters().initialize(5);
            whole.parameters().initialize(5);
            assertEquals(16, sliced.inferenceRows(batch));
            assertEquals(batch, whole.inferenceRows(batch));

            Random r = new Random(7);
            float[] x = new float[n * 32 * 32 * 3];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            float[] y = new float[n * CLASSES];
            for (int i = 0; i < n; i++) {
                y[i * CLASSES + r.nextInt(CLASSES)] = 1;
            }
            NDArray images = new NDArray(x, n, 32, 32, 3);
            float[] expected = whole.predict(List.of(images), batch).get(0).data();
            float[] actual = sliced.predict(List.of(images), batch).get(0).data();
            assertArrayEquals(expected, actual, 1e-5f);

            Loss loss = Loss.categoricalCrossentropy();
            NDArray labels = new NDArray(y, n, CLASSES);
            float[] wholeCounts = new float[dev.osprey.metrics.ClassificationCounts.size(CLASSES)];
            float[] slicedCounts = new float[wholeCounts.length];
            double[] wholeStats = whole.evaluate(new ArrayBatchSource(images, labels), batch, loss,
                    TargetRows.unweighted(loss, CLASSES), wholeCounts);
            double[] slicedStats = sliced.evaluate(new ArrayBatchSource(images, labels), batch, loss,
                    TargetRows.unweighted(loss, CLASSES), slicedCounts);
            assertEquals(wholeStats[0], slicedStats[0], 1e-6 * Math.abs(wholeStats[0]), "loss");
            assertEquals(wholeStats[1], slicedStats[1], 0.0, "accuracy");
            // the error sums too: each row adds to the lane of its place in the evaluation, slices or not
            assertArrayEquals(wholeCounts, slicedCounts, 0f, "classification counts and error sums");
            float total = 0;
            for (float c : slicedCounts) {
                total += c;
            }
            assertTrue(total > 0, "the counts were accumulated");
            assertEquals(n, dev.osprey.metrics.ErrorSums.read(slicedCounts,
                    wholeCounts.length - dev.osprey.metrics.ErrorSums.SIZE).rows());
        }
    }

    /** int8 plans run whole (slices made them slower), fp32 and bf16 ones slice alike. */
    @Test
    void int8InferenceRunsWhole() {
        try (Network network = new Network(graph(), withBudget(Device.cpu().backend(), 2 * MIB))) {
            int sliced = network.inferenceRows(64);
            assertTrue(sliced < 64);
            network.inferencePrecision(dev.osprey.Precision.BF16);
            assertEquals(sliced, network.inferenceRows(64));
            network.inferencePrecision(dev.osprey.Precision.INT8);
            assertEquals(64, network.inferenceRows(64));
        }
    }

    private static final int CLASSES = 10;

    private static Graph graph() {
        Input in = Input.shape(32, 32, 3);
        SymbolicTensor a = new Conv2D(32, 3, Activation.RELU).padding(Padding.SAME).apply(in);
        SymbolicTensor b = new Conv2D(32, 3, Activation.RELU).padding(Padding.SAME).apply(a);
        SymbolicTensor c = new Conv2D(32, 3).padding(Padding.SAME).apply(b);
        SymbolicTensor sum = new Add().apply(a, c);
        SymbolicTensor out = new Dense(CLASSES, Activation.SOFTMAX).apply(new GlobalAveragePooling2D().apply(sum));
        return new Graph(List.of(in), List.of(out));
    }

    /** The backend, with this inference budget (0: every batch runs whole). */
    private static Backend withBudget(Backend backend, long budget) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("inferenceSliceBytes")) {
                        return budget;
                    }
                    try {
                        return method.invoke(backend, args);
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
