package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The same values in another sample shape, as Keras' Reshape (one dimension may be -1: inferred). Free: the output is a
 * view of the input, in channels-last order.
 */
public final class Reshape extends Layer {
    private final int[] targetShape;

    /** Each sample to this shape, of as many values; one dimension may be -1, inferred from the rest. */
    public Reshape(int... targetShape) {
        if (targetShape == null || targetShape.length == 0) {
            throw new IllegalArgumentException("Reshape: expected a target shape, received none");
        }
        int unknown = 0;
        for (int d : targetShape) {
            if (d == -1) {
                unknown++;
            } else if (d <= 0) {
                throw new IllegalArgumentException("Reshape: expected dimensions > 0 (or one -1), received "
                        + Arrays.toString(targetShape));
            }
        }
        if (unknown > 1) {
            throw new IllegalArgumentException("Reshape: expected at most one -1, received " + Arrays.toString(targetShape));
        }
        this.targetShape = targetShape.clone();
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        long known = 1;
        int unknownAt = -1;
        for (int i = 0; i < targetShape.length; i++) {
            if (targetShape[i] == -1) {
                unknownAt = i;
            } else {
                known *= targetShape[i];
            }
        }
        int[] out = targetShape.clone();
        if (unknownAt >= 0 && in.size() % known == 0) {
            out[unknownAt] = (int) (in.size() / known);
            known *= out[unknownAt];
        }
        if (known != in.size()) {
            throw new IllegalArgumentException("Reshape: expected a target shape of " + in.size() + " values (the "
                    + "input's " + in + "), received " + Arrays.toString(targetShape));
        }
        return Shape.of(out);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        return new Flatten.ViewRun(ctx, ctx.outputBatchShape());
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("target_shape", Arrays.stream(targetShape).boxed().toList());
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Reshape fromConfig(Config c) {
        return withCommonConfig(new Reshape(c.integerList("target_shape")), c);
    }

    // ---- Layer's setters, returning Reshape so that they chain with this layer's own ----------------------------

    @Override
    public Reshape name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Reshape trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Reshape inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
