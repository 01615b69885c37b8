package dev.osprey.bench;

import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import javax.imageio.ImageIO;

/**
 * Writes the first N images of the bundled Fashion-MNIST sample as PNGs in class folders (OUT/0-Tshirttop/...),
 * a real image folder to try `osprey train --images` on. Usage: ExportSampleImages OUT [N=8000]
 */
public final class ExportSampleImages {
    private ExportSampleImages() {
    }

    public static void main(String[] args) throws Exception {
        Path root = Path.of(args[0]);
        int n = args.length > 1 ? Integer.parseInt(args[1]) : 8000;
        LabeledData d = Datasets.fashionMnistSample();
        if (n <= 0 || n > d.trainX().rows()) {
            throw new IllegalArgumentException("expected 1 to " + d.trainX().rows() + " images, received " + n);
        }
        for (int i = 0; i < n; i++) {
            int label = (int) d.trainY().data()[i];
            Path dir = root.resolve(label + "-" + Datasets.FASHION_MNIST_CLASSES.get(label).replaceAll("[^A-Za-z]", ""));
            Files.createDirectories(dir);
            BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            for (int y = 0; y < 28; y++) {
                for (int x = 0; x < 28; x++) {
                    image.getRaster().setSample(x, y, 0, Math.round(d.trainX().data()[i * 784 + y * 28 + x] * 255));
                }
            }
            ImageIO.write(image, "png", dir.resolve(String.format("%05d.png", i)).toFile());
        }
        System.out.println("wrote " + n + " PNGs in class folders under " + root);
    }
}
