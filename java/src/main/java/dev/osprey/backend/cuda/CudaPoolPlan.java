package dev.osprey.backend.cuda;

import dev.osprey.backend.BackendException;
import dev.osprey.backend.Pool2dSpec;
import org.bytedeco.cuda.cudnn.cudnnPoolingStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.cuda.global.cudnn;

/** cuDNN max pooling (deterministic backward) for one {@link Pool2dSpec}, NHWC. */
final class CudaPoolPlan implements AutoCloseable {
    private final CudaContext c;
    private final Pool2dSpec s;
    private final cudnnTensorStruct x = new cudnnTensorStruct();
    private final cudnnTensorStruct y = new cudnnTensorStruct();
    private final cudnnPoolingStruct pool = new cudnnPoolingStruct();

    CudaPoolPlan(CudaContext c, Pool2dSpec s) {
        this.c = c;
        this.s = s;
        if (s.padTop() != s.padBottom() || s.padLeft() != s.padRight()) {
            throw new BackendException("cuDNN takes symmetric pooling padding only; " + s + " pads "
                    + s.padTop() + "/" + s.padBottom() + " by " + s.padLeft() + "/" + s.padRight());
        }
        Status.cudnn(cudnn.cudnnCreateTensorDescriptor(x), "cudnnCreateTensorDescriptor");
        Status.cudnn(cudnn.cudnnCreateTensorDescriptor(y), "cudnnCreateTensorDescriptor");
        Status.cudnn(cudnn.cudnnCreatePoolingDescriptor(pool), "cudnnCreatePoolingDescriptor");
        Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(x, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                s.batch(), s.channels(), s.inH(), s.inW()), "cudnnSetTensor4dDescriptor(x) " + s);
        Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(y, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                s.batch(), s.channels(), s.outH(), s.outW()), "cudnnSetTensor4dDescriptor(y) " + s);
        Status.cudnn(cudnn.cudnnSetPooling2dDescriptor(pool, cudnn.CUDNN_POOLING_MAX_DETERMINISTIC,
                cudnn.CUDNN_PROPAGATE_NAN, s.poolH(), s.poolW(), s.padTop(), s.padLeft(), s.strideH(), s.strideW()),
                "cudnnSetPooling2dDescriptor " + s);
    }

    void forward(CudaTensor input, CudaTensor output) {
        Status.cudnn(cudnn.cudnnPoolingForward(c.cudnnHandle, pool, c.one, x, input.pointer(), c.zero, y,
                output.pointer()), "cudnnPoolingForward " + s);
    }

    void backward(CudaTensor input, CudaTensor output, CudaTensor dy, CudaTensor dx) {
        Status.cudnn(cudnn.cudnnPoolingBackward(c.cudnnHandle, pool, c.one, y, output.pointer(), y, dy.pointer(), x,
                input.pointer(), c.zero, x, dx.pointer()), "cudnnPoolingBackward " + s);
    }

    @Override
    public void close() {
        cudnn.cudnnDestroyPoolingDescriptor(pool);
        cudnn.cudnnDestroyTensorDescriptor(y);
        cudnn.cudnnDestroyTensorDescriptor(x);
    }
}
