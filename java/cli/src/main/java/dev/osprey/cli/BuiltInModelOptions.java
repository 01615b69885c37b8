package dev.osprey.cli;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.Shape;
import java.nio.file.Path;
import java.util.Arrays;
import picocli.CommandLine.Option;

/**
 * A built-in model named on the command line instead of a model file (summary, bench): --model NAME, with its input
 * shape and classes.
 */
final class BuiltInModelOptions {
    @Option(names = "--model", description = "A built-in model: tutorial, resnet20 (any 6n+2), resnet18, resnet34, "
            + "resnet50, mobilenetv2[_ALPHA], mobilenetv3large, mobilenetv3small, efficientnetb0, convnexttiny, vitb16 or "
            + "vittiny.")
    String name;

    @Option(names = "--input-shape", description = "HxWxC of the built-in model's input. Default: 28x28x1 for the "
            + "tutorial, 32x32x3 for resnet20-style and vittiny, 224x224x3 otherwise.")
    String inputShape;

    @Option(names = "--classes", description = "Classes of the built-in model. Default: 10, or 1000 for the "
            + "ImageNet-style models.")
    Integer classes; // null: not given

    /** Throws IllegalArgumentException where --classes is given and is not a class count. */
    private void checkClasses() {
        if (classes != null && classes < 1) {
            throw new IllegalArgumentException("expected --classes of at least 1, received " + classes);
        }
    }

    /** Throws IllegalArgumentException where both a model file and --model are given. */
    void checkNotBoth(Path modelFile) {
        if (modelFile != null && name != null) {
            throw new IllegalArgumentException("expected a model file or --model, received both");
        }
    }

    /**
     * Throws IllegalArgumentException, saying which names there are, where name is no built-in model: before any data
     * loads or device is measured (a model's graph of shapes costs nothing; no weights are made).
     */
    static void requireKnown(String name) {
        try (Model ignored = Models.byName(name, Shape.of(32, 32, 3), 10)) {
            // known
        }
    }

    /** Throws IllegalArgumentException where --input-shape or --classes is given without --model. */
    void checkShapeOnlyWithModel() {
        checkClasses();
        if (name != null) {
            requireKnown(name);
        }
        if (name == null && (inputShape != null || classes != null)) {
            throw new IllegalArgumentException("expected --input-shape and --classes only with --model NAME, received "
                    + (inputShape != null ? "--input-shape " + inputShape : "--classes " + classes) + " without it");
        }
    }

    /** These options as given, for a report of the command ("" where --model is not). */
    String asArguments() {
        return (name == null ? "" : " --model " + name) + (inputShape == null ? "" : " --input-shape " + inputShape)
                + (classes != null ? " --classes " + classes : "");
    }

    /**
     * The built-in model of this name (or orElse where --model is not given), its input HxWxC (unset: 28x28x1 for the
     * tutorial, 224x224x3 for the ImageNet-style models, else 32x32x3) and classes (unset: 1000 for the ImageNet-style
     * models, else 10). Only shapes: nothing is allocated until the model is built.
     */
    Model model(String orElse) {
        checkClasses();
        String n = name == null ? orElse : name;
        boolean imageNet = Models.canonicalName(n).matches("resnet(18|34|50)|mobilenetv[23].*|efficientnetb0|convnexttiny|vitb_?16");
        Shape shape = inputShape != null ? parseShape(inputShape)
                : n.equals("tutorial") ? Shape.of(28, 28, 1) : imageNet ? Shape.of(224, 224, 3) : Shape.of(32, 32, 3);
        return Models.byName(n, shape, classes != null ? classes : imageNet ? 1000 : 10);
    }

    /** "32x32x3" (or "32,32,3") -> (32, 32, 3): three positive sizes, nothing else. */
    static Shape parseShape(String text) {
        if (!text.trim().matches("[1-9][0-9]{0,5}(\\s*[xX,]\\s*[1-9][0-9]{0,5}){2}")) {
            throw new IllegalArgumentException("expected --input-shape HEIGHTxWIDTHxCHANNELS, e.g. 32x32x3, received '"
                    + text + "'");
        }
        return Shape.of(Arrays.stream(text.trim().split("\\s*[xX,]\\s*")).mapToInt(Integer::parseInt).toArray());
    }
}
