package dev.osprey.bench;

import dev.osprey.FitOptions;
import dev.osprey.MixedPrecision;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.Locale;

/**
 * bf16 mixed-precision training against fp32, side by side: two copies of MODEL (tutorial or resnet20, at 28x28x1,
 * seed 42) train on the full Fashion-MNIST training set, one in fp32 and one in bf16, an epoch at a time in turn
 * (Adam 1e-3, batch 128, the same shuffle for both), so each epoch's images/s are measured minutes apart at most. After
 * the last epoch both predict the 10,000 test images. On a CPU without bf16 kernels it prints the reason and stops.
 * Prints "RESULT model figure value" and "INFO ..." lines.
 *
 * <p>Usage: MixedPrecisionTraining tutorial|resnet20 EPOCHS
 */
public final class MixedPrecisionTraining {
    private MixedPrecisionTraining() {
    }

    public static void main(String[] args) throws java.io.IOException {
        if (args.length != 2) {
            System.err.println("usage: MixedPrecisionTraining tutorial|resnet20 EPOCHS");
            System.exit(2);
        }
        String name = args[0];
        int epochs = Integer.parseInt(args[1]);
        LabeledData data = Datasets.fashionMnist();
        try (Model fp32 = model(name, MixedPrecision.FLOAT32); Model bf16 = model(name, MixedPrecision.BFLOAT16)) {
            String reason = bf16.backend().trainingUnavailable(Precision.BF16);
            if (reason != null) {
                System.out.println("INFO bf16 training unavailable: " + reason);
                return;
            }
            Model[] models = {fp32, bf16};
            for (int epoch = 1; epoch <= epochs; epoch++) {
                for (Model m : models) {
                    long start = System.nanoTime();
                    m.fit(data.trainX(), data.trainY(), FitOptions.defaults().epochs(1).batchSize(128)
                            .seed(42L + epoch).verbose(false));
                    double seconds = (System.nanoTime() - start) / 1e9;
                    print(name, "train_images_per_s_" + m.mixedPrecision() + "_epoch" + epoch,
                            data.trainX().rows() / seconds);
                }
            }
            for (Model m : models) {
                print(name, "test_accuracy_" + m.mixedPrecision(),
                        m.evaluate(data.testX(), data.testY(), 256).get("accuracy"));
            }
        }
    }

    private static Model model(String name, MixedPrecision policy) {
        Model m = Models.byName(name, Shape.of(28, 28, 1), 10).seed(42);
        m.mixedPrecision(policy);
        m.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
        return m;
    }

    private static void print(String model, String figure, double value) {
        System.out.println(String.format(Locale.ROOT, "RESULT osprey %s %s %.4f", model, figure, value));
    }
}
