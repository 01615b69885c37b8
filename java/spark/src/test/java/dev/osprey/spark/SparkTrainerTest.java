package dev.osprey.spark;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Sequential;
import dev.osprey.backend.Device;
import dev.osprey.io.ModelFile;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.loss.Loss;
import dev.osprey.optim.SGD;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.RowFactory;
import org.apache.spark.sql.SparkSession;
import org.apache.spark.sql.types.DataTypes;
import org.apache.spark.sql.types.StructType;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The multi-node bootstrap in Spark's local mode: two barrier tasks, each with its own partition, join one
 * communicator through allGather and train to the weights one device reaches on their batches joined.
 */
class SparkTrainerTest {
    static SparkSession spark;

    @BeforeAll
    static void startSpark() {
        spark = SparkSession.builder().master("local[2]").appName("osprey-spark-trainer-test")
                .config("spark.ui.enabled", "false").config("spark.driver.host", "127.0.0.1").getOrCreate();
    }

    @AfterAll
    static void stopSpark() {
        spark.stop();
    }

    private static Sequential model() {
        return new Sequential(new Conv2D(4, 3, Activation.RELU).inputShape(6, 6, 1), new Flatten(), new Dropout(0.3),
                new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).compile(new SGD(0.1, 0.9, false), Loss.sparseCategoricalCrossentropy());
    }

    @Test
    void twoBarrierTasksTrainAsOneDeviceOnTheirBatchesJoined() throws Exception {
        int tasks = 2;
        int local = 6;
        int perTask = 18;
        Random r = new Random(5);
        float[][] x = new float[tasks * perTask][36];
        float[] y = new float[tasks * perTask];
        List<Row> rows = new ArrayList<>();
        for (int i = 0; i < x.length; i++) {
            int c = r.nextInt(3);
            y[i] = c;
            for (int j = 0; j < 36; j++) {
                x[i][j] = (float) (r.nextGaussian() * 0.3) + (j / 6 == 2 * c ? 1f : 0f);
            }
            rows.add(RowFactory.create(x[i].clone(), (float) c));
        }
        StructType schema = DataTypes.createStructType(List.of(
                DataTypes.createStructField("features", DataTypes.createArrayType(DataTypes.FloatType, false), false),
                DataTypes.createStructField("label", DataTypes.FloatType, false)));
        // parallelize slices contiguously: task 0 gets rows 0-17, task 1 rows 18-35
        Dataset<Row> data = spark.createDataFrame(
                JavaSparkContext.fromSparkContext(spark.sparkContext()).parallelize(rows, tasks), schema);
        byte[] start;
        try (Sequential m = model()) {
            start = ModelFile.toBytes(m);
        }
        List<NDArray> trained;
        try (Model m = SparkTrainer.fit(spark, data, "features", "label", start,
                new SparkTrainer.Settings(2, local, 11, false), tasks, new LocalRendezvous())) {
            trained = m.getWeights();
        }
        assertEquals(0, LocalRendezvous.openSessions(), "every rank left its session");

        // One device, each global batch being task 0's batch then task 1's.
        float[] joinedX = new float[x.length * 36];
        float[] joinedY = new float[y.length];
        int row = 0;
        for (int batch = 0; batch < perTask / local; batch++) {
            for (int t = 0; t < tasks; t++) {
                for (int i = 0; i < local; i++, row++) {
                    int from = t * perTask + batch * local + i;
                    System.arraycopy(x[from], 0, joinedX, row * 36, 36);
                    joinedY[row] = y[from];
                }
            }
        }
        try (Sequential one = model()) {
            one.fit(new NDArray(joinedX, x.length, 6, 6, 1), new NDArray(joinedY, y.length),
                    FitOptions.defaults().epochs(2).batchSize(local * tasks).seed(11).shuffle(false).verbose(false));
            List<NDArray> expected = one.getWeights();
            double worst = 0;
            for (int i = 0; i < expected.size(); i++) {
                for (int j = 0; j < expected.get(i).data().length; j++) {
                    worst = Math.max(worst, Math.abs(expected.get(i).data()[j] - trained.get(i).data()[j]));
                }
            }
            assertTrue(worst < 2e-5, "2 Spark tasks against one device: weights differ by " + worst);
        }
    }

    @Test
    void localRendezvousNeedsLocalModeAndTasksNeedRows() {
        assertThrows(IllegalArgumentException.class, () -> new SparkTrainer.Settings(0, 8, 1, true));
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> new LocalRendezvous().join("nccl:abc", 0, 2, Device.cpu()));
        assertTrue(e.getMessage().contains("expected a token it made"), e.getMessage());
    }
}
