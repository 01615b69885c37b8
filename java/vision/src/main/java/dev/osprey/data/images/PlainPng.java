package dev.osprey.data.images;

import java.util.zip.DataFormatException;
import java.util.zip.Inflater;

/**
 * Decodes, in Java, the PNGs that need nothing from a general decoder: 8-bit grey or RGB, not interlaced, without
 * transparency or palette, already of the model's size and channels. Their pixels are stored losslessly, so the result
 * is exactly OpenCV's; and a single prediction on such a file never loads OpenCV (about 0.4 s of start-up, plus
 * OpenBLAS, which it pulls in). Anything else, or anything unexpected, gives null and the caller decodes with OpenCV,
 * which also reports what is wrong with a damaged file. Call only after {@link ImageHeader#checkPixels}, which bounds
 * the size and checks every chunk's length and checksum.
 */
final class PlainPng {
    private static final byte[] SIGNATURE = {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};

    private PlainPng() {
    }

    /** The (height, width, channels) pixels of file, row-major, or null when OpenCV should decode it. */
    static byte[] decode(byte[] f, int width, int height, int channels) {
        if (f.length < 33 || channels != 1 && channels != 3) {
            return null;
        }
        for (int i = 0; i < SIGNATURE.length; i++) {
            if (f[i] != SIGNATURE[i]) {
                return null;
            }
        }
        // IHDR first: width, height, bit depth 8, colour type 0 (grey) or 2 (RGB), compression 0, filter 0, no interlace
        if (u32(f, 8) != 13 || !type(f, 12, "IHDR") || u32(f, 16) != width || u32(f, 20) != height || f[24] != 8
                || f[25] != (channels == 1 ? 0 : 2) || f[26] != 0 || f[27] != 0 || f[28] != 0) {
            return null;
        }
        int stride = width * channels;
        int expected = Math.multiplyExact(height, stride + 1);
        byte[] raw = new byte[expected + 1]; // one spare byte: room to see the stream end, or that it runs long
        Inflater inflater = new Inflater();
        try {
            int written = 0;
            int at = 33;
            boolean ended = false;
            while (at + 12 <= f.length && !ended) {
                int length = (int) u32(f, at);
                if (length < 0 || length > f.length - at - 12) {
                    return null;
                }
                if (type(f, at + 4, "IDAT")) {
                    inflater.setInput(f, at + 8, length);
                    while (!inflater.needsInput() && !inflater.finished()) {
                        int n = inflater.inflate(raw, written, raw.length - written);
                        written += n;
                        if (written > expected || n == 0 && !inflater.needsInput() && !inflater.finished()) {
                            return null; // more pixels than the size promises, or a stream that goes nowhere
                        }
                    }
                } else if (type(f, at + 4, "IEND")) {
                    ended = true;
                } else if ((f[at + 4] & 0x20) == 0 || type(f, at + 4, "tRNS")) {
                    return null; // a critical chunk (PLTE, ...) or transparency: OpenCV's business
                }
                at += 12 + length;
            }
            if (!ended || !inflater.finished() || written != expected) {
                return null;
            }
        } catch (DataFormatException e) {
            return null;
        } finally {
            inflater.end();
        }
        return unfilter(raw, height, stride, channels);
    }

    /** Reverses each scanline's filter (None, Sub, Up, Average, Paeth); null for an unknown filter type. */
    private static byte[] unfilter(byte[] raw, int height, int stride, int bpp) {
        byte[] out = new byte[height * stride];
        for (int y = 0; y < height; y++) {
            int filter = raw[y * (stride + 1)];
            int in = y * (stride + 1) + 1;
            int row = y * stride;
            int prior = row - stride; // the row above, in out
            for (int x = 0; x < stride; x++) {
                int a = x >= bpp ? out[row + x - bpp] & 0xff : 0;
                int b = y > 0 ? out[prior + x] & 0xff : 0;
                int c = x >= bpp && y > 0 ? out[prior + x - bpp] & 0xff : 0;
                int predictor = switch (filter) {
                    case 0 -> 0;
                    case 1 -> a;
                    case 2 -> b;
                    case 3 -> (a + b) >>> 1;
                    case 4 -> paeth(a, b, c);
                    default -> -1;
                };
                if (predictor < 0) {
                    return null;
                }
                out[row + x] = (byte) (raw[in + x] + predictor);
            }
        }
        return out;
    }

    private static int paeth(int a, int b, int c) {
        int p = a + b - c;
        int pa = Math.abs(p - a);
        int pb = Math.abs(p - b);
        int pc = Math.abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static boolean type(byte[] f, int at, String type) {
        return f[at] == type.charAt(0) && f[at + 1] == type.charAt(1) && f[at + 2] == type.charAt(2)
                && f[at + 3] == type.charAt(3);
    }

    private static long u32(byte[] f, int at) {
        return ((long) (f[at] & 0xff) << 24) | ((f[at + 1] & 0xff) << 16) | ((f[at + 2] & 0xff) << 8) | (f[at + 3] & 0xff);
    }
}
