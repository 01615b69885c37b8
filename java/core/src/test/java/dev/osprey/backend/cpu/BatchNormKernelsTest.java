package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import dev.osprey.Activation;
import dev.osprey.backend.BatchNormSpec;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Random;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Batch normalization through Osprey's kernels (the default where libospreycpu.so is loaded) against the same ops
 * through oneDNN ({@code -Dosprey.cpu.batchNorm=onednn}, also the path without the library), which fuses only an
 * uncapped ReLU and clips a capped one apart. BackendContractTest checks the default path against the plain-Java
 * reference; this checks that the two paths agree, the fallback included, and that the choice is made as documented.
 */
class BatchNormKernelsTest {
    /** The outputs of one training forward and backward: y, mean, variance, dx, dGamma, dBeta, then inference y. */
    private static float[][] run(CpuBackend backend, BatchNormSpec s) {
        return run(backend, s, false);
    }

    /**
     * The same; specials: x gets a -0 in the first row (the one each channel's sums are shifted by) and a NaN in a later
     * one, dy an infinity, in the first channel vector and in the last (a partial group of the 512-bit loops where the
     * channels are not a multiple of 64), and y takes exact zeros (a ReLU's output at 0 shuts its gradient): channels
     * that still give numbers, and those that don't.
     */
    private static float[][] run(CpuBackend backend, BatchNormSpec s, boolean specials) {
        Random r = new Random(7);
        int n = s.rows() * s.channels();
        float[] x = new float[n], dy = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() * 2 + 3 + i % s.channels());
            dy[i] = (float) r.nextGaussian();
        }
        if (specials) {
            int c = s.channels();
            for (int channel : new int[] {2, c - 3}) {
                x[channel] = -0f;
                x[c + channel + 1] = Float.NaN;
                dy[3 * c + channel + 2] = Float.POSITIVE_INFINITY;
            }
        }
        float[] gamma = new float[s.channels()], beta = new float[s.channels()], ones = new float[s.channels()];
        for (int c = 0; c < s.channels(); c++) {
            gamma[c] = 0.5f + r.nextFloat();
            beta[c] = (float) r.nextGaussian() * 0.5f;
            ones[c] = 1;
        }
        try (Memory m = backend.newMemory()) {
            Tensor tx = upload(backend, m, x, s.shape()), tdy = upload(backend, m, dy, s.shape());
            Tensor tg = upload(backend, m, gamma, s.channels()), tb = upload(backend, m, beta, s.channels());
            Tensor movingMean = m.allocate(s.channels());
            Tensor movingVariance = upload(backend, m, ones, s.channels());
            Tensor y = m.allocate(s.shape()), mean = m.allocate(s.channels()), variance = m.allocate(s.channels());
            long wsSize = backend.batchNormWorkspaceSize(s);
            Tensor ws = wsSize > 0 ? m.allocate((int) wsSize) : null;
            backend.batchNormForwardTraining(s, tx, tg, tb, movingMean, movingVariance, y, mean, variance, ws);
            Tensor dx = m.allocate(s.shape()), dg = m.allocate(s.channels()), db = m.allocate(s.channels());
            backend.batchNormBackward(s, tx, y, tdy, tg, mean, variance, ws, dx, dg, db);
            Tensor yInference = m.allocate(s.shape());
            backend.batchNormForwardInference(s, tx, tg, tb, mean, variance, yInference);
            float[][] out = new float[7][];
            Tensor[] all = {y, mean, variance, dx, dg, db, yInference};
            for (int i = 0; i < all.length; i++) {
                out[i] = new float[(int) all[i].size()];
                backend.copyOut(all[i], out[i], 0);
            }
            return out;
        }
    }

    private static Tensor upload(CpuBackend backend, Memory m, float[] values, int... shape) {
        Tensor t = m.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }

    private static <T> T withChoice(String choice, Supplier<T> body) {
        return SystemProperties.with(BatchNormKernels.PROPERTY, choice, body);
    }

    /** No ReLU, a plain one, ReLU6, and a cap of 1 that clips many values; 24 channels and 7 (a vector's tail). */
    @ParameterizedTest
    @ValueSource(strings = {"none", "relu", "relu6", "cap1"})
    void osprey_sKernelsAgreeWithOneDnnAndTheClipApart(String relu) {
        for (int channels : new int[] {24, 7}) {
            BatchNormSpec plain = new BatchNormSpec(3, 9, 11, channels, 1e-3f, 0.9f);
            BatchNormSpec s = switch (relu) {
                case "none" -> plain;
                case "relu" -> plain.withRelu(true);
                case "relu6" -> plain.withCappedRelu(6f);
                default -> plain.withCappedRelu(1f);
            };
            float[][] osprey;
            float[][] onednn;
            try (CpuBackend ours = withChoice("osprey", CpuBackend::new);
                 CpuBackend theirs = withChoice("onednn", CpuBackend::new)) {
                NativeKernels.require(NativeCpu.unavailableReason(), "Osprey's batch normalization");
                assertEquals(BatchNormKernels.Choice.OSPREY, ours.batchNormChoice());
                assertEquals(0, ours.batchNormWorkspaceSize(s.withRelu(true)),
                        "the compiler's loops (channels not in sixteens) keep no gate bits");
                osprey = run(ours, s);
                onednn = run(theirs, s);
            }
            String[] names = {"training y", "mean", "variance", "dx", "dGamma", "dBeta", "inference y"};
            for (int i = 0; i < names.length; i++) {
                // each output as a whole to fp32 rounding (its norm), each value to the output's scale: dx and the
                // parameter gradients are small against x, so a bound of 1 would let anything through
                double difference = 0;
                double norm = 0;
                double scale = 0;
                for (int j = 0; j < osprey[i].length; j++) {
                    difference += Math.pow(osprey[i][j] - onednn[i][j], 2);
                    norm += Math.pow(onednn[i][j], 2);
                    scale = Math.max(scale, Math.abs(onednn[i][j]));
                }
                assertTrue(Math.sqrt(difference) <= 1e-5 * Math.sqrt(norm), names[i] + ": expected oneDNN's values to "
                        + "1e-5 of their norm " + Math.sqrt(norm) + ", received a difference of "
                        + Math.sqrt(difference) + " for " + s);
                for (int j = 0; j < osprey[i].length; j++) {
                    assertEquals(onednn[i][j], osprey[i][j], 1e-4 * scale, names[i] + " [" + j + "] " + s);
                }
            }
            if (s.relu()) {
                float cap = s.reluCap();
                for (float v : osprey[0]) {
                    assertTrue(v >= 0 && v <= cap, "a fused ReLU's output in [0, " + cap + "], received " + v);
                }
            }
        }
    }

    /**
     * The training forward that adds a residual (a ResNet block's tail) against oneDNN's normalization, then the sum and
     * the ReLU apart: the same y, statistics and moving statistics; a spec with its own ReLU, or a leaky ReLU after,
     * is refused.
     */
    @ParameterizedTest
    @ValueSource(strings = {"linear", "relu", "relu6"})
    void theForwardThatAddsAResidualGivesTheSumOfTheNormalizationAndTheResidual(String after) {
        dev.osprey.Activation a = switch (after) {
            case "linear" -> dev.osprey.Activation.LINEAR;
            case "relu" -> dev.osprey.Activation.RELU;
            default -> dev.osprey.Activation.relu(6f, 0f);
        };
        for (int channels : new int[] {16, 7}) {
            BatchNormSpec s = new BatchNormSpec(2, 5, 9, channels, 1e-3f, 0.9f);
            Random r = new Random(channels);
            int n = s.rows() * channels;
            float[] x = new float[n], residual = new float[n];
            for (int i = 0; i < n; i++) {
                x[i] = (float) (r.nextGaussian() * 2 + 1 + i % channels);
                residual[i] = (float) r.nextGaussian() * 3;
            }
            float[] gamma = new float[channels], beta = new float[channels], ones = new float[channels];
            for (int c = 0; c < channels; c++) {
                gamma[c] = 0.5f + r.nextFloat();
                beta[c] = (float) r.nextGaussian();
                ones[c] = 1;
            }
            try (CpuBackend fused = withChoice("auto", CpuBackend::new);
                 CpuBackend apart = withChoice("onednn", CpuBackend::new);
                 Memory m = fused.newMemory(); Memory ma = apart.newMemory()) {
                NativeKernels.require(NativeCpu.unavailableReason(), "Osprey's batch normalization");
                assertTrue(fused.fusesBatchNormResidual(a));
                Tensor y = m.allocate(s.shape()), mean = m.allocate(channels), variance = m.allocate(channels);
                Tensor movingMean = m.allocate(channels), movingVariance = upload(fused, m, ones, channels);
                fused.batchNormForwardTrainingAdding(s, upload(fused, m, x, s.shape()),
                        upload(fused, m, residual, s.shape()), a, upload(fused, m, gamma, channels),
                        upload(fused, m, beta, channels), movingMean, movingVariance, y, mean, variance);
                Tensor ya = ma.allocate(s.shape()), meanA = ma.allocate(channels), varianceA = ma.allocate(channels);
                Tensor movingMeanA = ma.allocate(channels), movingVarianceA = upload(apart, ma, ones, channels);
                apart.batchNormForwardTraining(s, upload(apart, ma, x, s.shape()), upload(apart, ma, gamma, channels),
                        upload(apart, ma, beta, channels), movingMeanA, movingVarianceA, ya, meanA, varianceA, null);
                apart.add(ya, upload(apart, ma, residual, s.shape()), a, ya);
                Tensor[][] pairs = {{y, ya}, {mean, meanA}, {variance, varianceA}, {movingMean, movingMeanA},
                    {movingVariance, movingVarianceA}};
                String[] names = {"y", "mean", "variance", "moving mean", "moving variance"};
                for (int i = 0; i < pairs.length; i++) {
                    float[] got = new float[(int) pairs[i][0].size()], want = new float[got.length];
                    fused.copyOut(pairs[i][0], got, 0);
                    apart.copyOut(pairs[i][1], want, 0);
                    float scale = 0;
                    for (float v : want) {
                        scale = Math.max(scale, Math.abs(v));
                    }
                    for (int j = 0; j < got.length; j++) {
                        assertEquals(want[j], got[j], 1e-5 * scale, names[i] + " [" + j + "], " + after + " after, "
                                + channels + " channels");
                    }
                }
                Tensor tx = upload(fused, m, x, s.shape()), tr = upload(fused, m, residual, s.shape());
                Tensor tg = upload(fused, m, gamma, channels), tb = upload(fused, m, beta, channels);
                IllegalArgumentException ownRelu = assertThrows(IllegalArgumentException.class,
                        () -> fused.batchNormForwardTrainingAdding(s.withRelu(true), tx, tr, a, tg, tb, movingMean,
                                movingVariance, y, mean, variance));
                assertTrue(ownRelu.getMessage().contains("expected a spec without a ReLU"), ownRelu.getMessage());
                IllegalArgumentException leaky = assertThrows(IllegalArgumentException.class,
                        () -> fused.batchNormForwardTrainingAdding(s, tx, tr, dev.osprey.Activation.leakyRelu(0.1f),
                                tg, tb, movingMean, movingVariance, y, mean, variance));
                assertTrue(leaky.getMessage().contains("without a negative slope"), leaky.getMessage());
            }
        }
    }

    /**
     * The 512-bit loops written out for channels in sixteens give the bits of the compiler's loops
     * (-Dosprey.cpu.wideVectors=false): training forward, backward and inference, and the forward that adds a residual,
     * at 16 to 144 channels (one to four vectors at once, then the rest), over more rows than one block of sums a
     * thread, on 1 to 3 threads, with a NaN, a -0 and an infinity among the inputs.
     */
    @ParameterizedTest
    @ValueSource(strings = {"none", "relu", "relu6", "cap1"})
    void theWrittenOut512BitLoopsGiveTheBitsOfTheCompilersLoops(String relu) {
        NativeKernels.require(NativeCpu.unavailableReason(), "Osprey's batch normalization");
        assumeTrue(BatchNormKernels.wideRows(16, true),
                "the 512-bit loops do not run here (no AVX-512F): both runs would take the compiler's loops");
        assertFalse(BatchNormKernels.wideRows(16, false), "-Dosprey.cpu.wideVectors=false keeps the compiler's loops");
        assertFalse(BatchNormKernels.wideRows(24, true), "channels in no whole sixteens keep the compiler's loops");
        for (int team = 1; team <= 3; team++) {
            for (int channels : new int[] {16, 32, 48, 64, 80, 144}) {
                BatchNormSpec plain = new BatchNormSpec(2, 41, 39, channels, 1e-3f, 0.9f); // 3,198 rows: 3 threads at 16
                BatchNormSpec s = switch (relu) {
                    case "none" -> plain;
                    case "relu" -> plain.withRelu(true);
                    case "relu6" -> plain.withCappedRelu(6f);
                    default -> plain.withCappedRelu(1f);
                };
                String where = relu + ", " + channels + " channels, a team of " + team;
                float[][][] outputs = new float[2][][];
                float[][] sums = new float[2][];
                for (int w = 0; w < 2; w++) {
                    String wide = w == 0 ? "true" : "false";
                    int run = w;
                    outputs[w] = OpenMpTeam.sized(team, () -> SystemProperties.with(
                            NativeCpu.WIDE_VECTORS_PROPERTY, wide, () -> {
                                try (CpuBackend backend = withChoice("osprey", CpuBackend::new)) {
                                    float[][] out = run(backend, s, true);
                                    sums[run] = residualSum(backend, plain, relu);
                                    return out;
                                }
                            }));
                }
                for (int i = 0; i < outputs[0].length; i++) {
                    assertArrayEquals(rawBits(outputs[1][i]), rawBits(outputs[0][i]), "output " + i + " (" + where
                            + ")");
                }
                assertArrayEquals(rawBits(sums[1]), rawBits(sums[0]), "the forward adding a residual (" + where + ")");
            }
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

    /** y of the training forward that adds a residual, with the ReLU named by relu ("none": linear) after the sum. */
    private static float[] residualSum(CpuBackend backend, BatchNormSpec s, String relu) {
        Activation after = switch (relu) {
            case "none" -> Activation.LINEAR;
            case "relu" -> Activation.RELU;
            case "relu6" -> Activation.relu(6f, 0f);
            default -> Activation.relu(1f, 0f);
        };
        Random r = new Random(11);
        int n = s.rows() * s.channels(), c = s.channels();
        float[] x = new float[n], residual = new float[n], gamma = new float[c], beta = new float[c];
        for (int i = 0; i < n; i++) {
            x[i] = (float) (r.nextGaussian() + i % c);
            residual[i] = (float) r.nextGaussian();
        }
        for (int j = 0; j < c; j++) {
            gamma[j] = 0.5f + r.nextFloat();
            beta[j] = (float) r.nextGaussian();
        }
        try (Memory m = backend.newMemory()) {
            Tensor y = m.allocate(s.shape());
            backend.batchNormForwardTrainingAdding(s, upload(backend, m, x, s.shape()),
                    upload(backend, m, residual, s.shape()), after, upload(backend, m, gamma, c),
                    upload(backend, m, beta, c), m.allocate(c), m.allocate(c), y, m.allocate(c), m.allocate(c));
            float[] out = new float[n];
            backend.copyOut(y, out, 0);
            return out;
        }
    }

    /** The threads' sums are added in thread order: plans made apart give the same bits. */
    @Test
    void theSameInputsGiveTheSameBitsEveryTime() {
        NativeKernels.require(NativeCpu.unavailableReason(), "Osprey's batch normalization");
        BatchNormSpec s = new BatchNormSpec(8, 16, 16, 32, 1e-3f, 0.99f).withCappedRelu(1f);
        try (CpuBackend one = withChoice("osprey", CpuBackend::new);
             CpuBackend other = withChoice("osprey", CpuBackend::new)) {
            float[][] first = run(one, s), second = run(other, s);
            for (int i = 0; i < first.length; i++) {
                assertArrayEquals(first[i], second[i], "output " + i);
            }
        }
    }

    /**
     * By default a capped ReLU's batch normalization runs here (oneDNN cannot fuse it), and a plain ReLU's where the
     * 512-bit loops keep its gate in bits (a workspace of one bit an element); oneDNN keeps the rest, with its mask.
     */
    @Test
    void byDefaultTheKernelsTakeCappedReLUsAndPlainOnesWithTheirGateInBits() {
        NativeKernels.require(NativeCpu.unavailableReason(), "Osprey's batch normalization");
        BatchNormSpec plain = new BatchNormSpec(2, 4, 4, 8, 1e-3f, 0.9f); // 8 channels: the compiler's loops
        BatchNormSpec sixteen = new BatchNormSpec(2, 4, 5, 16, 1e-3f, 0.9f); // 40 rows of one 16-channel vector
        try (CpuBackend backend = SystemProperties.with(NativeCpu.WIDE_VECTORS_PROPERTY, "true",
                () -> withChoice("auto", CpuBackend::new))) {
            assertEquals(BatchNormKernels.Choice.AUTO, backend.batchNormChoice());
            assertTrue(backend.batchNormWorkspaceSize(plain.withRelu(true)) > 0, "oneDNN keeps a ReLU mask");
            assertEquals(0, backend.batchNormWorkspaceSize(plain.withCappedRelu(6f)), "the kernels read y");
            boolean bits = BatchNormKernels.wideRows(16, true);
            assertEquals(bits, BatchNormKernels.gatesInBits(sixteen.withRelu(true), true));
            assertEquals(bits, BatchNormKernels.Choice.AUTO.runsHere(sixteen.withRelu(true), true));
            if (bits) {
                assertEquals(40 * 2 / 4, backend.batchNormWorkspaceSize(sixteen.withRelu(true)),
                        "one bit an element, in floats");
                assertEquals(40 * 2 / 4, backend.batchNormWorkspaceSize(sixteen.withCappedRelu(6f)),
                        "a capped ReLU's gate in bits too");
            }
        }
        try (CpuBackend narrow = SystemProperties.with(NativeCpu.WIDE_VECTORS_PROPERTY, "false",
                () -> withChoice("auto", CpuBackend::new))) {
            assertTrue(narrow.batchNormWorkspaceSize(sixteen.withRelu(true)) > 0, "oneDNN's mask");
            assertEquals(0, narrow.batchNormWorkspaceSize(sixteen.withCappedRelu(6f)), "the compiler's loops read y");
        }
        assertFalse(BatchNormKernels.Choice.AUTO.runsHere(sixteen.withRelu(true), false),
                "-Dosprey.cpu.wideVectors=false: oneDNN keeps a plain ReLU's");
        assertTrue(BatchNormKernels.Choice.AUTO.runsHere(plain.withCappedRelu(6f), true));
        assertTrue(!BatchNormKernels.Choice.AUTO.runsHere(plain, true) && !BatchNormKernels.Choice.AUTO.runsHere(
                plain.withRelu(true), true) && !BatchNormKernels.Choice.AUTO.runsHere(sixteen, true)
                && !BatchNormKernels.Choice.ONEDNN.runsHere(plain.withCappedRelu(6f), true));
    }

    /**
     * Where the gate is kept in bits, the backward reads them and not y: y overwritten with NaN between the forward and
     * the backward changes no gradient (read from y, a NaN shuts the gate). A workspace too small for the bits is
     * refused, naming the size expected.
     */
    @Test
    void theBackwardTakesTheGateFromTheBitsNotFromY() {
        NativeKernels.require(NativeCpu.unavailableReason(), "Osprey's batch normalization");
        BatchNormSpec s = new BatchNormSpec(3, 9, 7, 48, 1e-3f, 0.9f).withRelu(true); // 189 rows, 3 vectors
        assumeTrue(BatchNormKernels.gatesInBits(s, true), "the 512-bit loops do not run here: no gate bits");
        int n = s.rows() * s.channels(), c = s.channels();
        Random r = new Random(17);
        float[] x = new float[n], dy = new float[n], gamma = new float[c], beta = new float[c], nan = new float[n];
        for (int i = 0; i < n; i++) {
            x[i] = (float) r.nextGaussian();
            dy[i] = (float) r.nextGaussian();
            nan[i] = Float.NaN;
        }
        for (int j = 0; j < c; j++) {
            gamma[j] = 0.5f + r.nextFloat();
            beta[j] = (float) r.nextGaussian() * 0.5f;
        }
        try (CpuBackend backend = SystemProperties.with(NativeCpu.WIDE_VECTORS_PROPERTY, "true",
                () -> withChoice("osprey", CpuBackend::new));
             Memory m = backend.newMemory()) {
            long size = backend.batchNormWorkspaceSize(s);
            assertEquals(((long) s.rows() * (c / 16) * 2 + 3) / 4, size, "one bit an element, in whole floats");
            Tensor tx = upload(backend, m, x, s.shape()), tdy = upload(backend, m, dy, s.shape());
            Tensor tg = upload(backend, m, gamma, c), tb = upload(backend, m, beta, c);
            Tensor y = m.allocate(s.shape()), mean = m.allocate(c), variance = m.allocate(c);
            Tensor ws = m.allocate((int) size);
            backend.batchNormForwardTraining(s, tx, tg, tb, m.allocate(c), m.allocate(c), y, mean, variance, ws);
            float[][] gradients = new float[2][];
            for (int run = 0; run < 2; run++) {
                if (run == 1) {
                    backend.copyIn(nan, 0, y);
                }
                Tensor dx = m.allocate(s.shape()), dg = m.allocate(c), db = m.allocate(c);
                backend.batchNormBackward(s, tx, y, tdy, tg, mean, variance, ws, dx, dg, db);
                float[] all = new float[n + 2 * c];
                backend.copyOut(dx, all, 0);
                backend.copyOut(dg, all, n);
                backend.copyOut(db, all, n + c);
                gradients[run] = all;
            }
            assertArrayEquals(rawBits(gradients[0]), rawBits(gradients[1]), "the gradients with y overwritten");
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.batchNormForwardTraining(s, tx, tg, tb, m.allocate(c), m.allocate(c), y, mean,
                            variance, m.allocate((int) size - 1)));
            assertTrue(e.getMessage().contains("expected a workspace of at least " + size + " floats"), e.getMessage());
        }
    }

    /** A capped ReLU's gradient is read from y, on either path: a y of another shape is refused, naming it. */
    @ParameterizedTest
    @ValueSource(strings = {"osprey", "onednn"})
    void aBackwardWithACappedReluRefusesAYOfTheWrongShape(String choice) {
        BatchNormSpec s = new BatchNormSpec(2, 4, 4, 8, 1e-3f, 0.9f).withCappedRelu(6f);
        try (CpuBackend backend = withChoice(choice, CpuBackend::new); Memory m = backend.newMemory()) {
            Tensor data = m.allocate(s.shape());
            Tensor wrongY = m.allocate(2, 4, 4, 9);
            Tensor perChannel = m.allocate(s.channels());
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> backend.batchNormBackward(s, data, wrongY, data, perChannel, perChannel, perChannel, null,
                            data, perChannel, perChannel));
            assertTrue(e.getMessage().contains("batchNormBackward y"), e.getMessage());
        }
    }

    @Test
    void aChoiceOtherThanAutoOspreyOrOneDnnIsRefusedNamingTheProperty() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> withChoice("cudnn", CpuBackend::new));
        assertTrue(e.getMessage().contains("-Dosprey.cpu.batchNorm: expected auto, osprey or onednn, received "
                + "'cudnn'"), e.getMessage());
    }
}
