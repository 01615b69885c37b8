package dev.osprey;

import static dev.osprey.Activation.RELU;
import static dev.osprey.Activation.SOFTMAX;

import dev.osprey.backend.Device;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;

/** Ready-made models. */
public final class Models {
    private Models() {
    }

    /**
     * The tutorial's CNN for 28x28x1 images and 10 classes (93,322 parameters), compiled with Adam,
     * categorical cross-entropy over integer labels, and accuracy.
     */
    public static Sequential tutorialCnn() {
        return tutorialCnn(Shape.of(28, 28, 1), 10);
    }

    /** The tutorial's layers for another input shape (H, W, C) and class count. */
    public static Sequential tutorialCnn(Shape input, int classes) {
        Sequential model = new Sequential(
                new Conv2D(32, 3, RELU).inputShape(input.dims()),
                new MaxPooling2D(2),
                new Conv2D(64, 3, RELU),
                new MaxPooling2D(2),
                new Conv2D(64, 3, RELU),
                new Flatten(),
                new Dense(64, RELU),
                new Dense(classes, SOFTMAX));
        return model;
    }

    /** {@link #tutorialCnn()} compiled as the tutorial does (labels as integers, so the sparse form of the loss). */
    public static Sequential compiledTutorialCnn() {
        return compiledTutorialCnn(Device.auto());
    }

    /** The same, on a chosen device. */
    public static Sequential compiledTutorialCnn(Device device) {
        return tutorialCnn().device(device).compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }
}
