package dev.osprey.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import dev.osprey.data.images.Augmentation;
import dev.osprey.data.images.ImageDecoder;
import dev.osprey.data.images.Preprocessing;
import java.awt.image.BufferedImage;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import javax.imageio.ImageIO;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Spark in local mode (local[2]) inside the normal test command: scoring through Spark equals predict, bit for bit. */
class OspreyPredictorTest {
    private static final int BATCH = 200; // divides 10,000: single-process predict then runs full batches only

    @TempDir
    static Path dir;
    static SparkSession spark;
    static Path modelFile;
    static Path images;
    static NDArray all;

    @BeforeAll
    static void startSparkAndWriteImages() throws Exception {
        spark = SparkSession.builder().master("local[2]").appName("osprey-spark-test")
                .config("spark.ui.enabled", "false")
                .config("spark.driver.host", "127.0.0.1")
                .config("spark.sql.shuffle.partitions", "2")
                .config("spark.sql.files.openCostInBytes", "1")   // partitions by bytes, not file count
                .config("spark.sql.files.minPartitionNum", "5")   // several tasks per executor thread
                .getOrCreate();
        modelFile = dir.resolve("tutorial.osprey");
        try (Sequential m = Models.compiledTutorialCnn(Device.cpu())) {
            m.save(modelFile);
        }
        LabeledData d = Datasets.fashionMnistSample(); // Fashion-MNIST's 10,000 test images
        all = concat(d.trainX(), d.testX());
        images = Files.createDirectories(dir.resolve("images"));
        for (int i = 0; i < all.rows(); i++) {
            BufferedImage image = new BufferedImage(28, 28, BufferedImage.TYPE_BYTE_GRAY);
            byte[] pixels = ((java.awt.image.DataBufferByte) image.getRaster().getDataBuffer()).getData();
            for (int p = 0; p < 784; p++) {
                pixels[p] = (byte) Math.round(all.data()[i * 784 + p] * 255);
            }
            ImageIO.write(image, "png", images.resolve(String.format("img%05d.png", i)).toFile());
        }
    }

    @AfterAll
    static void stopSpark() {
        if (spark != null) {
            spark.stop();
        }
        ExecutorModels.closeIdle();
    }

    @Test
    void tenThousandImagesScoredThroughSparkEqualSingleProcessPredictBitForBit() throws Exception {
        Files.write(images.resolve("zz-broken.png"), new byte[] {(byte) 0x89, 'P', 'N', 'G', 1, 2, 3});
        long loadsBefore = ExecutorModels.loads(); // other tests of the class may have loaded models before this one
        try {
            Dataset<Row> files = spark.read().format("binaryFile").load(images.toString());
            Dataset<Row> scored = OspreyPredictor.load(spark, modelFile).batchSize(BATCH).topK(2).transform(files);
            assertEquals(List.of("path", "modificationTime", "length", "label", "probability", "topK", "error"),
                    List.of(scored.columns()));
            assertTrue(files.rdd().getNumPartitions() >= 4, "partitions: " + files.rdd().getNumPartitions());
            List<Row> rows = scored.collectAsList();
            assertEquals(10_001, rows.size());

            // The reference: what `osprey predict --batch-size 200` computes, in one process.
            List<Path> paths = new ArrayList<>();
            try (var listing = Files.list(images)) {
                listing.filter(p -> !p.getFileName().toString().startsWith("zz")).sorted().forEach(paths::add);
            }
            float[] x = new float[paths.size() * 784];
            ImageDecoder decoder = new ImageDecoder();
            for (int i = 0; i < paths.size(); i++) {
                decoder.decode(Files.readAllBytes(paths.get(i)), paths.get(i).toString(),
                        Preprocessing.scaled(28, 28, Preprocessing.ColorMode.GRAYSCALE), Augmentation.Params.IDENTITY,
                        Augmentation.FillMode.CONSTANT, x, i * 784);
            }
            float[] expected;
            List<String> classes;
            try (Model m = Model.load(modelFile)) {
                expected = m.predict(new NDArray(x, paths.size(), 28, 28, 1), BATCH).data();
                classes = new ArrayList<>();
                for (int c = 0; c < 10; c++) {
                    classes.add(c < m.classNames().size() ? m.classNames().get(c) : "class " + c);
                }
            }
            Map<String, Integer> index = new HashMap<>();
            for (int i = 0; i < paths.size(); i++) {
                index.put(paths.get(i).getFileName().toString(), i);
            }
            int compared = 0;
            for (Row r : rows) {
                String name = Path.of(java.net.URI.create(r.getString(0))).getFileName().toString();
                if (name.startsWith("zz")) {
                    assertNull(r.get(3), "no label for a broken image");
                    assertNotNull(r.getString(6), "a broken image gets an error");
                    assertTrue(r.getString(6).contains("zz-broken.png"), r.getString(6));
                    continue;
                }
                int i = index.get(name);
                assertNull(r.get(6), name + ": " + r.get(6));
                int best = argMax(expected, i * 10, 10);
                assertEquals(classes.get(best), r.getString(3), name);
                assertEquals(Float.floatToIntBits(expected[i * 10 + best]), Float.floatToIntBits(r.getFloat(4)), name);
                List<Row> top = r.getList(5);
                assertEquals(2, top.size());
                assertEquals(r.getString(3), top.get(0).getString(0));
                compared++;
            }
            assertEquals(10_000, compared);
            // Every task leased the one model this executor loaded, and freed its plans when it ended.
            assertTrue(ExecutorModels.loads() - loadsBefore <= 1, "loads: " + (ExecutorModels.loads() - loadsBefore));
            assertEquals(0, ExecutorModels.planBytes(), "native plan memory left after the tasks ended");
        } finally {
            Files.delete(images.resolve("zz-broken.png"));
        }
    }

    /** Rows (id, features) of the first n images, their pixels as a list of floats. */
    private static List<Row> featureRows(int n) {
        List<Row> input = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<Float> sample = new ArrayList<>(784);
            for (int p = 0; p < 784; p++) {
                sample.add(all.data()[i * 784 + p]);
            }
            input.add(RowFactory.create((long) i, sample));
        }
        return input;
    }

    /** A classifier of logits (imported with class names, say): the probability column holds their softmax. */
    @Test
    void aClassifierOfLogitsIsScoredWithProbabilities() throws Exception {
        Path logitsFile = dir.resolve("logits.osprey");
        float[] expected;
        int n = 20;
        try (Sequential m = new Sequential(new dev.osprey.layers.Flatten().inputShape(28, 28, 1),
                new dev.osprey.layers.Dense(10))) {
            m.device(Device.cpu()).seed(5).classNames(Datasets.FASHION_MNIST_CLASSES).save(logitsFile);
            expected = m.predict(new NDArray(java.util.Arrays.copyOf(all.data(), n * 784), n, 28, 28, 1), n).data();
        }
        Model.softmaxRows(expected, 10);
        List<Row> input = featureRows(n);
        StructType schema = DataTypes.createStructType(List.of(
                DataTypes.createStructField("id", DataTypes.LongType, false),
                DataTypes.createStructField("features", DataTypes.createArrayType(DataTypes.FloatType, false), true)));
        List<Row> rows = OspreyPredictor.load(spark, logitsFile).inputCol("features").batchSize(8)
                .transform(spark.createDataFrame(input, schema)).collectAsList();
        assertEquals(n, rows.size());
        for (Row r : rows) {
            int i = (int) r.getLong(0);
            int best = argMax(expected, i * 10, 10);
            assertEquals(Datasets.FASHION_MNIST_CLASSES.get(best), r.getString(1), "row " + i);
            assertEquals(expected[i * 10 + best], r.getFloat(2), 1e-6f, "row " + i + ": a probability, not a logit");
        }
    }

    @Test
    void floatArraysAreScoredTooAndBadRowsGetAnErrorInsteadOfFailingTheJob() throws Exception {
        int n = 1000;
        List<Row> input = featureRows(n);
        List<Float> nan = new ArrayList<>(java.util.Collections.nCopies(784, 0f));
        nan.set(5, Float.NaN);
        input.add(RowFactory.create(-1L, nan));
        input.add(RowFactory.create(-2L, List.of(1f, 2f)));
        StructType schema = DataTypes.createStructType(List.of(
                DataTypes.createStructField("id", DataTypes.LongType, false),
                DataTypes.createStructField("features", DataTypes.createArrayType(DataTypes.FloatType, false), true)));
        Dataset<Row> df = spark.createDataFrame(input, schema).repartition(3);
        List<Row> rows = OspreyPredictor.load(spark, modelFile).inputCol("features").batchSize(BATCH).transform(df)
                .collectAsList();
        assertEquals(n + 2, rows.size());
        float[] expected;
        try (Model m = Model.load(modelFile)) {
            expected = m.predict(new NDArray(java.util.Arrays.copyOf(all.data(), n * 784), n, 28, 28, 1), BATCH).data();
        }
        for (Row r : rows) {
            long id = r.getLong(0);
            if (id == -1) {
                assertTrue(r.getString(4).contains("value 5 is NaN: expected finite numbers"), r.getString(4));
            } else if (id == -2) {
                assertEquals("expected 784 values (a sample of the model's input), received 2", r.getString(4));
            } else {
                int i = (int) id;
                int best = argMax(expected, i * 10, 10);
                assertEquals(Float.floatToIntBits(expected[i * 10 + best]), Float.floatToIntBits(r.getFloat(2)),
                        "row " + i);
            }
        }
        assertEquals(0, ExecutorModels.planBytes());
    }

    @Test
    void aColumnOfTheWrongKindIsRefusedOnTheDriverWithWhatWasExpected() throws Exception {
        Dataset<Row> df = spark.createDataFrame(List.of(RowFactory.create("a")), DataTypes.createStructType(List.of(
                DataTypes.createStructField("content", DataTypes.StringType, true))));
        OspreyPredictor p = OspreyPredictor.load(spark, modelFile);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> p.transform(df));
        assertEquals("OspreyPredictor: expected column 'content' to hold image bytes (binary) or samples "
                + "(array<float> or array<double>), received string", e.getMessage());
        IllegalArgumentException missing = assertThrows(IllegalArgumentException.class,
                () -> p.inputCol("pixels").transform(df));
        assertTrue(missing.getMessage().contains("expected an input column 'pixels'"), missing.getMessage());
    }

    private static int argMax(float[] p, int offset, int n) {
        int best = 0;
        for (int c = 1; c < n; c++) {
            if (p[offset + c] > p[offset + best]) {
                best = c;
            }
        }
        return best;
    }

    private static NDArray concat(NDArray a, NDArray b) {
        float[] x = java.util.Arrays.copyOf(a.data(), a.data().length + b.data().length);
        System.arraycopy(b.data(), 0, x, a.data().length, b.data().length);
        return new NDArray(x, a.rows() + b.rows(), 28, 28, 1);
    }
}
