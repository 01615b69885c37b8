package dev.osprey.data;

import dev.osprey.Limits;
import dev.osprey.NDArray;
import java.io.BufferedInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPInputStream;

/**
 * Reads IDX files (the MNIST family's format), raw or gzip-compressed (detected by content, not by name):
 * magic 0x00 0x00, type 0x08 (unsigned bytes), rank, big-endian dimensions, then the data. Every field is checked.
 */
public final class Idx {
    /** Dimensions and raw unsigned bytes of one IDX file. */
    public record Array(int[] dims, byte[] data) {
        /** The number of items: the first dimension. */
        public int count() {
            return dims[0];
        }
    }

    private static final int UNSIGNED_BYTE = 0x08;
    private static final int MAX_RANK = 4;

    private Idx() {
    }

    /**
     * One IDX file, raw or gzip-compressed, checked as {@link #read(InputStream, String)} does; messages name the path.
     * Throws IdxFormatException for a malformed file and IOException when it can't be read.
     */
    public static Array read(Path path) throws IOException {
        try (InputStream in = Files.newInputStream(path)) {
            return read(in, path.toString());
        }
    }

    /**
     * Reads exactly what the header promises and stops: the claim is checked against
     * {@link Limits#maxTensorElements()} before anything is read, the buffer grows with the data that actually
     * arrives (a lying header costs nothing), and one byte past the promise is an error, so a gzip stream that would
     * inflate to gigabytes is never inflated further.
     */
    public static Array read(InputStream raw, String source) throws IOException {
        BufferedInputStream in = new BufferedInputStream(raw);
        in.mark(2);
        int b0 = in.read(), b1 = in.read();
        in.reset();
        InputStream body = (b0 == 0x1f && b1 == 0x8b) ? new GZIPInputStream(in, 1 << 16) : in;
        try {
            return readBody(body, source);
        } catch (java.io.EOFException e) {
            throw new IdxFormatException(source + ": the gzip stream is truncated");
        } catch (java.util.zip.ZipException e) {
            throw new IdxFormatException(source + ": damaged gzip data: " + e.getMessage());
        }
    }

    private static Array readBody(InputStream in, String source) throws IOException {
        byte[] head = in.readNBytes(4);
        if (head.length < 4) {
            throw new IdxFormatException(source + ": expected an IDX header of at least 4 bytes, received " + head.length);
        }
        if (head[0] != 0 || head[1] != 0) {
            throw new IdxFormatException(String.format("%s: expected IDX magic bytes 0x00 0x00, received 0x%02x 0x%02x "
                    + "(not an IDX file)", source, head[0] & 0xff, head[1] & 0xff));
        }
        int type = head[2] & 0xff;
        if (type != UNSIGNED_BYTE) {
            throw new IdxFormatException(String.format("%s: expected IDX data type 0x08 (unsigned byte), received 0x%02x",
                    source, type));
        }
        int rank = head[3] & 0xff;
        if (rank < 1 || rank > MAX_RANK) {
            throw new IdxFormatException(source + ": expected an IDX rank from 1 to " + MAX_RANK + ", received " + rank);
        }
        byte[] dimBytes = in.readNBytes(4 * rank);
        if (dimBytes.length < 4 * rank) {
            throw new IdxFormatException(source + ": expected " + (4 + 4 * rank) + " header bytes for rank " + rank
                    + ", received " + (4 + dimBytes.length) + " (truncated)");
        }
        ByteBuffer b = ByteBuffer.wrap(dimBytes); // big-endian, as IDX
        int[] dims = new int[rank];
        for (int i = 0; i < rank; i++) {
            dims[i] = b.getInt();
            if (dims[i] <= 0) {
                throw new IdxFormatException(source + ": expected positive dimensions, received " + Arrays.toString(dims));
            }
        }
        long limit = Math.min(Limits.current().maxTensorElements(), Integer.MAX_VALUE - 8);
        long expected = 1;
        for (int d : dims) {
            if (expected > limit / d) { // checked before multiplying: four int factors can overflow a long
                throw new IdxFormatException(source + ": header " + Arrays.toString(dims) + " promises more values "
                        + "than " + Limits.describe("maxTensorElements", limit));
            }
            expected *= d;
        }
        byte[] data = in.readNBytes((int) expected);
        if (data.length < expected) {
            throw new IdxFormatException(source + ": header " + Arrays.toString(dims) + " promises " + expected
                    + " data bytes, received " + data.length + " (truncated)");
        }
        if (in.read() >= 0) {
            throw new IdxFormatException(source + ": header " + Arrays.toString(dims) + " promises " + expected
                    + " data bytes, received more (trailing bytes)");
        }
        return new Array(dims, data);
    }

    /** Images (N, H, W) of unsigned bytes as (N, H, W, 1) floats scaled to [0, 1]. */
    public static NDArray images(Array idx, String source) throws IdxFormatException {
        if (idx.dims().length != 3) {
            throw new IdxFormatException(source + ": expected images of rank 3 (count, height, width), received rank "
                    + idx.dims().length + " " + Arrays.toString(idx.dims()));
        }
        byte[] d = idx.data();
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = (d[i] & 0xff) / 255f;
        }
        return new NDArray(out, idx.dims()[0], idx.dims()[1], idx.dims()[2], 1);
    }

    /** Labels (N) of unsigned bytes as (N) floats holding the class numbers. */
    public static NDArray labels(Array idx, String source) throws IdxFormatException {
        if (idx.dims().length != 1) {
            throw new IdxFormatException(source + ": expected labels of rank 1 (count), received rank "
                    + idx.dims().length + " " + Arrays.toString(idx.dims()));
        }
        byte[] d = idx.data();
        float[] out = new float[d.length];
        for (int i = 0; i < d.length; i++) {
            out[i] = d[i] & 0xff;
        }
        return new NDArray(out, d.length);
    }

}
