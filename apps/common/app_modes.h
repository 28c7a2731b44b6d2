/* app_modes.h - the execution modes of the apps and of mpk-scale, in one
 * table.
 *
 * A mode says how a kernel is run: serially, with an OpenMP team, or on an
 * mpk pool (process backend, thread backend, or hybrid: process workers that
 * each run an OpenMP team). Every pool-based mode goes through the same
 * pool calls; modes differ only in how the pool is created. Adding a mode
 * (MPI: a pool made by mpk_pool_create_mpi) is one enum value, one row of
 * app_mode_table in app_modes.c with its create function, and nothing else:
 * the runners in app_run.c dispatch on the row's `kind`.
 *
 * The mpi mode (built only with MPK_WITH_MPI) is the one collective mode: its
 * pool spans every rank of MPI_COMM_WORLD, so the program must have
 * initialised MPI (app_mpi.h) and every rank must run it the same way. Only
 * mpk-pi opts into it (app_modes_enable_mpi); for every other program the row
 * is absent, so "mpi" is an unknown mode there, and "all" or a full mask
 * never reaches it. mpk-scale measures it by launching mpk-pi under mpirun.
 */
#ifndef APP_MODES_H
#define APP_MODES_H

#include "mpk/pool.h"
#include "mpk/topo.h"

typedef enum {
  APP_MODE_SERIAL,
  APP_MODE_OMP,
  APP_MODE_POOL,
  APP_MODE_THREADS,
  APP_MODE_HYBRID,
  APP_MODE_MPI, /* only with MPK_WITH_MPI, once app_modes_enable_mpi ran */
  APP_MODE_COUNT
} app_mode;

/* How a mode executes: the runners switch on this, not on the mode. */
typedef enum { APP_KIND_SERIAL, APP_KIND_OMP, APP_KIND_POOL } app_kind;

typedef struct app_exec app_exec;

typedef struct {
  app_mode mode;
  const char *name;    /* as given to --mode */
  app_kind kind;       /* how the runners execute it */
  int hybrid;          /* threads_per_worker > 1 (an OpenMP team per worker) */
  int mpi;             /* collective over MPI_COMM_WORLD: MPI must be
                          initialised first; never part of "all" */
  const char *summary; /* one line for --help */
  /* pool modes: create ex->pool from ex's fields; NULL for the others */
  int (*create)(app_exec *ex);
} app_mode_info;

/* Every mode, indexed by app_mode (rows of modes not built here, and the mpi
   row until app_modes_enable_mpi, are absent: app_mode_get returns NULL for
   them). */
const app_mode_info *app_mode_get(app_mode m);

/* The mode called name, or NULL. */
const app_mode_info *app_mode_find(const char *name);

/* The names of the modes in table order (for app_parse_names), and how many
   (APP_MODE_COUNT): names[i] is app_mode_get(i)->name, or "" (which no item
   matches) for an absent row. */
const char *const *app_mode_names(int *count);

/* "serial, omp, pool, threads, hybrid": the mode names of the table joined
   with ", " into buf (truncated to cap), for messages. Returns buf. */
const char *app_mode_list(char *buf, size_t cap);

/* 1 when this build has the mpi mode (mpk built with MPK_WITH_MPI), else 0.
   MT-safe. */
int app_mode_mpi_built(void);

/* Make the mpi row present for this process (a no-op when it is not built):
   mpk-pi calls it first thing in main. Not MT-safe: call it before any
   other thread runs. */
void app_modes_enable_mpi(void);

/* 1 once app_modes_enable_mpi ran in this process (whether or not the mpi
   mode is built), else 0: the program offers --mode mpi. */
int app_modes_mpi_enabled(void);

/* One mode set up to run kernels: for pool modes the pool exists (created by
   app_exec_open, freed by app_exec_close). */
struct app_exec {
  const app_mode_info *info;
  int workers;            /* OpenMP threads, or pool workers (mpi: this
                             rank's) */
  int threads_per_worker; /* 1, or the team size of hybrid workers */
  mpk_bind_policy bind;   /* pool binding */
  const char *cpuset;     /* explicit cpuset list or NULL */
  mpk_pool_t *pool;       /* pool modes */
  int ranks;              /* mpi: ranks of MPI_COMM_WORLD; 1 otherwise */
  long total_workers;     /* mpi: workers of all ranks; else `workers` */
};

/* Set up mode `m` with the given sizes: workers >= 1 (mpi: >= 0, 0 = one
   per core the rank may use), threads_per_worker >= 1 (forced to 1 unless
   the mode is hybrid, where it must be >= 2). Returns MPK_OK, MPK_EINVAL
   (bad argument, unknown or absent mode), or the pool creation error. On
   error nothing is left running. The mpi mode is collective: every rank
   calls it with the same arguments and gets the same result. */
int app_exec_open(app_exec *ex, app_mode m, int workers, int threads_per_worker,
                  mpk_bind_policy bind, const char *cpuset);

/* Free the pool (if any; collective in the mpi mode). Idempotent. */
void app_exec_close(app_exec *ex);

/* Cores the mode keeps busy: workers * threads_per_worker (1 for serial;
   mpi: total_workers, over all ranks). */
int app_exec_cores(const app_exec *ex);

#endif
