package dev.osprey.bench;

import dev.osprey.data.Datasets;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageDecoder;
import dev.osprey.data.images.Preprocessing;
import java.awt.RenderingHints;
import java.awt.image.BufferedImage;
import java.io.ByteArrayOutputStream;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.concurrent.atomic.AtomicLong;
import javax.imageio.ImageIO;

/**
 * Decode + resize + augment throughput of the image pipeline: 256 distinct real images (Fashion-MNIST, upscaled to
 * 256x256 RGB JPEGs, about the size of a phone photo's thumbnail) decoded into 64x64 and 224x224 RGB inputs with a
 * random rotation, zoom, shift and flip, by 1 and 2 worker threads. Prints JSON lines with images/s in all and per
 * worker. Usage: ImagePipelineBenchmark [seconds=3]
 */
public final class ImagePipelineBenchmark {
    private ImagePipelineBenchmark() {
    }

    public static void main(String[] args) throws Exception {
        double seconds = args.length > 0 ? Double.parseDouble(args[0]) : 3;
        List<byte[]> jpegs = jpegs(256, 256);
        Augmentation aug = new Augmentation().rotation(15).zoom(0.1).shift(0.1, 0.1).horizontalFlip(true);
        for (int size : new int[] {64, 224}) {
            Preprocessing p = Preprocessing.scaled(size, size, Preprocessing.ColorMode.RGB);
            for (int workers : new int[] {1, 2}) {
                double rate = run(jpegs, p, aug, workers, seconds);
                System.out.printf(Locale.ROOT, "{\"source\": \"256x256 JPEG\", \"target\": \"%dx%dx3\", \"workers\": %d, "
                        + "\"images_per_s\": %.0f, \"images_per_s_per_worker\": %.0f}%n", size, size, workers, rate,
                        rate / workers);
            }
        }
    }

    static double run(List<byte[]> jpegs, Preprocessing p, Augmentation aug, int workers, double seconds)
            throws InterruptedException {
        AtomicLong done = new AtomicLong();
        long end = System.nanoTime() + (long) ((seconds + 0.5) * 1e9);
        long measureFrom = System.nanoTime() + 500_000_000L; // half a second of warm-up
        AtomicLong counted = new AtomicLong();
        List<Thread> threads = new ArrayList<>();
        for (int w = 0; w < workers; w++) {
            int id = w;
            Thread t = new Thread(() -> {
                ImageDecoder decoder = new ImageDecoder();
                float[] out = new float[p.sampleSize()];
                long i = id;
                while (System.nanoTime() < end) {
                    try {
                        decoder.decode(jpegs.get((int) (i % jpegs.size())), "bench", p, aug.draw(1, 0, i),
                                aug.fillMode(), out, 0);
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                    i += workers;
                    if (System.nanoTime() >= measureFrom) {
                        counted.incrementAndGet();
                    }
                    done.incrementAndGet();
                }
            });
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            t.join();
        }
        return counted.get() / seconds;
    }

    /** Real images as colour JPEGs of the given size (bilinear upscaling of 28x28 Fashion-MNIST). */
    static List<byte[]> jpegs(int n, int size) throws Exception {
        float[] x = Datasets.fashionMnistSample().trainX().data();
        List<byte[]> out = new ArrayList<>();
        for (int k = 0; k < n; k++) {
            BufferedImage small = new BufferedImage(28, 28, BufferedImage.TYPE_INT_RGB);
            for (int y = 0; y < 28; y++) {
                for (int c = 0; c < 28; c++) {
                    int v = Math.round(x[k * 784 + y * 28 + c] * 255);
                    small.setRGB(c, y, (v << 16) | ((255 - v) << 8) | (v / 2));
                }
            }
            BufferedImage big = new BufferedImage(size, size, BufferedImage.TYPE_INT_RGB);
            var g = big.createGraphics();
            g.setRenderingHint(RenderingHints.KEY_INTERPOLATION, RenderingHints.VALUE_INTERPOLATION_BILINEAR);
            g.drawImage(small, 0, 0, size, size, null);
            g.dispose();
            ByteArrayOutputStream bytes = new ByteArrayOutputStream();
            ImageIO.write(big, "jpg", bytes);
            out.add(bytes.toByteArray());
        }
        return out;
    }
}
