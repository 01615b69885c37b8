package dev.osprey.backend;

/**
 * One layer normalization over the last axis, the input seen as (rows, width): each row is normalized by its own mean
 * and biased variance, then scaled and shifted per column. Keras' and PyTorch's formulation: y = gamma (x - mean) /
 * sqrt(var + epsilon) + beta.
 */
public record LayerNormSpec(int rows, int width, float epsilon) {
    /** Throws IllegalArgumentException for sizes below 1 or an epsilon that is not positive. */
    public LayerNormSpec {
        if (rows < 1 || width < 1) {
            throw new IllegalArgumentException("LayerNormSpec: expected rows and width >= 1, received rows=" + rows
                    + ", width=" + width);
        }
        if (!(epsilon > 0)) {
            throw new IllegalArgumentException("LayerNormSpec: expected epsilon > 0, received " + epsilon);
        }
    }

    /** (rows, width): the shape of x, y, dx and dy. */
    public int[] shape() {
        return new int[] {rows, width};
    }
}
