package dev.osprey.backend;

/**
 * RMSprop's hyper-parameters in Keras' formulation: velocity = rho * velocity + (1 - rho) * g^2; centered also keeps
 * the mean gradient m = rho * m + (1 - rho) * g and divides by sqrt(velocity - m^2 + epsilon), otherwise by
 * sqrt(velocity + epsilon); with momentum the step goes through a momentum buffer. Keras' decoupled weight decay
 * shrinks each decayed weight by learningRate * weightDecay of itself first (0: none).
 */
public record RmspropSpec(float learningRate, float rho, float momentum, float epsilon, boolean centered,
                          float weightDecay) {
    /** The same at another learning rate (schedules change it between steps). */
    public RmspropSpec withLearningRate(float rate) {
        return new RmspropSpec(rate, rho, momentum, epsilon, centered, weightDecay);
    }
}
