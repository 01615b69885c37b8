package dev.osprey.bench;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * Batch-1 latency and its tail: one built-in model answers one image at a time for SECONDS after a warm-up, and the
 * median, p90, p99, p99.9 and maximum of every call's time are printed, with how many calls took over a millisecond.
 * The thread settings (OMP_NUM_THREADS, -Dosprey.cpu.deviceThread) come from the environment and JVM flags;
 * benchmarks/run-latency-tails.sh runs it under each in turn.
 *
 * <p>Usage: LatencyTails tutorial|resnet20|mobilenetv2 SECONDS. Prints "RESULT osprey MODEL FIGURE VALUE" lines
 * (figures: p50_us p90_us p99_us p999_us max_us over_1ms calls).
 */
public final class LatencyTails {
    private LatencyTails() {
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: LatencyTails tutorial|resnet20|mobilenetv2 SECONDS");
            System.exit(2);
        }
        String name = args[0];
        double seconds = Double.parseDouble(args[1]);
        Shape input = InferenceThroughput.inputOf(name);
        Random r = new Random(42);
        NDArray[] images = new NDArray[64];
        for (int i = 0; i < images.length; i++) {
            float[] x = new float[input.size()];
            for (int j = 0; j < x.length; j++) {
                x[j] = (float) r.nextGaussian();
            }
            images[i] = new NDArray(x, input.withBatch(1));
        }
        try (Model model = Models.byName(name, input, 10)) {
            for (int i = 0; i < 2_000; i++) {
                model.predict(images[i % images.length], 1);
            }
            double[] micros = new double[1_000_000];
            int n = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (n < micros.length && System.nanoTime() < end) {
                long t0 = System.nanoTime();
                model.predict(images[n % images.length], 1);
                micros[n++] = (System.nanoTime() - t0) / 1e3;
            }
            double[] sorted = Arrays.copyOf(micros, n);
            Arrays.sort(sorted);
            long over = Arrays.stream(sorted).filter(v -> v > 1_000).count();
            print(name, "p50_us", sorted[n / 2]);
            print(name, "p90_us", sorted[(int) (n * 0.90)]);
            print(name, "p99_us", sorted[(int) (n * 0.99)]);
            print(name, "p999_us", sorted[(int) (n * 0.999)]);
            print(name, "max_us", sorted[n - 1]);
            print(name, "over_1ms", over);
            print(name, "calls", n);
        }
    }

    private static void print(String model, String figure, double value) {
        System.out.printf(Locale.ROOT, "RESULT osprey %s %s %.1f%n", model, figure, value);
    }
}
