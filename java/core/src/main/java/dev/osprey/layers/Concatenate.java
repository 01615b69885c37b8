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
 * Joins tensors along one axis (the last, channels, by default), as Keras' Concatenate: every other axis must agree.
 * The gradient splits back along the same axis.
 */
public final class Concatenate extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final int axis;

    /** Along the last axis. */
    public Concatenate() {
        this(-1);
    }

    /** Along this axis, numbered as Keras does (the batch is axis 0; -1 is the last, channels for images). */
    public Concatenate(int axis) {
        if (axis == 0) {
            throw new IllegalArgumentException("Concatenate: expected an axis other than the batch's (0), received "
                    + "axis=0");
        }
        this.axis = axis;
    }

    /** The axis of a sample (no batch). */
    private int axisOf(Shape s) {
        int a = axis < 0 ? s.rank() + axis : axis - 1;
        if (a < 0 || a >= s.rank()) {
            throw new IllegalArgumentException("Concatenate: expected an axis of inputs of rank " + (s.rank() + 1)
                    + " with the batch (1 to " + s.rank() + ", or -1 to -" + s.rank() + "), received axis=" + axis);
        }
        return a;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        if (inputs.size() < 2) {
            throw new IllegalArgumentException("Concatenate: expected at least two inputs, received " + inputs.size());
        }
        Shape first = inputs.get(0);
        int a = axisOf(first);
        int[] out = first.dims();
        out[a] = 0;
        for (Shape s : inputs) {
            boolean fits = s.rank() == first.rank();
            for (int d = 0; fits && d < s.rank(); d++) {
                fits = d == a || s.dim(d) == first.dim(d);
            }
            if (!fits) {
                throw new IllegalArgumentException("Concatenate: expected inputs that agree on every axis but axis "
                        + axis + ", received " + inputs.stream().map(Shape::toString).toList());
            }
            out[a] += s.dim(a);
        }
        return Shape.of(out);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        List<Tensor> inputs = ctx.inputs();
        Shape first = ctx.inputShape();
        int rows = ctx.batch();
        for (int d = 0; d < axisOf(first); d++) {
            rows *= first.dim(d);
        }
        int batchRows = rows;
        Tensor output = ctx.allocateOutput();
        List<Tensor> dInputs = new ArrayList<>();
        List<Tensor> splitTargets = new ArrayList<>();
        boolean anyGradient = false;
        for (int i = 0; i < inputs.size(); i++) {
            boolean wanted = ctx.needsInputGradient(i);
            anyGradient |= wanted;
            // Every part is split out (the op writes them all); parts nobody wants go to scratch.
            Tensor part = !ctx.backward() ? null : wanted ? ctx.allocateInputGradient(i)
                    : ctx.allocate(ctx.inputShapes().get(i).withBatch(ctx.batch()));
            splitTargets.add(part);
            dInputs.add(wanted ? part : null);
        }
        boolean split = anyGradient;
        List<Tensor> inputGradients = LayerRun.gradients(dInputs.toArray(Tensor[]::new));
        return LayerRun.of(output, seed -> backend.concat(batchRows, inputs, output), dOutput -> {
            if (split) {
                backend.split(batchRows, dOutput, splitTargets);
            }
        }, inputGradients);
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("axis", axis);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Concatenate fromConfig(Config c) {
        return withCommonConfig(new Concatenate(c.integer("axis", -1)), c);
    }

    // ---- Layer's setters, returning Concatenate so that they chain with this layer's own ----------------------------

    @Override
    public Concatenate name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Concatenate trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Concatenate inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
