package dev.osprey.io;

import java.io.IOException;

/** A file that is not an Osprey model, or one that is damaged. */
public class ModelFormatException extends IOException {
    public ModelFormatException(String message) {
        super(message);
    }

    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
