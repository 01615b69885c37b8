package dev.osprey.data.images;

import com.code_intelligence.jazzer.junit.FuzzTest;
import dev.osprey.testing.SlowInputs;

/**
 * Fuzzes image decoding (OpenCV behind the header check) with the serving path's settings: grey 28x28 and RGB
 * 32x32. Only {@link ImageDecodeException} may come out; a native crash, another exception or decoding past the
 * pixel limit is a finding. Seeds in ImageDecoderFuzzTestInputs: PNG, JPEG and BMP files, and a PNG header
 * declaring 30000x30000 pixels.
 */
class ImageDecoderFuzzTest {
    private static final Preprocessing GREY = Preprocessing.scaled(28, 28, Preprocessing.ColorMode.GRAYSCALE);
    private static final Preprocessing RGB = Preprocessing.scaled(32, 32, Preprocessing.ColorMode.RGB);
    private final ImageDecoder decoder = new ImageDecoder();

    static {
        dev.osprey.data.images.ImageTestFiles.warmUpDecoding(); // OpenCV loads here, not inside a timed input
    }

    @FuzzTest(maxDuration = "30s")
    void imagesDecodeOrFailWithADecodeError(byte[] file) {
        boolean colour = file.length > 0 && (file[file.length - 1] & 1) == 1;
        Preprocessing p = colour ? RGB : GREY;
        long start = SlowInputs.start();
        try {
            decoder.decode(file, "fuzz", p, Augmentation.Params.IDENTITY, Augmentation.FillMode.CONSTANT,
                    new float[p.height() * p.width() * (colour ? 3 : 1)], 0);
        } catch (ImageDecodeException expected) {
            // the decoder's answer to a damaged or hostile file
        }
        SlowInputs.check(start);
    }
}
