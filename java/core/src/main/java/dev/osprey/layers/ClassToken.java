package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Puts a learned token before every sample's tokens, (positions, features) to (positions + 1, features), as a Vision
 * Transformer's class token (torchvision's {@code class_token}; in keras-hub part of ViT's patching-and-embedding
 * layer): the model reads its output row 0 as the image's summary, e.g. with {@code Cropping1D(0, positions)} and
 * Flatten. The token starts at zeros, as torchvision's.
 */
public final class ClassToken extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private Initializer initializer = Initializer.zeros();

    /** How the token starts (default zeros). */
    public ClassToken initializer(Initializer i) {
        this.initializer = java.util.Objects.requireNonNull(i, "initializer");
        return this;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        if (in.rank() != 2) {
            throw new IllegalArgumentException("ClassToken: expected an input of shape (positions, features), "
                    + "received " + in);
        }
        return Shape.of(in.dim(0) + 1, in.dim(1));
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        return List.of(ParamSpec.trainable("class_token", new int[] {single(inputs).dim(1)}, initializer));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        int batch = ctx.batch();
        int features = ctx.inputShape().dim(1);
        int rest = ctx.inputShape().size();
        Tensor gradient = ctx.backward() ? ctx.gradient("class_token") : null;
        RowBroadcast token = new RowBroadcast(ctx, ctx.param("class_token"), gradient, features);
        Tensor dInput = ctx.backward() && ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        // the token's rows, their gradient and (where the input's gradient is not wanted) the rest of the gradient the
        // split writes live only within this layer's run: memory the plan's layers share
        List<Tensor> scratch = ctx.scratch(new int[] {batch, features}, new int[] {batch, features},
                new int[] {batch, ctx.backward() && dInput == null ? rest : 1});
        Tensor tokenRows = scratch.get(0);
        Tensor output = ctx.allocateOutput();
        List<Tensor> parts = List.of(tokenRows, backend.view(ctx.input(), 0, batch, rest));
        Tensor whole = backend.view(output, 0, batch, features + rest);
        if (!ctx.backward()) {
            return LayerRun.of(output, seed -> {
                token.broadcast(tokenRows);
                backend.concat(batch, parts, whole);
            }, dOutput -> {
                throw new IllegalStateException(describe() + ": an inference plan has no backward pass");
            }, LayerRun.gradients((Tensor) null));
        }
        Tensor dTokenRows = scratch.get(1);
        Tensor dRest = dInput != null ? backend.view(dInput, 0, batch, rest) : scratch.get(2);
        List<Tensor> dParts = List.of(dTokenRows, dRest);
        ReshapedGradient dWhole = new ReshapedGradient(backend, batch, features + rest);
        return LayerRun.of(output, seed -> {
            token.broadcast(tokenRows);
            backend.concat(batch, parts, whole);
        }, dOutput -> {
            if (dInput != null || token.trains()) {
                backend.split(batch, dWhole.of(dOutput), dParts);
            }
            if (token.trains()) {
                token.sum(dTokenRows);
            }
        }, LayerRun.gradients(dInput));
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("initializer", initializer.toConfig());
        return c;
    }

    /** Reads the layer from a model file's config. */
    public static ClassToken fromConfig(Config c) {
        return withCommonConfig(new ClassToken().initializer(c.initializer("initializer", Initializer.zeros())), c);
    }

    // ---- Layer's setters, returning ClassToken so that they chain with this layer's own --------------------------

    @Override
    public ClassToken name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public ClassToken trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public ClassToken inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
