package dev.osprey.backend;

import java.util.Arrays;

/**
 * A transposition of each sample's axes: x is (batch, dims[0], dims[1], dims[2]) and y's sample axis i is x's sample
 * axis perm[i]. Samples of rank 1 or 2 are written with leading axes of size 1 ({@link #of}).
 */
public record PermuteSpec(int batch, int[] dims, int[] perm) {
    /** Checks three dims > 0 and a permutation of 0, 1, 2. */
    public PermuteSpec {
        if (batch < 0 || dims == null || dims.length != 3 || perm == null || perm.length != 3) {
            throw new IllegalArgumentException("PermuteSpec: expected a batch >= 0, 3 dims and 3 axes, received batch "
                    + batch + ", dims " + Arrays.toString(dims) + ", perm " + Arrays.toString(perm));
        }
        boolean[] seen = new boolean[3];
        for (int i = 0; i < 3; i++) {
            if (dims[i] <= 0 || perm[i] < 0 || perm[i] > 2 || seen[perm[i]]) {
                throw new IllegalArgumentException("PermuteSpec: expected dims > 0 and a permutation of 0, 1, 2, "
                        + "received dims " + Arrays.toString(dims) + ", perm " + Arrays.toString(perm));
            }
            seen[perm[i]] = true;
        }
        dims = dims.clone();
        perm = perm.clone();
    }

    /** A spec for samples of rank 1 to 3; perm is 0-based over the sample's own axes. */
    public static PermuteSpec of(int batch, int[] sampleDims, int[] perm) {
        int r = sampleDims.length;
        if (r < 1 || r > 3 || perm.length != r) {
            throw new IllegalArgumentException("PermuteSpec: expected samples of rank 1 to 3 and one axis each, "
                    + "received dims " + Arrays.toString(sampleDims) + ", perm " + Arrays.toString(perm));
        }
        int[] d = {1, 1, 1};
        int[] p = {0, 1, 2};
        for (int i = 0; i < r; i++) {
            d[3 - r + i] = sampleDims[i];
            p[3 - r + i] = perm[i] + 3 - r;
        }
        return new PermuteSpec(batch, d, p);
    }

    /** (batch, dims...): x's shape. */
    public int[] inputShape() {
        return new int[] {batch, dims[0], dims[1], dims[2]};
    }

    /** (batch, dims[perm[0]], dims[perm[1]], dims[perm[2]]): y's shape. */
    public int[] outputShape() {
        return new int[] {batch, dims[perm[0]], dims[perm[1]], dims[perm[2]]};
    }

    /** The transposition back from y to x (the backward direction). */
    public PermuteSpec inverse() {
        int[] back = new int[3];
        for (int i = 0; i < 3; i++) {
            back[perm[i]] = i;
        }
        int[] out = outputShape();
        return new PermuteSpec(batch, new int[] {out[1], out[2], out[3]}, back);
    }

    /** Values of x (and y). */
    public long size() {
        return (long) batch * dims[0] * dims[1] * dims[2];
    }

    @Override
    public boolean equals(Object o) {
        return o instanceof PermuteSpec s && s.batch == batch && Arrays.equals(s.dims, dims)
                && Arrays.equals(s.perm, perm);
    }

    @Override
    public int hashCode() {
        return 31 * (31 * batch + Arrays.hashCode(dims)) + Arrays.hashCode(perm);
    }

    @Override
    public String toString() {
        return "PermuteSpec[batch=" + batch + ", dims=" + Arrays.toString(dims) + ", perm=" + Arrays.toString(perm)
                + "]";
    }
}
