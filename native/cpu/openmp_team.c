/*
 * OpenMP's team size for the calling thread, for dev.osprey.backend.cpu.OpenMpTeam.
 *
 * oneDNN (OpenMP runtime) sizes a primitive's work for omp_get_max_threads() when the primitive is made and forks
 * that many threads when it runs. That value is a per-thread setting (the nthreads-var ICV), which only
 * omp_set_num_threads() changes. This library is linked against libgomp.so.1 by its soname and loaded after oneDNN,
 * so the dynamic linker binds it to the libgomp oneDNN already uses (the first object of that soname in the process),
 * never to a second copy. It uses no versioned C library symbols, so a build on a new glibc loads on an old one.
 */
#include <jni.h>

extern void omp_set_num_threads(int);
extern int omp_get_max_threads(void);

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_OpenMpTeam_setMaxThreads(JNIEnv *env, jclass type, jint n) {
    (void) env;
    (void) type;
    omp_set_num_threads(n);
}

JNIEXPORT jint JNICALL Java_dev_osprey_backend_cpu_OpenMpTeam_maxThreads(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return omp_get_max_threads();
}
