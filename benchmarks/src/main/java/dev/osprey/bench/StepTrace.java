package dev.osprey.bench;

import dev.osprey.LayerProfile;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Adam;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * Where a training step's time moves while this shared machine changes speed: one built-in model's training steps,
 * profiled layer by layer ({@link Model#profileTraining}) in short windows for a while, each window's milliseconds per
 * step summed by layer type and direction, beside two facts about the machine in that window: the clock (the rate of
 * dependent fused multiply-adds on one thread, which follows the core's frequency), the share of the two threads'
 * time the process got (below 1 when something else ran on its CPUs), and the time a cache line takes to go from one
 * thread to another and back, halved (about 35 ns between cores that share a last-level cache here; more where the
 * hypervisor put the two vCPUs further apart). benchmarks/run-step-trace.sh compares the
 * fastest and slowest quarters of the windows, so a slowdown can be pinned on the layers that carry it.
 *
 * <p>Prints "TRACE" once with the column names, then one "TRACE" line a window.
 *
 * <p>Usage: StepTrace MODEL BATCH SECONDS [steps-per-window=6]
 */
public final class StepTrace {
    private static double sink;

    private StepTrace() {
    }

    public static void main(String[] args) throws IOException {
        if (args.length < 3 || args.length > 4) {
            System.err.println("usage: StepTrace MODEL BATCH SECONDS [steps-per-window=6]");
            System.exit(2);
        }
        String name = args[0];
        int batch = Integer.parseInt(args[1]);
        double seconds = Double.parseDouble(args[2]);
        int steps = args.length == 4 ? Integer.parseInt(args[3]) : 6;
        Shape input = InferenceThroughput.inputOf(name);
        SeededBatch data = SeededBatch.of(input, batch);
        NDArray images = data.images();
        NDArray labels = data.labels();
        try (Model model = Models.byName(InferenceThroughput.architectureOf(name), input, 10)) {
            model.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy());
            model.profileTraining(images, labels, steps); // warm-up: plans, kernels, the JIT
            String[] columns = null;
            long start = System.nanoTime();
            while (System.nanoTime() - start < seconds * 1e9) {
                double clock = fmaChainsPerNs();
                double handOver = cacheLineHandOverNs();
                long cpu0 = processCpuTicks();
                long wall0 = System.nanoTime();
                LayerProfile profile = model.profileTraining(images, labels, steps);
                double share = (processCpuTicks() - cpu0) * 1e7 / (2.0 * (System.nanoTime() - wall0));
                Map<String, Double> byType = new TreeMap<>();
                for (LayerProfile.Row row : profile.rows()) {
                    byType.merge(row.type() + ":forward", row.forwardMs(), Double::sum);
                    byType.merge(row.type() + ":backward", row.backwardMs(), Double::sum);
                }
                byType.put("other", profile.otherMs());
                if (columns == null) {
                    columns = byType.keySet().toArray(String[]::new);
                    System.out.println("TRACE seconds step_ms " + String.join(" ", columns)
                            + " clock cpu_share handover_ns");
                }
                StringBuilder line = new StringBuilder(String.format(Locale.ROOT, "TRACE %.1f %.2f",
                        (System.nanoTime() - start) / 1e9, profile.wallMs()));
                for (String c : columns) {
                    line.append(String.format(Locale.ROOT, " %.3f", byType.getOrDefault(c, 0.0)));
                }
                line.append(String.format(Locale.ROOT, " %.3f %.2f %.1f", clock, share, handOver));
                System.out.println(line);
            }
        }
        if (sink == 42) {
            System.out.println();
        }
    }

    /** Four chains of dependent fused multiply-adds on this thread, per ns: proportional to the core's clock. */
    private static double fmaChainsPerNs() {
        double a = 1, b = 1.1, c = 1.2, d = 1.3;
        int n = 20_000_000;
        long t = System.nanoTime();
        for (int i = 0; i < n; i++) {
            a = Math.fma(a, 0.9999999, 1e-9);
            b = Math.fma(b, 0.9999999, 1e-9);
            c = Math.fma(c, 0.9999999, 1e-9);
            d = Math.fma(d, 0.9999999, 1e-9);
        }
        sink += a + b + c + d;
        return 4.0 * n / (System.nanoTime() - t);
    }

    /**
     * A counter passed between this thread and another 100,000 times, each side waiting for the other's increment:
     * ns per one-way hand-over of its cache line (the two threads run on the two vCPUs). NaN where that takes over 2 s
     * (the two threads confined to one CPU, as OMP_PROC_BIND does to every thread the JVM's main thread starts).
     */
    private static double cacheLineHandOverNs() {
        int rounds = 100_000;
        java.util.concurrent.atomic.AtomicLong counter = new java.util.concurrent.atomic.AtomicLong();
        java.util.concurrent.atomic.AtomicBoolean stop = new java.util.concurrent.atomic.AtomicBoolean();
        Thread other = new Thread(() -> {
            for (long expect = 1; expect < 2L * rounds && !stop.get(); expect += 2) {
                while (counter.get() != expect && !stop.get()) {
                    Thread.onSpinWait();
                }
                counter.set(expect + 1);
            }
        });
        other.start();
        long t = System.nanoTime();
        long deadline = t + 2_000_000_000L;
        boolean finished = true;
        for (long value = 0; value < 2L * rounds && finished; value += 2) {
            counter.set(value + 1);
            for (int spins = 0; counter.get() != value + 2; spins++) {
                if ((spins & 1023) == 1023 && System.nanoTime() > deadline) {
                    finished = false;
                    break;
                }
                Thread.onSpinWait();
            }
        }
        double ns = finished ? (System.nanoTime() - t) / (2.0 * rounds) : Double.NaN;
        stop.set(true);
        try {
            other.join();
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        return ns;
    }

    /** This process's user and system time, in clock ticks (Linux: 100 a second). */
    private static long processCpuTicks() throws IOException {
        String stat = Files.readString(Path.of("/proc/self/stat"));
        String[] f = stat.substring(stat.lastIndexOf(')') + 2).split(" ");
        return Long.parseLong(f[11]) + Long.parseLong(f[12]);
    }
}
