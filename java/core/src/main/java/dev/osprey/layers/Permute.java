package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.PermuteSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Reorders each sample's axes, as Keras' Permute: {@code new Permute(2, 3, 1)} turns (C, H, W) samples into
 * (H, W, C), for models that take NCHW input. Dims number the sample's axes from 1 (the batch stays first); samples
 * of rank 1 to 3.
 */
public final class Permute extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final int[] dims;

    /** The output's axis i is the input's axis dims[i] (1-based, as Keras numbers them). */
    public Permute(int... dims) {
        if (dims == null || dims.length < 1 || dims.length > 3) {
            throw new IllegalArgumentException("Permute: expected 1 to 3 axes, received "
                    + (dims == null ? "none" : Arrays.toString(dims)));
        }
        boolean[] seen = new boolean[dims.length];
        for (int d : dims) {
            if (d < 1 || d > dims.length || seen[d - 1]) {
                throw new IllegalArgumentException("Permute: expected a permutation of 1.." + dims.length
                        + ", received " + Arrays.toString(dims));
            }
            seen[d - 1] = true;
        }
        this.dims = dims.clone();
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        if (in.rank() != dims.length) {
            throw new IllegalArgumentException("Permute: expected samples of rank " + dims.length + " for dims "
                    + Arrays.toString(dims) + ", received " + in);
        }
        int[] out = new int[dims.length];
        for (int i = 0; i < dims.length; i++) {
            out[i] = in.dim(dims[i] - 1);
        }
        return Shape.of(out);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        int[] perm = Arrays.stream(dims).map(d -> d - 1).toArray();
        PermuteSpec spec = PermuteSpec.of(ctx.batch(), ctx.inputShape().dims(), perm);
        PermuteSpec back = spec.inverse();
        Tensor input = ctx.input();
        Tensor output = ctx.allocateOutput();
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        return LayerRun.of(output, seed -> backend.permute(spec, input, output), dOutput -> {
            if (dInput != null) {
                backend.permute(back, dOutput, dInput);
            }
        }, LayerRun.gradients(dInput));
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("dims", Arrays.stream(dims).boxed().toList());
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Permute fromConfig(Config c) {
        return withCommonConfig(new Permute(c.integerList("dims")), c);
    }

    // ---- Layer's setters, returning Permute so that they chain with this layer's own ----------------------------

    @Override
    public Permute name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Permute trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Permute inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
