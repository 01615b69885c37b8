package dev.osprey.spark;

import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageDecoder;
import dev.osprey.data.images.Preprocessing;
import dev.osprey.serving.Predictor;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import javax.imageio.ImageIO;
import org.apache.spark.sql.SparkSession;

/**
 * Not a test: the benchmark behind benchmarks/run-spark.sh. Scores N PNG files (Fashion-MNIST's test images) with the
 * tutorial CNN through Spark local[THREADS] (binaryFile, OspreyPredictor, a no-op sink), and in one process through one
 * Predictor (files read and decoded on this thread, predicted in batches of 256), ROUNDS rounds interleaved.
 * Prints "RESULT round way images_per_s value". Usage: SparkThroughput N ROUNDS THREADS
 */
public final class SparkThroughput {
    public static void main(String[] args) throws Exception {
        int n = Integer.parseInt(args[0]);
        int rounds = Integer.parseInt(args[1]);
        int threads = Integer.parseInt(args[2]);
        Path dir = Files.createTempDirectory("osprey-spark-bench");
        Path model = dir.resolve("tutorial.osprey");
        try (Sequential m = Models.compiledTutorialCnn(Device.cpu())) {
            m.save(model);
        }
        LabeledData d = Datasets.fashionMnistSample();
        NDArray x = d.trainX();
        Path images = Files.createDirectories(dir.resolve("images"));
        List<Path> files = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            int row = i % x.rows();
            BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            byte[] pixels = ((java.awt.image.DataBufferByte) image.getRaster().getDataBuffer()).getData();
            for (int p = 0; p < 784; p++) {
                pixels[p] = (byte) Math.round(x.data()[row * 784 + p] * 255);
            }
            Path f = images.resolve(String.format("img%06d.png", i));
            ImageIO.write(image, "png", f.toFile());
            files.add(f);
        }
        SparkSession spark = SparkSession.builder().master("local[" + threads + "]").appName("osprey-spark-bench")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1")
                .config("spark.sql.files.openCostInBytes", "1")
                .config("spark.sql.files.minPartitionNum", String.valueOf(4 * threads)).getOrCreate();
        OspreyPredictor scorer = OspreyPredictor.load(spark, model).batchSize(256);
        Preprocessing p = Preprocessing.scaled(28, 28, Preprocessing.ColorMode.GRAYSCALE);
        try (Predictor predictor = Predictor.builder(model).maxBatchSize(256).build()) {
            for (int round = 1; round <= rounds; round++) {
                long start = System.nanoTime();
                scorer.transform(spark.read().format("binaryFile").load(images.toString()))
                        .write().format("noop").mode("overwrite").save();
                report(round, "spark_local" + threads, n, start);

                start = System.nanoTime();
                ImageDecoder decoder = new ImageDecoder();
                float[] batch = new float[256 * 784];
                for (int i = 0; i < n; i += 256) {
                    int rows = Math.min(256, n - i);
                    for (int j = 0; j < rows; j++) {
                        decoder.decode(Files.readAllBytes(files.get(i + j)), files.get(i + j).toString(), p,
                                Augmentation.Params.IDENTITY, Augmentation.FillMode.CONSTANT, batch, j * 784);
                    }
                    predictor.predict(new NDArray(java.util.Arrays.copyOf(batch, rows * 784), rows, 28, 28, 1));
                }
                report(round, "one_predictor", n, start);
            }
        } finally {
            spark.stop();
            ExecutorModels.closeIdle();
        }
    }

    private static void report(int round, String way, int n, long start) {
        System.out.printf("RESULT %d %s images_per_s %.0f%n", round, way, n / ((System.nanoTime() - start) / 1e9));
    }

    private SparkThroughput() {
    }
}
