package dev.osprey.backend.cuda;

import org.bytedeco.cuda.cudart.CUevent_st;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Pinned host buffers for copies between Java arrays and the device. Uploads go through a ring of slots: a slot
 * is refilled only once the copy queued from it has run (its event), so copyIn never waits for the whole
 * stream. Slots grow to the largest copy seen and then stay; steady-state steps allocate nothing.
 */
final class PinnedStaging implements AutoCloseable {
    private static final int SLOTS = 4;

    private final CudaContext c;
    private final Pointer[] buffers = new Pointer[SLOTS];
    private final long[] capacity = new long[SLOTS];
    private final CUevent_st[] events = new CUevent_st[SLOTS];
    private int next;

    PinnedStaging(CudaContext c) {
        this.c = c;
        for (int i = 0; i < SLOTS; i++) {
            events[i] = new CUevent_st();
            Status.cuda(cudart.cudaEventCreateWithFlags(events[i], cudart.cudaEventDisableTiming), "cudaEventCreateWithFlags");
        }
    }

    void upload(float[] source, int offset, int count, CudaTensor destination) {
        int slot = take(count);
        FloatPointer pinned = new FloatPointer(buffers[slot]);
        pinned.put(source, offset, count);
        Status.cuda(cudart.cudaMemcpyAsync(destination.pointer(), pinned, (long) count * Float.BYTES,
                cudart.cudaMemcpyHostToDevice, c.stream), "cudaMemcpyAsync(host to device)");
        Status.cuda(cudart.cudaEventRecord(events[slot], c.stream), "cudaEventRecord");
    }

    /** Waits for the stream: the caller asked to see numbers. */
    void download(CudaTensor source, float[] destination, int offset) {
        int count = (int) source.size();
        int slot = take(count);
        FloatPointer pinned = new FloatPointer(buffers[slot]);
        Status.cuda(cudart.cudaMemcpyAsync(pinned, source.pointer(), (long) count * Float.BYTES,
                cudart.cudaMemcpyDeviceToHost, c.stream), "cudaMemcpyAsync(device to host)");
        c.synchronize();
        pinned.get(destination, offset, count);
    }

    private int take(int floats) {
        int slot = next;
        next = (next + 1) % SLOTS;
        Status.cuda(cudart.cudaEventSynchronize(events[slot]), "cudaEventSynchronize");
        long bytes = (long) Math.max(floats, 1) * Float.BYTES;
        if (capacity[slot] < bytes) {
            if (buffers[slot] != null) {
                cudart.cudaFreeHost(buffers[slot]);
            }
            buffers[slot] = new Pointer();
            Status.cuda(cudart.cudaMallocHost(buffers[slot], bytes), "cudaMallocHost(" + bytes + " bytes)");
            capacity[slot] = bytes;
        }
        return slot;
    }

    @Override
    public void close() {
        for (int i = 0; i < SLOTS; i++) {
            if (buffers[i] != null) {
                cudart.cudaFreeHost(buffers[i]);
            }
            cudart.cudaEventDestroy(events[i]);
        }
    }
}
