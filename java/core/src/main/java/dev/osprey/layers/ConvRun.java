package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.List;

/**
 * The run of a convolution layer (Conv2D, DepthwiseConv2D): the op with its bias and fused activation forward, and
 * filter, bias and data gradients backward. The kernel comes in Keras' layout for the spec, (kh, kw, in / groups, out).
 */
final class ConvRun implements LayerRun {
    private final Backend backend;
    private final Conv2dSpec spec;
    private final Tensor input;
    private final Tensor kernel;
    private final Tensor bias;
    private final Tensor dKernel;
    private final Tensor dBias;
    private final OutputActivation activation;
    private final Tensor dInput;
    private final List<Tensor> inputGradients;
    private final boolean inference;  // an optimized inference plan: the backend's inference op, a prepared kernel
    private final Tensor residual;    // added before the activation, or null
    private final ConvInference op;   // the convolution as an inference plan runs it
    private final Tensor depthwiseKernel; // a fused depthwise convolution's, prepared; null without one
    private final Tensor depthwiseBias;
    private Boolean fusesReluGate;        // whether the backend applies a ReLU gate in the backward pass, once asked

    /**
     * @param spec     the convolution without activation; its bias flag is set here from the tensors
     * @param kernel   the kernel viewed in the spec's layout; dKernel likewise, or null when not trained
     */
    ConvRun(PlanContext ctx, Conv2dSpec spec, Tensor kernel, Tensor bias, Tensor dKernel, Tensor dBias,
            Activation own) {
        this.backend = ctx.backend();
        this.activation = new OutputActivation(ctx, own);
        this.spec = spec.withBias(bias != null).withActivation(activation.fusedIntoOp()).withMath(ctx.trainingMath());
        this.input = ctx.input();
        this.inference = ctx.optimizedInference();
        this.residual = ctx.residual();
        if (ctx.quantizedOutput() != null && !activation.fusedIntoOp().equals(ctx.activation(own))) {
            throw new IllegalStateException("an int8 convolution can hand over 8-bit output only with its activation "
                    + "fused; this one's is " + ctx.activation(own));
        }
        PlanContext.DepthwiseAfter after = inference ? ctx.depthwiseAfter() : null;
        if (after != null && !activation.fusedIntoOp().equals(ctx.activation(own))) {
            throw new IllegalStateException("a convolution can run a depthwise one after it only with its activation "
                    + "fused; this one's is " + ctx.activation(own));
        }
        dev.osprey.backend.Pool2dSpec pool = inference ? ctx.maxPoolAfter() : null;
        if (pool != null && !activation.fusedIntoOp().equals(ctx.activation(own))) {
            throw new IllegalStateException("a convolution can run a max pooling after it only with its activation "
                    + "fused; this one's is " + ctx.activation(own));
        }
        this.op = new ConvInference(this.spec, residual != null, ctx.precision(), ctx.inputRange(),
                ctx.quantizedInput(), ctx.quantizedOutput(), after == null ? null : after.spec(), pool,
                ctx.quantizedResidual());
        this.kernel = inference ? prepared(ctx, op, kernel) : kernel;
        this.depthwiseKernel = after == null ? null : preparedDepthwise(ctx, op, after.kernel());
        this.depthwiseBias = after == null ? null : after.bias();
        this.bias = bias;
        this.dKernel = dKernel;
        this.dBias = dKernel == null ? null : dBias;
        this.dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        this.inputGradients = LayerRun.gradients(dInput);
    }

    /** The kernel in the layout the backend's inference op reads (the kernel itself where that is Keras'). */
    private static Tensor prepared(PlanContext ctx, ConvInference op, Tensor kernel) {
        Backend backend = ctx.backend();
        long floats = backend.conv2dInferenceKernelSize(op);
        return floats == 0 ? kernel : ctx.preparedWeight(kernel, floats,
                (keras, prepared) -> backend.conv2dPrepareInferenceKernel(op, keras, prepared));
    }

    /** A fused depthwise convolution's kernel in the layout the backend's fused op reads. */
    private static Tensor preparedDepthwise(PlanContext ctx, ConvInference op, Tensor kernel) {
        Backend backend = ctx.backend();
        long floats = backend.conv2dInferenceDepthwiseKernelSize(op);
        return floats == 0 ? kernel : ctx.preparedWeight(kernel, floats,
                (keras, prepared) -> backend.conv2dPrepareInferenceDepthwiseKernel(op, keras, prepared));
    }

    @Override
    public Tensor output() {
        return activation.output();
    }

    @Override
    public void forward(long seed) {
        if (depthwiseKernel != null) {
            backend.conv2dInferenceWithDepthwise(op, input, kernel, bias, depthwiseKernel, depthwiseBias,
                    activation.raw());
        } else if (inference) {
            backend.conv2dInference(op, input, kernel, bias, residual, activation.raw());
        } else {
            backend.conv2dForward(spec, input, kernel, bias, activation.raw());
        }
        activation.forward(backend);
    }

    /** An inference convolution with its activation fused and no depthwise one after it, where the backend chains it. */
    @Override
    public boolean chainForward(dev.osprey.backend.OpChain chain) {
        return inference && depthwiseKernel == null && activation.fused()
                && backend.chainConv2dInference(chain, op, input, kernel, bias, residual, activation.raw());
    }

    @Override
    public List<Tensor> backward(Tensor dOutput) {
        return backward(dOutput, null, null);
    }

    /**
     * Takes addends[0]: the backend adds it to the input gradient as it writes it; both backward directions go in one
     * call (conv2dBackward), so a backend can share work between them.
     */
    @Override
    public List<Tensor> backward(Tensor dOutput, Tensor[] addends, boolean[] added) {
        return backward(dOutput, addends, null, added, null);
    }

    /** Whether the backend applies a ReLU gate in this convolution's backward pass: asked once, at the first offer. */
    private boolean fusesReluGate() {
        if (fusesReluGate == null) {
            fusesReluGate = backend.fusesReluGate(spec);
        }
        return fusesReluGate;
    }

    /**
     * As above; takes gates[0] too (beside the addend) where the backend applies a ReLU's gradient in the same pass
     * (Backend.fusesReluGate): the input's producer then skips that pass.
     */
    @Override
    public List<Tensor> backward(Tensor dOutput, Tensor[] addends, Tensor[] gates, boolean[] added, boolean[] gated) {
        Tensor g = activation.backward(backend, dOutput);
        Tensor addend = dInput != null && addends != null ? addends[0] : null;
        Tensor gate = addend != null && gates != null && gated != null && dKernel != null && fusesReluGate()
                ? gates[0] : null;
        if (gate != null) {
            backend.conv2dBackwardGated(spec, input, g, kernel, dKernel, dBias, addend, gate, dInput);
            gated[0] = true;
        } else {
            backend.conv2dBackward(spec, input, g, kernel, dKernel, dBias, addend, dInput);
        }
        if (addend != null) {
            added[0] = true;
        }
        return inputGradients;
    }
}
