package dev.osprey.backend.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Per-device CUDA state: the device, one stream that every op is queued on, the cuDNN and cuBLAS handles bound
 * to it, the kernels, host-side alpha/beta scalars, and grow-only buffers shared by all ops (they run in stream
 * order, so they can share them): cuDNN's workspace, the weight scratch and mixed_bfloat16's two bf16 scratches. Owns
 * all of it.
 */
final class CudaContext implements AutoCloseable {
    final int device;
    final boolean tf32;
    /** The GPU's compute capability, e.g. 9.0 for an H100: 7.0 and up have fp16 tensor cores. */
    final int computeMajor;
    final int computeMinor;
    final CUstream_st stream = new CUstream_st();
    final cudnnContext cudnnHandle = new cudnnContext();
    final cublasContext cublasHandle = new cublasContext();
    final FloatPointer one = new FloatPointer(1f);
    final FloatPointer zero = new FloatPointer(0f);
    final Kernels kernels;
    /** What NVIDIA advises for Hopper; ample for the GEMMs of dense layers. */
    private static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
    private final GrowOnlyBuffer workspace = new GrowOnlyBuffer("cuDNN workspace");
    private final GrowOnlyBuffer weightScratch = new GrowOnlyBuffer("weight scratch");
    private final GrowOnlyBuffer bf16ScratchA = new GrowOnlyBuffer("bf16 scratch A");
    private final GrowOnlyBuffer bf16ScratchB = new GrowOnlyBuffer("bf16 scratch B");
    private final Pointer cublasWorkspace = new Pointer();
    private boolean closed;

    CudaContext(int device, boolean tf32) {
        this.device = device;
        this.tf32 = tf32;
        try {
            Status.cuda(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
            Status.cuda(cudart.cudaFree(null), "cudaFree(null) to create the context");
            int[] attribute = new int[1];
            Status.cuda(cudart.cudaDeviceGetAttribute(attribute, cudart.cudaDevAttrComputeCapabilityMajor, device),
                    "cudaDeviceGetAttribute(compute capability major)");
            computeMajor = attribute[0];
            Status.cuda(cudart.cudaDeviceGetAttribute(attribute, cudart.cudaDevAttrComputeCapabilityMinor, device),
                    "cudaDeviceGetAttribute(compute capability minor)");
            computeMinor = attribute[0];
            Status.cuda(cudart.cudaStreamCreate(stream), "cudaStreamCreate");
            Status.cudnn(cudnn.cudnnCreate(cudnnHandle), "cudnnCreate");
            Status.cudnn(cudnn.cudnnSetStream(cudnnHandle, stream), "cudnnSetStream");
            Status.cublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
            Status.cublas(cublas.cublasSetStream_v2(cublasHandle, stream), "cublasSetStream");
            Status.cublas(cublas.cublasSetMathMode(cublasHandle,
                    tf32 ? cublas.CUBLAS_TF32_TENSOR_OP_MATH : cublas.CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
            // cuBLAS gets its workspace up front, so that it never allocates inside a captured step.
            Status.cuda(cudart.cudaMalloc(cublasWorkspace, CUBLAS_WORKSPACE_BYTES), "cudaMalloc(cuBLAS workspace)");
            Status.cublas(cublas.cublasSetWorkspace_v2(cublasHandle, cublasWorkspace, CUBLAS_WORKSPACE_BYTES),
                    "cublasSetWorkspace");
            kernels = new Kernels();
        } catch (RuntimeException e) {
            close(); // frees whatever was made before the failure
            throw e;
        }
    }

    /** Grows the shared cuDNN workspace to at least this many bytes; called while planning, never per step. */
    void reserveWorkspace(long bytes) {
        workspace.reserve(bytes);
    }

    Pointer workspace() {
        return workspace.pointer;
    }

    long workspaceBytes() {
        return workspace.bytes;
    }

    /**
     * Grows the shared weight scratch (a convolution kernel in cuDNN's layout, for the length of one op) to at least
     * this many bytes; called while planning. Ops run in stream order, so one scratch serves them all.
     */
    void reserveWeightScratch(long bytes) {
        weightScratch.reserve(bytes);
    }

    Pointer weightScratch() {
        return weightScratch.pointer;
    }

    /**
     * Grows the two bf16 scratches of mixed_bfloat16 to at least these many bytes. cuDNN's bf16 convolutions and the
     * bf16 matrix products read bf16 while Osprey's tensors stay fp32, so an op rounds its two operands into these for
     * its own length: a convolution the tensor on its input side (x, or dx) into A and the one on its output side (y,
     * or dy) into B; a dense layer's product its operands A and B. Growing synchronizes: called while planning, or
     * once per new size.
     */
    void reserveBf16Scratch(long bytesA, long bytesB) {
        bf16ScratchA.reserve(bytesA);
        bf16ScratchB.reserve(bytesB);
    }

    Pointer bf16ScratchA() {
        return bf16ScratchA.pointer;
    }

    Pointer bf16ScratchB() {
        return bf16ScratchB.pointer;
    }

    /** A device buffer that only grows: it frees the old one (once queued work that may use it is done) and reallocates. */
    private final class GrowOnlyBuffer {
        private final String what;
        private Pointer pointer = new Pointer();
        private long bytes;

        GrowOnlyBuffer(String what) {
            this.what = what;
        }

        void reserve(long wanted) {
            if (wanted <= bytes) {
                return;
            }
            synchronize();
            free();
            Pointer grown = new Pointer();
            Status.cuda(cudart.cudaMalloc(grown, wanted), "cudaMalloc(" + wanted + " bytes of " + what + ")");
            pointer = grown;
            bytes = wanted;
        }

        void free() {
            if (bytes > 0) {
                cudart.cudaFree(pointer);
                pointer = new Pointer();
                bytes = 0;
            }
        }
    }

    void synchronize() {
        Status.cuda(cudart.cudaStreamSynchronize(stream), "cudaStreamSynchronize");
    }

    @Override
    public void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (!stream.isNull()) {
            cudart.cudaStreamSynchronize(stream);
        }
        if (kernels != null) {
            kernels.close();
        }
        for (GrowOnlyBuffer buffer : new GrowOnlyBuffer[] {workspace, weightScratch, bf16ScratchA, bf16ScratchB}) {
            buffer.free();
        }
        if (!cublasHandle.isNull()) {
            cublas.cublasDestroy_v2(cublasHandle);
        }
        if (!cublasWorkspace.isNull()) {
            cudart.cudaFree(cublasWorkspace);
        }
        if (!cudnnHandle.isNull()) {
            cudnn.cudnnDestroy(cudnnHandle);
        }
        if (!stream.isNull()) {
            cudart.cudaStreamDestroy(stream);
        }
        one.close();
        zero.close();
    }
}
