package dev.osprey.layers;

import dev.osprey.Config;

/** Checks shared by the layers' fromConfig methods. */
final class Layers {
    private Layers() {
    }

    /** Osprey computes channels-last (Keras' default); a channels-first config is refused, not misread. */
    /** The span a kernel covers with dilation: (kernel - 1) * rate + 1, refused when it can't be a real window. */
    static int dilatedWindow(String layer, int kernel, int rate) {
        long window = (long) (kernel - 1) * rate + 1;
        if (window > MAX_WINDOW) {
            throw new IllegalArgumentException(layer + ": expected a dilated kernel of at most " + MAX_WINDOW
                    + " pixels, received kernel " + kernel + " with dilation rate " + rate + " (" + window + ")");
        }
        return (int) window;
    }

    private static final int MAX_WINDOW = 1 << 24;

    static void requireChannelsLast(String layer, Config c) {
        String format = c.string("data_format", "channels_last");
        if (!format.equals("channels_last")) {
            throw new IllegalArgumentException(layer + " config: expected data_format 'channels_last', received '"
                    + format + "' (Osprey's images are (height, width, channels))");
        }
    }
}
