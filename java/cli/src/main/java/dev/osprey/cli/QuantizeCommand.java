package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Precision;
import dev.osprey.backend.Device;
import dev.osprey.data.LabeledData;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "quantize", mixinStandardHelpOptions = true,
        description = "int8 post-training quantization on the CPU: calibrates each layer's input range on the first "
                + "training images, prints test accuracy in fp32 and int8, and writes the model with its ranges "
                + "(predict, serve and bench it with --precision int8).")
final class QuantizeCommand implements Callable<Integer> {
    @Parameters(index = "0", description = "The model file to quantize.")
    Path modelFile;

    @Mixin
    DataOptions data = new DataOptions();

    @Option(names = "--calibration", defaultValue = "512", description = "Training images to calibrate on. Default: "
            + "${DEFAULT-VALUE}.")
    int calibration;

    @Option(names = {"-o", "--output"}, required = true, description = "The quantized model file to write.")
    Path output;

    @Override
    public Integer call() throws Exception {
        if (calibration < 1) {
            throw new IllegalArgumentException("--calibration: expected at least 1 image, received " + calibration);
        }
        try (Model model = Model.load(modelFile, Device.cpu())) {
            LabeledData d = data.load();
            Evaluation.requireInputShape(model, d, "quantize");
            NDArray samples = d.trainX().slice(0, Math.min(calibration, d.trainX().rows()));
            double fp32 = accuracy(model, d);
            model.quantize(samples);
            if (model.inferencePrecision() != Precision.INT8) {
                System.out.println("int8: not available here (" + model.backend().unavailable(Precision.INT8)
                        + "); the ranges are saved for a CPU that has it");
            } else {
                double int8 = accuracy(model, d);
                System.out.printf(Locale.ROOT, "Test accuracy on %,d images from %s: fp32 %.4f, int8 %.4f%n",
                        d.testX().rows(), d.source(), fp32, int8);
            }
            model.save(output);
            System.out.printf("Calibrated %d layers on %,d images; saved to %s%n", model.inputRanges().size(),
                    samples.rows(), output.toAbsolutePath());
        }
        return 0;
    }

    /**
     * Test accuracy: evaluate's where the model file holds a loss; otherwise (an imported classifier) each image's
     * most likely class against its label, so that the file is saved as it came, with no loss added.
     */
    private static double accuracy(Model model, LabeledData d) {
        return model.loss() != null ? model.evaluate(d.testX(), d.testY(), 256).getOrDefault("accuracy", Double.NaN)
                : Evaluation.accuracy(model, d.testX(), d.testY());
    }
}
