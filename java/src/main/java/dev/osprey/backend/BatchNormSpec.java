package dev.osprey.backend;

/**
 * One batch normalization over (batch, height, width, channels), statistics per channel over the other three axes
 * (a (batch, features) input is height = width = 1). Keras' formulation: y = gamma (x - mean) / sqrt(var + epsilon)
 * + beta with the biased batch variance; while training, moving = moving * momentum + batch * (1 - momentum).
 */
public record BatchNormSpec(int batch, int height, int width, int channels, float epsilon, float momentum) {
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

    public int[] shape() {
        return new int[] {batch, height, width, channels};
    }
}
