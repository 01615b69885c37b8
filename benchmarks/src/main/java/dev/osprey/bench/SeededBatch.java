package dev.osprey.bench;

import dev.osprey.NDArray;
import dev.osprey.Shape;
import java.util.Random;

/** The benchmarks' data: seeded random normal images and random sparse labels (class indices) of 10 classes. */
record SeededBatch(NDArray images, NDArray labels) {
    /** batch images of this shape and their labels, from a generator seeded with 42. */
    static SeededBatch of(Shape input, int batch) {
        Random r = new Random(42);
        float[] x = new float[batch * input.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] y = new float[batch];
        for (int i = 0; i < batch; i++) {
            y[i] = r.nextInt(10);
        }
        return new SeededBatch(new NDArray(x, input.withBatch(batch)), new NDArray(y, batch));
    }
}
