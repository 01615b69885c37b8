package dev.osprey.backend.cpu;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.InputRange;
import java.util.Random;
import org.bytedeco.dnnl.convolution_forward;
import org.bytedeco.dnnl.memory;
import org.bytedeco.dnnl.global.dnnl;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * {@link PreferredKernels}: int8 convolutions without groups run on oneDNN's JIT int8 kernel by default and on its
 * first choice (brgemm) with {@code -Dosprey.cpu.int8Conv=onednn}; grouped ones keep oneDNN's first choice. The
 * backward-data of a strided convolution runs on a JIT kernel rather than oneDNN's strided brgemm one, unless
 * {@code -Dosprey.cpu.stridedBackwardData=onednn}. An fp32 depthwise convolution runs forward on oneDNN's JIT
 * depthwise kernel rather than its brdgmm one, unless {@code -Dosprey.cpu.fp32Depthwise=onednn}. Either way the
 * outputs are the same.
 */
class PreferredKernelsTest {
    private static CpuBackend jit;
    private static CpuBackend first;

    @BeforeAll
    static void open() {
        jit = withAll(null);
        int avx512 = dnnl.cpu_isa.avx512_core.value; // where oneDNN has both kernels for these shapes
        Assumptions.assumeTrue((dnnl.get_effective_cpu_isa().value & avx512) == avx512, "needs AVX-512");
        first = withAll("onednn");
    }

    @AfterAll
    static void close() {
        for (CpuBackend b : new CpuBackend[] {jit, first}) {
            if (b != null) {
                b.close();
            }
        }
    }

    /** The int8 tests run where this CPU has oneDNN's int8 kernels; the others on any AVX-512 CPU. */
    private static void assumeInt8() {
        Assumptions.assumeTrue(jit.unavailable(Precision.INT8) == null, () -> jit.unavailable(Precision.INT8));
    }

    /** A backend made with each of the three properties set to value (null: unset). */
    private static CpuBackend withAll(String value) {
        return SystemProperties.with(PreferredKernels.INT8_CONV, value,
                () -> SystemProperties.with(PreferredKernels.STRIDED_BACKWARD_DATA, value,
                        () -> SystemProperties.with(PreferredKernels.FP32_DEPTHWISE, value, CpuBackend::new)));
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

    /**
     * A rule's outcome: where oneDNN's first choice is a kernel the rule replaces (on this project's AVX-512 machines),
     * the chosen kernel's name starts with prefix; elsewhere (AMX, or another first choice) the first choice stays.
     */
    private static void expectRule(String what, String first, String chosen, String replacing, String prefix) {
        if (PreferredKernels.measured(first, replacing)) {
            assertTrue(chosen.startsWith(prefix), what + ": expected a " + prefix + " kernel in place of " + first
                    + ", received " + chosen);
        } else {
            assertEquals(first, chosen, what + ": the rule does not act on " + first);
        }
    }

    @Test
    void aThreeByThreeInt8ConvolutionRunsOnTheJitKernelWithTheSameOutputs() {
        assumeInt8();
        for (ConvInference op : new ConvInference[] {op(3, 11, 16, 16, 3, 1, 1), op(2, 12, 16, 32, 3, 2, 1),
            op(1, 7, 8, 24, 3, 1, 1)}) {
            expectRule(op.spec().toString(), implementation(first, op), implementation(jit, op), "brg", "jit_int8:");
            sameOutputs(op);
        }
    }

    @Test
    void aPointwiseInt8ConvolutionRunsOnTheJitKernel() {
        assumeInt8();
        ConvInference op = op(4, 9, 32, 48, 1, 1, 1);
        expectRule(op.spec().toString(), implementation(first, op), implementation(jit, op), "brg", "jit_int8");
        sameOutputs(op);
    }

    @Test
    void aGroupedInt8ConvolutionKeepsOneDnnsFirstChoice() {
        assumeInt8();
        ConvInference op = op(2, 10, 32, 32, 3, 1, 2);
        assertEquals(implementation(first, op), implementation(jit, op));
    }

    @Test
    void anFp32DepthwiseConvolutionRunsOnTheJitDepthwiseKernelWithTheSameOutputs() {
        for (int stride : new int[] {1, 2}) { // 2 x 8 x 8 output pixels at stride 1: oneDNN's, not Osprey's own
            Conv2dSpec s = new Conv2dSpec(2, 8 * stride, 8 * stride, 48, 48, 3, 3, stride, stride, 1, 1, 1, 1, 1, 1,
                    48, true, Activation.RELU);
            ConvInference op = new ConvInference(s, false, Precision.FP32);
            expectRule(s.toString(), implementation(first, op), implementation(jit, op), "brdgmm_dw", "jit_dw");
            sameOutputs(op);
            try (DnnlContext context = new DnnlContext();
                 ConvPlan rule = new ConvPlan(context, s, PreferredKernels.ALL);
                 ConvPlan none = new ConvPlan(context, s, new PreferredKernels(true, true, false))) {
                expectRule("training forward " + s, none.implementation, rule.implementation, "brdgmm_dw", "jit_dw");
            }
        }
    }

    /** {dx, the backward-data kernel's name} of spec under kernels, for seeded dy and kernel. */
    private static Object[] backwardData(Conv2dSpec spec, PreferredKernels kernels) {
        Random r = new Random(23);
        try (DnnlContext context = new DnnlContext(); ConvPlan plan = new ConvPlan(context, spec, kernels);
             CpuTensor dy = CpuTensor.allocate(spec.outputShape());
             CpuTensor k = CpuTensor.allocate(spec.kernelShape());
             CpuTensor dx = CpuTensor.allocate(spec.inputShape())) {
            for (CpuTensor t : new CpuTensor[] {dy, k}) {
                for (int i = 0; i < t.size(); i++) {
                    t.buffer().put(i, (float) r.nextGaussian());
                }
            }
            plan.backwardData(dy, k, dx);
            float[] out = new float[Math.toIntExact(dx.size())];
            dx.buffer().get(0, out);
            return new Object[] {out, plan.backwardDataImplementation()};
        }
    }

    private static Conv2dSpec training(int size, int in, int out, int kernel, int stride, Precision math) {
        int pad = kernel == 1 ? 0 : 1; // Keras' 'same' at stride 2 on an even size: none before, one after
        int before = stride == 1 ? pad : 0;
        return new Conv2dSpec(3, size, size, in, out, kernel, kernel, stride, stride, before, before, pad, pad, 1, 1,
                1, false, Activation.LINEAR, math);
    }

    @Test
    void aStridedConvolutionsBackwardDataRunsOnAJitKernelWithTheSameGradient() {
        PreferredKernels onednn = new PreferredKernels(true, false, true);
        boolean bf16 = jit.unavailable(Precision.BF16) == null;
        for (Conv2dSpec spec : new Conv2dSpec[] {training(12, 16, 32, 3, 2, Precision.FP32),
            training(10, 8, 24, 1, 2, Precision.FP32), training(12, 16, 32, 3, 2, Precision.BF16)}) {
            if (spec.math() == Precision.BF16 && !bf16) {
                continue;
            }
            Object[] expected = backwardData(spec, onednn);
            Object[] actual = backwardData(spec, PreferredKernels.ALL);
            expectRule(spec.toString(), (String) expected[1], (String) actual[1], "brgconv_strided", "jit");
            float[] e = (float[]) expected[0];
            float[] g = (float[]) actual[0];
            double largest = 1e-6;
            for (float v : e) {
                largest = Math.max(largest, Math.abs(v));
            }
            double tolerance = (spec.math() == Precision.BF16 ? 1e-2 : 1e-5) * largest;
            for (int i = 0; i < e.length; i++) {
                assertTrue(Math.abs(e[i] - g[i]) <= tolerance, spec + ": dx " + i + " is " + g[i] + " on "
                        + actual[1] + ", " + e[i] + " on " + expected[1]);
            }
        }
    }

    @Test
    void anUnstridedConvolutionsBackwardDataKeepsOneDnnsFirstChoice() {
        Conv2dSpec spec = training(9, 16, 32, 3, 1, Precision.FP32);
        assertEquals(backwardData(spec, new PreferredKernels(true, false, true))[1],
                backwardData(spec, PreferredKernels.ALL)[1]);
    }

    @Test
    void aRuleWhoseKernelIsNotOfferedKeepsOneDnnsFirstChoice() {
        Conv2dSpec s = new Conv2dSpec(2, 8, 8, 48, 48, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 48, true, Activation.RELU);
        ConvInference op = new ConvInference(s, false, Precision.FP32);
        String expected = implementation(first, op);
        try (DnnlContext context = new DnnlContext(); DnnlContext.Owned owned = new DnnlContext.Owned(context)) {
            memory.desc x = owned.md(memory.format_tag.nhwc, 2, 48, 8, 8);
            memory.desc k = owned.md(memory.format_tag.any, 48, 1, 1, 3, 3);
            int[] made = {0};
            convolution_forward.primitive_desc d = owned.own(PreferredKernels.preferring("no_such_kernel",
                    expected.substring(0, 4), () -> {
                        made[0]++;
                        return new convolution_forward.primitive_desc(context.engine,
                                dnnl.prop_kind.forward_inference, dnnl.algorithm.convolution_direct, x, k, x,
                                new long[] {1, 1}, new long[] {0, 0}, new long[] {1, 1}, new long[] {1, 1},
                                owned.attributes(Activation.RELU), false);
                    }));
            assertEquals(expected, d.impl_info_str().getString());
            assertEquals(2, made[0], "the walked descriptor is replaced by a fresh one");
        }
    }
}
