package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.engine.Fusion;

/** Max pooling over (H, W, C), as Keras' MaxPooling2D; strides default to the pool size. */
public final class MaxPooling2D extends Pooling2D<MaxPooling2D> implements Fusion.Int8PassThrough, Fusion.MaxPooling {
    /** Square windows of this size; strides default to the pool size. */
    public MaxPooling2D(int poolSize) {
        this(poolSize, poolSize);
    }

    /** Windows of poolH rows by poolW columns; strides default to the pool size. */
    public MaxPooling2D(int poolH, int poolW) {
        super(poolH, poolW);
    }

    @Override
    Pool2dSpec.Mode mode() {
        return Pool2dSpec.Mode.MAX;
    }

    @Override
    public Pool2dSpec maxPoolSpec(dev.osprey.Shape input, int batch) {
        return spec(input, batch);
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static MaxPooling2D fromConfig(Config c) {
        int[] pool = poolSize(c);
        return configured(new MaxPooling2D(pool[0], pool[1]), c, pool);
    }
}
