package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;

import org.bytedeco.dnnl.memory;
import org.bytedeco.javacpp.Pointer;

/**
 * An fp32 activation or gradient that a bf16 training op reads, converted into one of the context's shared scratch
 * buffers for the length of one call by a reorder planned once (mixed precision: the tensors themselves stay fp32).
 */
final class Bf16Conversion implements AutoCloseable {
    /** Which shared scratch holds the converted data: an op reading two converted operands uses both. */
    enum Scratch { INPUT, GRADIENT }

    private final DnnlContext context;
    private final Scratch scratch;
    private final Step convert;

    Bf16Conversion(DnnlContext context, Object what, memory.desc fp32, memory.desc bf16, Scratch scratch) {
        this.context = context;
        this.scratch = scratch;
        this.convert = Step.reorder("bf16 conversion for", what, fp32, bf16, context.engine);
        try {
            if (scratch == Scratch.INPUT) {
                context.reserveInputScratch(bf16);
            } else {
                context.reserveGradientScratch(bf16);
            }
        } catch (RuntimeException e) {
            convert.close();
            throw e;
        }
    }

    /** Converts t and returns where the bf16 copy is: valid until the next op uses the same scratch. */
    Pointer of(CpuTensor t) {
        Pointer to = scratch == Scratch.INPUT ? context.inputScratch() : context.gradientScratch();
        convert.bind(DNNL_ARG_FROM, t.pointer()).bind(DNNL_ARG_TO, to).run(context.stream);
        return to;
    }

    /** What an op binds for t: t itself when there is no conversion (fp32 operands), else its bf16 copy. */
    static Pointer read(Bf16Conversion conversion, CpuTensor t) {
        return conversion == null ? t.pointer() : conversion.of(t);
    }

    @Override
    public void close() {
        convert.close();
    }

    /** Closes each that is not null. */
    static void closeAll(Bf16Conversion... conversions) {
        for (Bf16Conversion c : conversions) {
            if (c != null) {
                c.close();
            }
        }
    }
}
