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
 * Drops positions from the start and the end of each sample's (positions, features), as Keras' Cropping1D: a Vision
 * Transformer's head reads its class token with {@code new Cropping1D(0, positions - 1)} and Flatten. The gradient of
 * the dropped positions is zero.
 */
public final class Cropping1D extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final int start;
    private final int end;

    /** Drops start positions at the beginning and end at the end (Keras' cropping=(start, end)). */
    public Cropping1D(int start, int end) {
        if (start < 0 || end < 0) {
            throw new IllegalArgumentException("Cropping1D: expected cropping >= 0 at both ends, received (" + start
                    + ", " + end + ")");
        }
        this.start = start;
        this.end = end;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        long kept = in.rank() != 2 ? 0 : (long) in.dim(0) - start - end; // in long: a file's cropping may be huge
        if (kept < 1) {
            throw new IllegalArgumentException("Cropping1D: expected an input of shape (positions, features) with more "
                    + "than " + ((long) start + end) + " positions, received " + in);
        }
        return Shape.of((int) kept, in.dim(1));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        int batch = ctx.batch();
        int features = ctx.inputShape().dim(1);
        int kept = ctx.outputShape().size();
        Tensor output = ctx.allocateOutput();
        Tensor whole = backend.view(ctx.input(), 0, batch, ctx.inputShape().size());
        // the dropped rows live only within this layer's run (the forward's split writes them, the backward zeroes them
        // for its concatenation): memory the plan's layers share
        List<Tensor> dropped = ctx.scratch(new int[] {batch, Math.max(1, start) * features},
                new int[] {batch, Math.max(1, end) * features});
        Tensor before = start == 0 ? null : dropped.get(0);
        Tensor after = end == 0 ? null : dropped.get(1);
        List<Tensor> parts = parts(before, backend.view(output, 0, batch, kept), after);
        Tensor dInput = ctx.backward() && ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        Tensor dWhole = dInput == null ? null : backend.view(dInput, 0, batch, ctx.inputShape().size());
        ReshapedGradient dKept = new ReshapedGradient(backend, batch, kept);
        List<Tensor> dParts = new ArrayList<>(parts); // the middle part swapped for the output gradient's view
        int middle = before == null ? 0 : 1;
        return LayerRun.of(output, seed -> backend.split(batch, whole, parts), dOutput -> {
            if (dInput != null) {
                // the scratch parts are zeroed here, after the forward that wrote them: their values are not needed
                if (before != null) {
                    backend.fill(before, 0f);
                }
                if (after != null) {
                    backend.fill(after, 0f);
                }
                dParts.set(middle, dKept.of(dOutput));
                backend.concat(batch, dParts, dWhole);
            }
        }, LayerRun.gradients(dInput));
    }

    private static List<Tensor> parts(Tensor before, Tensor middle, Tensor after) {
        List<Tensor> parts = new ArrayList<>(3);
        if (before != null) {
            parts.add(before);
        }
        parts.add(middle);
        if (after != null) {
            parts.add(after);
        }
        return parts;
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("cropping", List.of(start, end));
        return c;
    }

    /** A config's cropping as an int: refused unless a whole number in int's range (1.5 or 1e10 are not). */
    private static int whole(Number n) {
        double v = n.doubleValue();
        if (v != Math.rint(v) || v < Integer.MIN_VALUE || v > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("Cropping1D config: expected cropping of whole numbers, received " + n);
        }
        return (int) v;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Cropping1D fromConfig(Config c) {
        Object cropping = c.raw("cropping");
        if (cropping instanceof Number n) {
            return withCommonConfig(new Cropping1D(whole(n), whole(n)), c);
        }
        if (cropping instanceof List<?> l && l.size() == 2 && l.get(0) instanceof Number a
                && l.get(1) instanceof Number b) {
            return withCommonConfig(new Cropping1D(whole(a), whole(b)), c);
        }
        throw new IllegalArgumentException("Cropping1D config: expected cropping as a number or [start, end], received "
                + cropping);
    }

    // ---- Layer's setters, returning Cropping1D so that they chain with this layer's own --------------------------

    @Override
    public Cropping1D name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Cropping1D trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Cropping1D inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
