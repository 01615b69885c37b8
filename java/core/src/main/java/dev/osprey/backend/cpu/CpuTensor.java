package dev.osprey.backend.cpu;

import dev.osprey.backend.Tensor;
import java.nio.FloatBuffer;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Host memory for the CPU backend: 64-byte aligned (what oneDNN's vector kernels want), or a view of another
 * tensor's storage. The allocating tensor owns the malloc'ed block; views own nothing.
 */
final class CpuTensor implements Tensor, AutoCloseable {
    private static final int ALIGNMENT = 64;

    private final int[] shape;
    private final long size;
    private final Pointer block;          // the malloc'ed block, null for a view
    private final CpuTensor base;         // the owner, for views
    private final FloatPointer data;      // aligned start
    private final FloatBuffer buffer;     // Java's window on the same floats
    private boolean closed;

    private CpuTensor(int[] shape, Pointer block, CpuTensor base, FloatPointer data) {
        this.shape = shape.clone();
        this.size = dev.osprey.backend.Checks.elements(shape);
        this.block = block;
        this.base = base;
        this.data = data;
        this.buffer = data.capacity(size).asBuffer();
    }

    static CpuTensor allocate(int[] shape) {
        long elements = dev.osprey.backend.Checks.elements(shape);
        if (elements > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("expected a tensor of at most " + Integer.MAX_VALUE
                    + " elements, received shape " + Tensor.describe(shape));
        }
        long bytes = Math.max(elements, 1) * Float.BYTES;
        Pointer block = Pointer.malloc(bytes + ALIGNMENT);
        if (block == null || block.isNull()) {
            throw new OutOfMemoryError("could not allocate " + bytes + " bytes of native memory for tensor "
                    + Tensor.describe(shape));
        }
        Pointer.memset(block, 0, bytes + ALIGNMENT);
        long misalignment = block.address() % ALIGNMENT;
        long shiftFloats = misalignment == 0 ? 0 : (ALIGNMENT - misalignment) / Float.BYTES;
        FloatPointer aligned = new FloatPointer(block).getPointer(shiftFloats);
        return new CpuTensor(shape, block, null, aligned);
    }

    CpuTensor view(long offset, int[] viewShape) {
        dev.osprey.backend.Checks.viewInside(size, offset, viewShape);
        return new CpuTensor(viewShape, null, owner(), data.getPointer(offset));
    }

    private CpuTensor owner() {
        return base == null ? this : base;
    }


    /** The aligned start, for binding into a oneDNN memory object. */
    FloatPointer pointer() {
        checkOpen();
        return data;
    }

    /** Java's view of the floats; absolute get/put only (the buffer's position is shared). */
    FloatBuffer buffer() {
        checkOpen();
        return buffer;
    }

    private void checkOpen() {
        if (owner().closed) {
            throw new IllegalStateException("tensor " + Tensor.describe(shape) + " was used after its backend closed it");
        }
    }

    @Override
    public int[] shape() {
        return shape.clone();
    }

    @Override
    public long size() {
        return size;
    }

    @Override
    public void close() {
        if (block != null && !closed) {
            closed = true;
            Pointer.free(block);
        }
    }

    @Override
    public String toString() {
        return "CpuTensor" + Tensor.describe(shape);
    }
}
