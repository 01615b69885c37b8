package dev.osprey.backend.cuda;

import dev.osprey.backend.Pool2dSpec;
import org.bytedeco.cuda.cudnn.cudnnPoolingStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.cuda.global.cudnn;

/**
 * cuDNN max pooling (deterministic backward) for one {@link Pool2dSpec}, NHWC (average pooling runs in Osprey's own
 * kernels, which exclude any padding from the count as Keras does). Uneven padding runs on a copy of the
 * input framed by negative infinity ({@link ExplicitPadding}), which no window's maximum can come from.
 */
final class CudaPoolPlan implements AutoCloseable {
    private final CudaContext c;
    private final Pool2dSpec s;
    private final cudnnTensorStruct x = new cudnnTensorStruct();
    private final cudnnTensorStruct y = new cudnnTensorStruct();
    private final cudnnPoolingStruct pool = new cudnnPoolingStruct();
    private final ExplicitPadding padding; // null when cuDNN pads by itself

    CudaPoolPlan(CudaContext c, Pool2dSpec s) {
        this.c = c;
        this.s = s;
        try {
            padding = ExplicitPadding.needed(s.padTop(), s.padLeft(), s.padBottom(), s.padRight())
                    ? new ExplicitPadding(c, s.batch(), s.inH(), s.inW(), s.channels(), s.padTop(), s.padLeft(),
                            s.padBottom(), s.padRight(), Float.NEGATIVE_INFINITY)
                    : null;
            Status.cudnn(cudnn.cudnnCreateTensorDescriptor(x), "cudnnCreateTensorDescriptor");
            Status.cudnn(cudnn.cudnnCreateTensorDescriptor(y), "cudnnCreateTensorDescriptor");
            Status.cudnn(cudnn.cudnnCreatePoolingDescriptor(pool), "cudnnCreatePoolingDescriptor");
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(x, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                    s.batch(), s.channels(), padding == null ? s.inH() : padding.paddedH,
                    padding == null ? s.inW() : padding.paddedW), "cudnnSetTensor4dDescriptor(x) " + s);
            Status.cudnn(cudnn.cudnnSetTensor4dDescriptor(y, cudnn.CUDNN_TENSOR_NHWC, cudnn.CUDNN_DATA_FLOAT,
                    s.batch(), s.channels(), s.outH(), s.outW()), "cudnnSetTensor4dDescriptor(y) " + s);
            Status.cudnn(cudnn.cudnnSetPooling2dDescriptor(pool, cudnn.CUDNN_POOLING_MAX_DETERMINISTIC,
                    cudnn.CUDNN_PROPAGATE_NAN, s.poolH(), s.poolW(), padding == null ? s.padTop() : 0,
                    padding == null ? s.padLeft() : 0, s.strideH(), s.strideW()), "cudnnSetPooling2dDescriptor " + s);
        } catch (RuntimeException e) {
            close(); // frees what was made before the failure
            throw e;
        }
    }

    void forward(CudaTensor input, CudaTensor output) {
        CudaTensor in = padding == null ? input : padding.pad(input);
        Status.cudnn(cudnn.cudnnPoolingForward(c.cudnnHandle, pool, c.one, x, in.pointer(), c.zero, y,
                output.pointer()), "cudnnPoolingForward " + s);
    }

    void backward(CudaTensor input, CudaTensor output, CudaTensor dy, CudaTensor dx) {
        // Padded again: plans are shared by layers of equal specs, so the copy may hold another layer's input.
        CudaTensor in = padding == null ? input : padding.pad(input);
        CudaTensor target = padding == null ? dx : padding.gradient();
        Status.cudnn(cudnn.cudnnPoolingBackward(c.cudnnHandle, pool, c.one, y, output.pointer(), y, dy.pointer(), x,
                in.pointer(), c.zero, x, target.pointer()), "cudnnPoolingBackward " + s);
        if (padding != null) {
            padding.crop(dx);
        }
    }

    @Override
    public void close() {
        c.synchronize(); // queued ops may still use the descriptors and the padded copy
        if (padding != null) {
            padding.close();
        }
        if (!pool.isNull()) {
            cudnn.cudnnDestroyPoolingDescriptor(pool);
        }
        for (cudnnTensorStruct d : new cudnnTensorStruct[] {y, x}) {
            if (!d.isNull()) {
                cudnn.cudnnDestroyTensorDescriptor(d);
            }
        }
    }
}
