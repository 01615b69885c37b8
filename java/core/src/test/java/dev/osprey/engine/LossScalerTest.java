package dev.osprey.engine;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.backend.Backend;
import dev.osprey.backend.Device;
import dev.osprey.backend.Memory;
import dev.osprey.backend.Tensor;
import dev.osprey.optim.DynamicLossScale;
import dev.osprey.optim.Optimizer;
import java.util.Map;
import java.util.concurrent.atomic.AtomicBoolean;
import org.junit.jupiter.api.Test;

/** Dynamic loss scaling's rules, step by step, on gradients written by hand into a CPU tensor. */
class LossScalerTest {
    private static final Backend CPU = Device.cpu().backend();

    /** An updater that only counts its steps. */
    private static final class Counting implements Optimizer.Updater {
        long steps;

        @Override
        public void step() {
            steps++;
        }

        @Override
        public long iterations() {
            return steps;
        }

        @Override
        public Map<String, Tensor> slots() {
            return Map.of();
        }

        @Override
        public void restoreIterations(long iterations) {
            steps = iterations;
        }

        @Override
        public double learningRate() {
            return 0.1;
        }

        @Override
        public void learningRate(double rate) {
        }
    }

    private static float[] read(Tensor t) {
        float[] out = new float[(int) t.size()];
        CPU.copyOut(t, out, 0);
        return out;
    }

    @Test
    void overflowHalvesTheScaleAndSkipsGoodStepsGrowItAndTenOverflowsAtScaleOneStopTraining() {
        try (Memory memory = CPU.newMemory()) {
            Tensor gradients = memory.allocate(3);
            LossScaler scaler = new LossScaler(new Counting(), new DynamicLossScale(8, 2), () -> true, CPU, memory,
                    gradients);
            assertEquals(8f, scaler.lossScale());

            CPU.copyIn(new float[] {8, -16, 4}, 0, gradients);
            assertTrue(scaler.unscaleGradients());
            assertArrayEquals(new float[] {1, -2, 0.5f}, read(gradients), "divided by the scale, 8");
            assertEquals(8f, scaler.lossScale(), "one good step of two: no growth yet");

            CPU.copyIn(new float[] {Float.POSITIVE_INFINITY, 1, 1}, 0, gradients);
            assertFalse(scaler.unscaleGradients(), "an overflow skips the step");
            assertEquals(4f, scaler.lossScale());
            assertEquals(1, scaler.skippedSteps());
            CPU.copyIn(new float[] {Float.NaN, 1, 1}, 0, gradients);
            assertFalse(scaler.unscaleGradients(), "so does a NaN");
            assertEquals(2f, scaler.lossScale());

            CPU.copyIn(new float[] {2, 2, 2}, 0, gradients);
            assertTrue(scaler.unscaleGradients());
            assertEquals(2f, scaler.lossScale(), "the overflow reset the count of good steps");
            CPU.copyIn(new float[] {2, 2, 2}, 0, gradients);
            assertTrue(scaler.unscaleGradients());
            assertEquals(4f, scaler.lossScale(), "two good steps in a row double the scale");
            assertArrayEquals(new float[] {1, 1, 1}, read(gradients), "divided by the scale the step was taken at");

            LossScaler atOne = new LossScaler(new Counting(), new DynamicLossScale(1, 2000), () -> true, CPU, memory,
                    gradients);
            for (int i = 1; i < LossScaler.OVERFLOWS_AT_ONE; i++) { // skipped, the scale stays 1
                CPU.copyIn(new float[] {Float.POSITIVE_INFINITY, 1, 1}, 0, gradients);
                assertFalse(atOne.unscaleGradients());
                assertEquals(1f, atOne.lossScale());
            }
            CPU.copyIn(new float[] {1, 1, 1}, 0, gradients);
            assertTrue(atOne.unscaleGradients(), "a good step ends the run of overflows");
            for (int i = 1; i < LossScaler.OVERFLOWS_AT_ONE; i++) {
                CPU.copyIn(new float[] {Float.NaN, 1, 1}, 0, gradients);
                assertFalse(atOne.unscaleGradients());
            }
            dev.osprey.TrainingDivergedException diverged = org.junit.jupiter.api.Assertions.assertThrows(
                    dev.osprey.TrainingDivergedException.class, atOne::unscaleGradients);
            assertTrue(diverged.getMessage().contains("the gradients were not finite in 10 steps in a row with the "
                    + "loss unscaled (loss scale 1)"), diverged.getMessage());
        }
    }

    @Test
    void outOfEffectItScalesAndReadsNothing() {
        AtomicBoolean fp16 = new AtomicBoolean(false);
        try (Memory memory = CPU.newMemory()) {
            Tensor gradients = memory.allocate(2);
            LossScaler scaler = new LossScaler(new Counting(), DynamicLossScale.KERAS_DEFAULTS, fp16::get, CPU, memory,
                    gradients);
            CPU.copyIn(new float[] {Float.POSITIVE_INFINITY, 3}, 0, gradients);
            assertEquals(1f, scaler.lossScale());
            assertTrue(scaler.unscaleGradients());
            assertArrayEquals(new float[] {Float.POSITIVE_INFINITY, 3}, read(gradients));
            fp16.set(true); // e.g. the policy was set to FLOAT16 after compile
            assertEquals(32768f, scaler.lossScale());
            assertFalse(scaler.unscaleGradients());
            assertEquals(16384f, scaler.lossScale());
        }
    }

    @Test
    void aReplicaFollowsTheLeadsScale() {
        try (Memory memory = CPU.newMemory()) {
            Tensor gradients = memory.allocate(1);
            LossScaler lead = new LossScaler(new Counting(), new DynamicLossScale(64, 3), () -> true, CPU, memory,
                    gradients);
            CPU.copyIn(new float[] {Float.NaN}, 0, gradients);
            lead.unscaleGradients();
            CPU.copyIn(new float[] {1}, 0, gradients);
            lead.unscaleGradients();
            lead.unscaleGradients();
            LossScaler replica = new LossScaler(new Counting(), new DynamicLossScale(64, 3), () -> true, CPU, memory,
                    gradients);
            replica.follow(lead);
            assertEquals(32f, replica.lossScale());
            lead.unscaleGradients();
            replica.unscaleGradients();
            assertEquals(64f, lead.lossScale(), "the third good step doubles the scale");
            assertEquals(lead.lossScale(), replica.lossScale(), "the replica counted the lead's good steps too");
        }
    }
}
