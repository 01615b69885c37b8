package dev.osprey.backend.cpu;

import dev.osprey.backend.BackendException;
import java.util.ArrayList;
import java.util.List;
import org.bytedeco.dnnl.IntMemoryMap;
import org.bytedeco.dnnl.engine;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.primitive;
import org.bytedeco.dnnl.stream;
import org.bytedeco.javacpp.Pointer;

/**
 * One planned oneDNN primitive with its argument map built once. Per call only the data pointers change:
 * {@link #bind} points an argument at a tensor, {@link #run} executes, on the OpenMP team the primitive was made for.
 * Owns its primitive and memory objects.
 */
final class Step implements AutoCloseable {
    private final String kind;    // "conv2d inference": with subject, named in errors only (a record's toString
    private final Object subject; // costs a bootstrap at its first call, paid at every start if made eagerly)
    private final primitive prim;
    private final IntMemoryMap args = new IntMemoryMap();
    private int[] ids = new int[0];
    private final List<memory> memories = new ArrayList<>();
    private final List<memory> owned = new ArrayList<>();
    private long[] bound = new long[0]; // per argument, the address its memory holds now (0: none yet)
    /** The OpenMP team the primitive was made for, and so runs on (see {@link OpenMpTeam}). */
    private final int threads = OpenMpTeam.current();
    private boolean closed;

    Step(String kind, Object subject, primitive primitive) {
        this.kind = kind;
        this.subject = subject;
        this.prim = primitive;
    }

    /** Declares an argument whose data pointer is bound per call; the step owns its memory object. */
    Step arg(int id, memory.desc md, engine engine) {
        memory m = new memory(md, engine, (Pointer) null);
        owned.add(m);
        return fixedArg(id, m);
    }

    /** Declares an argument that always uses this memory; the caller keeps ownership of it. */
    Step fixedArg(int id, memory memory) {
        ids = java.util.Arrays.copyOf(ids, ids.length + 1);
        ids[ids.length - 1] = id;
        memories.add(memory);
        args.put(id, memory);
        bound = java.util.Arrays.copyOf(bound, ids.length);
        return this;
    }

    /** A reorder between two layouts, both arguments bound per call. */
    static Step reorder(String kind, Object subject, memory.desc from, memory.desc to, engine engine) {
        return reorder(kind, subject, from, to, engine, null);
    }

    /** A reorder with attributes (e.g. scales, whose data the caller declares as arguments), or none when null. */
    static Step reorder(String kind, Object subject, memory.desc from, memory.desc to, engine engine,
                        org.bytedeco.dnnl.primitive_attr attributes) {
        memory source = new memory(from, engine, (Pointer) null);
        memory destination = new memory(to, engine, (Pointer) null);
        Step step = new Step(kind, subject, attributes == null ? new org.bytedeco.dnnl.reorder(source, destination)
                : new org.bytedeco.dnnl.reorder(source, destination, attributes));
        step.owned.add(source);
        step.owned.add(destination);
        return step.fixedArg(org.bytedeco.dnnl.global.dnnl.DNNL_ARG_FROM, source)
                .fixedArg(org.bytedeco.dnnl.global.dnnl.DNNL_ARG_TO, destination);
    }

    /**
     * Points an argument at data. A plan calls with the same tensors every time, so the native call is made only when
     * the address changes.
     */
    Step bind(int id, Pointer data) {
        int index = 0;
        while (index < ids.length && ids[index] != id) {
            index++;
        }
        if (index == ids.length) {
            throw new IllegalStateException(what() + ": argument " + id + " was not declared");
        }
        long address = data.address() + data.position() * data.sizeof();
        if (bound[index] != address || address == 0) {
            memories.get(index).set_data_handle(data);
            bound[index] = address;
        }
        return this;
    }

    /** The OpenMP team this step's primitive was made for and runs on. */
    int threads() {
        return threads;
    }

    void run(stream stream) {
        int restore = OpenMpTeam.enter(threads);
        try {
            prim.execute(stream, args);
            stream._wait();
        } catch (RuntimeException e) {
            throw new BackendException("oneDNN failed to execute " + what() + ": " + e.getMessage(), e);
        } finally {
            OpenMpTeam.leave(restore);
        }
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        args.close();
        for (memory m : owned) {
            m.close();
        }
        prim.close();
    }

    /** Closes each that is not null. */
    static void closeAll(Step... steps) {
        for (Step s : steps) {
            if (s != null) {
                s.close();
            }
        }
    }

    private String what() {
        return subject == null ? kind : kind + " " + subject;
    }
}
