package dev.osprey.data.images;

import static org.bytedeco.opencv.global.opencv_core.BORDER_CONSTANT;
import static org.bytedeco.opencv.global.opencv_core.BORDER_REFLECT;
import static org.bytedeco.opencv.global.opencv_core.BORDER_REPLICATE;
import static org.bytedeco.opencv.global.opencv_core.BORDER_WRAP;
import static org.bytedeco.opencv.global.opencv_core.CV_8U;
import static org.bytedeco.opencv.global.opencv_imgcodecs.IMREAD_UNCHANGED;
import static org.bytedeco.opencv.global.opencv_imgcodecs.imdecode;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGR2GRAY;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGR2RGB;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGRA2GRAY;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_BGRA2RGB;
import static org.bytedeco.opencv.global.opencv_imgproc.COLOR_GRAY2RGB;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_AREA;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_CUBIC;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_LINEAR;
import static org.bytedeco.opencv.global.opencv_imgproc.INTER_NEAREST;
import static org.bytedeco.opencv.global.opencv_imgproc.cvtColor;
import static org.bytedeco.opencv.global.opencv_imgproc.resize;
import static org.bytedeco.opencv.global.opencv_imgproc.warpAffine;

import org.bytedeco.javacpp.BytePointer;
import org.bytedeco.javacpp.DoublePointer;
import org.bytedeco.javacpp.PointerScope;
import org.bytedeco.opencv.opencv_core.Mat;
import org.bytedeco.opencv.opencv_core.Scalar;
import org.bytedeco.opencv.opencv_core.Size;

/**
 * Decodes one image file into model input with OpenCV: decode, colour conversion, resize, augmentation (one
 * affine warp on 8-bit pixels), scaling and normalisation. Every native temporary lives in a PointerScope closed
 * at the end of each image, so resident memory stays flat however many images pass. One per thread.
 */
public final class ImageDecoder {
    /** OpenCV, loaded on first need: a plain PNG of the model's size never needs it (see {@link PlainPng}). */
    private static final class OpenCv {
        static {
            // Osprey decodes many images on its own worker threads; OpenCV's own thread pool inside each call would
            // only compete with them and with oneDNN's threads for the same cores.
            org.bytedeco.opencv.global.opencv_core.setNumThreads(1);
        }

        static void load() {
            // the static initializer above runs once, on the first call
        }
    }

    /** Loads OpenCV now (about 0.4 s once per process), e.g. on a background thread before images arrive. */
    public static void loadNative() {
        OpenCv.load();
    }

    private byte[] pixels = new byte[0]; // reused: the decoded 8-bit image on its way to floats

    /** Decodes {@code file} (named {@code name} in errors) into out[offset .. offset + sampleSize). */
    public void decode(byte[] file, String name, Preprocessing p, Augmentation.Params a, Augmentation.FillMode fill,
                       float[] out, int offset) throws ImageDecodeException {
        if (file.length == 0) {
            throw new ImageDecodeException(name + ": empty file (0 bytes)");
        }
        ImageHeader.checkPixels(file, name);
        if (a.isIdentity()) {
            byte[] plain = PlainPng.decode(file, p.width(), p.height(), p.channels());
            if (plain != null) {
                copyScaled(plain, p, out, offset);
                return;
            }
        }
        OpenCv.load();
        try (PointerScope scope = new PointerScope()) {
            Mat encoded = new Mat(1, file.length, CV_8U, new BytePointer(file));
            try {
                decodeInScope(encoded, name, p, a, fill, out, offset);
            } catch (RuntimeException e) { // OpenCV's own checks (sizes, malformed data) arrive as exceptions
                String reason = String.valueOf(e.getMessage());
                int error = reason.indexOf("error: ");
                throw new ImageDecodeException(name + ": not a readable image ("
                        + (error >= 0 ? reason.substring(error + 7) : reason).trim() + ")");
            }
        }
    }

    private void decodeInScope(Mat encoded, String name, Preprocessing p, Augmentation.Params a,
                               Augmentation.FillMode fill, float[] out, int offset) throws ImageDecodeException {
        Mat image = imdecode(encoded, IMREAD_UNCHANGED);
        if (image == null || image.empty()) {
            throw new ImageDecodeException(name + ": not a readable image (truncated, damaged, or not JPEG/PNG/BMP)");
        }
        if (image.depth() != CV_8U) {
            Mat eight = new Mat();
            image.convertTo(eight, CV_8U, 1 / 257.0, 0); // 16-bit PNG
            image = eight;
        }
        Mat colour = convertColour(image, p.color(), name);
        Mat sized = colour;
        if (colour.rows() != p.height() || colour.cols() != p.width()) {
            sized = new Mat();
            resize(colour, sized, new Size(p.width(), p.height()), 0, 0, interpolation(p.interpolation()));
        }
        Mat warped = sized;
        if (!a.isIdentity()) {
            warped = new Mat();
            Mat m = new Mat(2, 3, org.bytedeco.opencv.global.opencv_core.CV_64F,
                    new DoublePointer(affine(a, p.width(), p.height())));
            warpAffine(sized, warped, m, new Size(p.width(), p.height()), INTER_LINEAR, border(fill), new Scalar(0.0));
        }
        copyScaled(warped, p, out, offset);
    }

    /** Grey or RGB from 1, 3 or 4 decoded channels (OpenCV gives these for PNG, JPEG and BMP); anything else is refused. */
    static Mat convertColour(Mat image, Preprocessing.ColorMode target, String name) throws ImageDecodeException {
        int channels = image.channels();
        int code;
        if (target == Preprocessing.ColorMode.GRAYSCALE) {
            code = switch (channels) {
                case 1 -> -1;
                case 3 -> COLOR_BGR2GRAY;
                case 4 -> COLOR_BGRA2GRAY;
                default -> throw unexpected(name, channels);
            };
        } else {
            code = switch (channels) {
                case 1 -> COLOR_GRAY2RGB;
                case 3 -> COLOR_BGR2RGB;
                case 4 -> COLOR_BGRA2RGB;
                default -> throw unexpected(name, channels);
            };
        }
        if (code < 0) {
            return image;
        }
        Mat converted = new Mat();
        cvtColor(image, converted, code);
        return converted;
    }

    private static ImageDecodeException unexpected(String name, int channels) {
        return new ImageDecodeException(name + ": expected an image with 1 (grey), 3 (colour) or 4 (colour and alpha) "
                + "channels, received " + channels);
    }

    /** Row-major (H, W, C) floats in [0, 1], then (x - mean) / std per channel when asked. */
    private void copyScaled(Mat image, Preprocessing p, float[] out, int offset) {
        int n = p.sampleSize();
        Mat continuous = image.isContinuous() ? image : image.clone();
        if (pixels.length < n) {
            pixels = new byte[n];
        }
        continuous.data().get(pixels, 0, n);
        copyScaled(pixels, p, out, offset);
    }

    /** The first sampleSize 8-bit pixels as floats in [0, 1], then (x - mean) / std per channel when asked. */
    private static void copyScaled(byte[] pixels, Preprocessing p, float[] out, int offset) {
        int c = p.channels();
        int n = p.sampleSize();
        for (int i = 0; i < n; i++) {
            float v = (pixels[i] & 0xff) / 255f;
            if (p.mean() != null) {
                v = (v - p.mean()[i % c]) / p.std()[i % c];
            }
            out[offset + i] = v;
        }
    }

    /**
     * The forward affine map (source to destination): rotate by degrees (counter-clockwise) and scale by zoom about
     * the image centre, flip about the centre, then shift by shares of the size. Entries within 1e-9 of an integer
     * are snapped to it, so quarter turns and flips move pixels exactly.
     */
    static double[] affine(Augmentation.Params a, int width, int height) {
        double cx = (width - 1) / 2.0, cy = (height - 1) / 2.0;
        double rad = Math.toRadians(a.degrees());
        double alpha = a.zoom() * Math.cos(rad), beta = a.zoom() * Math.sin(rad);
        double[] rot = {alpha, beta, (1 - alpha) * cx - beta * cy, -beta, alpha, beta * cx + (1 - alpha) * cy};
        double fx = a.flipHorizontal() ? -1 : 1, fy = a.flipVertical() ? -1 : 1;
        double[] m = {
            fx * rot[0], fx * rot[1], fx * rot[2] + (a.flipHorizontal() ? width - 1 : 0) + a.shiftX() * width,
            fy * rot[3], fy * rot[4], fy * rot[5] + (a.flipVertical() ? height - 1 : 0) + a.shiftY() * height};
        for (int i = 0; i < m.length; i++) {
            double r = Math.rint(m[i]);
            if (Math.abs(m[i] - r) < 1e-9) {
                m[i] = r;
            }
        }
        return m;
    }

    private static int interpolation(Preprocessing.Interpolation i) {
        return switch (i) {
            case NEAREST -> INTER_NEAREST;
            case LINEAR -> INTER_LINEAR;
            case CUBIC -> INTER_CUBIC;
            case AREA -> INTER_AREA;
        };
    }

    private static int border(Augmentation.FillMode f) {
        return switch (f) {
            case CONSTANT -> BORDER_CONSTANT;
            case NEAREST -> BORDER_REPLICATE;
            case REFLECT -> BORDER_REFLECT; // dcba|abcd|dcba, as Keras' "reflect"
            case WRAP -> BORDER_WRAP;
        };
    }
}
