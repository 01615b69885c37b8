package dev.osprey.bench;

import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.benchmark.ModelBenchmark;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.Locale;

/**
 * What bf16 and int8 inference cost in accuracy and give in speed, on a model trained for real: trains MODEL (tutorial
 * or resnet20, at 28x28x1) on the full Fashion-MNIST training set for EPOCHS epochs (seed 42, Adam 1e-3, batch 128),
 * then predicts the 10,000 test images in fp32 and in each precision asked for (int8 calibrated on the first 512
 * training images) and prints each accuracy, the images whose top class differs from fp32's, and inference images/s
 * at batch 256 and batch-1 median latency in each precision, interleaved over 3 rounds. A precision this CPU lacks is
 * reported with the reason and skipped. Prints "RESULT ..." and "INFO ..." lines.
 *
 * <p>Usage: PrecisionAccuracy tutorial|resnet20 EPOCHS SECONDS [PRECISIONS=bf16,int8]
 */
public final class PrecisionAccuracy {
    private PrecisionAccuracy() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length < 3 || args.length > 4) {
            System.err.println("usage: PrecisionAccuracy tutorial|resnet20 EPOCHS SECONDS [PRECISIONS=bf16,int8]");
            System.exit(2);
        }
        String name = args[0];
        int epochs = Integer.parseInt(args[1]);
        double seconds = Double.parseDouble(args[2]);
        java.util.List<Precision> asked = new java.util.ArrayList<>();
        for (String p : (args.length == 4 ? args[3] : "bf16,int8").split(",")) {
            asked.add(Precision.parse(p));
        }
        LabeledData data = Datasets.fashionMnist();
        try (Model model = Models.byName(name, Shape.of(28, 28, 1), 10)) {
            model.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            model.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(epochs).batchSize(128).seed(42)
                    .verbose(false));
            int[] fp32 = topClasses(model.inferencePrecision(Precision.FP32).predict(data.testX(), 256));
            float[] labels = data.testY().data();
            print(name, "test_accuracy_fp32", accuracy(fp32, labels));
            java.util.List<Precision> measured = new java.util.ArrayList<>(java.util.List.of(Precision.FP32));
            for (Precision p : asked) {
                if (p == Precision.FP32 || measured.contains(p)) {
                    continue;
                }
                String reason = model.backend().unavailable(p);
                if (reason != null) {
                    System.out.println("INFO " + p + " unavailable: " + reason);
                    continue;
                }
                if (p == Precision.INT8) {
                    model.quantize(data.trainX().slice(0, 512));
                }
                int[] top = topClasses(model.inferencePrecision(p).predict(data.testX(), 256));
                int differ = 0;
                for (int i = 0; i < labels.length; i++) {
                    differ += top[i] != fp32[i] ? 1 : 0;
                }
                print(name, "test_accuracy_" + p, accuracy(top, labels));
                print(name, "top_class_differs_" + p, differ);
                measured.add(p);
            }
            for (int round = 1; round <= 3; round++) {
                for (Precision p : measured) {
                    model.inferencePrecision(p);
                    print(name, "infer_b256_" + p + "_round" + round,
                            ModelBenchmark.inferenceImagesPerSecond(model, data.testX(), 256, seconds));
                    print(name, "latency_b1_p50_ms_" + p + "_round" + round,
                            ModelBenchmark.batchOneLatencyMillis(model, data.testX(), seconds)[0]);
                }
            }
        }
    }

    private static double accuracy(int[] top, float[] labels) {
        int right = 0;
        for (int i = 0; i < labels.length; i++) {
            right += top[i] == (int) labels[i] ? 1 : 0;
        }
        return right / (double) labels.length;
    }

    private static int[] topClasses(NDArray probabilities) {
        int classes = probabilities.rowSize();
        float[] p = probabilities.data();
        int[] top = new int[probabilities.rows()];
        for (int i = 0; i < top.length; i++) {
            for (int c = 1; c < classes; c++) {
                if (p[i * classes + c] > p[i * classes + top[i]]) {
                    top[i] = c;
                }
            }
        }
        return top;
    }

    private static void print(String model, String figure, double value) {
        System.out.printf(Locale.ROOT, "RESULT osprey %s %s %.4f%n", model, figure, value);
        System.out.flush();
    }
}
