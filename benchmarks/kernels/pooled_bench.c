/*
 * Times Osprey's pooled convolution (native/cpu/conv_pool.c, linked in) on the tutorial CNN's first layer: 28x28x1
 * images, a 3x3 kernel to 32 channels with ReLU, then 2x2 max pooling, as one pass.
 * Build: gcc -O3 -fopenmp -I$JAVA_HOME/include -I$JAVA_HOME/include/linux -o pooled_bench \
 *          benchmarks/kernels/pooled_bench.c native/cpu/conv_pool.c
 * Usage: pooled_bench BATCH THREADS [SECONDS=1] [WIDE=1]    Prints: RESULT us=<per call>
 * WIDE=1 runs the kernel's 512-bit path where the processor has AVX-512F, 0 its 256-bit path.
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench_util.h"

void Java_dev_osprey_backend_cpu_PooledConvPlan_forward(JNIEnv *, jclass, jlong, jint, jint, jint, jint, jint, jint,
                                                        jint, jint, jint, jint, jlong, jint, jlong, jboolean, jfloat,
                                                        jfloat, jlong, jint, jfloat, jint, jboolean);

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s BATCH THREADS [SECONDS=1] [WIDE=1]\n", argv[0]);
        return 2;
    }
    int n = atoi(argv[1]), threads = atoi(argv[2]);
    double seconds = argc > 3 ? atof(argv[3]) : 1;
    jboolean wide = argc > 4 ? (jboolean) (atoi(argv[4]) != 0) : JNI_TRUE;
    float *x = floats((int64_t) n * 28 * 28), *g = floats(9 * 32), *b = floats(32);
    float *y = floats((int64_t) n * 13 * 13 * 32);
    srand(1);
    for (int64_t i = 0; i < (int64_t) n * 784; i++) {
        x[i] = (float) rand() / RAND_MAX;
    }
    for (int i = 0; i < 9 * 32; i++) {
        g[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    for (int i = 0; i < 32; i++) {
        b[i] = 0.01f * i;
    }
    int calls = 0;
    double start = now();
    do {
        Java_dev_osprey_backend_cpu_PooledConvPlan_forward(NULL, NULL, (jlong) (intptr_t) x, n, 28, 28, 1, 3, 3, 0, 0,
                                                           13, 13, (jlong) (intptr_t) g, 32, (jlong) (intptr_t) b,
                                                           JNI_TRUE, 0.0f, 1e30f, (jlong) (intptr_t) y, 0, 1.0f,
                                                           threads, wide); /* fp32 output (format 0) */
        calls++;
    } while (now() - start < seconds);
    printf("RESULT us=%.2f\n", (now() - start) * 1e6 / calls);
    return 0;
}
