package dev.osprey.backend;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.Activation;
import org.junit.jupiter.api.TestInstance;
import java.util.Random;
import java.util.stream.Stream;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * Every backend op against the plain-Java reference on fresh random inputs of several shapes:
 * odd sizes, batch 1, same and valid padding, stride 2, fused ReLU. Each backend runs it through a subclass.
 */
@TestInstance(TestInstance.Lifecycle.PER_CLASS)
abstract class BackendContractTest {
    Backend backend;
    double TOLERANCE;

    /** Opens the backend under test (or skips the class where it can't run). */
    abstract Backend open();

    /** Tolerance of convolution and dense results (matrix products) against the double-accumulated reference. */
    abstract double matmulTolerance();

    @BeforeAll
    void openBackend() {
        backend = open();
        TOLERANCE = matmulTolerance();
    }

    @AfterAll
    void closeBackend() {
        if (backend != null) {
            backend.close();
        }
    }

    Stream<Conv2dSpec> convSpecs() {
        return Stream.of(
                new Conv2dSpec(4, 28, 28, 1, 32, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU),   // the tutorial's first
                new Conv2dSpec(1, 13, 11, 5, 7, 3, 3, 1, 1, 1, 1, 1, 1, Activation.LINEAR),  // batch 1, same, odd
                new Conv2dSpec(3, 9, 10, 3, 16, 3, 3, 2, 2, 0, 0, 0, 0, Activation.RELU),    // stride 2, valid
                new Conv2dSpec(2, 8, 8, 16, 5, 5, 5, 2, 2, 1, 1, 2, 2, Activation.LINEAR),   // stride 2, same, 5x5
                new Conv2dSpec(2, 7, 7, 32, 64, 3, 3, 1, 1, 0, 0, 0, 0, Activation.RELU));   // blocked channel counts
    }

    @ParameterizedTest
    @MethodSource("convSpecs")
    void conv2dForwardAndBackwardMatchTheReference(Conv2dSpec s) {
        Random r = new Random(s.hashCode());
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
        float[] b = random(r, s.filters());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());

        Tensor tx = upload(x, s.inputShape());
        Tensor tk = upload(k, s.kernelShape());
        Tensor tb = upload(b, s.filters());
        Tensor ty = backend.allocate(s.outputShape());
        backend.conv2dForward(s, tx, tk, tb, ty);
        assertClose("conv forward " + s, ReferenceOps.conv2dForward(s, x, k, b), download(ty), TOLERANCE);

        Tensor tdy = upload(dy, s.outputShape());
        Tensor tdx = backend.allocate(s.inputShape());
        backend.conv2dBackwardData(s, tdy, tk, tdx);
        assertClose("conv backward-data " + s, ReferenceOps.conv2dBackwardData(s, dy, k), download(tdx), TOLERANCE);

        Tensor tdk = backend.allocate(s.kernelShape());
        Tensor tdb = backend.allocate(s.filters());
        backend.conv2dBackwardFilter(s, tx, tdy, tdk, tdb);
        float[][] expected = ReferenceOps.conv2dBackwardFilter(s, x, dy);
        assertClose("conv backward-filter kernel " + s, expected[0], download(tdk), TOLERANCE);
        assertClose("conv backward-filter bias " + s, expected[1], download(tdb), TOLERANCE);
    }

    Stream<Pool2dSpec> poolSpecs() {
        return Stream.of(
                new Pool2dSpec(4, 26, 26, 32, 2, 2, 2, 2, 0, 0, 0, 0),
                new Pool2dSpec(1, 11, 11, 64, 2, 2, 2, 2, 0, 0, 0, 0),   // odd input: last row/column dropped
                new Pool2dSpec(2, 7, 9, 3, 3, 3, 1, 1, 1, 1, 1, 1),      // same padding, stride 1
                new Pool2dSpec(2, 7, 6, 5, 2, 2, 2, 2, 0, 0, 1, 0));     // same padding, uneven (one more row below)
    }

    @ParameterizedTest
    @MethodSource("poolSpecs")
    void maxPoolForwardAndBackwardMatchTheReference(Pool2dSpec s) {
        Random r = new Random(s.hashCode());
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.channels());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.channels());
        Tensor tx = upload(x, s.inputShape());
        Tensor ty = backend.allocate(s.outputShape());
        Tensor ws = backend.maxPool2dWorkspace(s);
        backend.maxPool2dForward(s, tx, ty, ws);
        assertClose("max-pool forward " + s, ReferenceOps.maxPoolForward(s, x), download(ty), 0);
        Tensor tdx = backend.allocate(s.inputShape());
        backend.maxPool2dBackward(s, tx, ty, upload(dy, s.outputShape()), ws, tdx);
        assertClose("max-pool backward " + s, ReferenceOps.maxPoolBackward(s, x, dy), download(tdx), TOLERANCE);
    }

    Stream<DenseSpec> denseSpecs() {
        return Stream.of(
                new DenseSpec(32, 576, 64, Activation.RELU),
                new DenseSpec(1, 64, 10, Activation.LINEAR),
                new DenseSpec(7, 13, 5, Activation.RELU));
    }

    @ParameterizedTest
    @MethodSource("denseSpecs")
    void denseForwardAndBackwardMatchTheReference(DenseSpec s) {
        Random r = new Random(s.hashCode());
        float[] x = random(r, s.batch() * s.inFeatures());
        float[] k = random(r, s.inFeatures() * s.units());
        float[] b = random(r, s.units());
        float[] dy = random(r, s.batch() * s.units());
        Tensor tx = upload(x, s.inputShape());
        Tensor tk = upload(k, s.kernelShape());
        Tensor ty = backend.allocate(s.outputShape());
        backend.denseForward(s, tx, tk, upload(b, s.units()), ty);
        assertClose("dense forward " + s, ReferenceOps.denseForward(s, x, k, b), download(ty), TOLERANCE);

        Tensor tdy = upload(dy, s.outputShape());
        Tensor tdx = backend.allocate(s.inputShape());
        backend.denseBackwardData(s, tdy, tk, tdx);
        assertClose("dense backward-data " + s, ReferenceOps.denseBackwardData(s, dy, k), download(tdx), TOLERANCE);

        Tensor tdk = backend.allocate(s.kernelShape());
        Tensor tdb = backend.allocate(s.units());
        backend.denseBackwardWeights(s, tx, tdy, tdk, tdb);
        float[][] expected = ReferenceOps.denseBackwardWeights(s, x, dy);
        assertClose("dense backward-weights kernel " + s, expected[0], download(tdk), TOLERANCE);
        assertClose("dense backward-weights bias " + s, expected[1], download(tdb), TOLERANCE);
    }

    @Test
    void reluBackwardPassesGradientOnlyWhereTheOutputIsPositive() {
        Random r = new Random(7);
        float[] y = random(r, 1000);
        for (int i = 0; i < y.length; i++) {
            y[i] = Math.max(0, y[i]);
        }
        float[] dy = random(r, 1000);
        Tensor tdx = backend.allocate(10, 100);
        backend.activationBackward(Activation.RELU, upload(y, 10, 100), upload(dy, 10, 100), tdx);
        assertClose("relu backward", ReferenceOps.reluBackward(y, dy), download(tdx), 0);
    }

    @Test
    void softmaxCrossEntropyMatchesTheReferenceAndCountsCorrectRows() {
        Random r = new Random(3);
        int rows = 17, classes = 10;
        float[] logits = random(r, rows * classes);
        float[] targets = new float[rows * classes];
        int expectedCorrect = 0;
        for (int i = 0; i < rows; i++) {
            int label = r.nextInt(classes);
            targets[i * classes + label] = 1;
            int argMax = 0;
            for (int c = 1; c < classes; c++) {
                if (logits[i * classes + c] > logits[i * classes + argMax]) {
                    argMax = c;
                }
            }
            expectedCorrect += argMax == label ? 1 : 0;
        }
        Tensor dLogits = backend.allocate(rows, classes);
        Tensor stats = backend.allocate(2);
        backend.softmaxCrossEntropy(upload(logits, rows, classes), upload(targets, rows, classes), dLogits, stats);
        float[][] expected = ReferenceOps.softmaxCrossEntropy(logits, targets, rows, classes);
        double lossSum = 0;
        for (float l : expected[0]) {
            lossSum += l;
        }
        float[] got = download(stats);
        assertClose("cross-entropy loss sum", new float[] {(float) lossSum}, new float[] {got[0]}, 1e-5 * rows);
        assertEquals(expectedCorrect, got[1]);
        assertClose("cross-entropy gradient", expected[1], download(dLogits), 1e-5);
    }

    @Test
    void adamFollowsKerasFormulation() {
        float[] p = {1f, -2f, 0.5f};
        float[] g = {0.1f, -0.3f, 0f};
        Tensor tp = upload(p, 3), tg = upload(g, 3), m = backend.allocate(3), v = backend.allocate(3);
        AdamSpec spec = new AdamSpec(0.001f, 0.9f, 0.999f, 1e-7f);
        backend.adamUpdate(spec, 1, tp, tg, m, v);
        float[] expected = new float[3];
        for (int i = 0; i < 3; i++) {
            double mi = 0.1 * g[i], vi = 0.001 * g[i] * g[i];
            double alpha = 0.001 * Math.sqrt(1 - 0.999) / (1 - 0.9);
            expected[i] = (float) (p[i] - mi * alpha / (Math.sqrt(vi) + 1e-7));
        }
        assertClose("adam step 1", expected, download(tp), 1e-5);
    }

    @Test
    void aWrongShapeIsRejectedBeforeAnyNativeCall() {
        Conv2dSpec s = new Conv2dSpec(2, 8, 8, 1, 4, 3, 3, 1, 1, 0, 0, 0, 0, Activation.LINEAR);
        Tensor wrongX = backend.allocate(2, 8, 8, 3);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> backend.conv2dForward(s,
                wrongX, backend.allocate(s.kernelShape()), backend.allocate(4), backend.allocate(s.outputShape())));
        assertEquals("conv2dForward x: expected shape (2, 8, 8, 1), received (2, 8, 8, 3)", e.getMessage());
    }

    private Tensor upload(float[] values, int... shape) {
        Tensor t = backend.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }

    private float[] download(Tensor t) {
        float[] out = new float[(int) t.size()];
        backend.copyOut(t, out, 0);
        return out;
    }
}
