package dev.osprey.bench;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * Osprey's side of benchmarks/run-depthwise-fusion.sh: MobileNetV2's inference at one input size and batch, timed for
 * SECONDS; run once with the CPU backend's pointwise + depthwise fusion and once with
 * {@code -Dosprey.cpu.fuseDepthwise=false}, the script compares them. Prints
 * {@code RESULT <fused|separate> <size> <batch> <median ms> <images/s>}.
 *
 * <p>Usage: DepthwiseFusionAb SIZE BATCH SECONDS
 */
public final class DepthwiseFusionAb {
    private DepthwiseFusionAb() {
    }

    public static void main(String[] args) {
        if (args.length != 3) {
            System.err.println("usage: DepthwiseFusionAb SIZE BATCH SECONDS");
            System.exit(2);
        }
        int size = Integer.parseInt(args[0]);
        int batch = Integer.parseInt(args[1]);
        double seconds = Double.parseDouble(args[2]);
        Shape input = Shape.of(size, size, 3);
        Random r = new Random(42);
        float[] x = new float[batch * input.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        NDArray images = new NDArray(x, input.withBatch(batch));
        try (Model model = Models.byName("mobilenetv2", input, 10)) {
            for (int i = 0; i < 3; i++) {
                model.predict(images, batch);
            }
            long[] times = new long[10_000];
            int n = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (System.nanoTime() < end && n < times.length) {
                long t = System.nanoTime();
                model.predict(images, batch);
                times[n++] = System.nanoTime() - t;
            }
            Arrays.sort(times, 0, n);
            double medianMs = times[n / 2] / 1e6;
            String mode = Boolean.parseBoolean(System.getProperty("osprey.cpu.fuseDepthwise", "true")) ? "fused"
                    : "separate";
            System.out.printf(Locale.ROOT, "RESULT %s %d %d %.3f %.1f%n", mode, size, batch, medianMs,
                    batch / (medianMs / 1e3));
        }
    }
}
