package dev.osprey.backend;

/** A native library refused an operation: carries the library's message and the op it was asked for. */
public class BackendException extends RuntimeException {
    /** An exception with this message: what failed, and the library's own words where it gave any. */
    public BackendException(String message) {
        super(message);
    }

    /** The same, keeping the exception that caused it. */
    public BackendException(String message, Throwable cause) {
        super(message, cause);
    }
}
