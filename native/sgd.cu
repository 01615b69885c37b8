// SGD with optional (Nesterov) momentum over the whole parameter arena, Keras' formulation:
//   v = momentum * v - lr * g;  p += nesterov ? momentum * v - lr * g : v   (plain p -= lr * g when momentum = 0)
#include "common.cuh"

OSPREY_KERNEL void osprey_sgd_update(float* params, const float* grads, float* velocity, long long n,
                                     float lr, float momentum, int nesterov) {
    FOR_EACH(i, n) {
        const float g = grads[i];
        if (momentum == 0.0f) {
            params[i] -= lr * g;
        } else {
            const float vi = momentum * velocity[i] - lr * g;
            velocity[i] = vi;
            params[i] += nesterov ? momentum * vi - lr * g : vi;
        }
    }
}
