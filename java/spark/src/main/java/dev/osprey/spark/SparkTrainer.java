package dev.osprey.spark;

import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.backend.Device;
import dev.osprey.engine.parallel.Communicator;
import dev.osprey.io.ModelFile;
import java.io.IOException;
import java.io.Serializable;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.Collections;
import java.util.Iterator;
import java.util.List;
import org.apache.spark.BarrierTaskContext;
import org.apache.spark.api.java.JavaRDD;
import org.apache.spark.api.java.JavaSparkContext;
import org.apache.spark.broadcast.Broadcast;
import org.apache.spark.sql.Dataset;
import org.apache.spark.sql.Row;
import org.apache.spark.sql.SparkSession;

/**
 * Data-parallel training across Spark tasks in barrier execution mode: one task per device (one per GPU on a GPU
 * cluster), all started together. Each task reads its own partition, loads the same starting model, and trains it
 * as one rank of a communicator whose token rank 0 made and {@code BarrierTaskContext.allGather} handed round; the
 * global batch of a step is every rank's batch, one after the other. Every rank trains on as many rows as the
 * smallest partition holds (the others' extra rows are left out, as PyTorch's DistributedSampler with drop_last does),
 * so every rank takes the same number of steps. Rank 0's trained model comes back to the driver.
 */
public final class SparkTrainer {
    /** fit's settings that travel to the tasks: epochs, batch rows per task, seed, shuffling of each task's rows. */
    public record Settings(int epochs, int batchSizePerTask, long seed, boolean shuffle) implements Serializable {
        public Settings {
            if (epochs <= 0 || batchSizePerTask <= 0) {
                throw new IllegalArgumentException("SparkTrainer: expected epochs > 0 and a batch size > 0, received "
                        + epochs + " and " + batchSizePerTask);
            }
        }
    }

    private SparkTrainer() {
    }

    /**
     * Trains the compiled model in startingModel (a model file's bytes) on data's rows, a column of samples (arrays of
     * floats or doubles, the model's input size) and a column of labels (as the model's loss takes them: class
     * indices), in {@code tasks} barrier tasks. Returns the trained model, on the automatic device.
     */
    public static Model fit(SparkSession spark, Dataset<Row> data, String featuresCol, String labelCol,
                            byte[] startingModel, Settings settings, int tasks, CommunicatorFactory communicators)
            throws IOException {
        if (tasks <= 0) {
            throw new IllegalArgumentException("SparkTrainer: expected tasks > 0, received " + tasks);
        }
        if (communicators instanceof LocalRendezvous && !spark.sparkContext().isLocal()) {
            throw new IllegalArgumentException("SparkTrainer: LocalRendezvous joins ranks inside one JVM and needs "
                    + "Spark's local mode; this master is " + spark.sparkContext().master());
        }
        JavaRDD<Row> rows = data.select(featuresCol, labelCol).javaRDD();
        if (rows.getNumPartitions() != tasks) {
            rows = rows.repartition(tasks);
        }
        Broadcast<byte[]> model = JavaSparkContext.fromSparkContext(spark.sparkContext()).broadcast(startingModel);
        List<byte[]> results = rows.rdd().barrier().mapPartitions(new RankTraining(model, settings, communicators),
                false, scala.reflect.ClassTag$.MODULE$.apply(byte[].class)).toJavaRDD().collect();
        for (byte[] r : results) {
            if (r.length > 0) {
                return ModelFile.fromBytes(r, Device.auto());
            }
        }
        throw new IllegalStateException("SparkTrainer: rank 0 returned no model");
    }

    /** One barrier task: a rank of the training. */
    private static final class RankTraining extends scala.runtime.AbstractFunction1<scala.collection.Iterator<Row>,
            scala.collection.Iterator<byte[]>> implements Serializable {
        private static final long serialVersionUID = 1L;
        private final Broadcast<byte[]> model;
        private final Settings settings;
        private final CommunicatorFactory communicators;

        RankTraining(Broadcast<byte[]> model, Settings settings, CommunicatorFactory communicators) {
            this.model = model;
            this.settings = settings;
            this.communicators = communicators;
        }

        @Override
        public scala.collection.Iterator<byte[]> apply(scala.collection.Iterator<Row> partition) {
            BarrierTaskContext context = BarrierTaskContext.get();
            int rank = context.partitionId();
            int ranks = context.getTaskInfos().length;
            List<float[]> samples = new ArrayList<>();
            List<Float> labels = new ArrayList<>();
            Iterator<Row> rows = scala.jdk.javaapi.CollectionConverters.asJava(partition);
            while (rows.hasNext()) {
                Row r = rows.next();
                List<Object> values = r.getList(0);
                float[] x = new float[values.size()];
                for (int i = 0; i < x.length; i++) {
                    x[i] = ((Number) values.get(i)).floatValue();
                }
                samples.add(x);
                labels.add(((Number) r.get(1)).floatValue());
            }
            // Rank 0's token and every rank's row count, to all ranks at once.
            String token = rank == 0 ? communicators.newToken(ranks) : "";
            String[] gathered = context.allGather(token + " " + samples.size());
            String shared = gathered[0].substring(0, gathered[0].lastIndexOf(' '));
            int usable = Integer.MAX_VALUE;
            for (String g : gathered) {
                usable = Math.min(usable, Integer.parseInt(g.substring(g.lastIndexOf(' ') + 1)));
            }
            if (usable == 0) {
                throw new IllegalArgumentException("SparkTrainer: a partition holds no rows; every task needs data");
            }
            Device device = TaskDevices.of(context);
            Communicator communicator = communicators.join(shared, rank, ranks, device);
            try (Model m = ModelFile.fromBytes(model.value(), device)) {
                NDArray x = stack(samples, usable, m);
                float[] y = new float[usable];
                for (int i = 0; i < usable; i++) {
                    y[i] = labels.get(i);
                }
                m.fit(x, new NDArray(y, usable), FitOptions.defaults().epochs(settings.epochs())
                        .batchSize(settings.batchSizePerTask()).seed(settings.seed()).shuffle(settings.shuffle())
                        .verbose(false).distributed(communicator, rank));
                context.barrier();
                byte[] out = rank == 0 ? ModelFile.toBytes(m) : new byte[0];
                return scala.jdk.javaapi.CollectionConverters.asScala(Collections.singletonList(out).iterator());
            } catch (IOException e) {
                throw new UncheckedIOException(e);
            } finally {
                communicators.leave(shared, rank);
            }
        }

        private static NDArray stack(List<float[]> samples, int n, Model m) {
            int size = m.inputShape().size();
            float[] x = new float[Math.multiplyExact(n, size)];
            for (int i = 0; i < n; i++) {
                float[] s = samples.get(i);
                if (s.length != size) {
                    throw new IllegalArgumentException("SparkTrainer: expected samples of " + size + " values (the "
                            + "model's input " + m.inputShape() + "), received " + s.length + " in row " + i);
                }
                System.arraycopy(s, 0, x, i * size, size);
            }
            int[] shape = new int[m.inputShape().rank() + 1];
            shape[0] = n;
            System.arraycopy(m.inputShape().dims(), 0, shape, 1, shape.length - 1);
            return new NDArray(x, shape);
        }
    }
}
