package dev.osprey.backend;

/**
 * SGD's hyper-parameters, Keras' formulation of momentum and Nesterov momentum, and Keras' decoupled weight decay:
 * before the step, each decayed weight shrinks by learningRate * weightDecay of itself (0: none).
 */
public record SgdSpec(float learningRate, float momentum, boolean nesterov, float weightDecay) {
    /** Without weight decay. */
    public SgdSpec(float learningRate, float momentum, boolean nesterov) {
        this(learningRate, momentum, nesterov, 0f);
    }

    /** The same at another learning rate (schedules change it between steps). */
    public SgdSpec withLearningRate(float rate) {
        return new SgdSpec(rate, momentum, nesterov, weightDecay);
    }
}
