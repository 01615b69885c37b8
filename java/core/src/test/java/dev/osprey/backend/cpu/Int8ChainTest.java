package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.InputRange;
import dev.osprey.backend.Memory;
import dev.osprey.backend.OpChain;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.function.Function;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * int8 3x3 passes ({@link Int8ConvPlan}) in an op chain, which runs a stretch of them depth first (each thread takes
 * its images a few at a time through every pass, no barrier between: op_chain.c), compute bit for bit what the same
 * ops compute one at a time, pass after pass: a ResNet stem and first stage on 7 images of 32x31 (3 on one thread, 4
 * on the other), on separate buffers; on buffers the plan reuses in the same layout (the stretch goes on over them);
 * and where a pass writes over an earlier pass's input in another layout (the stretch must end before it: depth
 * first, the first images' output would overwrite the stem's input of later images before the stem read it); and where
 * a pass reads, in another layout, memory an earlier pass of the stretch writes (a residual view half an image into
 * the output before it: the stretch must end there too, or a thread would read images not yet written). Depth
 * first, the two threads run different passes at once, each in its own part of the scratchpad: when each pass took
 * its thread's part by its own size, the stem's part on one thread overlapped a 16-channel pass's on the other, and
 * this test failed in each of 3 tries (it needs maps this size for the passes to overlap in time).
 */
class Int8ChainTest {
    private static final int N = 7;
    private static final int H = 32;
    private static final int W = 31;
    private static final InputRange IMAGES = new InputRange(-1.5f, 2f);
    private static final InputRange ACTIVATIONS = new InputRange(0f, 3f);
    private static CpuBackend backend;

    @BeforeAll
    static void kernelAvailable() {
        NativeKernels.requireInt8Conv3x3();
        org.junit.jupiter.api.Assumptions.assumeTrue(OpenMpTeam.defaultSize() >= 2,
                "one OpenMP thread: a chain runs its passes one after another, never depth first");
        // every pass on the whole team, however small its work, so that the stretch runs on 2 threads from the stem on
        backend = SystemProperties.with("osprey.cpu.minMicrosPerThread", "0", CpuBackend::new);
    }

    @AfterAll
    static void close() {
        if (backend != null) {
            backend.close();
        }
    }

    private static Conv2dSpec conv(int channels) {
        return new Conv2dSpec(N, H, W, channels, 16, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, Activation.RELU);
    }

    /** One pass: its op and operands. */
    private record Op(ConvInference op, Tensor x, Tensor kernel, Tensor bias, Tensor residual, Tensor y) {
    }

    /**
     * The stem (fp32 images in, 8 bits out), a block's two convolutions (the second adding the stem's output) and the
     * next block's first; outputs where outputOf says (by pass index: 0 the stem).
     */
    private static List<Op> stage(Memory memory, Random r, Tensor images, Function<Integer, Tensor> outputOf) {
        ConvInference[] ops = {
            new ConvInference(conv(3), false, Precision.INT8, IMAGES, false, ACTIVATIONS),
            new ConvInference(conv(16), false, Precision.INT8, ACTIVATIONS, true, ACTIVATIONS),
            new ConvInference(conv(16), true, Precision.INT8, ACTIVATIONS, true, ACTIVATIONS)
                    .withResidualRange(ACTIVATIONS),
            new ConvInference(conv(16), false, Precision.INT8, ACTIVATIONS, true, ACTIVATIONS),
        };
        List<Op> out = new ArrayList<>();
        Tensor x = images;
        Tensor stem = null;
        for (int i = 0; i < ops.length; i++) {
            Conv2dSpec s = ops[i].spec();
            assertTrue(Int8ConvPlan.fits(ops[i]), ops[i].toString());
            float[] k = random(r, 9 * s.inC() * 16);
            for (int j = 0; j < k.length; j++) {
                k[j] /= s.inC() < 16 ? 3 : 12;
            }
            Tensor keras = memory.allocate(s.kernelShape());
            backend.copyIn(k, 0, keras);
            Tensor bias = memory.allocate(16);
            backend.copyIn(random(r, 16), 0, bias);
            Tensor y = outputOf.apply(i);
            out.add(new Op(ops[i], x, ConvInferenceRuns.asPlanned(backend, memory, ops[i], keras), bias,
                    ops[i].residual() ? stem : null, y));
            if (i == 0) {
                stem = y;
            }
            x = y;
        }
        return out;
    }

    /** The 8-bit values of an output (N x H x W x 16 bytes at the tensor's start). */
    private static byte[] bytes(Tensor t) {
        byte[] b = new byte[N * H * W * 16];
        new org.bytedeco.javacpp.BytePointer(((CpuTensor) t).pointer()).get(b, 0, b.length);
        return b;
    }

    /** A chain made with -Dosprey.cpu.chainImagesFirst set to imagesFirst, the property restored after. */
    private static OpChain chain(boolean imagesFirst) {
        return SystemProperties.with(CpuOpChain.IMAGES_FIRST_PROPERTY, String.valueOf(imagesFirst), backend::newChain);
    }

    /**
     * The outputs named by check after the passes ran one at a time, then after each of 30 runs of a chain of them
     * (depth first, or pass after pass), the images uploaded into their tensor again before each run.
     */
    private static void compare(String layout, List<Op> ops, Tensor images, float[] pixels, int[] check) {
        for (Op o : ops) { // cleared as before every chained run below (a shifted view may read bytes no pass writes)
            backend.copyIn(new float[Math.toIntExact(o.y().size())], 0, o.y());
        }
        backend.copyIn(pixels, 0, images);
        for (Op o : ops) {
            backend.conv2dInference(o.op(), o.x(), o.kernel(), o.bias(), o.residual(), o.y());
        }
        byte[][] alone = new byte[check.length][];
        for (int i = 0; i < check.length; i++) {
            alone[i] = bytes(ops.get(check[i]).y());
        }
        for (boolean imagesFirst : new boolean[] {true, false}) {
            try (OpChain chain = chain(imagesFirst)) {
                for (Op o : ops) {
                    assertTrue(backend.chainConv2dInference(chain, o.op(), o.x(), o.kernel(), o.bias(), o.residual(),
                            o.y()), "int8 3x3 passes run in chains");
                }
                assertEquals(ops.size(), chain.ops());
                for (Op o : ops) { // what the test is about: a stretch over the images on the whole team
                    assertEquals(OpenMpTeam.defaultSize(), backend.inferenceConv(o.op()).threads(), o.op().toString());
                }
                for (int run = 0; run < 30; run++) {
                    for (Op o : ops) { // cleared: the chain must write every output again
                        backend.copyIn(new float[Math.toIntExact(o.y().size())], 0, o.y());
                    }
                    backend.copyIn(pixels, 0, images);
                    backend.runChain(chain);
                    for (int i = 0; i < check.length; i++) {
                        assertArrayEquals(alone[i], bytes(ops.get(check[i]).y()), layout + ": pass " + check[i]
                                + "'s output, " + (imagesFirst ? "depth first" : "pass after pass") + ", run " + run);
                    }
                }
            }
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"separate", "reused alike", "overwriting the images", "residual read unalike"})
    void aChainOfInt8PassesComputesWhatTheyComputeOneAtATime(String layout) {
        try (Memory memory = backend.newMemory()) {
            Random r = new Random(layout.hashCode());
            float[] pixels = new float[N * H * W * 3];
            for (int i = 0; i < pixels.length; i++) {
                pixels[i] = r.nextFloat() * 3.4f - 1.7f; // past the range at both ends now and then
            }
            // room for 16 channels of 8 bits (4 an element) in case the last pass writes here
            Tensor base = memory.allocate(N * H * W * 16);
            Tensor images = backend.view(base, 0, N, H, W, 3);
            Tensor[] outputs = new Tensor[4];
            Tensor[] roomy = new Tensor[1];
            Function<Integer, Tensor> outputOf = switch (layout) {
                case "separate" -> i -> memory.allocate(N, H, W, 16);
                // the last pass writes where the stem's output was (read by passes 1 and 2 only), laid out alike
                case "reused alike" -> i -> i == 3 ? backend.view(outputs[0], 0, N, H, W, 16)
                        : memory.allocate(N, H, W, 16);
                // the last pass writes over the images, 1,440 bytes an image where they take 1,080
                case "overwriting the images" -> i -> i == 3 ? backend.view(base, 0, N, H, W, 16)
                        : memory.allocate(N, H, W, 16);
                // the first block's first output with room after it for a view half an image further on (below)
                default -> i -> i == 1 ? backend.view(roomy[0] = memory.allocate(N * H * W * 16 + H * W * 16), 0, N,
                        H, W, 16) : memory.allocate(N, H, W, 16);
            };
            Function<Integer, Tensor> recording = i -> outputs[i] = outputOf.apply(i);
            List<Op> ops = stage(memory, r, images, recording);
            if (layout.equals("residual read unalike")) {
                // the block's second convolution adds, in place of the stem's output, 8-bit values that lie half an
                // image into the first's output: its image n is the second half of the first's image n and the first
                // half of its image n + 1. One at a time, the first pass wrote all of them before; depth first, image
                // n + 1 may not be written yet (the next images, or the other thread's), so the stretch must end
                Tensor shifted = backend.view(roomy[0], H * W * 16 / 2 / Float.BYTES, N, H, W, 16);
                assertEquals(0, H * W * 16 / 2 % Float.BYTES, "the view starts half an image of 8-bit values on");
                Op second = ops.get(2);
                ops.set(2, new Op(second.op(), second.x(), second.kernel(), second.bias(), shifted, second.y()));
            }
            compare(layout, ops, images, pixels, layout.startsWith("reused") || layout.startsWith("overwriting")
                    ? new int[] {1, 2, 3} : new int[] {0, 1, 2, 3});
        }
    }

    @org.junit.jupiter.api.Test
    void anUnknownSettingIsRefusedByName() {
        System.setProperty(CpuOpChain.IMAGES_FIRST_PROPERTY, "sometimes");
        try {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class, backend::newChain);
            assertEquals("-Dosprey.cpu.chainImagesFirst: expected true or false, received 'sometimes'",
                    e.getMessage());
        } finally {
            System.clearProperty(CpuOpChain.IMAGES_FIRST_PROPERTY);
        }
    }
}
