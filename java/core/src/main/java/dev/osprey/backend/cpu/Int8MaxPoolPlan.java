package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SCRATCHPAD;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;

import dev.osprey.Activation;
import dev.osprey.backend.Pool2dSpec;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.pooling_forward;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Max pooling in int8 inference plans, NHWC: 8-bit values (unsigned or signed) in, the same kind out, exactly the
 * maximum (the mapping onto 8 bits keeps order), so activations handed over between convolutions stay in 8 bits.
 */
final class Int8MaxPoolPlan implements AutoCloseable {
    /** A plan-cache key: the pooling, and whether its values are unsigned. */
    record Key(Pool2dSpec spec, boolean unsigned) {
        Key {
            if (spec.mode() != Pool2dSpec.Mode.MAX) {
                throw new IllegalArgumentException("int8 pooling: expected max pooling, received " + spec);
            }
        }
    }

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step forward;

    Int8MaxPoolPlan(DnnlContext context, Key key) {
        this.context = context;
        this.owned = new DnnlContext.Owned(context);
        Pool2dSpec s = key.spec();
        memory.data_type type = key.unsigned() ? memory.data_type.u8 : memory.data_type.s8;
        try {
            memory.desc src = owned.md(type, memory.format_tag.nhwc, s.batch(), s.channels(), s.inH(), s.inW());
            memory.desc dst = owned.md(type, memory.format_tag.nhwc, s.batch(), s.channels(), s.outH(), s.outW());
            pooling_forward.primitive_desc d = owned.own(new pooling_forward.primitive_desc(context.engine,
                    dnnl.prop_kind.forward_inference, dnnl.algorithm.pooling_max, src, dst,
                    new long[] {s.strideH(), s.strideW()}, new long[] {s.poolH(), s.poolW()}, new long[] {0, 0},
                    new long[] {s.padTop(), s.padLeft()}, new long[] {s.padBottom(), s.padRight()},
                    owned.attributes(Activation.LINEAR), false));
            forward = new Step("int8 max pooling", s, new pooling_forward(d))
                    .arg(DNNL_ARG_SRC, src, context.engine)
                    .arg(DNNL_ARG_DST, dst, context.engine)
                    .arg(DNNL_ARG_SCRATCHPAD, d.scratchpad_desc(), context.engine);
            context.reserveScratchpad(d.scratchpad_desc());
        } catch (RuntimeException e) {
            owned.close();
            throw e;
        }
    }

    void forward(CpuTensor x, CpuTensor y) {
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    @Override
    public void close() {
        Step.closeAll(forward);
        owned.close();
    }
}
