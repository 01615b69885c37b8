package dev.osprey.backend;

/** A native library refused an operation: carries the library's message and the op it was asked for. */
public class BackendException extends RuntimeException {
    public BackendException(String message) {
        super(message);
    }

    public BackendException(String message, Throwable cause) {
        super(message, cause);
    }
}
