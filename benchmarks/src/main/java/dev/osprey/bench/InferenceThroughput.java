package dev.osprey.bench;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.benchmark.ModelBenchmark;
import java.util.Locale;
import java.util.Random;

/**
 * Osprey's side of benchmarks/run-inference-vs-peers.sh: one built-in model with random weights, measured as the
 * peers are: inference images/s at a large batch (256; 32 for resnet18 at 224x224x3) and batch-1 latency (median,
 * p99), each with the softmax, on seeded random normal images. Prints "RESULT osprey MODEL FIGURE VALUE" lines.
 *
 * <p>Usage: InferenceThroughput tutorial|resnet20|mobilenetv2|resnet18 SECONDS
 */
public final class InferenceThroughput {
    private InferenceThroughput() {
    }

    /** The input each benchmarked model takes: the tutorial's 28x28x1, ResNet-18's 224x224x3, else 32x32x3. */
    static Shape inputOf(String model) {
        return switch (model) {
            case "tutorial" -> Shape.of(28, 28, 1);
            case "resnet18" -> Shape.of(224, 224, 3);
            default -> Shape.of(32, 32, 3);
        };
    }

    /** The large batch: 256, or 32 for ResNet-18 at 224x224x3. */
    static int largeBatchOf(String model) {
        return model.equals("resnet18") ? 32 : 256;
    }

    public static void main(String[] args) {
        if (args.length != 2) {
            System.err.println("usage: InferenceThroughput tutorial|resnet20|mobilenetv2|resnet18 SECONDS");
            System.exit(2);
        }
        String name = args[0];
        double seconds = Double.parseDouble(args[1]);
        Shape input = inputOf(name);
        int batch = largeBatchOf(name);
        int n = batch * 4;
        Random r = new Random(42);
        float[] x = new float[n * input.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        NDArray images = new NDArray(x, input.withBatch(n));
        try (Model model = Models.byName(name, input, 10)) {
            System.out.println("INFO osprey " + model.backendDescription().replace(' ', '_'));
            print(name, "infer_b" + batch, ModelBenchmark.inferenceImagesPerSecond(model, images, batch, seconds));
            double[] latency = ModelBenchmark.batchOneLatencyMillis(model, images, seconds);
            print(name, "latency_p50_ms", latency[0]);
            print(name, "latency_p99_ms", latency[1]);
        }
    }

    private static void print(String model, String figure, double value) {
        System.out.printf(Locale.ROOT, "RESULT osprey %s %s %.4f%n", model, figure, value);
        System.out.flush();
    }
}
