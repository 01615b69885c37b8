package dev.osprey.data.images;

import dev.osprey.Limits;

/**
 * The pixel count an image file declares, read from its header before anything is decoded: a small file may claim
 * 30000x30000 pixels, and the decoder would allocate them all. Knows the three formats Osprey takes (PNG, JPEG,
 * BMP); any other content is refused, as the decoder would refuse it.
 */
final class ImageHeader {
    private ImageHeader() {
    }

    /**
     * Throws unless {@code file} is a PNG, JPEG or BMP of at most {@link Limits#maxImagePixels()} pixels, and, for a
     * PNG, unless every chunk lies within the file with a matching checksum: OpenCV 4.13 spent 11 s of CPU on a
     * 427-byte PNG whose data chunk claimed 3 GB (found by ImageDecoderFuzzTest's sibling in serving).
     */
    static void checkPixels(byte[] file, String name) throws ImageDecodeException {
        long[] size = dimensions(file, name);
        long pixels = size[0] * size[1];
        long limit = Limits.current().maxImagePixels();
        if (pixels > limit) {
            throw new ImageDecodeException(name + ": declares " + size[0] + "x" + size[1] + " = " + pixels
                    + " pixels, more than " + Limits.describe("maxImagePixels", limit));
        }
        if (isPng(file)) {
            checkPngChunks(file, name);
        }
    }

    /** {width, height} as the header states them. */
    static long[] dimensions(byte[] f, String name) throws ImageDecodeException {
        if (isPng(f)) {
            return new long[] {u32be(f, 16), u32be(f, 20)}; // IHDR is the first chunk
        }
        if (f.length >= 4 && (f[0] & 0xff) == 0xFF && (f[1] & 0xff) == 0xD8) {
            return jpeg(f, name);
        }
        if (f.length >= 26 && f[0] == 'B' && f[1] == 'M') {
            long headerSize = u32le(f, 14);
            if (headerSize == 12) { // BITMAPCOREHEADER: 16-bit sizes
                return new long[] {u16le(f, 18), u16le(f, 20)};
            }
            return new long[] {Math.abs((long) (int) u32le(f, 18)), Math.abs((long) (int) u32le(f, 22))};
        }
        throw new ImageDecodeException(name + ": not a readable image (expected JPEG, PNG or BMP content, received "
                + (f.length < 4 ? f.length + " bytes" : String.format("bytes starting %02x %02x %02x %02x",
                f[0] & 0xff, f[1] & 0xff, f[2] & 0xff, f[3] & 0xff)) + ")");
    }

    private static boolean isPng(byte[] f) {
        return f.length >= 24 && (f[0] & 0xff) == 0x89 && f[1] == 'P' && f[2] == 'N' && f[3] == 'G';
    }

    /** Each chunk: a length within what is left, then its type, data and a CRC-32 over type and data. */
    private static void checkPngChunks(byte[] f, String name) throws ImageDecodeException {
        int at = 8;
        java.util.zip.CRC32 crc = new java.util.zip.CRC32();
        while (at + 12 <= f.length) {
            long length = u32be(f, at);
            if (length > f.length - at - 12) {
                throw new ImageDecodeException(name + ": not a readable image (a PNG chunk at byte " + at + " claims "
                        + length + " bytes, more than the file holds: truncated or damaged)");
            }
            crc.reset();
            crc.update(f, at + 4, 4 + (int) length);
            if (crc.getValue() != u32be(f, at + 8 + (int) length)) {
                throw new ImageDecodeException(name + ": not a readable image (the PNG chunk at byte " + at
                        + " fails its checksum: damaged)");
            }
            boolean end = f[at + 4] == 'I' && f[at + 5] == 'E' && f[at + 6] == 'N' && f[at + 7] == 'D';
            at += 12 + (int) length;
            if (end) {
                return;
            }
        }
        throw new ImageDecodeException(name + ": not a readable image (a PNG without its end chunk: truncated)");
    }

    /** Walks the JPEG markers to the first start-of-frame, which holds the size. */
    private static long[] jpeg(byte[] f, String name) throws ImageDecodeException {
        int at = 2;
        while (at + 4 <= f.length) {
            if ((f[at] & 0xff) != 0xFF) {
                break;
            }
            int marker = f[at + 1] & 0xff;
            if (marker == 0xFF) { // fill byte
                at++;
                continue;
            }
            if (marker == 0x01 || (marker >= 0xD0 && marker <= 0xD7)) { // markers without a length
                at += 2;
                continue;
            }
            int length = u16be(f, at + 2);
            boolean startOfFrame = marker >= 0xC0 && marker <= 0xCF && marker != 0xC4 && marker != 0xC8 && marker != 0xCC;
            if (startOfFrame && at + 9 <= f.length) {
                return new long[] {u16be(f, at + 7), u16be(f, at + 5)};
            }
            if (length < 2) {
                break;
            }
            at += 2 + length;
        }
        throw new ImageDecodeException(name + ": not a readable image (a JPEG without a frame header: truncated or damaged)");
    }

    private static int u16be(byte[] f, int at) {
        return (f[at] & 0xff) << 8 | (f[at + 1] & 0xff);
    }

    private static int u16le(byte[] f, int at) {
        return (f[at + 1] & 0xff) << 8 | (f[at] & 0xff);
    }

    private static long u32be(byte[] f, int at) {
        return ((long) u16be(f, at) << 16) | u16be(f, at + 2);
    }

    private static long u32le(byte[] f, int at) {
        return ((long) u16le(f, at + 2) << 16) | u16le(f, at);
    }
}
