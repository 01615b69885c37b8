package dev.osprey;

/**
 * The number format inference computes in ({@link Model#inferencePrecision(Precision)}). Weights are kept in fp32
 * whatever the choice, in the model and in its saved files; a lower precision only changes how the backend multiplies.
 */
public enum Precision {
    /** 32-bit floats throughout: the training path's results. */
    FP32,
    /**
     * bfloat16 products with fp32 sums: convolutions and dense layers read their inputs and kernels rounded to bf16
     * (8 bits of mantissa) and write fp32; everything between them stays fp32. On CPUs with AVX512_BF16 or AMX, and on
     * GPUs with bf16 tensor cores (compute capability 8.0 and up), where cuDNN also rounds each convolution's output to
     * bf16 before it is widened back.
     */
    BF16,
    /**
     * IEEE half-precision products with fp32 sums: as {@link #BF16}, with 11 bits of mantissa but 5 of exponent, so
     * values below about 6e-8 or above 65504 do not survive the rounding (training scales the loss for that: see
     * {@link dev.osprey.optim.LossScaleOptimizer}; inference needs no scaling). On NVIDIA GPUs with tensor cores
     * (compute capability 7.0 and up); CPU backends train and infer in fp32 instead, saying why.
     */
    FP16,
    /**
     * 8-bit integer products with 32-bit sums (post-training quantization, {@link Model#quantize}): each convolution
     * and dense layer reads its input mapped onto 8 bits by the range calibration found, and its kernel mapped onto
     * signed 8 bits with one scale per output channel (its largest magnitude over 127, or over 63 on CPUs without
     * VNNI, whose 16-bit pair sums would saturate); output, bias and everything
     * between stay fp32. On x86-64 CPUs with AVX2 (faster with AVX512-VNNI or AMX).
     */
    INT8;

    /** Parses "fp32", "bf16", "fp16" or "int8" (any case), as predict's, serve's and bench's --precision take it. */
    public static Precision parse(String name) {
        for (Precision p : values()) {
            if (p.name().equalsIgnoreCase(name.trim())) {
                return p;
            }
        }
        throw new IllegalArgumentException("expected precision fp32, bf16, fp16 or int8, received '" + name + "'");
    }

    /** "fp32", "bf16", "fp16", "int8". */
    @Override
    public String toString() {
        return name().toLowerCase(java.util.Locale.ROOT);
    }
}
