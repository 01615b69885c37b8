package dev.osprey.bench;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import dev.osprey.benchmark.ModelBenchmark;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.Locale;
import java.util.Random;

/**
 * Osprey's side of benchmarks/run-graph-models-vs-peers.sh: one built-in model at 32x32x3 and 10 classes (on the CPU
 * unless a device is named),
 * measured as the peers are: training images/s at batch 64 and 128 (shuffled batches of seeded random normal images
 * with random labels, Adam at 1e-3 with epsilon 1e-7, cross-entropy), inference images/s at batch 256 and batch-1
 * latency (median, p99), both with the softmax. Prints "RESULT osprey MODEL FIGURE VALUE" lines.
 *
 * <p>Usage: GraphModelThroughput resnet20|mobilenetv2 SECONDS [cpu|cuda|cuda:N [fp32|bf16|fp16]]. With a training
 * precision (Keras' mixed-precision policies: mixed_bfloat16, mixed_float16 with dynamic loss scaling) the training
 * figures are measured under it, as "RESULT osprey-PRECISION ...", then the inference figures in that precision
 * (where the device has it); the policy in effect is printed first (INFO), and a policy the device can't run exits
 * with status 3 (the model says why).
 */
public final class GraphModelThroughput {
    private GraphModelThroughput() {
    }

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 4) {
            System.err.println("usage: GraphModelThroughput resnet20|mobilenetv2 SECONDS [cpu|cuda|cuda:N "
                    + "[fp32|bf16|fp16]]");
            System.exit(2);
        }
        Device device = args.length >= 3 ? Device.parse(args[2]) : Device.cpu();
        dev.osprey.MixedPrecision policy = args.length == 4 ? dev.osprey.MixedPrecision.parse(args[3]) : null;
        String name = args[0];
        double seconds = Double.parseDouble(args[1]);
        Random r = new Random(42);
        int n = 1024;
        float[] x = new float[n * 32 * 32 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] y = new float[n];
        for (int i = 0; i < n; i++) {
            y[i] = r.nextInt(10);
        }
        NDArray images = new NDArray(x, n, 32, 32, 3);
        NDArray labels = new NDArray(y, n);
        try (Model model = Models.byName(name, Shape.of(32, 32, 3), 10).device(device)) {
            model.compile(new Adam(1e-3, 0.9, 0.999, 1e-7), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            System.out.println("INFO osprey " + model.backendDescription().replace(' ', '_'));
            String framework = "osprey";
            if (policy != null) {
                model.mixedPrecision(policy);
                System.out.println("INFO osprey policy " + model.mixedPrecision());
                if (model.mixedPrecision() != policy) {
                    System.exit(3);
                }
                framework = "osprey-" + policy;
            }
            for (int batch : new int[] {64, 128}) {
                print(framework, name, "train_b" + batch,
                        ModelBenchmark.trainImagesPerSecond(model, images, labels, batch, seconds));
            }
            if (policy != null) { // and inference in the policy's precision, where the device has it
                model.inferencePrecision(policy.math());
                System.out.println("INFO osprey inference precision " + model.inferencePrecision());
                if (model.inferencePrecision() != policy.math()) {
                    return;
                }
            }
            print(framework, name, "infer_b256", ModelBenchmark.inferenceImagesPerSecond(model, images, 256, seconds));
            double[] latency = ModelBenchmark.batchOneLatencyMillis(model, images, seconds);
            print(framework, name, "latency_p50_ms", latency[0]);
            print(framework, name, "latency_p99_ms", latency[1]);
        }
    }

    private static void print(String framework, String model, String figure, double value) {
        System.out.printf(Locale.ROOT, "RESULT %s %s %s %.4f%n", framework, model, figure, value);
        System.out.flush();
    }
}
