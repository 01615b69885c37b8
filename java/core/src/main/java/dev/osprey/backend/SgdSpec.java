package dev.osprey.backend;

/** SGD's hyper-parameters, Keras' formulation of momentum and Nesterov momentum. */
public record SgdSpec(float learningRate, float momentum, boolean nesterov) {
}
