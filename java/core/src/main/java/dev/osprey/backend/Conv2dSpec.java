package dev.osprey.backend;

import dev.osprey.Activation;
import dev.osprey.MixedPrecision;
import dev.osprey.Precision;

/**
 * One 2-D convolution: input (batch, inH, inW, inC), kernel (kernelH, kernelW, inC / groups, filters) as in Keras,
 * bias (filters) when {@code hasBias}, output (batch, outH, outW, filters), with an activation fused into the forward
 * op. Filters are split into {@code groups} groups that each see inC / groups input channels (a depthwise
 * convolution is groups = inC). Dilation spreads the kernel taps {@code dilation} apart. A record, so it is the key
 * of the backend's plan cache. {@code math} is how the training ops multiply: {@link Precision#FP32}, or
 * {@link Precision#BF16} to allow bf16 products with fp32 sums where the hardware has them (mixed precision: every
 * tensor stays fp32).
 */
public record Conv2dSpec(int batch, int inH, int inW, int inC, int filters, int kernelH, int kernelW,
                         int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
                         int dilationH, int dilationW, int groups, boolean hasBias, Activation activation,
                         Precision math) {
    /**
     * Throws IllegalArgumentException for a softmax activation, for groups that are not positive or do not divide both
     * inC and filters, for a dilation or stride below 1, and for math other than fp32, bf16 or fp16.
     */
    public Conv2dSpec {
        MixedPrecision.requireTrainingMath("Conv2dSpec", math);
        if (activation.kind() == Activation.Kind.SOFTMAX) {
            throw new IllegalArgumentException("Conv2dSpec: softmax can't be fused into a convolution");
        }
        if (groups <= 0 || inC % groups != 0 || filters % groups != 0) {
            throw new IllegalArgumentException("Conv2dSpec: expected groups dividing both input channels (" + inC
                    + ") and filters (" + filters + "), received groups=" + groups);
        }
        if (dilationH <= 0 || dilationW <= 0) {
            throw new IllegalArgumentException("Conv2dSpec: expected dilation >= 1, received " + dilationH + "x" + dilationW);
        }
        if (strideH <= 0 || strideW <= 0) {
            throw new IllegalArgumentException("Conv2dSpec: expected strides >= 1, received " + strideH + "x" + strideW);
        }
    }

    /** A convolution whose training ops multiply in fp32. */
    public Conv2dSpec(int batch, int inH, int inW, int inC, int filters, int kernelH, int kernelW,
                      int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
                      int dilationH, int dilationW, int groups, boolean hasBias, Activation activation) {
        this(batch, inH, inW, inC, filters, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight,
                dilationH, dilationW, groups, hasBias, activation, Precision.FP32);
    }

    /** A plain convolution: no dilation, one group, with bias. */
    public Conv2dSpec(int batch, int inH, int inW, int inC, int filters, int kernelH, int kernelW,
                      int strideH, int strideW, int padTop, int padLeft, int padBottom, int padRight,
                      Activation activation) {
        this(batch, inH, inW, inC, filters, kernelH, kernelW, strideH, strideW, padTop, padLeft, padBottom, padRight,
                1, 1, 1, true, activation);
    }

    /** The kernel's extent once dilated. */
    public int effectiveKernelH() {
        return (kernelH - 1) * dilationH + 1;
    }

    /** The kernel's width once dilated. */
    public int effectiveKernelW() {
        return (kernelW - 1) * dilationW + 1;
    }

    /** Output rows: (inH + padTop + padBottom - effectiveKernelH()) / strideH + 1 (integer division). */
    public int outH() {
        return (inH + padTop + padBottom - effectiveKernelH()) / strideH + 1;
    }

    /** Output columns: (inW + padLeft + padRight - effectiveKernelW()) / strideW + 1 (integer division). */
    public int outW() {
        return (inW + padLeft + padRight - effectiveKernelW()) / strideW + 1;
    }

    /** (batch, inH, inW, inC): the shape of x and dx. */
    public int[] inputShape() {
        return new int[] {batch, inH, inW, inC};
    }

    /** (batch, outH, outW, filters): the shape of y and dy. */
    public int[] outputShape() {
        return new int[] {batch, outH(), outW(), filters};
    }

    /** Keras' kernel shape, (kernelH, kernelW, inC / groups, filters): that of kernel and dKernel. */
    public int[] kernelShape() {
        return new int[] {kernelH, kernelW, inC / groups, filters};
    }

    /** This convolution with another activation fused (or none). */
    public Conv2dSpec withActivation(Activation a) {
        return new Conv2dSpec(batch, inH, inW, inC, filters, kernelH, kernelW, strideH, strideW, padTop, padLeft,
                padBottom, padRight, dilationH, dilationW, groups, hasBias, a, math);
    }

    /** This convolution with a bias or without. */
    public Conv2dSpec withBias(boolean bias) {
        return new Conv2dSpec(batch, inH, inW, inC, filters, kernelH, kernelW, strideH, strideW, padTop, padLeft,
                padBottom, padRight, dilationH, dilationW, groups, bias, activation, math);
    }

    /** This convolution with its training ops multiplying in another precision (fp32, bf16 or fp16). */
    public Conv2dSpec withMath(Precision m) {
        return m == math ? this : new Conv2dSpec(batch, inH, inW, inC, filters, kernelH, kernelW, strideH, strideW,
                padTop, padLeft, padBottom, padRight, dilationH, dilationW, groups, hasBias, activation, m);
    }

    /** Multiply-adds of the forward op times two. */
    public double forwardFlops() {
        return 2.0 * batch * outH() * outW() * filters * kernelH * kernelW * (inC / groups);
    }

    // equals and hashCode written out: a record's generated ones link through invokedynamic at their first call,
    // tens of milliseconds of every start for the plan-cache keys (benchmarks/run-startup.sh). RecordKeysTest checks
    // that they cover every component.
    @Override
    public boolean equals(Object o) {
        return o instanceof Conv2dSpec s && s.batch == batch && s.inH == inH && s.inW == inW && s.inC == inC
                && s.filters == filters && s.kernelH == kernelH && s.kernelW == kernelW && s.strideH == strideH
                && s.strideW == strideW && s.padTop == padTop && s.padLeft == padLeft && s.padBottom == padBottom
                && s.padRight == padRight && s.dilationH == dilationH && s.dilationW == dilationW && s.groups == groups
                && s.hasBias == hasBias && java.util.Objects.equals(s.activation, activation) && s.math == math;
    }

    @Override
    public int hashCode() { // a running hash: looked up per call, so no array
        int h = batch;
        h = 31 * h + inH;
        h = 31 * h + inW;
        h = 31 * h + inC;
        h = 31 * h + filters;
        h = 31 * h + kernelH;
        h = 31 * h + kernelW;
        h = 31 * h + strideH;
        h = 31 * h + strideW;
        h = 31 * h + padTop;
        h = 31 * h + padLeft;
        h = 31 * h + padBottom;
        h = 31 * h + padRight;
        h = 31 * h + dilationH;
        h = 31 * h + dilationW;
        h = 31 * h + groups;
        h = 31 * h + (hasBias ? 1 : 0);
        h = 31 * h + java.util.Objects.hashCode(activation);
        return 31 * h + java.util.Objects.hashCode(math);
    }
}
