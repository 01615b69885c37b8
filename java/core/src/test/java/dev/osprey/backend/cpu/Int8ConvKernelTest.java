package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.InputRange;
import java.util.Random;
import java.util.function.Supplier;
import org.bytedeco.dnnl.global.dnnl;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * -Dosprey.cpu.int8Conv: int8 convolutions without groups run on oneDNN's JIT int8 kernel by default and on its first
 * choice (brgemm) with {@code onednn}, and both give the same outputs; grouped ones keep oneDNN's first choice.
 */
class Int8ConvKernelTest {
    private static CpuBackend jit;
    private static CpuBackend first;

    @BeforeAll
    static void open() {
        jit = with(null, CpuBackend::new);
        Assumptions.assumeTrue(jit.unavailable(Precision.INT8) == null, () -> jit.unavailable(Precision.INT8));
        int avx512 = dnnl.cpu_isa.avx512_core.value; // where oneDNN has both kernels for these shapes
        Assumptions.assumeTrue((dnnl.get_effective_cpu_isa().value & avx512) == avx512, "needs AVX-512");
        first = with("onednn", CpuBackend::new);
    }

    @AfterAll
    static void close() {
        for (CpuBackend b : new CpuBackend[] {jit, first}) {
            if (b != null) {
                b.close();
            }
        }
    }

    /** Runs make with -Dosprey.cpu.int8Conv set to value (null: unset), restoring the property afterwards. */
    private static <T> T with(String value, Supplier<T> make) {
        String before = System.getProperty(Int8ConvKernel.PROPERTY);
        if (value == null) {
            System.clearProperty(Int8ConvKernel.PROPERTY);
        } else {
            System.setProperty(Int8ConvKernel.PROPERTY, value);
        }
        try {
            return make.get();
        } finally {
            if (before == null) {
                System.clearProperty(Int8ConvKernel.PROPERTY);
            } else {
                System.setProperty(Int8ConvKernel.PROPERTY, before);
            }
        }
    }

    private static ConvInference op(int batch, int size, int in, int out, int kernel, int stride, int groups) {
        int pad = kernel / 2;
        Conv2dSpec s = new Conv2dSpec(batch, size, size, in, out, kernel, kernel, stride, stride, pad, pad, pad, pad,
                1, 1, groups, true, Activation.RELU);
        return new ConvInference(s, false, Precision.INT8, new InputRange(0f, 2f));
    }

    /** The op's fp32 outputs through backend, for seeded inputs in its range, kernel and bias. */
    private static float[] run(CpuBackend backend, ConvInference op) {
        Conv2dSpec s = op.spec();
        Random r = new Random(17);
        InferenceConv plan = backend.inferenceConv(op);
        try (CpuTensor x = CpuTensor.allocate(s.inputShape());
             CpuTensor k = CpuTensor.allocate(s.kernelShape());
             CpuTensor prepared = CpuTensor.allocate(new int[] {Math.toIntExact(Math.max(1, plan.preparedFloats()))});
             CpuTensor b = CpuTensor.allocate(new int[] {s.filters()});
             CpuTensor y = CpuTensor.allocate(s.outputShape())) {
            for (int i = 0; i < x.size(); i++) {
                x.buffer().put(i, r.nextFloat() * 2f);
            }
            for (int i = 0; i < k.size(); i++) {
                k.buffer().put(i, (float) r.nextGaussian() / 8f);
            }
            for (int i = 0; i < s.filters(); i++) {
                b.buffer().put(i, (float) r.nextGaussian() / 4f);
            }
            plan.prepare(k, prepared);
            plan.forward(x, prepared, b, null, y);
            float[] out = new float[Math.toIntExact(y.size())];
            y.buffer().get(0, out);
            return out;
        }
    }

    private static void sameOutputs(ConvInference op) {
        float[] expected = run(first, op);
        float[] actual = run(jit, op);
        double largest = 1e-6;
        for (float v : expected) {
            largest = Math.max(largest, Math.abs(v));
        }
        for (int i = 0; i < expected.length; i++) {
            assertTrue(Math.abs(expected[i] - actual[i]) <= 1e-5 * largest, op.spec() + ": output " + i + " is "
                    + actual[i] + " on the JIT kernel, " + expected[i] + " on oneDNN's first choice");
        }
    }

    private static String implementation(CpuBackend backend, ConvInference op) {
        return assertInstanceOf(ConvInferencePlan.class, backend.inferenceConv(op)).implementation();
    }

    @Test
    void aThreeByThreeInt8ConvolutionRunsOnTheJitKernelWithTheSameOutputs() {
        for (ConvInference op : new ConvInference[] {op(3, 11, 16, 16, 3, 1, 1), op(2, 12, 16, 32, 3, 2, 1),
            op(1, 7, 8, 24, 3, 1, 1)}) {
            assertTrue(implementation(jit, op).startsWith("jit_int8:"), implementation(jit, op));
            assertNotEquals(implementation(jit, op), implementation(first, op), "the property changed nothing");
            sameOutputs(op);
        }
    }

    @Test
    void aPointwiseInt8ConvolutionRunsOnTheJitKernel() {
        ConvInference op = op(4, 9, 32, 48, 1, 1, 1);
        assertTrue(implementation(jit, op).startsWith("jit_int8"), implementation(jit, op));
        sameOutputs(op);
    }

    @Test
    void aGroupedInt8ConvolutionKeepsOneDnnsFirstChoice() {
        ConvInference op = op(2, 10, 32, 32, 3, 1, 2);
        assertEquals(implementation(first, op), implementation(jit, op));
    }

    @Test
    void aBadValueNamesTheProperty() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> with("brgemm", Int8ConvKernel::fromProperty));
        assertTrue(e.getMessage().contains("-Dosprey.cpu.int8Conv") && e.getMessage().contains("'brgemm'"),
                e.getMessage());
        assertEquals(Int8ConvKernel.JIT, with(null, Int8ConvKernel::fromProperty));
    }
}
