package dev.osprey.backend;

/**
 * One batch normalization over (batch, height, width, channels), statistics per channel over the other three axes
 * (a (batch, features) input is height = width = 1). Keras' formulation: y = gamma (x - mean) / sqrt(var + epsilon)
 * + beta with the biased batch variance; while training, moving = moving * momentum + batch * (1 - momentum). With
 * {@code relu}, a ReLU follows in the same op, min(max(v, 0), reluCap) (ReLU6: a cap of 6; a plain ReLU: infinity),
 * and its gradient is taken in the backward op: dy passes where 0 < y < reluCap.
 */
public record BatchNormSpec(int batch, int height, int width, int channels, float epsilon, float momentum,
                            boolean relu, float reluCap) {
    /** Without a fused ReLU. */
    public BatchNormSpec(int batch, int height, int width, int channels, float epsilon, float momentum) {
        this(batch, height, width, channels, epsilon, momentum, false);
    }

    /** With a plain (uncapped) ReLU fused, or none. */
    public BatchNormSpec(int batch, int height, int width, int channels, float epsilon, float momentum,
                         boolean relu) {
        this(batch, height, width, channels, epsilon, momentum, relu, Float.POSITIVE_INFINITY);
    }

    /**
     * Throws IllegalArgumentException for an epsilon that is not positive, a momentum outside [0, 1] or a ReLU cap
     * that is not above 0.
     */
    public BatchNormSpec {
        if (!(reluCap > 0)) {
            throw new IllegalArgumentException("BatchNormSpec: expected a ReLU cap > 0 (infinity for none), received "
                    + reluCap);
        }
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

    /** This normalization with a plain ReLU fused after it, or without. */
    public BatchNormSpec withRelu(boolean fused) {
        return new BatchNormSpec(batch, height, width, channels, epsilon, momentum, fused);
    }

    /** This normalization with a ReLU capped at {@code cap} fused after it (6: ReLU6; infinity: a plain ReLU). */
    public BatchNormSpec withCappedRelu(float cap) {
        return new BatchNormSpec(batch, height, width, channels, epsilon, momentum, true, cap);
    }

    /** Whether a fused ReLU has a finite cap (ReLU6). */
    public boolean capped() {
        return relu && reluCap != Float.POSITIVE_INFINITY;
    }

    /** (batch, height, width, channels): the shape of x, y, dx and dy. */
    public int[] shape() {
        return new int[] {batch, height, width, channels};
    }
}
