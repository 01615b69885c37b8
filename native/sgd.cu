// SGD with optional (Nesterov) momentum over the whole parameter arena, Keras' formulation:
//   v = momentum * v - lr * g;  p += nesterov ? momentum * v - lr * g : v   (plain p -= lr * g when momentum = 0)
// after Keras' decoupled weight decay: p -= decay * p (decay = lr * weight_decay) where decayMask is 1, everywhere
// when it is null; 0: none.
#include "common.cuh"

OSPREY_KERNEL void osprey_sgd_update(float* params, const float* grads, float* velocity, long long n,
                                     float lr, float momentum, int nesterov, const float* decayMask, float decay) {
    FOR_EACH(i, n) {
        const float g = grads[i];
        float p = params[i];
        if (decay != 0.0f) p -= decay * (decayMask ? decayMask[i] : 1.0f) * p;
        if (momentum == 0.0f) {
            params[i] = p - lr * g;
        } else {
            const float vi = momentum * velocity[i] - lr * g;
            velocity[i] = vi;
            params[i] = p + (nesterov ? momentum * vi - lr * g : vi);
        }
    }
}
