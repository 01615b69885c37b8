package dev.osprey.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.NDArray;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.zip.GZIPOutputStream;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class IdxTest {
    @TempDir
    Path dir;

    static byte[] idx(int type, int[] dims, int dataBytes) {
        ByteBuffer b = ByteBuffer.allocate(4 + 4 * dims.length + dataBytes);
        b.put((byte) 0).put((byte) 0).put((byte) type).put((byte) dims.length);
        for (int d : dims) {
            b.putInt(d);
        }
        for (int i = 0; i < dataBytes; i++) {
            b.put((byte) (i * 7));
        }
        return b.array();
    }

    static byte[] gzip(byte[] raw) throws IOException {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        try (GZIPOutputStream z = new GZIPOutputStream(out)) {
            z.write(raw);
        }
        return out.toByteArray();
    }

    @Test
    void readsRawAndGzipAlike() throws IOException {
        byte[] raw = idx(8, new int[] {3, 2, 2}, 12);
        Path plain = dir.resolve("images");
        Path zipped = dir.resolve("images.gz");
        Files.write(plain, raw);
        Files.write(zipped, gzip(raw));
        Idx.Array a = Idx.read(plain);
        Idx.Array b = Idx.read(zipped);
        assertArrayEquals(new int[] {3, 2, 2}, a.dims());
        assertArrayEquals(a.data(), b.data());
        NDArray images = Idx.images(a, "t");
        assertArrayEquals(new int[] {3, 2, 2, 1}, images.shape());
        assertEquals((7 & 0xff) / 255f, images.data()[1], 0f);
    }

    @Test
    void readsTheBundledRealSample() {
        LabeledData sample = Datasets.fashionMnistSample();
        assertEquals(8000, sample.trainX().rows());
        assertEquals(2000, sample.testX().rows());
        assertArrayEquals(new int[] {8000, 28, 28, 1}, sample.trainX().shape());
        assertEquals(9f, sample.trainY().data()[0], "the first Fashion-MNIST test image is an ankle boot");
    }

    @Test
    void rejectsAWrongMagicNumber() throws IOException {
        byte[] raw = idx(8, new int[] {2}, 2);
        raw[1] = 0x42;
        Path p = dir.resolve("wrong-magic");
        Files.write(p, raw);
        IdxFormatException e = assertThrows(IdxFormatException.class, () -> Idx.read(p));
        assertEquals(p + ": expected IDX magic bytes 0x00 0x00, received 0x00 0x42 (not an IDX file)", e.getMessage());
    }

    @Test
    void rejectsTruncatedAndOverlongData() throws IOException {
        byte[] raw = idx(8, new int[] {4, 3}, 12);
        Path shortFile = dir.resolve("short");
        Files.write(shortFile, Arrays.copyOf(raw, raw.length - 5));
        IdxFormatException e = assertThrows(IdxFormatException.class, () -> Idx.read(shortFile));
        assertEquals(shortFile + ": header [4, 3] promises 12 data bytes, received 7 (truncated)", e.getMessage());

        Path longFile = dir.resolve("long");
        Files.write(longFile, Arrays.copyOf(raw, raw.length + 3));
        e = assertThrows(IdxFormatException.class, () -> Idx.read(longFile));
        assertTrue(e.getMessage().endsWith("received more (trailing bytes)"), e.getMessage());

        Path truncatedGzip = dir.resolve("truncated.gz");
        byte[] z = gzip(raw);
        Files.write(truncatedGzip, Arrays.copyOf(z, z.length / 2));
        e = assertThrows(IdxFormatException.class, () -> Idx.read(truncatedGzip));
        assertTrue(e.getMessage().contains("truncated"), e.getMessage());

        Path headerOnly = dir.resolve("header-only");
        Files.write(headerOnly, Arrays.copyOf(raw, 6));
        e = assertThrows(IdxFormatException.class, () -> Idx.read(headerOnly));
        assertTrue(e.getMessage().contains("expected 12 header bytes for rank 2, received 6 (truncated)"), e.getMessage());
    }

    /**
     * Finding 4 of the hardening issue: a small gzip that inflates far beyond its header's promise was inflated
     * whole. The reader now stops one byte past the promise, and a promise over the element limit reads nothing.
     */
    @Test
    void aDecompressionBombIsReadOnlyAsFarAsItsHeaderPromises() throws IOException {
        java.io.ByteArrayOutputStream zipped = new java.io.ByteArrayOutputStream();
        try (java.util.zip.GZIPOutputStream gz = new java.util.zip.GZIPOutputStream(zipped)) {
            gz.write(idx(8, new int[] {64, 28, 28}, 0));
            byte[] zeros = new byte[1 << 20];
            for (int i = 0; i < 256; i++) { // 256 MiB once inflated
                gz.write(zeros);
            }
        }
        byte[] bomb = zipped.toByteArray();
        long[] consumed = {0};
        java.io.InputStream counting = new java.io.FilterInputStream(new java.io.ByteArrayInputStream(bomb)) {
            @Override
            public int read(byte[] b, int off, int len) throws IOException {
                int n = super.read(b, off, len);
                consumed[0] += Math.max(n, 0);
                return n;
            }
        };
        IdxFormatException e = assertThrows(IdxFormatException.class, () -> Idx.read(counting, "bomb.gz"));
        assertTrue(e.getMessage().contains("promises 50176 data bytes, received more (trailing bytes)"), e.getMessage());
        assertTrue(consumed[0] <= 128 << 10, "read " + consumed[0] + " of " + bomb.length + " compressed bytes");

        byte[] huge = idx(8, new int[] {Integer.MAX_VALUE, 28, 28}, 0);
        e = assertThrows(IdxFormatException.class, () -> Idx.read(new java.io.ByteArrayInputStream(huge), "huge"));
        assertTrue(e.getMessage().contains("osprey.limits.maxTensorElements"), e.getMessage());
    }

    @Test
    void rejectsUnsupportedTypesAndRanks() throws IOException {
        Path floats = dir.resolve("floats");
        Files.write(floats, idx(0x0D, new int[] {2}, 8));
        assertTrue(assertThrows(IdxFormatException.class, () -> Idx.read(floats)).getMessage()
                .contains("expected IDX data type 0x08 (unsigned byte), received 0x0d"));
        Idx.Array labels = Idx.read(writeTo("labels", idx(8, new int[] {5}, 5)));
        assertTrue(assertThrows(IdxFormatException.class, () -> Idx.images(labels, "labels")).getMessage()
                .contains("expected images of rank 3"));
    }

    @Test
    void aLabelImageCountMismatchIsReported() throws IOException {
        Path trainX = writeTo("tx", idx(8, new int[] {3, 2, 2}, 12));
        Path trainY = writeTo("ty", idx(8, new int[] {2}, 2));
        Path testX = writeTo("vx", idx(8, new int[] {1, 2, 2}, 4));
        Path testY = writeTo("vy", idx(8, new int[] {1}, 1));
        IdxFormatException e = assertThrows(IdxFormatException.class,
                () -> Datasets.fromFiles(trainX, trainY, testX, testY));
        assertEquals("label/image count mismatch: " + trainX + " holds 3 images but " + trainY + " holds 2 labels",
                e.getMessage());
    }

    private Path writeTo(String name, byte[] bytes) throws IOException {
        Path p = dir.resolve(name);
        Files.write(p, bytes);
        return p;
    }
}
