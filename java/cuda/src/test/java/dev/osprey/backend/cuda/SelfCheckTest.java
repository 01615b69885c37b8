package dev.osprey.backend.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Backend;
import dev.osprey.Precision;
import dev.osprey.backend.BackendException;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Tensor;
import dev.osprey.backend.cpu.CpuBackend;
import java.lang.reflect.Proxy;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/**
 * The GPU's start-up self-check and its bf16 check, run on the CPU backend here: their answers, worked out in Java,
 * must agree with a backend that computes right (for bf16, one that multiplies bf16-rounded operands), and a wrong
 * convolution or a bf16 convolution that fell back to fp32 must be caught.
 */
class SelfCheckTest {
    @Test
    void theStartUpChecksAnswersAgreeWithACorrectBackend() {
        try (CpuBackend cpu = new CpuBackend()) {
            SelfCheck.run(cpu);
        }
    }

    /** On a backend that multiplies bf16 values (the CPU's fp32 ops on operands rounded here first). */
    @Test
    void theBf16ChecksAnswersAgreeWithABackendThatMultipliesBf16Values() {
        try (CpuBackend cpu = new CpuBackend()) {
            assertNull(SelfCheck.bf16(multiplyingBf16Values(cpu), () -> 0));
        }
    }

    @Test
    void aBf16ConvolutionThatFellBackToFp32FailsTheCheck() {
        AtomicLong fallbacks = new AtomicLong();
        try (CpuBackend cpu = new CpuBackend()) {
            String reason = SelfCheck.bf16(multiplyingBf16Values(cpu), fallbacks::getAndIncrement); // one more after
            assertEquals("cuDNN has no bf16 algorithm on this GPU even for a 3x3 convolution of 8 channels", reason);
        }
    }

    @Test
    void aWrongConvolutionFailsBothChecks() {
        try (CpuBackend cpu = new CpuBackend()) {
            Backend wrong = flippingConvolutionOutputs(cpu);
            BackendException e = assertThrows(BackendException.class, () -> SelfCheck.run(wrong));
            assertTrue(e.getMessage().startsWith("CUDA backend self-check failed: conv2d forward (fp32) expected"),
                    e.getMessage());
            String reason = SelfCheck.bf16(flippingConvolutionOutputs(multiplyingBf16Values(cpu)), () -> 0);
            assertTrue(reason != null && reason.startsWith("bf16 products failed their check on this GPU: CUDA backend "
                    + "self-check failed: conv2d forward (bf16)"), reason);
        }
    }

    /** b, but every convolution's output comes out negated. */
    private static Backend flippingConvolutionOutputs(Backend b) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    Object result = call(method, b, args);
                    if (method.getName().equals("conv2dForward")) {
                        Tensor y = (Tensor) args[4];
                        b.scale(y, -1f, 0f, y);
                    }
                    return result;
                });
    }

    /**
     * cpu, whose convolution and dense forward ops under bf16 math multiply operands rounded to bf16 (to nearest,
     * ties to even) here first, in fp32: products of bf16 values, as a GPU's bf16 tensor cores take them.
     */
    private static Backend multiplyingBf16Values(CpuBackend cpu) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    if (method.getName().equals("conv2dForward") && ((Conv2dSpec) args[0]).math() == Precision.BF16) {
                        Conv2dSpec s = ((Conv2dSpec) args[0]).withMath(Precision.FP32);
                        cpu.conv2dForward(s, rounded(cpu, (Tensor) args[1]), rounded(cpu, (Tensor) args[2]),
                                (Tensor) args[3], (Tensor) args[4]);
                        return null;
                    }
                    if (method.getName().equals("denseForward") && ((DenseSpec) args[0]).math() == Precision.BF16) {
                        DenseSpec s = ((DenseSpec) args[0]).withMath(Precision.FP32);
                        cpu.denseForward(s, rounded(cpu, (Tensor) args[1]), rounded(cpu, (Tensor) args[2]),
                                (Tensor) args[3], (Tensor) args[4]);
                        return null;
                    }
                    return call(method, cpu, args);
                });
    }

    /** t's values rounded to bf16, in the same tensor (the check uploads fresh operands for each op). */
    private static Tensor rounded(Backend b, Tensor t) {
        float[] v = new float[(int) t.size()];
        b.copyOut(t, v, 0);
        for (int i = 0; i < v.length; i++) {
            int bits = Float.floatToRawIntBits(v[i]);
            int lower = bits & 0xffff;
            boolean up = lower > 0x8000 || lower == 0x8000 && (bits & 0x10000) != 0; // to nearest, ties to even
            v[i] = Float.intBitsToFloat((bits & 0xffff0000) + (up ? 0x10000 : 0));
        }
        b.copyIn(v, 0, t);
        return t;
    }

    private static Object call(java.lang.reflect.Method method, Object target, Object[] args) throws Throwable {
        try {
            return method.invoke(target, args);
        } catch (java.lang.reflect.InvocationTargetException e) {
            throw e.getCause();
        }
    }
}
