/*
 * Times Osprey's inference dense kernel (native/cpu/dense.c, linked in), by default on the tutorial CNN's hidden
 * layer (576 inputs to 64 units with ReLU) at batch 1 on one thread.
 * Build: gcc -O3 -fopenmp -I$JAVA_HOME/include -I$JAVA_HOME/include/linux -o dense_bench \
 *          benchmarks/kernels/dense_bench.c native/cpu/dense.c
 * Usage: dense_bench [BATCH=1] [SECONDS=1] [THREADS=1] [IN=576] [UNITS=64]    Prints: RESULT us=<per call>
 */
#include <jni.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include "bench_util.h"

void Java_dev_osprey_backend_cpu_InferenceDense_forward(JNIEnv *, jclass, jlong, jint, jint, jlong, jint, jlong,
                                                         jboolean, jfloat, jfloat, jlong, jint);

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1;
    double seconds = argc > 2 ? atof(argv[2]) : 1;
    int threads = argc > 3 ? atoi(argv[3]) : 1;
    int in = argc > 4 ? atoi(argv[4]) : 576, units = argc > 5 ? atoi(argv[5]) : 64;
    float *x = floats((int64_t) n * in), *w = floats((int64_t) in * units), *b = floats(units);
    float *y = floats((int64_t) n * units);
    srand(1);
    for (int64_t i = 0; i < (int64_t) n * in; i++) {
        x[i] = (float) rand() / RAND_MAX;
    }
    for (int64_t i = 0; i < (int64_t) in * units; i++) {
        w[i] = (float) rand() / RAND_MAX - 0.5f;
    }
    for (int i = 0; i < units; i++) {
        b[i] = 0.01f * i;
    }
    int calls = 0;
    double start = now();
    do {
        Java_dev_osprey_backend_cpu_InferenceDense_forward(NULL, NULL, (jlong) (intptr_t) x, n, in,
                                                            (jlong) (intptr_t) w, units, (jlong) (intptr_t) b, JNI_TRUE,
                                                            0.0f, 1e30f, (jlong) (intptr_t) y, threads);
        calls++;
    } while (now() - start < seconds);
    printf("RESULT us=%.3f\n", (now() - start) * 1e6 / calls);
    return 0;
}
