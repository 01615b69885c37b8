package dev.osprey.backend;

import dev.osprey.Activation;

/**
 * One 2-D convolution: input (batch, inH, inW, inC), kernel (kernelH, kernelW, inC, filters) as in Keras,
 * bias (filters), output (batch, outH, outW, filters), with an activation fused into the forward op.
 * A record, so it is the key of the backend's plan cache.
 */
public record Conv2dSpec(int batch, int inH, int inW, int inC, int filters, int kernelH, int kernelW,
                         int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
                         Activation activation) {
    public Conv2dSpec {
        if (activation == Activation.SOFTMAX) {
            throw new IllegalArgumentException("Conv2D: softmax is only supported on the last Dense layer");
        }
    }

    public int outH() {
        return (inH + padTop + padBottom - kernelH) / strideH + 1;
    }

    public int outW() {
        return (inW + padLeft + padRight - kernelW) / strideW + 1;
    }

    public int[] inputShape() {
        return new int[] {batch, inH, inW, inC};
    }

    public int[] outputShape() {
        return new int[] {batch, outH(), outW(), filters};
    }

    public int[] kernelShape() {
        return new int[] {kernelH, kernelW, inC, filters};
    }

    /** Multiply-adds of the forward op times two. */
    public double forwardFlops() {
        return 2.0 * batch * outH() * outW() * filters * kernelH * kernelW * inC;
    }
}
