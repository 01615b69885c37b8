package dev.osprey.bench;

import dev.osprey.Activation;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * One training convolution's filter gradient (3x3, stride 1, padded by 1, no bias) alone, through the CPU backend's
 * conv2dBackwardFilter: the median and best milliseconds of a call, and the direct-equivalent GFLOP/s of the median.
 * Run it under -Dosprey.cpu.winograd=auto, always or never to compare Osprey's Winograd filter gradient with oneDNN's
 * backward-weights kernels on one shape, as the bound on channels in Winograd.filterTile was checked.
 *
 * <p>Usage: FilterGradientTime BATCH H W IN OUT SECONDS. Prints "RESULT ms_median V", "RESULT ms_best V" and
 * "RESULT gflops_median V".
 */
public final class FilterGradientTime {
    private FilterGradientTime() {
    }

    public static void main(String[] args) {
        if (args.length != 6) {
            System.err.println("usage: FilterGradientTime BATCH H W IN OUT SECONDS");
            System.exit(2);
        }
        int[] a = Arrays.stream(args, 0, 5).mapToInt(Integer::parseInt).toArray();
        double seconds = Double.parseDouble(args[5]);
        if (Arrays.stream(a).anyMatch(v -> v < 1) || !(seconds > 0)) {
            System.err.println("FilterGradientTime: expected BATCH, H, W, IN, OUT and SECONDS above 0, received "
                    + String.join(" ", args));
            System.exit(2);
        }
        Conv2dSpec spec = new Conv2dSpec(a[0], a[1], a[2], a[3], a[4], 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, false,
                Activation.LINEAR);
        Backend backend = Device.cpu().backend();
        Random r = new Random(1);
        try (Memory memory = backend.newMemory()) {
            Tensor x = ConvOpTime.filled(backend, memory, r, spec.inputShape());
            Tensor dy = ConvOpTime.filled(backend, memory, r, spec.outputShape());
            Tensor dKernel = memory.allocate(spec.kernelShape());
            long start = System.nanoTime();
            while (System.nanoTime() - start < 300_000_000L) { // warm up: plans made, caches filled
                backend.conv2dBackwardFilter(spec, x, dy, dKernel, null);
            }
            double[] calls = new double[4096];
            int count = 0;
            long end = System.nanoTime() + (long) (seconds * 1e9);
            while (count < calls.length && (count < 5 || System.nanoTime() < end)) {
                long t0 = System.nanoTime();
                backend.conv2dBackwardFilter(spec, x, dy, dKernel, null);
                calls[count++] = (System.nanoTime() - t0) / 1e6;
            }
            double[] sorted = Arrays.copyOf(calls, count);
            Arrays.sort(sorted);
            double median = sorted[count / 2];
            double flops = 2.0 * spec.batch() * spec.outH() * spec.outW() * spec.filters() * spec.inC() * 9;
            System.out.println("INFO backend " + backend.description());
            System.out.printf(Locale.ROOT, "RESULT ms_median %.3f%nRESULT ms_best %.3f%nRESULT gflops_median %.1f%n",
                    median, sorted[0], flops / median / 1e6);
        }
    }
}
