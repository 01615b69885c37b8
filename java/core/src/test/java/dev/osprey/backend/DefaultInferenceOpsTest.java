package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import dev.osprey.Activation;
import dev.osprey.Precision;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;

/**
 * The inference ops a backend without prepared layouts inherits (the CUDA backend's): in bf16 and fp16 they run the
 * training ops with that math, and they refuse a precision the backend calls unavailable. Checked on a backend that only
 * records the calls it receives.
 */
class DefaultInferenceOpsTest {
    /**
     * A backend whose abstract methods record their name and spec, whose defaults run, and whose bf16 and fp16 are
     * unavailable for this reason (null: available).
     */
    private static Backend recording(List<String> calls, String narrowUnavailable) {
        InvocationHandler handler = (proxy, method, args) -> {
            if (method.getName().equals("unavailable")) {
                return args[0] == Precision.FP32 ? null
                        : args[0] == Precision.BF16 || args[0] == Precision.FP16 ? narrowUnavailable : "no " + args[0];
            }
            if (method.getName().equals("description")) {
                return "recording backend";
            }
            if (method.isDefault()) {
                return InvocationHandler.invokeDefault(proxy, method, args);
            }
            calls.add(method.getName() + (args != null && args.length > 0 ? describe(args[0]) : ""));
            return null;
        };
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, handler);
    }

    /** " MATH ACTIVATION" for a convolution's or dense layer's spec, else nothing. */
    private static String describe(Object first) {
        if (first instanceof Conv2dSpec s) {
            return " " + s.math().name() + " " + s.activation().kind();
        }
        if (first instanceof DenseSpec s) {
            return " " + s.math().name() + " " + s.activation().kind();
        }
        return "";
    }

    private static final Conv2dSpec CONV = new Conv2dSpec(1, 4, 4, 2, 3, 3, 3, 1, 1, 1, 1, 1, 1, Activation.RELU);
    private static final DenseSpec DENSE = new DenseSpec(2, 3, 4, Activation.RELU);

    private static Tensor tensor(int... shape) {
        return new Tensor() {
            @Override
            public int[] shape() {
                return shape.clone();
            }

            @Override
            public long size() {
                return Checks.elements(shape);
            }
        };
    }

    @org.junit.jupiter.params.ParameterizedTest
    @org.junit.jupiter.params.provider.EnumSource(value = Precision.class, names = {"BF16", "FP16"})
    void narrowInferenceRunsTheTrainingOpsWithThatMath(Precision precision) {
        List<String> calls = new ArrayList<>();
        Backend b = recording(calls, null);
        b.conv2dInference(new ConvInference(CONV, true, precision), tensor(CONV.inputShape()),
                tensor(CONV.kernelShape()), tensor(3), tensor(CONV.outputShape()), tensor(CONV.outputShape()));
        b.denseInference(new DenseInference(DENSE, precision), tensor(DENSE.inputShape()),
                tensor(DENSE.kernelShape()), tensor(4), tensor(DENSE.outputShape()));
        // The residual op: the convolution without its activation, the sum, then the activation.
        assertEquals(List.of("conv2dForward " + precision.name() + " LINEAR", "add", "activationForward",
                "denseForward " + precision.name() + " RELU"), calls);
    }

    @Test
    void fp32InferenceKeepsFp32Math() {
        List<String> calls = new ArrayList<>();
        Backend b = recording(calls, null);
        b.conv2dInference(new ConvInference(CONV, false, Precision.FP32), tensor(CONV.inputShape()),
                tensor(CONV.kernelShape()), tensor(3), null, tensor(CONV.outputShape()));
        b.denseInference(new DenseInference(DENSE, Precision.FP32), tensor(DENSE.inputShape()),
                tensor(DENSE.kernelShape()), tensor(4), tensor(DENSE.outputShape()));
        assertEquals(List.of("conv2dForward FP32 RELU", "denseForward FP32 RELU"), calls);
    }

    @Test
    void anUnavailablePrecisionIsRefusedWithTheBackendsReason() {
        List<String> calls = new ArrayList<>();
        Backend b = recording(calls, "no bf16 tensor cores here");
        UnsupportedOperationException e = assertThrows(UnsupportedOperationException.class,
                () -> b.denseInference(new DenseInference(DENSE, Precision.BF16), tensor(DENSE.inputShape()),
                        tensor(DENSE.kernelShape()), tensor(4), tensor(DENSE.outputShape())));
        assertEquals("no bf16 tensor cores here", e.getMessage());
        assertEquals(List.of(), calls);
    }
}
