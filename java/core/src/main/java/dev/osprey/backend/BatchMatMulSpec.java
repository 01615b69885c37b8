package dev.osprey.backend;

/**
 * A batch of independent matrix products, every matrix row-major: for each of {@code batch} samples and {@code heads}
 * heads, C (m, n) = op(A) . op(B), where op(A) is (m, k) and op(B) is (k, n). A is stored (m, k), or (k, m) when
 * {@code transposeA}; B is stored (k, n), or (n, k) when {@code transposeB}. Attention's products are of this kind:
 * scores = Q . K^T and context = weights . V for each sample and head, and their gradients need the transposed forms.
 * The products sum in fp32.
 *
 * <p>Where each stored matrix lies is its {@link Layout}: by default the items follow one another, each dense
 * ({@link Layout#packed}); attention also reads and writes a head's matrix inside (positions, heads, dim) rows as the
 * projections leave them ({@link Layout#interleaved}), so that no permute is needed on either side.
 */
public record BatchMatMulSpec(int batch, int heads, int m, int n, int k, boolean transposeA, boolean transposeB,
                              Layout aLayout, Layout bLayout, Layout cLayout) {
    /**
     * Where the stored matrices lie, in floats from the tensor's start: item (sample s, head h) begins at
     * {@code s * sampleStride + h * headStride}, its rows {@code rowStride} apart, each row's values adjacent.
     */
    public record Layout(long sampleStride, long headStride, long rowStride) {
        /** Throws IllegalArgumentException for negative strides or a row stride below 1. */
        public Layout {
            if (sampleStride < 0 || headStride < 0 || rowStride < 1) {
                throw new IllegalArgumentException("BatchMatMulSpec.Layout: expected strides >= 0 and a row stride >= 1, "
                        + "received sample " + sampleStride + ", head " + headStride + ", row " + rowStride);
            }
        }

        /** Items one after another, sample-major, each a dense (rows, columns) matrix. */
        public static Layout packed(int heads, int rows, int columns) {
            long item = (long) rows * columns;
            return new Layout(item * heads, item, columns);
        }

        /**
         * Each sample's (rows, rowWidth) matrix of rows holding every head's columns side by side, head h's at column
         * {@code h * columns}: attention's (positions, heads, dim) rows, read or written one head at a time. A tensor
         * that starts at a later column (a view) lays out a product's operand that sits further along the rows.
         */
        public static Layout interleaved(int rows, int columns, int rowWidth) {
            if (rowWidth < columns) {
                throw new IllegalArgumentException("BatchMatMulSpec.Layout: expected a row width >= the columns, "
                        + "received width " + rowWidth + " for " + columns + " columns");
            }
            return new Layout((long) rows * rowWidth, columns, rowWidth);
        }

        /**
         * The floats from the first item's start to the last item's last value, plus one. Throws
         * IllegalArgumentException where that passes a long (strides no tensor could hold).
         */
        long extent(int samples, int heads, int rows, int columns) {
            try {
                return Math.addExact(Math.addExact(Math.multiplyExact(samples - 1L, sampleStride),
                        Math.multiplyExact(heads - 1L, headStride)),
                        Math.addExact(Math.multiplyExact(rows - 1L, rowStride), columns));
            } catch (ArithmeticException e) {
                throw new IllegalArgumentException("BatchMatMulSpec.Layout: expected strides whose extent fits a long, "
                        + "received " + this + " over " + samples + " samples, " + heads + " heads and " + rows
                        + " rows");
            }
        }

        /** Whether this is {@link #packed} for these sizes. */
        boolean isPacked(int heads, int rows, int columns) {
            long item = (long) rows * columns;
            return sampleStride == item * heads && headStride == item && rowStride == columns;
        }
    }

    /** Throws IllegalArgumentException for sizes below 1 or a missing layout. */
    public BatchMatMulSpec {
        if (batch < 1 || heads < 1 || m < 1 || n < 1 || k < 1) {
            throw new IllegalArgumentException("BatchMatMulSpec: expected batch, heads, m, n and k >= 1, received batch="
                    + batch + ", heads=" + heads + ", m=" + m + ", n=" + n + ", k=" + k);
        }
        if (aLayout == null || bLayout == null || cLayout == null) {
            throw new IllegalArgumentException("BatchMatMulSpec: expected a layout for a, b and c, received "
                    + aLayout + ", " + bLayout + ", " + cLayout);
        }
        // each operand's extent, computed once here, so a layout reaching past a long is refused on construction
        aLayout.extent(batch, heads, transposeA ? k : m, transposeA ? m : k);
        bLayout.extent(batch, heads, transposeB ? n : k, transposeB ? k : n);
        cLayout.extent(batch, heads, m, n);
    }

    /** batch items, each matrix dense and following the one before. */
    public BatchMatMulSpec(int batch, int m, int n, int k, boolean transposeA, boolean transposeB) {
        this(batch, 1, m, n, k, transposeA, transposeB,
                Layout.packed(1, transposeA ? k : m, transposeA ? m : k),
                Layout.packed(1, transposeB ? n : k, transposeB ? k : n),
                Layout.packed(1, m, n));
    }

    /** The same products over (batch, heads) items laid out as given. */
    public static BatchMatMulSpec ofHeads(int batch, int heads, int m, int n, int k, boolean transposeA,
                                          boolean transposeB, Layout a, Layout b, Layout c) {
        return new BatchMatMulSpec(batch, heads, m, n, k, transposeA, transposeB, a, b, c);
    }

    /** Products in all: batch times heads. */
    public long items() {
        return (long) batch * heads;
    }

    /** A's stored rows and columns: (m, k), or (k, m) when transposed. */
    public int[] aStored() {
        return transposeA ? new int[] {k, m} : new int[] {m, k};
    }

    /** B's stored rows and columns: (k, n), or (n, k) when transposed. */
    public int[] bStored() {
        return transposeB ? new int[] {n, k} : new int[] {k, n};
    }

    /** A's shape as stored, where its items are packed: (items, m, k), or (items, k, m) when transposed. */
    public int[] aShape() {
        return shape(aStored());
    }

    /** B's shape as stored, where its items are packed: (items, k, n), or (items, n, k) when transposed. */
    public int[] bShape() {
        return shape(bStored());
    }

    /** C's shape, where its items are packed: (items, m, n). */
    public int[] cShape() {
        return shape(new int[] {m, n});
    }

    private int[] shape(int[] stored) {
        return new int[] {Math.toIntExact(items()), stored[0], stored[1]};
    }

    /** Whether every operand's items are packed: the plain form of the product. */
    public boolean packed() {
        return aLayout.isPacked(heads, aStored()[0], aStored()[1]) && bLayout.isPacked(heads, bStored()[0], bStored()[1])
                && cLayout.isPacked(heads, m, n);
    }

    /** The floats a tensor for A must hold from its start (its view's start). */
    public long aExtent() {
        return aLayout.extent(batch, heads, aStored()[0], aStored()[1]);
    }

    /** The floats a tensor for B must hold from its start. */
    public long bExtent() {
        return bLayout.extent(batch, heads, bStored()[0], bStored()[1]);
    }

    /** The floats a tensor for C must hold from its start. */
    public long cExtent() {
        return cLayout.extent(batch, heads, m, n);
    }

    /** Multiply-adds times two. */
    public double flops() {
        return 2.0 * items() * m * n * k;
    }
}
