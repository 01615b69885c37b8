package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.backend.cpu.CpuBackend;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;
import org.junit.jupiter.api.io.TempDir;

/**
 * Osprey's CUDA kernels, compiled as plain C++ (native/host/cuda_on_host.h) and run on the CPU over a grid of
 * several blocks and threads, against the CPU backend and plain Java: their arithmetic, indexing and grid-stride
 * loops are checked on machines with no GPU. Races and GPU-only faults cannot show here;
 * the GPU suites cover those where a GPU exists.
 */
class KernelsOnHostTest {
    @TempDir
    static Path build;
    static Map<String, float[]> out;

    @BeforeAll
    static void compileAndRun() throws IOException, InterruptedException {
        Assumptions.assumeTrue(onPath("g++"), "no C++ compiler (g++) here to build the kernels for the host");
        Path nativeDir = Path.of("../../native").toAbsolutePath().normalize();
        List<String> command = new ArrayList<>(List.of("g++", "-O1", "-std=c++17", "-Wall", "-Werror",
                "-I" + nativeDir.resolve("host"), "-o", build.resolve("kernels").toString(),
                nativeDir.resolve("host/kernels_on_host.cpp").toString(),
                "-x", "c++", "-include", nativeDir.resolve("host/cuda_on_host.h").toString()));
        try (var files = Files.list(nativeDir)) {
            files.filter(p -> p.toString().endsWith(".cu")).sorted().forEach(p -> command.add(p.toString()));
        }
        run(command, "compiling the kernels for the host");
        String printed = run(List.of(build.resolve("kernels").toString()), "running the kernels on the host");
        out = new HashMap<>();
        for (String line : printed.split("\n")) {
            String[] parts = line.trim().split(" ");
            float[] values = new float[parts.length - 1];
            for (int i = 1; i < parts.length; i++) {
                values[i - 1] = Float.parseFloat(parts[i]);
            }
            out.put(parts[0], values);
        }
    }

    private static boolean onPath(String tool) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            if (!dir.isEmpty() && Files.isExecutable(Path.of(dir, tool))) {
                return true;
            }
        }
        return false;
    }

    private static String run(List<String> command, String what) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(command).redirectErrorStream(true).start();
        String text = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), what + " took over 2 minutes");
        assertEquals(0, p.exitValue(), what + " failed:\n" + text);
        return text;
    }

    /** The harness's input formula: values in [-1, 1) that are exact in float. */
    static float[] input(int n, int salt) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) {
            v[i] = ((i * 37 + salt * 11) % 101) / 50.0f - 1.0f;
        }
        return v;
    }

    private static void close(float[] expected, float[] actual, double tolerance, String what) {
        assertEquals(expected.length, actual.length, what + ": length");
        for (int i = 0; i < expected.length; i++) {
            assertEquals(expected[i], actual[i], tolerance * Math.max(1, Math.abs(expected[i])), what + " [" + i + "]");
        }
    }

    private static final Backend CPU = Device.cpu().backend();

    private static float[] cpu(Tensor t) {
        float[] v = new float[(int) t.size()];
        CPU.copyOut(t, v, 0);
        return v;
    }

    private static Tensor cpu(Memory m, float[] values, int... shape) {
        Tensor t = m.allocate(shape.length == 0 ? new int[] {values.length} : shape);
        CPU.copyIn(values, 0, t);
        return t;
    }

    @Test
    void adamMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor p = cpu(m, input(10, 1));
            Tensor g = cpu(m, input(10, 2));
            Tensor mo = m.allocate(10);
            Tensor v = m.allocate(10);
            AdamSpec spec = new AdamSpec(0.01f, 0.9f, 0.999f, 1e-7f);
            for (int t = 1; t <= 3; t++) {
                CPU.adamUpdate(spec, t, p, g, mo, v);
            }
            close(cpu(p), out.get("adam"), 1e-6, "adam");
        }
    }

    @Test
    void adamWithMaskedWeightDecayMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor p = cpu(m, input(10, 1));
            Tensor g = cpu(m, input(10, 2));
            Tensor mo = m.allocate(10);
            Tensor v = m.allocate(10);
            float[] mask = new float[10];
            for (int i = 0; i < 10; i++) {
                mask[i] = i % 3 == 0 ? 0f : 1f;
            }
            AdamSpec spec = new AdamSpec(0.01f, 0.9f, 0.999f, 1e-7f, 0.1f);
            for (int t = 1; t <= 3; t++) {
                CPU.adamUpdate(spec, t, p, g, mo, v, cpu(m, mask));
            }
            close(cpu(p), out.get("adam_weight_decay"), 1e-6, "adam_weight_decay");
        }
    }

    @Test
    void sgdWithWeightDecayMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor p = cpu(m, input(10, 1));
            Tensor g = cpu(m, input(10, 2));
            Tensor velocity = m.allocate(10);
            for (int t = 0; t < 2; t++) {
                CPU.sgdUpdate(new SgdSpec(0.1f, 0.9f, true, 0.05f), p, g, velocity, null);
            }
            close(cpu(p), out.get("sgd_weight_decay"), 1e-6, "sgd_weight_decay");
        }
    }

    @Test
    void adamWithAmsgradMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor p = cpu(m, input(10, 1));
            float[] gradients = input(10, 2);
            float[] maskValues = new float[10];
            for (int i = 0; i < 10; i++) {
                maskValues[i] = i % 3 == 0 ? 0f : 1f;
            }
            Tensor mask = cpu(m, maskValues);
            Tensor mo = m.allocate(10);
            Tensor v = m.allocate(10);
            Tensor vhat = m.allocate(10);
            for (int t = 1; t <= 3; t++) {
                if (t == 2) {
                    for (int i = 0; i < 10; i++) {
                        gradients[i] *= -0.5f;
                    }
                }
                CPU.adamAmsgradUpdate(new AdamSpec(0.01f, 0.9f, 0.999f, 1e-7f, 0.1f), t, p, cpu(m, gradients), mo, v,
                        vhat, mask);
            }
            close(cpu(p), out.get("adam_amsgrad"), 1e-6, "adam amsgrad");
        }
    }

    @Test
    void centeredRmspropWithMomentumAndWeightDecayMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor p = cpu(m, input(10, 1));
            Tensor g = cpu(m, input(10, 2));
            float[] maskValues = new float[10];
            for (int i = 0; i < 10; i++) {
                maskValues[i] = i % 4 == 0 ? 0f : 1f;
            }
            Tensor mask = cpu(m, maskValues);
            Tensor velocity = m.allocate(10);
            Tensor momentum = m.allocate(10);
            Tensor mean = m.allocate(10);
            for (int t = 0; t < 3; t++) {
                CPU.rmspropUpdate(new RmspropSpec(0.01f, 0.9f, 0.5f, 1e-7f, true, 0.1f), p, g, velocity, momentum, mean,
                        mask);
            }
            close(cpu(p), out.get("rmsprop"), 1e-6, "rmsprop");
        }
    }

    @Test
    void gradientClippingMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor x = cpu(m, input(37, 5));
            Tensor sum = m.allocate(1);
            CPU.sumOfSquares(x, sum);
            close(cpu(sum), out.get("sum_of_squares"), 1e-5, "sum of squares");
            CPU.scaleToNorm(x, sum, 1f);
            close(cpu(x), out.get("scale_to_norm"), 1e-6, "scale to norm");
            CPU.clipByValue(x, 0.05f);
            close(cpu(x), out.get("clip_by_value"), 1e-6, "clip by value");
        }
    }

    @Test
    void sgdWithNesterovMomentumMatchesTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor p = cpu(m, input(10, 1));
            Tensor g = cpu(m, input(10, 2));
            Tensor velocity = m.allocate(10);
            for (int t = 0; t < 2; t++) {
                CPU.sgdUpdate(new SgdSpec(0.1f, 0.9f, true), p, g, velocity);
            }
            close(cpu(p), out.get("sgd"), 1e-6, "sgd");
        }
    }

    @Test
    void softmaxItsBackwardAndCrossEntropyMatchTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor z = cpu(m, input(20, 3), 5, 4);
            Tensor prob = m.allocate(5, 4);
            CPU.activationForward(Activation.SOFTMAX, z, prob);
            close(cpu(prob), out.get("softmax"), 1e-6, "softmax");
            Tensor dx = m.allocate(5, 4);
            CPU.activationBackward(Activation.SOFTMAX, null, prob, cpu(m, input(20, 15), 5, 4), dx);
            close(cpu(dx), out.get("softmax_backward"), 1e-5, "softmax backward");
            float[] targets = new float[20];
            for (int r = 0; r < 5; r++) {
                targets[r * 4 + r % 4] = 1f;
            }
            Tensor dz = m.allocate(5, 4);
            Tensor stats = m.allocate(2);
            CPU.softmaxCrossEntropy(z, cpu(m, targets, 5, 4), dz, stats);
            close(cpu(dz), out.get("cross_entropy_gradient"), 1e-6, "cross-entropy gradient");
            close(cpu(stats), out.get("cross_entropy_stats"), 1e-6, "cross-entropy [loss sum, correct]");
        }
    }

    @Test
    void everyLossKindWithRowWeightsMatchesTheCpuBackend() {
        float[] u = input(20, 21);
        float[] targets = new float[25];
        float[] weights = {0.5f, 2f, 1f, 0f, 1.5f};
        for (int r = 0; r < 5; r++) {
            for (int c = 0; c < 4; c++) {
                targets[r * 5 + c] = (u[r * 4 + c] + 1f) / 2f;
            }
            targets[r * 5 + 4] = weights[r];
        }
        for (LossKind kind : LossKind.values()) {
            try (Memory m = CPU.newMemory()) {
                Tensor dy = m.allocate(5, 4);
                Tensor stats = m.allocate(2);
                CPU.loss(kind, cpu(m, input(20, 3), 5, 4), cpu(m, targets, 5, 5), dy, stats);
                close(cpu(dy), out.get("weighted_loss_" + kind.ordinal() + "_gradient"), 1e-6, kind + " gradient");
                close(cpu(stats), out.get("weighted_loss_" + kind.ordinal() + "_stats"), 1e-5, kind + " stats");
            }
        }
    }

    @Test
    void classificationCountsMatchTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            int rows = 7, classes = 4;
            float[] t = new float[rows * (classes + 1)];
            for (int r = 0; r < rows; r++) {
                t[r * (classes + 1) + (r * 3) % classes] = 1f;
                t[r * (classes + 1) + classes] = 2f;
            }
            Tensor counts = m.allocate(dev.osprey.metrics.ClassificationCounts.size(classes));
            CPU.classificationCounts(cpu(m, input(rows * classes, 24), rows, classes), Activation.Kind.SOFTMAX,
                    cpu(m, t, rows, classes + 1), 2, counts);
            assertCounts(cpu(counts), out.get("classification_counts_softmax"), "softmax counts");
            float[] b = new float[rows];
            for (int r = 0; r < rows; r++) {
                b[r] = r % 2;
            }
            Tensor binary = m.allocate(dev.osprey.metrics.ClassificationCounts.size(1));
            CPU.classificationCounts(cpu(m, input(rows, 25), rows, 1), Activation.Kind.SIGMOID, cpu(m, b, rows, 1), 1,
                    binary, 250);
            assertCounts(cpu(binary), out.get("classification_counts_sigmoid"), "sigmoid counts");
        }
    }

    /** Counts exactly; the error sums they end with to float rounding (expf and Math.exp may differ in the last bit). */
    private static void assertCounts(float[] expected, float[] actual, String what) {
        int counted = expected.length - dev.osprey.metrics.ErrorSums.SIZE;
        assertArrayEquals(java.util.Arrays.copyOf(expected, counted), java.util.Arrays.copyOf(actual, counted), what);
        close(java.util.Arrays.copyOfRange(expected, counted, expected.length),
                java.util.Arrays.copyOfRange(actual, counted, actual.length), 1e-5, what + ", error sums");
    }

    @Test
    void errorSumsMatchTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            int rows = 600;
            float[] y = input(rows * 3, 26);
            float[] t = input(rows * 4, 27);
            Activation.Kind[] kinds = {Activation.Kind.SOFTMAX, null};
            String[] names = {"error_sums_softmax", "error_sums_plain"};
            long[] firstRows = {0, 356}; // the kernel had lane 100, 356 % 256
            for (int i = 0; i < kinds.length; i++) {
                Tensor sums = m.allocate(dev.osprey.metrics.ErrorSums.SIZE);
                CPU.errorSums(cpu(m, y, rows, 3), kinds[i], cpu(m, t, rows, 4), sums, firstRows[i]);
                close(cpu(sums), out.get(names[i]), 1e-5, names[i]); // expf and Math.exp may differ in the last bit
            }
            Tensor sums = m.allocate(dev.osprey.metrics.ErrorSums.SIZE);
            CPU.errorSums(cpu(m, java.util.Arrays.copyOf(y, rows), rows, 1), Activation.Kind.SIGMOID,
                    cpu(m, java.util.Arrays.copyOf(t, rows), rows, 1), sums, 255);
            close(cpu(sums), out.get("error_sums_sigmoid"), 1e-5, "sigmoid");
        }
    }

    @Test
    void weightPenaltiesMatchTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            float[] weights = input(30, 22);
            weights[5] = 0f;
            Tensor g = cpu(m, input(30, 23));
            Tensor stats = m.allocate(2);
            CPU.regularize(cpu(m, weights), g, 0.01f, 0.05f, 8f, stats);
            close(cpu(g), out.get("regularized_gradient"), 1e-6, "regularized gradient");
            close(cpu(stats), out.get("regularized_stats"), 1e-5, "penalty");
        }
    }

    @Test
    void dropoutDropsTheSameUnitsAsTheCpuBackend() {
        try (Memory m = CPU.newMemory()) {
            Tensor x = cpu(m, input(64, 4));
            Tensor mask = m.allocate(64);
            Tensor y = m.allocate(64);
            CPU.dropoutForward(0.3f, 1234L, x, mask, y);
            assertArrayEquals(cpu(mask), out.get("dropout_mask"), "the same generator on both backends");
            close(cpu(y), out.get("dropout_output"), 1e-6, "dropout output");
        }
    }

    @Test
    void elementWiseKernels() {
        float[] a = input(9, 5);
        float[] bb = input(9, 6);
        float[] sum = new float[9], product = new float[9], scaled = new float[9];
        for (int i = 0; i < 9; i++) {
            sum[i] = a[i] + bb[i];
            product[i] = a[i] * bb[i];
            scaled[i] = a[i] * 0.25f - 1.5f;
        }
        assertArrayEquals(sum, out.get("add"));
        assertArrayEquals(product, out.get("multiply"));
        close(scaled, out.get("scale"), 1e-6, "scale");
        assertArrayEquals(new float[] {2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f}, out.get("fill"));
        try (Memory m = CPU.newMemory()) { // the CPU backend's moving average, the CUDA kernel's on the host
            Tensor average = m.allocate(9);
            Tensor values = m.allocate(9);
            CPU.copyIn(a, 0, average);
            CPU.copyIn(bb, 0, values);
            CPU.movingAverage(average, values, 0.9f);
            float[] expected = new float[9];
            for (int i = 0; i < 9; i++) {
                expected[i] = 0.9f * a[i] + 0.1f * bb[i];
            }
            close(expected, cpu(average), 1e-6, "moving average, CPU backend");
            close(expected, out.get("moving_average"), 1e-6, "moving average kernel");
        }
        float[] x = input(24, 7);
        float[] gate = input(8, 8);
        float[] gated = new float[24];
        for (int sample = 0; sample < 2; sample++) {
            for (int pixel = 0; pixel < 3; pixel++) {
                for (int c = 0; c < 4; c++) {
                    int i = (sample * 3 + pixel) * 4 + c;
                    gated[i] = x[i] * gate[sample * 4 + c];
                }
            }
        }
        assertArrayEquals(gated, out.get("multiply_channels"));
    }

    /** The harness's parameters per kind: relu with slope 0.3 and cap 2.5, elu with alpha 0.7. */
    private static Activation activation(Activation.Kind kind) {
        return switch (kind) {
            case RELU -> Activation.relu(2.5f, 0.3f);
            case ELU -> Activation.elu(0.7f);
            default -> new Activation(kind, 0f, Float.POSITIVE_INFINITY);
        };
    }

    @Test
    void everyActivationKernelMatchesTheCpuBackendBothWays() {
        float[] x = input(40, 13);
        for (int i = 0; i < x.length; i++) {
            x[i] *= 4;
        }
        float[] dy = input(40, 14);
        try (Memory m = CPU.newMemory()) {
            for (Activation.Kind kind : Activation.Kind.values()) {
                if (kind == Activation.Kind.SOFTMAX) {
                    continue;
                }
                Activation a = activation(kind);
                Tensor tx = cpu(m, x), ty = m.allocate(40), tdx = m.allocate(40);
                CPU.activationForward(a, tx, ty);
                close(cpu(ty), out.get("activation_" + kind.ordinal()), 1e-5, "forward " + a);
                CPU.activationBackward(a, tx, ty, cpu(m, dy), tdx);
                close(cpu(tdx), out.get("activation_backward_" + kind.ordinal()), 1e-5, "backward " + a);
                if (a.differentiableFromOutput()) {
                    close(cpu(tdx), out.get("activation_backward_from_output_" + kind.ordinal()), 1e-5,
                            "backward from the output " + a);
                }
            }
        }
    }

    /** Plain, with a ReLU fused, with a ReLU capped at 0.5 fused (it clips some outputs of these inputs). */
    @ParameterizedTest
    @ValueSource(strings = {"", "_relu", "_relu_capped"})
    void batchNormKernelsMatchTheCpuBackendOverSeveralChunks(String suffix) {
        BatchNormSpec plain = new BatchNormSpec(2, 3, 5, 3, 1e-3f, 0.9f);
        BatchNormSpec s = switch (suffix) {
            case "" -> plain;
            case "_relu" -> plain.withRelu(true);
            default -> plain.withCappedRelu(0.5f);
        };
        float[] x = input(90, 16);
        for (int i = 0; i < x.length; i++) {
            x[i] = x[i] * 2 + 3 + i % 3;
        }
        float[] movingVariance = {0.75f, 0.75f, 0.75f};
        try (Memory m = CPU.newMemory()) {
            Tensor tx = cpu(m, x, s.shape()), gamma = cpu(m, input(3, 18)), beta = cpu(m, input(3, 19));
            Tensor mm = cpu(m, input(3, 20)), mv = cpu(m, movingVariance), y = m.allocate(s.shape());
            Tensor mean = m.allocate(3), var = m.allocate(3);
            long wsSize = CPU.batchNormWorkspaceSize(s);
            Tensor ws = wsSize > 0 ? m.allocate((int) wsSize) : null;
            CPU.batchNormForwardTraining(s, tx, gamma, beta, mm, mv, y, mean, var, ws);
            close(cpu(y), out.get("batch_norm_y" + suffix), 1e-4, "batch-norm output");
            close(cpu(mean), out.get("batch_norm_mean" + suffix), 1e-5, "batch mean");
            close(cpu(var), out.get("batch_norm_variance" + suffix), 1e-5, "batch variance");
            close(cpu(mm), out.get("batch_norm_moving_mean" + suffix), 1e-5, "moving mean");
            close(cpu(mv), out.get("batch_norm_moving_variance" + suffix), 1e-5, "moving variance");
            Tensor dx = m.allocate(s.shape()), dg = m.allocate(3), db = m.allocate(3);
            CPU.batchNormBackward(s, tx, y, cpu(m, input(90, 17), s.shape()), gamma, mean, var, ws, dx, dg, db);
            close(cpu(dx), out.get("batch_norm_dx" + suffix), 1e-4, "batch-norm dx");
            close(cpu(dg), out.get("batch_norm_dgamma" + suffix), 1e-4, "batch-norm dgamma");
            close(cpu(db), out.get("batch_norm_dbeta" + suffix), 1e-5, "batch-norm dbeta");
        }
    }

    /** Over three chunks of rows for the parameter gradients, rows offset from each other, in place too. */
    @Test
    void layerNormKernelsMatchTheCpuBackend() {
        LayerNormSpec s = new LayerNormSpec(11, 5, 1e-5f);
        float[] x = input(55, 23);
        for (int i = 0; i < x.length; i++) {
            x[i] = x[i] * 2 + 10f * (i / 5 % 5);
        }
        try (Memory m = CPU.newMemory()) {
            Tensor tx = cpu(m, x, s.shape()), gamma = cpu(m, input(5, 25)), beta = cpu(m, input(5, 26));
            Tensor y = m.allocate(s.shape()), mean = m.allocate(11), var = m.allocate(11);
            CPU.layerNormForward(s, tx, gamma, beta, y, mean, var);
            close(cpu(y), out.get("layer_norm_y"), 1e-4, "layer-norm output");
            close(cpu(y), out.get("layer_norm_y_in_place"), 1e-4, "layer-norm output in place");
            close(cpu(mean), out.get("layer_norm_mean"), 1e-5, "row means");
            close(cpu(var), out.get("layer_norm_variance"), 1e-5, "row variances");
            Tensor dx = m.allocate(s.shape()), dg = m.allocate(5), db = m.allocate(5);
            CPU.layerNormBackward(s, tx, cpu(m, input(55, 24), s.shape()), gamma, mean, var, dx, dg, db);
            close(cpu(dx), out.get("layer_norm_dx"), 1e-4, "layer-norm dx");
            close(cpu(dg), out.get("layer_norm_dgamma"), 1e-4, "layer-norm dgamma");
            close(cpu(db), out.get("layer_norm_dbeta"), 1e-5, "layer-norm dbeta");
        }
    }

    @Test
    void averagePoolingKernelsMatchTheCpuBackend() {
        Pool2dSpec s = new Pool2dSpec(Pool2dSpec.Mode.AVERAGE, 2, 5, 6, 3, 3, 2, 2, 1, 1, 0, 1, 1);
        try (Memory m = CPU.newMemory()) {
            Tensor x = cpu(m, input(2 * 5 * 6 * 3, 23), s.inputShape());
            Tensor y = m.allocate(s.outputShape());
            CPU.pool2dForward(s, x, y, null);
            close(cpu(y), out.get("average_pool"), 1e-6, "average pooling");
            Tensor dx = m.allocate(s.inputShape());
            CPU.pool2dBackward(s, x, y, cpu(m, input((int) y.size(), 24), s.outputShape()), null, dx);
            close(cpu(dx), out.get("average_pool_backward"), 1e-6, "average pooling backward");
        }
    }

    @Test
    void columnCopiesConcatenateAndSplit() {
        float[] a = input(12, 21), b = input(18, 22);
        try (Memory m = CPU.newMemory()) {
            Tensor whole = m.allocate(6, 5);
            CPU.concat(6, java.util.List.of(cpu(m, a, 6, 2), cpu(m, b, 6, 3)), whole);
            assertArrayEquals(cpu(whole), out.get("concat"));
        }
        assertArrayEquals(a, out.get("split_a"));
        assertArrayEquals(b, out.get("split_b"));
    }

    @Test
    void denseBiasReluAndItsGradient() {
        float[] y = input(15, 7);
        float[] bias = input(5, 8);
        float[] expected = new float[15];
        for (int i = 0; i < 15; i++) {
            expected[i] = Math.max(0f, y[i] + bias[i % 5]);
        }
        close(expected, out.get("bias_relu"), 0, "bias + relu epilogue");
        float[] hardSwish = new float[15];
        for (int i = 0; i < 15; i++) {
            hardSwish[i] = (float) (y[i] * Math.min(Math.max(y[i] + 3, 0), 6) / 6);
        }
        close(hardSwish, out.get("no_bias_hard_swish"), 1e-6, "bias-free hard_swish epilogue");
        float[] dy = input(15, 9);
        float[] db = new float[5];
        for (int u = 0; u < 5; u++) {
            for (int r = 0; r < 3; r++) {
                db[u] += dy[r * 5 + u];
            }
        }
        close(db, out.get("bias_backward"), 1e-6, "bias gradient");
    }

    @Test
    void convolutionKernelLayoutsTransposeAndRoundTrip() {
        int spatial = 9, in = 2, outC = 4;
        float[] hwio = input(spatial * in * outC, 10);
        float[] krsc = new float[hwio.length];
        for (int s = 0; s < spatial; s++) {
            for (int c = 0; c < in; c++) {
                for (int o = 0; o < outC; o++) {
                    krsc[(o * spatial + s) * in + c] = hwio[(s * in + c) * outC + o];
                }
            }
        }
        assertArrayEquals(krsc, out.get("krsc"));
        assertArrayEquals(hwio, out.get("hwio_round_trip"));
    }

    /** bfloat16's bits by rounding to nearest, ties to even, worked out here bit by bit (NaN: any quiet NaN). */
    static int bf16Bits(float x) {
        int bits = Float.floatToRawIntBits(x);
        if (Float.isNaN(x)) {
            return 0x7fc0;
        }
        int upper = bits >>> 16;
        int lower = bits & 0xffff;
        boolean roundUp = lower > 0x8000 || lower == 0x8000 && (upper & 1) == 1;
        return (upper + (roundUp ? 1 : 0)) & 0xffff;
    }

    static float bf16(float x) {
        return Float.intBitsToFloat(bf16Bits(x) << 16);
    }

    @Test
    void bfloat16RoundsToNearestEvenKeepsNanAndWidensExactly() {
        float[] x = java.util.Arrays.copyOf(input(40, 12), 48);
        float[] special = {1.00390625f, 1.01171875f, -0.0f, 1e-40f, Float.MAX_VALUE, Float.POSITIVE_INFINITY,
                Float.NEGATIVE_INFINITY, Float.NaN};
        System.arraycopy(special, 0, x, 40, special.length);
        float[] bits = out.get("bf16_bits");
        assertEquals(x.length, bits.length);
        for (int i = 0; i < x.length; i++) {
            int h = (int) bits[i];
            if (Float.isNaN(x[i])) {
                assertTrue((h & 0x7f80) == 0x7f80 && (h & 0x7f) != 0, "NaN must stay NaN, received bits " + h);
            } else {
                assertEquals(bf16Bits(x[i]), h, "bf16 bits of " + x[i]);
            }
        }
        assertEquals(0x3f80, (int) bits[40], "1 + 2^-8 is a tie: to even, 1");
        assertEquals(0x3f82, (int) bits[41], "1 + 3 * 2^-8 is a tie: to even, 1 + 2^-6");
        assertEquals(0x8000, (int) bits[42], "-0 keeps its sign");
        assertEquals(0x7f80, (int) bits[44], "the largest float rounds to infinity");
        float[] widened = out.get("bf16_widened");
        for (int i = 0; i < widened.length; i++) {
            assertEquals(Float.floatToRawIntBits(bf16(x[i])), Float.floatToRawIntBits(widened[i]), "widened " + x[i]);
        }
    }

    @Test
    void bfloat16KernelLayoutsRoundOnTheWayInAndWidenOnTheWayOut() {
        int spatial = 9, in = 2, outC = 4;
        float[] hwio = input(spatial * in * outC, 10);
        float[] krscBits = new float[hwio.length];
        float[] back = new float[hwio.length];
        for (int s = 0; s < spatial; s++) {
            for (int c = 0; c < in; c++) {
                for (int o = 0; o < outC; o++) {
                    int i = (s * in + c) * outC + o;
                    krscBits[(o * spatial + s) * in + c] = bf16Bits(hwio[i]);
                    back[i] = bf16(hwio[i]);
                }
            }
        }
        assertArrayEquals(krscBits, out.get("krsc_bf16_bits"));
        assertArrayEquals(back, out.get("hwio_from_bf16"));
    }

    @Test
    void theBfloat16ConvolutionEpilogueWidensAddsTheBiasAndActivates() {
        float[] y = input(15, 7);
        float[] bias = input(5, 8);
        float[] expected = new float[15];
        for (int i = 0; i < 15; i++) {
            expected[i] = Math.max(0f, bf16(y[i]) + bias[i % 5]);
        }
        close(expected, out.get("bias_relu_from_bf16"), 0, "bf16 epilogue");
        float[] residual = input(15, 13);
        float[] withResidual = new float[15];
        float[] relu6 = new float[15];
        for (int i = 0; i < 15; i++) {
            withResidual[i] = Math.max(0f, bf16(y[i]) + bias[i % 5] + residual[i]);
            relu6[i] = Math.min(6f, Math.max(0f, y[i] + 8f * residual[i]));
        }
        close(withResidual, out.get("bias_residual_relu_from_bf16"), 0, "bf16 epilogue with a residual");
        close(relu6, out.get("residual_relu6"), 0, "epilogue with a residual and no bias");
        boolean capped = false;
        for (float v : relu6) {
            capped |= v == 6f;
        }
        assertTrue(capped, "some value must reach relu6's cap");
    }

    @Test
    void gathersFollowTheEpochOrderAndDecodeByteCodes() {
        int[] order = {2, 0, 3, 1};
        int[] codes = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 255};
        float[] expected = new float[9];
        for (int r = 0; r < 3; r++) {
            for (int j = 0; j < 3; j++) {
                expected[r * 3 + j] = codes[order[1 + r] * 3 + j] / 255.0f;
            }
        }
        assertArrayEquals(expected, out.get("gather_codes"));
        float[] rows = input(8, 11);
        float[] expectedRows = new float[6];
        for (int r = 0; r < 3; r++) {
            for (int j = 0; j < 2; j++) {
                expectedRows[r * 2 + j] = rows[order[1 + r] * 2 + j];
            }
        }
        assertArrayEquals(expectedRows, out.get("gather_rows"));
    }

    @Test
    void unevenPaddingFramesEachImageAndCroppingUndoesIt() {
        float[] x = input(24, 12); // 2 images of 3 x 2 x 2
        int top = 1, left = 0, ph = 6, pw = 3;
        float[] padded = new float[2 * ph * pw * 2];
        java.util.Arrays.fill(padded, -7f);
        for (int n = 0; n < 2; n++) {
            for (int r = 0; r < 3; r++) {
                for (int col = 0; col < 2; col++) {
                    for (int c = 0; c < 2; c++) {
                        padded[((n * ph + r + top) * pw + col + left) * 2 + c] = x[((n * 3 + r) * 2 + col) * 2 + c];
                    }
                }
            }
        }
        assertArrayEquals(padded, out.get("pad"));
        assertArrayEquals(x, out.get("crop"));
    }

    @Test
    void permuteTransposesEachSamplesAxes() {
        float[] x = input(48, 14); // 2 samples of 2 x 3 x 4, to 4 x 2 x 3 (axes 2, 0, 1)
        float[] expected = new float[48];
        for (int b = 0; b < 2; b++) {
            for (int i = 0; i < 2; i++) {
                for (int j = 0; j < 3; j++) {
                    for (int k = 0; k < 4; k++) {
                        expected[b * 24 + (k * 2 + i) * 3 + j] = x[b * 24 + (i * 3 + j) * 4 + k];
                    }
                }
            }
        }
        assertArrayEquals(expected, out.get("permute"));
    }
}
