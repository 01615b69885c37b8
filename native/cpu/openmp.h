/*
 * The OpenMP runtime calls the kernels make inside their parallel regions, declared here rather than through <omp.h>:
 * the library links libgomp by soname (see openmp_team.c), and a compiler need not ship omp.h for that.
 */
#ifndef OSPREY_OPENMP_H
#define OSPREY_OPENMP_H

extern int omp_get_thread_num(void);
extern int omp_get_num_threads(void);

#endif
