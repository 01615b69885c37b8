package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import java.util.Random;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * Osprey's pooled convolution (native/cpu/conv_pool.c): a convolution of few input channels and the 2x2 max pooling
 * after it, as one op, against the plain-Java convolution then pooling.
 */
class PooledConvTest {
    private static CpuBackend backend;

    /** The kernel is built wherever gcc is and runs on AVX2 + FMA (CI has both); elsewhere these tests say why not. */
    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.require(PooledConvPlan.unavailableReason(), "the pooled convolution");
        backend = new CpuBackend();
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static Conv2dSpec conv(int batch, int h, int w, int in, int out, int kernel, int[] pad, boolean bias,
                                   Activation a) {
        return new Conv2dSpec(batch, h, w, in, out, kernel, kernel, 1, 1, pad[0], pad[1], pad[2], pad[3], 1, 1, 1,
                bias, a);
    }

    /** The 2x2 stride-2 unpadded max pooling of s's output. */
    private static Pool2dSpec pool(Conv2dSpec s) {
        return new Pool2dSpec(Pool2dSpec.Mode.MAX, s.batch(), s.outH(), s.outW(), s.filters(), 2, 2, 2, 2, 0, 0, 0, 0);
    }

    private static final int[] VALID = {0, 0, 0, 0};

    @Test
    void itComputesTheConvolutionThenThePoolingOnOddShapes() {
        Conv2dSpec[] specs = {
            conv(3, 28, 28, 1, 32, 3, VALID, true, Activation.RELU),                    // the tutorial CNN's first layer
            conv(1, 13, 12, 1, 8, 3, VALID, false, Activation.LINEAR),                // 11x10: the last row dropped
            conv(2, 9, 11, 3, 24, 3, new int[] {1, 1, 1, 1}, true, Activation.relu(0.8f, 0.2f)), // edges in padding
            conv(2, 10, 7, 4, 40, 5, new int[] {2, 1, 2, 3}, true, Activation.RELU6),  // 5x5, uneven padding
            conv(1, 4, 4, 2, 16, 3, VALID, true, Activation.RELU),                    // 2x2 outputs: one window
        };
        for (Conv2dSpec s : specs) {
            Pool2dSpec p = pool(s);
            assertTrue(backend.fusesMaxPool(s, p), s.toString());
            Random r = new Random(s.toString().hashCode());
            float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
            float[] b = s.hasBias() ? random(r, s.filters()) : null;
            float[] expected = ReferenceOps.maxPoolForward(p, ReferenceOps.conv2dForward(s, x, k, b));
            assertClose(s.toString(), expected, run(s, x, k, b), 1e-5);
        }
    }

    @Test
    void theBackendRunsAPooledOpThroughTheKernelAndPlansItOnce() {
        Conv2dSpec s = conv(2, 28, 28, 1, 32, 3, VALID, true, Activation.RELU);
        ConvInference op = new ConvInference(s, false, Precision.FP32).withMaxPool(pool(s));
        assertInstanceOf(PooledConvPlan.class, backend.inferenceConv(op));
        assertEquals(PooledConvPlan.wide() ? "osprey_conv_maxpool:avx512" : "osprey_conv_maxpool:avx2",
                backend.inferenceConv(op).implementation());
        long before = backend.nativeAllocations();
        backend.inferenceConv(op);
        assertEquals(before, backend.nativeAllocations(), "a second call finds its plan");
    }

    @Test
    void whatTheKernelDoesNotComputeIsLeftToOneDnn() {
        Conv2dSpec s = conv(2, 12, 12, 1, 16, 3, VALID, true, Activation.RELU);
        assertFalse(backend.fusesMaxPool(conv(2, 12, 12, 5, 16, 3, VALID, true, Activation.RELU),
                pool(conv(2, 12, 12, 5, 16, 3, VALID, true, Activation.RELU))), "5 input channels");
        assertFalse(backend.fusesMaxPool(conv(2, 12, 12, 1, 12, 3, VALID, true, Activation.RELU),
                pool(conv(2, 12, 12, 1, 12, 3, VALID, true, Activation.RELU))), "12 output channels");
        assertFalse(backend.fusesMaxPool(s.withActivation(Activation.SWISH), pool(s)));
        assertFalse(backend.fusesMaxPool(s.withMath(Precision.BF16), pool(s)));
        assertFalse(backend.fusesMaxPool(new Conv2dSpec(2, 12, 12, 1, 16, 3, 3, 2, 2, 0, 0, 0, 0, 1, 1, 1, true,
                Activation.RELU), new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 5, 5, 16, 2, 2, 2, 2, 0, 0, 0, 0)), "stride 2");
        assertFalse(backend.fusesMaxPool(s, new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 10, 10, 16, 3, 3, 2, 2, 0, 0, 0, 0)),
                "a 3x3 window");
        assertFalse(backend.fusesMaxPool(s, new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 10, 10, 16, 2, 2, 1, 1, 0, 0, 0, 0)),
                "stride 1");
        assertFalse(backend.fusesMaxPool(s, new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 10, 10, 16, 2, 2, 2, 2, 0, 0, 1, 1)),
                "padded");
        assertFalse(backend.fusesMaxPool(s, new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 2, 10, 10, 16, 2, 2, 2, 2, 0, 0, 0,
                0)), "average pooling");
        assertFalse(backend.fusesMaxPool(s, new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 11, 10, 16, 2, 2, 2, 2, 0, 0, 0, 0)),
                "a pooling of another shape");
        assertThrows(IllegalArgumentException.class, () -> new ConvInference(s, false, Precision.FP32)
                .withMaxPool(new Pool2dSpec(Pool2dSpec.Mode.MAX, 2, 11, 10, 16, 2, 2, 2, 2, 0, 0, 0, 0)));
        assertThrows(IllegalArgumentException.class, () -> new ConvInference(s, true, Precision.FP32)
                .withMaxPool(pool(s)), "with a residual");
        // a backend that fuses nothing refuses a pooled op rather than skipping the pooling
        ConvInference pooled = new ConvInference(s, false, Precision.FP32).withMaxPool(pool(s));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> dev.osprey.backend.Checks.notPooled("conv2dInference", pooled));
        assertTrue(e.getMessage().contains("max pooling"), e.getMessage());
    }

    @Test
    void aNanUnderAWindowReachesItsOutput() {
        Conv2dSpec s = conv(1, 8, 8, 1, 8, 3, VALID, true, Activation.RELU); // 6x6 outputs, 3x3 pooled
        float[] x = new float[64];
        x[0] = Float.NaN; // pixel (0, 0): only convolution output (0, 0) reads it
        float[] k = new float[9 * 8];
        java.util.Arrays.fill(k, -0.01f); // every other output is below 0, so a dropped NaN would show as 0
        float[] y = run(s, x, k, new float[8]);
        for (int i = 0; i < 3 * 3; i++) {
            for (int c = 0; c < 8; c++) {
                float v = y[i * 8 + c];
                assertTrue(i == 0 ? Float.isNaN(v) : v == 0f, "pooled output " + i + " channel " + c + ": " + v);
            }
        }
    }

    @Test
    void aTeamOfThreeThreadsSharesTheRows() {
        Conv2dSpec s = conv(5, 17, 15, 3, 24, 3, new int[] {1, 1, 1, 1}, true, Activation.RELU);
        Pool2dSpec p = pool(s);
        Random r = new Random(7);
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        float[] k = random(r, 9 * s.inC() * s.filters());
        float[] b = random(r, s.filters());
        float[] expected = ReferenceOps.maxPoolForward(p, ReferenceOps.conv2dForward(s, x, k, b));
        ConvInference op = new ConvInference(s, false, Precision.FP32).withMaxPool(p);
        PooledConvPlan plan = OpenMpTeam.sized(3, () -> new PooledConvPlan(op));
        assertEquals(3, plan.threads());
        try (CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor tb = tensor(b, b.length); CpuTensor y = CpuTensor.allocate(p.outputShape())) {
            plan.forward(tx, tk, tb, null, y);
            float[] actual = new float[expected.length];
            y.buffer().get(0, actual);
            assertClose("3 threads", expected, actual, 1e-5);
        }
    }

    /**
     * Where the processor has AVX-512F, the kernel's 512-bit path (32 channels, then 16, then 8 in 256 bits) gives the
     * bits of its 256-bit path, on every kind of window, channel count and activation.
     */
    @Test
    void the512BitPathGivesTheBitsOfThe256BitPath() {
        org.junit.jupiter.api.Assumptions.assumeTrue(PooledConvPlan.wide(),
                "this processor has no AVX-512F: one path only");
        Conv2dSpec[] specs = {
            conv(3, 28, 28, 1, 32, 3, VALID, true, Activation.RELU),                    // the tutorial CNN's first layer
            // 32 + 16 + 8 channels, windows over the padding
            conv(2, 9, 11, 3, 56, 3, new int[] {1, 1, 1, 1}, true, Activation.relu(0.8f, 0.2f)),
            conv(2, 10, 7, 4, 40, 5, new int[] {2, 1, 2, 3}, false, Activation.RELU6),  // 32 + 8, uneven padding
            conv(1, 8, 8, 2, 16, 3, VALID, true, Activation.LINEAR),                  // 16 alone
        };
        for (Conv2dSpec s : specs) {
            Pool2dSpec p = pool(s);
            Random r = new Random(s.toString().hashCode());
            float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
            x[x.length / 2] = Float.NaN; // a NaN reaches its windows' outputs in both
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
            float[] b = s.hasBias() ? random(r, s.filters()) : null;
            ConvInference op = new ConvInference(s, false, Precision.FP32).withMaxPool(p);
            float[][] out = new float[2][];
            for (int i = 0; i < 2; i++) {
                PooledConvPlan plan = new PooledConvPlan(op, i == 0);
                assertEquals(i == 0 ? "osprey_conv_maxpool:avx512" : "osprey_conv_maxpool:avx2", plan.implementation());
                try (CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
                     CpuTensor tb = b == null ? null : tensor(b, b.length);
                     CpuTensor y = CpuTensor.allocate(p.outputShape())) {
                    plan.forward(tx, tk, tb, null, y);
                    out[i] = new float[Math.toIntExact(y.size())];
                    y.buffer().get(0, out[i]);
                }
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(out[1], out[0], 0f, s.toString());
        }
    }

    /**
     * In an int8 plan the pair may hand its pooled map over in 8 bits: each value the fp32 op gives, times the inverse
     * of the readers' scale, rounded to nearest even and saturated, unsigned or signed, on both vector paths; the
     * output channels at most MAX_QUANTIZED_CHANNELS.
     */
    @Test
    void anEightBitPooledOutputIsTheFp32OneMappedByTheReadersRange() {
        Conv2dSpec[] specs = {
            conv(3, 28, 28, 1, 32, 3, VALID, true, Activation.RELU),                    // the tutorial CNN's first layer
            conv(2, 9, 11, 3, 56, 3, new int[] {1, 1, 1, 1}, true, Activation.LINEAR), // 32 + 16 + 8 channels, signed
        };
        for (Conv2dSpec s : specs) {
            Pool2dSpec p = pool(s);
            Random r = new Random(s.toString().hashCode());
            float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
            float[] b = random(r, s.filters());
            ConvInference fp32 = new ConvInference(s, false, Precision.FP32).withMaxPool(p);
            float largest = 0;
            for (float v : outputs(new PooledConvPlan(fp32, false), s, p, x, k, b)) {
                largest = Math.max(largest, Math.abs(v));
            }
            // a range that clips the largest values: ReLU's outputs unsigned, linear ones signed
            dev.osprey.backend.InputRange range = s.activation().kind() == Activation.Kind.RELU
                    ? new dev.osprey.backend.InputRange(0f, 0.7f * largest)
                    : new dev.osprey.backend.InputRange(-0.7f * largest, 0.5f * largest);
            ConvInference bytes = new ConvInference(s, false, Precision.FP32, null, false, range).withMaxPool(p);
            assertTrue(bytes.quantizedOutput());
            for (boolean wide : new boolean[] {false, true}) {
                if (wide && !PooledConvPlan.wide()) {
                    continue;
                }
                float[] real = outputs(new PooledConvPlan(fp32, wide), s, p, x, k, b);
                byte[] q = new byte[real.length];
                try (CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
                     CpuTensor tb = tensor(b, b.length); CpuTensor y = CpuTensor.allocate(p.outputShape())) {
                    new PooledConvPlan(bytes, wide).forward(tx, tk, tb, null, y);
                    new org.bytedeco.javacpp.BytePointer(y.pointer()).get(q, 0, q.length);
                }
                float inverse = 1f / range.scale();
                int saturated = 0;
                for (int i = 0; i < real.length; i++) {
                    long expected = Math.round(Math.rint(real[i] * inverse));
                    expected = Math.max(range.unsigned() ? 0 : -128, Math.min(range.unsigned() ? 255 : 127, expected));
                    saturated += expected == 255 || expected == 127 || expected == -128 ? 1 : 0;
                    int actual = range.unsigned() ? q[i] & 0xff : q[i];
                    assertEquals(expected, actual, s + (wide ? " 512-bit" : " 256-bit") + ": output " + i + " = "
                            + real[i]);
                }
                assertTrue(saturated > 0 && saturated < real.length / 2, s + ": " + saturated + " saturated: the "
                        + "range should clip some values, not most");
            }
        }
        Conv2dSpec wide = conv(1, 8, 8, 1, PooledConvPlan.MAX_QUANTIZED_CHANNELS + 8, 3, VALID, true, Activation.RELU);
        ConvInference tooWide = new ConvInference(wide, false, Precision.FP32, null, false,
                new dev.osprey.backend.InputRange(0f, 1f)).withMaxPool(pool(wide));
        assertThrows(IllegalArgumentException.class, () -> new PooledConvPlan(tooWide));
        assertFalse(backend.keepsFp32InInt8(wide, pool(wide)), "an int8 plan keeps no such layer in fp32");
    }

    /**
     * In int8 (VNNI): the input mapped onto 8 bits by its range (x times the inverse of its scale, rounded to nearest
     * even, saturated: the ranges here clip the largest inputs; unsigned for a range never negative, else signed, which
     * the kernel stores plus 128 and corrects for), the kernel onto signed 8 bits per output channel, the products
     * summed exactly, the window's largest sum scaled, the bias and activation after: against the same arithmetic in
     * plain Java, with fp32, unsigned and signed 8-bit outputs, one to four input channels (a kernel row's taps ending
     * inside a 4-byte group, whose other bytes must weigh nothing), padding (which holds the value 0 either way); the
     * one-group 3-row kernels of 16 and 32 outputs (the tutorial CNN's first layer) take their own path, here too.
     */
    @Test
    void inInt8ItSumsTheMappedProductsExactly() {
        dev.osprey.backend.InputRange image = new dev.osprey.backend.InputRange(0f, 1f);
        dev.osprey.backend.InputRange signed = new dev.osprey.backend.InputRange(-0.8f, 1f);
        Conv2dSpec first = conv(3, 28, 28, 1, 32, 3, VALID, true, Activation.RELU);
        org.junit.jupiter.api.Assumptions.assumeTrue(PooledConvPlan.int8Fits(first, pool(first), image),
                "this processor has no VNNI (or the library is missing): the int8 pooled kernel does not run here");
        Conv2dSpec[] specs = {
            first,                                                                      // the tutorial CNN's first layer
            conv(2, 9, 11, 3, 48, 3, new int[] {1, 1, 1, 1}, true, Activation.relu(0.8f, 0.2f)), // 9 taps a row
            conv(2, 10, 7, 4, 16, 5, new int[] {2, 1, 2, 3}, false, Activation.RELU6),  // 20 taps a row, uneven padding
            conv(1, 8, 9, 2, 32, 3, VALID, true, Activation.LINEAR),
            // one 4-byte group a kernel row, 3 rows, 16 or 32 outputs: the path that keeps the kernel in registers
            conv(2, 9, 12, 1, 16, 3, new int[] {1, 1, 1, 1}, false, Activation.relu(0.8f, 0.2f)), // padding
            conv(1, 11, 10, 1, 32, 3, VALID, false, Activation.LINEAR),
            conv(2, 10, 8, 1, 32, 3, new int[] {0, 1, 0, 1}, true, Activation.RELU),   // the tutorial's, into u8
        };
        dev.osprey.backend.InputRange[] outputs = {null, new dev.osprey.backend.InputRange(0f, 2f),
            new dev.osprey.backend.InputRange(0f, 3f), new dev.osprey.backend.InputRange(-2f, 2f),
            new dev.osprey.backend.InputRange(-2f, 2f), new dev.osprey.backend.InputRange(0f, 3f),
            new dev.osprey.backend.InputRange(0f, 2f)};
        for (int i = 0; i < 2 * specs.length; i++) {
            Conv2dSpec s = specs[i % specs.length];
            Pool2dSpec p = pool(s);
            dev.osprey.backend.InputRange out = outputs[i % specs.length];
            dev.osprey.backend.InputRange in = i < specs.length ? image : signed;
            Random r = new Random(s.toString().hashCode() + i);
            float[] x = new float[s.batch() * s.inH() * s.inW() * s.inC()];
            for (int j = 0; j < x.length; j++) { // past the range at both ends now and then: saturated
                x[j] = in.unsigned() ? r.nextFloat() * 1.2f : (r.nextFloat() * 2.6f - 1.3f);
            }
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
            float[] b = s.hasBias() ? random(r, s.filters()) : null;
            ConvInference op = new ConvInference(s, false, Precision.INT8, in, false, out).withMaxPool(p);
            try (CpuTensor tx = tensor(x, s.inputShape())) {
                assertInt8Outputs(op, tx, k, b, int8Reference(s, p, x, null, k, b, in, out));
            }
        }
        assertFalse(PooledConvPlan.int8Fits(conv(1, 8, 8, 1, 24, 3, VALID, true, Activation.RELU),
                pool(conv(1, 8, 8, 1, 24, 3, VALID, true, Activation.RELU)), image), "24 output channels");
        assertFalse(PooledConvPlan.int8Fits(first, pool(first), null), "no calibrated range");
    }

    /**
     * In int8, a convolution of more channels (in fours, up to 64) whose input an int8 layer hands over in 8 bits: the
     * bytes read as they are (signed ones too), summed over 32 channels' 4-byte groups; output channels in 64s, 32s
     * and 16s; against the plain-Java arithmetic. The tutorial CNN's second convolution and its pooling among them.
     */
    @Test
    void inInt8ItTakesEightBitInputsAsTheyAreOnMoreChannels() {
        dev.osprey.backend.InputRange unsigned = new dev.osprey.backend.InputRange(0f, 2f);
        dev.osprey.backend.InputRange signed = new dev.osprey.backend.InputRange(-1.5f, 2f);
        Conv2dSpec second = conv(2, 13, 13, 32, 64, 3, VALID, true, Activation.RELU); // the tutorial CNN's second layer
        org.junit.jupiter.api.Assumptions.assumeTrue(PooledConvPlan.int8Fits(second, pool(second), unsigned),
                "this processor has no VNNI (or the library is missing): the int8 pooled kernel does not run here");
        Conv2dSpec[] specs = {
            second,
            conv(1, 9, 10, 8, 80, 3, new int[] {1, 1, 1, 1}, true, Activation.LINEAR), // 64 + 16 channels, padding
            conv(2, 6, 7, 64, 48, 3, new int[] {1, 0, 1, 2}, false, Activation.RELU6), // 32 + 16, 64 input channels
        };
        dev.osprey.backend.InputRange[] inputs = {unsigned, signed, signed};
        dev.osprey.backend.InputRange[] outputs = {new dev.osprey.backend.InputRange(0f, 3f),
            new dev.osprey.backend.InputRange(-4f, 4f), null};
        for (int i = 0; i < specs.length; i++) {
            Conv2dSpec s = specs[i];
            Pool2dSpec p = pool(s);
            dev.osprey.backend.InputRange in = inputs[i];
            dev.osprey.backend.InputRange out = outputs[i];
            Random r = new Random(s.toString().hashCode());
            byte[] x = new byte[s.batch() * s.inH() * s.inW() * s.inC()];
            r.nextBytes(x);
            float[] k = random(r, s.kernelH() * s.kernelW() * s.inC() * s.filters());
            for (int j = 0; j < k.length; j++) {
                k[j] /= 8; // keep the sums of many channels within the output ranges, mostly
            }
            float[] b = s.hasBias() ? random(r, s.filters()) : null;
            ConvInference op = new ConvInference(s, false, Precision.INT8, in, true, out).withMaxPool(p);
            assertTrue(op.quantizedInput());
            try (CpuTensor tx = CpuTensor.allocate(new int[] {x.length})) {
                new org.bytedeco.javacpp.BytePointer(tx.pointer()).put(x, 0, x.length);
                assertInt8Outputs(op, tx, k, b, int8Reference(s, p, null, x, k, b, in, out));
            }
        }
        assertFalse(PooledConvPlan.int8Fits(conv(1, 8, 8, 6, 16, 3, VALID, true, Activation.RELU),
                pool(conv(1, 8, 8, 6, 16, 3, VALID, true, Activation.RELU)), unsigned), "6 input channels");
        assertFalse(PooledConvPlan.int8Fits(conv(1, 8, 8, 68, 16, 3, VALID, true, Activation.RELU),
                pool(conv(1, 8, 8, 68, 16, 3, VALID, true, Activation.RELU)), unsigned), "68 input channels");
    }

    /**
     * op (int8, pooled) on input x through the backend's plan and through plans on teams of 1 and 3 threads (rows of an
     * image split between threads, each with its own scratch): every output exactly expected (fp32 values, or 8-bit
     * steps widened to floats), since the kernel and int8Reference take the same operations in the same order.
     */
    private static void assertInt8Outputs(ConvInference op, CpuTensor x, float[] k, float[] b, float[] expected) {
        Conv2dSpec s = op.spec();
        Pool2dSpec p = op.maxPool();
        InferenceConv chosen = backend.inferenceConv(op);
        assertEquals("osprey_conv_maxpool_int8:avx512_core_vnni", chosen.implementation(), op.toString());
        for (int team : new int[] {0, 1, 3}) {
            PooledConvPlan own = team == 0 ? null : OpenMpTeam.sized(team, () -> new PooledConvPlan(op));
            InferenceConv plan = own == null ? chosen : own;
            float[] actual = new float[expected.length];
            try (CpuTensor tk = tensor(k, s.kernelShape());
                 CpuTensor prepared = CpuTensor.allocate(new int[] {Math.toIntExact(plan.preparedFloats())});
                 CpuTensor tb = b == null ? null : tensor(b, b.length);
                 CpuTensor y = CpuTensor.allocate(p.outputShape())) {
                plan.prepare(tk, prepared);
                plan.forward(x, prepared, tb, null, y);
                if (!op.quantizedOutput()) {
                    y.buffer().get(0, actual);
                } else {
                    byte[] q = new byte[actual.length];
                    new org.bytedeco.javacpp.BytePointer(y.pointer()).get(q, 0, q.length);
                    for (int j = 0; j < q.length; j++) {
                        actual[j] = op.outputRange().unsigned() ? q[j] & 0xff : q[j];
                    }
                }
            } finally {
                if (own != null) {
                    own.close();
                }
            }
            org.junit.jupiter.api.Assertions.assertArrayEquals(expected, actual, 0f, op + " on "
                    + (team == 0 ? "the backend's team" : team + " threads"));
        }
    }

    /**
     * The int8 pooled kernel's arithmetic in plain Java (see inInt8ItSumsTheMappedProductsExactly): x mapped onto 8
     * bits by in, or bytes, the 8-bit input as it is (x null).
     */
    private static float[] int8Reference(Conv2dSpec s, Pool2dSpec p, float[] x, byte[] bytes, float[] k, float[] b,
                                         dev.osprey.backend.InputRange in, dev.osprey.backend.InputRange out) {
        int c = s.inC(), kk = s.filters(), taps = s.kernelH() * s.kernelW() * c;
        float inverse = 1f / in.scale();
        int[] qx = new int[x != null ? x.length : bytes.length];
        for (int i = 0; i < qx.length; i++) {
            qx[i] = x == null ? (in.unsigned() ? bytes[i] & 0xff : bytes[i])
                    : (int) Math.max(in.unsigned() ? 0 : -128, Math.min(in.unsigned() ? 255 : 127,
                            Math.rint(x[i] * inverse)));
        }
        float[] ws = new float[kk];
        int[] qw = new int[k.length];
        for (int o = 0; o < kk; o++) {
            float largest = 0;
            for (int t = 0; t < taps; t++) {
                largest = Math.max(largest, Math.abs(k[t * kk + o]));
            }
            ws[o] = largest == 0 ? 1f : largest / InferenceOperands.WEIGHT_LEVELS;
            for (int t = 0; t < taps; t++) {
                qw[t * kk + o] = (int) Math.max(-127, Math.min(127, Math.rint(k[t * kk + o] / ws[o])));
            }
        }
        float yInverse = out == null ? 1f : 1f / out.scale();
        Activation a = s.activation();
        float[] y = new float[s.batch() * p.outH() * p.outW() * kk];
        for (int n = 0; n < s.batch(); n++) {
            for (int py = 0; py < p.outH(); py++) {
                for (int px = 0; px < p.outW(); px++) {
                    for (int o = 0; o < kk; o++) {
                        long best = Long.MIN_VALUE;
                        for (int dy = 0; dy < 2; dy++) {
                            for (int dx = 0; dx < 2; dx++) {
                                long sum = 0;
                                for (int i = 0; i < s.kernelH(); i++) {
                                    for (int j = 0; j < s.kernelW(); j++) {
                                        int yy = 2 * py + dy + i - s.padTop(), xx = 2 * px + dx + j - s.padLeft();
                                        if (yy < 0 || xx < 0 || yy >= s.inH() || xx >= s.inW()) {
                                            continue;
                                        }
                                        for (int ch = 0; ch < c; ch++) {
                                            sum += (long) qx[((n * s.inH() + yy) * s.inW() + xx) * c + ch]
                                                    * qw[((i * s.kernelW() + j) * c + ch) * kk + o];
                                        }
                                    }
                                }
                                best = Math.max(best, sum);
                            }
                        }
                        // the real value: sums times both scales, the bias in one multiply-add, the activation
                        float scale = ws[o] * in.scale();
                        float v = b != null ? Math.fma((float) best, scale, b[o]) : (float) best * scale;
                        if (a.kind() == Activation.Kind.RELU) {
                            v = v < 0 ? v * a.alpha() : Math.min(v, a.maxValue());
                        }
                        int at = ((n * p.outH() + py) * p.outW() + px) * kk + o;
                        // 8 bits: times the inverse of the readers' scale, clamped, rounded to nearest even
                        y[at] = out == null ? v : (float) Math.rint(Math.max(out.unsigned() ? 0f : -128f,
                                Math.min(out.unsigned() ? 255f : 127f, v * yInverse)));
                    }
                }
            }
        }
        return y;
    }

    private static float[] outputs(PooledConvPlan plan, Conv2dSpec s, Pool2dSpec p, float[] x, float[] k, float[] b) {
        try (CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor tb = tensor(b, b.length); CpuTensor y = CpuTensor.allocate(p.outputShape())) {
            plan.forward(tx, tk, tb, null, y);
            float[] out = new float[Math.toIntExact(y.size())];
            y.buffer().get(0, out);
            return out;
        }
    }

    private static CpuTensor tensor(float[] values, int... shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        t.buffer().put(0, values);
        return t;
    }

    /** conv2dInference of the pooled op through the backend. */
    private static float[] run(Conv2dSpec s, float[] x, float[] k, float[] b) {
        ConvInference op = new ConvInference(s, false, Precision.FP32).withMaxPool(pool(s));
        try (Memory memory = backend.newMemory()) {
            Tensor tx = memory.allocate(s.inputShape());
            backend.copyIn(x, 0, tx);
            Tensor tk = memory.allocate(s.kernelShape());
            backend.copyIn(k, 0, tk);
            Tensor tb = null;
            if (b != null) {
                tb = memory.allocate(b.length);
                backend.copyIn(b, 0, tb);
            }
            Tensor y = memory.allocate(op.outputShape());
            assertEquals(0, backend.conv2dInferenceKernelSize(op), "Keras' layout, as it is");
            backend.conv2dInference(op, tx, tk, tb, null, y);
            float[] out = new float[Math.toIntExact(y.size())];
            backend.copyOut(y, out, 0);
            return out;
        }
    }
}
