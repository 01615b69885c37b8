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
 * <p>Usage: InferenceThroughput MODEL[=FILE.onnx] SECONDS [fp32|bf16|int8], MODEL one of tutorial, resnet20,
 * mobilenetv2, resnet18, mobilenetv2_224, vittiny (32x32x3) and vittiny_224. With
 * {@code =FILE.onnx} the model is that ONNX file imported ({@link Model#importOnnx}) instead of Osprey's own
 * definition, so that Osprey runs the very file ONNX Runtime runs. In another precision than
 * fp32 the framework is named with it ({@code RESULT osprey-bf16 ...}); where the CPU has no bf16 kernels the model
 * says why on stderr and the run exits with status 3. int8 is calibrated on the first large batch of the random
 * images: a measure of speed, not of accuracy (benchmarks/run-precision.sh measures that on trained models).
 */
public final class InferenceThroughput {
    private InferenceThroughput() {
    }

    /**
     * The input each benchmarked model takes: the tutorial's 28x28x1, ResNet-18's and mobilenetv2_224's 224x224x3, else
     * 32x32x3.
     */
    static Shape inputOf(String model) {
        return switch (model) {
            case "tutorial" -> Shape.of(28, 28, 1);
            case "resnet18", "mobilenetv2_224", "vittiny_224" -> Shape.of(224, 224, 3);
            default -> Shape.of(32, 32, 3);
        };
    }

    /** The large batch: 256, or 32 at 224x224x3. */
    static int largeBatchOf(String model) {
        return inputOf(model).dim(0) == 224 ? 32 : 256;
    }

    /**
     * The built-in architecture a benchmark name stands for (mobilenetv2_224: MobileNetV2, at 224x224x3; vittiny_224:
     * ViT-Tiny on 16x16 patches of 224x224x3, DeiT-Tiny).
     */
    static String architectureOf(String model) {
        return model.endsWith("_224") ? model.substring(0, model.length() - 4) : model;
    }

    public static void main(String[] args) {
        if (args.length < 2 || args.length > 3) {
            System.err.println("usage: InferenceThroughput tutorial|resnet20|mobilenetv2|resnet18|mobilenetv2_224|"
                    + "vittiny|vittiny_224 SECONDS [fp32|bf16|int8]");
            System.exit(2);
        }
        dev.osprey.Precision precision = args.length == 3 ? dev.osprey.Precision.parse(args[2])
                : dev.osprey.Precision.FP32;
        String framework = precision == dev.osprey.Precision.FP32 ? "osprey" : "osprey-" + precision;
        String name = args[0].contains("=") ? args[0].substring(0, args[0].indexOf('=')) : args[0];
        java.nio.file.Path onnx = args[0].contains("=") ? java.nio.file.Path.of(args[0].substring(name.length() + 1))
                : null;
        double seconds = Double.parseDouble(args[1]);
        try (Model model = onnx != null ? importOnnx(onnx) : Models.byName(architectureOf(name), inputOf(name), 10)) {
            Shape input = model.inputShape(); // an imported file's own (any torchvision classifier's 224x224x3)
            int batch = onnx != null ? ModelBenchmark.Batches.forInput(input).inference() : largeBatchOf(name);
            int n = batch * 4;
            Random r = new Random(42);
            float[] x = new float[n * input.size()];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            NDArray images = new NDArray(x, input.withBatch(n));
            if (precision == dev.osprey.Precision.INT8) { // calibrated on the first batch (speed, not accuracy)
                model.quantize(images.slice(0, batch));
            }
            if (model.inferencePrecision(precision).inferencePrecision() != precision) {
                System.exit(3);
            }
            System.out.println("INFO osprey " + model.backendDescription().replace(' ', '_'));
            print(framework, name, "infer_b" + batch,
                    ModelBenchmark.inferenceImagesPerSecond(model, images, batch, seconds));
            double[] latency = ModelBenchmark.batchOneLatencyMillis(model, images, seconds);
            print(framework, name, "latency_p50_ms", latency[0]);
            print(framework, name, "latency_p99_ms", latency[1]);
        }
    }

    private static Model importOnnx(java.nio.file.Path file) {
        try {
            return Model.importOnnx(file);
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
    }

    private static void print(String framework, String model, String figure, double value) {
        System.out.printf(Locale.ROOT, "RESULT %s %s %s %.4f%n", framework, model, figure, value);
        System.out.flush();
    }
}
