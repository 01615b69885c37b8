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
 * Osprey's kernel ({@code native/cpu/max_pool8.c}, 32 channels a vector) runs it where its library is loaded on a
 * processor with AVX2, oneDNN's otherwise; the same bytes either way. On the tutorial CNN's second pooling at batch 256
 * oneDNN's took 0.14 ms, 9% of the model's int8 inference. {@code -Dosprey.cpu.int8MaxPool=onednn} keeps oneDNN's, to
 * compare ({@code osprey}, the default, takes Osprey's where it can run); read when a plan is made, so set it before a
 * backend's first int8 pooling.
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

    /** The property that picks the kernel: osprey (the default) or onednn. */
    static final String PROPERTY = "osprey.cpu.int8MaxPool";
    private static final String UNAVAILABLE = NativeCpu.kernelUnavailable("the 8-bit max pooling",
            Int8MaxPoolPlan::supported);

    private final DnnlContext context;
    private final DnnlContext.Owned owned;
    private final Step forward; // oneDNN's, or null where Osprey's kernel runs
    private final Key key;
    private final int threads;

    /** A plan on the kernel -Dosprey.cpu.int8MaxPool picks, for the calling thread's current OpenMP team. */
    Int8MaxPoolPlan(DnnlContext context, Key key) {
        this(context, key, ospreysKernel());
    }

    /** A plan on Osprey's kernel where osprey (and it can run here), else on oneDNN's. */
    Int8MaxPoolPlan(DnnlContext context, Key key, boolean osprey) {
        this.context = context;
        this.key = key;
        this.threads = OpenMpTeam.current();
        this.owned = new DnnlContext.Owned(context);
        if (osprey && UNAVAILABLE == null) {
            forward = null;
            return;
        }
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

    /**
     * Whether -Dosprey.cpu.int8MaxPool picks Osprey's kernel: osprey (the default) or onednn; IllegalArgumentException
     * for any other value.
     */
    static boolean ospreysKernel() {
        String raw = System.getProperty(PROPERTY, "osprey");
        return switch (raw.trim().toLowerCase(java.util.Locale.ROOT)) {
            case "osprey" -> true;
            case "onednn" -> false;
            default -> throw new IllegalArgumentException("-D" + PROPERTY + ": expected osprey or onednn, received '"
                    + raw + "'");
        };
    }

    /** "osprey_max_pool_u8:avx2" (or _s8) where Osprey's kernel runs, "onednn" otherwise. */
    String implementation() {
        return forward != null ? "onednn" : "osprey_max_pool_" + (key.unsigned() ? "u8" : "s8") + ":avx2";
    }

    void forward(CpuTensor x, CpuTensor y) {
        if (forward == null) {
            Pool2dSpec s = key.spec();
            forward(x.pointer().address(), s.batch(), s.inH(), s.inW(), s.channels(), s.outH(), s.outW(), s.poolH(),
                    s.poolW(), s.strideH(), s.strideW(), s.padTop(), s.padLeft(), !key.unsigned(),
                    y.pointer().address(), threads);
            return;
        }
        forward.bind(DNNL_ARG_SRC, x.pointer()).bind(DNNL_ARG_DST, y.pointer())
                .bind(DNNL_ARG_SCRATCHPAD, context.scratchpad()).run(context.stream);
    }

    @Override
    public void close() {
        if (forward != null) {
            Step.closeAll(forward);
        }
        owned.close();
    }

    /** Null where Osprey's kernel can run here; otherwise why not. */
    static String unavailableReason() {
        return UNAVAILABLE;
    }

    /** Whether the processor has AVX2, which Osprey's kernel uses. */
    private static native boolean supported();

    /** y (batch, outH, outW, c) = the max pooling of x (batch, h, w, c), 8-bit values, signed or not. */
    private static native void forward(long x, int batch, int h, int w, int c, int outH, int outW, int poolH,
                                       int poolW, int strideH, int strideW, int padTop, int padLeft, boolean signed,
                                       long y, int threads);
}
