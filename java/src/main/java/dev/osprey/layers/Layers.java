package dev.osprey.layers;

import dev.osprey.Config;

/** Checks shared by the layers' fromConfig methods. */
final class Layers {
    private Layers() {
    }

    /** Osprey computes channels-last (Keras' default); a channels-first config is refused, not misread. */
    static void requireChannelsLast(String layer, Config c) {
        String format = c.string("data_format", "channels_last");
        if (!format.equals("channels_last")) {
            throw new IllegalArgumentException(layer + " config: expected data_format 'channels_last', received '"
                    + format + "' (Osprey's images are (height, width, channels))");
        }
    }
}
