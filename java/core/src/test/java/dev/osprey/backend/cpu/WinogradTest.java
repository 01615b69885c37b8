package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's Winograd F(2x2, 3x3) and F(4x4, 3x3) inference convolutions: which convolutions they take, and their
 * outputs against the plain Java reference convolution on odd shapes (tiles cut by the output's edge, uneven padding,
 * channel counts that leave an 8-wide column block, blocks of tiles that end mid-way, a team of three threads), with
 * bias, residual and each activation they fuse.
 */
class WinogradTest {
    /** Backends that run every convolution the kernel fits through it, in tiles of 2x2 and of 4x4 outputs. */
    private static CpuBackend tiles2;
    private static CpuBackend tiles4;

    /** The kernel is built wherever gcc is and runs on AVX2 + FMA (CI has both); elsewhere these tests say why not. */
    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.require(Winograd.unavailableReason(), "the Winograd kernel");
        tiles2 = new CpuBackend(new Winograd(Winograd.Use.TILE_2X2));
        tiles4 = new CpuBackend(new Winograd(Winograd.Use.TILE_4X4));
    }

    @AfterAll
    static void close() {
        for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
            if (backend != null) {
                backend.close();
            }
        }
    }

    private static Conv2dSpec conv(int batch, int h, int w, int in, int out, int[] pad, boolean bias, Activation a) {
        return new Conv2dSpec(batch, h, w, in, out, 3, 3, 1, 1, pad[0], pad[1], pad[2], pad[3], 1, 1, 1, bias, a);
    }

    private static final int[] SAME = {1, 1, 1, 1};
    private static final int[] VALID = {0, 0, 0, 0};

    /**
     * A served request's answer must not depend on the batch it rode in (the serving module pads batches to powers of
     * two from 2 and compares bit for bit), so each layer of the built-in models runs the same kernel at every such
     * batch size: among them the tutorial CNN's 64-channel layer of 3x3 outputs, which 4x4 tiles would cut 2.25x at
     * batch 256 but not at 2, and ResNet-20's 64-channel stage, which takes them at every batch size.
     */
    @Test
    void aLayerRunsTheSameKernelAtEveryBatchSizeAServerPadsTo() {
        Winograd auto = new Winograd(Winograd.Use.AUTO);
        int[][] layers = {{5, 5, 64, 64, 0}, {13, 13, 32, 64, 0}, {32, 32, 16, 16, 1}, {16, 16, 32, 32, 1},
            {8, 8, 64, 64, 1}};
        int[] expected = {0, 4, 4, 4, 4};
        for (int l = 0; l < layers.length; l++) {
            int[] g = layers[l];
            int[] pad = g[4] == 1 ? SAME : VALID;
            for (int batch = 1; batch <= 512; batch *= 2) {
                assertEquals(expected[l], auto.tile(op(conv(batch, g[0], g[1], g[2], g[3], pad, true, Activation.RELU))),
                        java.util.Arrays.toString(g) + " at batch " + batch);
            }
        }
    }

    @Test
    void autoPicksTheTileThatCutsMoreWhereChannelsAmortizeItAndTheKernelStaysInCache() {
        Winograd auto = new Winograd(Winograd.Use.AUTO);
        Activation relu = Activation.RELU;
        // the tutorial CNN's second convolution: 11x11 outputs, in 3x3 tiles of 4 (3.4x fewer multiply-adds) or
        // 6x6 tiles of 2 (1.9x)
        assertEquals(4, auto.tile(op(conv(256, 13, 13, 32, 64, VALID, true, relu))));
        assertEquals(2, auto.tile(op(conv(1, 8, 8, 64, 128, SAME, false, Activation.LINEAR))), "64 x 128: 2x2 rounds less");
        assertEquals(2, auto.tile(op(conv(256, 8, 8, 64, 128, SAME, false, Activation.RELU6))));
        assertEquals(4, auto.tile(op(conv(256, 8, 8, 64, 64, SAME, false, Activation.RELU6))), "ResNet-20's stage 3");
        assertEquals(4, auto.tile(op(conv(256, 8, 8, 32, 64, SAME, false, Activation.RELU6))));
        assertEquals(4, auto.tile(op(conv(256, 32, 32, 16, 16, SAME, true, relu))));
        assertEquals(4, auto.tile(op(conv(1, 13, 13, 32, 64, VALID, true, relu))), "batch 1: 9 tiles in 2 rows of 6");
        assertEquals(4, auto.tile(op(conv(6, 5, 5, 32, 32, VALID, true, relu))), "3x3 outputs: 2.25x against 1.27x");
        assertEquals(0, auto.tile(op(conv(6, 5, 5, 64, 128, VALID, true, relu))), "too wide for 4x4; 2x2 cuts 1.27x");
        assertEquals(0, auto.tile(op(conv(1, 5, 5, 64, 64, VALID, true, relu))), "one tile in a row of 6: 0.38x");
        assertEquals(2, auto.tile(op(conv(6, 8, 8, 64, 64, VALID, true, relu))), "6x6 outputs: a tie, 2x2 rounds less");
        assertEquals(2, auto.tile(op(conv(6, 4, 4, 32, 32, VALID, true, relu))), "2x2 outputs: 4x4 tiles cut nothing");
        assertEquals(0, auto.tile(op(conv(6, 4, 4, 16, 16, VALID, true, relu))), "2x2 tiles need 32 channels");
        assertEquals(4, auto.tile(op(conv(6, 8, 8, 16, 16, VALID, true, relu))), "a tie, 2x2 tiles not allowed");
        assertEquals(0, auto.tile(op(conv(1, 3, 3, 64, 64, VALID, true, relu))), "one output: neither tile cuts 2x");
        assertEquals(0, auto.tile(op(conv(1, 16, 16, 8, 8, SAME, true, relu))), "8 channels: too few");
        assertEquals(2, auto.tile(op(conv(32, 14, 14, 256, 256, SAME, true, relu))), "4.2 MB transformed: in cache");
        assertEquals(0, auto.tile(op(conv(32, 7, 7, 512, 512, SAME, true, relu))), "a 17 MB transformed kernel");
        assertEquals(0, auto.tile(new ConvInference(conv(1, 8, 8, 64, 64, SAME, true, relu), false, Precision.BF16)));
        assertEquals(0, auto.tile(op(new Conv2dSpec(1, 8, 8, 64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, relu))));
        assertEquals(0, auto.tile(op(new Conv2dSpec(1, 8, 8, 64, 64, 3, 3, 1, 1, 2, 2, 2, 2, 2, 2, 1, true, relu))));
        assertEquals(0, auto.tile(op(new Conv2dSpec(1, 8, 8, 64, 64, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 2, true, relu))));
        assertEquals(0, auto.tile(op(new Conv2dSpec(1, 8, 8, 64, 64, 5, 5, 1, 1, 2, 2, 2, 2, 1, 1, 1, true, relu))));
        assertEquals(0, auto.tile(op(conv(1, 8, 8, 36, 64, SAME, true, relu))), "channels not a multiple of 8");
        assertEquals(0, auto.tile(op(conv(1, 8, 8, 64, 64, SAME, true, Activation.SWISH))));
        Winograd always = new Winograd(Winograd.Use.ALWAYS);
        assertEquals(4, always.tile(op(conv(1, 16, 16, 8, 8, SAME, true, relu))));
        assertEquals(4, always.tile(op(conv(32, 14, 14, 256, 256, SAME, true, relu))));
        assertEquals(4, always.tile(op(conv(32, 7, 7, 512, 512, SAME, true, relu))));
        assertEquals(0, always.tile(op(conv(1, 3, 3, 64, 64, VALID, true, relu))));
        assertEquals(2, new Winograd(Winograd.Use.TILE_2X2).tile(op(conv(1, 3, 3, 64, 64, VALID, true, relu))));
        assertEquals(0, new Winograd(Winograd.Use.TILE_4X4).tile(op(conv(1, 8, 8, 64, 64, SAME, true,
                Activation.SWISH))));
        assertEquals(0, new Winograd(Winograd.Use.NEVER).tile(op(conv(256, 13, 13, 32, 64, VALID, true, relu))));
    }

    @Test
    void autoPicksTheFilterGradientsTileWithoutThePredictionsAccuracyBound() {
        Winograd auto = new Winograd(Winograd.Use.AUTO);
        Activation relu = Activation.RELU;
        // ResNet-20's stages at batch 128: 4x4 tiles at every width (inference keeps 64 x 64 at 2x2)
        assertEquals(4, auto.filterTile(conv(128, 32, 32, 16, 16, SAME, false, relu)));
        assertEquals(4, auto.filterTile(conv(128, 16, 16, 32, 32, SAME, false, relu)));
        assertEquals(4, auto.filterTile(conv(128, 8, 8, 64, 64, SAME, false, relu)));
        assertEquals(4, auto.filterTile(conv(32, 28, 28, 128, 128, SAME, false, relu)));
        assertEquals(0, auto.filterTile(conv(32, 14, 14, 256, 256, SAME, false, relu)), "256 x 256: past the caches");
        assertEquals(2, auto.filterTile(conv(6, 4, 4, 32, 32, VALID, true, relu)), "2x2 outputs: 4x4 cuts nothing");
        assertEquals(0, auto.filterTile(conv(6, 4, 4, 16, 16, VALID, true, relu)), "2x2 tiles need 32 channels");
        assertEquals(0, auto.filterTile(conv(1, 16, 16, 8, 8, SAME, true, relu)), "8 channels: too few");
        assertEquals(0, auto.filterTile(conv(2, 8, 8, 16, 16, SAME, true, relu).withMath(Precision.BF16)));
        assertEquals(0, auto.filterTile(new Conv2dSpec(1, 8, 8, 64, 64, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1, true, relu)));
        assertEquals(4, new Winograd(Winograd.Use.ALWAYS).filterTile(conv(1, 16, 16, 8, 8, SAME, true, relu)));
        assertEquals(2, new Winograd(Winograd.Use.TILE_2X2).filterTile(conv(1, 16, 16, 8, 8, SAME, true, relu)));
        assertEquals(0, new Winograd(Winograd.Use.NEVER).filterTile(conv(128, 8, 8, 64, 64, SAME, false, relu)));
        // training's forward and backward-data: 4x4 tiles up to 128 x 128 channels, where inference stops at 64 x 64
        assertEquals(2, auto.tile(op(conv(128, 8, 8, 128, 128, SAME, false, relu))));
        assertEquals(4, auto.trainingTile(conv(128, 8, 8, 128, 128, SAME, false, relu)));
        assertEquals(4, auto.trainingTile(conv(128, 8, 8, 64, 64, SAME, false, relu)));
        assertEquals(4, auto.trainingTile(conv(32, 28, 28, 128, 128, SAME, false, relu)));
        assertEquals(2, auto.trainingTile(conv(32, 14, 14, 256, 256, SAME, false, relu)), "256 x 256: 2x2 tiles");
        assertEquals(0, auto.trainingTile(conv(32, 7, 7, 512, 512, SAME, false, relu)));
        assertEquals(0, auto.trainingTile(conv(2, 8, 8, 16, 16, SAME, true, relu).withMath(Precision.BF16)));
        assertEquals(0, auto.trainingTile(conv(2, 8, 8, 16, 16, SAME, true, Activation.SWISH)));
    }

    @Test
    void theSettingIsAutoAlwaysNeverOrATileAndAnythingElseIsRefused() {
        String before = System.getProperty("osprey.cpu.winograd");
        try {
            System.setProperty("osprey.cpu.winograd", "sometimes");
            BackendException e = assertThrows(BackendException.class, Winograd::fromProperties);
            assertTrue(e.getMessage().contains("expected auto, always, never, 2x2 or 4x4, received 'sometimes'"),
                    e.getMessage());
            System.setProperty("osprey.cpu.winograd", "NEVER");
            assertEquals(0, Winograd.fromProperties().tile(op(conv(256, 13, 13, 32, 64, VALID, true,
                    Activation.RELU))));
            System.setProperty("osprey.cpu.winograd", "2x2");
            assertEquals(2, Winograd.fromProperties().tile(op(conv(256, 13, 13, 32, 64, VALID, true,
                    Activation.RELU))));
            System.setProperty("osprey.cpu.winogradAvx512", "maybe");
            e = assertThrows(BackendException.class, Winograd::fromProperties);
            assertTrue(e.getMessage().contains("winogradAvx512: expected true or false, received 'maybe'"),
                    e.getMessage());
            System.setProperty("osprey.cpu.winogradAvx512", "false");
            Winograd.fromProperties();
            assertFalse(Winograd.avx512Copy(), "the AVX2 copy when asked for");
            System.setProperty("osprey.cpu.winogradAvx512", " TRUE ");
            Winograd.fromProperties();
            assertEquals(avx512VlCpu(), Winograd.avx512Copy(), "the AVX-512VL copy wherever the processor has it");
        } finally {
            if (before == null) {
                System.clearProperty("osprey.cpu.winograd");
            } else {
                System.setProperty("osprey.cpu.winograd", before);
            }
            System.clearProperty("osprey.cpu.winogradAvx512");
            Winograd.useAvx512Copy(true);
        }
    }

    @Test
    void theBackendRunsAFittingConvolutionThroughTheKernelAndOthersThroughOneDnn() {
        ConvInference fits = op(conv(2, 8, 8, 16, 16, SAME, true, Activation.RELU));
        assertEquals(4, assertInstanceOf(WinogradConvPlan.class, tiles4.inferenceConv(fits)).tile());
        assertEquals(2, assertInstanceOf(WinogradConvPlan.class, tiles2.inferenceConv(fits)).tile());
        assertEquals(Winograd.avx512Copy() ? "winograd_4x4_3x3:avx512" : "winograd_4x4_3x3:avx2",
                tiles4.inferenceConv(fits).implementation());
        assertInstanceOf(ConvInferencePlan.class, tiles4.inferenceConv(op(conv(2, 8, 8, 12, 16, SAME, true,
                Activation.RELU))));
        ConvInference wide = op(conv(2, 8, 8, 16, 24, SAME, true, Activation.RELU));
        assertEquals(36L * 16 * 24, tiles4.conv2dInferenceKernelSize(wide));
        assertEquals(16L * 16 * 24, tiles2.conv2dInferenceKernelSize(wide));
    }

    @Test
    void itComputesTheConvolutionOnOddShapes() {
        Activation leaky = Activation.relu(4f, 0.1f);
        Activation capped = Activation.relu(0.5f, 0.1f); // many outputs above the cap, many below 0
        Conv2dSpec[] specs = {
            conv(3, 13, 13, 32, 64, VALID, true, Activation.RELU),             // the tutorial CNN's second
            conv(1, 8, 8, 16, 24, SAME, false, Activation.LINEAR),             // 16 + 8 output columns, no bias
            conv(2, 7, 9, 8, 16, SAME, true, Activation.RELU6),                // odd output: cut tiles
            conv(1, 6, 5, 8, 8, new int[] {0, 1, 2, 1}, true, leaky),          // uneven padding
            conv(5, 10, 10, 24, 40, SAME, true, Activation.RELU),              // 125 tiles: short last block
            conv(64, 16, 16, 32, 32, SAME, true, Activation.RELU),             // many blocks over the team
            conv(1, 3, 3, 8, 8, new int[] {2, 2, 2, 2}, true, Activation.LINEAR), // more padding than image
            conv(2, 9, 7, 16, 16, new int[] {3, 0, 1, 4}, true, capped),     // rows of padding only; right > left
        };
        for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
            for (Conv2dSpec s : specs) {
                check(backend, s, false);
                check(backend, s, true);
            }
        }
    }

    @Test
    void itMaxPoolsItsOutputsBeforeStoringThemWhereAPoolingFollows() {
        Conv2dSpec[] specs = {
            conv(3, 13, 13, 32, 64, VALID, true, Activation.RELU),             // the tutorial CNN's second: 11 -> 5
            conv(2, 7, 9, 8, 16, SAME, false, Activation.relu(0.5f, 0.1f)),   // 7x9 -> 3x4, capped and leaky
            conv(1, 10, 6, 24, 40, new int[] {0, 1, 2, 1}, true, Activation.LINEAR), // uneven padding: 10x6 -> 5x3
            conv(5, 4, 4, 16, 16, VALID, true, Activation.RELU),               // 2x2 outputs: one window per image
        };
        for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
            for (Conv2dSpec s : specs) {
                Pool2dSpec pool = new Pool2dSpec(s.batch(), s.outH(), s.outW(), s.filters(), 2, 2, 2, 2, 0, 0, 0, 0);
                assertTrue(backend.fusesMaxPool(s, pool), s.toString());
                ConvInference op = op(s).withMaxPool(pool);
                assertInstanceOf(WinogradConvPlan.class, backend.inferenceConv(op));
                Random r = new Random(s.toString().hashCode() + 9);
                float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
                float[] k = random(r, 9 * s.inC() * s.filters());
                float[] b = random(r, s.filters());
                float[] expected = ReferenceOps.maxPoolForward(pool, ReferenceOps.conv2dForward(s, x, k, s.hasBias()
                        ? b : null));
                assertClose(backend.inferenceConv(op).implementation() + " pooled " + s, expected,
                        run(backend, op, x, k, s.hasBias() ? b : null), 1e-4);
            }
        }
        // a NaN under a window reaches its pooled output
        Conv2dSpec small = conv(1, 8, 8, 16, 16, VALID, true, Activation.RELU); // 6x6 outputs, 3x3 pooled
        Pool2dSpec window = new Pool2dSpec(1, 6, 6, 16, 2, 2, 2, 2, 0, 0, 0, 0);
        float[] x = new float[8 * 8 * 16];
        x[0] = Float.NaN; // pixel (0, 0), channel 0: only output (0, 0) reads it
        float[] k = new float[9 * 16 * 16];
        java.util.Arrays.fill(k, -0.01f); // every other output below 0: a dropped NaN would show as 0
        for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
            float[] y = run(backend, op(small).withMaxPool(window), x, k, new float[16]);
            for (int i = 0; i < 9; i++) {
                for (int c = 0; c < 16; c++) {
                    float v = y[i * 16 + c];
                    assertTrue(i == 0 ? Float.isNaN(v) : v == 0f, "pooled output " + i + " channel " + c + ": " + v);
                }
            }
        }
        // a pooling it does not take, or a layer it leaves to oneDNN: not fused
        Conv2dSpec s = conv(3, 13, 13, 32, 64, VALID, true, Activation.RELU);
        assertFalse(tiles4.fusesMaxPool(s, new Pool2dSpec(3, 11, 11, 64, 3, 3, 2, 2, 0, 0, 0, 0)));
        assertFalse(tiles4.fusesMaxPool(s.withActivation(Activation.SWISH),
                new Pool2dSpec(3, 11, 11, 64, 2, 2, 2, 2, 0, 0, 0, 0)));
        try (CpuBackend never = new CpuBackend(new Winograd(Winograd.Use.NEVER))) {
            Pool2dSpec pool = new Pool2dSpec(3, 11, 11, 64, 2, 2, 2, 2, 0, 0, 0, 0);
            assertFalse(never.fusesMaxPool(s, pool));
            assertThrows(IllegalArgumentException.class, () -> never.inferenceConv(op(s).withMaxPool(pool)),
                    "a pooled op no kernel here runs");
        }
    }

    @Test
    void itIsAboutAsAccurateAsOneDnnsDirectConvolution() {
        Conv2dSpec s = conv(8, 13, 13, 32, 64, VALID, true, Activation.LINEAR);
        Random r = new Random(7);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        float[] b = random(r, s.filters());
        float[] expected = ReferenceOps.conv2dForward(s, x, k, b);
        double largest = 0;
        for (float v : expected) {
            largest = Math.max(largest, Math.abs(v));
        }
        double winograd2 = worstError(expected, run(tiles2, s, x, k, b)) / largest;
        double winograd4 = worstError(expected, run(tiles4, s, x, k, b)) / largest;
        try (CpuBackend never = new CpuBackend(new Winograd(Winograd.Use.NEVER))) {
            double direct = worstError(expected, run(never, s, x, k, b)) / largest;
            // worst errors over the largest output (sums of 288 products of unit normals), measured on AVX2: oneDNN's
            // direct 6.0e-7, 2x2 tiles 2.3e-7 (shorter sums), 4x4 tiles 4.3e-6 (their transforms scale by up to 8 and
            // 1/24); a broken transform is off by whole units
            assertTrue(direct < 5e-6, "the direct convolution's worst relative error " + direct);
            assertTrue(winograd2 < 5e-6, "2x2 tiles' worst relative error " + winograd2 + ", the direct one's "
                    + direct);
            assertTrue(winograd4 < 2e-5, "4x4 tiles' worst relative error " + winograd4 + ", the direct one's "
                    + direct);
        }
    }

    @Test
    void trainingRunsEveryDirectionThroughTheKernelOnOddShapes() {
        Conv2dSpec[] specs = {
            conv(3, 13, 13, 32, 64, VALID, true, Activation.LINEAR),             // backward padded by 2
            conv(2, 7, 9, 8, 16, SAME, false, Activation.RELU),
            conv(1, 6, 5, 16, 24, new int[] {0, 1, 2, 1}, true, Activation.LINEAR), // uneven padding
            conv(5, 10, 10, 24, 40, SAME, true, Activation.relu(0.5f, 0.1f)),
            conv(2, 6, 7, 8, 16, new int[] {1, 0, 1, 2}, true, Activation.LINEAR), // left and right differ
        };
        for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
            for (Conv2dSpec s : specs) {
                WinogradTrainingConv plan = backend.winogradTraining(s);
                assertTrue(plan.forwardTile() != 0 && plan.backwardTile() != 0 && plan.filterTile() != 0,
                        s.toString());
                checkTraining(backend, s, plan.forwardTile() + "x" + plan.forwardTile() + " ");
            }
        }
        // padded by 3: the forward pass through the kernel, backward-data through oneDNN, both right
        Conv2dSpec wide = conv(2, 5, 6, 8, 16, new int[] {3, 3, 3, 3}, true, Activation.LINEAR);
        assertEquals(4, tiles4.winogradTraining(wide).forwardTile());
        assertEquals(0, tiles4.winogradTraining(wide).backwardTile());
        checkTraining(tiles4, wide, "padded by 3 ");
        // bf16 training math, a stride, or padding past 2 stay with oneDNN
        assertEquals(0, tiles4.winogradTraining(conv(2, 8, 8, 16, 16, SAME, true, Activation.RELU)
                .withMath(Precision.BF16)).forwardTile());
        assertEquals(0, tiles4.winogradTraining(new Conv2dSpec(2, 8, 8, 16, 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, 1, 1,
                true, Activation.LINEAR)).backwardTile());
        assertEquals(0, tiles4.winogradTraining(conv(2, 8, 8, 16, 16, new int[] {3, 3, 3, 3}, true,
                Activation.LINEAR)).backwardTile());
    }

    /** Whether this processor has AVX-512F and AVX-512VL, from the kernel's view of /proc/cpuinfo (Linux). */
    private static boolean avx512VlCpu() {
        try {
            String flags = java.nio.file.Files.readAllLines(java.nio.file.Path.of("/proc/cpuinfo")).stream()
                    .filter(l -> l.startsWith("flags")).findFirst().orElse("");
            return flags.matches(".*\\bavx512f\\b.*") && flags.matches(".*\\bavx512vl\\b.*");
        } catch (java.io.IOException e) {
            return false;
        }
    }

    /**
     * The AVX-512VL copy of the kernels (winograd_avx512.c: 512-bit products and transforms) computes every direction
     * to the same bits as the AVX2 copy, in both tile sizes, alone and in an inference plan's op chains (ResNet-20 at
     * batch 1); where the processor lacks AVX-512VL there is only the one copy.
     */
    @Test
    void theAvx512CopyGivesTheSameBitsInEveryDirection() {
        Assumptions.assumeTrue(Winograd.useAvx512Copy(true), "this processor has no AVX-512VL: one copy only");
        Conv2dSpec[] specs = {
            conv(4, 32, 32, 16, 16, SAME, false, Activation.LINEAR), // ResNet-20's first stage
            conv(3, 9, 11, 24, 40, new int[] {0, 1, 2, 1}, true, Activation.RELU),
            // the AVX-512 copy's 512-bit products: 32 columns then 16 then 8, channels by 12 then 8 or 4 (or by 6
            // then 2 or 4 over 32 columns), short rows
            conv(2, 7, 9, 40, 56, SAME, true, Activation.LINEAR),
            conv(2, 7, 9, 32, 48, SAME, true, Activation.RELU), // the filter gradient's 12 + 12 + 8 and 6 x 5 + 2
            conv(3, 8, 8, 64, 64, SAME, false, Activation.RELU),
            conv(1, 5, 6, 48, 16, SAME, true, Activation.relu(0.8f, 0.2f)),   // a capped, leaky ReLU
        };
        try {
            for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
                for (Conv2dSpec s : specs) {
                    assertTrue(backend.winogradTraining(s).forwardTile() != 0, "the kernel runs " + s);
                    assertTrue(Winograd.useAvx512Copy(true));
                    List<float[]> avx512 = allDirections(backend, s);
                    assertFalse(Winograd.useAvx512Copy(false));
                    List<float[]> avx2 = allDirections(backend, s);
                    for (int i = 0; i < avx512.size(); i++) {
                        assertArrayEquals(avx2.get(i), avx512.get(i), 0f, "direction " + i + " of " + s);
                    }
                }
            }
            float[][] predictions = resNet20AtBatch1BothCopies();
            assertArrayEquals(predictions[1], predictions[0], 0f, "ResNet-20 at batch 1, in op chains");
        } finally {
            Winograd.useAvx512Copy(true);
        }
    }

    /**
     * Streaming stores (-Dosprey.cpu.winogradStreamingStores) of a training pass's outputs from 2 MiB on give the bits of
     * stores through the caches in every direction that stores through the output transform: the forward, the input
     * gradient alone, the one-pass backward's input gradient plus an addend, the same with a ReLU gate applied, and the
     * inference path (which never streams). Where the kernels decide: the backend's tensors (64-byte lines) stream at
     * 2 MiB in the AVX-512 copy, not below 2 MiB, not off a line, not with channels in no whole sixteens, not in the AVX2
     * copy, and not when turned off.
     */
    @Test
    void streamingStoresGiveTheBitsOfStoresThroughTheCaches() {
        Conv2dSpec s = conv(32, 32, 32, 16, 16, SAME, false, Activation.LINEAR); // ResNet-20's first stage: 2 MiB maps
        try {
            for (boolean avx512 : new boolean[] {true, false}) {
                boolean wide = Winograd.useAvx512Copy(avx512);
                List<List<float[]>> runs = new ArrayList<>();
                for (boolean streaming : new boolean[] {true, false}) {
                    Winograd.useStreamingStores(streaming);
                    runs.add(storedDirections(tiles4, s, streaming && wide));
                }
                for (int i = 0; i < runs.get(0).size(); i++) {
                    assertArrayEquals(rawBits(runs.get(1).get(i)), rawBits(runs.get(0).get(i)),
                            "direction " + i + (wide ? ", AVX-512 copy" : ", AVX2 copy"));
                }
            }
            Winograd.useStreamingStores(true);
            try (Memory memory = tiles4.newMemory()) {
                long y = ((CpuTensor) memory.allocate(s.outputShape())).pointer().address();
                assertEquals(0, y % 64, "the backend's tensors start on a 64-byte line");
                Assumptions.assumeTrue(Winograd.useAvx512Copy(true), "no AVX-512VL: nothing streams here");
                assertTrue(Winograd.streamsOutput(y, 32, 32, 32, 16), "2 MiB of outputs stream");
                assertFalse(Winograd.streamsOutput(y, 31, 32, 32, 16), "under 2 MiB: through the caches");
                assertFalse(Winograd.streamsOutput(y + 32, 32, 32, 32, 16), "off a line: through the caches");
                assertFalse(Winograd.streamsOutput(y, 32, 32, 32, 24), "channels in no whole sixteens: the caches");
                assertFalse(Winograd.useAvx512Copy(false));
                assertFalse(Winograd.streamsOutput(y, 32, 32, 32, 16), "the AVX2 copy: through the caches");
                assertTrue(Winograd.useAvx512Copy(true));
                Winograd.useStreamingStores(false);
                assertFalse(Winograd.streamsOutput(y, 32, 32, 32, 16), "turned off");
            }
        } finally {
            Winograd.fromProperties(); // the process's own settings back
        }
    }

    /**
     * y of the forward, dx of the input gradient alone, dx and dKernel of the one-pass backward with an addend, dx of
     * the gated one, and the inference path's y; streams: whether the training passes' outputs (each 2 MiB) must
     * stream, checked on each tensor before its pass.
     */
    private static List<float[]> storedDirections(CpuBackend backend, Conv2dSpec s, boolean streams) {
        Random r = new Random(13);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] addend = random(r, x.length), gate = random(r, x.length);
        assertTrue(backend.fusesReluGate(s), "the one-pass backward applies the gate");
        try (Memory memory = backend.newMemory()) {
            Tensor tk = upload(backend, memory, k, s.kernelShape());
            Tensor tx = upload(backend, memory, x, s.inputShape());
            Tensor tdy = upload(backend, memory, dy, s.outputShape());
            Tensor ta = upload(backend, memory, addend, s.inputShape());
            Tensor y = memory.allocate(s.outputShape());
            Tensor alone = memory.allocate(s.inputShape());
            Tensor dx = memory.allocate(s.inputShape()), dk = memory.allocate(s.kernelShape());
            Tensor gated = memory.allocate(s.inputShape()), dk2 = memory.allocate(s.kernelShape());
            for (Tensor t : new Tensor[] {y, alone, dx, gated}) {
                assertEquals(streams, Winograd.streamsOutput(((CpuTensor) t).pointer().address(), s.batch(), 32, 32,
                        16), "whether the training passes stream");
            }
            backend.conv2dForward(s, tx, tk, null, y);
            backend.conv2dBackwardData(s, tdy, tk, alone);
            backend.conv2dBackward(s, tx, tdy, tk, dk, null, ta, dx);
            backend.conv2dBackwardGated(s, tx, tdy, tk, dk2, null, ta, upload(backend, memory, gate, s.inputShape()),
                    gated);
            List<float[]> out = new ArrayList<>();
            for (Tensor t : new Tensor[] {y, alone, dx, dk, gated}) {
                float[] v = new float[Math.toIntExact(t.size())];
                backend.copyOut(t, v, 0);
                out.add(v);
            }
            out.add(run(backend, s, x, k, null));
            return out;
        }
    }

    /** Each value's bits as they are (NaN payloads and the sign of zero included). */
    private static int[] rawBits(float[] values) {
        int[] bits = new int[values.length];
        for (int i = 0; i < values.length; i++) {
            bits[i] = Float.floatToRawIntBits(values[i]);
        }
        return bits;
    }

    /**
     * ResNet-20's predictions for one seeded image through two models of the same weights, each predict's inference
     * plan making its op chains (at batch 1, its Winograd layers run in them) at its first call: the first with the
     * AVX-512VL copy, the second with the AVX2 one.
     */
    private static float[][] resNet20AtBatch1BothCopies() {
        dev.osprey.Shape input = dev.osprey.Shape.of(32, 32, 3);
        dev.osprey.NDArray x = new dev.osprey.NDArray(random(new Random(3), input.size()), input.withBatch(1));
        float[][] predictions = new float[2][];
        try (dev.osprey.Model a = dev.osprey.Models.resNet(20, input, 10);
             dev.osprey.Model b = dev.osprey.Models.resNet(20, input, 10)) {
            a.device(dev.osprey.backend.Device.cpu()).seed(5);
            b.device(dev.osprey.backend.Device.cpu()).seed(6);
            a.build();
            b.buildWith(a.getWeights());
            assertTrue(Winograd.useAvx512Copy(true));
            predictions[0] = a.predict(x, 1).data();
            assertFalse(Winograd.useAvx512Copy(false));
            predictions[1] = b.predict(x, 1).data();
        }
        return predictions;
    }

    /** Forward, backward-data, kernel and bias gradients of s through backend, on seeded data. */
    private static List<float[]> allDirections(CpuBackend backend, Conv2dSpec s) {
        Random r = new Random(11);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        try (Memory memory = backend.newMemory()) {
            Tensor tk = upload(backend, memory, k, s.kernelShape());
            Tensor tx = upload(backend, memory, x, s.inputShape());
            Tensor tdy = upload(backend, memory, dy, s.outputShape());
            Tensor y = memory.allocate(s.outputShape());
            backend.conv2dForward(s, tx, tk, b == null ? null : upload(backend, memory, b, b.length), y);
            Tensor dx = memory.allocate(s.inputShape());
            backend.conv2dBackwardData(s, tdy, tk, dx);
            Tensor dk = memory.allocate(s.kernelShape());
            Tensor db = s.hasBias() ? memory.allocate(s.filters()) : null;
            backend.conv2dBackwardFilter(s, tx, tdy, dk, db);
            List<float[]> out = new ArrayList<>();
            for (Tensor t : new Tensor[] {y, dx, dk, db}) {
                if (t != null) {
                    float[] v = new float[Math.toIntExact(t.size())];
                    backend.copyOut(t, v, 0);
                    out.add(v);
                }
            }
            out.add(run(backend, s, x, k, b)); // the inference path
            out.add(run(backend, new ConvInference(s, true, Precision.FP32), x, k, b, dy)); // with a residual (dy)
            dev.osprey.backend.Pool2dSpec pool = new dev.osprey.backend.Pool2dSpec(
                    dev.osprey.backend.Pool2dSpec.Mode.MAX, s.batch(), s.outH(), s.outW(), s.filters(), 2, 2, 2, 2, 0,
                    0, 0, 0);
            assertTrue(backend.fusesMaxPool(s, pool), "the kernel pools " + s);
            out.add(run(backend, op(s).withMaxPool(pool), x, k, b)); // max-pooled as it stores
            return out;
        }
    }

    /** conv2dForward, conv2dBackwardData and conv2dBackwardFilter through the backend against the reference ones. */
    private static void checkTraining(CpuBackend backend, Conv2dSpec s, String what) {
        Random r = new Random(s.toString().hashCode() + 5);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        for (int i = 0; i < k.length; i++) {
            k[i] /= (float) Math.sqrt(9.0 * s.inC());
        }
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        try (Memory memory = backend.newMemory()) {
            Tensor tk = upload(backend, memory, k, s.kernelShape());
            Tensor y = memory.allocate(s.outputShape());
            backend.conv2dForward(s, upload(backend, memory, x, s.inputShape()), tk,
                    b == null ? null : upload(backend, memory, b, b.length), y);
            float[] actual = new float[Math.toIntExact(y.size())];
            backend.copyOut(y, actual, 0);
            assertClose(what + "forward " + s, ReferenceOps.conv2dForward(s, x, k, b), actual, 1e-4);
            Tensor dx = memory.allocate(s.inputShape());
            backend.conv2dBackwardData(s, upload(backend, memory, dy, s.outputShape()), tk, dx);
            float[] gradient = new float[Math.toIntExact(dx.size())];
            backend.copyOut(dx, gradient, 0);
            assertClose(what + "backward-data " + s, ReferenceOps.conv2dBackwardData(s, dy, k), gradient, 1e-4);
            checkFilterGradient(backend, memory, s, x, dy, what);
        }
    }

    /** conv2dBackwardFilter through the backend against the reference, kernel and bias gradients. */
    private static void checkFilterGradient(CpuBackend backend, Memory memory, Conv2dSpec s, float[] x, float[] dy,
                                            String what) {
        float[][] expected = ReferenceOps.conv2dBackwardFilter(s, x, dy);
        Tensor dk = memory.allocate(s.kernelShape());
        Tensor db = s.hasBias() ? memory.allocate(s.filters()) : null;
        backend.fill(dk, Float.NaN); // every element must be written, not added to
        backend.conv2dBackwardFilter(s, upload(backend, memory, x, s.inputShape()),
                upload(backend, memory, dy, s.outputShape()), dk, db);
        float[] kernelGradient = new float[Math.toIntExact(dk.size())];
        backend.copyOut(dk, kernelGradient, 0);
        assertCloseToLargest(what + "filter gradient " + s, expected[0], kernelGradient);
        if (db != null) {
            float[] biasGradient = new float[s.filters()];
            backend.copyOut(db, biasGradient, 0);
            assertCloseToLargest(what + "bias gradient " + s, expected[1], biasGradient);
        }
    }

    @Test
    void aNanInTheInputReachesTheOutputsItTouchesAsInOneDnn() {
        // a capped ReLU runs the kernel's general activation, a plain one its own short path: both let a NaN through
        for (Activation a : new Activation[] {Activation.relu(6f, 0f), Activation.RELU}) {
            nanReachesTheOutputsThatReadIt(conv(1, 8, 8, 16, 16, SAME, true, a));
        }
    }

    private void nanReachesTheOutputsThatReadIt(Conv2dSpec s) {
        float[] x = new float[8 * 8 * 16];
        x[(3 * 8 + 3) * 16] = Float.NaN; // pixel (3, 3), channel 0: outputs (2..4, 2..4) read it
        float[] k = new float[9 * 16 * 16];
        java.util.Arrays.fill(k, 0.01f);
        float[] b = new float[16];
        for (CpuBackend backend : new CpuBackend[] {tiles2, tiles4}) {
            float[] y = run(backend, s, x, k, b);
            for (int i = 0; i < 8; i++) {
                for (int j = 0; j < 8; j++) {
                    boolean reads = Math.abs(i - 3) <= 1 && Math.abs(j - 3) <= 1;
                    float v = y[(i * 8 + j) * 16];
                    if (reads) {
                        assertTrue(Float.isNaN(v), s.activation() + ": output (" + i + ", " + j + ") reads the NaN, "
                                + "received " + v);
                    }
                }
            }
        }
    }

    /**
     * Where all the tiles fit one micro-kernel row of 6 (batch 1 on ResNet-20's 8x8 maps), the threads share the output
     * channels, in units of 16: 56 channels split unevenly (16 + 40 on two threads, 16 + 16 + 24 on three, the last
     * share ending in an 8-column micro-kernel), with the bias, residual and ReLU; such maps have whole tiles (8x8 in
     * 4x4 tiles), tiles cut by the edge (7x7) and 2x2 tiles (4x4). More tiles are split evenly among the threads, each
     * run ending in a micro-kernel of fewer rows where it is not a multiple of 6, and each thread taking at least a
     * row's worth of tiles: 9 tiles (10x10 in 4x4 tiles: 4 + 5 on two threads or three), 16 (8 + 8, 5 + 5 + 6), 25
     * (12 + 13, 8 + 8 + 9) and 49 (24 + 25, 16 + 16 + 17). Each output goes
     * through the same operations either way, so every team gives a team of one's bits.
     */
    @Test
    void fewTilesShareTheOutputChannelsAmongTheTeamAndGiveTheSameBits() {
        for (int size : new int[] {8, 7, 4, 10, 13}) {
            Conv2dSpec s = conv(1, size, size, 24, 56, SAME, true, Activation.RELU);
            ConvInference op = new ConvInference(s, true, Precision.FP32);
            Random r = new Random(17 + size);
            float[] x = random(r, s.inH() * s.inW() * s.inC());
            float[] k = random(r, 9 * s.inC() * s.filters());
            for (int i = 0; i < k.length; i++) {
                k[i] /= (float) Math.sqrt(9 * s.inC()); // outputs of about the inputs' size
            }
            float[] b = random(r, s.filters());
            float[] add = random(r, s.outH() * s.outW() * s.filters());
            float[] expected = expected(s, x, k, b, add);
            for (int m : new int[] {2, 4}) {
                long tiles = Winograd.tiles(m, 1, s.outH(), s.outW());
                float[] alone = null;
                for (int team : new int[] {1, 2, 3}) {
                    String what = size + "x" + size + " map, " + m + "x" + m + " tiles, " + team + " threads";
                    try (DnnlContext context = new DnnlContext();
                         CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
                         CpuTensor tb = tensor(b, b.length); CpuTensor ta = tensor(add, s.outputShape());
                         CpuTensor y = CpuTensor.allocate(s.outputShape())) {
                        WinogradConvPlan plan = OpenMpTeam.sized(team, () -> new WinogradConvPlan(context, op, m));
                        assertEquals(team, plan.threads(), what);
                        assertEquals(tiles <= 6 && team > 1, plan.sharesOutputChannels(), what);
                        try (CpuTensor prepared = CpuTensor.allocate(new int[] {(int) plan.preparedFloats()})) {
                            plan.prepare(tk, prepared);
                            plan.forward(tx, prepared, tb, ta, y);
                        }
                        float[] actual = new float[expected.length];
                        y.buffer().get(0, actual);
                        assertCloseToLargest(what, expected, actual);
                        if (alone == null) {
                            alone = actual;
                        } else {
                            assertArrayEquals(alone, actual, what);
                        }
                    }
                }
            }
        }
    }

    @Test
    void aTeamOfThreeThreadsSharesTheBlocks() {
        Conv2dSpec s = conv(7, 12, 10, 16, 24, new int[] {1, 1, 2, 0}, true, Activation.RELU);
        ConvInference op = new ConvInference(s, true, Precision.FP32);
        Random r = new Random(11);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        float[] b = random(r, s.filters());
        float[] add = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] expected = expected(s, x, k, b, add);
        for (int m : new int[] {2, 4}) {
            try (DnnlContext context = new DnnlContext();
                 CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
                 CpuTensor tb = tensor(b, b.length); CpuTensor ta = tensor(add, s.outputShape());
                 CpuTensor y = CpuTensor.allocate(s.outputShape())) {
                WinogradConvPlan plan = OpenMpTeam.sized(3, () -> new WinogradConvPlan(context, op, m));
                assertEquals(3, plan.threads());
                try (CpuTensor prepared = CpuTensor.allocate(new int[] {(int) plan.preparedFloats()})) {
                    plan.prepare(tk, prepared);
                    plan.forward(tx, prepared, tb, ta, y);
                }
                float[] actual = new float[expected.length];
                y.buffer().get(0, actual);
                assertClose(m + "x" + m + " tiles on 3 threads", expected, actual, 1e-4);
            }
        }
        // the filter gradient: each thread sums its blocks, then transforms a third of the channels of all three sums
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[][] gradients = ReferenceOps.conv2dBackwardFilter(s, x, dy);
        Conv2dSpec training = s.withActivation(Activation.LINEAR);
        for (Winograd.Use use : new Winograd.Use[] {Winograd.Use.TILE_2X2, Winograd.Use.TILE_4X4}) {
            try (DnnlContext context = new DnnlContext();
                 WinogradTrainingConv plan = OpenMpTeam.sized(3,
                         () -> new WinogradTrainingConv(context, training, new Winograd(use)));
                 CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tdy = tensor(dy, s.outputShape());
                 CpuTensor dk = CpuTensor.allocate(s.kernelShape());
                 CpuTensor db = CpuTensor.allocate(new int[] {s.filters()})) {
                plan.backwardFilter(tx, tdy, dk, db);
                float[] kernelGradient = new float[gradients[0].length];
                dk.buffer().get(0, kernelGradient);
                float[] biasGradient = new float[gradients[1].length];
                db.buffer().get(0, biasGradient);
                assertCloseToLargest(use + " filter gradient on 3 threads", gradients[0], kernelGradient);
                assertCloseToLargest(use + " bias gradient on 3 threads", gradients[1], biasGradient);
            }
        }
    }

    /**
     * Both backward directions in one pass of the kernel (CpuBackend.conv2dBackward) give the bits of the two passes
     * (the filter gradient, then backward-data adding the gradient from the tensor's other readers), on teams of 1, 2
     * and 3 threads, in both tile sizes; and where dx and dy do not tile alike ('valid' padding), the channels are many
     * or the tiles too few to share, the one-pass call declines and the backend runs the two passes.
     */
    @Test
    void bothBackwardDirectionsInOnePassGiveTheBitsOfTheTwoPasses() {
        Conv2dSpec[] fused = {
            conv(4, 32, 32, 16, 16, SAME, false, Activation.LINEAR), // ResNet-20's first stage
            conv(3, 9, 11, 24, 40, SAME, true, Activation.LINEAR),   // edge tiles, an 8-wide column block
            conv(5, 10, 6, 8, 16, new int[] {1, 1, 1, 1}, true, Activation.RELU),
        };
        // both copies of the kernel where the processor has AVX-512VL (the AVX2 one, else)
        boolean[] copies = Winograd.useAvx512Copy(true) ? new boolean[] {true, false} : new boolean[] {false};
        try {
            for (boolean avx512 : copies) {
                assertEquals(avx512, Winograd.useAvx512Copy(avx512));
                for (Winograd.Use use : new Winograd.Use[] {Winograd.Use.TILE_2X2, Winograd.Use.TILE_4X4}) {
                    for (int threads = 1; threads <= 3; threads++) {
                        for (Conv2dSpec s : fused) {
                            for (boolean adding : new boolean[] {false, true}) {
                                String what = (avx512 ? "AVX-512 copy, " : "AVX2 copy, ") + use + " on " + threads
                                        + " thread(s), " + (adding ? "adding, " : "") + s;
                                float[][] oneAndTwo = backwardBothWays(use, threads, s, adding);
                                assertNotNull(oneAndTwo, "one pass declined " + what);
                                for (int i = 0; i < oneAndTwo.length / 2; i++) {
                                    assertArrayEquals(oneAndTwo[2 * i + 1], oneAndTwo[2 * i], 0f,
                                            "output " + i + ", " + what);
                                }
                            }
                        }
                    }
                }
            }
        } finally {
            Winograd.useAvx512Copy(true);
        }
        assertNull(backwardBothWays(Winograd.Use.TILE_4X4, 2, conv(3, 13, 13, 8, 16, VALID, true, Activation.LINEAR),
                false), "dx 2 pixels larger than dy each way: the one pass declines");
        assertNull(backwardBothWays(Winograd.Use.TILE_4X4, 2, conv(1, 8, 8, 32, 32, SAME, false, Activation.LINEAR),
                false), "4 tiles (one 8x8 image), which backward-data shares by channels: the one pass declines");
        assertNull(backwardBothWays(Winograd.Use.TILE_4X4, 2, conv(8, 8, 8, 64, 64, SAME, false, Activation.LINEAR),
                false), "64 x 64 channels, whose kernel and sums crowd the cache: the one pass declines");
        // through the backend's call, a layer it takes in one pass and one it runs in two, against the reference
        Conv2dSpec taken = conv(2, 12, 10, 16, 24, SAME, true, Activation.LINEAR);
        Conv2dSpec declined = conv(2, 13, 13, 8, 16, VALID, true, Activation.LINEAR);
        assertTrue(tiles4.winogradTraining(taken).oneBackwardPass(), "one pass: " + taken);
        assertFalse(tiles4.winogradTraining(declined).oneBackwardPass(), "two passes: " + declined);
        for (Conv2dSpec s : new Conv2dSpec[] {taken, declined}) {
            checkBackwardAgainstReference(tiles4, s);
        }
    }

    /** CpuBackend.conv2dBackward with an addend, against the reference's input gradient plus it and filter gradients. */
    private static void checkBackwardAgainstReference(CpuBackend backend, Conv2dSpec s) {
        Random r = new Random(8);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        for (int i = 0; i < k.length; i++) {
            k[i] /= (float) Math.sqrt(9.0 * s.inC()); // as initializers scale it, so sums stay near 1
        }
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] add = random(r, x.length);
        try (Memory memory = backend.newMemory()) {
            Tensor dx = memory.allocate(s.inputShape());
            Tensor dk = memory.allocate(s.kernelShape());
            Tensor db = memory.allocate(s.filters());
            backend.conv2dBackward(s, upload(backend, memory, x, s.inputShape()), upload(backend, memory, dy,
                    s.outputShape()), upload(backend, memory, k, s.kernelShape()), dk, db,
                    upload(backend, memory, add, s.inputShape()), dx);
            float[] expected = ReferenceOps.conv2dBackwardData(s, dy, k);
            for (int i = 0; i < expected.length; i++) {
                expected[i] += add[i];
            }
            float[] gradient = new float[Math.toIntExact(dx.size())];
            backend.copyOut(dx, gradient, 0);
            assertClose("backward-data plus addend " + s, expected, gradient, 1e-4);
            float[][] filter = ReferenceOps.conv2dBackwardFilter(s, x, dy);
            float[] kernelGradient = new float[Math.toIntExact(dk.size())];
            backend.copyOut(dk, kernelGradient, 0);
            assertCloseToLargest("filter gradient " + s, filter[0], kernelGradient);
            float[] biasGradient = new float[s.filters()];
            backend.copyOut(db, biasGradient, 0);
            assertCloseToLargest("bias gradient " + s, filter[1], biasGradient);
        }
    }

    /**
     * dx, dKernel and dBias (where s has one) of seeded data through a plan of `threads` threads, each computed in one
     * pass then in two (backwardFilter, then backwardData), interleaved: {one, two, one, two, ...}; null where the one
     * pass declined. adding: dx also adds a seeded addend.
     */
    private static float[][] backwardBothWays(Winograd.Use use, int threads, Conv2dSpec s, boolean adding) {
        Random r = new Random(s.toString().hashCode() + threads);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] add = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        try (DnnlContext context = new DnnlContext();
             WinogradTrainingConv plan = OpenMpTeam.sized(threads,
                     () -> new WinogradTrainingConv(context, s, new Winograd(use)));
             CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor tdy = tensor(dy, s.outputShape()); CpuTensor ta = tensor(add, s.inputShape());
             CpuTensor dx1 = CpuTensor.allocate(s.inputShape()); CpuTensor dx2 = CpuTensor.allocate(s.inputShape());
             CpuTensor dk1 = CpuTensor.allocate(s.kernelShape()); CpuTensor dk2 = CpuTensor.allocate(s.kernelShape());
             CpuTensor db1 = CpuTensor.allocate(new int[] {s.filters()});
             CpuTensor db2 = CpuTensor.allocate(new int[] {s.filters()})) {
            assertTrue(plan.backwardTile() != 0 && plan.filterTile() == plan.backwardTile(), "the kernel takes " + s);
            if (!OpenMpTeam.sized(threads, () -> plan.backward(tx, tdy, tk, dk1, s.hasBias() ? db1 : null,
                    adding ? ta : null, null, dx1))) {
                return null;
            }
            OpenMpTeam.sized(threads, () -> {
                plan.backwardFilter(tx, tdy, dk2, s.hasBias() ? db2 : null);
                plan.backwardData(tdy, tk, adding ? ta : null, dx2);
                return null;
            });
            List<float[]> out = new ArrayList<>();
            for (CpuTensor[] pair : s.hasBias() ? new CpuTensor[][] {{dx1, dx2}, {dk1, dk2}, {db1, db2}}
                    : new CpuTensor[][] {{dx1, dx2}, {dk1, dk2}}) {
                for (CpuTensor t : pair) {
                    float[] v = new float[Math.toIntExact(t.size())];
                    t.buffer().get(0, v);
                    out.add(v);
                }
            }
            return out.toArray(new float[0][]);
        }
    }

    /**
     * The one-pass backward with a ReLU gate (the output of the ReLU that wrote x) writes what the backend's own ReLU
     * backward makes of the ungated pass's dx plus the addend (the sum times 0 where the gate is at most 0, so -0 from
     * a negative sum and NaN from an infinite one; the sum where it is above 0 or NaN), bit for bit, on both tile sizes
     * and both instruction sets, gates of every sign, 0, -0, NaN and subnormal; the filter gradient as without the gate.
     */
    @Test
    void theOnePassBackwardAppliesAReluGateAsItStoresDx() {
        Conv2dSpec[] specs = {conv(4, 16, 16, 16, 16, SAME, true, Activation.LINEAR),
            conv(4, 13, 11, 32, 24, SAME, false, Activation.LINEAR)};
        for (Conv2dSpec s : specs) {
            for (Winograd.Use use : new Winograd.Use[] {Winograd.Use.TILE_4X4, Winograd.Use.TILE_2X2}) {
                for (boolean avx512 : new boolean[] {true, false}) {
                    Winograd.useAvx512Copy(avx512);
                    try {
                        gatedBackwardMatches(s, use);
                    } finally {
                        Winograd.useAvx512Copy(true);
                    }
                }
            }
        }
    }

    private static void gatedBackwardMatches(Conv2dSpec s, Winograd.Use use) {
        Random r = new Random(s.toString().hashCode() + use.hashCode());
        int inputs = s.batch() * s.inH() * s.inW() * s.inC();
        float[] x = random(r, inputs);
        float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
        float[] dy = random(r, s.batch() * s.outH() * s.outW() * s.filters());
        float[] add = random(r, inputs);
        float[] gate = random(r, inputs);
        gate[0] = 0f;
        gate[1] = -0f;
        gate[2] = Float.NaN;
        gate[3] = Float.MIN_VALUE;
        add[4] = Float.POSITIVE_INFINITY; // a shut gate makes it NaN (inf * 0), an open one keeps it
        gate[4] = -1f;
        add[5] = Float.NEGATIVE_INFINITY;
        gate[5] = 1f;
        try (DnnlContext context = new DnnlContext();
             WinogradTrainingConv plan = new WinogradTrainingConv(context, s, new Winograd(use));
             CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor tdy = tensor(dy, s.outputShape()); CpuTensor ta = tensor(add, s.inputShape());
             CpuTensor tg = tensor(gate, s.inputShape());
             CpuTensor dx1 = CpuTensor.allocate(s.inputShape()); CpuTensor dx2 = CpuTensor.allocate(s.inputShape());
             CpuTensor dk1 = CpuTensor.allocate(s.kernelShape()); CpuTensor dk2 = CpuTensor.allocate(s.kernelShape());
             CpuTensor db1 = CpuTensor.allocate(new int[] {s.filters()});
             CpuTensor db2 = CpuTensor.allocate(new int[] {s.filters()})) {
            assertTrue(plan.oneBackwardPass(), "the one-pass backward takes " + s + " with " + use + " tiles");
            assertTrue(plan.backward(tx, tdy, tk, dk1, s.hasBias() ? db1 : null, ta, tg, dx1));
            assertTrue(plan.backward(tx, tdy, tk, dk2, s.hasBias() ? db2 : null, ta, null, dx2));
            float[] gated = new float[inputs];
            float[] plain = new float[inputs];
            dx1.buffer().get(0, gated);
            dx2.buffer().get(0, plain);
            float[] byRelu = reluBackwardFromOutput(gate, plain, s.inputShape()); // what the Add's own pass writes
            int zeroed = 0;
            for (int i = 0; i < inputs; i++) {
                zeroed += gate[i] <= 0f ? 1 : 0;
                assertEquals(Float.floatToRawIntBits(byRelu[i]), Float.floatToRawIntBits(gated[i]),
                        s + ", " + use + ", dx[" + i + "] = " + plain[i] + " under gate " + gate[i]
                                + ": the ReLU's backward gives " + byRelu[i] + ", the gated pass " + gated[i]);
            }
            assertTrue(Float.isNaN(gated[4]) && gated[5] == Float.NEGATIVE_INFINITY, "infinite sums: " + gated[4]
                    + ", " + gated[5]);
            assertTrue(zeroed > inputs / 4 && zeroed < inputs * 3 / 4, "about half the gates shut: " + zeroed);
            float[] k1 = new float[Math.toIntExact(dk1.size())];
            float[] k2 = new float[k1.length];
            dk1.buffer().get(0, k1);
            dk2.buffer().get(0, k2);
            assertArrayEquals(k2, k1, 0f, "the filter gradient does not see the gate");
        }
    }

    /** The CPU backend's ReLU backward from the output (what an Add with a ReLU after it runs): dy gated by y. */
    private static float[] reluBackwardFromOutput(float[] y, float[] dy, int... shape) {
        try (CpuBackend backend = new CpuBackend(); Memory memory = backend.newMemory()) {
            Tensor ty = memory.allocate(shape);
            Tensor tdy = memory.allocate(shape);
            Tensor tdx = memory.allocate(shape);
            backend.copyIn(y, 0, ty);
            backend.copyIn(dy, 0, tdy);
            backend.activationBackward(Activation.RELU, null, ty, tdy, tdx);
            float[] out = new float[dy.length];
            backend.copyOut(tdx, out, 0);
            return out;
        }
    }

    @Test
    void kernelTransformsAreTheSameBitsOnAnyTeamAndTheTransposedOneIsTheFlippedKernels() {
        // channel counts below, at and past the size from which the team shares the transform, and a team that
        // outnumbers U's rows in eights (16 input channels: 2 eights, 3 threads)
        int[][] channels = {{8, 16}, {32, 64}, {64, 32}, {16, 128}, {24, 40}};
        Random r = new Random(23);
        for (int[] ck : channels) {
            int c = ck[0];
            int k = ck[1];
            float[] g = random(r, 9 * c * k);
            // the backward-data kernel as a Keras-layout kernel of its own: taps flipped, inputs and outputs swapped
            float[] flipped = new float[g.length];
            for (int tap = 0; tap < 9; tap++) {
                for (int i = 0; i < c; i++) {
                    for (int o = 0; o < k; o++) {
                        flipped[((8 - tap) * k + o) * c + i] = g[(tap * c + i) * k + o];
                    }
                }
            }
            for (int m : new int[] {2, 4}) {
                float[] plain = transform(g, c, k, m, false, 1);
                String what = c + "x" + k + " channels, " + m + "x" + m + " tiles";
                for (int threads : new int[] {2, 3}) {
                    assertArrayEquals(plain, transform(g, c, k, m, false, threads), what + " on " + threads);
                    assertArrayEquals(transform(g, c, k, m, true, 1), transform(g, c, k, m, true, threads),
                            what + ", transposed, on " + threads);
                }
                assertArrayEquals(transform(flipped, k, c, m, false, 1), transform(g, c, k, m, true, 2),
                        what + ": the transposed transform against the plain one of the flipped kernel");
            }
        }
    }

    /** Winograd.prepare (or prepareTransposed) of a Keras-layout c x k kernel on this many threads. */
    private static float[] transform(float[] g, int c, int k, int m, boolean transposed, int threads) {
        try (CpuTensor keras = tensor(g, 3, 3, c, k);
             CpuTensor u = CpuTensor.allocate(new int[] {(m + 2) * (m + 2) * c * k})) {
            if (transposed) {
                Winograd.prepareTransposed(keras.pointer().address(), c, k, m, u.pointer().address(), threads);
            } else {
                Winograd.prepare(keras.pointer().address(), c, k, m, u.pointer().address(), threads);
            }
            float[] out = new float[(m + 2) * (m + 2) * c * k];
            u.buffer().get(0, out);
            return out;
        }
    }

    private static CpuTensor tensor(float[] values, int... shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        t.buffer().put(0, values);
        return t;
    }

    private static float[] run(CpuBackend backend, Conv2dSpec s, float[] x, float[] k, float[] b) {
        return run(backend, op(s), x, k, b);
    }

    /** conv2dInference of op through backend, its kernel prepared as the backend asks; b may be null (none). */
    private static float[] run(CpuBackend backend, ConvInference op, float[] x, float[] k, float[] b) {
        return run(backend, op, x, k, b, null);
    }

    /** As run, adding residual (output-shaped; null for none, as op says) before the activation. */
    private static float[] run(CpuBackend backend, ConvInference op, float[] x, float[] k, float[] b,
                               float[] residual) {
        Conv2dSpec s = op.spec();
        try (Memory memory = backend.newMemory()) {
            long floats = backend.conv2dInferenceKernelSize(op);
            Tensor keras = memory.allocate(s.kernelShape());
            backend.copyIn(k, 0, keras);
            Tensor prepared = keras;
            if (floats > 0) {
                prepared = memory.allocate(Math.toIntExact(floats));
                backend.conv2dPrepareInferenceKernel(op, keras, prepared);
            }
            Tensor tx = memory.allocate(s.inputShape());
            backend.copyIn(x, 0, tx);
            Tensor tb = null;
            if (b != null) {
                tb = memory.allocate(b.length);
                backend.copyIn(b, 0, tb);
            }
            Tensor y = memory.allocate(op.outputShape());
            Tensor tr = residual == null ? null : upload(backend, memory, residual, op.outputShape());
            backend.conv2dInference(op, tx, prepared, tb, tr, y);
            float[] out = new float[Math.toIntExact(y.size())];
            backend.copyOut(y, out, 0);
            return out;
        }
    }

    /**
     * A gradient sums over every tile of the batch, so its rounding grows with its largest element: each error within
     * 5e-5 of that (4x4 tiles measured about 2e-5, a misplaced term is of the order of 1).
     */
    private static void assertCloseToLargest(String what, float[] expected, float[] actual) {
        assertEquals(expected.length, actual.length, what + ": values");
        double largest = 1;
        for (float v : expected) {
            largest = Math.max(largest, Math.abs(v));
        }
        double worst = worstError(expected, actual) / largest;
        assertTrue(worst <= 5e-5, what + ": worst error " + worst + " of the largest element " + largest
                + ", expected at most 5e-5");
    }

    private static double worstError(float[] expected, float[] actual) {
        double worst = 0;
        for (int i = 0; i < expected.length; i++) {
            worst = Math.max(worst, Math.abs((double) expected[i] - actual[i]));
        }
        return worst;
    }

    /** The kernel through the backend against the reference; with a residual added before the activation. */
    private static void check(CpuBackend backend, Conv2dSpec s, boolean residual) {
        ConvInference op = new ConvInference(s, residual, Precision.FP32);
        WinogradConvPlan plan = assertInstanceOf(WinogradConvPlan.class, backend.inferenceConv(op), s.toString());
        Random r = new Random(s.toString().hashCode() + (residual ? 1 : 0));
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        for (int i = 0; i < k.length; i++) { // as He and Glorot initialize them: outputs of about 1
            k[i] /= (float) Math.sqrt(9.0 * s.inC());
        }
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] add = residual ? random(r, s.batch() * s.outH() * s.outW() * s.filters()) : null;
        float[] expected = expected(s, x, k, b, add);
        try (Memory memory = backend.newMemory()) {
            Tensor prepared = memory.allocate(Math.toIntExact(backend.conv2dInferenceKernelSize(op)));
            backend.conv2dPrepareInferenceKernel(op, upload(backend, memory, k, s.kernelShape()), prepared);
            Tensor y = memory.allocate(s.outputShape());
            backend.conv2dInference(op, upload(backend, memory, x, s.inputShape()), prepared,
                    b == null ? null : upload(backend, memory, b, b.length),
                    add == null ? null : upload(backend, memory, add, s.outputShape()), y);
            float[] actual = new float[expected.length];
            backend.copyOut(y, actual, 0);
            // a broken transform or tile edge is off by whole units
            assertClose("Winograd " + plan.tile() + "x" + plan.tile() + " " + s + (residual ? " with a residual" : ""),
                    expected, actual, 1e-4);
        }
    }

    private static float[] expected(Conv2dSpec s, float[] x, float[] k, float[] b, float[] residual) {
        if (residual == null) {
            return ReferenceOps.conv2dForward(s, x, k, b);
        }
        Conv2dSpec linear = new Conv2dSpec(s.batch(), s.inH(), s.inW(), s.inC(), s.filters(), 3, 3, 1, 1, s.padTop(),
                s.padLeft(), s.padBottom(), s.padRight(), 1, 1, 1, s.hasBias(), Activation.LINEAR);
        float[] y = ReferenceOps.conv2dForward(linear, x, k, b);
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) ReferenceOps.activate(s.activation(), (double) y[i] + residual[i]);
        }
        return y;
    }

    private static ConvInference op(Conv2dSpec s) {
        return new ConvInference(s, false, Precision.FP32);
    }

    private static Tensor upload(CpuBackend backend, Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }
}
