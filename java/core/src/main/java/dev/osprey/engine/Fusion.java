package dev.osprey.engine;

import dev.osprey.Activation;
import java.util.Map;

/**
 * What plans fuse. In inference plans, a layer whose output channels are linear in its kernel ({@link Absorber}:
 * Conv2D, DepthwiseConv2D, Dense without activation), followed by a per-channel affine in inference
 * ({@link ChannelAffine}: BatchNormalization), optionally followed by an element-wise activation
 * ({@link ActivationOnly}), becomes one op: the kernel and bias scaled per channel, the activation fused. Exact up to
 * rounding, since inference normalization is x * scale + shift per channel. In every plan, a layer that can apply an
 * activation itself ({@link ActivationAbsorber}) takes over the activation layer after it (Conv2D then ReLU, or
 * BatchNormalization then ReLU or ReLU6, as one op forward and backward), and a convolution
 * ({@link PaddingAbsorber}) takes over the zero padding ({@link PaddingOnly}) before it as its own padding. In
 * optimized inference plans, a convolution ({@link ResidualAbsorber}) whose output (or its folded
 * BatchNormalization's) only feeds a two-input {@link Sum} adds the other input itself, and the activation after the
 * sum too: a residual block's tail is one op. In training plans, a BatchNormalization
 * ({@link TrainingResidualAbsorber}) whose output only feeds a two-input Sum writes the sum (and its activation) in
 * its forward op, and the sum runs only its backward.
 */
public final class Fusion {
    private Fusion() {
    }

    /** A layer that only frames its input with zeros (ZeroPadding2D). */
    public interface PaddingOnly {
        /** {top, bottom, left, right}. */
        int[] padding();
    }

    /** A layer that can read an unpadded input and pad it itself, as convolutions do. */
    public interface PaddingAbsorber {
        /** Whether it can take over the ZeroPadding2D before it now (convolutions always can). */
        boolean canAbsorbPadding();
    }

    /** A layer that can apply the activation of the layer after it as part of its own op. */
    public interface ActivationAbsorber {
        /** Whether it can, in a training plan (with its backward) or an inference plan. */
        boolean canAbsorbActivation(Activation a, boolean training);
    }

    /** A layer whose output is the element-wise sum of its inputs (Add). */
    public interface Sum {
    }

    /**
     * A layer that, in a training plan, can add a tensor of its output's shape to its output and apply the activation
     * after that sum in its own forward op (BatchNormalization, where the backend can: a ResNet block's tail), so the
     * sum's forward pass is skipped. Its backward stays as it was, and so does the sum's, which reads only the sum's
     * output (see {@code PlanContext.residual()}).
     */
    public interface TrainingResidualAbsorber {
        /** Whether it can now, on this backend, with this activation after the sum (linear: none). */
        boolean canAbsorbTrainingResidual(dev.osprey.backend.Backend backend, Activation after);
    }

    /**
     * A layer that, in an optimized inference plan, can add a tensor of its output's shape to its output before its
     * activation (a residual connection's Add after a convolution; see {@code PlanContext.residual()}).
     */
    public interface ResidualAbsorber {
        /** Whether it can add the residual now: convolutions can while their own activation is linear. */
        boolean canAbsorbResidual();
    }

    /**
     * A layer whose int8 inference op can read 8-bit activations as they are and write its output as 8-bit values
     * (convolutions): in int8 plans, where every reader of such a layer's output is one too, the output is handed over
     * in 8 bits (mapped by the readers' calibrated input range), and the readers convert nothing.
     */
    public interface Int8HandOver {
    }

    /**
     * A layer whose training run returns, as each input's gradient, the tensor {@link PlanContext#allocateInputGradient}
     * gave it for that input (written in full by its backward, never read before), and never its output gradient or a
     * view of it. Training plans lay such gradients out in one arena, each sharing memory with gradients whose lives
     * (from the backward that writes it to the last that reads it) do not overlap its own; a layer without this mark
     * is taken to pass the gradient it receives on to its inputs (as Add and Flatten do), which keeps that gradient
     * alive through their backwards too. The plan checks the mark: such a run returning another tensor fails its
     * backward pass.
     */
    public interface OwnInputGradients {
    }

    /**
     * A layer that is the identity outside training (Dropout, StochasticDepth): an inference plan's fusions look
     * through it, so that a convolution still takes the residual sum after a stochastic-depth branch.
     */
    public interface InferenceIdentity {
    }

    /**
     * A layer that can run on 8-bit values as they are, exactly (max pooling: the mapping onto 8 bits keeps order):
     * in int8 plans, activations handed over from a convolution to convolutions may pass through it in 8 bits.
     */
    public interface Int8PassThrough {
    }

    /**
     * A max pooling a plan can describe before planning it, to run it inside the convolution whose output it alone
     * reads where the backend fuses the pair ({@link dev.osprey.backend.Backend#fusesMaxPool}).
     */
    public interface MaxPooling {
        /** Its pooling of inputs of this shape and batch. */
        dev.osprey.backend.Pool2dSpec maxPoolSpec(dev.osprey.Shape input, int batch);
    }

    /**
     * A convolution layer (Conv2D, DepthwiseConv2D) that a plan can describe before planning it, to run a pointwise one
     * and the depthwise one reading its output as one op where the backend fuses them ({@link
     * dev.osprey.backend.Backend#fusesDepthwise}).
     */
    public interface Convolution extends Absorber {
        /**
         * Its convolution of inputs of this shape and batch framed by extra zeros {top, bottom, left, right} (a
         * ZeroPadding2D taken over): the bias flag as the layer has it, the activation linear.
         */
        dev.osprey.backend.Conv2dSpec convolutionSpec(dev.osprey.Shape input, int batch, int[] extraPadding);

        /** The activation the layer applies itself. */
        Activation activation();
    }

    /** A layer that can take a per-output-channel affine into its kernel and bias. */
    public interface Absorber {
        /** True when the output has no activation yet (the affine must come right after the linear op). */
        boolean canAbsorbChannelAffine();

        /** Its kernel's name; the kernel's values cycle through the output channels fastest (Keras' layouts do). */
        String kernelName();
    }

    /**
     * A linear op with an optional activation of its own (Conv2D, DepthwiseConv2D, Dense). While that activation is
     * linear it can take a channel affine into its weights, and any element-wise activation after it.
     */
    public interface LinearOp extends Absorber, ActivationAbsorber {
        /** Its own activation. */
        Activation activation();

        @Override
        default boolean canAbsorbActivation(Activation a, boolean training) {
            return activation().kind() == Activation.Kind.LINEAR && a.kind() != Activation.Kind.SOFTMAX;
        }

        @Override
        default boolean canAbsorbChannelAffine() {
            return activation().kind() == Activation.Kind.LINEAR;
        }
    }

    /** A layer that, in inference, is y = x * scale[c] + shift[c] per channel c of the last axis. */
    public interface ChannelAffine {
        /** {scale, shift} from this layer's weights, by name. */
        float[][] inferenceScaleShift(Map<String, float[]> weights);
    }

    /** A layer that only applies an element-wise activation (Activation, ReLU, LeakyReLU, ...). */
    public interface ActivationOnly {
        /** The activation it applies. */
        Activation elementwiseActivation();
    }

    /** kernel[i] * scale[i % channels], bias[c] * scale[c] + shift[c]: the folded weights, in double precision. */
    static float[][] fold(float[] kernel, float[] bias, float[] scale, float[] shift) {
        int channels = scale.length;
        float[] k = new float[kernel.length];
        for (int i = 0; i < kernel.length; i++) {
            k[i] = (float) ((double) kernel[i] * scale[i % channels]);
        }
        float[] b = new float[channels];
        for (int c = 0; c < channels; c++) {
            b[c] = (float) ((bias == null ? 0.0 : (double) bias[c]) * scale[c] + shift[c]);
        }
        return new float[][] {k, b};
    }
}
