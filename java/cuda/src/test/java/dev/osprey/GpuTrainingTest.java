package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;

import dev.osprey.backend.Device;
import dev.osprey.backend.GpuTests;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.Flatten;
import dev.osprey.layers.MaxPooling2D;
import dev.osprey.loss.Loss;
import dev.osprey.metrics.Metric;
import dev.osprey.optim.Adam;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * On the GPU, the tiny model's first losses match the plain-Java reference training within TF32's tolerance.
 * Needs no CPU backend, so the GPU bundle (which carries no oneDNN) runs it too.
 */
class GpuTrainingTest {
    static final double TF32_TOLERANCE = 1e-2;

    /** TrainingReproducibilityTest's tiny model on the first GPU, compiled with this optimizer. */
    private static Sequential tinyModel(dev.osprey.optim.Optimizer optimizer) {
        return new Sequential(
                new Conv2D(4, 3, Activation.RELU).inputShape(8, 8, 1),
                new MaxPooling2D(2),
                new Flatten(),
                new Dense(TrainingReproducibilityTest.CLASSES, Activation.SOFTMAX))
                .device(Device.cuda(0)).seed(3)
                .compile(optimizer, Loss.sparseCategoricalCrossentropy(), Metric.ACCURACY);
    }

    @Test
    void firstLossesOnTheGpuMatchTheReferenceTraining() {
        GpuTests.requireOrSkip();
        NDArray[] d = TrainingReproducibilityTest.data();
        try (Sequential model = tinyModel(new Adam(0.01))) {
            List<NDArray> initial = model.getWeights();
            List<Double> gpu = TrainingReproducibilityTest.batchLosses(model, d[0], d[1]);
            List<Double> reference = TrainingReproducibilityTest.referenceLosses(initial, d[0], d[1]);
            for (int i = 0; i < reference.size(); i++) {
                assertEquals(reference.get(i), gpu.get(i), TF32_TOLERANCE * Math.max(1, Math.abs(reference.get(i))),
                        "step " + (i + 1) + ": reference " + reference + ", gpu " + gpu);
            }
        }
    }

    /**
     * mixed_float16 on a tensor-core GPU: the policy is in effect (not the fp32 fallback), and with the loss scaled
     * by 2^15 before backward and unscaled before each Adam step, the first losses still follow the fp32 reference
     * within twice TF32's tolerance (fp16 keeps TF32's 11 significant bits; rounding errors grow over the steps), and
     * no step overflows on this model.
     */
    @Test
    void fp16MixedPrecisionWithLossScalingFollowsTheReferenceTraining() {
        assertPolicyFollowsTheReference(MixedPrecision.FLOAT16, 2 * TF32_TOLERANCE);
    }

    /**
     * mixed_bfloat16 on a GPU with bf16 tensor cores (Ampere on; the GPU hosts here are Hopper): the policy is in
     * effect, no loss scaling (bf16 has fp32's exponent range), and the first losses follow the fp32 reference within
     * four times TF32's tolerance: bf16 keeps 8 significant bits, and cuDNN's bf16 convolutions round their outputs
     * too.
     */
    @Test
    void bf16MixedPrecisionFollowsTheReferenceTraining() {
        assertPolicyFollowsTheReference(MixedPrecision.BFLOAT16, 4 * TF32_TOLERANCE);
    }

    /** The tiny model trained under policy: in effect, every step taken, each loss within tolerance (relative). */
    private static void assertPolicyFollowsTheReference(MixedPrecision policy, double tolerance) {
        GpuTests.requireOrSkip();
        NDArray[] d = TrainingReproducibilityTest.data();
        try (Sequential model = tinyModel(new Adam(0.01))) {
            model.mixedPrecision(policy);
            assertEquals(policy, model.mixedPrecision(), "the GPU must have " + policy + " tensor cores");
            List<NDArray> initial = model.getWeights();
            List<Double> gpu = TrainingReproducibilityTest.batchLosses(model, d[0], d[1]);
            List<Double> reference = TrainingReproducibilityTest.referenceLosses(initial, d[0], d[1]);
            for (int i = 0; i < reference.size(); i++) {
                assertEquals(reference.get(i), gpu.get(i), tolerance * Math.max(1, Math.abs(reference.get(i))),
                        "step " + (i + 1) + ": reference " + reference + ", gpu " + policy + " " + gpu);
            }
            assertEquals(TrainingReproducibilityTest.STEPS, model.optimizerState().iterations(),
                    "every step taken (none overflowed)");
        }
    }

    /** bf16 inference on the GPU is in effect and predicts within bf16's rounding of fp32's probabilities. */
    @Test
    void bf16InferenceOnTheGpuStaysCloseToFp32() {
        GpuTests.requireOrSkip();
        NDArray[] d = TrainingReproducibilityTest.data();
        try (Sequential model = tinyModel(new Adam(0.01))) {
            float[] fp32 = model.predict(d[0]).data();
            model.inferencePrecision(Precision.BF16);
            assertEquals(Precision.BF16, model.inferencePrecision(), "the GPU must have bf16 tensor cores");
            float[] bf16 = model.predict(d[0]).data();
            assertEquals(fp32.length, bf16.length);
            double worst = 0;
            boolean anyDifferent = false;
            for (int i = 0; i < fp32.length; i++) {
                worst = Math.max(worst, Math.abs(fp32[i] - bf16[i]));
                anyDifferent |= fp32[i] != bf16[i];
            }
            org.junit.jupiter.api.Assertions.assertTrue(worst < 2e-2, "largest difference of probabilities " + worst);
            org.junit.jupiter.api.Assertions.assertTrue(anyDifferent, "bf16 products should move some probability");
        }
    }

    /**
     * Tells fp16 products from TF32 ones, which have the same 11 significant bits: with the loss scaled by 2^24 the
     * output gradient reaches millions, past fp16's largest value (65504) but well inside TF32's range. Under
     * mixed_float16 the first step must overflow and be skipped; under fp32 (TF32) it must be taken.
     */
    @Test
    void aLossScaleOf2To24OverflowsFp16ProductsButNotTf32Ones() {
        GpuTests.requireOrSkip();
        NDArray[] d = TrainingReproducibilityTest.data();
        for (MixedPrecision policy : new MixedPrecision[] {MixedPrecision.FLOAT16, MixedPrecision.FLOAT32}) {
            try (Sequential model = tinyModel(new dev.osprey.optim.LossScaleOptimizer(new Adam(0.01), 0x1p24,
                    2000))) {
                model.mixedPrecision(policy);
                model.trainOnBatch(d[0].slice(0, TrainingReproducibilityTest.BATCH),
                        d[1].slice(0, TrainingReproducibilityTest.BATCH));
                Model.OptimizerState state = model.optimizerState(); // no step taken yet: none, or 0 iterations
                boolean skipped = state == null || state.iterations() == 0;
                assertEquals(policy == MixedPrecision.FLOAT16, skipped, policy + ": the first step "
                        + (skipped ? "was skipped" : "was taken"));
            }
        }
    }
}
