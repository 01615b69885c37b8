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
 * What bf16 inference costs in accuracy and gives in speed, on a model trained for real: trains MODEL (tutorial or
 * resnet20, at 28x28x1) on the full Fashion-MNIST training set for EPOCHS epochs (seed 42, Adam 1e-3, batch 128),
 * then predicts the 10,000 test images in fp32 and in bf16 and prints each accuracy, the images whose top class
 * differs, and inference images/s at batch 256 in each precision, interleaved over 3 rounds. Prints "RESULT ..." lines.
 *
 * <p>Usage: PrecisionAccuracy tutorial|resnet20 EPOCHS SECONDS
 */
public final class PrecisionAccuracy {
    private PrecisionAccuracy() {
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: PrecisionAccuracy tutorial|resnet20 EPOCHS SECONDS");
            System.exit(2);
        }
        String name = args[0];
        int epochs = Integer.parseInt(args[1]);
        double seconds = Double.parseDouble(args[2]);
        LabeledData data = Datasets.fashionMnist();
        try (Model model = Models.byName(name, Shape.of(28, 28, 1), 10)) {
            model.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
            model.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(epochs).batchSize(128).seed(42)
                    .verbose(false));
            int[] fp32 = topClasses(model.inferencePrecision(Precision.FP32).predict(data.testX(), 256));
            if (model.inferencePrecision(Precision.BF16).inferencePrecision() != Precision.BF16) {
                System.out.println("INFO bf16 unavailable: " + model.backend().unavailable(Precision.BF16));
                System.exit(3);
            }
            int[] bf16 = topClasses(model.predict(data.testX(), 256));
            float[] labels = data.testY().data();
            int right32 = 0;
            int right16 = 0;
            int differ = 0;
            for (int i = 0; i < labels.length; i++) {
                right32 += fp32[i] == (int) labels[i] ? 1 : 0;
                right16 += bf16[i] == (int) labels[i] ? 1 : 0;
                differ += fp32[i] != bf16[i] ? 1 : 0;
            }
            print(name, "test_accuracy_fp32", right32 / (double) labels.length);
            print(name, "test_accuracy_bf16", right16 / (double) labels.length);
            print(name, "top_class_differs", differ);
            for (int round = 1; round <= 3; round++) {
                for (Precision p : Precision.values()) {
                    model.inferencePrecision(p);
                    print(name, "infer_b256_" + p + "_round" + round,
                            ModelBenchmark.inferenceImagesPerSecond(model, data.testX(), 256, seconds));
                }
            }
        }
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
