package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Memory;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's inference dense kernel (native/cpu/dense.c) through the backend against the reference, and called directly
 * on teams of threads: an image's outputs are the same bits alone and in any batch.
 */
class InferenceDenseTest {
    private static CpuBackend backend;

    /** The kernel is built wherever gcc is and runs on AVX2 + FMA (CI has both); elsewhere these tests say why not. */
    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.require(InferenceDense.unavailableReason(), "the inference dense kernel");
        backend = new CpuBackend();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    @Test
    void itComputesDenseLayersAtAnyBatch() {
        DenseSpec[] specs = {
            new DenseSpec(1, 576, 64, Activation.RELU),                 // the tutorial CNN's hidden layer
            new DenseSpec(3, 5, 8, Activation.LINEAR),                  // one vector of units
            new DenseSpec(4, 17, 72, Activation.relu(0.5f, 0.2f)),      // 64 units, then 8: both column paths
            new DenseSpec(2, 33, 136, Activation.RELU6),                // 2 x 64 + 8
            new DenseSpec(1, 64, 10, Activation.LINEAR),                // a classifier: 8 units, then 2 lanes
            new DenseSpec(3, 7, 3, Activation.RELU),                    // fewer units than a vector
            new DenseSpec(4, 33, 77, Activation.relu(0.5f, 0.2f)),      // 64 + 8 + 5 lanes
            new DenseSpec(2, 5, 1, Activation.LINEAR),                  // one unit
            new DenseSpec(5, 576, 64, Activation.RELU),                 // pairs of images, then one alone
            new DenseSpec(256, 40, 96, Activation.relu(0.5f, 0.2f)),    // a large batch, its team sized by its work
            new DenseSpec(13, 300, 530, Activation.LINEAR),             // W in blocks of units and chunks of inputs
            new DenseSpec(256, 1280, 10, Activation.LINEAR),            // MobileNetV2's classifier: 6 images, masked
            new DenseSpec(9, 70, 3, Activation.RELU),                   // 6 + 3 images, one masked vector
            new DenseSpec(8, 40, 29, Activation.relu(0.5f, 0.2f)),      // 16 units, then 13 masked
            new DenseSpec(7, 3000, 10, Activation.LINEAR),              // masked units in chunks of inputs
        };
        for (DenseSpec s : specs) {
            DenseInference op = new DenseInference(s, Precision.FP32);
            assertTrue(InferenceDense.fits(op), s.toString());
            assertEquals(0, backend.denseInferenceKernelSize(op), "Keras' layout, as it is");
            Random r = new Random(s.toString().hashCode());
            float[] x = random(r, s.batch() * s.inFeatures());
            float[] k = random(r, s.inFeatures() * s.units());
            float[] b = random(r, s.units());
            // fp32 sums of hundreds or thousands of products against the reference's doubles
            assertClose(s.toString(), ReferenceOps.denseForward(s, x, k, b), run(op, x, k, b),
                    5e-5 * Math.max(1, s.inFeatures() / 576.0));
        }
    }

    @Test
    void otherLayersStayWithOneDnn() {
        assertFalse(InferenceDense.fits(new DenseInference(new DenseSpec(1, 64, 16, Activation.SWISH),
                Precision.FP32)));
        assertFalse(InferenceDense.fits(new DenseInference(new DenseSpec(1, 64, 16, Activation.RELU),
                Precision.BF16)));
        // the one it leaves to oneDNN still computes right, with whatever layout oneDNN prepares
        DenseSpec s = new DenseSpec(5, 64, 10, Activation.SWISH);
        Random r = new Random(3);
        float[] x = random(r, 5 * 64);
        float[] k = random(r, 640);
        float[] b = random(r, 10);
        assertClose("oneDNN's", ReferenceOps.denseForward(s, x, k, b), run(new DenseInference(s, Precision.FP32), x, k,
                b), 1e-5);
        DenseInference fitting = new DenseInference(new DenseSpec(1, 8, 8, Activation.RELU), Precision.FP32);
        try (Memory memory = backend.newMemory()) {
            Tensor kernel = memory.allocate(8, 8);
            assertThrows(IllegalArgumentException.class,
                    () -> backend.densePrepareInferenceKernel(fitting, kernel, kernel), "nothing to prepare");
        }
    }

    /**
     * Each image's outputs are the same bits alone as in a batch of 7 split over teams of 1 to 3 threads: six images at
     * a time and single ones, 64, 16 and 8 units and masked tails (of 16 units, and of 8), W in one pass (one image) or
     * in blocks of units and chunks of inputs (several): serving answers a request the same in any batch.
     */
    @Test
    void anImageGetsTheSameBitsAloneAndInAnyBatchOnAnyTeam() {
        int batch = 7;
        int in = 200;
        for (int units : new int[] {96, 77, 520, 10, 3, 29}) {
            DenseSpec s = new DenseSpec(batch, in, units, Activation.RELU);
            Random r = new Random(units);
            float[] x = random(r, batch * in);
            float[] k = random(r, in * units);
            float[] b = random(r, units);
            try (Memory memory = backend.newMemory()) {
                Tensor tx = put(memory, x);
                Tensor tk = put(memory, k);
                Tensor tb = put(memory, b);
                float[] alone = new float[batch * units];
                for (int n = 0; n < batch; n++) {
                    DenseSpec one = new DenseSpec(1, in, units, Activation.RELU);
                    Tensor y = memory.allocate(one.outputShape());
                    InferenceDense.forward(new DenseInference(one, Precision.FP32),
                            (CpuTensor) backend.view(tx, (long) n * in, one.inputShape()), (CpuTensor) tk,
                            (CpuTensor) tb, (CpuTensor) y, 1);
                    backend.copyOut(y, alone, n * units);
                }
                assertClose("alone " + s, ReferenceOps.denseForward(s, x, k, b), alone, 5e-5);
                for (int threads = 1; threads <= 3; threads++) {
                    Tensor y = memory.allocate(s.outputShape());
                    InferenceDense.forward(new DenseInference(s, Precision.FP32), (CpuTensor) tx, (CpuTensor) tk,
                            (CpuTensor) tb, (CpuTensor) y, threads);
                    float[] batched = new float[batch * units];
                    backend.copyOut(y, batched, 0);
                    org.junit.jupiter.api.Assertions.assertArrayEquals(alone, batched, 0f,
                            units + " units, batch " + batch + " on " + threads + " threads");
                }
            }
        }
    }

    private static Tensor put(Memory memory, float[] values) {
        Tensor t = memory.allocate(values.length);
        backend.copyIn(values, 0, t);
        return t;
    }

    /**
     * The last lanes of a row are written through a mask, by one image at a time (2 images) and by six or three at a
     * time (9 images): the floats after the output stay as they were.
     */
    @Test
    void theLastLanesWriteNothingPastTheOutput() {
        for (int[] batchAndUnits : new int[][] {{2, 13}, {9, 10}, {9, 29}, {3, 3}}) {
            DenseSpec s = new DenseSpec(batchAndUnits[0], 9, batchAndUnits[1], Activation.LINEAR);
            DenseInference op = new DenseInference(s, Precision.FP32);
            assertTrue(InferenceDense.fits(op));
            Random r = new Random(11);
            float[] x = random(r, s.batch() * 9);
            float[] k = random(r, 9 * s.units());
            float[] b = random(r, s.units());
            int outputs = s.batch() * s.units();
            try (Memory memory = backend.newMemory()) {
                Tensor whole = memory.allocate(outputs + 16);
                float[] sentinel = new float[outputs + 16];
                java.util.Arrays.fill(sentinel, 7f);
                backend.copyIn(sentinel, 0, whole);
                compute(memory, op, x, k, b, backend.view(whole, 0, s.outputShape()));
                float[] after = new float[outputs + 16];
                backend.copyOut(whole, after, 0);
                assertClose("the outputs of " + s, ReferenceOps.denseForward(s, x, k, b),
                        java.util.Arrays.copyOf(after, outputs), 1e-5);
                for (int i = outputs; i < after.length; i++) {
                    assertEquals(7f, after[i], "float " + i + " past the output of " + s);
                }
            }
        }
    }

    /** denseInference of op through the backend, the kernel prepared where the backend asks. */
    private static float[] run(DenseInference op, float[] x, float[] k, float[] b) {
        try (Memory memory = backend.newMemory()) {
            Tensor y = memory.allocate(op.spec().outputShape());
            compute(memory, op, x, k, b, y);
            float[] out = new float[Math.toIntExact(y.size())];
            backend.copyOut(y, out, 0);
            return out;
        }
    }

    /** denseInference of op into y, its inputs, kernel (prepared where the backend asks) and bias put in memory. */
    private static void compute(Memory memory, DenseInference op, float[] x, float[] k, float[] b, Tensor y) {
        DenseSpec s = op.spec();
        Tensor keras = memory.allocate(s.kernelShape());
        backend.copyIn(k, 0, keras);
        long floats = backend.denseInferenceKernelSize(op);
        Tensor kernel = keras;
        if (floats > 0) {
            kernel = memory.allocate(Math.toIntExact(floats));
            backend.densePrepareInferenceKernel(op, keras, kernel);
        }
        Tensor tx = memory.allocate(s.inputShape());
        backend.copyIn(x, 0, tx);
        Tensor tb = memory.allocate(b.length);
        backend.copyIn(b, 0, tb);
        backend.denseInference(op, tx, kernel, tb, y);
    }
}
