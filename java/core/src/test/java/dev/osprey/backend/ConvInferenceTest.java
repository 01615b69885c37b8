package dev.osprey.backend;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Activation;
import dev.osprey.Precision;
import org.junit.jupiter.api.Test;

/**
 * An 8-bit residual is added in its own units and the output rescaled after the activation, which only an activation
 * that commutes with scaling allows; the op refuses every other case when it is made, saying why.
 */
class ConvInferenceTest {
    private static final InputRange RANGE = new InputRange(0f, 4f);

    private static ConvInference int8(Activation a, boolean residual) {
        Conv2dSpec spec = new Conv2dSpec(1, 8, 8, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, a);
        return new ConvInference(spec, residual, Precision.INT8, RANGE, true, null);
    }

    @Test
    void anEightBitResidualNeedsAnActivationThatCommutesWithScaling() {
        for (Activation a : new Activation[] {Activation.LINEAR, Activation.RELU, Activation.leakyRelu(0.1f)}) {
            assertTrue(int8(a, true).withResidualRange(RANGE).quantizedResidual(), a.toString());
        }
        for (Activation a : new Activation[] {Activation.RELU6, Activation.SIGMOID, Activation.HARD_SWISH}) {
            IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                    () -> int8(a, true).withResidualRange(RANGE), a.toString());
            assertTrue(e.getMessage().contains("commutes with scaling") && e.getMessage().contains(a.toString()),
                    e.getMessage());
        }
    }

    @Test
    void anEightBitResidualNeedsAResidualAndInt8() {
        assertThrows(IllegalArgumentException.class, () -> int8(Activation.RELU, false).withResidualRange(RANGE));
        Conv2dSpec spec = new Conv2dSpec(1, 8, 8, 4, 4, 3, 3, 1, 1, 1, 1, 1, 1, 1, 1, 1, true, Activation.RELU);
        assertThrows(IllegalArgumentException.class,
                () -> new ConvInference(spec, true, Precision.FP32).withResidualRange(RANGE));
        assertFalse(int8(Activation.RELU, true).quantizedResidual(), "none asked: the residual stays fp32");
    }
}
