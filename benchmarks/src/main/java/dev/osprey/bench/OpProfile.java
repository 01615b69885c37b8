package dev.osprey.bench;

import dev.osprey.MixedPrecision;
import dev.osprey.Model;
import dev.osprey.Models;
import dev.osprey.NDArray;
import dev.osprey.Precision;
import dev.osprey.Shape;
import dev.osprey.loss.Loss;
import dev.osprey.optim.Adam;
import org.bytedeco.dnnl.global.dnnl;

/**
 * Osprey's side of benchmarks/run-op-profile.sh: runs one built-in model's inference at a large batch, at batch 1, or
 * its training steps, with oneDNN's verbose mode (which times every primitive it executes) switched on only for the
 * measured calls, after untimed warm-up calls. The primitive lines go to standard output for the script to sum.
 *
 * <p>Usage: OpProfile tutorial|resnet20|mobilenetv2|resnet18|mobilenetv2_224 infer|latency|train CALLS
 * [fp32|bf16|int8] (bf16: bf16 inference, or mixed_bfloat16 training; where the CPU lacks bf16 kernels the model says
 * why and runs fp32. int8: inference only, calibrated on the profiled images). Prints "OPPROFILE
 * wall_ms_per_call T" (the same calls timed without the verbose mode) and "OPPROFILE calls N" first. {@code OpProfile
 * peak SECONDS} prints the CPU's fp32 rate on a large matrix product ("OPPROFILE peak_gflops G"), the yardstick. infer predicts at batch 256 (32 for resnet18), latency at batch 1, train steps at batch 128 (32 for
 * resnet18) with Adam and cross-entropy on seeded random normal images and labels.
 */
public final class OpProfile {
    private OpProfile() {
    }

    public static void main(String[] args) {
        if (args.length == 2 && args[0].equals("peak")) {
            System.out.printf(java.util.Locale.ROOT, "OPPROFILE peak_gflops %.1f%n",
                    dev.osprey.benchmark.ModelBenchmark.peakGflops(dev.osprey.backend.Device.cpu(),
                            Double.parseDouble(args[1])));
            return;
        }
        if (args.length < 3 || args.length > 4 || !args[1].matches("infer|latency|train")
                || args.length == 4 && !args[3].matches("fp32|bf16|int8")
                || args.length == 4 && args[3].equals("int8") && args[1].equals("train")) {
            System.err.println("usage: OpProfile tutorial|resnet20|mobilenetv2|resnet18|mobilenetv2_224 infer|latency|train CALLS "
                    + "[fp32|bf16|int8] (int8: not train), or "
                    + "OpProfile peak SECONDS");
            System.exit(2);
        }
        String name = args[0];
        String phase = args[1];
        int calls = Integer.parseInt(args[2]);
        Shape input = InferenceThroughput.inputOf(name);
        int large = InferenceThroughput.largeBatchOf(name); // 32 at 224x224x3
        int batch = phase.equals("latency") ? 1 : large == 32 ? 32 : phase.equals("train") ? 128 : 256;
        SeededBatch data = SeededBatch.of(input, batch);
        NDArray images = data.images();
        NDArray labels = data.labels();
        try (Model model = Models.byName(InferenceThroughput.architectureOf(name), input, 10)) {
            model.compile(new Adam(1e-3), Loss.sparseCategoricalCrossentropy());
            if (args.length == 4 && args[3].equals("bf16")) {
                model.mixedPrecision(MixedPrecision.BFLOAT16);
                model.inferencePrecision(Precision.BF16);
            } else if (args.length == 4 && args[3].equals("int8")) {
                model.quantize(images); // calibrated on the profiled images: a speed figure, not an accuracy one
            }
            Runnable call = phase.equals("train") ? () -> model.trainOnBatch(images, labels)
                    : () -> model.predict(images, batch);
            int warmUp = phase.equals("latency") ? 3000 : 5; // batch 1: enough calls for the JIT to finish
            for (int i = 0; i < warmUp; i++) {
                call.run();
            }
            long start = System.nanoTime();
            for (int i = 0; i < calls; i++) {
                call.run();
            }
            System.out.printf(java.util.Locale.ROOT, "OPPROFILE wall_ms_per_call %.4f%n",
                    (System.nanoTime() - start) / 1e6 / calls);
            System.out.println("OPPROFILE calls " + calls);
            System.out.flush();
            dnnl.set_verbose(1);
            for (int i = 0; i < calls; i++) {
                call.run();
            }
            dnnl.set_verbose(0);
        }
    }
}
