package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A learned embedding per position, as keras-hub's PositionEmbedding: for an input of (positions, features) it returns
 * the first {@code positions} rows of its (sequenceLength, features) weight, the same for every sample, which a model
 * adds to its tokens: {@code new Add().apply(tokens, new PositionEmbedding(n).apply(tokens))} (a Vision Transformer's
 * position embedding). Only the input's shape is read, never its values: the gradient it passes back is zero.
 */
public final class PositionEmbedding extends Layer implements dev.osprey.engine.Fusion.OwnInputGradients {
    private final int sequenceLength;
    private Initializer initializer = Initializer.glorotUniform();

    /** Embeddings for up to sequenceLength positions. */
    public PositionEmbedding(int sequenceLength) {
        this.sequenceLength = positive("PositionEmbedding", "sequenceLength", sequenceLength);
    }

    /** How the embeddings start (default glorot uniform, keras-hub's; torchvision's ViT draws normal(0, 0.02)). */
    public PositionEmbedding initializer(Initializer i) {
        this.initializer = java.util.Objects.requireNonNull(i, "initializer");
        return this;
    }

    public int sequenceLength() {
        return sequenceLength;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        if (in.rank() != 2 || in.dim(0) > sequenceLength) {
            throw new IllegalArgumentException("PositionEmbedding: expected an input of shape (positions, features) "
                    + "with at most " + sequenceLength + " positions, received " + in);
        }
        return in;
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        int features = single(inputs).dim(1);
        return List.of(ParamSpec.trainable("embeddings", new int[] {sequenceLength, features}, initializer));
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Shape in = ctx.inputShape();
        int used = in.size();
        int features = in.dim(1);
        Tensor embeddings = ctx.param("embeddings");
        Tensor gradient = ctx.backward() ? ctx.gradient("embeddings") : null;
        RowBroadcast rows = new RowBroadcast(ctx, embeddings, gradient, used);
        Tensor output = ctx.allocateOutput();
        Tensor outputRows = ctx.backend().view(output, 0, ctx.batch(), used);
        // positions past the input's have no gradient: zero, written each step as every gradient is
        int unused = (sequenceLength - in.dim(0)) * features;
        Tensor unusedGradient = gradient == null || unused == 0 ? null : ctx.backend().view(gradient, used, unused);
        ReshapedGradient dRows = new ReshapedGradient(ctx.backend(), ctx.batch(), used);
        // the output does not depend on the input's values: where the plan wants the input's gradient, it is zero
        Tensor dInput = ctx.backward() && ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        return LayerRun.of(output, seed -> rows.broadcast(outputRows), dOutput -> {
            if (rows.trains()) {
                rows.sum(dRows.of(dOutput));
                if (unusedGradient != null) {
                    ctx.backend().fill(unusedGradient, 0f);
                }
            }
            if (dInput != null) { // written each step: the plan may lend its memory to other gradients between steps
                ctx.backend().fill(dInput, 0f);
            }
        }, LayerRun.gradients(dInput));
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("sequence_length", sequenceLength);
        c.put("initializer", initializer.toConfig());
        return c;
    }

    /** Reads the layer from a model file's config (keras-hub's from_config). */
    public static PositionEmbedding fromConfig(Config c) {
        return withCommonConfig(new PositionEmbedding(c.integer("sequence_length"))
                .initializer(c.initializer("initializer", Initializer.glorotUniform())), c);
    }

    // ---- Layer's setters, returning PositionEmbedding so that they chain with this layer's own -------------------

    @Override
    public PositionEmbedding name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public PositionEmbedding trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public PositionEmbedding inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
