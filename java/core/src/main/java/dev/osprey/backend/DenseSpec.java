package dev.osprey.backend;

import dev.osprey.Activation;
import dev.osprey.MixedPrecision;
import dev.osprey.Precision;

/**
 * One dense layer: input (batch, inFeatures), kernel (inFeatures, units) as in Keras, bias (units),
 * output (batch, units). The activation is fused into the forward op (softmax is applied by the loss or by
 * {@link Backend#activationForward}, never here). {@code math} is how the training ops multiply:
 * {@link Precision#FP32}, or {@link Precision#BF16} to allow bf16 products with fp32 sums where the hardware has them
 * (every tensor stays fp32).
 */
public record DenseSpec(int batch, int inFeatures, int units, Activation activation, Precision math) {
    /** Throws IllegalArgumentException for math other than fp32, bf16 or fp16. */
    public DenseSpec {
        MixedPrecision.requireTrainingMath("DenseSpec", math);
    }

    /** A dense layer whose training ops multiply in fp32. */
    public DenseSpec(int batch, int inFeatures, int units, Activation activation) {
        this(batch, inFeatures, units, activation, Precision.FP32);
    }

    /** This dense layer with its training ops multiplying in another precision (fp32, bf16 or fp16). */
    public DenseSpec withMath(Precision m) {
        return m == math ? this : new DenseSpec(batch, inFeatures, units, activation, m);
    }

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
