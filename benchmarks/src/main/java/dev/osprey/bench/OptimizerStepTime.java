package dev.osprey.bench;

import dev.osprey.backend.AdamSpec;
import dev.osprey.backend.Memory;
import dev.osprey.backend.RmspropSpec;
import dev.osprey.backend.SgdSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.backend.cpu.CpuBackend;
import java.util.Locale;
import java.util.Random;

/**
 * Milliseconds per optimizer update over one parameter arena on the CPU backend: Adam, AdamW with a weight-decay mask,
 * AMSGrad, SGD with momentum, RMSprop, and centered RMSprop with momentum, each timed over 10 updates after 3 untimed
 * ones, in turn, for a number of rounds; or one of them alone (as a training process runs one optimizer, whose
 * loops the JIT then compiles for it alone). The default arena is ResNet-18's 11,689,512 parameters.
 * Prints {@code RESULT osprey optimizer_ms_<name>_round<r> <ms>} lines.
 * Usage: OptimizerStepTime [PARAMETERS=11689512] [ROUNDS=3] [NAME: adam, adamw_masked, amsgrad, sgd_momentum, rmsprop
 * or rmsprop_centered_momentum; default all]
 */
public final class OptimizerStepTime {
    private OptimizerStepTime() {
    }

    public static void main(String[] args) {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 11_689_512;
        int rounds = args.length > 1 ? Integer.parseInt(args[1]) : 3;
        String only = args.length > 2 ? args[2] : null;
        try (CpuBackend b = new CpuBackend(); Memory memory = b.newMemory()) {
            Tensor p = memory.allocate(n), g = memory.allocate(n), mask = memory.allocate(n);
            Tensor s1 = memory.allocate(n), s2 = memory.allocate(n), s3 = memory.allocate(n);
            float[] values = new float[n];
            Random random = new Random(1);
            for (int i = 0; i < n; i++) {
                values[i] = (float) random.nextGaussian() * 0.01f;
            }
            b.copyIn(values, 0, p);
            b.copyIn(values, 0, g);
            for (int i = 0; i < n; i++) {
                values[i] = i % 2;
            }
            b.copyIn(values, 0, mask);
            AdamSpec adam = new AdamSpec(1e-3f, 0.9f, 0.999f, 1e-7f);
            AdamSpec adamW = new AdamSpec(1e-3f, 0.9f, 0.999f, 1e-7f, 0.004f);
            SgdSpec sgd = new SgdSpec(0.01f, 0.9f, false);
            RmspropSpec rmsprop = new RmspropSpec(1e-3f, 0.9f, 0f, 1e-7f, false, 0f);
            RmspropSpec centered = new RmspropSpec(1e-3f, 0.9f, 0.9f, 1e-7f, true, 0f);
            long[] step = {0};
            String[] names = {"adam", "adamw_masked", "amsgrad", "sgd_momentum", "rmsprop", "rmsprop_centered_momentum"};
            Runnable[] updates = {
                () -> b.adamUpdate(adam, ++step[0], p, g, s1, s2, null),
                () -> b.adamUpdate(adamW, ++step[0], p, g, s1, s2, mask),
                () -> b.adamAmsgradUpdate(adam, ++step[0], p, g, s1, s2, s3, null),
                () -> b.sgdUpdate(sgd, p, g, s1, null),
                () -> b.rmspropUpdate(rmsprop, p, g, s1, null, null, null),
                () -> b.rmspropUpdate(centered, p, g, s1, s2, s3, null),
            };
            for (int round = 1; round <= rounds; round++) {
                for (int k = 0; k < updates.length; k++) {
                    if (only != null && !only.equals(names[k])) {
                        continue;
                    }
                    for (int i = 0; i < 3; i++) {
                        updates[k].run();
                    }
                    long start = System.nanoTime();
                    for (int i = 0; i < 10; i++) {
                        updates[k].run();
                    }
                    System.out.printf(Locale.ROOT, "RESULT osprey optimizer_ms_%s_round%d %.3f%n", names[k], round,
                            (System.nanoTime() - start) / 1e7);
                }
            }
        }
    }
}
