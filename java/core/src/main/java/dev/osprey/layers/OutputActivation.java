package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.PlanContext;

/**
 * The activation at the end of a layer with a linear op (Conv2D, DepthwiseConv2D, Dense), planned once: fused into the
 * op where the backward pass can do without the op's raw output (or where there is no backward pass), otherwise run as
 * its own op on a kept copy of the raw output. Softmax is never fused (it is not element-wise), and a classifier's last
 * layer leaves its softmax or sigmoid to the loss when the loss applies it.
 */
final class OutputActivation {
    private final Activation activation;
    private final boolean fused;
    private final Tensor raw;       // the op's output: (batch, out...), the same tensor as output when fused
    private final Tensor output;
    /**
     * dL/draw, null when the activation is linear or there is no backward; made on the first backward that needs it
     * (where every step's reader applies the ReLU's gradient instead, reluGate, it is never made).
     */
    private final java.util.function.Supplier<Tensor> rawGradient;

    OutputActivation(PlanContext ctx, Activation own) {
        Activation a = ctx.activation(own);
        if (ctx.leavesOut(a.kind())) {
            a = Activation.LINEAR;
        }
        this.activation = a;
        this.fused = a.kind() != Activation.Kind.SOFTMAX && (!ctx.backward() || a.differentiableFromOutput());
        this.output = ctx.allocateOutput();
        this.raw = fused ? output : ctx.allocate(ctx.outputBatchShape());
        boolean linear = a.kind() == Activation.Kind.LINEAR;
        this.rawGradient = ctx.backward() && !linear ? ctx.allocateOnFirstUse(ctx.outputBatchShape()) : null;
    }

    /** What the op itself applies. */
    Activation fusedIntoOp() {
        return fused ? activation : Activation.LINEAR;
    }

    /** Whether the op applies the activation itself, so that {@link #forward} does nothing. */
    boolean fused() {
        return fused;
    }

    /** Where the op writes. */
    Tensor raw() {
        return raw;
    }

    Tensor output() {
        return output;
    }

    /** After the op: the activation, unless the op applied it. */
    void forward(Backend backend) {
        if (!fused) {
            backend.activationForward(activation, raw, output);
        }
    }

    /**
     * The output where the activation is a plain ReLU (no slope, no cap) whose gradient backward takes from it, so
     * that a reader of the output may apply that gradient instead (LayerRun.reluGate); null otherwise.
     */
    Tensor reluGate() {
        // a slope of +0 exactly: with -0 the ReLU's own backward would write dy * -0, another zero's sign
        boolean plainRelu = activation.kind() == Activation.Kind.RELU && Float.floatToRawIntBits(activation.alpha()) == 0
                && activation.maxValue() == Float.POSITIVE_INFINITY;
        return plainRelu && fused && rawGradient != null ? output : null;
    }

    /** dL/draw from dL/doutput (dOutput itself when the activation is linear; never written). */
    Tensor backward(Backend backend, Tensor dOutput) {
        if (rawGradient == null) {
            return dOutput;
        }
        Tensor g = rawGradient.get();
        backend.activationBackward(activation, fused ? null : raw, output, dOutput, g);
        return g;
    }
}
