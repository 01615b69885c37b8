package dev.osprey.backend.cpu;

import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;
import java.util.function.LongConsumer;

/** Host tensors owned together: freed at once by {@link #close()}. Safe from any thread. */
final class CpuMemory implements Memory {
    private final List<CpuTensor> tensors = new ArrayList<>();
    private final LongConsumer onAllocate;
    private long bytes;
    private boolean closed;

    /** onAllocate hears the size of each new tensor (the backend counts native allocations). */
    CpuMemory(LongConsumer onAllocate) {
        this.onAllocate = onAllocate;
    }

    @Override
    public synchronized Tensor allocate(int... shape) {
        if (closed) {
            throw new IllegalStateException("allocate: this memory was already closed");
        }
        CpuTensor t = CpuTensor.allocate(shape);
        tensors.add(t);
        bytes += t.size() * Float.BYTES;
        onAllocate.accept(t.size() * Float.BYTES);
        return t;
    }

    @Override
    public synchronized long bytes() {
        return bytes;
    }

    @Override
    public synchronized void close() {
        if (closed) {
            return;
        }
        closed = true;
        tensors.forEach(CpuTensor::close);
        tensors.clear();
        bytes = 0;
    }
}
