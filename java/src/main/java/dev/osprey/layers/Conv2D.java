package dev.osprey.layers;

import dev.osprey.Activation;
import dev.osprey.Layer;
import dev.osprey.LayerRun;
import dev.osprey.Padding;
import dev.osprey.ParamSpec;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.Tensor;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/** 2-D convolution over (H, W, C) inputs; kernel (kh, kw, in, filters) and bias (filters), Keras' layouts. */
public final class Conv2D extends Layer {
    private final int filters;
    private final int kernelH;
    private final int kernelW;
    private final Activation activation;
    private int strideH = 1;
    private int strideW = 1;
    private Padding padding = Padding.VALID;

    public Conv2D(int filters, int kernelSize, Activation activation) {
        this(filters, kernelSize, kernelSize, activation);
    }

    public Conv2D(int filters, int kernelSize) {
        this(filters, kernelSize, kernelSize, Activation.LINEAR);
    }

    public Conv2D(int filters, int kernelH, int kernelW, Activation activation) {
        this.filters = positive("Conv2D", "filters", filters);
        this.kernelH = positive("Conv2D", "kernel height", kernelH);
        this.kernelW = positive("Conv2D", "kernel width", kernelW);
        if (activation == Activation.SOFTMAX) {
            throw new IllegalArgumentException("Conv2D: expected activation relu or linear, received softmax "
                    + "(softmax belongs on the last Dense layer)");
        }
        this.activation = activation == null ? Activation.LINEAR : activation;
    }

    public Conv2D strides(int stride) {
        return strides(stride, stride);
    }

    public Conv2D strides(int strideH, int strideW) {
        this.strideH = positive("Conv2D", "stride", strideH);
        this.strideW = positive("Conv2D", "stride", strideW);
        return this;
    }

    public Conv2D padding(Padding padding) {
        this.padding = padding;
        return this;
    }

    @Override
    public String className() {
        return "Conv2D";
    }

    @Override
    public Activation activation() {
        return activation;
    }

    @Override
    public Shape outputShape(Shape input) {
        if (input.rank() != 3) {
            throw new IllegalArgumentException("Conv2D: expected an input of shape (height, width, channels), received "
                    + input);
        }
        return Shape.of(padding.outputLength("Conv2D", input.dim(0), kernelH, strideH),
                padding.outputLength("Conv2D", input.dim(1), kernelW, strideW), filters);
    }

    @Override
    public List<ParamSpec> parameters(Shape input) {
        int in = input.dim(2);
        return List.of(
                new ParamSpec("kernel", new int[] {kernelH, kernelW, in, filters}, ParamSpec.Initializer.GLOROT_UNIFORM,
                        kernelH * kernelW * in, kernelH * kernelW * filters),
                new ParamSpec("bias", new int[] {filters}, ParamSpec.Initializer.ZEROS, 0, 0));
    }

    @Override
    public double forwardFlops(Shape input) {
        return spec(input, 1).forwardFlops();
    }

    Conv2dSpec spec(Shape input, int batch) {
        outputShape(input);
        int[] padH = padding.pads(input.dim(0), kernelH, strideH);
        int[] padW = padding.pads(input.dim(1), kernelW, strideW);
        return new Conv2dSpec(batch, input.dim(0), input.dim(1), input.dim(2), filters, kernelH, kernelW,
                strideH, strideW, padH[0], padW[0], padH[1], padW[1], activation);
    }

    @Override
    public LayerRun plan(Backend backend, Tensor input, Shape inputShape, int batch, List<Tensor> params,
                         List<Tensor> grads, boolean inputGradient) {
        Conv2dSpec spec = spec(inputShape, batch);
        Tensor kernel = params.get(0), bias = params.get(1);
        Tensor dKernel = grads.get(0), dBias = grads.get(1);
        Tensor output = backend.allocate(spec.outputShape());
        Tensor dInput = inputGradient ? backend.allocate(spec.inputShape()) : null;
        return new LayerRun() {
            @Override
            public Tensor output() {
                return output;
            }

            @Override
            public void forward(boolean training, long seed) {
                backend.conv2dForward(spec, input, kernel, bias, output);
            }

            @Override
            public Tensor backward(Tensor dOutput) {
                backend.activationBackward(activation, output, dOutput, dOutput);
                backend.conv2dBackwardFilter(spec, input, dOutput, dKernel, dBias);
                if (dInput != null) {
                    backend.conv2dBackwardData(spec, dOutput, kernel, dInput);
                }
                return dInput;
            }
        };
    }

    @Override
    public Map<String, Object> config() {
        Map<String, Object> c = new LinkedHashMap<>();
        c.put("filters", filters);
        c.put("kernel_size", List.of(kernelH, kernelW));
        c.put("strides", List.of(strideH, strideW));
        c.put("padding", padding.kerasName());
        c.put("activation", activation.kerasName());
        return c;
    }
}
