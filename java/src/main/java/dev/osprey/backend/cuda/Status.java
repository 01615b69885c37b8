package dev.osprey.backend.cuda;

import dev.osprey.backend.BackendException;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.BytePointer;

/** The one translation point from CUDA, driver, cuBLAS and cuDNN status codes to exceptions naming the call. */
final class Status {
    private Status() {
    }

    static void cuda(int status, String call) {
        if (status != cudart.cudaSuccess) {
            BytePointer text = cudart.cudaGetErrorString(status);
            throw new BackendException("CUDA " + call + " failed: " + (text == null ? "" : text.getString())
                    + " (status " + status + ")");
        }
    }

    static void driver(int status, String call) {
        if (status != cudart.CUDA_SUCCESS) {
            BytePointer text = new BytePointer(256);
            cudart.cuGetErrorString(status, text);
            throw new BackendException("CUDA driver " + call + " failed: status " + status);
        }
    }

    static void cudnn(int status, String call) {
        if (status != cudnn.CUDNN_STATUS_SUCCESS) {
            BytePointer text = cudnn.cudnnGetErrorString(status);
            throw new BackendException("cuDNN " + call + " failed: " + (text == null ? "" : text.getString())
                    + " (status " + status + ")");
        }
    }

    static void cublas(int status, String call) {
        if (status != cublas.CUBLAS_STATUS_SUCCESS) {
            throw new BackendException("cuBLAS " + call + " failed with status " + status);
        }
    }
}
