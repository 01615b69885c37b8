package dev.osprey.backend.cpu;

import static dev.osprey.backend.Close.assertClose;
import static dev.osprey.backend.Close.random;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;

import dev.osprey.Activation;
import dev.osprey.Precision;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.Memory;
import dev.osprey.backend.ReferenceOps;
import dev.osprey.backend.Tensor;
import java.util.Arrays;
import java.util.Random;

/** What the tests of the CPU backend's inference convolutions share: runs through the backend, and the reference. */
final class ConvInferenceRuns {
    /** What a sentinel past the output holds, before and (if nothing writes there) after. */
    private static final float SENTINEL = -7f;

    private ConvInferenceRuns() {
    }

    /**
     * The backend's plan for s (which must be a {@code plan}) against the reference on seeded random values, kernels
     * scaled as He and Glorot initialize them (outputs of about 1); with a residual added before the activation.
     */
    static void checkAgainstReference(CpuBackend backend, Class<? extends InferenceConv> plan, Conv2dSpec s,
                                      boolean residual) {
        ConvInference op = new ConvInference(s, residual, Precision.FP32);
        assertInstanceOf(plan, backend.inferenceConv(op), s.toString());
        Random r = new Random(s.toString().hashCode() + (residual ? 1 : 0));
        float[] x = random(r, s.batch() * s.inH() * s.inW() * s.inC());
        int fanIn = s.kernelH() * s.kernelW() * (s.inC() / s.groups());
        float[] k = random(r, fanIn * s.filters());
        for (int i = 0; i < k.length; i++) {
            k[i] /= (float) Math.sqrt(fanIn);
        }
        float[] b = s.hasBias() ? random(r, s.filters()) : null;
        float[] add = residual ? random(r, s.batch() * s.outH() * s.outW() * s.filters()) : null;
        assertClose(s + (residual ? " with a residual" : ""), expected(s, x, k, b, add), run(backend, s, x, k, b, add),
                1e-5);
    }

    /** The reference: activation(conv(x) + bias [+ residual]). */
    static float[] expected(Conv2dSpec s, float[] x, float[] k, float[] b, float[] residual) {
        if (residual == null) {
            return ReferenceOps.conv2dForward(s, x, k, b);
        }
        float[] y = ReferenceOps.conv2dForward(s.withActivation(Activation.LINEAR), x, k, b);
        for (int i = 0; i < y.length; i++) {
            y[i] = (float) ReferenceOps.activate(s.activation(), (double) y[i] + residual[i]);
        }
        return y;
    }

    /** conv2dInference through the backend, the kernel prepared as its plan prepares it (where it does). */
    static float[] run(CpuBackend backend, Conv2dSpec s, float[] x, float[] k, float[] b, float[] residual) {
        ConvInference op = new ConvInference(s, residual != null, Precision.FP32);
        try (Memory memory = backend.newMemory()) {
            Tensor kernel = asPlanned(backend, memory, op, upload(backend, memory, k, s.kernelShape()));
            Tensor y = memory.allocate(s.outputShape());
            backend.conv2dInference(op, upload(backend, memory, x, s.inputShape()), kernel,
                    b == null ? null : upload(backend, memory, b, b.length),
                    residual == null ? null : upload(backend, memory, residual, s.outputShape()), y);
            float[] out = new float[Math.toIntExact(y.size())];
            backend.copyOut(y, out, 0);
            return out;
        }
    }

    /** The Keras-layout kernel as op's plan reads it: prepared into a tensor of memory where it prepares one. */
    static Tensor asPlanned(CpuBackend backend, Memory memory, ConvInference op, Tensor keras) {
        long preparedFloats = backend.conv2dInferenceKernelSize(op);
        if (preparedFloats == 0) {
            return keras;
        }
        Tensor prepared = memory.allocate(Math.toIntExact(preparedFloats));
        backend.conv2dPrepareInferenceKernel(op, keras, prepared);
        return prepared;
    }

    /**
     * plan's forward pass of s (no residual) called directly, the kernel prepared first where the plan prepares one,
     * into an output with sentinels after it; asserts they are untouched and returns the outputs.
     */
    static float[] forwardWithSentinels(InferenceConv plan, Conv2dSpec s, float[] x, float[] k, float[] b) {
        return forwardWithSentinels(plan, s, x, k, b, null);
    }

    /** The same with this residual (null: none); b may be null too. */
    static float[] forwardWithSentinels(InferenceConv plan, Conv2dSpec s, float[] x, float[] k, float[] b,
                                        float[] residual) {
        int outputs = s.batch() * s.outH() * s.outW() * s.filters();
        int sentinels = 16;
        try (CpuTensor tx = tensor(x, s.inputShape()); CpuTensor tk = tensor(k, s.kernelShape());
             CpuTensor prepared = CpuTensor.allocate(new int[] {Math.toIntExact(Math.max(1, plan.preparedFloats()))});
             CpuTensor tb = b == null ? null : tensor(b, b.length);
             CpuTensor tr = residual == null ? null : tensor(residual, residual.length);
             CpuTensor y = CpuTensor.allocate(new int[] {outputs + sentinels})) {
            float[] filled = new float[outputs + sentinels];
            Arrays.fill(filled, SENTINEL);
            y.buffer().put(0, filled);
            CpuTensor kernel = tk;
            if (plan.preparedFloats() > 0) {
                plan.prepare(tk, prepared);
                kernel = prepared;
            }
            plan.forward(tx, kernel, tb, tr, y);
            float[] actual = new float[outputs];
            y.buffer().get(0, actual);
            for (int i = 0; i < sentinels; i++) {
                assertEquals(SENTINEL, y.buffer().get(outputs + i), "float " + i + " past the output");
            }
            return actual;
        }
    }

    private static Tensor upload(CpuBackend backend, Memory memory, float[] values, int... shape) {
        Tensor t = memory.allocate(shape);
        backend.copyIn(values, 0, t);
        return t;
    }

    private static CpuTensor tensor(float[] values, int... shape) {
        CpuTensor t = CpuTensor.allocate(shape);
        t.buffer().put(0, values);
        return t;
    }
}
