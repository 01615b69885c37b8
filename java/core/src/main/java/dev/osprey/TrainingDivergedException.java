package dev.osprey;

/** Training stopped because the loss became NaN or infinite. */
public class TrainingDivergedException extends RuntimeException {
    /** An exception with this message. */
    public TrainingDivergedException(String message) {
        super(message);
    }
}
