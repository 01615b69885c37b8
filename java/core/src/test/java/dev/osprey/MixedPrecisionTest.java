package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.data.Datasets;
import dev.osprey.data.LabeledData;
import java.lang.reflect.Proxy;
import java.util.Map;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/**
 * Model.mixedPrecision: bf16 training where the backend has the kernels, within a stated margin of fp32's accuracy;
 * one logged line and fp32 where it hasn't.
 */
class MixedPrecisionTest {
    /**
     * Test accuracy bf16 training may lose against fp32 after the same epochs on the bundled sample: 3 points, about
     * twice the spread of fp32 runs with different seeds (bf16 and fp32 runs drift apart as such runs do).
     */
    static final double STATED_MARGIN = 0.03;

    @Test
    void aBackendWithoutBf16TrainingKernelsTrainsInFp32() {
        Backend withoutBf16 = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "trainingUnavailable" -> args[0] == Precision.FP32 ? null : "no bf16 kernels on this backend";
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        assertEquals(Precision.FP32, Model.effectiveTrainingMath(withoutBf16, MixedPrecision.BFLOAT16));
        assertEquals(Precision.FP32, Model.effectiveTrainingMath(withoutBf16, MixedPrecision.FLOAT32));
    }

    @Test
    void theModelReportsThePolicyInEffectOnItsBackend() {
        try (Sequential model = Models.tutorialCnn().device(Device.cpu())) {
            assertEquals(MixedPrecision.FLOAT32, model.mixedPrecision());
            boolean bf16 = model.backend().trainingUnavailable(Precision.BF16) == null;
            assertEquals(bf16 ? MixedPrecision.BFLOAT16 : MixedPrecision.FLOAT32,
                    model.mixedPrecision(MixedPrecision.BFLOAT16).mixedPrecision());
            model.build();
            assertEquals(bf16 ? MixedPrecision.BFLOAT16 : MixedPrecision.FLOAT32, model.mixedPrecision());
            assertEquals(MixedPrecision.FLOAT32, model.mixedPrecision(MixedPrecision.FLOAT32).mixedPrecision());
        }
    }

    @Test
    void bf16TrainsToWithinTheStatedMarginOfFp32OnRealImages() {
        try (Sequential probe = Models.tutorialCnn().device(Device.cpu())) {
            Assumptions.assumeTrue(probe.backend().trainingUnavailable(Precision.BF16) == null,
                    () -> probe.backend().trainingUnavailable(Precision.BF16));
        }
        LabeledData d = Datasets.fashionMnistSample();
        double fp32 = accuracy(d, MixedPrecision.FLOAT32);
        double bf16 = accuracy(d, MixedPrecision.BFLOAT16);
        System.out.println("Tutorial model, 2 epochs on the bundled sample: fp32 " + fp32 + ", bf16 " + bf16);
        assertTrue(bf16 >= fp32 - STATED_MARGIN, "bf16 " + bf16 + " against fp32 " + fp32);
    }

    private static double accuracy(LabeledData d, MixedPrecision policy) {
        try (Sequential model = Models.tutorialCnn().device(Device.cpu())) {
            model.mixedPrecision(policy);
            assertEquals(policy, model.mixedPrecision());
            model.compile(new dev.osprey.optim.Adam(), dev.osprey.loss.Loss.sparseCategoricalCrossentropy(),
                    dev.osprey.metrics.Metric.ACCURACY);
            model.fit(d.trainX(), d.trainY(), FitOptions.defaults().epochs(2).batchSize(32).verbose(false));
            Map<String, Double> result = model.evaluate(d.testX(), d.testY());
            return result.get("accuracy");
        }
    }

    @Test
    void policiesParseFromTheirNames() {
        assertEquals(MixedPrecision.BFLOAT16, MixedPrecision.parse(" bf16"));
        assertEquals(MixedPrecision.BFLOAT16, MixedPrecision.parse("mixed_bfloat16"));
        assertEquals(MixedPrecision.FLOAT32, MixedPrecision.parse("FP32"));
        assertEquals(MixedPrecision.FLOAT32, MixedPrecision.parse("float32"));
        assertEquals(MixedPrecision.FLOAT16, MixedPrecision.parse("mixed_float16"));
        assertEquals(MixedPrecision.FLOAT16, MixedPrecision.parse("FP16 "));
        assertEquals(Precision.FP16, MixedPrecision.FLOAT16.math());
        assertEquals("bf16", MixedPrecision.BFLOAT16.toString());
        assertEquals("fp16", MixedPrecision.FLOAT16.toString());
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> MixedPrecision.parse("fp8"));
        assertTrue(e.getMessage().contains("expected a training precision fp32, bf16 (mixed_bfloat16) or fp16 "
                + "(mixed_float16), received 'fp8'"), e.getMessage());
    }
}
