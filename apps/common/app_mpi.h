/* app_mpi.h - what the mpi mode of the apps needs around the pool:
 * initialising MPI for mpk-pi, timing a collective run across the ranks, and
 * gathering every rank's worker count for the report. Built (and declared)
 * only with MPK_WITH_MPI; app_mode_mpi_built() tells a program without MPI.
 *
 * app_mpi_time_runs and app_mpi_workers are collective over MPI_COMM_WORLD:
 * every rank calls them in the same order. All calls come from the main
 * thread (MPI_THREAD_FUNNELED). Not MT-safe.
 */
#ifndef APP_MPI_H
#define APP_MPI_H

#ifdef MPK_WITH_MPI

#include <stddef.h>

#include "app_modes.h"
#include "mpk/mpi.h"

/* Initialise MPI with MPI_THREAD_FUNNELED (the pool's own threads never call
   MPI). Returns 0, or -1 with the reason in err (cap bytes): MPI was
   already initialised or finalised, or the library provides a lower thread
   level (MPI is then finalised again). A launch that MPI itself cannot set
   up makes MPI_Init_thread abort the process (MPI's own error handling),
   which mpirun reports. When MPI_Init_thread has not returned after
   `timeout` seconds (> 0; e.g. another process of the job never calls it),
   the process prints `prog: MPI_Init ...` on stderr and exits with status 2
   (SIGALRM is used meanwhile; the previous handler is restored). */
int app_mpi_init(int *argc, char ***argv, double timeout, char *err,
                 size_t cap);

/* 1 when the len bytes at buf are the same on every rank as on rank 0, else
   0 (on every rank); -1 (without communicating) when len exceeds
   APP_MPI_SAME_MAX. For the options that steer the collective calls: ranks
   started with different ones would otherwise wait on each other. */
#define APP_MPI_SAME_MAX 256
int app_mpi_same(const void *buf, size_t len);

/* MPI_Finalize, when app_mpi_init succeeded (else nothing). */
void app_mpi_finalize(void);

/* This process's rank in MPI_COMM_WORLD (0 before app_mpi_init). */
int app_mpi_rank(void);

/* As app_time_runs, across the ranks: `warmup` untimed runs, then `repeats`
   runs, each between two barriers; times[i] is the longest rank's time of
   run i (MPI_Wtime), the same on every rank. A failure on any rank stops
   every rank after the same run and is returned on every rank (the most
   negative code). */
int app_mpi_time_runs(int (*run)(void *arg), void *arg, int warmup, int repeats,
                      double *times);

/* The workers of every rank of ex's mpi pool, in rank order, into out
   (ex->ranks entries) on every rank. */
void app_mpi_workers(const app_exec *ex, int *out);

/* The number of nodes (MPI_COMM_TYPE_SHARED groups) of MPI_COMM_WORLD, the
   same on every rank. Collective. */
int app_mpi_nodes(void);

/* The path DYNAMIC's counter took on ex's mpi pool ("shm", "rma", "msg"),
   or NULL before a DYNAMIC call chose one. Local. */
const char *app_mpi_counter(const app_exec *ex);

/* Set the partition of ex's mpi pool for its next calls (every rank the
   same; map results on every rank, automatic grab). Returns
   mpk_pool_mpi_configure's code. Local. */
int app_mpi_partition(app_exec *ex, mpk_mpi_partition part);

#endif /* MPK_WITH_MPI */
#endif
