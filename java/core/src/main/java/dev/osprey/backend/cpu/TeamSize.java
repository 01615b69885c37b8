package dev.osprey.backend.cpu;

import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Pool2dSpec;

/**
 * How many OpenMP threads a primitive gets: no more than its work can feed. Its time on one thread is estimated from
 * its multiply-adds and the bytes it reads and writes, and each thread must get at least {@code minMicrosPerThread} of
 * it (10 µs; {@code -Dosprey.cpu.minMicrosPerThread=0} gives every primitive the whole team). Below that, forking
 * and joining a team and splitting the work across it cost more than the extra thread brings. Measured inside oneDNN
 * on 2 AVX2 cores at batch 1 with spinning OpenMP threads (benchmarks/results/batch1-primitives-1-vs-2-threads-*.md),
 * the tutorial CNN's first convolution took 16 µs on one thread and 47 µs on two, its dense layer 7.6 and 12.4 µs,
 * while its second convolution (2.2 M multiply-adds) took 68 and 52 µs; benchmarks/run-team-size.sh compares whole
 * models.
 *
 * <p>At batch 256 (and in the 32-row slices ResNet-20 runs such a batch in, see InferenceSlices) every convolution and
 * pooling of the built-in models gets the whole team; only tiny ops stay on
 * fewer (the tutorial CNN's 64-to-10 dense layer, a softmax over 256 x 10). The rates below are one AVX2 core's in
 * fp32. A faster core (AVX-512, or bf16 and int8 kernels) does the work sooner than estimated, so a primitive there may
 * get more threads than its work feeds, as every primitive did before this existed; never fewer.
 */
final class TeamSize {
    /** One core's fp32 multiply-adds per nanosecond in oneDNN's AVX2 convolutions (measured: 31-33). */
    private static final double MULTIPLY_ADDS_PER_NS = 32;
    /** One core's bytes per nanosecond streaming a layer's weights and activations through its caches (20-25). */
    private static final double BYTES_PER_NS = 20;
    private final int team;
    private final double minNsPerThread;

    /** Teams of at most {@code team} threads, each fed at least {@code minMicrosPerThread} (0: always the team). */
    TeamSize(int team, double minMicrosPerThread) {
        if (team < 1 || !(minMicrosPerThread >= 0) || Double.isInfinite(minMicrosPerThread)) {
            throw new IllegalArgumentException("expected a team of at least 1 thread and microseconds >= 0, received "
                    + team + " and " + minMicrosPerThread);
        }
        this.team = team;
        this.minNsPerThread = 1_000 * minMicrosPerThread;
    }

    /** The whole OpenMP team, each thread fed at least -Dosprey.cpu.minMicrosPerThread (10 µs unless set). */
    static TeamSize fromProperties() {
        return new TeamSize(OpenMpTeam.defaultSize(), minMicrosPerThread());
    }

    /** The team for a primitive of this many multiply-adds (or comparable operations) and bytes moved. */
    int of(double multiplyAdds, double bytes) {
        if (minNsPerThread == 0) {
            return team;
        }
        double ns = multiplyAdds / MULTIPLY_ADDS_PER_NS + bytes / BYTES_PER_NS;
        return (int) Math.max(1, Math.min(team, Math.floor(ns / minNsPerThread)));
    }

    /** The whole team, for kernels that size their own (PointwiseConvPlan.team). */
    int whole() {
        return team;
    }

    /** A convolution for inference, with the depthwise one fused after it if any. */
    int of(ConvInference op) {
        Conv2dSpec s = op.spec();
        double multiplyAdds = s.forwardFlops() / 2;
        double floats = (double) s.batch() * s.inH() * s.inW() * s.inC() + weights(s)
                + (op.maxPool() == null ? outputs(s) : java.util.Arrays.stream(op.outputShape()).asDoubleStream()
                        .reduce(1, (a, b) -> a * b)); // a fused pooling: only its output is written
        Conv2dSpec dw = op.depthwise();
        if (dw != null) {
            multiplyAdds += dw.forwardFlops() / 2;
            floats += weights(dw) + outputs(dw);
        }
        return of(multiplyAdds, floats * Float.BYTES);
    }

    /** A dense layer. */
    int of(DenseSpec s) {
        double multiplyAdds = (double) s.batch() * s.inFeatures() * s.units();
        double floats = (double) s.batch() * s.inFeatures() + (double) s.inFeatures() * s.units()
                + (double) s.batch() * s.units();
        return of(multiplyAdds, floats * Float.BYTES);
    }

    /** A pooling: a comparison or addition per window element. */
    int of(Pool2dSpec s, int bytesPerValue) {
        double outputs = (double) s.batch() * s.outH() * s.outW() * s.channels();
        double inputs = (double) s.batch() * s.inH() * s.inW() * s.channels();
        return of(outputs * s.poolH() * s.poolW(), (inputs + outputs) * bytesPerValue);
    }

    /** An element-wise op over {@code elements} values reading {@code operands} tensors and writing one. */
    int elementwise(long elements, int operands) {
        return of(elements, (double) elements * (operands + 1) * Float.BYTES);
    }

    private static double weights(Conv2dSpec s) {
        return (double) s.filters() * s.kernelH() * s.kernelW() * (s.inC() / s.groups());
    }

    private static double outputs(Conv2dSpec s) {
        return (double) s.batch() * s.outH() * s.outW() * s.filters();
    }

    private static double minMicrosPerThread() {
        String value = System.getProperty("osprey.cpu.minMicrosPerThread", "10");
        try {
            double micros = Double.parseDouble(value.trim());
            if (micros >= 0 && Double.isFinite(micros)) {
                return micros;
            }
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new BackendException("-Dosprey.cpu.minMicrosPerThread: expected microseconds (a number >= 0; 0 gives "
                + "every primitive the whole OpenMP team), received '" + value + "'");
    }
}
