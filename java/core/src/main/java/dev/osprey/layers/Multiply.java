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
 * <p>A gate runs on the backends' global average pooling: its pixels are the pooling's gradient scaled by H x W (one
 * value copied to every pixel, rounded once), and its gradient is the pooling of the product's gradient scaled back.
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
        int[] shape = ctx.outputBatchShape();
        List<Tensor> inputs = ctx.inputs();
        int n = inputs.size();
        boolean[] gate = new boolean[n];
        int gates = 0;
        Tensor wide = null; // an input of the output's shape (one exists: outputShape keeps the largest)
        for (int i = 0; i < n; i++) {
            gate[i] = isGate(ctx.inputShapes().get(i), full);
            gates += gate[i] ? 1 : 0;
            if (!gate[i] && wide == null) {
                wide = inputs.get(i);
            }
        }
        Spread spread = gates == 0 ? null : new Spread(ctx, full, wide);
        // Each input at the output's shape. A training plan keeps every gate spread for the backward pass; an inference
        // plan spreads the first gate into the output and any other into one scratch tensor.
        Tensor[] operand = new Tensor[n];
        Tensor scratch = null;
        for (int i = 0; i < n; i++) {
            operand[i] = !gate[i] ? inputs.get(i) : ctx.backward() ? ctx.allocate(shape) : null;
        }
        if (!ctx.backward() && gates > 1) {
            scratch = ctx.allocate(shape);
        }
        Tensor output = ctx.allocateOutput();
        List<Tensor> dInputs = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            dInputs.add(ctx.needsInputGradient(i) ? ctx.allocateInputGradient(i) : null);
        }
        java.util.function.Supplier<Tensor> gateProduct = ctx.allocateOnFirstUse(shape);
        Tensor spareGates = scratch;
        boolean gatesStartTheOutput = gates > 0 && !ctx.backward();
        List<Tensor> inputGradients = LayerRun.gradients(dInputs.toArray(Tensor[]::new));
        return LayerRun.of(output, seed -> {
            if (gatesStartTheOutput) {
                boolean started = false;
                for (int i = 0; i < n; i++) {
                    if (gate[i]) {
                        spread.into(inputs.get(i), started ? spareGates : output);
                        if (started) {
                            backend.multiply(output, spareGates, output);
                        }
                        started = true;
                    }
                }
                for (int i = 0; i < n; i++) {
                    if (!gate[i]) {
                        backend.multiply(output, inputs.get(i), output);
                    }
                }
                return;
            }
            for (int i = 0; i < n; i++) {
                if (gate[i]) {
                    spread.into(inputs.get(i), operand[i]);
                }
            }
            backend.multiply(operand[0], operand[1], output);
            for (int i = 2; i < n; i++) {
                backend.multiply(output, operand[i], output);
            }
        }, dOutput -> {
            for (int i = 0; i < n; i++) {
                Tensor d = dInputs.get(i);
                if (d == null) {
                    continue;
                }
                Tensor product = gate[i] ? gateProduct.get() : d;
                boolean first = true;
                for (int j = 0; j < n; j++) {
                    if (j != i) {
                        backend.multiply(first ? dOutput : product, operand[j], product);
                        first = false;
                    }
                }
                if (gate[i]) {
                    spread.sum(product, d);
                }
            }
        }, inputGradients);
    }

    /**
     * A (1, 1, C) gate spread over the (H, W, C) pixels of its sample, and back: the average pooling's gradient of (gate
     * x pixels) is the gate at every pixel (within a rounding), and the sum over the pixels is their average scaled.
     */
    private static final class Spread {
        private final Backend backend;
        private final Pool2dSpec spec;
        private final float pixels;
        private final Tensor workspace;
        private final Tensor wide; // a tensor of the output's shape, for the pooling's x (average pooling reads none)

        Spread(PlanContext ctx, Shape full, Tensor wide) {
            this.backend = ctx.backend();
            this.spec = Pool2dSpec.global(Pool2dSpec.Mode.AVERAGE, ctx.batch(), full.dim(0), full.dim(1), full.dim(2));
            this.pixels = (float) full.dim(0) * full.dim(1);
            long workspaceFloats = backend.pool2dWorkspaceSize(spec);
            this.workspace = workspaceFloats > 0 ? ctx.allocate(Math.toIntExact(workspaceFloats)) : null;
            this.wide = wide;
        }

        void into(Tensor gate, Tensor target) {
            backend.pool2dBackward(spec, wide, gate, gate, workspace, target);
            backend.scale(target, pixels, 0, target);
        }

        void sum(Tensor values, Tensor gateGradient) {
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
