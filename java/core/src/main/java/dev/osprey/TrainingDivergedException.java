package dev.osprey;

/** Training stopped because the loss became NaN or infinite. */
public class TrainingDivergedException extends RuntimeException {
    public TrainingDivergedException(String message) {
        super(message);
    }
}
