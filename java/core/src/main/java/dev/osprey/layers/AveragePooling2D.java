package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.backend.Pool2dSpec;

/**
 * Average pooling over (H, W, C), as Keras' AveragePooling2D: strides default to the pool size; with 'same' padding
 * each window averages only the input values under it (padding is not counted).
 */
public final class AveragePooling2D extends Pooling2D<AveragePooling2D> {
    /** Square windows of this size; strides default to the pool size. */
    public AveragePooling2D(int poolSize) {
        this(poolSize, poolSize);
    }

    /** Windows of poolH rows by poolW columns; strides default to the pool size. */
    public AveragePooling2D(int poolH, int poolW) {
        super(poolH, poolW);
    }

    @Override
    Pool2dSpec.Mode mode() {
        return Pool2dSpec.Mode.AVERAGE;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static AveragePooling2D fromConfig(Config c) {
        int[] pool = poolSize(c);
        return configured(new AveragePooling2D(pool[0], pool[1]), c, pool);
    }
}
