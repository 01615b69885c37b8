package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Precision;
import dev.osprey.SymbolicTensor;
import dev.osprey.backend.Backend;
import dev.osprey.backend.Conv2dSpec;
import dev.osprey.backend.ConvInference;
import dev.osprey.backend.DenseInference;
import dev.osprey.backend.DenseSpec;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.layers.Conv2D;
import dev.osprey.layers.Dense;
import dev.osprey.layers.DepthwiseConv2D;
import dev.osprey.layers.Flatten;
import java.lang.reflect.InvocationTargetException;
import java.lang.reflect.Proxy;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;
import java.util.Set;
import org.junit.jupiter.api.Test;

/**
 * A network's training math reaches every training op of its convolutions and dense layers (forward and backward),
 * and only theirs: the backend sees bf16 specs exactly when the network trains in bf16, and its inference plans stay
 * fp32. The gradients agree with fp32's within bf16's rounding (on a CPU without bf16 kernels, exactly).
 */
class MixedPrecisionPlanTest {
    private static final int BATCH = 4;
    private static final int CLASSES = 5;
    private static final Set<String> TRAINING_OPS = Set.of("conv2dForward", "conv2dBackward", "conv2dBackwardData",
            "conv2dBackwardFilter", "conv2dBackwardDataAdding", "conv2dBackwardGated", "denseForward",
            "denseBackwardData", "denseBackwardWeights");
    private static final Set<String> INFERENCE_OPS = Set.of("conv2dInference", "denseInference");

    @Test
    void everyConvolutionAndDenseTrainingOpMultipliesInTheNetworksTrainingMath() {
        List<String> calls = new ArrayList<>();
        Backend recording = recording(Device.cpu().backend(), calls);
        try (Network network = new Network(graph(), recording)) {
            network.parameters().initialize(3);
            float[][] fp32 = gradients(network, recording);
            assertOnly(calls, "fp32");

            calls.clear();
            network.trainingMath(Precision.BF16);
            assertEquals(Precision.BF16, network.trainingMath());
            float[][] bf16 = gradients(network, recording);
            assertOnly(calls, "bf16");
            for (int i = 0; i < fp32.length; i++) { // bf16 rounds each operand to 8 significant bits: 2% in norm
                double difference = 0;
                double norm = 0;
                for (int k = 0; k < fp32[i].length; k++) {
                    difference += (fp32[i][k] - bf16[i][k]) * (double) (fp32[i][k] - bf16[i][k]);
                    norm += fp32[i][k] * (double) fp32[i][k];
                }
                assertTrue(Math.sqrt(difference) <= 2e-2 * Math.sqrt(norm), "gradient " + i + ": fp32 "
                        + java.util.Arrays.toString(fp32[i]) + ", bf16 " + java.util.Arrays.toString(bf16[i]));
            }

            calls.clear();
            network.inferencePlan(BATCH).forward(1); // inference plans keep their own precision (fp32 here)
            assertEquals(List.of("conv2dInference fp32", "conv2dInference fp32", "denseInference fp32"), calls);
        }
    }

    @Test
    void trainingMathIsFp32OrBf16() {
        try (Network network = new Network(graph(), Device.cpu().backend())) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> network.trainingMath(Precision.INT8));
            assertTrue(e.getMessage().contains("expected training math fp32, bf16 or fp16, received int8"), e.getMessage());
        }
    }

    /**
     * 7 training ops in one pass: each convolution's forward and its backward in one call (the first's filter gradient
     * alone, its input needing none; the depthwise's filter gradient and backward-data), and the dense layer's forward,
     * backward-data and backward-weights.
     */
    private static void assertOnly(List<String> calls, String math) {
        assertEquals(7, calls.size(), calls.toString());
        assertTrue(calls.stream().allMatch(c -> c.endsWith(" " + math)), calls.toString());
    }

    private static Graph graph() {
        Input in = Input.shape(8, 8, 3);
        SymbolicTensor x = new Conv2D(4, 3).apply(in); // linear: bf16 rounding would flip a few ReLU masks
        x = new DepthwiseConv2D(3).apply(x);
        x = new Dense(CLASSES).apply(new Flatten().apply(x));
        return new Graph(List.of(in), List.of(x));
    }

    /** Every trained weight's gradient after one forward and backward pass on fixed inputs. */
    private static float[][] gradients(Network network, Backend backend) {
        ExecutionPlan plan = network.trainingPlan(BATCH);
        Random r = new Random(11);
        float[] x = new float[(int) plan.input(0).size()];
        for (int i = 0; i < x.length; i++) {
            x[i] = (float) r.nextGaussian();
        }
        float[] targets = new float[BATCH * CLASSES];
        for (int i = 0; i < BATCH; i++) {
            targets[i * CLASSES + r.nextInt(CLASSES)] = 1;
        }
        try (Memory memory = backend.newMemory()) {
            Tensor stats = memory.allocate(2);
            backend.copyIn(x, 0, plan.input(0));
            backend.copyIn(targets, 0, plan.targets());
            plan.forward(1);
            backend.softmaxCrossEntropy(plan.output(0), plan.targets(), plan.outputGradient(), stats);
            plan.backward();
        }
        List<float[]> out = new ArrayList<>();
        for (Parameters.Slot s : network.parameters().slots()) {
            if (s.gradient() != null) {
                float[] g = new float[(int) s.gradient().size()];
                backend.copyOut(s.gradient(), g, 0);
                out.add(g);
            }
        }
        return out.toArray(float[][]::new);
    }

    private static Precision math(Object spec) {
        if (spec instanceof Conv2dSpec c) {
            return c.math();
        }
        if (spec instanceof DenseSpec d) {
            return d.math();
        }
        if (spec instanceof ConvInference c) {
            return c.spec().math();
        }
        return ((DenseInference) spec).spec().math();
    }

    /** The backend, recording "op math" for each training or inference op of a convolution or dense layer. */
    private static Backend recording(Backend backend, List<String> calls) {
        return (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class},
                (proxy, method, args) -> {
                    if (TRAINING_OPS.contains(method.getName()) || INFERENCE_OPS.contains(method.getName())) {
                        calls.add(method.getName() + " " + math(args[0]));
                    }
                    try {
                        Object result = method.invoke(backend, args);
                        if (method.getName().equals("chainConv2dInference") && Boolean.TRUE.equals(result)) {
                            calls.add("conv2dInference " + math(args[1])); // planned now, run in the chain
                        }
                        return result;
                    } catch (InvocationTargetException e) {
                        throw e.getCause();
                    }
                });
    }
}
