package dev.osprey.layers;

import dev.osprey.Layer;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.Fusion;
import dev.osprey.engine.LayerRun;
import dev.osprey.engine.PlanContext;
import java.util.List;

/**
 * What the layers that only apply an activation share (Activation, ReLU, LeakyReLU, Softmax): shape in = shape out,
 * the activation forward and its gradient from the kept input. As a classifier's last layer, softmax becomes the
 * identity (the loss, or predict, applies it); in inference plans an element-wise one folds into the op before it.
 */
abstract class ActivationLayer extends Layer implements Fusion.ActivationOnly, Fusion.OwnInputGradients {
    /** The function this layer applies. */
    abstract dev.osprey.Activation function();

    @Override
    public dev.osprey.Activation activation() {
        return function();
    }

    @Override
    public dev.osprey.Activation elementwiseActivation() {
        return function();
    }

    @Override
    public Shape outputShape(List<Shape> inputs) {
        return single(inputs);
    }

    @Override
    public LayerRun plan(PlanContext ctx) {
        dev.osprey.Activation a = function();
        boolean softmax = a.kind() == dev.osprey.Activation.Kind.SOFTMAX;
        if (ctx.leavesOut(a.kind())) {
            return LayerRun.passThrough(ctx.input()); // the loss (or predict) applies it
        }
        Backend backend = ctx.backend();
        Tensor input = ctx.input();
        Tensor output = ctx.allocateOutput();
        Tensor dInput = ctx.needsInputGradient(0) ? ctx.allocateInputGradient(0) : null;
        List<Tensor> inputGradients = LayerRun.gradients(dInput);
        return LayerRun.of(output, seed -> backend.activationForward(a, input, output), dOutput -> {
            if (dInput != null) {
                backend.activationBackward(a, softmax ? null : input, output, dOutput, dInput);
            }
        }, inputGradients);
    }
}
