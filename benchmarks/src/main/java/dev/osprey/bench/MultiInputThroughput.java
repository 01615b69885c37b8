package dev.osprey.bench;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Device;
import dev.osprey.layers.Concatenate;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Adam;
import java.util.List;
import java.util.Locale;

/**
 * What training a model of two inputs costs over one input: a 28x28x1 image and a vector of 16 values, the image
 * through two convolutions, joined with the vector by a Concatenate, then two Dense layers; beside it, on the same
 * images, epoch for epoch in turn, the same network without the vector (one input). The two-input model costs the
 * packing of the arrays into rows (once per fit), the split of each batch into the inputs (an op per step), the
 * Concatenate and 16 more inputs of the first Dense layer. 2 threads; prints {@code RESULT osprey multi_input train_img_s_<one|two>_round<r> V}.
 * Usage: MultiInputThroughput [SAMPLES=8192] [BATCH=64] [ROUNDS=3]
 */
public final class MultiInputThroughput {
    private MultiInputThroughput() {
    }

    public static void main(String[] args) {
        int samples = args.length > 0 ? Integer.parseInt(args[0]) : 8192;
        int batch = args.length > 1 ? Integer.parseInt(args[1]) : 64;
        int rounds = args.length > 2 ? Integer.parseInt(args[2]) : 3;
        SeededBatch data = SeededBatch.of(Shape.of(28, 28, 1), samples);
        NDArray images = data.images();
        NDArray y = data.labels();
        NDArray vectors = SeededBatch.of(Shape.of(16), samples).images();
        try (Model two = network(true); Model one = network(false)) {
            for (Model m : List.of(two, one)) {
                m.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy());
            }
            FitOptions options = FitOptions.defaults().epochs(1).batchSize(batch).verbose(false).seed(1);
            two.fit(List.of(images, vectors), y, options); // warm-up: plans, JIT
            one.fit(images, y, options);
            for (int round = 1; round <= rounds; round++) {
                long start = System.nanoTime();
                two.fit(List.of(images, vectors), y, options);
                double twoRate = samples / ((System.nanoTime() - start) / 1e9);
                start = System.nanoTime();
                one.fit(images, y, options);
                double oneRate = samples / ((System.nanoTime() - start) / 1e9);
                System.out.printf(Locale.ROOT, "RESULT osprey multi_input train_img_s_two_round%d %.1f%n", round,
                        twoRate);
                System.out.printf(Locale.ROOT, "RESULT osprey multi_input train_img_s_one_round%d %.1f%n", round,
                        oneRate);
            }
        }
    }

    /** The image branch and head; withVector: the second input joined before the head, else the image alone. */
    private static Model network(boolean withVector) {
        Input image = Input.shape(28, 28, 1);
        SymbolicTensor x = new MaxPooling2D(2).apply(new Conv2D(32, 3, Activation.RELU).apply(image));
        x = new Flatten().apply(new MaxPooling2D(2).apply(new Conv2D(64, 3, Activation.RELU).apply(x)));
        List<Input> inputs = List.of(image);
        if (withVector) {
            Input vector = Input.shape(16);
            x = new Concatenate().apply(x, vector);
            inputs = List.of(image, vector);
        }
        SymbolicTensor out = new Dense(10, Activation.SOFTMAX).apply(new Dense(64, Activation.RELU).apply(x));
        return new Model(inputs, List.of(out)).device(Device.cpu()).seed(3);
    }
}
