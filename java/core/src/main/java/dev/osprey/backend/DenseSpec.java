package dev.osprey.backend;

import dev.osprey.Activation;

/**
 * One dense layer: input (batch, inFeatures), kernel (inFeatures, units) as in Keras, bias (units),
 * output (batch, units). The activation is fused into the forward op (softmax is applied by the loss or by
 * {@link Backend#activationForward}, never here).
 */
public record DenseSpec(int batch, int inFeatures, int units, Activation activation) {
    /** (batch, inFeatures): the shape of x and dx. */
    public int[] inputShape() {
        return new int[] {batch, inFeatures};
    }

    /** (batch, units): the shape of y and dy. */
    public int[] outputShape() {
        return new int[] {batch, units};
    }

    /** Keras' kernel shape, (inFeatures, units): that of kernel and dKernel. */
    public int[] kernelShape() {
        return new int[] {inFeatures, units};
    }

    /** Multiply-adds of the forward op times two. */
    public double forwardFlops() {
        return 2.0 * batch * inFeatures * units;
    }
}
