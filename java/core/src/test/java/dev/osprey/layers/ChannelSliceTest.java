package dev.osprey.layers;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import dev.osprey.Input;
import dev.osprey.Model;
import dev.osprey.NDArray;
import dev.osprey.Shape;
import java.util.List;
import org.junit.jupiter.api.Test;

/** ChannelSlice takes x[..., begin:end]: the values, at either edge and in the middle, and the shapes it refuses. */
class ChannelSliceTest {
    @Test
    void takesTheChannelsFromBeginToEnd() {
        int batch = 2, pixels = 3 * 2, channels = 5;
        float[] x = new float[batch * pixels * channels];
        for (int i = 0; i < x.length; i++) {
            x[i] = i;
        }
        for (int[] range : new int[][] {{0, 2}, {1, 4}, {3, 5}, {0, 5}}) {
            Input in = Input.shape(3, 2, channels);
            try (Model m = new Model(in, new ChannelSlice(range[0], range[1]).apply(in))) {
                int width = range[1] - range[0];
                float[] expected = new float[batch * pixels * width];
                for (int row = 0; row < batch * pixels; row++) {
                    for (int c = 0; c < width; c++) {
                        expected[row * width + c] = x[row * channels + range[0] + c];
                    }
                }
                NDArray out = m.predict(new NDArray(x, batch, 3, 2, channels));
                assertEquals(Shape.of(3, 2, width), out.sampleShape());
                assertArrayEquals(expected, out.data(), 0f, "channels " + range[0] + " to " + range[1]);
            }
        }
    }

    @Test
    void aRangeOutsideTheChannelsIsRefusedNamingIt() {
        assertThrows(IllegalArgumentException.class, () -> new ChannelSlice(2, 2));
        assertThrows(IllegalArgumentException.class, () -> new ChannelSlice(-1, 2));
        IllegalArgumentException tooFew = assertThrows(IllegalArgumentException.class,
                () -> new ChannelSlice(0, 6).apply(Input.shape(4, 4, 5)));
        assertTrue(tooFew.getMessage().contains("at least 6 channels") && tooFew.getMessage().contains("(4, 4, 5)"),
                tooFew.getMessage());
        assertEquals(List.of("begin", "end"), List.copyOf(new ChannelSlice(1, 2).getConfig().keySet()).subList(1, 3));
    }
}
