package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Initializer;
import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.BatchNormSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.ParamSpec;
import dev.osprey.engine.PlanContext;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * Batch normalization over the last axis (channels), as Keras' BatchNormalization: momentum 0.99, epsilon 1e-3, gamma
 * and beta trained, moving mean and variance updated while training (moving = moving * momentum + batch * (1 -
 * momentum), biased batch variance) and used in inference; they are state, kept out of the optimizer. A frozen layer
 * (trainable(false)) normalizes with the moving statistics also while the model trains, as Keras does. Inference plans
 * fold it into the convolution or dense layer before it; training plans may let it write the residual sum after it
 * (with that sum's ReLU) in its own pass, where the backend can.
 */
public final class BatchNormalization extends Layer implements Fusion.ChannelAffine, Fusion.ActivationAbsorber,
        Fusion.TrainingResidualAbsorber, Fusion.OwnInputGradients {
    private double momentum = 0.99;
    private double epsilon = 1e-3;
    private Initializer gammaInitializer = Initializer.ones();
    private Initializer betaInitializer = Initializer.zeros();
    private Initializer movingMeanInitializer = Initializer.zeros();
    private Initializer movingVarianceInitializer = Initializer.ones();
    /** Keras' axis, counting the batch as axis 0: -1, or the input's last axis by number (3 for images). */
    private int axis = -1;

    /** Weight of the old value when the moving statistics are updated, in [0, 1] (default 0.99). */
    public BatchNormalization momentum(double momentum) {
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("BatchNormalization: expected 0 <= momentum <= 1, received momentum="
                    + momentum);
        }
        this.momentum = momentum;
        return this;
    }

    /** Small constant added to the variance, > 0 (default 1e-3). */
    public BatchNormalization epsilon(double epsilon) {
        if (!(epsilon > 0)) {
            throw new IllegalArgumentException("BatchNormalization: expected epsilon > 0, received epsilon=" + epsilon);
        }
        this.epsilon = epsilon;
        return this;
    }

    /** How the scale gamma starts (default ones). */
    public BatchNormalization gammaInitializer(Initializer i) {
        this.gammaInitializer = i;
        return this;
    }

    /** How the offset beta starts (default zeros). */
    public BatchNormalization betaInitializer(Initializer i) {
        this.betaInitializer = i;
        return this;
    }

    /** How the moving mean starts (default zeros). */
    public BatchNormalization movingMeanInitializer(Initializer i) {
        this.movingMeanInitializer = i;
        return this;
    }

    /** How the moving variance starts (default ones). */
    public BatchNormalization movingVarianceInitializer(Initializer i) {
        this.movingVarianceInitializer = i;
        return this;
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        Shape in = single(inputs);
        if (axis != -1 && axis != in.rank()) {
            throw new IllegalArgumentException("BatchNormalization: expected axis -1 or " + in.rank() + " (the last of "
                    + "input " + in + "), received axis " + axis + " (only the channels-last axis is normalized)");
        }
        return in;
    }

    @Override
    public List<ParamSpec> parameters(List<Shape> inputs) {
        Shape in = inputs.get(0);
        int[] channels = {in.dim(in.rank() - 1)};
        return List.of(
                ParamSpec.trainable("gamma", channels, gammaInitializer),
                ParamSpec.trainable("beta", channels, betaInitializer),
                ParamSpec.state("moving_mean", channels, movingMeanInitializer),
                ParamSpec.state("moving_variance", channels, movingVarianceInitializer));
    }

    /** (batch, 1, positions, channels): every axis but the last is a row of statistics. */
    private BatchNormSpec spec(Shape in, int batch) {
        int channels = in.dim(in.rank() - 1);
        return new BatchNormSpec(batch, 1, in.size() / channels, channels, (float) epsilon, (float) momentum);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        dev.osprey.Activation fused = ctx.activation(dev.osprey.Activation.LINEAR);
        BatchNormSpec plain = spec(ctx.inputShape(), ctx.batch());
        // a training plan's residual sum after this layer, written here: fused is then the activation after the sum,
        // which the sum's backward differentiates (this layer's own backward sees no ReLU)
        Tensor residual = ctx.training() && ctx.residual() != null ? backend.view(ctx.residual(), 0, plain.shape())
                : null;
        BatchNormSpec spec = residual == null && fused.kind() == dev.osprey.Activation.Kind.RELU
                ? plain.withCappedRelu(fused.maxValue()) : plain;
        Tensor x = backend.view(ctx.input(), 0, spec.shape());
        Tensor output = ctx.allocateOutput();
        Tensor y = backend.view(output, 0, spec.shape());
        Tensor gamma = ctx.param("gamma"), beta = ctx.param("beta");
        Tensor movingMean = ctx.param("moving_mean"), movingVariance = ctx.param("moving_variance");
        boolean batchStatistics = ctx.training() && trainable();
        Tensor mean = batchStatistics ? ctx.allocate(spec.channels()) : null;
        Tensor variance = batchStatistics ? ctx.allocate(spec.channels()) : null;
        long workspaceSize = batchStatistics ? backend.batchNormWorkspaceSize(spec) : 0;
        Tensor workspace = workspaceSize > 0 ? ctx.allocate(Math.toIntExact(workspaceSize)) : null;
        Tensor dGamma = ctx.gradient("gamma"), dBeta = ctx.gradient("beta");
        boolean backward = ctx.backward();
        Tensor dInput = backward && ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        Tensor dx = dInput == null ? null : backend.view(dInput, 0, spec.shape());
        // The training-mode backward op writes all three gradients: scratch stands in for those nobody wants.
        boolean batchBackward = backward && batchStatistics;
        Tensor dxOut = dx != null || !batchBackward ? dx : ctx.allocate(spec.shape());
        Tensor dGammaOut = dGamma != null || !batchBackward ? dGamma : ctx.allocate(spec.channels());
        Tensor dBetaOut = dBeta != null || !batchBackward ? dBeta : ctx.allocate(spec.channels());
        FrozenGradient frozen = backward && !batchStatistics && dx != null ? new FrozenGradient(ctx, spec) : null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        ReshapedGradient dy = new ReshapedGradient(backend, spec.shape());
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(long seed) {
                if (residual != null) {
                    backend.batchNormForwardTrainingAdding(spec, x, residual, fused, gamma, beta, movingMean,
                            movingVariance, y, mean, variance);
                } else if (batchStatistics) {
                    backend.batchNormForwardTraining(spec, x, gamma, beta, movingMean, movingVariance, y, mean, variance,
                            workspace);
                } else {
                    backend.batchNormForwardInference(spec, x, gamma, beta, movingMean, movingVariance, y);
                }
            }

            @Override
            public List<Tensor> backward(Tensor dOutput) {
                Tensor dyView = dy.of(dOutput);
                if (batchStatistics) {
                    backend.batchNormBackward(spec, x, y, dyView, gamma, mean, variance, workspace, dxOut, dGammaOut,
                            dBetaOut);
                } else if (frozen != null) {
                    frozen.run(dyView, gamma, movingVariance, dx);
                }
                return inputGradients;
            }
        };
    }

    /**
     * dx = dy * gamma / sqrt(moving variance + epsilon): the gradient of the inference-mode normalization, for a
     * frozen layer whose input still needs one. Run as an inference normalization of dy with that scale, no shift,
     * zero mean and a variance of 1 - epsilon; the scale is read per step, since the weights may change between fits.
     */
    private static final class FrozenGradient {
        private final Backend backend;
        private final BatchNormSpec spec;
        private final Tensor scale;
        private final Tensor zeros;
        private final Tensor unit;
        private final float[] gamma;
        private final float[] variance;
        private final float[] values;

        FrozenGradient(PlanContext ctx, BatchNormSpec spec) {
            this.backend = ctx.backend();
            this.spec = spec;
            this.scale = ctx.allocate(spec.channels());
            this.zeros = ctx.allocate(spec.channels());
            this.unit = ctx.allocate(spec.channels());
            backend.fill(unit, 1 - spec.epsilon());
            this.gamma = new float[spec.channels()];
            this.variance = new float[spec.channels()];
            this.values = new float[spec.channels()];
        }

        void run(Tensor dy, Tensor gammaTensor, Tensor movingVariance, Tensor dx) {
            backend.copyOut(gammaTensor, gamma, 0);
            backend.copyOut(movingVariance, variance, 0);
            for (int c = 0; c < values.length; c++) {
                values[c] = (float) (gamma[c] / Math.sqrt(variance[c] + spec.epsilon()));
            }
            backend.copyIn(values, 0, scale);
            backend.batchNormForwardInference(spec, dy, scale, zeros, zeros, unit, dx);
        }
    }

    /**
     * A ReLU right after, capped (ReLU6) or not: fused into the op (a frozen layer in training keeps it apart: its
     * gradient path is plain).
     */
    @Override
    public boolean canAbsorbActivation(dev.osprey.Activation a, boolean training) {
        return a.kind() == dev.osprey.Activation.Kind.RELU && a.alpha() == 0f && (!training || trainable());
    }

    /** Where the backend adds in its pass, for a layer that trains (a frozen one normalizes as in inference). */
    @Override
    public boolean canAbsorbTrainingResidual(Backend backend, dev.osprey.Activation after) {
        return trainable() && backend.fusesBatchNormResidual(after);
    }

    @Override
    public float[][] inferenceScaleShift(Map<String, float[]> weights) {
        float[] gamma = weights.get("gamma"), beta = weights.get("beta");
        float[] mean = weights.get("moving_mean"), variance = weights.get("moving_variance");
        float[] scale = new float[gamma.length];
        float[] shift = new float[gamma.length];
        for (int c = 0; c < gamma.length; c++) {
            double s = gamma[c] / Math.sqrt((double) variance[c] + (float) epsilon);
            scale[c] = (float) s;
            shift[c] = (float) (beta[c] - mean[c] * s);
        }
        return new float[][] {scale, shift};
    }

    @Override
    protected Map<String, Object> layerConfig() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("axis", axis);
        c.put("momentum", momentum);
        c.put("epsilon", epsilon);
        c.put("center", true);
        c.put("scale", true);
        c.put("beta_initializer", betaInitializer.toConfig());
        c.put("gamma_initializer", gammaInitializer.toConfig());
        c.put("moving_mean_initializer", movingMeanInitializer.toConfig());
        c.put("moving_variance_initializer", movingVarianceInitializer.toConfig());
        return c;
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static BatchNormalization fromConfig(Config c) {
        Object axisConfig = c.raw("axis");
        Object single = axisConfig instanceof List<?> l && l.size() == 1 ? l.get(0) : axisConfig;
        if (single != null && !(single instanceof Number)) {
            throw new IllegalArgumentException("BatchNormalization config: expected one axis (-1, or the last axis by "
                    + "number), received " + axisConfig);
        }
        int axis = single == null ? -1 : ((Number) single).intValue();
        if (axis != -1 && axis < 1) {
            throw new IllegalArgumentException("BatchNormalization config: expected axis -1 or the last axis by number, "
                    + "received " + axisConfig + " (channels-first models aren't supported)");
        }
        if (!c.bool("center", true) || !c.bool("scale", true)) {
            throw new IllegalArgumentException("BatchNormalization config: expected center and scale true, received "
                    + "center=" + c.raw("center") + ", scale=" + c.raw("scale"));
        }
        BatchNormalization layer = new BatchNormalization().momentum(c.number("momentum", 0.99))
                .epsilon(c.number("epsilon", 1e-3))
                .gammaInitializer(c.initializer("gamma_initializer", Initializer.ones()))
                .betaInitializer(c.initializer("beta_initializer", Initializer.zeros()))
                .movingMeanInitializer(c.initializer("moving_mean_initializer", Initializer.zeros()))
                .movingVarianceInitializer(c.initializer("moving_variance_initializer", Initializer.ones()));
        layer.axis = axis;
        return withCommonConfig(layer, c);
    }

    // ---- Layer's setters, returning BatchNormalization so that they chain with this layer's own ----------------------------

    @Override
    public BatchNormalization name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public BatchNormalization trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public BatchNormalization inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
