package dev.osprey.backend;

/**
 * A batch of independent matrix products, every matrix row-major and the batch outermost: for each of {@code batch}
 * items, C (m, n) = op(A) . op(B), where op(A) is (m, k) and op(B) is (k, n). A is stored (m, k), or (k, m) when
 * {@code transposeA}; B is stored (k, n), or (n, k) when {@code transposeB}. Attention's products are of this kind:
 * scores = Q . K^T and context = weights . V for each sample and head, and their gradients need the transposed forms.
 * The products sum in fp32.
 */
public record BatchMatMulSpec(int batch, int m, int n, int k, boolean transposeA, boolean transposeB) {
    /** Throws IllegalArgumentException for sizes below 1. */
    public BatchMatMulSpec {
        if (batch < 1 || m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("BatchMatMulSpec: expected batch, m, n and k >= 1, received batch="
                    + batch + ", m=" + m + ", n=" + n + ", k=" + k);
        }
    }

    /** A's shape as stored: (batch, m, k), or (batch, k, m) when transposed. */
    public int[] aShape() {
        return transposeA ? new int[] {batch, k, m} : new int[] {batch, m, k};
    }

    /** B's shape as stored: (batch, k, n), or (batch, n, k) when transposed. */
    public int[] bShape() {
        return transposeB ? new int[] {batch, n, k} : new int[] {batch, k, n};
    }

    /** C's shape: (batch, m, n). */
    public int[] cShape() {
        return new int[] {batch, m, n};
    }

    /** Multiply-adds times two. */
    public double flops() {
        return 2.0 * batch * m * n * k;
    }
}
