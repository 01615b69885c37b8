package dev.osprey.layers;

import dev.osprey.Layer;
import dev.osprey.LayerRun;
import dev.osprey.Padding;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Pool2dSpec;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** Max pooling over (H, W, C); strides default to the pool size, as in Keras. */
public final class MaxPooling2D extends Layer {
    private final int poolH;
    private final int poolW;
    private int strideH;
    private int strideW;
    private Padding padding = Padding.VALID;

    public MaxPooling2D(int poolSize) {
        this(poolSize, poolSize);
    }

    public MaxPooling2D(int poolH, int poolW) {
        this.poolH = positive("MaxPooling2D", "pool height", poolH);
        this.poolW = positive("MaxPooling2D", "pool width", poolW);
        this.strideH = poolH;
        this.strideW = poolW;
    }

    public MaxPooling2D strides(int stride) {
        return strides(stride, stride);
    }

    public MaxPooling2D strides(int strideH, int strideW) {
        this.strideH = positive("MaxPooling2D", "stride", strideH);
        this.strideW = positive("MaxPooling2D", "stride", strideW);
        return this;
    }

    public MaxPooling2D padding(Padding padding) {
        this.padding = padding;
        return this;
    }

    @Override
    public String className() {
        return "MaxPooling2D";
    }

    @Override
    public Shape outputShape(Shape input) {
        if (input.rank() != 3) {
            throw new IllegalArgumentException("MaxPooling2D: expected an input of shape (height, width, channels), "
                    + "received " + input);
        }
        return Shape.of(padding.outputLength("MaxPooling2D", input.dim(0), poolH, strideH),
                padding.outputLength("MaxPooling2D", input.dim(1), poolW, strideW), input.dim(2));
    }

    Pool2dSpec spec(Shape input, int batch) {
        outputShape(input);
        int[] padH = padding.pads(input.dim(0), poolH, strideH);
        int[] padW = padding.pads(input.dim(1), poolW, strideW);
        return new Pool2dSpec(batch, input.dim(0), input.dim(1), input.dim(2), poolH, poolW, strideH, strideW,
                padH[0], padW[0], padH[1], padW[1]);
    }

    @Override
    public LayerRun plan(Backend backend, Tensor input, Shape inputShape, int batch, List<Tensor> params,
                         List<Tensor> grads, boolean inputGradient) {
        Pool2dSpec spec = spec(inputShape, batch);
        Tensor output = backend.allocate(spec.outputShape());
        Tensor workspace = backend.maxPool2dWorkspace(spec);
        Tensor dInput = inputGradient ? backend.allocate(spec.inputShape()) : null;
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(boolean training, long seed) {
                backend.maxPool2dForward(spec, input, output, workspace);
            }

            @Override
            public Tensor backward(Tensor dOutput) {
                if (dInput != null) {
                    backend.maxPool2dBackward(spec, input, output, dOutput, workspace, dInput);
                }
                return dInput;
            }
        };
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("pool_size", List.of(poolH, poolW));
        c.put("strides", List.of(strideH, strideW));
        c.put("padding", padding.kerasName());
        return c;
    }
}
