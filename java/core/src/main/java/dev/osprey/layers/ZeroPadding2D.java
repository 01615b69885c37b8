package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Pad2dSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Zeros around each image, as Keras' ZeroPadding2D: padding(1) on every side, (rows, columns) symmetric, or
 * ((top, bottom), (left, right)). Its gradient is the interior of the output's. A convolution right after it pads its
 * input itself instead, so the padded copy is never made.
 */
public final class ZeroPadding2D extends Layer implements Fusion.PaddingOnly, Fusion.OwnInputGradients {
    private final int top;
    private final int bottom;
    private final int left;
    private final int right;

    /** This many rows and columns of zeros on every side. */
    public ZeroPadding2D(int padding) {
        this(padding, padding);
    }

    /** {@code rows} of zeros above and below, {@code columns} left and right. */
    public ZeroPadding2D(int rows, int columns) {
        this(rows, rows, columns, columns);
    }

    /** Zeros of these widths on each side, all >= 0. */
    public ZeroPadding2D(int top, int bottom, int left, int right) {
        if (top < 0 || bottom < 0 || left < 0 || right < 0) {
            throw new IllegalArgumentException("ZeroPadding2D: expected padding >= 0, received top=" + top + ", bottom="
                    + bottom + ", left=" + left + ", right=" + right);
        }
        this.top = top;
        this.bottom = bottom;
        this.left = left;
        this.right = right;
    }

    @Override
    public int[] padding() {
        return new int[] {top, bottom, left, right};
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = image(inputs);
        long height = (long) in.dim(0) + top + bottom, width = (long) in.dim(1) + left + right; // a file's may be huge
        if (height > Integer.MAX_VALUE || width > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("ZeroPadding2D: expected a padded image of at most " + Integer.MAX_VALUE
                    + " rows and columns, received " + in + " padded to " + height + " x " + width);
        }
        return Shape.of((int) height, (int) width, in.dim(2));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        Shape in = ctx.inputShape();
        Pad2dSpec spec = new Pad2dSpec(ctx.batch(), in.dim(0), in.dim(1), in.dim(2), top, bottom, left, right);
        Tensor input = ctx.input();
        Tensor output = ctx.allocateOutput();
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        return LayerRun.of(output, seed -> backend.pad2dForward(spec, input, output), dOutput -> {
            if (dInput != null) {
                backend.pad2dBackward(spec, dOutput, dInput);
            }
        }, inputGradients);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("padding", List.of(List.of(top, bottom), List.of(left, right)));
        c.put("data_format", "channels_last");
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static ZeroPadding2D fromConfig(Config c) {
        Layers.requireChannelsLast("ZeroPadding2D", c);
        Object p = c.raw("padding");
        ZeroPadding2D layer;
        if (p instanceof List<?> l && l.size() == 2 && l.get(0) instanceof List<?>) {
            int[] rows = new Config("ZeroPadding2D", Map.of("padding", l.get(0))).integers("padding", 2);
            int[] cols = new Config("ZeroPadding2D", Map.of("padding", l.get(1))).integers("padding", 2);
            layer = new ZeroPadding2D(rows[0], rows[1], cols[0], cols[1]);
        } else {
            int[] sym = c.integers("padding", 2, new int[] {1, 1});
            layer = new ZeroPadding2D(sym[0], sym[1]);
        }
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning ZeroPadding2D so that they chain with this layer's own ----------------------------

    @Override
    public ZeroPadding2D name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public ZeroPadding2D trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public ZeroPadding2D inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
