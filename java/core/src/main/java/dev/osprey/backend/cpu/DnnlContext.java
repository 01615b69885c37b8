package dev.osprey.backend.cpu;

import dev.osprey.Activation;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.post_ops;
import org.bytedeco.dnnl.primitive_attr;
import org.bytedeco.dnnl.stream;
import org.bytedeco.dnnl.global.dnnl;
import org.bytedeco.javacpp.Pointer;

/**
 * The oneDNN engine and stream, and grow-only buffers shared by every primitive (ops run one at a time, so they
 * can share them): the scratchpad, the weight scratch that holds a parameter in the layout a primitive chose for the
 * length of one call, and the input and gradient scratches that hold an op's input and output gradient converted to
 * bf16 for the length of one call. Descriptors and attributes made for plans are owned by the plan's {@link Owned}
 * list.
 */
final class DnnlContext implements AutoCloseable {
    final engine engine;
    final stream stream;
    private CpuTensor scratchpad = CpuTensor.allocate(new int[] {16});
    private CpuTensor weightScratch = CpuTensor.allocate(new int[] {16});
    private CpuTensor inputScratch = CpuTensor.allocate(new int[] {16});
    private CpuTensor gradientScratch = CpuTensor.allocate(new int[] {16});
    /** Whether this CPU has oneDNN's bf16 kernels (AVX512_BF16, AMX or better): bf16 training ops read bf16 then. */
    final boolean bf16Kernels =
            CpuBackend.unavailable(dev.osprey.Precision.BF16, dnnl.get_effective_cpu_isa()) == null;
    private boolean closed;

    DnnlContext() {
        engine = new engine(org.bytedeco.dnnl.engine.kind.cpu, 0);
        stream = new stream(engine);
    }

    /** Grows the shared scratchpad to at least this many bytes; called while planning, never per step. */
    void reserveScratchpad(memory.desc desc) {
        reserveScratchpad(desc.get_size());
    }

    /** Grows the shared scratchpad to at least this many bytes (Osprey's own kernels' scratch); while planning. */
    void reserveScratchpad(long bytes) {
        scratchpad = grown(scratchpad, bytes);
    }

    /** Grows the shared weight scratch to at least this many bytes; called while planning. */
    void reserveWeightScratch(memory.desc desc) {
        weightScratch = grown(weightScratch, desc.get_size());
    }

    /** Grows the shared input scratch (an op's input converted to bf16) to at least this many bytes; while planning. */
    void reserveInputScratch(memory.desc desc) {
        inputScratch = grown(inputScratch, desc.get_size());
    }

    /** Grows the shared gradient scratch (a training op's output gradient converted to bf16); while planning. */
    void reserveGradientScratch(memory.desc desc) {
        gradientScratch = grown(gradientScratch, desc.get_size());
    }

    private static CpuTensor grown(CpuTensor buffer, long bytes) {
        if (bytes <= buffer.size() * Float.BYTES) {
            return buffer;
        }
        buffer.close();
        return CpuTensor.allocate(new int[] {(int) ((bytes + Float.BYTES - 1) / Float.BYTES)});
    }

    Pointer scratchpad() {
        return scratchpad.pointer();
    }

    Pointer weightScratch() {
        return weightScratch.pointer();
    }

    Pointer inputScratch() {
        return inputScratch.pointer();
    }

    Pointer gradientScratch() {
        return gradientScratch.pointer();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        scratchpad.close();
        weightScratch.close();
        inputScratch.close();
        gradientScratch.close();
        stream.close();
        engine.close();
    }

    /** Native objects one plan made while planning, freed together (in reverse) when the plan is. */
    static final class Owned implements AutoCloseable {
        /** The execution argument of the residual a binary post-op (the first post-op) adds. */
        static final int RESIDUAL_ARG = dnnl.DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE | dnnl.DNNL_ARG_SRC_1;
        /** The residual of {@link #attributes(memory.desc, float, Activation, boolean)}: post-op 1, after a scaling. */
        static final int QUANTIZED_RESIDUAL_ARG = dnnl.DNNL_ARG_ATTR_MULTIPLE_POST_OP_BASE * 2 | dnnl.DNNL_ARG_SRC_1;

        private final DnnlContext context;
        private final List<Pointer> pointers = new ArrayList<>();

        Owned(DnnlContext context) {
            this.context = context;
        }

        <P extends Pointer> P own(P pointer) {
            pointers.add(pointer);
            return pointer;
        }

        /** A descriptor: logical dims, f32, the given physical format. */
        memory.desc md(memory.format_tag tag, long... dims) {
            return own(new memory.desc(dims, memory.data_type.f32, tag));
        }

        memory.desc anyFormat(long... dims) {
            return md(memory.format_tag.any, dims);
        }

        /** A descriptor of another number format. */
        memory.desc md(memory.data_type type, memory.format_tag tag, long... dims) {
            return own(new memory.desc(dims, type, tag));
        }

        /** Attributes for a planned primitive: a user-managed scratchpad and, if asked, a fused activation. */
        primitive_attr attributes(Activation fused) {
            return attributes(null, fused);
        }

        /**
         * The same for a training op that may multiply in this precision: bf16 allows oneDNN to round the fp32
         * operands to bf16 for the products (its fpmath mode; sums and every tensor stay fp32). A permission, not a
         * demand: on CPUs without bf16 kernels the op computes in fp32.
         */
        primitive_attr attributes(Activation fused, dev.osprey.Precision math) {
            primitive_attr attr = attributes(null, fused);
            if (math == dev.osprey.Precision.BF16) {
                attr.set_fpmath_mode(dnnl.fpmath_mode.bf16);
            }
            return attr;
        }

        /**
         * The same, adding a tensor of the given layout to the output before the activation when residual is not
         * null (a binary post-op: its data is argument {@link #RESIDUAL_ARG}).
         */
        primitive_attr attributes(memory.desc residual, Activation fused) {
            primitive_attr attr = own(new primitive_attr());
            attr.set_scratchpad_mode(dnnl.scratchpad_mode.user);
            if (residual != null || fused.kind() != Activation.Kind.LINEAR) {
                post_ops ops = own(new post_ops());
                if (residual != null) {
                    ops.append_binary(dnnl.algorithm.binary_add, residual);
                }
                appendActivation(ops, fused);
                attr.set_post_ops(ops);
            }
            return attr;
        }

        /**
         * The same for a residual of 8-bit values, each worth step: the output is taken into the residual's units
         * (divided by step), the residual added as it is, the activation applied (one that commutes with scaling:
         * ConvInference.scaleInvariant) and, unless rescaledLater (an 8-bit output whose scale takes step in), the
         * result multiplied by step again. Its data is argument {@link #QUANTIZED_RESIDUAL_ARG}.
         */
        primitive_attr attributes(memory.desc residual, float step, Activation fused, boolean rescaledLater) {
            primitive_attr attr = own(new primitive_attr());
            attr.set_scratchpad_mode(dnnl.scratchpad_mode.user);
            post_ops ops = own(new post_ops());
            ops.append_eltwise(dnnl.algorithm.eltwise_linear, 1f / step, 0f);
            ops.append_binary(dnnl.algorithm.binary_add, residual);
            appendActivation(ops, fused);
            if (!rescaledLater) {
                ops.append_eltwise(dnnl.algorithm.eltwise_linear, step, 0f);
            }
            attr.set_post_ops(ops);
            return attr;
        }

        /**
         * Attributes for a pointwise convolution with the depthwise one after it as oneDNN's depthwise post-op: the
         * pointwise activation, the depthwise convolution (3x3, the spec's stride, its top and left padding), then the
         * depthwise activation. The depthwise kernel and bias are arguments {@code DNNL_ARG_ATTR_POST_OP_DW | ...}.
         */
        primitive_attr attributes(Activation fused, dev.osprey.backend.Conv2dSpec depthwise) {
            primitive_attr attr = own(new primitive_attr());
            attr.set_scratchpad_mode(dnnl.scratchpad_mode.user);
            post_ops ops = own(new post_ops());
            appendActivation(ops, fused);
            ops.append_dw(memory.data_type.f32, depthwise.hasBias() ? memory.data_type.f32 : memory.data_type.undef,
                    memory.data_type.f32, depthwise.kernelH(), depthwise.strideH(), depthwise.padTop());
            appendActivation(ops, depthwise.activation());
            attr.set_post_ops(ops);
            return attr;
        }

        private static void appendActivation(post_ops ops, Activation fused) {
            if (fused.kind() != Activation.Kind.LINEAR) {
                Eltwise e = Eltwise.of(fused);
                if (e != null) {
                    ops.append_eltwise(e.forward(), e.alpha(), e.beta());
                } else { // ReLU with a slope and a cap: the slope, then the cap
                    ops.append_eltwise(dnnl.algorithm.eltwise_relu, fused.alpha(), 0f);
                    ops.append_eltwise(dnnl.algorithm.eltwise_clip_v2, -Float.MAX_VALUE, fused.maxValue());
                }
            }
        }

        DnnlContext context() {
            return context;
        }

        @Override
        public void close() {
            for (int i = pointers.size() - 1; i >= 0; i--) {
                pointers.get(i).close();
            }
            pointers.clear();
        }
    }

    /** The fpmath mode each of these primitive descriptors was made with (nulls skipped), in order. */
    static java.util.List<dnnl.fpmath_mode> mathModes(org.bytedeco.dnnl.primitive_desc_base... descs) {
        java.util.List<dnnl.fpmath_mode> modes = new java.util.ArrayList<>();
        for (org.bytedeco.dnnl.primitive_desc_base d : descs) {
            if (d != null) {
                try (primitive_attr attr = d.get_primitive_attr()) {
                    int value = attr.get_fpmath_mode().value; // the preset's returned enum is not the constant itself
                    for (dnnl.fpmath_mode m : dnnl.fpmath_mode.values()) {
                        if (m.value == value) {
                            modes.add(m);
                        }
                    }
                }
            }
        }
        return modes;
    }
}
