package dev.osprey.data.images;

import dev.osprey.NDArray;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/** Writes test images: grey PNG/JPEG from float pixels, class folders from a labelled array, odd formats. */
public final class ImageTestFiles {
    private ImageTestFiles() {
    }

    static byte[] grey(float[] pixels, int offset, int h, int w, String format) throws IOException {
        BufferedImage image = new BufferedImage(w, h, BufferedImage.TYPE_BYTE_GRAY);
        for (int y = 0; y < h; y++) {
            for (int x = 0; x < w; x++) {
                image.getRaster().setSample(x, y, 0, Math.round(pixels[offset + y * w + x] * 255));
            }
        }
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        ImageIO.write(image, format, out);
        return out.toByteArray();
    }

    /** root/class0 ... root/class9, one PNG per image of x (N, 28, 28, 1). */
    static void classFolders(Path root, NDArray x, NDArray y) throws IOException {
        for (int i = 0; i < x.rows(); i++) {
            Path dir = root.resolve("class" + (int) y.data()[i]);
            Files.createDirectories(dir);
            Files.write(dir.resolve(String.format("%05d.png", i)), grey(x.data(), i * 784, 28, 28, "png"));
        }
    }

    /** Loads OpenCV by decoding a tiny PNG, so that its loading time is not charged to whatever is timed next. */
    public static void warmUpDecoding() {
        try {
            new ImageDecoder().decode(grey(new float[16], 0, 4, 4, "png"), "warm-up",
                    Preprocessing.scaled(4, 4, Preprocessing.ColorMode.GRAYSCALE), Augmentation.Params.IDENTITY,
                    Augmentation.FillMode.CONSTANT, new float[16], 0);
        } catch (IOException e) { // ImageDecodeException is one
            throw new IllegalStateException("could not warm up image decoding: " + e, e);
        }
    }
}
