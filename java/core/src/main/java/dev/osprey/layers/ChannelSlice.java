package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Channels begin (inclusive) to end (exclusive) of the last axis, as {@code x[..., begin:end]}: what ShuffleNet's
 * channel split takes (ONNX's Slice on the channel axis imports as it). Keras has no such layer; it is the
 * inverse of {@link Concatenate} on the last axis, and runs on the same backend ops: the forward splits the input into
 * the slice and the channels either side (kept in scratch), the backward joins the gradient between zeros.
 */
public final class ChannelSlice extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final int begin;
    private final int end;

    /** Channels begin to end - 1. */
    public ChannelSlice(int begin, int end) {
        if (begin < 0 || end <= begin) {
            throw new IllegalArgumentException("ChannelSlice: expected 0 <= begin < end, received begin " + begin
                    + " and end " + end);
        }
        this.begin = begin;
        this.end = end;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        int channels = in.dim(in.rank() - 1);
        if (end > channels) {
            throw new IllegalArgumentException("ChannelSlice: expected at least " + end + " channels, received " + in);
        }
        int[] dims = in.dims();
        dims[dims.length - 1] = end - begin;
        return Shape.of(dims);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        Shape in = ctx.inputShape();
        int channels = in.dim(in.rank() - 1);
        int rows = Math.toIntExact((long) ctx.batch() * (in.size() / channels));
        Tensor output = ctx.allocateOutput();
        List<Tensor> parts = new ArrayList<>(); // before the slice, the slice, after it
        List<Tensor> gradientParts = new ArrayList<>();
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        if (begin > 0) {
            parts.add(ctx.allocate(rows, begin));
            gradientParts.add(dInput == null ? null : zeros(ctx, rows, begin));
        }
        parts.add(backend.view(output, 0, rows, end - begin));
        gradientParts.add(null); // the output's gradient, set each step
        int sliceAt = gradientParts.size() - 1;
        if (end < channels) {
            parts.add(ctx.allocate(rows, channels - end));
            gradientParts.add(dInput == null ? null : zeros(ctx, rows, channels - end));
        }
        Tensor whole = backend.view(ctx.input(), 0, rows, channels);
        Tensor dWhole = dInput == null ? null : backend.view(dInput, 0, rows, channels);
        ReshapedGradient sliceGradient = new ReshapedGradient(backend, rows, end - begin);
        return LayerRun.of(output, seed -> {
            if (parts.size() == 1) {
                backend.scale(whole, 1f, 0f, parts.get(0)); // every channel: a copy
            } else {
                backend.split(rows, whole, parts);
            }
        }, dOutput -> {
            if (dWhole == null) {
                return;
            }
            Tensor slice = sliceGradient.of(dOutput);
            gradientParts.set(sliceAt, slice);
            if (gradientParts.size() == 1) {
                backend.scale(slice, 1f, 0f, dWhole);
            } else {
                backend.concat(rows, gradientParts, dWhole);
            }
        }, LayerRun.gradients(dInput));
    }

    private static Tensor zeros(PlanContext ctx, int rows, int width) {
        Tensor t = ctx.allocate(rows, width);
        ctx.backend().fill(t, 0f);
        return t;
    }

    /** The first channel taken. */
    public int begin() {
        return begin;
    }

    /** One past the last channel taken. */
    public int end() {
        return end;
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("begin", begin);
        c.put("end", end);
        return c;
    }

    /** Reads the layer from a model file's config. */
    public static ChannelSlice fromConfig(Config c) {
        return withCommonConfig(new ChannelSlice(c.integer("begin"), c.integer("end")), c);
    }

    // ---- Layer's setters, returning ChannelSlice so that they chain with this layer's own ----------------------------

    @Override
    public ChannelSlice name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public ChannelSlice trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public ChannelSlice inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
