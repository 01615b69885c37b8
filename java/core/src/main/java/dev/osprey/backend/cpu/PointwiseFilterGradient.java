package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.backend.Conv2dSpec;
import org.bytedeco.dnnl.matmul;
import org.bytedeco.dnnl.memory;
import org.bytedeco.javacpp.FloatPointer;

/**
 * The kernel (and bias) gradient of a wide fp32 pointwise convolution as matrix products: over its P = N·H·W pixels,
 * dKernel[in][out] = Σ_p x[p][in]·dy[p][out], which is x (an NHWC tensor is the P x in matrix) transposed times dy,
 * and lands in Keras' 1x1 kernel layout (in, out) as it is; dBias = a row of P ones times dy. oneDNN's 1x1
 * backward-weights kernels reached 49–58 GFLOP/s on AVX2 where its matrix product reached 115–130 (MobileNetV2's
 * blocks at batch 128: 2.16 against 0.90 ms for 320 to 1280 channels on 1x1 maps). Its matrix product splits the work
 * over tiles of the output, so a narrow layer (a small in x out) would leave threads idle: {@link #fits} asks for
 * about four 32x32 tiles per thread (with 16 x 96 channels over 32,768 pixels it was 1.15x slower than the convolution
 * kernel, with 32 x 192 over 2,048 pixels 1.2x slower; from 64 x 384 on it was 1.3–2.4x faster).
 */
final class PointwiseFilterGradient implements AutoCloseable {
    /** Output values per thread below which the convolution kernel stays: about four 32x32 tiles. */
    private static final long VALUES_PER_THREAD = 4096;

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step kernelGradient;
    private final Step biasGradient;       // null without a bias; reads a row of P ones, owned here
    private final matmul.primitive_desc kernelGradientDesc;

    /** Whether a pointwise spec's filter gradient runs as a matrix product here, with this many threads. */
    static boolean fits(Conv2dSpec s, int threads) {
        return ConvGeometry.folds(s) && (long) s.inC() * s.filters() >= VALUES_PER_THREAD * Math.max(1, threads);
    }

    PointwiseFilterGradient(DnnlContext context, Conv2dSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        long pixels = (long) s.batch() * s.inH() * s.inW();
        Step kernelStep = null;
        Step biasStep = null;
        matmul.primitive_desc kernelDesc = null;
        try {
            memory.desc xTransposed = owned.md(memory.format_tag.ba, s.inC(), pixels);
            memory.desc dy = owned.md(memory.format_tag.ab, pixels, s.filters());
            memory.desc dKernel = owned.md(memory.format_tag.ab, s.inC(), s.filters());
            kernelDesc = product(s, xTransposed, dy, dKernel);
            kernelStep = step("conv2d backward-filter (pointwise, matrix product)", s, kernelDesc, xTransposed, dy,
                    dKernel);
            if (s.hasBias()) {
                FloatPointer row = owned.own(new FloatPointer(pixels));
                float[] chunk = new float[(int) Math.min(pixels, 1 << 16)];
                java.util.Arrays.fill(chunk, 1f);
                for (long at = 0; at < pixels; at += chunk.length) {
                    row.position(at).put(chunk, 0, (int) Math.min(chunk.length, pixels - at));
                }
                row.position(0);
                memory.desc ones = owned.md(memory.format_tag.ab, 1, pixels);
                memory.desc dBias = owned.md(memory.format_tag.ab, 1, s.filters());
                biasStep = step("conv2d backward-filter bias (pointwise)", s, product(s, ones, dy, dBias), ones, dy,
                        dBias);
                biasStep.bind(DNNL_ARG_SRC, row);
            }
        } catch (RuntimeException | Error e) { // OutOfMemoryError included: JavaCPP's allocations throw it
            Step.closeAll(kernelStep, biasStep);
            owned.close();
            throw e;
        }
        this.kernelGradient = kernelStep;
        this.biasGradient = biasStep;
        this.kernelGradientDesc = kernelDesc;
    }

    /** The matrix product a x b -> c, with the spec's math (its fpmath mode, as every training op has). */
    private matmul.primitive_desc product(Conv2dSpec s, memory.desc a, memory.desc b, memory.desc c) {
        return owned.own(new matmul.primitive_desc(context.engine, a, b, c,
                owned.attributes(dev.osprey.Activation.LINEAR, s.math()), false));
    }

    /** The product planned as a step, every argument bound per call. */
    private Step step(String kind, Conv2dSpec s, matmul.primitive_desc d, memory.desc a, memory.desc b, memory.desc c) {
        Step step = new Step(kind, s, new matmul(d));
        try {
            step.arg(DNNL_ARG_SRC, a, context.engine)
                    .arg(DNNL_ARG_WEIGHTS, b, context.engine)
                    .arg(DNNL_ARG_DST, c, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
            return step;
        } catch (RuntimeException | Error e) {
            step.close();
            throw e;
        }
    }

    /** The kernel gradient's matrix product, for its fpmath mode ({@link ConvPlan#mathModes}). */
    matmul.primitive_desc kernelGradientDesc() {
        return kernelGradientDesc;
    }

    /** Writes dKernel (Keras' layout) and, when the spec has a bias, dBias from the input x and dy. */
    void run(CpuTensor x, CpuTensor dy, CpuTensor dKernel, CpuTensor dBias) {
        kernelGradient.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_WEIGHTS, dy.pointer())
                .bind(DNNL_ARG_DST, dKernel.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad())
                .run(context.stream);
        if (biasGradient != null && dBias != null) {
            biasGradient.bind(DNNL_ARG_WEIGHTS, dy.pointer()).bind(DNNL_ARG_DST, dBias.pointer())
                    .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
        }
    }

    @Override
    public void close() {
        Step.closeAll(kernelGradient, biasGradient);
        owned.close();
    }
}
