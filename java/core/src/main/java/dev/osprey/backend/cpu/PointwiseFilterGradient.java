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
 * dKernel[in][out] = Σ_p x[p][in]·dy[p][out], which is x (an NHWC tensor is the P x in matrix) transposed times dy, and
 * lands in Keras' 1x1 kernel layout (in, out) as it is; dBias = a row of P ones times dy. oneDNN's 1x1
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
        try {
            memory.desc xTransposed = owned.md(memory.format_tag.ba, s.inC(), pixels);
            memory.desc dy = owned.md(memory.format_tag.ab, pixels, s.filters());
            memory.desc dKernel = owned.md(memory.format_tag.ab, s.inC(), s.filters());
            kernelStep = product("conv2d backward-filter (pointwise, matrix product)", s, xTransposed, dy, dKernel);
            if (s.hasBias()) {
                FloatPointer row = owned.own(new FloatPointer(pixels));
                for (long i = 0; i < pixels; i++) {
                    row.put(i, 1f);
                }
                biasStep = product("conv2d backward-filter bias (pointwise)", s,
                        owned.md(memory.format_tag.ab, 1, pixels), dy, owned.md(memory.format_tag.ab, 1, s.filters()));
                biasStep.bind(DNNL_ARG_SRC, row);
            }
        } catch (RuntimeException e) {
            Step.closeAll(kernelStep, biasStep);
            owned.close();
            throw e;
        }
        this.kernelGradient = kernelStep;
        this.biasGradient = biasStep;
    }

    private Step product(String kind, Conv2dSpec s, memory.desc a, memory.desc b, memory.desc c) {
        matmul.primitive_desc d = owned.own(new matmul.primitive_desc(context.engine, a, b, c,
                owned.attributes(dev.osprey.Activation.LINEAR), false));
        Step step = new Step(kind, s, new matmul(d))
                .arg(DNNL_ARG_SRC, a, context.engine)
                .arg(DNNL_ARG_WEIGHTS, b, context.engine)
                .arg(DNNL_ARG_DST, c, context.engine)
                .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
        context.reserveScratchpad(d.scratchpad_desc());
        return step;
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
