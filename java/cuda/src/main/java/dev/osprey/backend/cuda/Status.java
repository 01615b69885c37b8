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
            String text = "";
            try (org.bytedeco.javacpp.PointerPointer<BytePointer> message = new org.bytedeco.javacpp.PointerPointer<>(1)) {
                org.bytedeco.javacpp.Pointer p = cudart.cuGetErrorString(status, message) == cudart.CUDA_SUCCESS
                        ? message.get(0) : null;
                if (p != null && !p.isNull()) {
                    text = new BytePointer(p).getString() + " ";
                }
            }
            throw new BackendException("CUDA driver " + call + " failed: " + text + "(status " + status + ")");
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
