package dev.osprey;

import static dev.osprey.Activation.RELU;
import static dev.osprey.Activation.SOFTMAX;

import dev.osprey.backend.Device;
import dev.osprey.layers.Add;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.ClassToken;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Cropping1D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.GlobalAveragePooling2D;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.layers.MultiHeadAttention;
import dev.osprey.layers.PositionEmbedding;
import dev.osprey.layers.ReLU;
import dev.osprey.layers.Reshape;
import dev.osprey.layers.ZeroPadding2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.Locale;

/**
 * Ready-made models, randomly initialised (no weights can be downloaded): the tutorial CNN, the CIFAR-style ResNets of
 * He et al. 2016 (section 4.2: ResNet-20/32/56...), the ImageNet-style ResNet-18/34/50, MobileNetV2, MobileNetV3 (large
 * and small), EfficientNet-B0 and ConvNeXt-Tiny, for any input
 * size and class count. The ImageNet-style models follow torchvision's definitions layer for layer (the same
 * parameters, and PyTorch's symmetric padding through ZeroPadding2D where a strided convolution pads), so their
 * parameter counts are the published ones and their weights can be carried over from PyTorch.
 */
public final class Models {
    private Models() {
    }

    /**
     * The tutorial's CNN for 28x28x1 images and 10 classes (93,322 parameters), compiled with Adam,
     * categorical cross-entropy over integer labels, and accuracy.
     */
    public static Sequential tutorialCnn() {
        return tutorialCnn(Shape.of(28, 28, 1), 10);
    }

    /** The tutorial's layers for another input shape (H, W, C) and class count. */
    public static Sequential tutorialCnn(Shape input, int classes) {
        return new Sequential(
                new Conv2D(32, 3, RELU).inputShape(input.dims()),
                new MaxPooling2D(2),
                new Conv2D(64, 3, RELU),
                new MaxPooling2D(2),
                new Conv2D(64, 3, RELU),
                new Flatten(),
                new Dense(64, RELU),
                new Dense(classes, SOFTMAX));
    }

    /** {@link #tutorialCnn()} compiled as the tutorial does (labels as integers, so the sparse form of the loss). */
    public static Sequential compiledTutorialCnn() {
        return compiledTutorialCnn(Device.auto());
    }

    /** The same, on a chosen device. */
    public static Sequential compiledTutorialCnn(Device device) {
        return tutorialCnn().device(device).compile(new Adam(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    // ---- ResNets for small images (He et al. 2016, section 4.2) ------------------------------------------

    /** ResNet-{depth} for 32x32x3 images and 10 classes (ResNet-20: 0.27 M parameters). */
    public static Model resNet(int depth) {
        return resNet(depth, Shape.of(32, 32, 3), 10);
    }

    /**
     * The CIFAR ResNet of depth 6n + 2: a 3x3 convolution of 16 filters, three stages of n basic blocks with 16, 32 and
     * 64 filters (the second and third start with stride 2), global average pooling and a softmax classifier.
     * Convolutions are followed by BatchNormalization and have no bias; where a block changes shape, its shortcut is a
     * 1x1 convolution and BatchNormalization (the paper's option B). He-normal initial kernels.
     */
    public static Model resNet(int depth, Shape input, int classes) {
        if (depth < 8 || (depth - 2) % 6 != 0) {
            throw new IllegalArgumentException("resNet: expected a depth of 6n + 2 (20, 32, 44, 56, 110, ...), received "
                    + depth);
        }
        int blocks = (depth - 2) / 6;
        Input in = Input.shape(input);
        SymbolicTensor x = batchNormRelu(conv(16, 3, 1).padding(Padding.SAME).apply(in));
        int filters = 16;
        for (int stage = 0; stage < 3; stage++) {
            for (int b = 0; b < blocks; b++) {
                x = basicBlock(x, filters, stage > 0 && b == 0 ? 2 : 1, false);
            }
            filters *= 2;
        }
        x = new GlobalAveragePooling2D().apply(x);
        return new Model(in, new Dense(classes, SOFTMAX).apply(x));
    }

    // ---- ImageNet-style ResNets (He et al. 2016; torchvision's v1.5: the stride sits on the 3x3) -----------

    /** ImageNet-style ResNet-18 (stages of 2, 2, 2, 2 basic blocks) for this input shape and class count. */
    public static Model resNet18(Shape input, int classes) {
        return imageNetResNet(new int[] {2, 2, 2, 2}, false, input, classes);
    }

    /** ImageNet-style ResNet-34 (stages of 3, 4, 6, 3 basic blocks) for this input shape and class count. */
    public static Model resNet34(Shape input, int classes) {
        return imageNetResNet(new int[] {3, 4, 6, 3}, false, input, classes);
    }

    /** ImageNet-style ResNet-50 (stages of 3, 4, 6, 3 bottleneck blocks) for this input shape and class count. */
    public static Model resNet50(Shape input, int classes) {
        return imageNetResNet(new int[] {3, 4, 6, 3}, true, input, classes);
    }

    private static Model imageNetResNet(int[] blocks, boolean bottleneck, Shape input, int classes) {
        Input in = Input.shape(input);
        SymbolicTensor x = new ZeroPadding2D(3).apply(in);
        x = batchNormRelu(conv(64, 7, 2).apply(x));
        x = new MaxPooling2D(3).strides(2).apply(new ZeroPadding2D(1).apply(x));
        int filters = 64;
        for (int stage = 0; stage < 4; stage++) {
            for (int b = 0; b < blocks[stage]; b++) {
                int stride = stage > 0 && b == 0 ? 2 : 1;
                x = bottleneck ? bottleneckBlock(x, filters, stride) : basicBlock(x, filters, stride, true);
            }
            filters *= 2;
        }
        x = new GlobalAveragePooling2D().apply(x);
        return new Model(in, new Dense(classes, SOFTMAX).apply(x));
    }

    /** conv3x3(stride) BN ReLU conv3x3 BN, plus the shortcut (1x1 conv + BN when the shape changes), then ReLU. */
    private static SymbolicTensor basicBlock(SymbolicTensor x, int filters, int stride, boolean pytorchPadding) {
        SymbolicTensor y = batchNormRelu(conv3x3(x, filters, stride, pytorchPadding));
        y = new BatchNormalization().apply(conv3x3(y, filters, 1, pytorchPadding));
        return new ReLU().apply(new Add().apply(y, shortcut(x, filters, stride)));
    }

    /** conv1x1 BN ReLU, conv3x3(stride) BN ReLU, conv1x1 (4x filters) BN, plus the shortcut, then ReLU. */
    private static SymbolicTensor bottleneckBlock(SymbolicTensor x, int filters, int stride) {
        SymbolicTensor y = batchNormRelu(conv(filters, 1, 1).apply(x));
        y = batchNormRelu(conv3x3(y, filters, stride, true));
        y = new BatchNormalization().apply(conv(filters * 4, 1, 1).apply(y));
        return new ReLU().apply(new Add().apply(y, shortcut(x, filters * 4, stride)));
    }

    private static SymbolicTensor shortcut(SymbolicTensor x, int filters, int stride) {
        if (stride == 1 && x.shape().dim(2) == filters) {
            return x;
        }
        return new BatchNormalization().apply(conv(filters, 1, stride).apply(x));
    }

    /**
     * A 3x3 convolution: 'same' padding at stride 1; at stride 2 either Keras' 'same' (the extra row below) or, for
     * PyTorch's layout, one row of zeros on every side and 'valid'.
     */
    private static SymbolicTensor conv3x3(SymbolicTensor x, int filters, int stride, boolean pytorchPadding) {
        if (stride == 1 || !pytorchPadding) {
            return conv(filters, 3, stride).padding(Padding.SAME).apply(x);
        }
        return conv(filters, 3, stride).apply(new ZeroPadding2D(1).apply(x));
    }

    private static Conv2D conv(int filters, int kernel, int stride) {
        return new Conv2D(filters, kernel).strides(stride).useBias(false).kernelInitializer(Initializer.heNormal());
    }

    private static SymbolicTensor batchNormRelu(SymbolicTensor x) {
        return new ReLU().apply(new BatchNormalization().apply(x));
    }

    // ---- MobileNetV2 (Sandler et al. 2018) -----------------------------------------------------------------

    /** MobileNetV2 for 224x224x3 images and 1,000 classes (alpha 1.0: 3.5 M parameters). */
    public static Model mobileNetV2(double alpha) {
        return mobileNetV2(alpha, Shape.of(224, 224, 3), 1000);
    }

    /**
     * MobileNetV2 with width multiplier alpha: a 3x3 stride-2 convolution, 17 inverted-residual blocks (expand 1x1,
     * depthwise 3x3, project 1x1, each with BatchNormalization, ReLU6 after the first two, a residual add where the
     * shape allows), a 1x1 convolution to 1,280 channels, global average pooling and a softmax classifier. Channel
     * counts are rounded to multiples of 8 as in the paper's code; BatchNormalization keeps Keras' defaults.
     */
    public static Model mobileNetV2(double alpha, Shape input, int classes) {
        if (!(alpha > 0) || alpha > 4) {
            throw new IllegalArgumentException("mobileNetV2: expected 0 < alpha <= 4, received " + alpha);
        }
        int[][] settings = { // expansion t, channels c, repeats n, first stride s
            {1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2}, {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2}, {6, 320, 1, 1}};
        Input in = Input.shape(input);
        int channels = divisible(32 * alpha);
        SymbolicTensor x = conv(channels, 3, 2).apply(new ZeroPadding2D(1).apply(in));
        x = relu6(new BatchNormalization().apply(x));
        for (int[] s : settings) {
            int out = divisible(s[1] * alpha);
            for (int i = 0; i < s[2]; i++) {
                x = invertedResidual(x, s[0], out, i == 0 ? s[3] : 1);
            }
        }
        int last = alpha > 1 ? divisible(1280 * alpha) : 1280;
        x = relu6(new BatchNormalization().apply(conv(last, 1, 1).apply(x)));
        x = new GlobalAveragePooling2D().apply(x);
        return new Model(in, new Dense(classes, SOFTMAX).apply(x));
    }

    private static SymbolicTensor invertedResidual(SymbolicTensor x, int expansion, int out, int stride) {
        int in = x.shape().dim(2);
        SymbolicTensor y = x;
        if (expansion != 1) {
            y = relu6(new BatchNormalization().apply(conv(in * expansion, 1, 1).apply(y)));
        }
        DepthwiseConv2D depthwise = new DepthwiseConv2D(3).strides(stride).useBias(false)
                .depthwiseInitializer(Initializer.heNormal());
        y = stride == 1 ? depthwise.padding(Padding.SAME).apply(y) : depthwise.apply(new ZeroPadding2D(1).apply(y));
        y = relu6(new BatchNormalization().apply(y));
        y = new BatchNormalization().apply(conv(out, 1, 1).apply(y));
        return stride == 1 && in == out ? new Add().apply(x, y) : y;
    }

    private static SymbolicTensor relu6(SymbolicTensor x) {
        return new ReLU(6f, 0f).apply(x);
    }

    /** The paper's rounding: to the nearest multiple of 8, never down by more than 10%. */
    static int divisible(double channels) {
        int rounded = Math.max(8, (int) (channels + 4) / 8 * 8);
        return rounded < 0.9 * channels ? rounded + 8 : rounded;
    }

    // ---- MobileNetV3 (Howard et al. 2019) ---------------------------------------------------------------------

    /** MobileNetV3-Large for 224x224x3 images and 1,000 classes (5.5 M parameters). */
    public static Model mobileNetV3Large() {
        return mobileNetV3Large(Shape.of(224, 224, 3), 1000);
    }

    /** MobileNetV3-Small for 224x224x3 images and 1,000 classes (2.5 M parameters). */
    public static Model mobileNetV3Small() {
        return mobileNetV3Small(Shape.of(224, 224, 3), 1000);
    }

    /**
     * MobileNetV3-Large as torchvision defines it: a 3x3 stride-2 convolution with hard swish, 15 inverted residual
     * blocks (3x3 or 5x5 depthwise, ReLU or hard swish, squeeze-and-excitation gates with hard sigmoid in some), a 1x1
     * convolution to 960 channels, global average pooling, a 1,280-unit hard-swish layer, dropout 0.2 and a softmax
     * classifier.
     */
    public static Model mobileNetV3Large(Shape input, int classes) {
        int[][] blocks = { // kernel, expanded, out, squeeze-and-excitation, hard swish, stride
            {3, 16, 16, 0, 0, 1}, {3, 64, 24, 0, 0, 2}, {3, 72, 24, 0, 0, 1}, {5, 72, 40, 1, 0, 2},
            {5, 120, 40, 1, 0, 1}, {5, 120, 40, 1, 0, 1}, {3, 240, 80, 0, 1, 2}, {3, 200, 80, 0, 1, 1},
            {3, 184, 80, 0, 1, 1}, {3, 184, 80, 0, 1, 1}, {3, 480, 112, 1, 1, 1}, {3, 672, 112, 1, 1, 1},
            {5, 672, 160, 1, 1, 2}, {5, 960, 160, 1, 1, 1}, {5, 960, 160, 1, 1, 1}};
        return mobileNetV3(input, classes, blocks, 1280);
    }

    /** MobileNetV3-Small as torchvision defines it: as the large one, with 11 blocks, 576 and 1,024 channels at the end. */
    public static Model mobileNetV3Small(Shape input, int classes) {
        int[][] blocks = {
            {3, 16, 16, 1, 0, 2}, {3, 72, 24, 0, 0, 2}, {3, 88, 24, 0, 0, 1}, {5, 96, 40, 1, 1, 2},
            {5, 240, 40, 1, 1, 1}, {5, 240, 40, 1, 1, 1}, {5, 120, 48, 1, 1, 1}, {5, 144, 48, 1, 1, 1},
            {5, 288, 96, 1, 1, 2}, {5, 576, 96, 1, 1, 1}, {5, 576, 96, 1, 1, 1}};
        return mobileNetV3(input, classes, blocks, 1024);
    }

    private static Model mobileNetV3(Shape input, int classes, int[][] blocks, int hidden) {
        Input in = Input.shape(input);
        SymbolicTensor x = conv(16, 3, 2).apply(new ZeroPadding2D(1).apply(in));
        x = activation(Activation.HARD_SWISH, new BatchNormalization().apply(x));
        for (int[] b : blocks) {
            x = mobileNetV3Block(x, b[0], b[1], b[2], b[3] == 1, b[4] == 1 ? Activation.HARD_SWISH : Activation.RELU,
                    b[5]);
        }
        int last = 6 * x.shape().dim(2);
        x = activation(Activation.HARD_SWISH, new BatchNormalization().apply(conv(last, 1, 1).apply(x)));
        x = new Dense(hidden, Activation.HARD_SWISH).apply(new GlobalAveragePooling2D().apply(x));
        x = new dev.osprey.layers.Dropout(0.2).apply(x);
        return new Model(in, new Dense(classes, SOFTMAX).apply(x));
    }

    private static SymbolicTensor mobileNetV3Block(SymbolicTensor x, int kernel, int expanded, int out, boolean gate,
                                                   Activation act, int stride) {
        int in = x.shape().dim(2);
        SymbolicTensor y = x;
        if (expanded != in) {
            y = activation(act, new BatchNormalization().apply(conv(expanded, 1, 1).apply(y)));
        }
        DepthwiseConv2D depthwise = new DepthwiseConv2D(kernel).strides(stride).useBias(false)
                .depthwiseInitializer(Initializer.heNormal());
        y = stride == 1 ? depthwise.padding(Padding.SAME).apply(y)
                : depthwise.apply(new ZeroPadding2D(kernel / 2).apply(y));
        y = activation(act, new BatchNormalization().apply(y));
        if (gate) {
            SymbolicTensor squeezed = new GlobalAveragePooling2D().keepDims(true).apply(y);
            squeezed = new Conv2D(divisible(expanded / 4.0), 1, Activation.RELU).apply(squeezed);
            y = new dev.osprey.layers.Multiply().apply(y,
                    new Conv2D(expanded, 1, Activation.HARD_SIGMOID).apply(squeezed));
        }
        y = new BatchNormalization().apply(conv(out, 1, 1).apply(y));
        return stride == 1 && in == out ? new Add().apply(x, y) : y;
    }

    private static SymbolicTensor activation(Activation a, SymbolicTensor x) {
        return new dev.osprey.layers.Activation(a).apply(x);
    }

    // ---- EfficientNet-B0 (Tan and Le 2019) ---------------------------------------------------------------------

    /** EfficientNet-B0 for 224x224x3 images and 1,000 classes (5.3 M parameters). */
    public static Model efficientNetB0() {
        return efficientNetB0(Shape.of(224, 224, 3), 1000);
    }

    /**
     * EfficientNet-B0, as torchvision and Keras define it: a 3x3 stride-2 convolution, 16 MBConv blocks (expand 1x1,
     * depthwise 3x3 or 5x5, a squeeze-and-excitation gate of a quarter of the block's input channels, project 1x1, each
     * with BatchNormalization and swish, a residual add where the shape allows), a 1x1 convolution to 1,280 channels,
     * global average pooling, dropout 0.2 and a softmax classifier. Strided convolutions pad symmetrically, as PyTorch
     * does. Without the blocks' stochastic depth (drop-connect); {@link #efficientNetB0(Shape, int, double)} adds it.
     */
    public static Model efficientNetB0(Shape input, int classes) {
        return efficientNetB0(input, classes, 0);
    }

    /**
     * EfficientNet-B0 with stochastic depth (drop-connect) on every residual block's branch, its rate rising linearly
     * with the block's index to dropConnectRate, as Keras (default 0.2) and torchvision (0.2) schedule it.
     */
    public static Model efficientNetB0(Shape input, int classes, double dropConnectRate) {
        requireRate("EfficientNet-B0", "dropConnectRate", dropConnectRate);
        int[][] stages = { // kernel, repeats, output channels, expansion, first stride
            {3, 1, 16, 1, 1}, {3, 2, 24, 6, 2}, {5, 2, 40, 6, 2}, {3, 3, 80, 6, 2}, {5, 3, 112, 6, 1},
            {5, 4, 192, 6, 2}, {3, 1, 320, 6, 1}};
        Input in = Input.shape(input);
        SymbolicTensor x = conv(32, 3, 2).apply(new ZeroPadding2D(1).apply(in));
        x = swish(new BatchNormalization().apply(x));
        int blocks = java.util.Arrays.stream(stages).mapToInt(s -> s[1]).sum();
        int block = 0;
        for (int[] s : stages) {
            for (int i = 0; i < s[1]; i++, block++) {
                x = mbConv(x, s[0], s[2], s[3], i == 0 ? s[4] : 1, dropConnectRate * block / blocks);
            }
        }
        x = swish(new BatchNormalization().apply(conv(1280, 1, 1).apply(x)));
        x = new dev.osprey.layers.Dropout(0.2).apply(new GlobalAveragePooling2D().apply(x));
        return new Model(in, new Dense(classes, SOFTMAX).apply(x));
    }

    private static SymbolicTensor mbConv(SymbolicTensor x, int kernel, int out, int expansion, int stride,
                                         double dropConnectRate) {
        int in = x.shape().dim(2);
        int expanded = in * expansion;
        SymbolicTensor y = x;
        if (expansion != 1) {
            y = swish(new BatchNormalization().apply(conv(expanded, 1, 1).apply(y)));
        }
        DepthwiseConv2D depthwise = new DepthwiseConv2D(kernel).strides(stride).useBias(false)
                .depthwiseInitializer(Initializer.heNormal());
        y = stride == 1 ? depthwise.padding(Padding.SAME).apply(y)
                : depthwise.apply(new ZeroPadding2D(kernel / 2).apply(y));
        y = swish(new BatchNormalization().apply(y));
        SymbolicTensor squeezed = new GlobalAveragePooling2D().keepDims(true).apply(y);
        squeezed = new Conv2D(Math.max(1, in / 4), 1, Activation.SWISH).apply(squeezed);
        SymbolicTensor gate = new Conv2D(expanded, 1, Activation.SIGMOID).apply(squeezed);
        y = new dev.osprey.layers.Multiply().apply(y, gate);
        y = new BatchNormalization().apply(conv(out, 1, 1).apply(y));
        return stride == 1 && in == out ? residual(x, y, dropConnectRate) : y;
    }

    /** x + branch, the branch behind stochastic depth at this rate where it is above 0. */
    private static SymbolicTensor residual(SymbolicTensor x, SymbolicTensor branch, double dropRate) {
        SymbolicTensor y = dropRate > 0 ? new dev.osprey.layers.StochasticDepth(dropRate).apply(branch) : branch;
        return new Add().apply(x, y);
    }

    /** A stochastic-depth rate in [0, 1), else an IllegalArgumentException naming the model and the parameter. */
    private static void requireRate(String model, String parameter, double rate) {
        if (!(rate >= 0 && rate < 1)) {
            throw new IllegalArgumentException(model + ": expected 0 <= " + parameter + " < 1, received " + rate);
        }
    }

    private static SymbolicTensor swish(SymbolicTensor x) {
        return new dev.osprey.layers.Activation(Activation.SWISH).apply(x);
    }

    // ---- ConvNeXt-Tiny (Liu et al. 2022) ------------------------------------------------------------------------

    /** ConvNeXt-Tiny for 224x224x3 images and 1,000 classes (28.6 M parameters). */
    public static Model convNeXtTiny() {
        return convNeXtTiny(Shape.of(224, 224, 3), 1000);
    }

    /**
     * ConvNeXt-Tiny, as torchvision and Keras define it: a 4x4 stride-4 convolution and a layer norm; four stages of
     * 3, 3, 9 and 3 blocks at 96, 192, 384 and 768 channels, each stage after the first opened by a layer norm and a
     * 2x2 stride-2 convolution; each block a depthwise 7x7 convolution, a layer norm, Dense to four times the channels
     * with the exact GELU, Dense back, a per-channel layer scale (a bias-free depthwise 1x1 convolution starting at
     * 1e-6, as Keras' LayerScale) and the residual add; then global average pooling, a layer norm and the softmax
     * classifier. Layer norms over channels, epsilon 1e-6. Without stochastic depth, as Keras' default
     * (drop_path_rate 0); {@link #convNeXtTiny(Shape, int, double)} adds it.
     */
    public static Model convNeXtTiny(Shape input, int classes) {
        return convNeXtTiny(input, classes, 0);
    }

    /**
     * ConvNeXt-Tiny with stochastic depth on every block's branch, its rate rising linearly from 0 at the first block
     * to dropPathRate at the last, as Keras and torchvision schedule it (torchvision's convnext_tiny trains with 0.1).
     */
    public static Model convNeXtTiny(Shape input, int classes, double dropPathRate) {
        requireRate("ConvNeXt-Tiny", "dropPathRate", dropPathRate);
        if (input.rank() != 3 || input.dim(0) < 32 || input.dim(1) < 32) {
            throw new IllegalArgumentException("ConvNeXt-Tiny: expected images of at least 32x32 (it downsamples by 32: "
                    + "a 4x4 stride-4 stem, then three 2x2 stride-2 steps), received " + input
                    + " (resize the images, or pick a model for small images such as resnet20)");
        }
        int[] depths = {3, 3, 9, 3};
        int[] widths = {96, 192, 384, 768};
        int blocks = java.util.Arrays.stream(depths).sum();
        Input in = Input.shape(input);
        SymbolicTensor x = new Conv2D(widths[0], 4).strides(4).apply(in);
        x = layerNorm().apply(x);
        int block = 0;
        for (int stage = 0; stage < depths.length; stage++) {
            if (stage > 0) {
                x = new Conv2D(widths[stage], 2).strides(2).apply(layerNorm().apply(x));
            }
            for (int i = 0; i < depths[stage]; i++, block++) {
                x = convNeXtBlock(x, widths[stage], dropPathRate * block / (blocks - 1));
            }
        }
        x = layerNorm().apply(new GlobalAveragePooling2D().apply(x));
        return new Model(in, new Dense(classes, SOFTMAX).apply(x));
    }

    private static SymbolicTensor convNeXtBlock(SymbolicTensor x, int channels, double dropPathRate) {
        SymbolicTensor y = new DepthwiseConv2D(7).padding(Padding.SAME).apply(x);
        y = layerNorm().apply(y);
        y = new Dense(4 * channels, Activation.GELU).apply(y);
        y = new Dense(channels).apply(y);
        y = new DepthwiseConv2D(1).useBias(false).depthwiseInitializer(Initializer.constant(1e-6)).apply(y);
        return residual(x, y, dropPathRate);
    }

    private static dev.osprey.layers.LayerNormalization layerNorm() {
        return new dev.osprey.layers.LayerNormalization().epsilon(1e-6);
    }

    // ---- Vision Transformers (Dosovitskiy et al. 2021) ------------------------------------------------------------

    /** ViT-B/16 for 224x224x3 images and 1,000 classes (86.6 M parameters, torchvision's vit_b_16). */
    public static Model vitB16() {
        return vitB16(Shape.of(224, 224, 3), 1000);
    }

    /** ViT-B/16, as torchvision defines it: 16x16 patches, 12 blocks of width 768, 12 heads, MLP 3072. */
    public static Model vitB16(Shape input, int classes) {
        return visionTransformer("ViT-B/16", input, classes, 16, 768, 12, 12, 3072);
    }

    /**
     * ViT-Tiny (DeiT-Tiny's widths: 12 blocks of width 192, 3 heads, MLP 768; 5.7 M parameters at 224x224), with
     * 16x16 patches on images of 112 pixels and up and 4x4 patches on smaller ones (a 32x32 image gives 64 tokens, as
     * the ViT papers' CIFAR runs).
     */
    public static Model vitTiny(Shape input, int classes) {
        int patch = input.rank() == 3 && Math.min(input.dim(0), input.dim(1)) >= 112 ? 16 : 4;
        return visionTransformer("ViT-Tiny/" + patch, input, classes, patch, 192, 12, 3, 768);
    }

    /**
     * A Vision Transformer: the image cut into patchSize x patchSize patches, each projected to hidden features (a
     * strided convolution), a class token before them and a learned position embedding added; depth pre-norm encoder
     * blocks (layer norm, multi-head self-attention, residual add; layer norm, MLP with the exact GELU, residual add;
     * layer norms of epsilon 1e-6); a final layer norm; the class token's features to the softmax classifier. Weights
     * start as timm's and DeiT's do: dense kernels and the position embedding normal(0.02), the class token
     * and biases zeros, the patch projection LeCun normal. Without dropout, as torchvision's default.
     */
    public static Model visionTransformer(String name, Shape input, int classes, int patchSize, int hidden, int depth,
                                          int heads, int mlpDim) {
        if (input.rank() != 3 || input.dim(0) % patchSize != 0 || input.dim(1) % patchSize != 0) {
            throw new IllegalArgumentException(name + ": expected (height, width, channels) images whose sides are "
                    + "multiples of the patch size " + patchSize + ", received " + input);
        }
        if (hidden % heads != 0) {
            throw new IllegalArgumentException(name + ": expected a width divisible by the " + heads + " heads, received "
                    + hidden);
        }
        int patches = input.dim(0) / patchSize * (input.dim(1) / patchSize);
        Initializer weights = Initializer.randomNormal(0.02);
        Input in = Input.shape(input);
        SymbolicTensor x = new Conv2D(hidden, patchSize).strides(patchSize)
                .kernelInitializer(Initializer.lecunNormal()).apply(in);
        x = new ClassToken().apply(new Reshape(patches, hidden).apply(x));
        x = new Add().apply(x, new PositionEmbedding(patches + 1).initializer(weights).apply(x));
        for (int i = 0; i < depth; i++) {
            SymbolicTensor normed = layerNorm().apply(x);
            SymbolicTensor attended = new MultiHeadAttention(heads, hidden / heads).kernelInitializer(weights)
                    .apply(normed, normed);
            x = new Add().apply(x, attended);
            SymbolicTensor mlp = new Dense(mlpDim, Activation.GELU).kernelInitializer(weights)
                    .apply(layerNorm().apply(x));
            x = new Add().apply(x, new Dense(hidden).kernelInitializer(weights).apply(mlp));
        }
        x = new Flatten().apply(new Cropping1D(0, patches).apply(layerNorm().apply(x)));
        return new Model(in, new Dense(classes, SOFTMAX).kernelInitializer(weights).apply(x));
    }

    /**
     * A model name as {@link #byName} reads it: trimmed, lower case, and torchvision's spellings joined up
     * (mobilenet_v3_small, efficientnet_b0; an underscore before a width, mobilenetv2_0.35, stays).
     */
    public static String canonicalName(String name) {
        return name.trim().toLowerCase(Locale.ROOT).replaceAll("_(?=[a-z])", "");
    }

    /**
     * {@link #byName(String, Shape, int)} with stochastic depth at this rate (0: none), for the models that have it:
     * efficientnetb0 (drop-connect) and convnexttiny (drop path). Other models refuse a rate above 0.
     */
    public static Model byName(String name, Shape input, int classes, double stochasticDepthRate) {
        if (stochasticDepthRate == 0) {
            return byName(name, input, classes);
        }
        String n = canonicalName(name);
        return switch (n) {
            case "efficientnetb0" -> efficientNetB0(input, classes, stochasticDepthRate);
            case "convnexttiny" -> convNeXtTiny(input, classes, stochasticDepthRate);
            default -> {
                byName(name, input, classes).close(); // a mistyped name says so first
                throw new IllegalArgumentException("stochastic depth " + stochasticDepthRate + ": expected a model "
                        + "that has it (efficientnetb0 or convnexttiny), received '" + name + "'");
            }
        };
    }

    /**
     * The built-in model of this CLI name for inputs of this shape: tutorial, resnet20/32/56, resnet18/34/50,
     * mobilenetv2, mobilenetv3large, mobilenetv3small, efficientnetb0, convnexttiny, vitb16 (vit_b_16), vittiny.
     */
    public static Model byName(String name, Shape input, int classes) {
        String n = canonicalName(name);
        if (n.equals("tutorial")) {
            return tutorialCnn(input, classes);
        }
        if (n.matches("resnet\\d+")) {
            int depth = Integer.parseInt(n.substring(6));
            return switch (depth) {
                case 18 -> resNet18(input, classes);
                case 34 -> resNet34(input, classes);
                case 50 -> resNet50(input, classes);
                default -> resNet(depth, input, classes);
            };
        }
        if (n.equals("mobilenetv3large")) {
            return mobileNetV3Large(input, classes);
        }
        if (n.equals("mobilenetv3small")) {
            return mobileNetV3Small(input, classes);
        }
        if (n.equals("efficientnetb0")) {
            return efficientNetB0(input, classes);
        }
        if (n.equals("convnexttiny")) {
            return convNeXtTiny(input, classes);
        }
        if (n.equals("vitb16") || n.equals("vitb_16")) {
            return vitB16(input, classes);
        }
        if (n.equals("vittiny")) {
            return vitTiny(input, classes);
        }
        if (n.matches("mobilenetv2(_\\d+(\\.\\d+)?)?")) {
            double alpha = n.contains("_") ? Double.parseDouble(n.substring(n.indexOf('_') + 1)) : 1.0;
            return mobileNetV2(alpha, input, classes);
        }
        throw new IllegalArgumentException("expected model tutorial, resnet20, resnet32, resnet56 (any 6n+2), resnet18, "
                + "resnet34, resnet50, mobilenetv2[_ALPHA], mobilenetv3large, mobilenetv3small, efficientnetb0, "
                + "convnexttiny, vitb16 or vittiny, received '"
                + name + "'");
    }
}
