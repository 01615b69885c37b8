/*
 * OpenMP's team size for the calling thread, for dev.osprey.backend.cpu.OpenMpTeam.
 *
 * oneDNN (OpenMP runtime) sizes a primitive's work for omp_get_max_threads() when the primitive is made and forks
 * that many threads when it runs. That value is a per-thread setting (the nthreads-var ICV), which only
 * omp_set_num_threads() changes. The functions are looked up in the libgomp that oneDNN already loaded (matched by
 * its soname, never loading a second copy): this library links against no OpenMP runtime itself.
 */
#include <dlfcn.h>
#include <jni.h>
#include <stddef.h>

static void (*set_num_threads)(int);
static int (*get_max_threads)(void);

/* Returns null once both functions are found, or the reason they could not be. */
JNIEXPORT jstring JNICALL Java_dev_osprey_backend_cpu_OpenMpTeam_bind(JNIEnv *env, jclass type) {
    (void) type;
    void *gomp = dlopen("libgomp.so.1", RTLD_LAZY | RTLD_NOLOAD);
    if (gomp == NULL) {
        return (*env)->NewStringUTF(env, "libgomp.so.1 is not loaded (oneDNN is not built with OpenMP here)");
    }
    set_num_threads = (void (*)(int)) dlsym(gomp, "omp_set_num_threads");
    get_max_threads = (int (*)(void)) dlsym(gomp, "omp_get_max_threads");
    dlclose(gomp); /* drops only the reference RTLD_NOLOAD took: oneDNN keeps the library loaded */
    if (set_num_threads == NULL || get_max_threads == NULL) {
        set_num_threads = NULL;
        get_max_threads = NULL;
        return (*env)->NewStringUTF(env, "libgomp.so.1 lacks omp_set_num_threads or omp_get_max_threads");
    }
    return NULL;
}

JNIEXPORT void JNICALL Java_dev_osprey_backend_cpu_OpenMpTeam_setMaxThreads(JNIEnv *env, jclass type, jint n) {
    (void) env;
    (void) type;
    set_num_threads(n);
}

JNIEXPORT jint JNICALL Java_dev_osprey_backend_cpu_OpenMpTeam_maxThreads(JNIEnv *env, jclass type) {
    (void) env;
    (void) type;
    return get_max_threads();
}
