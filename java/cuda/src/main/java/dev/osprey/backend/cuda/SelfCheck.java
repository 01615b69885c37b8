package dev.osprey.backend.cuda;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.ResidentData;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;

/**
 * A few small ops with answers computed here in plain Java, run when a GPU backend opens: a wrong layout or
 * transpose (the easy mistakes on a GPU path) then fails loudly at start instead of training garbage.
 * Tolerance 1e-2 relative covers TF32's 10-bit mantissa on these small sums. Also checks the device-resident
 * data path. The same dense layer and convolution in bf16 ({@link #bf16}) decide, once, whether mixed_bfloat16 runs
 * on this GPU: the answers are computed from the bf16-rounded operands, and 1e-2 covers cuDNN's bf16 outputs too.
 */
final class SelfCheck {
    private static final double TOLERANCE = 1e-2;

    private SelfCheck() {
    }

    static void run(Backend b) {
        try (Memory memory = b.newMemory()) {
            float[] x = {1, 2, 3, 4, -1, 0, 1, 2, 0.5f, 0.5f, -2, 1};
            float[] k = {0.1f, -0.2f, 0.3f, 0.4f, -0.5f, 0.6f, 0.7f, -0.8f}; // (in 4, units 2)
            dense(b, memory, new DenseSpec(3, 4, 2, Activation.RELU), x, k, new float[] {0.05f, -0.05f});
            float[] image = new float[32];
            float[] kernel = new float[54];
            for (int i = 0; i < image.length; i++) {
                image[i] = (i % 7) - 3;
            }
            for (int i = 0; i < kernel.length; i++) {
                kernel[i] = ((i * 5) % 11 - 5) / 10f;
            }
            convolution(b, memory, new Conv2dSpec(1, 4, 4, 2, 3, 3, 3, 1, 1, 0, 0, 0, 0, Activation.LINEAR), image,
                    kernel, new float[] {0.5f, -0.5f, 0f});
            residentGather(b, memory);
        }
    }

    /**
     * Null when a dense layer and a convolution with bf16 math (mixed_bfloat16) give the right answers here on bf16
     * products, else why not, in one line: cuDNN may refuse bf16 tensors on some builds and GPUs. Their channel and
     * unit counts are multiples of 8, as tensor cores take them; fallbacks counts the convolutions that asked for bf16
     * and multiply in fp32 (which this check's must not).
     */
    static String bf16(Backend b, java.util.function.LongSupplier fallbacks) {
        long before = fallbacks.getAsLong();
        try (Memory memory = b.newMemory()) {
            dense(b, memory, new DenseSpec(8, 16, 8, Activation.RELU).withMath(Precision.BF16), values(128, 1),
                    values(128, 2), values(8, 3));
            Conv2dSpec conv = new Conv2dSpec(2, 6, 6, 8, 8, 3, 3, 1, 1, 1, 1, 1, 1, Activation.LINEAR)
                    .withMath(Precision.BF16);
            convolution(b, memory, conv, values(2 * 6 * 6 * 8, 4), values(3 * 3 * 8 * 8, 5), values(8, 6));
        } catch (BackendException e) {
            return "bf16 products failed their check on this GPU: " + e.getMessage();
        }
        return fallbacks.getAsLong() == before ? null
                : "cuDNN has no bf16 algorithm on this GPU even for a 3x3 convolution of 8 channels";
    }

    /** n values in [-1, 1) by a fixed formula (salt varies them), each a multiple of 1/50. */
    private static float[] values(int n, int salt) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ((i * 37 + salt * 11) % 101) / 50.0f - 1.0f;
        }
        return v;
    }

    /** x as the products see it: rounded to the nearest bfloat16 (ties to even) under bf16 math. */
    private static float operand(float x, Precision math) {
        if (math != Precision.BF16) {
            return x;
        }
        int bits = Float.floatToRawIntBits(x);
        return Float.intBitsToFloat((bits + 0x7fff + ((bits >>> 16) & 1)) & 0xffff0000);
    }

    /** Three samples held on the device as byte codes, gathered in a shuffled order, with their targets. */
    private static void residentGather(Backend b, Memory memory) {
        float[] x = {0f, 1f / 255, 2f / 255, 1f, 0.5f, 0.25f};
        float[] targets = {1, 0, 0, 1, 1, 0};
        try (ResidentData data = b.keepResident(x, 2, targets, 2)) {
            Tensor xs = memory.allocate(2, 2);
            Tensor ts = memory.allocate(2, 2);
            data.startEpoch(new int[] {2, 0, 1});
            data.gather(1, 2, xs, ts);
            compare("resident data gather (samples)", new float[] {0f, 1f / 255, 2f / 255, 1f}, download(b, xs));
            compare("resident data gather (targets)", new float[] {1, 0, 0, 1}, download(b, ts));
        }
    }

    /** The dense layer s (its activation ReLU or linear) against a sum in double here, of the operands as rounded. */
    private static void dense(Backend b, Memory memory, DenseSpec s, float[] x, float[] k, float[] bias) {
        int in = s.inFeatures();
        int units = s.units();
        float[] expected = new float[s.batch() * units];
        for (int n = 0; n < s.batch(); n++) {
            for (int u = 0; u < units; u++) {
                double acc = bias[u];
                for (int i = 0; i < in; i++) {
                    acc += operand(x[n * in + i], s.math()) * operand(k[i * units + u], s.math());
                }
                expected[n * units + u] = (float) (s.activation().kind() == Activation.Kind.RELU ? Math.max(0, acc) : acc);
            }
        }
        Tensor y = memory.allocate(s.outputShape());
        b.denseForward(s, upload(b, memory, x, s.inputShape()), upload(b, memory, k, s.kernelShape()),
                upload(b, memory, bias, units), y);
        compare("dense forward (" + s.math() + ")", expected, download(b, y));
    }

    /** The convolution s (stride 1, linear, one group, with bias) against a sum in double here, zero-padded. */
    private static void convolution(Backend b, Memory memory, Conv2dSpec s, float[] x, float[] k, float[] bias) {
        int inC = s.inC();
        int filters = s.filters();
        float[] expected = new float[s.batch() * s.outH() * s.outW() * filters];
        for (int n = 0; n < s.batch(); n++) {
            for (int i = 0; i < s.outH(); i++) {
                for (int j = 0; j < s.outW(); j++) {
                    for (int f = 0; f < filters; f++) {
                        double acc = bias[f];
                        for (int u = 0; u < s.kernelH(); u++) {
                            for (int v = 0; v < s.kernelW(); v++) {
                                int row = i + u - s.padTop();
                                int col = j + v - s.padLeft();
                                if (row < 0 || row >= s.inH() || col < 0 || col >= s.inW()) {
                                    continue;
                                }
                                for (int c = 0; c < inC; c++) {
                                    acc += operand(x[((n * s.inH() + row) * s.inW() + col) * inC + c], s.math())
                                            * operand(k[((u * s.kernelW() + v) * inC + c) * filters + f], s.math());
                                }
                            }
                        }
                        expected[((n * s.outH() + i) * s.outW() + j) * filters + f] = (float) acc;
                    }
                }
            }
        }
        Tensor y = memory.allocate(s.outputShape());
        b.conv2dForward(s, upload(b, memory, x, s.inputShape()), upload(b, memory, k, s.kernelShape()),
                upload(b, memory, bias, filters), y);
        compare("conv2d forward (" + s.math() + ")", expected, download(b, y));
    }

    /** Throws, naming the first value off by more than the tolerance and how many are, when any is. */
    private static void compare(String what, float[] expected, float[] actual) {
        int wrong = 0;
        int first = -1;
        for (int i = 0; i < expected.length; i++) {
            if (!(Math.abs(expected[i] - actual[i]) <= TOLERANCE * Math.max(1, Math.abs(expected[i])))) {
                wrong++;
                first = first < 0 ? i : first;
            }
        }
        if (wrong > 0) {
            throw new BackendException("CUDA backend self-check failed: " + what + " expected " + expected[first]
                    + " at " + first + ", received " + actual[first] + " (" + wrong + " of " + expected.length
                    + " values off by more than " + TOLERANCE + " relative)");
        }
    }

    private static Tensor upload(Backend b, Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        b.copyIn(values, 0, t);
        return t;
    }

    private static float[] download(Backend b, Tensor t) {
        float[] out = new float[(int) t.size()];
        b.copyOut(t, out, 0);
        return out;
    }
}
