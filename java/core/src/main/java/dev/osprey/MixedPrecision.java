package dev.osprey;

import java.util.Locale;

/**
 * How training multiplies ({@link Model#mixedPrecision(MixedPrecision)}), Keras' dtype policies by another name.
 * Whatever the policy, weights (the master copy the optimizer updates), activations, gradients, the loss and the
 * optimizer stay fp32, and saved models hold fp32 weights: a policy only lets convolutions and dense layers, forward
 * and backward, round their operands to a narrower format for the products, summing in fp32 (and, for fp16, scales
 * the loss so that small gradients survive that rounding).
 */
public enum MixedPrecision {
    /** fp32 products: Keras' "float32", the default. */
    FLOAT32,
    /**
     * bf16 products with fp32 sums: Keras' "mixed_bfloat16". On CPUs with AVX512_BF16 or AMX (oneDNN's bf16 kernels)
     * and on NVIDIA GPUs with bf16 tensor cores (compute capability 8.0 and up; cuDNN's bf16 convolutions also round
     * their outputs to bf16, as PyTorch's autocast does); elsewhere the model says why in one line and trains in fp32.
     */
    BFLOAT16,
    /**
     * IEEE half-precision products with fp32 sums: Keras' "mixed_float16", on NVIDIA GPUs with tensor cores. fp16
     * keeps 5 bits of exponent, so small gradients would round to zero: under this policy the loss is scaled
     * dynamically before backward and the gradients unscaled before the step, as Keras' LossScaleOptimizer does
     * (a step whose gradients overflowed is skipped; see {@link dev.osprey.optim.LossScaleOptimizer} for the
     * settings). CPU backends say why in one line and train in fp32, without loss scaling.
     */
    FLOAT16;

    /** The precision this policy lets convolutions and dense layers multiply in. */
    public Precision math() {
        return switch (this) {
            case FLOAT32 -> Precision.FP32;
            case BFLOAT16 -> Precision.BF16;
            case FLOAT16 -> Precision.FP16;
        };
    }

    /**
     * Parses "fp32", "float32", "bf16", "bfloat16", "mixed_bfloat16", "fp16", "float16" or "mixed_float16" (any case),
     * as train --precision takes it.
     */
    public static MixedPrecision parse(String name) {
        switch (name.trim().toLowerCase(Locale.ROOT)) {
            case "fp32", "float32" -> {
                return FLOAT32;
            }
            case "bf16", "bfloat16", "mixed_bfloat16" -> {
                return BFLOAT16;
            }
            case "fp16", "float16", "mixed_float16" -> {
                return FLOAT16;
            }
            default -> throw new IllegalArgumentException("expected a training precision fp32, bf16 (mixed_bfloat16) "
                    + "or fp16 (mixed_float16), received '" + name + "'");
        }
    }

    /** "fp32", "bf16" or "fp16", as the CLI and the progress line write it. */
    @Override
    public String toString() {
        return math().toString();
    }

    /** Throws unless math is a precision training ops multiply in: fp32, bf16 or fp16. */
    public static void requireTrainingMath(String what, Precision math) {
        if (math != Precision.FP32 && math != Precision.BF16 && math != Precision.FP16) {
            throw new IllegalArgumentException(what + ": expected training math fp32, bf16 or fp16, received " + math);
        }
    }
}
