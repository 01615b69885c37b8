package dev.osprey.backend.cpu;

import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_ATTR_SCALES;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_DST;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_SRC;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO;
import static org.bytedeco.dnnl.global.dnnl.DNNL_ARG_WEIGHTS;

import dev.osprey.backend.InputRange;
import java.nio.FloatBuffer;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/** What inference primitives share around their operands: a kernel prepared once, an input converted per call. */
final class InferenceOperands {
    /** Whether this CPU multiplies 8-bit values with VNNI (straight into 32-bit sums). */
    static final boolean VNNI = vnni(org.bytedeco.dnnl.global.dnnl.get_effective_cpu_isa());
    /**
     * The largest magnitude of an int8 kernel value: 127, or 63 without VNNI, where oneDNN's kernels add pairs of
     * u8 x s8 products into saturating 16-bit sums (two products of 255 x 127 overflow them; of 255 x 63 never).
     * Inputs keep all 8 bits: after ReLU their resolution matters more than the kernel's.
     */
    static final float WEIGHT_LEVELS = VNNI ? 127f : 63f;

    private InferenceOperands() {
    }

    static boolean vnni(org.bytedeco.dnnl.global.dnnl.cpu_isa isa) {
        int avx2Vnni = org.bytedeco.dnnl.global.dnnl.cpu_isa.avx2_vnni.value;
        int avx512Vnni = org.bytedeco.dnnl.global.dnnl.cpu_isa.avx512_core_vnni.value;
        return (isa.value & avx2Vnni) == avx2Vnni || (isa.value & avx512Vnni) == avx512Vnni;
    }

    /**
     * A kernel kept in the layout (and number format) a primitive chose, written from Keras' fp32 layout by a reorder
     * planned once. Where the primitive chose Keras' layout itself, nothing is prepared: {@link #floats} is 0.
     */
    static final class PreparedKernel implements AutoCloseable {
        private final Object what; // the operation, named in errors only
        private final Step reorder; // null when the layouts agree
        private final int outputChannels; // int8: scales kept after the kernel, one per output channel; else 0
        private final long scalesAt;      // int8: the float offset of those scales in the prepared tensor
        /** Floats the prepared kernel takes (with its int8 scales); 0 when the primitive reads Keras' layout. */
        final long floats;

        PreparedKernel(DnnlContext context, Object what, memory.desc keras, memory.desc chosen) {
            this.what = what;
            this.outputChannels = 0;
            this.scalesAt = 0;
            if (chosen.equals(keras)) {
                floats = 0;
                reorder = null;
            } else {
                floats = (chosen.get_size() + Float.BYTES - 1) / Float.BYTES;
                reorder = Step.reorder("kernel preparation for", what, keras, chosen, context.engine);
            }
        }

        /**
         * An int8 kernel: Keras' fp32 kernel, whose last axis runs over the outputChannels output channels, mapped
         * onto signed 8 bits with one scale per channel (its largest magnitude / {@link #WEIGHT_LEVELS}); the scales
         * follow the kernel
         * in the prepared tensor, so each model keeps its own. scaleMask: the chosen layout's output-channel
         * dimensions, as oneDNN's scale masks count them.
         */
        PreparedKernel(DnnlContext context, Object what, memory.desc keras, memory.desc chosen, int outputChannels,
                       int scaleMask, DnnlContext.Owned owned) {
            this.what = what;
            this.outputChannels = outputChannels;
            this.scalesAt = (chosen.get_size() + Float.BYTES - 1) / Float.BYTES;
            this.floats = scalesAt + outputChannels;
            primitive_attr attributes = owned.own(new primitive_attr());
            attributes.set_scales_mask(DNNL_ARG_DST, scaleMask);
            reorder = Step.reorder("int8 kernel preparation for", what, keras, chosen, context.engine, attributes)
                    .arg(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST,
                            owned.md(memory.format_tag.x, outputChannels), context.engine);
        }

        void prepare(DnnlContext context, CpuTensor kernel, CpuTensor prepared) {
            if (reorder == null) {
                throw new IllegalStateException(what + " reads Keras' layout: there is nothing to prepare");
            }
            if (outputChannels > 0) {
                FloatBuffer w = kernel.buffer();
                float[] largest = new float[outputChannels];
                for (int i = 0, n = w.limit(); i < n; i++) {
                    int c = i % outputChannels;
                    largest[c] = Math.max(largest[c], Math.abs(w.get(i)));
                }
                FloatBuffer p = prepared.buffer();
                for (int c = 0; c < outputChannels; c++) {
                    p.put((int) scalesAt + c, largest[c] == 0 ? 1f : largest[c] / WEIGHT_LEVELS);
                }
                reorder.bind(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, scales(prepared));
            }
            reorder.bind(DNNL_ARG_FROM, kernel.pointer()).bind(DNNL_ARG_TO, prepared.pointer()).run(context.stream);
        }

        /**
         * int8: where the per-channel scales of this prepared kernel are. A plain Pointer positioned in bytes: JavaCPP
         * passes a Pointer argument on with its position counted in bytes, whatever the subclass.
         */
        Pointer scales(CpuTensor prepared) {
            return new Pointer(prepared.pointer()).position(scalesAt * Float.BYTES);
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
        private final FloatPointer scale; // int8: the input's real value per 8-bit step; else null
        /** int8: the input scale, as the primitive's source scale argument; else null. */
        final FloatPointer sourceScale;

        Input(DnnlContext context, Object what, memory.desc fp32, memory.desc read) {
            this.context = context;
            this.scale = null;
            this.sourceScale = null;
            if (read.equals(fp32)) {
                convert = null;
            } else {
                convert = Step.reorder("input conversion for", what, fp32, read, context.engine);
                context.reserveInputScratch(read);
            }
        }

        /** An input mapped onto 8 bits (read: u8 or s8) by its calibrated range: x / scale, rounded and saturated. */
        Input(DnnlContext context, Object what, memory.desc fp32, memory.desc read, InputRange range,
              DnnlContext.Owned owned) {
            this.context = context;
            this.scale = new FloatPointer(1).put(range.scale());
            this.sourceScale = scale;
            primitive_attr attributes = owned.own(new primitive_attr());
            attributes.set_scales_mask(DNNL_ARG_DST, 0);
            convert = Step.reorder("int8 input conversion for", what, fp32, read, context.engine, attributes)
                    .arg(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, owned.md(memory.format_tag.x, 1), context.engine)
                    .bind(DNNL_ARG_ATTR_SCALES | DNNL_ARG_DST, scale);
            context.reserveInputScratch(read);
        }

        /**
         * An input that holds 8-bit values already, mapped by range (an int8 convolution before wrote them so): read as
         * it is, with range's scale.
         */
        Input(DnnlContext context, InputRange range) {
            this.context = context;
            this.scale = new FloatPointer(1).put(range.scale());
            this.sourceScale = scale;
            this.convert = null;
        }

        /**
         * int8: declares a primitive's scale arguments: this input's scale (bound now) and the kernel's
         * outputChannels scales (bound per call, from the prepared kernel: {@link PreparedKernel#scales}).
         */
        void declareScales(Step primitive, int outputChannels, DnnlContext.Owned owned) {
            primitive.arg(DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, owned.md(memory.format_tag.x, 1), context.engine)
                    .bind(DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, sourceScale)
                    .arg(DNNL_ARG_ATTR_SCALES | DNNL_ARG_WEIGHTS, owned.md(memory.format_tag.x, outputChannels),
                            context.engine);
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
            if (scale != null) {
                scale.close();
            }
        }
    }
}
