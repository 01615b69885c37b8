package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;

import org.bytedeco.dnnl.memory;
import org.bytedeco.javacpp.Pointer;

/** What inference primitives share around their operands: a kernel prepared once, an input converted per call. */
final class InferenceOperands {
    private InferenceOperands() {
    }

    /**
     * A kernel kept in the layout (and number format) a primitive chose, written from Keras' fp32 layout by a reorder
     * planned once. Where the primitive chose Keras' layout itself, nothing is prepared: {@link #floats} is 0.
     */
    static final class PreparedKernel implements AutoCloseable {
        private final String what;
        private final Step reorder; // null when the layouts agree
        /** Floats the prepared kernel takes; 0 when the primitive reads Keras' layout. */
        final long floats;

        PreparedKernel(DnnlContext context, String what, memory.desc keras, memory.desc chosen) {
            this.what = what;
            if (chosen.equals(keras)) {
                floats = 0;
                reorder = null;
            } else {
                floats = (chosen.get_size() + Float.BYTES - 1) / Float.BYTES;
                reorder = Step.reorder("kernel preparation for " + what, keras, chosen, context.engine);
            }
        }

        void prepare(DnnlContext context, CpuTensor kernel, CpuTensor prepared) {
            if (reorder == null) {
                throw new IllegalStateException(what + " reads Keras' layout: there is nothing to prepare");
            }
            reorder.bind(DNNL_ARG_FROM, kernel.pointer()).bind(DNNL_ARG_TO, prepared.pointer()).run(context.stream);
        }

        @Override
        public void close() {
            Step.closeAll(reorder);
        }
    }

    /**
     * An fp32 input as the primitive reads it: as it is, or converted (to bf16) into the context's input scratch by a
     * reorder planned once.
     */
    static final class Input implements AutoCloseable {
        private final DnnlContext context;
        private final Step convert; // null when the primitive reads fp32

        Input(DnnlContext context, String what, memory.desc fp32, memory.desc read) {
            this.context = context;
            if (read.equals(fp32)) {
                convert = null;
            } else {
                convert = Step.reorder("input conversion for " + what, fp32, read, context.engine);
                context.reserveInputScratch(read);
            }
        }

        /** The data to bind as the primitive's source: x itself, or x converted into the input scratch. */
        Pointer of(CpuTensor x) {
            if (convert == null) {
                return x.pointer();
            }
            convert.bind(DNNL_ARG_FROM, x.pointer()).bind(DNNL_ARG_TO, context.inputScratch()).run(context.stream);
            return context.inputScratch();
        }

        @Override
        public void close() {
            Step.closeAll(convert);
        }
    }
}
