package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.ReferenceOps;
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

    /** A 1x1 convolution of these strides, unpadded: each output pixel reads the input pixel under it. */
    private static Conv2dSpec strided(int batch, int h, int w, int in, int out, int strideH, int strideW) {
        return new Conv2dSpec(batch, h, w, in, out, 1, 1, strideH, strideW, 0, 0, 0, 0, 1, 1, 1, true,
                Activation.RELU);
    }

    @Test
    void itMatchesTheReferenceOnMobileNetShapesAndOddOnes() {
        Conv2dSpec[] specs = {
            pointwise(1, 1, 1, 160, 960, true, Activation.RELU6),   // MobileNetV2's expansion on a 1x1 map
            pointwise(1, 1, 1, 960, 160, true, Activation.LINEAR),  // its projection: 20 vectors over 2 threads
            pointwise(1, 2, 2, 96, 576, true, Activation.RELU6),    // a 2x2 map: 4 pixels, one row tile
            pointwise(2, 1, 1, 13, 21, false, Activation.LINEAR),   // panels: 2 vectors and 5 lanes, no bias
            pointwise(1, 1, 1, 1, 3, true, Activation.relu(0.8f, 0.2f)), // 1 input, 3 lanes, a leaky capped ReLU
            pointwise(1, 1, 2, 200, 70, true, Activation.RELU),     // 9 vectors: one thread's panels of 4 and 5
            pointwise(1, 16, 16, 16, 96, true, Activation.RELU6),   // 256 pixels: the matrix product, 6 strips
            pointwise(1, 8, 8, 144, 24, true, Activation.LINEAR),   // 64 pixels: a tile of 4 rows, a strip of 8
            pointwise(2, 1, 3, 9, 37, false, Activation.relu(0.8f, 0.2f)), // 6 pixels, a 5-lane tail, no bias
            pointwise(5, 1, 1, 70, 13, true, Activation.RELU),      // 5 pixels, 13 columns: one strip, masked
            strided(1, 32, 32, 16, 32, 2, 2),  // ResNet-20's first projection shortcut: 16x16 outputs, 256 pixels
            strided(1, 16, 16, 32, 64, 2, 2),  // its second: 8x8 outputs
            strided(2, 5, 7, 9, 20, 2, 2),     // odd maps: 3x4 outputs an image
            strided(2, 5, 5, 9, 20, 2, 2),     // 3x3 outputs an image: a row tile across the two images
            strided(1, 7, 5, 8, 24, 3, 2),     // unequal strides: 3x3 outputs
            strided(1, 3, 2, 16, 40, 2, 2),    // 2x1 outputs: the panels
        };
        for (Conv2dSpec s : specs) {
            ConvInferenceRuns.checkAgainstReference(backend, PointwiseConvPlan.class, s, false);
            ConvInferenceRuns.checkAgainstReference(backend, PointwiseConvPlan.class, s, true);
        }
    }

    @Test
    void theBackendRunsFewPixelsHereAndMoreThroughOneDnn() {
        Conv2dSpec two = pointwise(1, 1, 2, 64, 384, true, Activation.RELU6);
        assertInstanceOf(PointwiseConvPlan.class, backend.inferenceConv(op(two)));
        assertEquals("osprey_pointwise_panels:avx2", backend.inferenceConv(op(two)).implementation());
        assertEquals(64 * 384, backend.conv2dInferenceKernelSize(op(two)), "prepared in panels");
        long before = backend.nativeAllocations();
        backend.inferenceConv(op(two));
        assertEquals(before, backend.nativeAllocations(), "a second call finds its plan");
        Conv2dSpec four = pointwise(1, 2, 2, 64, 384, true, Activation.RELU6);
        String rows = PointwiseConvPlan.wide() ? "osprey_pointwise_rows:avx512" : "osprey_pointwise_rows:avx2";
        assertEquals(rows, backend.inferenceConv(op(four)).implementation());
        assertEquals(64 * 384, backend.conv2dInferenceKernelSize(op(four)), "prepared in strips");
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(pointwise(257, 1, 1, 16, 16, true,
                Activation.RELU6))), "257 pixels");
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(pointwise(16, 1, 1, 512, 513, true,
                Activation.RELU6))), "16 pixels of 512 x 513 multiply-adds each: 4.2 M, past the bound");
        assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(four.withActivation(Activation.SWISH))));
        assertFalse(PointwiseConvPlan.fits(new ConvInference(four.withMath(Precision.BF16), false, Precision.BF16)),
                "bf16");
        assertEquals(rows, backend.inferenceConv(op(strided(1, 32, 32, 16, 32, 2, 2)))
                .implementation(), "a projection shortcut of stride 2: 256 pixels");
        assertThrows(IllegalArgumentException.class, () -> strided(1, 4, 4, 16, 32, 0, 1), "stride 0");
        assertThrows(IllegalArgumentException.class, () -> strided(1, 4, 4, 16, 32, -1, -1), "negative strides");
        assertFalse(PointwiseConvPlan.fits(op(pointwise(-2, 1, 1, 16, 32, true, Activation.RELU))), "batch -2");
        assertFalse(PointwiseConvPlan.fits(op(pointwise(0, 1, 1, 16, 32, true, Activation.RELU))), "batch 0");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 1, 1, 64, 384, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 1, true,
                Activation.RELU))), "padded below: 2 pixels");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 1, 1, 64, 384, 1, 1, 1, 1, 0, 0, 0, 0, 1, 1, 2, true,
                Activation.RELU))), "2 groups");
        assertFalse(PointwiseConvPlan.fits(op(new Conv2dSpec(1, 2, 2, 64, 384, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true,
                Activation.RELU))), "a 3x3 kernel: 4 pixels");
    }

    @Test
    void aSmallLayerRunsOnOneThreadAndALargerOneOnTheTeam() {
        assertEquals(1, PointwiseConvPlan.team(op(pointwise(1, 2, 2, 192, 64, true, Activation.RELU6)), 4),
                "48 KB of kernel, 49 K multiply-adds");
        assertEquals(1, PointwiseConvPlan.team(op(pointwise(1, 4, 4, 144, 32, true, Activation.RELU6)), 4),
                "18 KB, 74 K");
        assertEquals(4, PointwiseConvPlan.team(op(pointwise(1, 2, 2, 384, 64, true, Activation.RELU6)), 4),
                "96 KB of kernel");
        assertEquals(4, PointwiseConvPlan.team(op(pointwise(1, 16, 16, 32, 16, true, Activation.RELU6)), 4),
                "131 K multiply-adds");
        Conv2dSpec small = pointwise(1, 2, 2, 192, 64, true, Activation.RELU6);
        assertEquals(1, backend.inferenceConv(op(small)).threads(), "as the backend plans it");
    }

    @Test
    void aPixelGetsTheSameBitsAloneInABatchAndFromOneDnnsBrgemmKernel() {
        // each output is summed in input order, then the bias added, by panels and tiles alike: a server that pads a
        // request into batches of 2, 4, 8, ... answers it the same whatever it was batched with. oneDNN's brgemm 1x1
        // kernels sum the same way; its jit_1x1 kernel starts from the bias, so only the rounding is asked of it.
        int[][] layers = {{320, 1280}, {24, 144}, {192, 32}}; // inputs, outputs
        for (int[] layer : layers) {
            int in = layer[0];
            int units = layer[1];
            int oneDnnBatch = 1024; // 1,024 pixels: past either way's bounds
            Random r = new Random(11);
            float[] x = random(r, oneDnnBatch * in);
            float[] k = random(r, in * units);
            for (int i = 0; i < k.length; i++) {
                k[i] /= (float) Math.sqrt(in);
            }
            float[] b = random(r, units);
            Conv2dSpec many = pointwise(oneDnnBatch, 1, 1, in, units, true, Activation.RELU6);
            String oneDnn = assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(many))).implementation();
            float[] all = ConvInferenceRuns.run(backend, many, x, k, b, null);
            float[] first = null;
            for (int batch : new int[] {1, 2, 4, 7, 64}) { // panels, panels, a tile of 4 rows, 6 + 1, whole tiles
                Conv2dSpec s = pointwise(batch, 1, 1, in, units, true, Activation.RELU6);
                if (!PointwiseConvPlan.fits(op(s))) {
                    continue; // 320 x 1280 at 64 pixels: past the product's multiply-adds, oneDNN's
                }
                assertInstanceOf(PointwiseConvPlan.class, backend.inferenceConv(op(s)));
                float[] alone = ConvInferenceRuns.run(backend, s, java.util.Arrays.copyOf(x, batch * in), k, b,
                        null);
                String what = in + " x " + units + " at batch " + batch + " against oneDNN's " + oneDnn;
                if (first == null) {
                    first = java.util.Arrays.copyOf(alone, units);
                }
                assertArrayEquals(first, java.util.Arrays.copyOf(alone, units), 0f, what + ": the first pixel");
                if (oneDnn.startsWith("brg")) {
                    assertArrayEquals(java.util.Arrays.copyOf(all, batch * units), alone, 0f, what);
                } else {
                    assertClose(what, java.util.Arrays.copyOf(all, batch * units), alone, 1e-5);
                }
            }
        }
    }

    @Test
    void aStridedShortcutGetsTheSameBitsAloneAsInABatchOneDnnRuns() {
        // ResNet-20's projection shortcuts (1x1, stride 2): an image alone runs here, a batch of 1,024 or 512 output
        // pixels (past the product's bounds) through oneDNN; an image's answer must not depend on which: the same
        // bits where oneDNN picks a brgemm kernel (as on this project's AVX2 machines), else within rounding
        int[][] layers = {{32, 16, 32, 4}, {16, 32, 64, 8}}; // map size, inputs, outputs, oneDNN's batch
        for (int[] layer : layers) {
            int size = layer[0], in = layer[1], units = layer[2], batch = layer[3];
            Random r = new Random(12);
            float[] x = random(r, batch * size * size * in);
            float[] k = random(r, in * units);
            for (int i = 0; i < k.length; i++) {
                k[i] /= (float) Math.sqrt(in);
            }
            float[] b = random(r, units);
            Conv2dSpec one = strided(1, size, size, in, units, 2, 2);
            Conv2dSpec many = strided(batch, size, size, in, units, 2, 2);
            assertInstanceOf(PointwiseConvPlan.class, backend.inferenceConv(op(one)));
            String oneDnn = assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op(many))).implementation();
            float[] alone = ConvInferenceRuns.run(backend, one, java.util.Arrays.copyOf(x, size * size * in), k, b,
                    null);
            float[] batched = java.util.Arrays.copyOf(ConvInferenceRuns.run(backend, many, x, k, b, null),
                    alone.length);
            String what = size + "x" + size + "x" + in + " to " + units + ", stride 2, against oneDNN's " + oneDnn;
            if (oneDnn.startsWith("brg")) {
                assertArrayEquals(batched, alone, 0f, what);
            } else {
                assertClose(what, batched, alone, 1e-5);
            }
        }
    }

    @Test
    void teamsOfOneToThreeThreadsShareTheColumnsAndWriteNothingPastTheOutput() {
        // 19 vectors: one thread's 3 panels of 6, 6 and 7; two threads' 9 (panels of 4 and 5) and 10 (5 and 5); three
        // threads' 6, 6 and 7; 6 lanes at the end
        Conv2dSpec s = pointwise(2, 1, 1, 37, 150, true, Activation.RELU);
        ConvInference op = op(s);
        Random r = new Random(5);
        float[] x = random(r, 2 * 37);
        float[] k = random(r, 37 * 150);
        float[] b = random(r, 150);
        float[] expected = ReferenceOps.conv2dForward(s, x, k, b);
        for (int team = 1; team <= 3; team++) {
            PointwiseConvPlan plan = new PointwiseConvPlan(op, team);
            assertEquals(team, plan.threads());
            assertEquals(37 * 152, plan.preparedFloats(), "padded to whole vectors");
            assertClose(team + " threads", expected, ConvInferenceRuns.forwardWithSentinels(plan, s, x, k, b), 1e-5);
        }
    }

    @Test
    void teamsOfThreeAndFourThreadsShareTheTilesAndWriteNothingPastTheOutput() {
        Conv2dSpec s = pointwise(1, 5, 5, 19, 45, true, Activation.RELU); // 25 pixels: 5 row tiles x 3 strips
        Random r = new Random(6);
        float[] x = random(r, 25 * 19);
        float[] k = random(r, 19 * 45);
        float[] b = random(r, 45);
        // 15 tiles of 16 columns, 10 of 32 in 512-bit vectors: shares that start inside a row of tiles, either way
        for (int team : new int[] {3, 4}) {
            for (boolean wide : new boolean[] {false, true}) {
                PointwiseConvPlan plan = new PointwiseConvPlan(op(s), team, wide);
                assertEquals(team, plan.threads());
                assertEquals(19 * 48, plan.preparedFloats(), "strips padded to whole vectors");
                assertClose(team + " threads" + (wide ? ", 512-bit where it runs" : ""),
                        ReferenceOps.conv2dForward(s, x, k, b),
                        ConvInferenceRuns.forwardWithSentinels(plan, s, x, k, b), 1e-5);
            }
        }
    }

    /**
     * The matrix product's 512-bit tiles (groups of 32 columns: two 16-float vectors, one, one masked, or one and an
     * 8-wide strip in 8-float vectors) give the 256-bit tiles' bits, with and without bias and residual, on 1 to 3
     * threads, writing nothing past the output.
     */
    @Test
    void the512BitProductGivesTheBitsOfThe256BitOne() {
        org.junit.jupiter.api.Assumptions.assumeTrue(PointwiseConvPlan.wide(),
                "this processor has no AVX-512F: one path only");
        Conv2dSpec[] specs = {
            pointwise(1, 16, 16, 16, 96, true, Activation.RELU6),   // MobileNetV2's 256 pixels: 3 groups of 2 vectors
            pointwise(1, 8, 8, 96, 24, true, Activation.LINEAR),    // 24: a vector of 16, then a strip of 8
            pointwise(1, 4, 4, 144, 32, true, Activation.RELU6),    // 16 pixels: tiles of 6, 6 and 4 rows
            pointwise(2, 1, 3, 9, 45, false, Activation.relu(0.8f, 0.2f)), // 32 + 13 (masked), no bias, leaky capped
            pointwise(1, 1, 5, 13, 40, true, Activation.RELU),      // 32 + 8: the 8-wide strip alone in its group
            pointwise(1, 3, 3, 7, 20, true, Activation.RELU),       // 16 + 4 lanes of an 8-wide strip
            pointwise(1, 1, 7, 5, 9, true, Activation.LINEAR),      // one vector of 9 lanes
            pointwise(1, 1, 4, 11, 5, true, Activation.RELU6),      // 5 lanes: 256-bit only
            pointwise(1, 3, 3, 7, 61, true, Activation.RELU6),      // 32 + 32 with 13 lanes of the second masked
            pointwise(1, 2, 5, 11, 30, false, Activation.RELU),     // 16 + 14 lanes, no bias
            pointwise(1, 2, 2, 576, 160, true, Activation.LINEAR),  // 5 groups of 2 vectors, 4 pixels
            strided(1, 16, 16, 32, 64, 2, 2),                       // a projection shortcut, 64 pixels
        };
        for (Conv2dSpec s : specs) {
            Random r = new Random(s.toString().hashCode());
            int pixels = s.batch() * s.outH() * s.outW();
            float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
            x[x.length / 2] = Float.NaN; // reaches its pixel's outputs in both
            float[] k = random(r, s.inC() * s.filters());
            float[] b = s.hasBias() ? random(r, s.filters()) : null;
            for (boolean withResidual : new boolean[] {false, true}) {
                float[] residual = withResidual ? random(r, pixels * s.filters()) : null;
                for (int team = 1; team <= 3; team++) {
                    float[][] out = new float[2][];
                    for (int i = 0; i < 2; i++) {
                        PointwiseConvPlan plan = new PointwiseConvPlan(op(s), team, i == 0);
                        assertEquals(i == 0 ? "osprey_pointwise_rows:avx512" : "osprey_pointwise_rows:avx2",
                                plan.implementation());
                        out[i] = ConvInferenceRuns.forwardWithSentinels(plan, s, x, k, b, residual);
                    }
                    assertArrayEquals(out[1], out[0], 0f,
                            s + (withResidual ? " with a residual" : "") + ", " + team + " threads");
                }
            }
        }
    }

    @Test
    void aNanInAnInputReachesTheOutputsItFeeds() {
        for (int pixels : new int[] {2, 3}) { // the panels, the matrix product
            Conv2dSpec s = pointwise(pixels, 1, 1, 4, 9, true, Activation.RELU6);
            float[] x = new float[pixels * 4];
            java.util.Arrays.fill(x, 1f);
            x[1] = Float.NaN; // the first pixel's second channel
            float[] k = new float[4 * 9];
            java.util.Arrays.fill(k, -1f); // every sum is below 0, so a dropped NaN would show as 0
            float[] y = ConvInferenceRuns.run(backend, s, x, k, new float[9], null);
            for (int c = 0; c < 9; c++) {
                assertTrue(Float.isNaN(y[c]), pixels + " pixels, pixel 0 channel " + c + ": " + y[c]);
                for (int p = 1; p < pixels; p++) {
                    assertEquals(0f, y[p * 9 + c], pixels + " pixels, pixel " + p + " channel " + c);
                }
            }
        }
    }

    @Test
    void minusInfinityRectifiesAsKerasDoes() {
        // ReLU(-inf) is 0 (not -inf * 0, NaN), a leaky ReLU's is -inf: as in oneDNN's post-ops, and in every Osprey
        // kernel sharing rectify()
        for (int pixels : new int[] {1, 3, 300}) { // the panels, the matrix product, oneDNN
            for (Activation a : new Activation[] {Activation.RELU, Activation.RELU6, Activation.leakyRelu(0.2f)}) {
                Conv2dSpec s = pointwise(pixels, 1, 1, 2, 8, true, a);
                float[] x = new float[pixels * 2];
                java.util.Arrays.fill(x, Float.NEGATIVE_INFINITY);
                float[] k = new float[2 * 8];
                java.util.Arrays.fill(k, 1f);
                float[] y = ConvInferenceRuns.run(backend, s, x, k, new float[8], null);
                float expected = a.alpha() == 0 ? 0f : Float.NEGATIVE_INFINITY;
                for (int i = 0; i < y.length; i++) {
                    assertEquals(expected, y[i], pixels + " pixels, " + a + ", output " + i);
                }
            }
        }
    }

    private static ConvInference op(Conv2dSpec s) {
        return new ConvInference(s, false, Precision.FP32);
    }
}
