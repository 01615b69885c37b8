package dev.osprey.cli;

import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import org.junit.jupiter.api.Test;

/** Where the command line lets the CPU backend compute on its main thread (no hand-over to a device thread). */
class ComputeThreadDefaultTest {
    @Test
    void commandsThatComputeFromTheMainThreadAloneComputeThere() {
        assertTrue(OspreyCommand.computesFromOneThread(new String[] {"train"}));
        assertTrue(OspreyCommand.computesFromOneThread(new String[] {"predict", "model.osprey", "x.png"}));
        assertTrue(OspreyCommand.computesFromOneThread(new String[] {"bench", "--threads", "2"}));
        assertTrue(OspreyCommand.computesFromOneThread(new String[] {}));
    }

    @Test
    void servingAndTrainingOnSeveralDevicesKeepTheDeviceThread() {
        assertFalse(OspreyCommand.computesFromOneThread(new String[] {"serve", "model.osprey"}));
        assertFalse(OspreyCommand.computesFromOneThread(new String[] {"--verbose", "serve", "model.osprey"}));
        assertFalse(OspreyCommand.computesFromOneThread(new String[] {"train", "--devices", "cpu,cpu"}));
        assertFalse(OspreyCommand.computesFromOneThread(new String[] {"train", "--devices=cpu,cuda:0"}));
    }
}
