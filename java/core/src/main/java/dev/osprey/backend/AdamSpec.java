package dev.osprey.backend;

/** Adam's hyper-parameters, Keras' formulation (epsilon added after the bias-corrected step size). */
public record AdamSpec(float learningRate, float beta1, float beta2, float epsilon) {
}
