package dev.osprey.serving;

/** The predictor's queue is full: the caller should back off (a server answers 503). */
public class QueueFullException extends RuntimeException {
    /** An exception whose message says how many samples the full queue holds. */
    public QueueFullException(String message) {
        super(message);
    }
}
