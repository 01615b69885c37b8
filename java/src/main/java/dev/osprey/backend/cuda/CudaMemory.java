package dev.osprey.backend.cuda;

import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.ArrayList;
import java.util.List;

/** Device tensors owned together: freed at once by {@link #close()} (after queued work that may use them). */
final class CudaMemory implements Memory {
    private final CudaBackend backend;
    private final List<CudaTensor> tensors = new ArrayList<>();
    private long bytes;
    private boolean closed;

    CudaMemory(CudaBackend backend) {
        this.backend = backend;
    }

    @Override
    public synchronized Tensor allocate(int... shape) {
        if (closed) {
            throw new IllegalStateException("allocate: this memory was already closed");
        }
        CudaTensor t = backend.allocateTensor(shape);
        tensors.add(t);
        bytes += t.size() * Float.BYTES;
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
        backend.free(tensors);
        tensors.clear();
        bytes = 0;
    }
}
