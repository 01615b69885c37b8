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
    private Pointer workspace = new Pointer();
    private long workspaceBytes;
    private boolean closed;

    CudaContext(int device, boolean tf32) {
        this.device = device;
        this.tf32 = tf32;
        Status.cuda(cudart.cudaSetDevice(device), "cudaSetDevice(" + device + ")");
        Status.cuda(cudart.cudaFree(null), "cudaFree(null) to create the context");
        Status.cuda(cudart.cudaStreamCreate(stream), "cudaStreamCreate");
        Status.cudnn(cudnn.cudnnCreate(cudnnHandle), "cudnnCreate");
        Status.cudnn(cudnn.cudnnSetStream(cudnnHandle, stream), "cudnnSetStream");
        Status.cublas(cublas.cublasCreate_v2(cublasHandle), "cublasCreate");
        Status.cublas(cublas.cublasSetStream_v2(cublasHandle, stream), "cublasSetStream");
        Status.cublas(cublas.cublasSetMathMode(cublasHandle,
                tf32 ? cublas.CUBLAS_TF32_TENSOR_OP_MATH : cublas.CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");
        Status.cudnn(cudnn.cudnnCreateActivationDescriptor(relu), "cudnnCreateActivationDescriptor");
        Status.cudnn(cudnn.cudnnSetActivationDescriptor(relu, cudnn.CUDNN_ACTIVATION_RELU, cudnn.CUDNN_PROPAGATE_NAN, 0),
                "cudnnSetActivationDescriptor(relu)");
        kernels = new Kernels();
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
        }
    }

    Pointer workspace() {
        return workspace;
    }

    long workspaceBytes() {
        return workspaceBytes;
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
        cudart.cudaStreamSynchronize(stream);
        kernels.close();
        if (workspaceBytes > 0) {
            cudart.cudaFree(workspace);
        }
        cudnn.cudnnDestroyActivationDescriptor(relu);
        cublas.cublasDestroy_v2(cublasHandle);
        cudnn.cudnnDestroy(cudnnHandle);
        cudart.cudaStreamDestroy(stream);
        one.close();
        zero.close();
    }
}
