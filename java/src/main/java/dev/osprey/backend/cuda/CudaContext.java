package dev.osprey.backend.cuda;

import org.bytedeco.cuda.cublas.cublasContext;
import org.bytedeco.cuda.cudart.CUstream_st;
import org.bytedeco.cuda.cudnn.cudnnActivationStruct;
import org.bytedeco.cuda.cudnn.cudnnContext;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.FloatPointer;
import org.bytedeco.javacpp.Pointer;

/**
 * Per-backend CUDA state: the device, one stream that every op is queued on, the cuDNN and cuBLAS handles bound
 * to it, the kernels, a ReLU descriptor, host-side alpha/beta scalars, and one grow-only workspace shared by all
 * cuDNN calls (ops run in stream order, so they can share it). Owns all of it.
 */
final class CudaContext implements AutoCloseable {
    final int device;
    final boolean tf32;
    final CUstream_st stream = new CUstream_st();
    final cudnnContext cudnnHandle = new cudnnContext();
    final cublasContext cublasHandle = new cublasContext();
    final cudnnActivationStruct relu = new cudnnActivationStruct();
    final FloatPointer one = new FloatPointer(1f);
    final FloatPointer zero = new FloatPointer(0f);
    final Kernels kernels;
    /** What NVIDIA advises for Hopper; ample for the GEMMs of dense layers. */
    private static final long CUBLAS_WORKSPACE_BYTES = 32L << 20;
    private Pointer workspace = new Pointer();
    private long workspaceBytes;
    private long workspaceGeneration;
    private final Pointer cublasWorkspace = new Pointer();
    private boolean closed;

    CudaContext(int device, boolean tf32) {
        this.device = device;
        this.tf32 = tf32;
        try {
            Status.cuda(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
            Status.cuda(cudart.cudaFree(null), "cudaFree(null) to create the context");
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
            Status.cudnn(cudnn.cudnnCreateActivationDescriptor(relu), "cudnnCreateActivationDescriptor");
            Status.cudnn(cudnn.cudnnSetActivationDescriptor(relu, cudnn.CUDNN_ACTIVATION_RELU, cudnn.CUDNN_PROPAGATE_NAN, 0),
                    "cudnnSetActivationDescriptor(relu)");
            kernels = new Kernels();
        } catch (RuntimeException e) {
            close(); // frees whatever was made before the failure
            throw e;
        }
    }

    /** Grows the shared workspace to at least this many bytes; called while planning, never per step. */
    void reserveWorkspace(long bytes) {
        if (bytes > workspaceBytes) {
            synchronize();
            if (workspaceBytes > 0) {
                cudart.cudaFree(workspace);
            }
            workspace = new Pointer();
            Status.cuda(cudart.cudaMalloc(workspace, bytes), "cudaMalloc(" + bytes + " bytes of cuDNN workspace)");
            workspaceBytes = bytes;
            workspaceGeneration++;
        }
    }

    Pointer workspace() {
        return workspace;
    }

    long workspaceBytes() {
        return workspaceBytes;
    }

    /** Changes whenever the workspace moves; recorded steps that point into it must be recorded again. */
    long workspaceGeneration() {
        return workspaceGeneration;
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
        if (workspaceBytes > 0) {
            cudart.cudaFree(workspace);
        }
        if (!relu.isNull()) {
            cudnn.cudnnDestroyActivationDescriptor(relu);
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
