package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.CounterRandom;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Stochastic depth (Huang et al. 2016; the StochasticDepth of Keras' ConvNeXt and EfficientNet, torchvision's
 * StochasticDepth in "row" mode), for a residual block's branch, before its Add: while training it drops the whole
 * branch for a share {@code rate} of the samples and scales it by 1 / (1 - rate) for the others, so that each block
 * trains as if the network were shallower at random; in inference it is the identity and costs nothing. Each sample's
 * draw is dropout's for that sample's first value, so a batch split across devices drops the samples one device
 * drops. The draws are made on the host (a float per sample) and applied as a per-sample gate.
 */
public final class StochasticDepth extends Layer implements Fusion.OwnInputGradients, Fusion.InferenceIdentity {
    private final double rate;

    /** Drops the branch for this share of samples while training, 0 <= rate < 1 (Keras' drop_path_rate). */
    public StochasticDepth(double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException("StochasticDepth: expected 0 <= rate < 1, received rate=" + rate);
        }
        this.rate = rate;
    }

    /** The share of samples whose branch is dropped while training. */
    public double rate() {
        return rate;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        return single(inputs);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Tensor input = ctx.input();
        if (!ctx.training()) {
            return LayerRun.passThrough(input);
        }
        // in training it writes its own input gradient (Fusion.OwnInputGradients), rate 0 too: every keep is then 1
        Backend backend = ctx.backend();
        int batch = ctx.batch();
        int size = ctx.inputShape().size();
        // every sample's values times that sample's keep: Multiply's channel gate with one "channel" of all its values
        Tensor output = ctx.allocateOutput();
        Tensor x = backend.view(input, 0, batch, size, 1);
        Tensor y = backend.view(output, 0, batch, size, 1);
        Tensor keep = ctx.allocate(batch, 1, 1);
        float[] keeps = new float[batch];
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        Tensor dx = dInput == null ? null : backend.view(dInput, 0, batch, size, 1);
        ReshapedGradient dy = new ReshapedGradient(backend, batch, size, 1);
        float r = (float) rate;
        return LayerRun.of(output, seed -> {
            CounterRandom.rowKeeps(r, seed, size, keeps);
            backend.copyIn(keeps, 0, keep);
            backend.multiplyChannels(x, keep, y);
        }, dOutput -> {
            if (dx != null) {
                backend.multiplyChannels(dy.of(dOutput), keep, dx);
            }
        }, LayerRun.gradients(dInput));
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("drop_path_rate", rate);
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config: drop_path_rate). */
    public static StochasticDepth fromConfig(Config c) {
        return withCommonConfig(new StochasticDepth(c.number("drop_path_rate")), c);
    }

    // ---- Layer's setters, returning StochasticDepth so that they chain with this layer's own --------------------

    @Override
    public StochasticDepth name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public StochasticDepth trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public StochasticDepth inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
