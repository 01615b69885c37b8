package dev.osprey.engine;

import dev.osprey.Shape;
import dev.osprey.backend.Backend;
import java.util.Random;

/** Seeded weights and images for the engine's tests, on any backend (no CPU backend needed: the GPU bundle's tests). */
final class Seeded {
    private Seeded() {
    }

    /** Every weight (moving statistics included) to seeded random values of a trained model's size. */
    static void randomize(Backend backend, Parameters p, long seed) {
        java.util.SplittableRandom r = new java.util.SplittableRandom(seed);
        for (Parameters.Slot s : p.slots()) {
            int[] shape = s.spec().shape();
            int fanIn = shape.length == 4 ? shape[0] * shape[1] * shape[2] : shape[0];
            float spread = (float) Math.sqrt(6.0 / fanIn); // He's uniform range
            float[] v = new float[s.spec().size()];
            String name = s.spec().name();
            for (int i = 0; i < v.length; i++) {
                float u = (float) r.nextDouble(-1, 1);
                v[i] = switch (name) {
                    case "moving_variance", "gamma" -> 1f + 0.5f * u;
                    case "moving_mean", "beta", "bias" -> 0.2f * u;
                    default -> spread * u;
                };
            }
            backend.copyIn(v, 0, s.value());
        }
        p.changed();
    }

    /** n images of this shape, standard normal values from the seed. */
    static float[] images(int n, Shape shape, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * shape.size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return x;
    }

    /** Every weight gradient of the parameters, in slot order, one array (to compare two runs bit for bit). */
    static float[] weightGradients(Backend backend, Parameters p) {
        java.util.List<float[]> parts = new java.util.ArrayList<>();
        int total = 0;
        for (Parameters.Slot s : p.slots()) {
            if (s.gradient() != null) {
                float[] v = new float[(int) s.gradient().size()];
                backend.copyOut(s.gradient(), v, 0);
                parts.add(v);
                total += v.length;
            }
        }
        float[] out = new float[total];
        int at = 0;
        for (float[] v : parts) {
            System.arraycopy(v, 0, out, at, v.length);
            at += v.length;
        }
        return out;
    }
}
