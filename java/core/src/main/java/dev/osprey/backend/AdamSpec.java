package dev.osprey.backend;

/**
 * Adam's hyper-parameters, Keras' formulation (epsilon added after the bias-corrected step size), and Keras' decoupled
 * weight decay: before the step, each decayed weight shrinks by learningRate * weightDecay of itself (0: none).
 */
public record AdamSpec(float learningRate, float beta1, float beta2, float epsilon, float weightDecay) {
    /** Without weight decay. */
    public AdamSpec(float learningRate, float beta1, float beta2, float epsilon) {
        this(learningRate, beta1, beta2, epsilon, 0f);
    }

    /** The same at another learning rate (schedules change it between steps). */
    public AdamSpec withLearningRate(float rate) {
        return new AdamSpec(rate, beta1, beta2, epsilon, weightDecay);
    }
}
