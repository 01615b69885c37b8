package dev.osprey;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Backend;
import java.lang.reflect.Proxy;
import java.util.Arrays;
import java.util.Random;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** Model.inferencePrecision: bf16 predicts close to fp32 where the backend has the kernels, and falls back where not. */
class InferencePrecisionTest {
    private static NDArray images(int n, long seed) {
        Random r = new Random(seed);
        float[] x = new float[n * 32 * 32 * 3];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        return new NDArray(x, n, 32, 32, 3);
    }

    @Test
    void bf16PredictsWithinAPercentOfFp32AndSwitchingBackGivesFp32Exactly() {
        try (Model model = Models.resNet(20, Shape.of(32, 32, 3), 10)) {
            Assumptions.assumeTrue(model.backend().unavailable(Precision.BF16) == null,
                    () -> model.backend().unavailable(Precision.BF16));
            NDArray x = images(16, 1);
            float[] fp32 = model.predict(x, 8).data();
            assertEquals(Precision.BF16, model.inferencePrecision(Precision.BF16).inferencePrecision());
            float[] bf16 = model.predict(x, 8).data();
            assertFalse(Arrays.equals(fp32, bf16), "bf16 must round: its predictions can't equal fp32's bit for bit");
            for (int i = 0; i < fp32.length; i++) {
                assertTrue(Math.abs(fp32[i] - bf16[i]) <= 0.01, "probability " + i + ": fp32 " + fp32[i]
                        + ", bf16 " + bf16[i]);
            }
            model.inferencePrecision(Precision.FP32);
            assertTrue(Arrays.equals(fp32, model.predict(x, 8).data()), "back in fp32, fp32's predictions exactly");
        }
    }

    @Test
    void aBackendWithoutBf16KernelsStaysInFp32() {
        Backend withoutBf16 = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(),
                new Class<?>[] {Backend.class}, (proxy, method, args) -> switch (method.getName()) {
                    case "unavailable" -> args[0] == Precision.FP32 ? null : "no bf16 kernels on this test backend";
                    default -> throw new UnsupportedOperationException(method.getName());
                });
        assertEquals(Precision.FP32, Model.effectivePrecision(withoutBf16, Precision.BF16));
        assertEquals(Precision.FP32, Model.effectivePrecision(withoutBf16, Precision.FP32));
    }

    @Test
    void precisionsParseFromTheirNames() {
        assertEquals(Precision.BF16, Precision.parse(" BF16"));
        assertEquals(Precision.FP32, Precision.parse("fp32"));
        assertEquals(Precision.FP16, Precision.parse("Fp16"));
        try (Sequential model = Models.tutorialCnn()) { // fp16 inference is for GPUs: a CPU infers in fp32
            Assumptions.assumeTrue(model.backend().unavailable(Precision.FP16) != null, "this backend has fp16");
            NDArray x = new NDArray(new float[2 * 28 * 28], 2, 28, 28, 1);
            float[] fp32 = model.predict(x).data();
            assertEquals(Precision.FP32, model.inferencePrecision(Precision.FP16).inferencePrecision());
            assertTrue(Arrays.equals(fp32, model.predict(x).data()), "fp32's predictions exactly");
        }
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp8"));
        assertTrue(e.getMessage().contains("expected precision fp32, bf16, fp16 or int8, received 'fp8'"),
                e.getMessage());
    }
}
