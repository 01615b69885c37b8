package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.backend.Pool2dSpec;

/** The mean of each channel over the whole image: (H, W, C) to (C), as Keras' GlobalAveragePooling2D. */
public final class GlobalAveragePooling2D extends GlobalPooling2D {
    @Override
    Pool2dSpec.Mode mode() {
        return Pool2dSpec.Mode.AVERAGE;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static GlobalAveragePooling2D fromConfig(Config c) {
        Layers.requireChannelsLast("GlobalAveragePooling2D", c);
        return withCommonConfig(new GlobalAveragePooling2D().keepDims(c.bool("keepdims", false)), c);
    }

    @Override
    public GlobalAveragePooling2D keepDims(boolean keep) {
        super.keepDims(keep);
        return this;
    }

    // ---- Layer's setters, returning GlobalAveragePooling2D so that they chain with this layer's own ----------------------------

    @Override
    public GlobalAveragePooling2D name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public GlobalAveragePooling2D trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public GlobalAveragePooling2D inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
