package dev.osprey.engine.parallel;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.ExecutionPlan;
import dev.osprey.engine.Network;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Optimizer;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Data-parallel training steps over replicas of one network, one per device, with the semantics of one large batch
 * (PyTorch's DistributedDataParallel): each step's batch is split into contiguous shards, each replica runs forward and
 * backward on its shard on its own thread, the gradients are summed across replicas (each first weighted by its
 * share of the rows, so the sum is the whole batch's mean gradient), and every replica applies the same optimizer
 * step to its own copy of the weights. BatchNorm normalizes with each replica's own batch statistics, as DDP does;
 * the moving statistics are then taken from replica 0, as DDP's buffer broadcast does. Dropout draws what one device
 * would for the same rows (see {@link ExecutionPlan#forward(long, int)}).
 *
 * <p>Replica 0 is the model's own network and keeps the result; the others are owned here and closed by
 * {@link #close}. A replica that fails aborts the step on every replica with a {@link ReplicaFailedException}.
 */
public final class DataParallel implements AutoCloseable {
    /** One replica: a network on its device and the optimizer bound to its weights. */
    public record Replica(Network network, Optimizer.Updater updater) {
    }

    private final List<Replica> replicas;    // the replicas this process drives
    private final int firstRank;              // the communicator rank of replicas.get(0)
    private final int worldSize;              // ranks in all, here and elsewhere
    private final boolean ownsCommunicator;
    private final Communicator communicator;
    private final dev.osprey.engine.ModelLoss loss;
    private final boolean counts;
    private final Tensor[][] replicaCounts; // with counts: per replica, per output, the counts its loss adds to
    private final ExecutorService threads;
    private final ExecutorService[] links; // per replica, its collectives in launch order (NCCL's stream, here)
    private final GradientBuckets buckets;
    private final Tensor[][] bucketViews; // per replica, per bucket: its range of the gradient arena
    private final int[] rows;
    private final int[] firstRows;
    private long rowsStepped; // rows of the global batches stepped since the stats were reset: where the next begins
    private final ExecutionPlan[] plans;
    private int total;
    private int targetWidth;
    private int[] targetParts;  // per output, the values of its part of a target row
    private boolean failed;
    /** Replica 0's parameter version that every other replica here holds (see {@link #followLead}). */
    private long leadVersion;

    /**
     * Steps replicas (replica 0 the model's own, the others already holding its weights and optimizer state) through
     * communicator, for loss; with counts, each step adds to every replica's classification counts.
     */
    public DataParallel(List<Replica> replicas, Communicator communicator, Loss loss, boolean counts) {
        this(replicas, communicator, lossOf(replicas, loss), counts, DEFAULT_BUCKET_FLOATS);
    }

    /** {@link #DataParallel(List, Communicator, Loss, boolean)} for a model's losses, one per output. */
    public DataParallel(List<Replica> replicas, Communicator communicator, dev.osprey.engine.ModelLoss loss,
                        boolean counts) {
        this(replicas, communicator, loss, counts, DEFAULT_BUCKET_FLOATS);
    }

    private static dev.osprey.engine.ModelLoss lossOf(List<Replica> replicas, Loss loss) {
        return dev.osprey.engine.ModelLoss.of(replicas.get(0).network().graph(), loss);
    }

    /** Gradients are summed in buckets of about this many values (DDP's default, 25 MB, in floats). */
    public static final long DEFAULT_BUCKET_FLOATS = 25L * 1024 * 1024 / Float.BYTES;

    /** {@link #DataParallel(List, Communicator, Loss, boolean)} with buckets of about bucketFloats values. */
    public DataParallel(List<Replica> replicas, Communicator communicator, Loss loss, boolean counts,
                        long bucketFloats) {
        this(replicas, communicator, lossOf(replicas, loss), counts, bucketFloats);
    }

    /** {@link #DataParallel(List, Communicator, dev.osprey.engine.ModelLoss, boolean)} with buckets of this size. */
    public DataParallel(List<Replica> replicas, Communicator communicator, dev.osprey.engine.ModelLoss loss,
                        boolean counts, long bucketFloats) {
        this(oneRankEach(replicas, communicator), 0, communicator, true, loss, counts, bucketFloats);
    }

    private static List<Replica> oneRankEach(List<Replica> replicas, Communicator communicator) {
        if (replicas.size() != communicator.size()) {
            throw new IllegalArgumentException("data parallel: expected one communicator rank per replica, received "
                    + replicas.size() + " replicas and " + communicator.size() + " ranks");
        }
        return replicas;
    }

    /**
     * One rank of a training spread over processes or machines (Spark's barrier tasks, say): this process drives
     * replica, rank {@code rank} of the communicator's ranks, and every rank loads batches of the same number of rows
     * (its part of the global batch, which is the ranks' batches one after the other). The caller keeps the
     * communicator (it is not closed here).
     */
    public static DataParallel ofRank(Replica replica, int rank, Communicator communicator, Loss loss, boolean counts) {
        return ofRank(replica, rank, communicator, lossOf(List.of(replica), loss), counts);
    }

    /** {@link #ofRank(Replica, int, Communicator, Loss, boolean)} for a model's losses, one per output. */
    public static DataParallel ofRank(Replica replica, int rank, Communicator communicator,
                                      dev.osprey.engine.ModelLoss loss, boolean counts) {
        if (rank < 0 || rank >= communicator.size()) {
            throw new IllegalArgumentException("data parallel: expected a rank in [0, " + communicator.size()
                    + "), received " + rank);
        }
        DataParallel parallel = new DataParallel(List.of(replica), rank, communicator, false, loss, counts,
                DEFAULT_BUCKET_FLOATS);
        try {
            parallel.agreeOnLossScale();
        } catch (RuntimeException | Error e) {
            parallel.close();
            throw e;
        }
        return parallel;
    }

    /**
     * One rank of many: gradients summed across ranks must carry one loss scale. Every rank must scale the loss or none
     * (a rank whose device fell back to fp32 math under mixed_float16 would not), and all start from rank 0's scale
     * and count of good steps, whatever each process's history; from there the summed gradients keep them equal.
     * Ranks in this process already follow replica 0 (Model makes them so).
     */
    private void agreeOnLossScale() {
        Replica replica = replicas.get(0);
        dev.osprey.engine.LossScaler scaler = replica.updater() instanceof dev.osprey.engine.LossScaler s ? s : null;
        boolean scales = scaler != null && scaler.inEffect();
        Backend backend = replica.network().backend();
        try (dev.osprey.backend.Memory memory = backend.newMemory()) {
            Tensor flag = memory.allocate(1);
            backend.copyIn(new float[] {scales ? 1 : 0}, 0, flag);
            communicator.allReduceSum(firstRank, flag);
            float[] scaling = new float[1];
            backend.copyOut(flag, scaling, 0);
            if (scaling[0] != 0 && scaling[0] != worldSize) {
                throw new IllegalStateException("data parallel: " + (int) scaling[0] + " of " + worldSize + " ranks "
                        + "scale the loss (fp16 math, or a LossScaleOptimizer) and the others don't, rank " + firstRank
                        + (scales ? " among the first" : " among the others") + "; expected every rank to train in "
                        + "the same precision with the same optimizer (a device without fp16 math trains in fp32)");
            }
            if (scales) {
                Tensor state = memory.allocate(2);
                backend.copyIn(new float[] {(float) scaler.currentScale(), scaler.goodSteps()}, 0, state);
                communicator.broadcast(firstRank, state, 0);
                float[] lead = new float[2];
                backend.copyOut(state, lead, 0);
                scaler.restore(lead[0], (int) lead[1]);
            }
        }
    }

    private DataParallel(List<Replica> replicas, int firstRank, Communicator communicator, boolean ownsCommunicator,
                         dev.osprey.engine.ModelLoss loss, boolean counts, long bucketFloats) {
        this.replicas = List.copyOf(replicas);
        this.firstRank = firstRank;
        this.worldSize = communicator.size();
        this.ownsCommunicator = ownsCommunicator;
        this.communicator = communicator;
        this.loss = loss;
        this.counts = counts;
        this.rows = new int[replicas.size()];
        this.firstRows = new int[replicas.size()];
        this.plans = new ExecutionPlan[replicas.size()];
        this.replicaCounts = new Tensor[replicas.size()][];
        for (int i = 0; counts && i < replicas.size(); i++) {
            replicaCounts[i] = replicas.get(i).network().countsOf(true, loss);
        }
        AtomicInteger number = new AtomicInteger();
        this.threads = Executors.newFixedThreadPool(replicas.size(), work -> {
            Thread t = new Thread(work, "osprey-replica-" + number.getAndIncrement());
            t.setDaemon(true);
            return t;
        });
        for (Replica r : replicas.subList(1, replicas.size())) {
            r.network().trainWith(loss);
        }
        Network lead = replicas.get(0).network();
        this.buckets = new GradientBuckets(lead.graph(), lead.parameters(), Math.max(1, bucketFloats));
        this.links = new ExecutorService[replicas.size()];
        this.bucketViews = new Tensor[replicas.size()][];
        for (int i = 0; i < replicas.size(); i++) {
            int rank = i;
            links[i] = Executors.newSingleThreadExecutor(work -> {
                Thread t = new Thread(work, "osprey-replica-" + rank + "-link");
                t.setDaemon(true);
                return t;
            });
            Network n = replicas.get(i).network();
            List<GradientBuckets.Bucket> all = buckets.buckets();
            bucketViews[i] = new Tensor[all.size()];
            for (int b = 0; b < all.size(); b++) {
                bucketViews[i][b] = n.backend().view(n.parameters().gradientArena(), all.get(b).start(),
                        all.get(b).size());
            }
        }
        this.leadVersion = lead.parameters().version();
    }

    /** Waits (up to a minute) for a pool's threads to end; an interrupted caller still waits, and stays interrupted. */
    private static boolean finished(ExecutorService pool) {
        boolean interrupted = Thread.interrupted();
        try {
            return pool.awaitTermination(60, java.util.concurrent.TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            interrupted = true;
            return false;
        } finally {
            if (interrupted) {
                Thread.currentThread().interrupt();
            }
        }
    }

    /** The number of gradient buckets summed per step. */
    public int buckets() {
        return buckets.buckets().size();
    }

    /** The number of replicas. */
    public int size() {
        return replicas.size();
    }

    /** Rows of a batch of count rows that replica i takes: an equal share, the first count % size one more. */
    public static int shard(int count, int replicas, int i) {
        return count / replicas + (i < count % replicas ? 1 : 0);
    }

    /**
     * Copies a batch in, split across the replicas: x holds count samples, targets count target rows of
     * targetWidth values (as the loss op reads them).
     */
    public void load(float[] x, float[] targets, int targetWidth, int count) {
        if (loss.outputs() != 1) {
            throw new IllegalArgumentException("data parallel: expected each output's target width for a model of "
                    + loss.outputs() + " outputs (load(x, targets, parts, count)), received one width " + targetWidth);
        }
        load(x, targets, new int[] {targetWidth}, count);
    }

    /**
     * Copies a batch in, split across the replicas, for a model of several outputs: target rows hold each output's
     * part side by side, parts[o] values for output o (see {@link dev.osprey.engine.TargetRows#partWidths}).
     */
    public void load(float[] x, float[] targets, int[] parts, int count) {
        int targetWidth = java.util.Arrays.stream(parts).sum();
        this.targetParts = parts.clone();
        if (replicas.size() < worldSize) { // one rank of many: all rows are this rank's part of the global batch
            Network network = replicas.get(0).network();
            ExecutionPlan plan = network.trainingPlan(count);
            network.backend().copyIn(x, 0, plan.packedInput());
            network.backend().copyIn(targets, 0, plan.targets(targetWidth));
            plans[0] = plan;
            rows[0] = count;
            firstRows[0] = Math.multiplyExact(firstRank, count);
            this.total = Math.multiplyExact(count, worldSize);
            this.targetWidth = targetWidth;
            return;
        }
        int first = 0;
        for (int i = 0; i < replicas.size(); i++) {
            int n = shard(count, replicas.size(), i);
            rows[i] = n;
            firstRows[i] = first;
            plans[i] = null;
            if (n > 0) {
                Network network = replicas.get(i).network();
                ExecutionPlan plan = network.trainingPlan(n);
                Backend backend = network.backend();
                long sampleSize = plan.packedInput().size() / n;
                backend.copyIn(x, Math.toIntExact(first * sampleSize), plan.packedInput());
                backend.copyIn(targets, first * targetWidth, plan.targets(targetWidth));
                plans[i] = plan;
            }
            first += n;
        }
        this.total = count;
        this.targetWidth = targetWidth;
    }

    /** One optimizer step on the batch loaded last, on every replica at once; seed drives dropout. */
    public void step(long seed) {
        if (failed) {
            throw new IllegalStateException("data parallel: a replica failed earlier; this training can't go on");
        }
        followLead();
        Optimizer.Updater lead = replicas.get(0).updater();
        for (Replica r : replicas.subList(1, replicas.size())) { // callbacks and schedules change replica 0's
            if (!r.updater().followsSchedule() && r.updater().learningRate() != lead.learningRate()) {
                r.updater().learningRate(lead.learningRate());
            }
        }
        List<Future<?>> running = new ArrayList<>();
        for (int i = 0; i < replicas.size(); i++) {
            int local = i;
            running.add(threads.submit(() -> {
                try {
                    replicaStep(local, seed);
                } catch (Throwable t) {
                    communicator.abort(firstRank + local, t);
                    throw t;
                }
                return null;
            }));
        }
        Throwable first = null;
        int failedRank = -1;
        for (int i = 0; i < running.size(); i++) {
            try {
                running.get(i).get();
            } catch (ExecutionException e) {
                Throwable cause = e.getCause();
                if (cause instanceof ReplicaFailedException r) { // a rank that stopped because another failed
                    if (first == null) {
                        first = r.getCause();
                        failedRank = r.rank();
                    }
                } else if (first == null || first == cause) {
                    first = cause;
                    failedRank = firstRank + i;
                }
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                communicator.abort(firstRank + i, e);
                first = first == null ? e : first;
                failedRank = failedRank < 0 ? firstRank + i : failedRank;
            }
        }
        if (first != null) {
            failed = true;
            if (first instanceof dev.osprey.TrainingDivergedException diverged) { // as one device reports it
                throw diverged;
            }
            throw new ReplicaFailedException(failedRank, worldSize, first);
        }
        leadVersion = replicas.get(0).network().parameters().version();
        rowsStepped += total;
    }

    /**
     * One replica's step: forward and backward on its shard; each gradient bucket, once backward has finished its
     * layers, is weighted by the shard's share of the batch and handed to this replica's link thread to be summed
     * across replicas while backward goes on; then the weight penalties (the same on every replica, so added after
     * the sum), the optimizer step, and replica 0's moving statistics.
     */
    private void replicaStep(int local, long seed) throws Exception {
        int rank = firstRank + local;
        Replica replica = replicas.get(local);
        Network network = replica.network();
        Backend backend = network.backend();
        ExecutionPlan plan = plans[local];
        float share = (float) rows[local] / total;
        boolean shared = worldSize > 1;
        List<Future<?>> summing = new ArrayList<>();
        java.util.function.IntConsumer launch = b -> {
            Tensor view = bucketViews[local][b];
            if (share != 1f) {
                backend.scale(view, share, 0f, view);
            }
            if (shared) {
                summing.add(links[local].submit(() -> {
                    communicator.allReduceSum(rank, view);
                    return null;
                }));
            }
        };
        try {
            backend.execute(() -> {
            GradientBuckets.Progress progress = buckets.new Progress();
            if (plan == null) { // fewer rows than replicas: this one adds nothing
                backend.fill(network.parameters().gradientArena(), 0f);
            } else {
                plan.unpackInputs();
                plan.forward(seed, firstRows[local]);
                loss.train(backend, plan, targetParts, network.outputStats(true), replica.updater().lossScale(),
                        replicaCounts[local], rowsStepped + firstRows[local]);
                plan.backward(call -> progress.afterCall(call).forEach(launch::accept));
            }
            progress.rest().forEach(launch::accept);
            return null;
        });
        } finally {
            // Every bucket handed to the link thread is waited for, also when this replica failed: nothing may still
            // read or write the gradients once the step is over (close() frees them).
            Exception failure = null;
            for (Future<?> f : summing) {
                try {
                    f.get();
                } catch (ExecutionException e) {
                    if (failure == null) {
                        failure = e.getCause() instanceof Exception cause ? cause : e;
                    }
                }
            }
            if (failure != null) {
                throw failure;
            }
        }
        backend.execute(() -> {
            // the gradients are the same on every replica now, so each makes the same choice to skip or not
            boolean finite = replica.updater().unscaleGradients();
            network.addPenalties(rows[local], network.penaltyStats(true), true);
            if (finite) {
                replica.updater().step();
            }
            return null;
        });
        if (shared && network.parameters().nonTrainableCount() > 0) {
            communicator.broadcast(rank, network.parameters().stateArena(), 0);
        }
        network.parameters().changed();
    }

    /**
     * Replica 0 is the model's own network: weights set on the model between steps (a callback's setWeights) land
     * there alone. Before a step, every other replica here takes replica 0's weights and moving statistics if they
     * changed since the last step (rare: a host round trip each). Ranks in other processes run the same callbacks
     * on their own replica 0.
     */
    private void followLead() {
        dev.osprey.engine.Parameters lead = replicas.get(0).network().parameters();
        if (lead.version() == leadVersion || replicas.size() == 1) {
            return;
        }
        List<dev.osprey.NDArray> weights = lead.get();
        for (Replica r : replicas.subList(1, replicas.size())) {
            r.network().parameters().set(weights);
        }
        leadVersion = lead.version();
    }

    /** Zeroes every replica's running loss sums (and classification counts, when counted). */
    public void resetStats() {
        rowsStepped = 0;
        for (int i = 0; i < replicas.size(); i++) {
            Network network = replicas.get(i).network();
            network.backend().fill(network.trainStats(), 0f);
            for (int o = 0; counts && o < replicaCounts[i].length; o++) {
                network.backend().fill(replicaCounts[i][o], 0f);
            }
        }
    }

    /** The running loss sums of all replicas added up, into out (as long as a network's trainStats). */
    public void readStats(float[] out) {
        sum(out, r -> r.network().trainStats());
    }

    /** The classification counts of all replicas added up, into out. */
    public void readCounts(float[] out) {
        readCounts(0, out);
    }

    /** The classification counts of output o of all replicas added up, into out. */
    public void readCounts(int o, float[] out) {
        sum(out, r -> replicaCounts[replicas.indexOf(r)][o]);
    }

    private void sum(float[] out, java.util.function.Function<Replica, Tensor> tensor) {
        java.util.Arrays.fill(out, 0f);
        float[] part = new float[out.length];
        for (Replica r : replicas) {
            r.network().backend().copyOut(tensor.apply(r), part, 0);
            for (int i = 0; i < out.length; i++) {
                out[i] += part[i];
            }
        }
    }

    /** Stops the replica threads and closes the replicas made for this training (not replica 0, the model's). */
    @Override
    public void close() {
        threads.shutdownNow();
        for (ExecutorService link : links) {
            if (link != null) {
                link.shutdownNow();
            }
        }
        if (ownsCommunicator) {
            communicator.close(); // wakes any rank still waiting in a collective
        }
        if (!finished(threads) || java.util.Arrays.stream(links).anyMatch(l -> l != null && !finished(l))) {
            // A replica still running would write into freed memory: leave the replicas to the garbage collector.
            org.slf4j.LoggerFactory.getLogger(DataParallel.class).warn("data parallel: replica threads did not stop "
                    + "within 60 s; their networks are left open");
            return;
        }
        for (Replica r : replicas.subList(1, replicas.size())) {
            r.network().close();
        }
    }
}
