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
import dev.osprey.backend.ReferenceOps;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's depthwise convolution over few pixels (native/cpu/depthwise.c) against the plain-Java convolution, and where
 * the backend uses it.
 */
class DepthwiseConvTest {
    private static CpuBackend backend;

    /** The kernel is built wherever gcc is and runs on AVX2 + FMA (CI has both); elsewhere these tests say why not. */
    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.require(DepthwiseConvPlan.unavailableReason(), "the small depthwise convolution");
        backend = new CpuBackend();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    /** A depthwise convolution: kernel x kernel, stride, padding (top, left, bottom, right). */
    private static Conv2dSpec depthwise(int batch, int h, int w, int c, int kernel, int stride, int[] pad, boolean bias,
                                        Activation a) {
        return new Conv2dSpec(batch, h, w, c, c, kernel, kernel, stride, stride, pad[0], pad[1], pad[2], pad[3], 1, 1,
                c, bias, a);
    }

    private static final int[] ONE = {1, 1, 1, 1};

    @Test
    void itMatchesTheReferenceOnMobileNetShapesAndOddOnes() {
        Conv2dSpec[] specs = {
            depthwise(1, 8, 8, 32, 3, 1, ONE, true, Activation.RELU6),                  // 64 pixels, whole vectors
            depthwise(1, 8, 8, 144, 3, 2, new int[] {0, 0, 1, 1}, true, Activation.RELU6), // Keras' "same", stride 2
            depthwise(1, 2, 2, 144, 3, 2, ONE, true, Activation.RELU6),                 // PyTorch's padding 1, stride 2
            depthwise(1, 1, 1, 960, 3, 1, ONE, true, Activation.RELU6),                 // a 1x1 map: the centre tap
            depthwise(2, 3, 5, 13, 3, 1, new int[] {0, 1, 2, 0}, false, Activation.LINEAR), // 13 channels, uneven pad
            depthwise(1, 5, 4, 37, 5, 2, new int[] {2, 2, 2, 2}, true, Activation.relu(0.8f, 0.2f)), // 5x5, 37 lanes
            depthwise(3, 4, 4, 20, 3, 1, ONE, true, Activation.RELU),                   // 2 vectors and 4 lanes
            depthwise(1, 2, 2, 16, 7, 1, new int[] {3, 3, 3, 3}, true, Activation.RELU), // 7x7 on a 2x2 map
            depthwise(1, 1, 1, 8, 3, 1, new int[] {3, 3, 3, 3}, true, Activation.RELU6), // windows wholly in padding
        };
        for (Conv2dSpec s : specs) {
            ConvInferenceRuns.checkAgainstReference(backend, DepthwiseConvPlan.class, s, false);
            ConvInferenceRuns.checkAgainstReference(backend, DepthwiseConvPlan.class, s, true);
        }
    }

    /**
     * The 512-bit path (64 channels at a time, any tail through a lane mask) gives the 256-bit path's bits, with and
     * without bias and residual, writing nothing past the output.
     */
    @Test
    void the512BitPathGivesTheBitsOfThe256BitPath() {
        org.junit.jupiter.api.Assumptions.assumeTrue(DepthwiseConvPlan.wide(),
                "this processor has no AVX-512F: one path only");
        Conv2dSpec[] specs = {
            depthwise(1, 8, 8, 144, 3, 1, ONE, true, Activation.RELU6),                 // 64 + 64 + 16
            depthwise(1, 4, 4, 192, 3, 2, new int[] {0, 0, 1, 1}, true, Activation.RELU6), // 3 x 64, stride 2
            depthwise(1, 1, 1, 960, 3, 1, ONE, true, Activation.RELU6),                 // the centre tap alone
            depthwise(2, 3, 5, 13, 3, 1, new int[] {0, 1, 2, 0}, false, Activation.LINEAR), // 13 lanes, no bias
            depthwise(1, 5, 4, 37, 5, 2, new int[] {2, 2, 2, 2}, true, Activation.relu(0.8f, 0.2f)), // 16 + 16 + 5
            depthwise(3, 4, 4, 120, 3, 1, ONE, true, Activation.RELU),                  // 64, then 16 + 16 + 16 + 8 lanes
            depthwise(1, 2, 2, 100, 7, 1, new int[] {3, 3, 3, 3}, true, Activation.RELU), // 64 + 36: 7x7, 4 lanes
            depthwise(1, 1, 1, 8, 3, 1, new int[] {3, 3, 3, 3}, true, Activation.RELU6), // windows wholly in padding
        };
        for (Conv2dSpec s : specs) {
            Random r = new Random(s.toString().hashCode());
            int outputs = s.batch() * s.outH() * s.outW() * s.filters();
            float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
            x[x.length / 3] = Float.NaN; // reaches the outputs it feeds in both
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC());
            float[] b = s.hasBias() ? random(r, s.filters()) : null;
            for (boolean withResidual : new boolean[] {false, true}) {
                float[] residual = withResidual ? random(r, outputs) : null;
                float[][] out = new float[2][];
                for (int i = 0; i < 2; i++) {
                    DepthwiseConvPlan plan = new DepthwiseConvPlan(op(s), i == 0);
                    assertEquals(i == 0 ? "osprey_depthwise:avx512" : "osprey_depthwise:avx2", plan.implementation());
                    out[i] = ConvInferenceRuns.forwardWithSentinels(plan, s, x, k, b, residual);
                }
                assertArrayEquals(out[1], out[0], 0f,
                        s + (withResidual ? " with a residual" : ""));
            }
        }
    }

    @Test
    void theBackendRunsFewPixelsHereAndMoreThroughOneDnn() {
        Conv2dSpec small = depthwise(1, 8, 8, 96, 3, 1, ONE, true, Activation.RELU6); // 64 output pixels
        assertInstanceOf(DepthwiseConvPlan.class, backend.inferenceConv(op(small)));
        assertEquals(DepthwiseConvPlan.wide() ? "osprey_depthwise:avx512" : "osprey_depthwise:avx2",
                backend.inferenceConv(op(small)).implementation());
        assertEquals(0, backend.conv2dInferenceKernelSize(op(small)), "Keras' layout, as it is");
        long before = backend.nativeAllocations();
        backend.inferenceConv(op(small));
        assertEquals(before, backend.nativeAllocations(), "a second call finds its plan");
        assertInstanceOf(ConvInferencePlan.class,
                backend.inferenceConv(op(depthwise(1, 9, 8, 96, 3, 1, ONE, true, Activation.RELU6))), "72 pixels");
        assertFalse(DepthwiseConvPlan.fits(op(small.withActivation(Activation.SWISH))), "swish");
        assertFalse(DepthwiseConvPlan.fits(new ConvInference(small.withMath(Precision.BF16), false, Precision.BF16)),
                "bf16");
        assertFalse(DepthwiseConvPlan.fits(op(new Conv2dSpec(1, 8, 8, 96, 192, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 96, true,
                Activation.RELU))), "2 filters per channel");
        assertFalse(DepthwiseConvPlan.fits(op(new Conv2dSpec(1, 8, 8, 96, 96, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 96, true,
                Activation.RELU))), "dilation 2");
        assertFalse(DepthwiseConvPlan.fits(op(new Conv2dSpec(1, 8, 8, 96, 96, 8, 8, 1, 1, 0, 0, 0, 0, 1, 1, 96, true,
                Activation.RELU))), "an 8x8 kernel");
        assertFalse(DepthwiseConvPlan.fits(op(new Conv2dSpec(1, 8, 8, 96, 96, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true,
                Activation.RELU))), "a full convolution");
    }

    @Test
    void anImageGetsTheSameBitsAloneAndFromOneDnnsBrdgmmKernelInABatch() {
        // taps summed in order, padding skipped, then the bias added, as oneDNN's brdgmm depthwise kernel does: a
        // server that pads a request into batches of 2, 4, 8, ... answers it the same whatever it was batched with.
        // oneDNN's jit_dw kernel starts from the bias, so only the rounding is asked of it.
        for (Conv2dSpec one : new Conv2dSpec[] {
            depthwise(1, 4, 4, 192, 3, 1, ONE, true, Activation.RELU6),
            depthwise(1, 8, 8, 144, 3, 2, ONE, true, Activation.RELU6),
            depthwise(1, 1, 1, 960, 3, 1, ONE, true, Activation.RELU6)}) {
            int batch = 128;
            Conv2dSpec many = depthwise(batch, one.inH(), one.inW(), one.inC(), 3, one.strideH(), ONE, true,
                    Activation.RELU6);
            String oneDnn = assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(many)), many.toString())
                    .implementation();
            assertInstanceOf(DepthwiseConvPlan.class, backend.inferenceConv(op(one)), one.toString());
            Random r = new Random(3);
            float[] x = random(r, batch * one.inH() * one.inW() * one.inC());
            float[] k = random(r, 9 * one.inC());
            float[] b = random(r, one.inC());
            float[] all = Arrays.copyOf(ConvInferenceRuns.run(backend, many, x, k, b, null),
                    one.outH() * one.outW() * one.inC());
            float[] alone = ConvInferenceRuns.run(backend, one, Arrays.copyOf(x, one.inH() * one.inW() * one.inC()),
                    k, b, null);
            if (oneDnn.startsWith("brdgmm")) {
                assertArrayEquals(all, alone, 0f, one + " against oneDNN's " + oneDnn);
            } else {
                assertClose(one + " against oneDNN's " + oneDnn, all, alone, 1e-5);
            }
        }
    }

    @Test
    void aNanInAnInputReachesTheOutputsWhoseWindowsHoldIt() {
        Conv2dSpec s = depthwise(1, 3, 3, 8, 3, 1, new int[] {0, 0, 0, 0}, true, Activation.RELU6); // one output
        float[] x = new float[9 * 8];
        x[4 * 8 + 3] = Float.NaN; // the centre pixel's channel 3
        float[] k = new float[9 * 8];
        Arrays.fill(k, -1f); // every other sum is below 0, so a dropped NaN would show as 0
        float[] y = ConvInferenceRuns.run(backend, s, x, k, new float[8], null);
        for (int c = 0; c < 8; c++) {
            if (c == 3) {
                assertTrue(Float.isNaN(y[c]), "channel 3: " + y[c]);
            } else {
                assertEquals(0f, y[c], "channel " + c);
            }
        }
    }

    @Test
    void aTeamOfThreeThreadsSharesTheRowsAndWritesNothingPastTheOutput() {
        Conv2dSpec s = depthwise(2, 5, 3, 21, 3, 1, ONE, true, Activation.RELU); // 10 output rows over 3 threads
        ConvInference op = op(s);
        DepthwiseConvPlan plan = OpenMpTeam.sized(3, () -> new DepthwiseConvPlan(op));
        assertEquals(3, plan.threads());
        Random r = new Random(5);
        float[] x = random(r, 2 * 5 * 3 * 21);
        float[] k = random(r, 9 * 21);
        float[] b = random(r, 21);
        assertClose("3 threads", ReferenceOps.conv2dForward(s, x, k, b),
                ConvInferenceRuns.forwardWithSentinels(plan, s, x, k, b), 1e-5);
    }

    private static ConvInference op(Conv2dSpec s) {
        return new ConvInference(s, false, Precision.FP32);
    }
}
