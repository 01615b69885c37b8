package dev.osprey.data;

import java.io.IOException;

/** An IDX file that is truncated, has a wrong magic number, or whose header contradicts its data. */
public class IdxFormatException extends IOException {
    /** An exception whose message names the file and what is wrong with it. */
    public IdxFormatException(String message) {
        super(message);
    }
}
