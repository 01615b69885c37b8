package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;

import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.reorder;
import org.bytedeco.javacpp.Pointer;

/**
 * Bridges a parameter (or its gradient) between the model's canonical layout and the layout a primitive chose.
 * When the two are equal it costs nothing: the primitive reads or writes the canonical tensor itself. Otherwise the
 * primitive's side lives in the context's shared weight scratch for the length of one call, and a reorder planned
 * once runs per call (parameters are small next to activations), so a plan holds no copy of any weight.
 */
final class WeightLayout implements AutoCloseable {
    enum Direction { INTO_PRIMITIVE, OUT_OF_PRIMITIVE }

    private final DnnlContext context;
    private final memory canonicalSide;   // data pointer bound per call
    private final memory primitiveSide;   // what the primitive uses; == canonicalSide when the layouts agree
    private final Step reorderStep;       // null when the layouts agree

    WeightLayout(DnnlContext context, memory.desc canonical, memory.desc chosen, Direction direction) {
        this.context = context;
        this.canonicalSide = new memory(canonical, context.engine, (Pointer) null);
        if (canonical.equals(chosen)) {
            primitiveSide = canonicalSide;
            reorderStep = null;
        } else {
            context.reserveWeightScratch(chosen);
            primitiveSide = new memory(chosen, context.engine, (Pointer) null);
            memory from = direction == Direction.INTO_PRIMITIVE ? canonicalSide : primitiveSide;
            memory to = direction == Direction.INTO_PRIMITIVE ? primitiveSide : canonicalSide;
            reorderStep = new Step("weight reorder", null, new reorder(from, to))
                    .fixedArg(DNNL_ARG_FROM, from)
                    .fixedArg(DNNL_ARG_TO, to);
        }
    }

    /** The memory to give the primitive as its fixed weights (or weight-gradient) argument. */
    memory primitiveMemory() {
        return primitiveSide;
    }

    /** Points the canonical side at this call's tensor, and the primitive's side at the shared scratch. */
    void bind(CpuTensor canonical) {
        canonicalSide.set_data_handle(canonical.pointer());
        if (reorderStep != null) {
            primitiveSide.set_data_handle(context.weightScratch());
        }
    }

    /** Runs the reorder, if the layouts differ: before the primitive (INTO) or after it (OUT_OF). */
    void reorder() {
        if (reorderStep != null) {
            reorderStep.run(context.stream);
        }
    }

    @Override
    public void close() {
        if (reorderStep != null) {
            reorderStep.close();
            primitiveSide.close();
        }
        canonicalSide.close();
    }

    /** Closes each that is not null. */
    static void closeAll(WeightLayout... layouts) {
        for (WeightLayout l : layouts) {
            if (l != null) {
                l.close();
            }
        }
    }
}
