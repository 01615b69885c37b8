package dev.osprey.bench;

import dev.osprey.FitOptions;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.engine.parallel.HostCommunicator;
import dev.osprey.loss.Loss;
import dev.osprey.optim.SGD;
import java.util.Arrays;
import java.util.List;
import java.util.Random;

/**
 * The parts of a data-parallel training step, for the scaling estimate (benchmarks/run-data-parallel.sh): per model,
 * the gradient arena's size (what every step all-reduces), the step time on one device, the step time with the same
 * global batch on N CPU replicas, and the time of one host all-reduce of the arena across N threads.
 * Prints "RESULT model figure value" lines. Usage: DataParallelStep SECONDS BATCH REPLICAS MODEL...
 */
public final class DataParallelStep {
    public static void main(String[] args) throws Exception {
        if (args[0].equals("params")) { // params MODEL SIZE: the trainable parameters alone, for the estimate
            int size = Integer.parseInt(args[2]);
            try (Model m = Models.byName(args[1], Shape.of(size, size, 3), 1000)) {
                System.out.printf("RESULT %s trainable_params %d%n", args[1], m.trainableParams());
            }
            return;
        }
        double seconds = Double.parseDouble(args[0]);
        int batch = Integer.parseInt(args[1]);
        int replicas = Integer.parseInt(args[2]);
        Backend cpu = Device.cpu().backend();
        for (String name : Arrays.copyOfRange(args, 3, args.length)) {
            Shape input = name.equals("tutorial") ? Shape.of(28, 28, 1) : Shape.of(32, 32, 3);
            int steps = 8;
            Random r = new Random(1);
            float[] x = new float[steps * batch * input.size()];
            float[] y = new float[steps * batch];
            for (int i = 0; i < x.length; i++) {
                x[i] = (float) r.nextGaussian();
            }
            for (int i = 0; i < y.length; i++) {
                y[i] = r.nextInt(10);
            }
            NDArray images = new NDArray(x, concat(steps * batch, input.dims()));
            NDArray labels = new NDArray(y, steps * batch);
            try (Model model = Models.byName(name, input, 10)) {
                model.device(Device.cpu()).compile(new SGD(0.01, 0.9, false), Loss.sparseCategoricalCrossentropy());
                model.build();
                long arena = model.trainableParams();
                System.out.printf("RESULT %s trainable_params %d%n", name, arena);
                String[] cpus = new String[replicas];
                Arrays.fill(cpus, "cpu");
                for (int round = 0; round < 3; round++) {
                    System.out.printf("RESULT %s step_ms_1_device %.3f%n", name,
                            stepMillis(model, images, labels, batch, seconds, null));
                    System.out.printf("RESULT %s step_ms_%d_cpu_replicas %.3f%n", name, replicas,
                            stepMillis(model, images, labels, batch, seconds, cpus));
                }
                System.out.printf("RESULT %s host_allreduce_ms_%d_ranks %.3f%n", name, replicas,
                        allReduceMillis(cpu, Math.toIntExact(arena), replicas, seconds));
            }
        }
    }

    private static int[] concat(int first, int[] rest) {
        int[] out = new int[rest.length + 1];
        out[0] = first;
        System.arraycopy(rest, 0, out, 1, rest.length);
        return out;
    }

    /** Mean milliseconds per training step, epochs of 8 batches repeated for about seconds. */
    private static double stepMillis(Model model, NDArray x, NDArray y, int batch, double seconds, String[] devices) {
        FitOptions warm = FitOptions.defaults().epochs(1).batchSize(batch).shuffle(false).verbose(false);
        if (devices != null) {
            warm.devices(devices);
        }
        model.fit(x, y, warm);
        int steps = x.rows() / batch;
        long start = System.nanoTime();
        int epochs = 0;
        do {
            FitOptions o = FitOptions.defaults().epochs(1).batchSize(batch).shuffle(false).verbose(false);
            if (devices != null) {
                o.devices(devices);
            }
            model.fit(x, y, o);
            epochs++;
        } while ((System.nanoTime() - start) / 1e9 < seconds);
        return (System.nanoTime() - start) / 1e6 / (epochs * steps);
    }

    /** Milliseconds of one HostCommunicator all-reduce of n floats across ranks threads. */
    private static double allReduceMillis(Backend cpu, int n, int ranks, double seconds) throws Exception {
        try (Memory memory = cpu.newMemory();
             HostCommunicator c = new HostCommunicator(java.util.Collections.nCopies(ranks, cpu))) {
            Tensor[] t = new Tensor[ranks];
            for (int i = 0; i < ranks; i++) {
                t[i] = memory.allocate(n);
            }
            int[] rounds = new int[1];
            long start = System.nanoTime();
            long deadline = start + (long) (seconds * 1e9);
            Thread[] threads = new Thread[ranks];
            boolean[] stop = new boolean[1];
            java.util.concurrent.CyclicBarrier decide = new java.util.concurrent.CyclicBarrier(ranks,
                    () -> stop[0] = System.nanoTime() > deadline);
            for (int i = 0; i < ranks; i++) {
                int rank = i;
                threads[i] = new Thread(() -> {
                    try {
                        while (true) {
                            decide.await();
                            if (stop[0]) {
                                return;
                            }
                            c.allReduceSum(rank, t[rank]);
                            if (rank == 0) {
                                rounds[0]++;
                            }
                        }
                    } catch (Exception e) {
                        throw new IllegalStateException(e);
                    }
                });
                threads[i].start();
            }
            for (Thread th : threads) {
                th.join();
            }
            return (System.nanoTime() - start) / 1e6 / Math.max(1, rounds[0]);
        }
    }

    private DataParallelStep() {
    }
}
