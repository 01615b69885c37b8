package dev.osprey.io;

import java.io.IOException;

/** A file that is not an Osprey model, or one that is damaged. */
public class ModelFormatException extends IOException {
    /** An exception whose message names the file and what is wrong with it. */
    public ModelFormatException(String message) {
        super(message);
    }

    /** The same, with the error that revealed the damage. */
    public ModelFormatException(String message, Throwable cause) {
        super(message, cause);
    }
}
