package dev.osprey.engine.parallel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.FitOptions;
import dev.osprey.History;
import dev.osprey.Input;
import dev.osprey.NDArray;
import dev.osprey.Regularizer;
import dev.osprey.Sequential;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Tensor;
import dev.osprey.callbacks.Callback;
import dev.osprey.callbacks.Training;
import dev.osprey.engine.Graph;
import dev.osprey.engine.Network;
import dev.osprey.layers.BatchNormalization;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Dropout;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.ReLU;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import dev.osprey.optim.Optimizer;
import dev.osprey.optim.SGD;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Data-parallel training on N replicas of the CPU backend, summing through host memory: the code path a multi-GPU
 * training takes, with the CPU standing in for the GPUs. N replicas must train to the weights one device reaches with
 * the same global batch.
 */
class DataParallelTest {
    private static final Backend CPU = Device.cpu().backend();

    /** Conv, dropout, an L2 penalty, uneven shards and a short last batch: everything but BatchNorm. */
    private static Sequential withDropout(Supplier<Optimizer> optimizer) {
        return new Sequential(
                new Conv2D(4, 3, Activation.RELU).inputShape(6, 6, 1),
                new Flatten(),
                new Dropout(0.3),
                new Dense(3, Activation.SOFTMAX).kernelRegularizer(Regularizer.l2(0.01)))
                .device(Device.cpu())
                .compile(optimizer.get(), Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY, Metric.PRECISION,
                        Metric.MEAN_ABSOLUTE_ERROR);
    }

    @ParameterizedTest
    @ValueSource(ints = {1, 2, 4})
    void replicasTrainToTheWeightsOfOneDeviceWithTheSameGlobalBatch(int replicas) {
        NDArray[] d = blobs(37, 3);
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(3).batchSize(12).seed(11).verbose(false);
        for (Supplier<Optimizer> optimizer : List.<Supplier<Optimizer>>of(() -> new SGD(0.1, 0.9, false),
                () -> new Adam(0.01),
                // loss scaling that overflows at first and grows fast: every replica must skip the same steps
                () -> new dev.osprey.optim.LossScaleOptimizer(new Adam(0.01), 0x1p64, 2))) {
            try (Sequential one = withDropout(optimizer); Sequential many = withDropout(optimizer)) {
                History expected = one.fit(d[0], d[1], options.get());
                History actual = many.fit(d[0], d[1], options.get().devices(cpus(replicas)));
                assertClose(one.getWeights(), many.getWeights(), 2e-5, replicas + " replicas");
                for (String log : List.of("loss", "accuracy", "precision", "mae")) {
                    List<Double> e = expected.get(log);
                    List<Double> a = actual.get(log);
                    for (int i = 0; i < e.size(); i++) {
                        assertEquals(e.get(i), a.get(i), 1e-5, log + " of epoch " + (i + 1) + " on " + replicas
                                + " replicas");
                    }
                }
            }
        }
    }

    /**
     * Loss scaling carries over from one fit to the next: a first fit on one device overflows at 2^64 and lowers the
     * scale; a second fit on two replicas must start them both at that scale (the new replica follows replica 0), or
     * their summed gradients would mix scales and part from one device doing the same two fits.
     */
    @Test
    void replicasMadeForALaterFitTakeTheLossScaleReached() {
        NDArray[] d = blobs(37, 7);
        Supplier<Optimizer> scaled = () -> new dev.osprey.optim.LossScaleOptimizer(new Adam(0.01), 0x1p64, 1000);
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(2).batchSize(12).seed(5).verbose(false);
        try (Sequential one = withDropout(scaled); Sequential many = withDropout(scaled)) {
            one.fit(d[0], d[1], options.get());
            many.fit(d[0], d[1], options.get());
            one.fit(d[0], d[1], options.get());
            many.fit(d[0], d[1], options.get().devices(cpus(2)));
            assertClose(one.getWeights(), many.getWeights(), 2e-5, "2 replicas after a first fit on one device");
        }
    }

    /**
     * A callback that sets the model's weights between steps (here halving them after the first epoch) changes replica
     * 0, the model's own; every other replica must take the new weights before the next step, or the replicas train
     * apart from each other and from one device.
     */
    @Test
    void weightsSetByACallbackReachEveryReplica() {
        NDArray[] d = blobs(37, 5);
        Callback halveAfterFirstEpoch = new Callback() {
            @Override
            public void onEpochEnd(int epoch, Map<String, Double> logs, Training training) {
                if (epoch == 0) {
                    List<NDArray> halved = new ArrayList<>();
                    for (NDArray w : training.model().getWeights()) {
                        float[] v = w.data().clone();
                        for (int i = 0; i < v.length; i++) {
                            v[i] *= 0.5f;
                        }
                        halved.add(new NDArray(v, w.shape()));
                    }
                    training.model().setWeights(halved);
                }
            }
        };
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(3).batchSize(12).seed(3).verbose(false)
                .callbacks(halveAfterFirstEpoch);
        try (Sequential one = withDropout(() -> new SGD(0.1, 0.9, false));
             Sequential many = withDropout(() -> new SGD(0.1, 0.9, false))) {
            one.fit(d[0], d[1], options.get());
            many.fit(d[0], d[1], options.get().devices(cpus(2)));
            assertClose(one.getWeights(), many.getWeights(), 2e-5, "2 replicas after a callback set the weights");
        }
    }

    /**
     * BatchNorm normalizes with each replica's own batch (DDP's semantics): on data whose shards are copies of one
     * another, every shard's statistics are the whole batch's, so N replicas must still match one device exactly,
     * moving statistics included (taken from replica 0).
     */
    @ParameterizedTest
    @ValueSource(ints = {2, 4})
    void batchNormalizesPerReplicaAndKeepsReplicaZerosMovingStatistics(int replicas) {
        NDArray[] base = blobs(4, 7);
        int copies = 4;
        float[] x = new float[copies * base[0].data().length];
        float[] y = new float[copies * base[1].data().length];
        for (int c = 0; c < copies; c++) {
            System.arraycopy(base[0].data(), 0, x, c * base[0].data().length, base[0].data().length);
            System.arraycopy(base[1].data(), 0, y, c * base[1].data().length, base[1].data().length);
        }
        NDArray samples = new NDArray(x, 16, 6, 6, 1);
        NDArray labels = new NDArray(y, 16);
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(4).batchSize(16).shuffle(false)
                .verbose(false);
        Supplier<Sequential> model = () -> new Sequential(
                new Conv2D(4, 3).inputShape(6, 6, 1), new BatchNormalization(), new ReLU(), new Flatten(),
                new Dense(3, Activation.SOFTMAX))
                .device(Device.cpu()).compile(new SGD(0.1, 0.9, false), Loss.sparseCategoricalCrossentropy());
        try (Sequential one = model.get(); Sequential many = model.get()) {
            one.fit(samples, labels, options.get());
            many.fit(samples, labels, options.get().devices(cpus(replicas)));
            assertClose(one.getWeights(), many.getWeights(), 2e-5, replicas + " replicas with BatchNorm");
        }
    }

    /**
     * Ranks in separate threads, each with its own model and its own data (as Spark's barrier tasks are), train to
     * what one device reaches on the global batches: each rank's batch after the other's.
     */
    @Test
    @Timeout(120) // a guard against a hang, not an ordering
    void ranksWithTheirOwnDataTrainAsOneDeviceOnTheirBatchesJoined() throws Exception {
        int ranks = 2;
        int local = 6;
        int perRank = 18; // three batches each
        NDArray[] d = blobs(ranks * perRank, 5);
        float[] joinedX = new float[d[0].data().length];
        float[] joinedY = new float[d[1].data().length];
        int row = 0;
        for (int batch = 0; batch < perRank / local; batch++) {
            for (int r = 0; r < ranks; r++) {
                for (int i = 0; i < local; i++, row++) {
                    int from = r * perRank + batch * local + i;
                    System.arraycopy(d[0].data(), from * 36, joinedX, row * 36, 36);
                    joinedY[row] = d[1].data()[from];
                }
            }
        }
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(2).shuffle(false).seed(11).verbose(false);
        try (Sequential one = withDropout(() -> new SGD(0.1, 0.9, false))) {
            one.fit(new NDArray(joinedX, ranks * perRank, 6, 6, 1), new NDArray(joinedY, ranks * perRank),
                    options.get().batchSize(local * ranks));
            List<List<NDArray>> weights = new ArrayList<>();
            Throwable[] errors = new Throwable[ranks];
            try (HostCommunicator communicator = new HostCommunicator(List.of(CPU, CPU))) {
                Thread[] threads = new Thread[ranks];
                for (int r = 0; r < ranks; r++) {
                    weights.add(null);
                    int rank = r;
                    threads[r] = new Thread(() -> {
                        try (Sequential replica = withDropout(() -> new SGD(0.1, 0.9, false))) {
                            replica.fit(d[0].slice(rank * perRank, (rank + 1) * perRank),
                                    d[1].slice(rank * perRank, (rank + 1) * perRank),
                                    options.get().batchSize(local).distributed(communicator, rank));
                            weights.set(rank, replica.getWeights());
                        } catch (Throwable e) {
                            errors[rank] = e;
                        }
                    });
                    threads[r].start();
                }
                for (Thread t : threads) {
                    t.join();
                }
            }
            for (Throwable e : errors) {
                if (e != null) {
                    throw new AssertionError(e);
                }
            }
            assertClose(weights.get(0), weights.get(1), 0, "rank 1 against rank 0");
            assertClose(one.getWeights(), weights.get(0), 2e-5, "2 ranks against one device");
        }
    }

    /**
     * Ranks in separate processes keep their own loss scale: a rank whose scale an earlier step lowered (one batch
     * alone, which overflowed at 2^64 and was skipped: weights unchanged) and a fresh one must start the joint fit at
     * rank 0's scale, or their summed gradients mix scales and the ranks' weights part. And every rank must scale the
     * loss or none: a rank without scaling is refused on every rank, with the reason.
     */
    @Test
    @Timeout(120) // a guard against a hang, not an ordering
    void ranksInSeparateProcessesStartFromRankZerosLossScaleAndAllScaleOrNone() throws Exception {
        NDArray[] d = blobs(24, 9);
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(2).batchSize(6).shuffle(false).seed(4)
                .verbose(false);
        Supplier<Optimizer> scaled = () -> new dev.osprey.optim.LossScaleOptimizer(new Adam(0.01), 0x1p64, 1000);
        Object[] aligned = twoRanks(d, options, List.of(scaled, scaled), rank -> rank == 1);
        assertClose((List<NDArray>) aligned[0], (List<NDArray>) aligned[1], 0, "rank 1 against rank 0");

        Object[] mixed = twoRanks(d, options, List.of(scaled, () -> new Adam(0.01)), rank -> false);
        for (int rank = 0; rank < 2; rank++) {
            Throwable e = (Throwable) mixed[rank];
            while (e != null && !(e instanceof IllegalStateException)) {
                e = e.getCause();
            }
            assertTrue(e != null && e.getMessage().contains("1 of 2 ranks scale the loss"), "rank " + rank + ": "
                    + mixed[rank]);
        }
    }

    /**
     * Two ranks in threads, each with its own model (optimizers.get(rank)) and half of d, fitting through one host
     * communicator; a rank for which trainAloneFirst is true first takes one batch alone, which must be skipped (an
     * overflow). Returns per rank its weights
     * after the joint fit, or what it threw.
     */
    private static Object[] twoRanks(NDArray[] d, Supplier<FitOptions> options, List<Supplier<Optimizer>> optimizers,
                                     java.util.function.IntPredicate trainAloneFirst) throws Exception {
        Object[] out = new Object[2];
        int half = d[0].rows() / 2;
        try (HostCommunicator communicator = new HostCommunicator(List.of(CPU, CPU))) {
            Thread[] threads = new Thread[2];
            for (int r = 0; r < 2; r++) {
                int rank = r;
                threads[r] = new Thread(() -> {
                    try (Sequential replica = withDropout(optimizers.get(rank))) {
                        NDArray x = d[0].slice(rank * half, (rank + 1) * half);
                        NDArray y = d[1].slice(rank * half, (rank + 1) * half);
                        if (trainAloneFirst.test(rank)) {
                            replica.trainOnBatch(x.slice(0, 6), y.slice(0, 6));
                            if (replica.optimizerState().iterations() != 0) {
                                throw new AssertionError("expected the lone step to overflow and be skipped");
                            }
                        }
                        replica.fit(x, y, options.get().distributed(communicator, rank));
                        out[rank] = replica.getWeights();
                    } catch (Throwable e) {
                        out[rank] = e;
                        communicator.abort(rank, e);
                    }
                });
                threads[r].start();
            }
            for (Thread t : threads) {
                t.join();
            }
        }
        return out;
    }

    @Test
    void theFirstDeviceMustBeTheModelsOwn() {
        NDArray[] d = blobs(8, 1);
        try (Sequential m = withDropout(() -> new SGD(0.1))) {
            // Without a GPU, naming one fails first; with one, the model (on the CPU) must come first.
            RuntimeException e = assertThrows(RuntimeException.class,
                    () -> m.fit(d[0], d[1], FitOptions.defaults().verbose(false).devices("cuda:0", "cpu")));
            assertTrue(e.getMessage().contains("model's own device (cpu) first")
                    || e.getMessage().contains("device cuda:0 was asked for, but"), e.getMessage());
            assertThrows(IllegalArgumentException.class, () -> FitOptions.defaults().devices());
            IllegalArgumentException bad = assertThrows(IllegalArgumentException.class,
                    () -> m.fit(d[0], d[1], FitOptions.defaults().verbose(false).devices("cpu", "tpu:0")));
            assertTrue(bad.getMessage().contains("received 'tpu:0'"), bad.getMessage());
        }
    }

    @Test
    void devicesAllOnAMachineWithoutGpusTrainsOnTheModelsDeviceAlone() {
        NDArray[] d = blobs(20, 4);
        Supplier<FitOptions> options = () -> FitOptions.defaults().epochs(1).batchSize(8).seed(3).verbose(false);
        try (Sequential one = withDropout(() -> new SGD(0.1)); Sequential all = withDropout(() -> new SGD(0.1))) {
            one.fit(d[0], d[1], options.get());
            all.fit(d[0], d[1], options.get().devices(FitOptions.ALL_DEVICES));
            assertClose(one.getWeights(), all.getWeights(), 0, "devices(all) without a GPU");
        }
    }

    /** A replica that fails stops the step on every replica, with an error naming it; nobody waits forever. */
    @Test
    @Timeout(60) // a guard against a hang, not an ordering
    void aReplicaThatFailsAbortsTheWholeStepWithAClearError() {
        Input in = Input.shape(4);
        SymbolicTensor out = new Dense(2, Activation.SOFTMAX).apply(in);
        Graph graph = new Graph(List.of(in), List.of(out));
        Loss loss = Loss.sparseCategoricalCrossentropy();
        List<DataParallel.Replica> replicas = new ArrayList<>();
        for (int i = 0; i < 3; i++) {
            Network n = new Network(graph, CPU);
            n.parameters().initialize(1);
            Optimizer.Updater u = n.bindOptimizer(memory -> new SGD(0.1).bind(CPU, memory,
                    n.parameters().trainableArena(), n.parameters().gradientArena(), null));
            n.trainWith(loss);
            replicas.add(new DataParallel.Replica(n, u));
        }
        HostCommunicator host = new HostCommunicator(List.of(CPU, CPU, CPU));
        Communicator failing = new Communicator() { // rank 1's link breaks; the others are fine
            @Override
            public int size() {
                return host.size();
            }

            @Override
            public void allReduceSum(int rank, Tensor data) {
                if (rank == 1) {
                    throw new IllegalStateException("link to device 1 lost");
                }
                host.allReduceSum(rank, data);
            }

            @Override
            public void broadcast(int rank, Tensor data, int root) {
                host.broadcast(rank, data, root);
            }

            @Override
            public void abort(int rank, Throwable cause) {
                host.abort(rank, cause);
            }

            @Override
            public void close() {
                host.close();
            }
        };
        try (DataParallel parallel = new DataParallel(replicas, failing, loss, false)) {
            float[] x = new float[6 * 4];
            Arrays.fill(x, 0.5f);
            float[] targets = new float[6 * 2];
            for (int r = 0; r < 6; r++) {
                targets[r * 2 + r % 2] = 1f;
            }
            parallel.load(x, targets, 2, 6);
            ReplicaFailedException e = assertThrows(ReplicaFailedException.class, () -> parallel.step(1));
            assertEquals(1, e.rank());
            assertEquals("data-parallel training stopped: replica 1 of 3 failed: link to device 1 lost", e.getMessage());
            IllegalStateException again = assertThrows(IllegalStateException.class, () -> parallel.step(2));
            assertTrue(again.getMessage().contains("failed earlier"), again.getMessage());
        } finally {
            replicas.get(0).network().close();
        }
    }

    /** A rank that never arrives fails the collective after the timeout, named, instead of hanging every other rank. */
    @Test
    @Timeout(60) // a guard against a hang, not an ordering
    void aRankThatNeverArrivesFailsTheCollectiveAfterTheTimeout() {
        try (HostCommunicator c = new HostCommunicator(List.of(CPU, CPU, CPU), java.time.Duration.ofMillis(200));
             dev.osprey.backend.Memory memory = CPU.newMemory()) {
            Tensor t = memory.allocate(4);
            ReplicaFailedException e = assertThrows(ReplicaFailedException.class, () -> c.allReduceSum(0, t));
            assertEquals(1, e.rank());
            assertTrue(e.getMessage().contains("for rank(s) [1, 2] of 3, which did not arrive"), e.getMessage());
            // the communicator stays failed: a late rank learns it at once instead of waiting for the others
            ReplicaFailedException late = assertThrows(ReplicaFailedException.class, () -> c.allReduceSum(2, t));
            assertEquals(1, late.rank());
        }
    }

    @Test
    @Timeout(60)
    void theHostCommunicatorSumsInRankOrderAndBroadcastsTheRoots() throws Exception {
        int ranks = 3;
        try (HostCommunicator c = new HostCommunicator(List.of(CPU, CPU, CPU));
             dev.osprey.backend.Memory memory = CPU.newMemory()) {
            Tensor[] t = new Tensor[ranks];
            for (int r = 0; r < ranks; r++) {
                t[r] = memory.allocate(3);
                CPU.copyIn(new float[] {r, 10 * r, 1e8f * (r == 0 ? 1 : 0) + 1}, 0, t[r]);
            }
            Thread[] threads = new Thread[ranks];
            Throwable[] errors = new Throwable[ranks];
            for (int r = 0; r < ranks; r++) {
                int rank = r;
                threads[r] = new Thread(() -> {
                    try {
                        c.allReduceSum(rank, t[rank]);
                        c.broadcast(rank, t[rank], 2);
                    } catch (Throwable e) {
                        errors[rank] = e;
                    }
                });
                threads[r].start();
            }
            for (Thread th : threads) {
                th.join();
            }
            for (int r = 0; r < ranks; r++) {
                assertEquals(null, errors[r]);
                float[] v = new float[3];
                CPU.copyOut(t[r], v, 0);
                // rank order: (1e8 + 1) + 1 + 1 rounds to 1e8 in fp32 at each step, the same bits on every run
                assertEquals(List.of(3f, 30f, (1e8f + 1f) + 1f + 1f), List.of(v[0], v[1], v[2]));
            }
        }
    }

    @Test
    @Timeout(60)
    void anAbortWakesTheRanksWaitingInACollective() throws Exception {
        try (HostCommunicator c = new HostCommunicator(List.of(CPU, CPU));
             dev.osprey.backend.Memory memory = CPU.newMemory()) {
            Tensor t = memory.allocate(2);
            Throwable[] seen = new Throwable[1];
            Thread waiter = new Thread(() -> {
                try {
                    c.allReduceSum(0, t);
                } catch (Throwable e) {
                    seen[0] = e;
                }
            });
            waiter.start();
            c.abort(1, new IllegalStateException("out of memory on device 1"));
            waiter.join();
            assertTrue(seen[0] instanceof ReplicaFailedException, String.valueOf(seen[0]));
            assertEquals("data-parallel training stopped: replica 1 of 2 failed: out of memory on device 1",
                    seen[0].getMessage());
        }
    }

    @Test
    void cpuReplicasSumThroughHostMemory() {
        try (Communicator c = CollectiveProvider.best(List.of(CPU, CPU))) {
            assertTrue(c instanceof HostCommunicator, c.getClass().getName());
            assertEquals(2, c.size());
        }
    }

    @Test
    void shardsAreContiguousAndAsEvenAsPossible() {
        assertEquals(List.of(4, 3, 3), List.of(DataParallel.shard(10, 3, 0), DataParallel.shard(10, 3, 1),
                DataParallel.shard(10, 3, 2)));
        assertEquals(List.of(1, 1, 0, 0), List.of(DataParallel.shard(2, 4, 0), DataParallel.shard(2, 4, 1),
                DataParallel.shard(2, 4, 2), DataParallel.shard(2, 4, 3)));
    }

    private static String[] cpus(int n) {
        String[] names = new String[n];
        Arrays.fill(names, "cpu");
        return names;
    }

    private static void assertClose(List<NDArray> expected, List<NDArray> actual, double tolerance, String what) {
        assertEquals(expected.size(), actual.size());
        double worst = 0;
        for (int i = 0; i < expected.size(); i++) {
            float[] e = expected.get(i).data();
            float[] a = actual.get(i).data();
            assertEquals(e.length, a.length);
            for (int j = 0; j < e.length; j++) {
                worst = Math.max(worst, Math.abs(e[j] - a[j]) / Math.max(1, Math.abs(e[j])));
            }
        }
        assertTrue(worst <= tolerance, what + ": weights differ from one device's by " + worst + " (relative)");
    }

    private static NDArray[] blobs(int n, long seed) {
        return dev.osprey.testing.Blobs.of(n, seed);
    }
}
