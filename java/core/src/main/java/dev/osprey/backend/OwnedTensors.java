package dev.osprey.backend;

import java.util.ArrayList;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Function;

/**
 * A {@link Memory} over any backend's tensors: it makes each tensor through the backend's allocator, remembers it, and
 * hands them all to the backend's release at {@link #close()}. Safe from any thread.
 */
public final class OwnedTensors<T extends Tensor> implements Memory {
    private final Function<int[], T> allocator;
    private final Consumer<List<T>> release;
    private final List<T> tensors = new ArrayList<>();
    private long bytes;
    private boolean closed;

    /** allocator makes a zero-filled tensor of a shape; release frees a list of them (the list is cleared after). */
    public OwnedTensors(Function<int[], T> allocator, Consumer<List<T>> release) {
        this.allocator = allocator;
        this.release = release;
    }

    @Override
    public synchronized Tensor allocate(int... shape) {
        if (closed) {
            throw new IllegalStateException("allocate: this memory was already closed");
        }
        T t = allocator.apply(shape);
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
        release.accept(tensors);
        tensors.clear();
        bytes = 0;
    }
}
