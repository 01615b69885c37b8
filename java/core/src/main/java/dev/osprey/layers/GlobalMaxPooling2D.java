package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.backend.Pool2dSpec;

/** The maximum of each channel over the whole image: (H, W, C) to (C), as Keras' GlobalMaxPooling2D. */
public final class GlobalMaxPooling2D extends GlobalPooling2D {
    @Override
    Pool2dSpec.Mode mode() {
        return Pool2dSpec.Mode.MAX;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static GlobalMaxPooling2D fromConfig(Config c) {
        Layers.requireChannelsLast("GlobalMaxPooling2D", c);
        return withCommonConfig(new GlobalMaxPooling2D().keepDims(c.bool("keepdims", false)), c);
    }

    @Override
    public GlobalMaxPooling2D keepDims(boolean keep) {
        super.keepDims(keep);
        return this;
    }

    // ---- Layer's setters, returning GlobalMaxPooling2D so that they chain with this layer's own ----------------------------

    @Override
    public GlobalMaxPooling2D name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public GlobalMaxPooling2D trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public GlobalMaxPooling2D inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
