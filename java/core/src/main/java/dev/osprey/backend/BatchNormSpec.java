package dev.osprey.backend;

/**
 * One batch normalization over (batch, height, width, channels), statistics per channel over the other three axes
 * (a (batch, features) input is height = width = 1). Keras' formulation: y = gamma (x - mean) / sqrt(var + epsilon)
 * + beta with the biased batch variance; while training, moving = moving * momentum + batch * (1 - momentum). With
 * {@code relu}, a ReLU follows in the same op (and its gradient is taken in the backward op).
 */
public record BatchNormSpec(int batch, int height, int width, int channels, float epsilon, float momentum,
                            boolean relu) {
    /** Without a fused ReLU. */
    public BatchNormSpec(int batch, int height, int width, int channels, float epsilon, float momentum) {
        this(batch, height, width, channels, epsilon, momentum, false);
    }

    /** Throws IllegalArgumentException for an epsilon that is not positive or a momentum outside [0, 1]. */
    public BatchNormSpec {
        if (!(epsilon > 0)) {
            throw new IllegalArgumentException("BatchNormSpec: expected epsilon > 0, received " + epsilon);
        }
        if (!(momentum >= 0 && momentum <= 1)) {
            throw new IllegalArgumentException("BatchNormSpec: expected 0 <= momentum <= 1, received " + momentum);
        }
    }

    /** Values each channel's statistics are taken over. */
    public int rows() {
        return batch * height * width;
    }

    /** This normalization with a ReLU fused after it, or without. */
    public BatchNormSpec withRelu(boolean fused) {
        return new BatchNormSpec(batch, height, width, channels, epsilon, momentum, fused);
    }

    /** (batch, height, width, channels): the shape of x, y, dx and dy. */
    public int[] shape() {
        return new int[] {batch, height, width, channels};
    }
}
