package dev.osprey.backend.cuda;

import dev.osprey.backend.Tensor;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/** Device memory of the CUDA backend, or a view of another tensor's. The allocating tensor owns the block. */
final class CudaTensor implements Tensor, AutoCloseable {
    private final int[] shape;
    private final long size;
    private final Pointer block;        // cudaMalloc'ed, null for a view
    private final CudaTensor base;
    private final FloatPointer data;
    private boolean closed;

    private CudaTensor(int[] shape, Pointer block, CudaTensor base, FloatPointer data) {
        this.shape = shape.clone();
        this.size = dev.osprey.backend.Checks.elements(shape);
        this.block = block;
        this.base = base;
        this.data = data;
    }

    static CudaTensor allocate(int[] shape) {
        long bytes = Math.max(dev.osprey.backend.Checks.elements(shape), 1) * Float.BYTES;
        Pointer block = new Pointer();
        Status.cuda(cudart.cudaMalloc(block, bytes), "cudaMalloc(" + bytes + " bytes for " + Tensor.describe(shape) + ")");
        Status.cuda(cudart.cudaMemset(block, 0, bytes), "cudaMemset");
        return new CudaTensor(shape, block, null, new FloatPointer(block));
    }

    CudaTensor view(long offset, int[] viewShape) {
        dev.osprey.backend.Checks.viewInside(size, offset, viewShape);
        return new CudaTensor(viewShape, null, base == null ? this : base, data.getPointer(offset));
    }


    /** The device address, for cuDNN, cuBLAS and kernel arguments. */
    FloatPointer pointer() {
        if ((base == null ? this : base).closed) {
            throw new IllegalStateException("tensor " + Tensor.describe(shape) + " was used after its backend closed it");
        }
        return data;
    }

    long address() {
        return pointer().address();
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
            cudart.cudaFree(block);
        }
    }
}
