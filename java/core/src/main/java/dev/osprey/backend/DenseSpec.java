package dev.osprey.backend;

import dev.osprey.Activation;

/**
 * One dense layer: input (batch, inFeatures), kernel (inFeatures, units) as in Keras, bias (units),
 * output (batch, units). The activation is fused into the forward op (softmax is applied by the loss or by
 * {@link Backend#softmaxForward}, never here).
 */
public record DenseSpec(int batch, int inFeatures, int units, Activation activation) {
    public int[] inputShape() {
        return new int[] {batch, inFeatures};
    }

    public int[] outputShape() {
        return new int[] {batch, units};
    }

    public int[] kernelShape() {
        return new int[] {inFeatures, units};
    }

    public double forwardFlops() {
        return 2.0 * batch * inFeatures * units;
    }
}
