package dev.osprey.bench;

import dev.osprey.backend.Backend;
import dev.osprey.backend.BatchNormSpec;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * One training batch normalization alone, forward and backward, through the CPU backend as a training plan runs it:
 * the median and best time of a step over several blocks of steps, in microseconds. Run it under two settings of the
 * backend (-Dosprey.cpu.batchNorm=osprey|onednn) to compare the implementations without a model's noise around them.
 *
 * <p>Usage: BatchNormOpTime BATCH H W CHANNELS CAP SECONDS. CAP: 0 for no ReLU, inf for a plain ReLU, else the cap
 * (6: ReLU6). Prints "RESULT us_median V" and "RESULT us_best V".
 */
public final class BatchNormOpTime {
    private BatchNormOpTime() {
    }

    public static void main(String[] args) {
        if (args.length != 6) {
            System.err.println("usage: BatchNormOpTime BATCH H W CHANNELS CAP(0|inf|value) SECONDS");
            System.exit(2);
        }
        int[] a = Arrays.stream(args, 0, 4).mapToInt(Integer::parseInt).toArray();
        BatchNormSpec plain = new BatchNormSpec(a[0], a[1], a[2], a[3], 1e-3f, 0.99f);
        BatchNormSpec spec = switch (args[4]) {
            case "0" -> plain;
            case "inf" -> plain.withRelu(true);
            default -> plain.withCappedRelu(Float.parseFloat(args[4]));
        };
        double seconds = Double.parseDouble(args[5]);
        Backend backend = Device.cpu().backend();
        Random r = new Random(1);
        try (Memory m = backend.newMemory()) {
            Tensor x = ConvOpTime.filled(backend, m, r, spec.shape());
            Tensor dy = ConvOpTime.filled(backend, m, r, spec.shape());
            Tensor gamma = ConvOpTime.filled(backend, m, r, spec.channels());
            Tensor beta = ConvOpTime.filled(backend, m, r, spec.channels());
            Tensor movingMean = m.allocate(spec.channels()), movingVariance = m.allocate(spec.channels());
            Tensor y = m.allocate(spec.shape()), dx = m.allocate(spec.shape());
            Tensor mean = m.allocate(spec.channels()), variance = m.allocate(spec.channels());
            Tensor dGamma = m.allocate(spec.channels()), dBeta = m.allocate(spec.channels());
            long wsSize = backend.batchNormWorkspaceSize(spec);
            Tensor ws = wsSize > 0 ? m.allocate(Math.toIntExact(wsSize)) : null;
            Runnable step = () -> {
                backend.batchNormForwardTraining(spec, x, gamma, beta, movingMean, movingVariance, y, mean, variance,
                        ws);
                backend.batchNormBackward(spec, x, y, dy, gamma, mean, variance, ws, dx, dGamma, dBeta);
            };
            int calls = 0;
            long start = System.nanoTime();
            while (System.nanoTime() - start < 300_000_000L) { // warm up, and size a block at about 20 ms
                step.run();
                calls++;
            }
            int perBlock = Math.max(1, (int) (calls * 0.066));
            double[] blocks = new double[Math.max(5, (int) (seconds / 0.02))];
            for (int b = 0; b < blocks.length; b++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < perBlock; i++) {
                    step.run();
                }
                blocks[b] = (System.nanoTime() - t0) / 1e3 / perBlock;
            }
            Arrays.sort(blocks);
            System.out.println("INFO backend " + backend.description() + " " + spec);
            System.out.printf(Locale.ROOT, "RESULT us_median %.3f%nRESULT us_best %.3f%n", blocks[blocks.length / 2],
                    blocks[0]);
        }
    }
}
