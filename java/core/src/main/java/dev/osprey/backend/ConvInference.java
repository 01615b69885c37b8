package dev.osprey.backend;

import dev.osprey.Precision;

/**
 * A convolution as an inference plan runs it: the spec (its activation applied last), whether a residual of the
 * output's shape is added before the activation, the precision of its products, and for int8 the range its input
 * was calibrated to. In int8, two convolutions in a row can hand 8-bit activations over: the first writes its output
 * mapped onto 8 bits by outputRange (its readers' calibrated input range), and the second, inputQuantized, reads
 * them as they are instead of converting an fp32 input. A pointwise convolution may also run the depthwise
 * convolution that alone reads its output, as one op whose output is the depthwise's ({@link #depthwise}, fp32 only:
 * see {@link Backend#fusesDepthwise}); the pointwise output is then never written. Likewise a convolution may run the
 * max pooling that alone reads its output ({@link #maxPool}, fp32: see {@link Backend#fusesMaxPool}; int8: see
 * {@link Backend#fusesMaxPoolInInt8}), writing only the pooled map; an int8 plan that keeps such a pair in fp32
 * ({@link Backend#keepsFp32InInt8}) may still have it hand its pooled map over in 8 bits (outputRange). In int8 the
 * residual too may come as 8-bit values ({@link #residualRange}: the range its producer wrote them in, which is also
 * the range of the int8 convolutions that read it), so a ResNet's stream of block outputs stays 8-bit from block to
 * block. A record: a plan-cache key.
 */
public record ConvInference(Conv2dSpec spec, boolean residual, Precision precision, InputRange inputRange,
                            boolean inputQuantized, InputRange outputRange, Conv2dSpec depthwise,
                            Pool2dSpec maxPool, InputRange residualRange) {
    /**
     * Throws NullPointerException when spec or precision is null, IllegalArgumentException when int8 (or a quantized
     * input) comes without an input range. A quantized input counts only in int8 ({@link #quantizedInput}), a quantized
     * output in int8 or from an fp32 convolution with its max pooling ({@link #quantizedOutput}); plans never ask for
     * one elsewhere.
     */
    public ConvInference {
        java.util.Objects.requireNonNull(spec, "spec");
        java.util.Objects.requireNonNull(precision, "precision");
        if ((precision == Precision.INT8 || inputQuantized) && inputRange == null) {
            throw new IllegalArgumentException("int8 convolution " + spec + ": expected a calibrated input range, "
                    + "received none");
        }
        if (depthwise != null) {
            if (precision != Precision.FP32 || residual || inputQuantized || outputRange != null) {
                throw new IllegalArgumentException("convolution " + spec + " with a depthwise one after it: expected "
                        + "fp32 without a residual or 8-bit hand-overs, received " + precision + (residual
                        ? " with a residual" : "") + (inputQuantized || outputRange != null ? " with hand-overs" : ""));
            }
            if (!java.util.Arrays.equals(spec.outputShape(), depthwise.inputShape())
                    || depthwise.groups() != depthwise.inC() || depthwise.filters() != depthwise.inC()) {
                throw new IllegalArgumentException("convolution " + spec + ": expected a depthwise convolution of its "
                        + "output " + Tensor.describe(spec.outputShape()) + " after it, received " + depthwise);
            }
        }
        if (residualRange != null && (!residual || precision != Precision.INT8
                || !scaleInvariant(spec.activation()))) {
            throw new IllegalArgumentException("convolution " + spec + " with an 8-bit residual: expected int8 with a "
                    + "residual and an activation that commutes with scaling (linear, ReLU without a cap), received "
                    + precision + (residual ? "" : " without a residual") + " and " + spec.activation());
        }
        if (maxPool != null) {
            if (precision != Precision.FP32 && precision != Precision.INT8 || residual || depthwise != null
                    || inputQuantized && precision != Precision.INT8) {
                throw new IllegalArgumentException("convolution " + spec + " with a max pooling after it: expected "
                        + "fp32 or int8 alone (no residual or depthwise convolution; an 8-bit input in int8 only), "
                        + "received " + precision + (residual ? " with a residual" : "")
                        + (depthwise != null ? " with a depthwise one" : "")
                        + (inputQuantized ? " with an 8-bit input" : ""));
            }
            if (maxPool.mode() != Pool2dSpec.Mode.MAX
                    || !java.util.Arrays.equals(spec.outputShape(), maxPool.inputShape())) {
                throw new IllegalArgumentException("convolution " + spec + ": expected a max pooling of its output "
                        + Tensor.describe(spec.outputShape()) + " after it, received " + maxPool);
            }
        }
    }

    /** With an fp32 residual (where there is one). */
    public ConvInference(Conv2dSpec spec, boolean residual, Precision precision, InputRange inputRange,
                         boolean inputQuantized, InputRange outputRange, Conv2dSpec depthwise, Pool2dSpec maxPool) {
        this(spec, residual, precision, inputRange, inputQuantized, outputRange, depthwise, maxPool, null);
    }

    /** Without a depthwise convolution or max pooling after it. */
    public ConvInference(Conv2dSpec spec, boolean residual, Precision precision, InputRange inputRange,
                         boolean inputQuantized, InputRange outputRange, Conv2dSpec depthwise) {
        this(spec, residual, precision, inputRange, inputQuantized, outputRange, depthwise, null);
    }

    /** Without a depthwise convolution after it. */
    public ConvInference(Conv2dSpec spec, boolean residual, Precision precision, InputRange inputRange,
                         boolean inputQuantized, InputRange outputRange) {
        this(spec, residual, precision, inputRange, inputQuantized, outputRange, null);
    }

    /** Reading and writing fp32 activations. */
    public ConvInference(Conv2dSpec spec, boolean residual, Precision precision, InputRange inputRange) {
        this(spec, residual, precision, inputRange, false, null);
    }

    /** Without an input range (any precision but int8). */
    public ConvInference(Conv2dSpec spec, boolean residual, Precision precision) {
        this(spec, residual, precision, null);
    }

    /** This convolution with depthwise (null: none) run after it as one op. */
    public ConvInference withDepthwise(Conv2dSpec next) {
        return new ConvInference(spec, residual, precision, inputRange, inputQuantized, outputRange, next, maxPool,
                residualRange);
    }

    /** This convolution with pool (null: none), a max pooling of its output, run after it as one op. */
    public ConvInference withMaxPool(Pool2dSpec pool) {
        return new ConvInference(spec, residual, precision, inputRange, inputQuantized, outputRange, depthwise, pool,
                residualRange);
    }

    /** This convolution reading its residual as 8-bit values mapped by range (null: fp32). */
    public ConvInference withResidualRange(InputRange range) {
        return new ConvInference(spec, residual, precision, inputRange, inputQuantized, outputRange, depthwise,
                maxPool, range);
    }

    /**
     * Whether a scaled input gives the same scaled output, a(c x) = c a(x) for c > 0 (linear, ReLU with any slope and
     * no cap): an 8-bit residual is added in its own units, and the output rescaled after the activation.
     */
    public static boolean scaleInvariant(dev.osprey.Activation a) {
        return a.kind() == dev.osprey.Activation.Kind.LINEAR
                || a.kind() == dev.osprey.Activation.Kind.RELU && Float.isInfinite(a.maxValue());
    }

    /**
     * The shape of the op's output: the depthwise convolution's or the max pooling's where there is one, else the
     * convolution's.
     */
    public int[] outputShape() {
        return depthwise != null ? depthwise.outputShape() : maxPool != null ? maxPool.outputShape()
                : spec.outputShape();
    }

    /**
     * Whether the output is written as 8-bit values, a hand-over to int8 readers: in int8, or from an fp32 convolution
     * with its max pooling that an int8 plan keeps in fp32 ({@link Backend#keepsFp32InInt8}).
     */
    public boolean quantizedOutput() {
        return outputRange != null && (precision == Precision.INT8 || maxPool != null);
    }

    /** Whether the residual is read as 8-bit values (int8 only: handed over by the convolution that wrote it). */
    public boolean quantizedResidual() {
        return precision == Precision.INT8 && residualRange != null;
    }

    /** Whether the input holds 8-bit values already (int8 only: handed over by an int8 convolution). */
    public boolean quantizedInput() {
        return precision == Precision.INT8 && inputQuantized;
    }

    // equals and hashCode written out: a record's generated ones link through invokedynamic at their first call,
    // tens of milliseconds of every start for the plan-cache keys (benchmarks/run-startup.sh). RecordKeysTest checks
    // that they cover every component.
    @Override
    public boolean equals(Object o) {
        return o instanceof ConvInference c && c.spec.equals(spec) && c.residual == residual
                && c.precision == precision && java.util.Objects.equals(c.inputRange, inputRange)
                && c.inputQuantized == inputQuantized && java.util.Objects.equals(c.outputRange, outputRange)
                && java.util.Objects.equals(c.depthwise, depthwise) && java.util.Objects.equals(c.maxPool, maxPool)
                && java.util.Objects.equals(c.residualRange, residualRange);
    }

    @Override
    public int hashCode() {
        return (((((((spec.hashCode() * 31 + (residual ? 1 : 0)) * 31 + precision.hashCode()) * 31
                + java.util.Objects.hashCode(inputRange)) * 31 + (inputQuantized ? 1 : 0)) * 31
                + java.util.Objects.hashCode(outputRange)) * 31 + java.util.Objects.hashCode(depthwise)) * 31
                + java.util.Objects.hashCode(maxPool)) * 31 + java.util.Objects.hashCode(residualRange);
    }
}
