package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import dev.osprey.backend.Device;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.concurrent.Callable;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

@Command(name = "summary", mixinStandardHelpOptions = true,
        description = "Print a model's layers, shapes and parameter counts: a model file, or a built-in model "
                + "(the tutorial CNN if neither is given).")
final class SummaryCommand implements Callable<Integer> {
    @Parameters(index = "0", arity = "0..1", description = "Model file.")
    Path modelFile;

    @Option(names = "--model", description = "A built-in model: tutorial, resnet20 (any 6n+2), resnet18, resnet34, "
            + "resnet50 or mobilenetv2[_ALPHA].")
    String modelName;

    @Option(names = "--input-shape", description = "HxWxC of the built-in model's input. Default: 28x28x1 for the "
            + "tutorial, 32x32x3 for resnet20-style, 224x224x3 otherwise.")
    String inputShape;

    @Option(names = "--classes", defaultValue = "-1", description = "Classes of the built-in model. Default: 10, or "
            + "1000 for the ImageNet-style models.")
    int classes;

    @Override
    public Integer call() throws Exception {
        if (modelFile != null && modelName != null) {
            throw new IllegalArgumentException("expected a model file or --model, received both");
        }
        if (modelFile != null) {
            try (Model model = Model.load(modelFile, Device.cpu())) {
                model.summary();
            }
            return 0;
        }
        // Only the shapes are needed: nothing is allocated, so even ResNet-50 prints at once.
        builtIn(modelName == null ? "tutorial" : modelName, inputShape, classes).summary();
        return 0;
    }

    /**
     * The built-in model of this name (as --model takes it), its input HxWxC (null: 28x28x1 for the tutorial, 224x224x3
     * for the ImageNet-style models, else 32x32x3) and classes (below 1: 1000 for the ImageNet-style models, else 10).
     */
    static Model builtIn(String name, String inputShape, int classes) {
        boolean imageNet = name.matches("resnet(18|34|50)|mobilenetv2.*");
        Shape shape = inputShape != null ? parseShape(inputShape)
                : name.equals("tutorial") ? Shape.of(28, 28, 1) : imageNet ? Shape.of(224, 224, 3) : Shape.of(32, 32, 3);
        return Models.byName(name, shape, classes > 0 ? classes : imageNet ? 1000 : 10);
    }

    /** "32x32x3" -> (32, 32, 3). */
    static Shape parseShape(String text) {
        try {
            return Shape.of(Arrays.stream(text.trim().split("[xX,]")).mapToInt(s -> Integer.parseInt(s.trim())).toArray());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("expected --input-shape HEIGHTxWIDTHxCHANNELS, e.g. 32x32x3, received '"
                    + text + "'");
        }
    }
}
