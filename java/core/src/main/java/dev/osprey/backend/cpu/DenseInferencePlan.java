package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.backend.DenseSpec;
import org.bytedeco.dnnl.inner_product_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * An inner product for inference plans: oneDNN's forward_inference primitive reading its kernel in the layout it
 * chose, prepared once by {@link #prepare} from Keras' (in, out), so a call reorders nothing; the activation is a
 * post-op.
 */
final class DenseInferencePlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final DenseSpec spec;
    private final Step forward;
    private final Step prepare;        // null when the primitive reads Keras' layout itself
    /** Floats of the prepared kernel; 0 when the primitive reads Keras' layout (no copy is made). */
    final long preparedFloats;

    DenseInferencePlan(DnnlContext context, DenseSpec s) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        this.spec = s;
        memory.desc src = owned.md(memory.format_tag.nc, s.batch(), s.inFeatures());
        memory.desc dst = owned.md(memory.format_tag.nc, s.batch(), s.units());
        memory.desc bias = owned.md(memory.format_tag.x, s.units());
        memory.desc keras = owned.md(memory.format_tag.io, s.units(), s.inFeatures());
        memory.desc any = owned.anyFormat(s.units(), s.inFeatures());
        try {
            inner_product_forward.primitive_desc desc = owned.own(new inner_product_forward.primitive_desc(
                    context.engine, dnnl.prop_kind.forward_inference, src, any, bias, dst,
                    owned.attributes(s.activation()), false));
            memory.desc chosen = owned.own(desc.weights_desc());
            if (chosen.equals(keras)) {
                preparedFloats = 0;
                prepare = null;
            } else {
                preparedFloats = (chosen.get_size() + Float.BYTES - 1) / Float.BYTES;
                prepare = Step.reorder("dense kernel preparation " + s, keras, chosen, context.engine);
            }
            forward = new Step("dense inference " + s, new inner_product_forward(desc))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_WEIGHTS, chosen, context.engine)
                    .arg(DNNL_ARG_BIAS, bias, context.engine)
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, desc.scratchpad_desc(), context.engine);
            context.reserveScratchpad(desc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Writes the Keras-layout kernel into prepared, in the primitive's layout ({@link #preparedFloats} floats). */
    void prepare(CpuTensor kernel, CpuTensor prepared) {
        if (prepare == null) {
            throw new IllegalStateException(spec + " reads Keras' layout: there is nothing to prepare");
        }
        prepare.bind(DNNL_ARG_FROM, kernel.pointer()).bind(DNNL_ARG_TO, prepared.pointer()).run(context.stream);
    }

    void forward(CpuTensor x, CpuTensor kernel, CpuTensor b, CpuTensor y) {
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_WEIGHTS, kernel.pointer()).bind(DNNL_ARG_BIAS, b.pointer())
                .bind(DNNL_ARG_DST, y.pointer()).bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    @Override
    public void close() {
        Step.closeAll(forward, prepare);
        owned.close();
    }
}
