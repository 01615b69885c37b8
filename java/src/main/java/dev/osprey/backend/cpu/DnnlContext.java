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
 * The oneDNN engine and stream, the descriptors and attributes made for plans, and one grow-only scratchpad
 * shared by every primitive (ops run one at a time, so they can share it). Owns all of them.
 */
final class DnnlContext implements AutoCloseable {
    final engine engine;
    final stream stream;
    private final List<Pointer> owned = new ArrayList<>();
    private CpuTensor scratchpad = CpuTensor.allocate(new int[] {16});
    private boolean closed;

    DnnlContext() {
        engine = new engine(org.bytedeco.dnnl.engine.kind.cpu, 0);
        stream = new stream(engine);
    }

    /** A descriptor this context owns: logical dims, f32, the given physical format. */
    memory.desc md(memory.format_tag tag, long... dims) {
        return own(new memory.desc(dims, memory.data_type.f32, tag));
    }

    memory.desc anyFormat(long... dims) {
        return md(memory.format_tag.any, dims);
    }

    /** Attributes for a planned primitive: a user-managed scratchpad and, if asked, a fused ReLU. */
    primitive_attr attributes(Activation fused) {
        primitive_attr attr = own(new primitive_attr());
        attr.set_scratchpad_mode(dnnl.scratchpad_mode.user);
        if (fused == Activation.RELU) {
            post_ops ops = own(new post_ops());
            ops.append_eltwise(dnnl.algorithm.eltwise_relu, 0f, 0f);
            attr.set_post_ops(ops);
        }
        return attr;
    }

    <P extends Pointer> P own(P pointer) {
        owned.add(pointer);
        return pointer;
    }

    /** Grows the shared scratchpad to at least this many bytes; called while planning, never per step. */
    void reserveScratchpad(memory.desc desc) {
        long bytes = desc.get_size();
        if (bytes > scratchpad.size() * Float.BYTES) {
            scratchpad.close();
            scratchpad = CpuTensor.allocate(new int[] {(int) ((bytes + Float.BYTES - 1) / Float.BYTES)});
        }
    }

    Pointer scratchpad() {
        return scratchpad.pointer();
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        for (int i = owned.size() - 1; i >= 0; i--) {
            owned.get(i).close();
        }
        scratchpad.close();
        stream.close();
        engine.close();
    }
}
