package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

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
import org.junit.jupiter.api.io.TempDir;

/**
 * Osprey's CUDA kernels, compiled as plain C++ (native/host/cuda_on_host.h) and run on the CPU over a grid of
 * several blocks and threads, against the CPU backend and plain Java: their arithmetic, indexing, grid-stride
 * loops and scalar-slot paths are checked on machines with no GPU. Races and GPU-only faults cannot show here;
 * the GPU suites cover those where a GPU exists.
 */
class KernelsOnHostTest {
    @TempDir
    static Path build;
    static Map<String, float[]> out;

    @BeforeAll
    static void compileAndRun() throws IOException, InterruptedException {
        Assumptions.assumeTrue(onPath("g++"), "no C++ compiler (g++) here to build the kernels for the host");
        Path nativeDir = Path.of("../native").toAbsolutePath().normalize();
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

    private static float[] cpu(Backend b, Tensor t) {
        float[] v = new float[(int) t.size()];
        b.copyOut(t, v, 0);
        return v;
    }

    private static Tensor cpu(Backend b, float[] values) {
        Tensor t = b.allocate(values.length);
        b.copyIn(values, 0, t);
        return t;
    }

    @Test
    void adamMatchesTheCpuBackendAndReadsItsStepSizeFromTheSlot() {
        try (Backend b = new CpuBackend()) {
            Tensor p = cpu(b, input(10, 1));
            Tensor g = cpu(b, input(10, 2));
            Tensor m = b.allocate(10);
            Tensor v = b.allocate(10);
            AdamSpec spec = new AdamSpec(0.01f, 0.9f, 0.999f, 1e-7f);
            for (int t = 1; t <= 3; t++) {
                b.adamUpdate(spec, t, p, g, m, v);
            }
            close(cpu(b, p), out.get("adam"), 1e-6, "adam");
        }
        assertArrayEquals(out.get("adam"), out.get("adam_slot"), "alpha from the scalar slot");
    }

    @Test
    void sgdWithNesterovMomentumMatchesTheCpuBackend() {
        try (Backend b = new CpuBackend()) {
            Tensor p = cpu(b, input(10, 1));
            Tensor g = cpu(b, input(10, 2));
            Tensor velocity = b.allocate(10);
            for (int t = 0; t < 2; t++) {
                b.sgdUpdate(new SgdSpec(0.1f, 0.9f, true), p, g, velocity);
            }
            close(cpu(b, p), out.get("sgd"), 1e-6, "sgd");
        }
    }

    @Test
    void softmaxAndCrossEntropyMatchTheCpuBackend() {
        try (Backend b = new CpuBackend()) {
            Tensor z = b.allocate(5, 4);
            b.copyIn(input(20, 3), 0, z);
            Tensor prob = b.allocate(5, 4);
            b.softmaxForward(z, prob);
            close(cpu(b, prob), out.get("softmax"), 1e-6, "softmax");
            float[] targets = new float[20];
            for (int r = 0; r < 5; r++) {
                targets[r * 4 + r % 4] = 1f;
            }
            Tensor t = b.allocate(5, 4);
            b.copyIn(targets, 0, t);
            Tensor dz = b.allocate(5, 4);
            Tensor stats = b.allocate(2);
            b.softmaxCrossEntropy(z, t, dz, stats);
            close(cpu(b, dz), out.get("cross_entropy_gradient"), 1e-6, "cross-entropy gradient");
            close(cpu(b, stats), out.get("cross_entropy_stats"), 1e-6, "cross-entropy [loss sum, correct]");
        }
    }

    @Test
    void dropoutDropsTheSameUnitsAsTheCpuBackendAndTakesSeedAndRateFromTheSlots() {
        try (Backend b = new CpuBackend()) {
            Tensor x = cpu(b, input(64, 4));
            Tensor mask = b.allocate(64);
            Tensor y = b.allocate(64);
            b.dropoutForward(0.3f, 1234L, x, mask, y);
            assertArrayEquals(cpu(b, mask), out.get("dropout_mask"), "the same generator on both backends");
            close(cpu(b, y), out.get("dropout_output"), 1e-6, "dropout output");
        }
        assertArrayEquals(out.get("dropout_mask"), out.get("dropout_mask_slot"), "seed and rate from the slots");
        assertArrayEquals(out.get("dropout_output"), out.get("dropout_output_slot"));
    }

    @Test
    void elementWiseKernels() {
        float[] a = input(9, 5);
        float[] bb = input(9, 6);
        float[] product = new float[9];
        for (int i = 0; i < 9; i++) {
            product[i] = a[i] * bb[i];
        }
        assertArrayEquals(product, out.get("multiply"));
        assertArrayEquals(new float[] {2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f, 2.5f}, out.get("fill"));
    }

    @Test
    void denseBiasReluAndItsGradient() {
        float[] y = input(15, 7);
        float[] bias = input(5, 8);
        float[] expected = new float[15];
        for (int i = 0; i < 15; i++) {
            expected[i] = Math.max(0f, y[i] + bias[i % 5]);
        }
        assertArrayEquals(expected, out.get("bias_relu"));
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
}
