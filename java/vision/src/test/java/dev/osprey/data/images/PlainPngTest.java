package dev.osprey.data.images;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.io.ByteArrayOutputStream;
import java.nio.charset.StandardCharsets;
import java.util.Random;
import java.util.zip.CRC32;
import java.util.zip.Deflater;
import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.opencv.global.opencv_core;
import org.bytedeco.opencv.global.opencv_imgcodecs;
import org.bytedeco.opencv.global.opencv_imgproc;
import org.bytedeco.opencv.opencv_core.Mat;
import org.junit.jupiter.api.Test;

/**
 * The Java decoder of plain PNGs gives exactly the pixels written, which OpenCV also gives for the same file; every
 * PNG it does not take (or a damaged one) is left to OpenCV.
 */
class PlainPngTest {
    /** A PNG of these pixels, each row with the filter filters[y % filters.length], and extra chunks before IDAT. */
    static byte[] png(byte[] pixels, int w, int h, int channels, int[] filters, int bitDepth, int interlace,
                      byte[]... extraChunks) {
        int stride = w * channels;
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        for (int y = 0; y < h; y++) {
            int f = filters[y % filters.length];
            raw.write(f);
            for (int x = 0; x < stride; x++) {
                int v = pixels[y * stride + x] & 0xff;
                int a = x >= channels ? pixels[y * stride + x - channels] & 0xff : 0;
                int b = y > 0 ? pixels[(y - 1) * stride + x] & 0xff : 0;
                int c = x >= channels && y > 0 ? pixels[(y - 1) * stride + x - channels] & 0xff : 0;
                int predictor = switch (f) {
                    case 1 -> a;
                    case 2 -> b;
                    case 3 -> (a + b) / 2;
                    case 4 -> {
                        int p = a + b - c, pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
                        yield pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
                    }
                    default -> 0;
                };
                raw.write((v - predictor) & 0xff);
            }
        }
        Deflater deflater = new Deflater();
        deflater.setInput(raw.toByteArray());
        deflater.finish();
        byte[] buffer = new byte[raw.size() * 2 + 64];
        int n = deflater.deflate(buffer);
        deflater.end();
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        out.writeBytes(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        byte[] ihdr = new byte[13];
        put32(ihdr, 0, w);
        put32(ihdr, 4, h);
        ihdr[8] = (byte) bitDepth;
        ihdr[9] = (byte) (channels == 1 ? 0 : 2);
        ihdr[12] = (byte) interlace;
        chunk(out, "IHDR", ihdr);
        for (byte[] extra : extraChunks) {
            out.writeBytes(extra);
        }
        chunk(out, "IDAT", java.util.Arrays.copyOf(buffer, n));
        chunk(out, "IEND", new byte[0]);
        return out.toByteArray();
    }

    static byte[] chunkBytes(String type, byte[] data) {
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        chunk(out, type, data);
        return out.toByteArray();
    }

    private static void chunk(ByteArrayOutputStream out, String type, byte[] data) {
        byte[] head = new byte[8];
        put32(head, 0, data.length);
        System.arraycopy(type.getBytes(StandardCharsets.US_ASCII), 0, head, 4, 4);
        out.writeBytes(head);
        out.writeBytes(data);
        CRC32 crc = new CRC32();
        crc.update(head, 4, 4);
        crc.update(data);
        byte[] tail = new byte[4];
        put32(tail, 0, (int) crc.getValue());
        out.writeBytes(tail);
    }

    private static void put32(byte[] b, int at, int v) {
        b[at] = (byte) (v >>> 24);
        b[at + 1] = (byte) (v >>> 16);
        b[at + 2] = (byte) (v >>> 8);
        b[at + 3] = (byte) v;
    }

    private static byte[] random(int n, long seed) {
        byte[] b = new byte[n];
        new Random(seed).nextBytes(b);
        return b;
    }

    /** OpenCV's pixels for a file, RGB order for colour (as ImageDecoder converts them). */
    private static byte[] openCv(byte[] file, int channels) {
        try (Mat encoded = new Mat(1, file.length, opencv_core.CV_8U, new BytePointer(file));
             Mat decoded = opencv_imgcodecs.imdecode(encoded, opencv_imgcodecs.IMREAD_UNCHANGED);
             Mat rgb = new Mat()) {
            Mat m = decoded;
            if (channels == 3) {
                opencv_imgproc.cvtColor(decoded, rgb, opencv_imgproc.COLOR_BGR2RGB);
                m = rgb;
            }
            byte[] out = new byte[(int) (m.total() * m.channels())];
            m.data().get(out);
            return out;
        }
    }

    @Test
    void everyFilterTypeDecodesToTheWrittenPixelsAsOpenCvDoes() {
        for (int channels : new int[] {1, 3}) {
            for (int[] filters : new int[][] {{0}, {1}, {2}, {3}, {4}, {0, 1, 2, 3, 4}}) {
                int w = 13, h = 9;
                byte[] pixels = random(w * h * channels, channels * 10L + filters.length + filters[0]);
                byte[] file = png(pixels, w, h, channels, filters, 8, 0,
                        chunkBytes("gAMA", new byte[] {0, 0, (byte) 0xb1, (byte) 0x8f})); // ignored, as OpenCV does
                String what = channels + " channel(s), filters " + java.util.Arrays.toString(filters);
                assertArrayEquals(pixels, PlainPng.decode(file, w, h, channels), what);
                assertArrayEquals(pixels, openCv(file, channels), what + " (OpenCV)");
            }
        }
    }

    @Test
    void theDecoderGivesTheSameFloatsWithAndWithoutOpenCv() throws Exception {
        int w = 8, h = 6;
        byte[] pixels = random(w * h * 3, 77);
        byte[] file = png(pixels, w, h, 3, new int[] {4, 1, 0}, 8, 0);
        Preprocessing p = Preprocessing.scaled(h, w, Preprocessing.ColorMode.RGB);
        float[] plain = new float[p.sampleSize()];
        new ImageDecoder().decode(file, "plain.png", p, Augmentation.Params.IDENTITY, Augmentation.FillMode.CONSTANT,
                plain, 0);
        float[] expected = new float[p.sampleSize()];
        for (int i = 0; i < expected.length; i++) {
            expected[i] = (pixels[i] & 0xff) / 255f;
        }
        assertArrayEquals(expected, plain, 0f);
    }

    @Test
    void pngsItDoesNotTakeAreLeftToOpenCv() {
        int w = 6, h = 5;
        byte[] grey = random(w * h, 3);
        int[] none = {0};
        assertNotNull(PlainPng.decode(png(grey, w, h, 1, none, 8, 0), w, h, 1));
        assertNull(PlainPng.decode(png(grey, w, h, 1, none, 8, 0), w + 1, h, 1), "another size: resized by OpenCV");
        assertNull(PlainPng.decode(png(grey, w, h, 1, none, 8, 0), w, h, 3), "grey for an RGB model");
        assertNull(PlainPng.decode(png(grey, w, h, 1, none, 8, 1), w, h, 1), "interlaced");
        assertNull(PlainPng.decode(png(grey, w, h, 1, none, 16, 0), w, h, 1), "16-bit");
        assertNull(PlainPng.decode(png(grey, w, h, 1, none, 8, 0, chunkBytes("tRNS", new byte[] {0, 7})), w, h, 1),
                "transparency");
        assertNull(PlainPng.decode(png(grey, w, h, 1, none, 8, 0, chunkBytes("PLTE", new byte[] {1, 2, 3})), w, h, 1),
                "a critical chunk it does not know");
        byte[] badFilter = png(grey, w, h, 1, new int[] {5}, 8, 0);
        assertNull(PlainPng.decode(badFilter, w, h, 1), "filter type 5");
        byte[] taller = png(random(w * (h + 1), 4), w, h + 1, 1, none, 8, 0);
        System.arraycopy(png(grey, w, h, 1, none, 8, 0), 16, taller, 16, 17); // IHDR (and CRC) of the shorter image
        assertNull(PlainPng.decode(taller, w, h, 1), "more pixel data than the header promises");
    }

    @Test
    void aDamagedDataStreamWithAValidChecksumIsReportedByOpenCv() {
        int w = 6, h = 5;
        byte[] deflated = random(40, 9); // not a deflate stream
        java.io.ByteArrayOutputStream f = new java.io.ByteArrayOutputStream();
        f.writeBytes(java.util.Arrays.copyOf(png(random(w * h, 5), w, h, 1, new int[] {0}, 8, 0), 33)); // up to IHDR
        f.writeBytes(chunkBytes("IDAT", deflated));
        f.writeBytes(chunkBytes("IEND", new byte[0]));
        byte[] file = f.toByteArray();
        assertNull(PlainPng.decode(file, w, h, 1));
        Preprocessing p = Preprocessing.scaled(h, w, Preprocessing.ColorMode.GRAYSCALE);
        assertThrows(ImageDecodeException.class, () -> new ImageDecoder().decode(file, "damaged.png", p,
                Augmentation.Params.IDENTITY, Augmentation.FillMode.CONSTANT, new float[p.sampleSize()], 0));
    }
}
