package dev.osprey.bench;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import java.util.Arrays;
import java.util.Locale;
import java.util.Random;

/**
 * One inference convolution alone, through the CPU backend as an inference plan runs it (the kernel prepared once,
 * bias and ReLU fused): the median and best time of a call over several blocks of calls, in microseconds. Run it
 * under two settings of the backend (benchmarks/run-conv-op-ab.sh) to compare the kernels that take a layer, without
 * the rest of a model's noise around it.
 *
 * <p>Usage: ConvOpTime BATCH H W IN OUT KERNEL STRIDE PAD SECONDS [KERNELS=1]. With KERNELS above 1 the calls take
 * that many prepared kernels in turn, as a model's layers of one shape do, so that a kernel is not found in the cache
 * just because the call before read it. The environment variable CONV_GROUPS (default 1) splits the channels into
 * that many groups: CONV_GROUPS=IN with OUT=IN is a depthwise convolution. CONV_PRECISION=int8 (default fp32) runs it
 * in int8 with its input range set to [0, 3] (unsigned, as after a ReLU; the Gaussian inputs' negative half reads as
 * 0), and each call includes the conversion of the fp32 input to 8 bits, as a model's first int8 layer does. Prints
 * "RESULT us_median V" and "RESULT us_best V".
 */
public final class ConvOpTime {
    private ConvOpTime() {
    }

    public static void main(String[] args) {
        if (args.length != 9 && args.length != 10) {
            System.err.println("usage: ConvOpTime BATCH H W IN OUT KERNEL STRIDE PAD SECONDS [KERNELS=1]");
            System.exit(2);
        }
        int copies = args.length == 10 ? Integer.parseInt(args[9]) : 1;
        if (copies < 1) {
            System.err.println("ConvOpTime: expected KERNELS >= 1, received " + copies);
            System.exit(2);
        }
        int[] a = Arrays.stream(args, 0, 8).mapToInt(Integer::parseInt).toArray();
        double seconds = Double.parseDouble(args[8]);
        int groups = Integer.parseInt(System.getenv().getOrDefault("CONV_GROUPS", "1"));
        if (groups < 1 || a[3] % groups != 0 || a[4] % groups != 0) {
            System.err.println("ConvOpTime: expected CONV_GROUPS >= 1 dividing IN and OUT, received " + groups);
            System.exit(2);
        }
        Conv2dSpec spec = new Conv2dSpec(a[0], a[1], a[2], a[3], a[4], a[5], a[5], a[6], a[6], a[7], a[7], a[7], a[7],
                1, 1, groups, true, Activation.RELU);
        String precision = System.getenv().getOrDefault("CONV_PRECISION", "fp32");
        if (!precision.equals("fp32") && !precision.equals("int8")) {
            System.err.println("ConvOpTime: expected CONV_PRECISION fp32 or int8, received " + precision);
            System.exit(2);
        }
        ConvInference op = precision.equals("int8")
                ? new ConvInference(spec, false, Precision.INT8, new dev.osprey.backend.InputRange(0f, 3f))
                : new ConvInference(spec, false, Precision.FP32);
        Backend backend = Device.cpu().backend();
        Random r = new Random(1);
        try (Memory memory = backend.newMemory()) {
            Tensor x = filled(backend, memory, r, spec.inputShape());
            Tensor keras = filled(backend, memory, r, spec.kernelShape());
            Tensor bias = filled(backend, memory, r, spec.filters());
            Tensor y = memory.allocate(spec.outputShape());
            long floats = backend.conv2dInferenceKernelSize(op);
            Tensor[] kernels = new Tensor[copies];
            for (int c = 0; c < copies; c++) {
                Tensor k = c == 0 ? keras : filled(backend, memory, r, spec.kernelShape());
                kernels[c] = k;
                if (floats > 0) {
                    kernels[c] = memory.allocate(Math.toIntExact(floats));
                    backend.conv2dPrepareInferenceKernel(op, k, kernels[c]);
                }
            }
            float[] sync = new float[1];
            Tensor probe = backend.view(y, 0, 1);
            int calls = 1;
            long start = System.nanoTime();
            while (System.nanoTime() - start < 200_000_000L) { // warm up, and size a block at about 20 ms
                backend.conv2dInference(op, x, kernels[calls % copies], bias, null, y);
                calls++;
            }
            backend.copyOut(probe, sync, 0); // the warm-up done on the device too
            long call = 0; // the kernels in turn across blocks, not restarting at the first in each
            int perBlock = Math.max(1, (int) (calls * 0.1));
            double[] blocks = new double[Math.max(5, (int) (seconds / 0.02))];
            for (int b = 0; b < blocks.length; b++) {
                long t0 = System.nanoTime();
                for (int i = 0; i < perBlock; i++, call++) {
                    backend.conv2dInference(op, x, kernels[(int) (call % copies)], bias, null, y);
                }
                backend.copyOut(probe, sync, 0);
                blocks[b] = (System.nanoTime() - t0) / 1e3 / perBlock;
            }
            Arrays.sort(blocks);
            System.out.println("INFO backend " + backend.description());
            System.out.printf(Locale.ROOT, "RESULT us_median %.3f%nRESULT us_best %.3f%n", blocks[blocks.length / 2],
                    blocks[0]);
        }
    }

    /** A tensor of this shape filled with standard normal values from r. */
    static Tensor filled(Backend backend, Memory memory, Random r, int... shape) {
        Tensor t = memory.allocate(shape);
        float[] values = new float[Math.toIntExact(t.size())];
        for (int i = 0; i < values.length; i++) {
            values[i] = (float) r.nextGaussian();
        }
        backend.copyIn(values, 0, t);
        return t;
    }
}
