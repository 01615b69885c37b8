package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_ATTR_SCALES;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_BIAS;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.Precision;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;
import org.bytedeco.dnnl.inner_product_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;

/**
 * An inner product for inference plans: oneDNN's forward_inference primitive reading its kernel in the layout (and
 * number format) it chose, prepared once by {@link #prepare} from Keras' (in, out), so a call reorders no weights; the
 * activation is a post-op. In bf16 the input is converted into the context's input scratch first; output and bias
 * stay fp32. In int8 the input is mapped onto 8 bits by its calibrated range and the kernel onto signed 8 bits with a
 * scale per unit (kept after it in the prepared tensor), as for convolutions.
 */
final class DenseInferencePlan implements AutoCloseable {
    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step forward;
    private final InferenceOperands.PreparedKernel kernel;
    private final InferenceOperands.Input input;
    /** Floats of the prepared kernel; 0 when the primitive reads Keras' layout (no copy is made). */
    final long preparedFloats;
    private final boolean int8;

    DenseInferencePlan(DnnlContext context, DenseInference op) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        DenseSpec s = op.spec();
        boolean int8 = op.precision() == Precision.INT8;
        memory.data_type compute = op.precision() == Precision.BF16 ? memory.data_type.bf16 : memory.data_type.f32;
        memory.data_type source = int8 ? (op.inputRange().unsigned() ? memory.data_type.u8 : memory.data_type.s8)
                : compute;
        memory.desc fp32 = owned.md(memory.format_tag.nc, s.batch(), s.inFeatures());
        memory.desc src = owned.md(source, memory.format_tag.nc, s.batch(), s.inFeatures());
        memory.desc dst = owned.md(memory.format_tag.nc, s.batch(), s.units());
        memory.desc bias = owned.md(memory.format_tag.x, s.units());
        memory.desc keras = owned.md(memory.format_tag.io, s.units(), s.inFeatures());
        memory.desc any = owned.md(int8 ? memory.data_type.s8 : compute, memory.format_tag.any, s.units(),
                s.inFeatures());
        try {
            var attributes = owned.attributes(s.activation());
            if (int8) { // products of 8-bit values, rescaled to fp32 by the input's scale and each unit's
                attributes.set_scales_mask(DNNL_ARG_SRC, 0);
                attributes.set_scales_mask(DNNL_ARG_WEIGHTS, 1);
            }
            inner_product_forward.primitive_desc desc = owned.own(new inner_product_forward.primitive_desc(
                    context.engine, dnnl.prop_kind.forward_inference, src, any, bias, dst, attributes, false));
            memory.desc chosen = owned.own(desc.weights_desc());
            kernel = int8
                    ? new InferenceOperands.PreparedKernel(context, op, keras, chosen, s.units(), 1, owned)
                    : new InferenceOperands.PreparedKernel(context, op, keras, chosen);
            preparedFloats = kernel.floats;
            input = int8 ? new InferenceOperands.Input(context, op, fp32, src, op.inputRange(), owned)
                    : new InferenceOperands.Input(context, op, fp32, src);
            Step f = new Step("dense inference", op, new inner_product_forward(desc))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_WEIGHTS, chosen, context.engine)
                    .arg(DNNL_ARG_BIAS, bias, context.engine)
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, desc.scratchpad_desc(), context.engine);
            if (int8) {
                input.declareScales(f, s.units(), owned);
            }
            this.int8 = int8;
            forward = f;
            context.reserveScratchpad(desc.scratchpad_desc());
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Writes the Keras-layout kernel into prepared, in the primitive's layout ({@link #preparedFloats} floats). */
    void prepare(CpuTensor keras, CpuTensor prepared) {
        kernel.prepare(context, keras, prepared);
    }

    void forward(CpuTensor x, CpuTensor weights, CpuTensor b, CpuTensor y) {
        if (int8) {
            forward.bind(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, kernel.scales(weights));
        }
        forward.bind(DNNL_ARG_SRC, input.of(x)).bind(DNNL_ARG_WEIGHTS, weights.pointer())
                .bind(DNNL_ARG_BIAS, b.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    @Override
    public void close() {
        Step.closeAll(forward);
        if (kernel != null) {
            kernel.close();
        }
        if (input != null) {
            input.close();
        }
        owned.close();
    }
}
