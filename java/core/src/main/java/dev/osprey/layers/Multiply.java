package dev.osprey.layers;

import dev.osprey.Config;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.ArrayList;
import java.util.List;

/**
 * The element-wise product of two or more tensors, as Keras' Multiply (gates, attention masks). The inputs have one
 * shape, or some of them are channel gates: (1, 1, C) beside (H, W, C) feature maps, each gate's C values scaling every
 * pixel of its sample, as squeeze-and-excitation blocks (MobileNetV3, EfficientNet) multiply them. Input i's gradient is
 * the output's times every other input, summed over the pixels for a gate.
 *
 * <p>A gate runs on the backends' {@link Backend#multiplyChannels} (one pass), and its gradient is the sum over the
 * pixels of the product's gradient, through their global average pooling.
 */
public final class Multiply extends Merge implements dev.osprey.engine.Fusion.OwnInputGradients {
    @Override
    public Shape outputShape(List<Shape> inputs) {
        if (inputs.size() < 2) {
            throw new IllegalArgumentException("Multiply: expected at least two inputs, received " + inputs.size());
        }
        Shape full = null;
        for (Shape s : inputs) {
            if (full == null || s.size() > full.size()) {
                full = s;
            }
        }
        for (Shape s : inputs) {
            if (!s.equals(full) && !isGate(s, full)) {
                throw new IllegalArgumentException("Multiply: expected inputs of one shape, or (1, 1, C) channel gates "
                        + "beside (H, W, C) inputs, received " + inputs.stream().map(Shape::toString).toList());
            }
        }
        return full;
    }

    /** Whether s is a (1, 1, C) gate of the (H, W, C) shape full. */
    private static boolean isGate(Shape s, Shape full) {
        return s.rank() == 3 && full.rank() == 3 && s.dim(0) == 1 && s.dim(1) == 1 && s.dim(2) == full.dim(2)
                && !s.equals(full);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        Backend backend = ctx.backend();
        Shape full = ctx.outputShape();
        List<Tensor> inputs = ctx.inputs();
        int n = inputs.size();
        boolean[] gate = new boolean[n];
        List<Integer> maps = new ArrayList<>(); // the inputs of the output's shape (one at least: outputShape)
        for (int i = 0; i < n; i++) {
            gate[i] = isGate(ctx.inputShapes().get(i), full);
            if (!gate[i]) {
                maps.add(i);
            }
        }
        Tensor output = ctx.allocateOutput();
        List<Tensor> dInputs = new ArrayList<>();
        boolean gateGradients = false;
        for (int i = 0; i < n; i++) {
            dInputs.add(ctx.needsInputGradient(i) ? ctx.allocateInputGradient(i) : null);
            gateGradients |= gate[i] && dInputs.get(i) != null;
        }
        PixelSum sum = gateGradients ? new PixelSum(ctx, full) : null;
        java.util.function.Supplier<Tensor> gateProduct = ctx.allocateOnFirstUse(ctx.outputBatchShape());
        List<Tensor> inputGradients = LayerRun.gradients(dInputs.toArray(Tensor[]::new));
        return LayerRun.of(output, seed -> {
            Tensor from = inputs.get(maps.get(0));
            for (int k = 1; k < maps.size(); k++) {
                backend.multiply(from, inputs.get(maps.get(k)), output);
                from = output;
            }
            for (int i = 0; i < n; i++) {
                if (gate[i]) {
                    backend.multiplyChannels(from, inputs.get(i), output);
                    from = output;
                }
            }
        }, dOutput -> {
            for (int i = 0; i < n; i++) {
                Tensor d = dInputs.get(i);
                if (d == null) {
                    continue;
                }
                Tensor product = gate[i] ? gateProduct.get() : d; // dOutput times every other input
                Tensor from = dOutput;
                for (int j = 0; j < n; j++) {
                    if (j != i) {
                        if (gate[j]) {
                            backend.multiplyChannels(from, inputs.get(j), product);
                        } else {
                            backend.multiply(from, inputs.get(j), product);
                        }
                        from = product;
                    }
                }
                if (gate[i]) {
                    sum.into(product, d);
                }
            }
        }, inputGradients);
    }

    /**
     * A gate's gradient: the sum of its sample's (H, W) pixels for each channel, as the backends' global average
     * pooling times H x W.
     */
    private static final class PixelSum {
        private final Backend backend;
        private final Pool2dSpec spec;
        private final float pixels;
        private final Tensor workspace;

        PixelSum(PlanContext ctx, Shape full) {
            this.backend = ctx.backend();
            this.spec = Pool2dSpec.global(Pool2dSpec.Mode.AVERAGE, ctx.batch(), full.dim(0), full.dim(1), full.dim(2));
            this.pixels = (float) full.dim(0) * full.dim(1);
            long workspaceFloats = backend.pool2dWorkspaceSize(spec);
            this.workspace = workspaceFloats > 0 ? ctx.allocate(Math.toIntExact(workspaceFloats)) : null;
        }

        void into(Tensor values, Tensor gateGradient) {
            backend.pool2dForward(spec, values, gateGradient, workspace);
            backend.scale(gateGradient, pixels, 0, gateGradient);
        }
    }

    /** Reads the layer from a model file's config (Keras' from_config). */
    public static Multiply fromConfig(Config c) {
        return withCommonConfig(new Multiply(), c);
    }

    // ---- Layer's setters, returning Multiply so that they chain with this layer's own ----------------------------

    @Override
    public Multiply name(String name) {
        super.name(name);
        return this;
    }

    @Override
    public Multiply trainable(boolean trainable) {
        super.trainable(trainable);
        return this;
    }

    @Override
    public Multiply inputShape(int... dims) {
        super.inputShape(dims);
        return this;
    }
}
