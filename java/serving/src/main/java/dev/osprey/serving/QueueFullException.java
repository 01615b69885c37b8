package dev.osprey.serving;

/** The predictor's queue is full: the caller should back off (a server answers 503). */
public class QueueFullException extends RuntimeException {
    public QueueFullException(String message) {
        super(message);
    }
}
