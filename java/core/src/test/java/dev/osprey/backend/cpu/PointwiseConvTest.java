package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Memory;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's pointwise convolution over few pixels (native/cpu/pointwise.c) against the plain-Java convolution, and
 * where the backend uses it.
 */
class PointwiseConvTest {
    private static CpuBackend backend;

    /** The kernel is built wherever gcc is and runs on AVX2 + FMA (CI has both); elsewhere these tests say why not. */
    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.require(PointwiseConvPlan.unavailableReason(), "the small pointwise convolution");
        backend = new CpuBackend();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static Conv2dSpec pointwise(int batch, int h, int w, int in, int out, boolean bias, Activation a) {
        return new Conv2dSpec(batch, h, w, in, out, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 1, bias, a);
    }

    @Test
    void itMatchesTheReferenceOnMobileNetShapesAndOddOnes() {
        Conv2dSpec[] specs = {
            pointwise(1, 1, 1, 160, 960, true, Activation.RELU6),   // MobileNetV2's expansion on a 1x1 map
            pointwise(1, 1, 1, 960, 160, true, Activation.LINEAR),  // its projection: 20 vectors over 2 threads
            pointwise(1, 2, 2, 96, 576, true, Activation.RELU6),    // a 2x2 map: 4 pixels
            pointwise(4, 1, 1, 13, 21, false, Activation.LINEAR),   // 2 whole vectors and 5 lanes, no bias
            pointwise(3, 1, 1, 1, 3, true, Activation.relu(0.8f, 0.2f)), // 1 input, 3 lanes, a leaky capped ReLU
            pointwise(1, 1, 2, 200, 70, true, Activation.RELU),     // panels of uneven widths
        };
        for (Conv2dSpec s : specs) {
            check(s, false);
            check(s, true);
        }
    }

    @Test
    void theBackendRunsFewPixelsHereAndMoreThroughOneDnn() {
        Conv2dSpec four = pointwise(1, 2, 2, 64, 384, true, Activation.RELU6);
        assertInstanceOf(PointwiseConvPlan.class, backend.inferenceConv(op(four)));
        assertEquals("osprey_pointwise:avx2", backend.inferenceConv(op(four)).implementation());
        long before = backend.nativeAllocations();
        backend.inferenceConv(op(four));
        assertEquals(before, backend.nativeAllocations(), "a second call finds its plan");
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(pointwise(5, 1, 1, 64, 384, true,
                Activation.RELU6))), "5 pixels");
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(four.withActivation(Activation.SWISH))));
        assertFalse(PointwiseConvPlan.fits(new ConvInference(four.withMath(Precision.BF16), false, Precision.BF16)),
                "bf16");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 2, 2, 64, 384, 1, 1, 2, 2, 0, 0, 0, 0, 1, 1, 1, true,
                Activation.RELU))), "stride 2");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 1, 1, 64, 384, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, true,
                Activation.RELU))), "padded");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 1, 1, 64, 384, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, true,
                Activation.RELU))), "2 groups");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 3, 3, 64, 384, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true,
                Activation.RELU))), "a 3x3 kernel");
    }

    @Test
    void aPixelGetsTheSameBitsAloneInABatchAndFromOneDnn() {
        // each output is summed in input order, whatever the batch: a server that pads a request into batches of 2,
        // 4, 8, ... (oneDNN's 1x1 kernel beyond 4 pixels) answers it the same whatever it was batched with
        int in = 320;
        int units = 1280;
        Random r = new Random(11);
        float[] x = random(r, 8 * in);
        float[] k = random(r, in * units);
        float[] b = random(r, units);
        float[] eight = run(pointwise(8, 1, 1, in, units, true, Activation.RELU6), x, k, b, null);
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(pointwise(8, 1, 1, in, units, true,
                Activation.RELU6))));
        for (int batch : new int[] {1, 4}) {
            float[] alone = run(pointwise(batch, 1, 1, in, units, true, Activation.RELU6),
                    java.util.Arrays.copyOf(x, batch * in), k, b, null);
            assertArrayEquals(java.util.Arrays.copyOf(eight, batch * units), alone, 0f, "batch " + batch);
        }
    }

    @Test
    void aTeamOfThreeThreadsSharesTheColumnsAndWritesNothingPastTheOutput() {
        Conv2dSpec s = pointwise(2, 1, 2, 37, 150, true, Activation.RELU); // 19 vectors: 6, 6, 7; 6 lanes at the end
        ConvInference op = op(s);
        PointwiseConvPlan plan = OpenMpTeam.sized(3, () -> new PointwiseConvPlan(op));
        assertEquals(3, plan.threads());
        Random r = new Random(5);
        float[] x = random(r, 4 * 37);
        float[] k = random(r, 37 * 150);
        float[] b = random(r, 150);
        float[] expected = ReferenceOps.conv2dForward(s, x, k, b);
        int sentinels = 8;
        try (CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor prepared = CpuTensor.allocate(new int[] {Math.toIntExact(plan.preparedFloats())});
             CpuTensor tb = tensor(b, 150); CpuTensor y = CpuTensor.allocate(new int[] {expected.length + sentinels})) {
            assertEquals(37 * 152, plan.preparedFloats(), "padded to whole vectors");
            for (int i = 0; i < expected.length + sentinels; i++) {
                y.buffer().put(i, -7f);
            }
            plan.prepare(tk, prepared);
            plan.forward(tx, prepared, tb, null, y);
            float[] actual = new float[expected.length];
            y.buffer().get(0, actual);
            assertClose("3 threads", expected, actual, 1e-5);
            for (int i = 0; i < sentinels; i++) {
                assertEquals(-7f, y.buffer().get(expected.length + i), "float " + i + " past the output");
            }
        }
    }

    @Test
    void aNanInAnInputReachesTheOutputsItFeeds() {
        Conv2dSpec s = pointwise(2, 1, 1, 4, 9, true, Activation.RELU6);
        float[] x = {1, Float.NaN, 1, 1, 1, 1, 1, 1}; // the first pixel's second channel
        float[] k = new float[4 * 9];
        java.util.Arrays.fill(k, -1f); // every sum is below 0, so a dropped NaN would show as 0
        float[] y = run(s, x, k, new float[9], null);
        for (int c = 0; c < 9; c++) {
            assertTrue(Float.isNaN(y[c]), "pixel 0 channel " + c + ": " + y[c]);
            assertEquals(0f, y[9 + c], "pixel 1 channel " + c);
        }
    }

    private static ConvInference op(Conv2dSpec s) {
        return new ConvInference(s, false, Precision.FP32);
    }

    /** The backend against the reference; with a residual added before the activation. */
    private static void check(Conv2dSpec s, boolean residual) {
        ConvInference op = new ConvInference(s, residual, Precision.FP32);
        assertInstanceOf(PointwiseConvPlan.class, backend.inferenceConv(op), s.toString());
        Random r = new Random(s.toString().hashCode() + (residual ? 1 : 0));
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, s.inC() * s.filters());
        for (int i = 0; i < k.length; i++) { // as He and Glorot initialize them: outputs of about 1
            k[i] /= (float) Math.sqrt(s.inC());
        }
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] add = residual ? random(r, s.batch() * s.outH() * s.outW() * s.filters()) : null;
        float[] expected;
        if (residual) {
            expected = ReferenceOps.conv2dForward(s.withActivation(Activation.LINEAR), x, k, b);
            for (int i = 0; i < expected.length; i++) {
                expected[i] = (float) ReferenceOps.activate(s.activation(), (double) expected[i] + add[i]);
            }
        } else {
            expected = ReferenceOps.conv2dForward(s, x, k, b);
        }
        assertClose(s + (residual ? " with a residual" : ""), expected, run(s, x, k, b, add), 1e-5);
    }

    /** conv2dInference through the backend, the kernel prepared as a plan prepares it. */
    private static float[] run(Conv2dSpec s, float[] x, float[] k, float[] b, float[] residual) {
        ConvInference op = new ConvInference(s, residual != null, Precision.FP32);
        try (Memory memory = backend.newMemory()) {
            Tensor prepared = memory.allocate(Math.toIntExact(backend.conv2dInferenceKernelSize(op)));
            backend.conv2dPrepareInferenceKernel(op, upload(memory, k, s.kernelShape()), prepared);
            Tensor y = memory.allocate(s.outputShape());
            backend.conv2dInference(op, upload(memory, x, s.inputShape()), prepared,
                    b == null ? null : upload(memory, b, b.length),
                    residual == null ? null : upload(memory, residual, s.outputShape()), y);
            float[] out = new float[Math.toIntExact(y.size())];
            backend.copyOut(y, out, 0);
            return out;
        }
    }

    private static Tensor upload(Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }

    private static CpuTensor tensor(float[] values, int... shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        t.buffer().put(0, values);
        return t;
    }
}
