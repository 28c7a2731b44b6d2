/* app_modes.c - the mode table and the executor set-up. See app_modes.h. */
#include "app_modes.h"

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "mpk/error.h"
#ifdef MPK_WITH_MPI
#include "mpk/mpi.h"
#endif

/* The pool options of ex (every pool mode). */
static void pool_opts(const app_exec *ex, mpk_backend backend,
                      mpk_pool_opts *o) {
  mpk_pool_opts_init(o);
  o->workers = ex->workers;
  o->backend = backend;
  o->bind = ex->bind;
  o->cpuset = ex->cpuset;
  o->threads_per_worker = ex->threads_per_worker;
}

static int create_pool(app_exec *ex, mpk_backend backend) {
  mpk_pool_opts o;
  pool_opts(ex, backend, &o);
  return mpk_pool_create(&ex->pool, &o);
}

static int create_process_pool(app_exec *ex) {
  return create_pool(ex, MPK_PROCESS);
}

static int create_thread_pool(app_exec *ex) {
  return create_pool(ex, MPK_THREAD);
}

#ifdef MPK_WITH_MPI
/* One process-backend pool per rank over MPI_COMM_WORLD (collective). The
   rank's layout is read back: workers 0 lets the library size it. */
static int create_mpi_pool(app_exec *ex) {
  mpk_pool_opts o;
  pool_opts(ex, MPK_PROCESS, &o);
  int rc = mpk_pool_create_mpi(&ex->pool, MPI_COMM_WORLD, &o);
  if (rc != MPK_OK)
    return rc;
  mpk_mpi_info in;
  rc = mpk_pool_mpi_info_get(ex->pool, &in);
  if (rc != MPK_OK) { /* cannot happen for a pool just made; fail alike */
    mpk_pool_free(ex->pool);
    ex->pool = NULL;
    return rc;
  }
  ex->workers = in.workers;
  ex->ranks = in.size;
  ex->total_workers = in.total_workers;
  return MPK_OK;
}
#endif

/* The table. Order matters for "--mode all": OpenMP runs before the pools
   on purpose (a pool must cope with a process that already has an OpenMP
   team), and serial first gives the speedup baseline. */
static const app_mode_info table[APP_MODE_COUNT] = {
    [APP_MODE_SERIAL] = {APP_MODE_SERIAL, "serial", APP_KIND_SERIAL, 0, 0,
                         "one thread, no parallel runtime", NULL},
    [APP_MODE_OMP] = {APP_MODE_OMP, "omp", APP_KIND_OMP, 0, 0,
                      "an OpenMP parallel for (the baseline)", NULL},
    [APP_MODE_POOL] = {APP_MODE_POOL, "pool", APP_KIND_POOL, 0, 0,
                       "an mpk pool of pinned worker processes",
                       create_process_pool},
    [APP_MODE_THREADS] = {APP_MODE_THREADS, "threads", APP_KIND_POOL, 0, 0,
                          "an mpk pool of pinned worker threads",
                          create_thread_pool},
    [APP_MODE_HYBRID] = {APP_MODE_HYBRID, "hybrid", APP_KIND_POOL, 1, 0,
                         "mpk worker processes, each with an OpenMP team",
                         create_process_pool},
#ifdef MPK_WITH_MPI
    [APP_MODE_MPI] = {APP_MODE_MPI, "mpi", APP_KIND_POOL, 0, 1,
                      "one mpk pool per MPI rank, spanning MPI_COMM_WORLD",
                      create_mpi_pool},
#endif
};

/* The mpi row is present only in programs that asked for it. */
static int mpi_enabled;

static int present(int m) {
  return table[m].name != NULL && (!table[m].mpi || mpi_enabled);
}

int app_mode_mpi_built(void) {
  return table[APP_MODE_MPI].name != NULL;
}

void app_modes_enable_mpi(void) {
  mpi_enabled = 1;
}

int app_modes_mpi_enabled(void) {
  return mpi_enabled;
}

const app_mode_info *app_mode_get(app_mode m) {
  if ((int)m < 0 || m >= APP_MODE_COUNT || !present((int)m))
    return NULL;
  return &table[m];
}

const app_mode_info *app_mode_find(const char *name) {
  for (int m = 0; name != NULL && m < APP_MODE_COUNT; m++)
    if (present(m) && strcmp(table[m].name, name) == 0)
      return &table[m];
  return NULL;
}

const char *const *app_mode_names(int *count) {
  static const char *names[APP_MODE_COUNT];
  for (int m = 0; m < APP_MODE_COUNT; m++)
    names[m] = present(m) ? table[m].name : "";
  *count = APP_MODE_COUNT;
  return names;
}

const char *app_mode_list(char *buf, size_t cap) {
  size_t len = 0;
  if (cap == 0)
    return buf;
  buf[0] = '\0';
  for (int m = 0; m < APP_MODE_COUNT; m++) {
    if (!present(m))
      continue;
    int w =
        snprintf(buf + len, cap - len, "%s%s", len ? ", " : "", table[m].name);
    if (w < 0 || (size_t)w >= cap - len)
      break;
    len += (size_t)w;
  }
  return buf;
}

int app_exec_open(app_exec *ex, app_mode m, int workers, int threads_per_worker,
                  mpk_bind_policy bind, const char *cpuset) {
  const app_mode_info *info = app_mode_get(m);
  if (ex == NULL || info == NULL || threads_per_worker < 1 ||
      workers < (info->mpi ? 0 : 1))
    return MPK_EINVAL;
  if (info->hybrid && threads_per_worker < 2)
    return MPK_EINVAL;
  memset(ex, 0, sizeof *ex);
  ex->info = info;
  ex->workers = info->kind == APP_KIND_SERIAL ? 1 : workers;
  ex->threads_per_worker = info->hybrid ? threads_per_worker : 1;
  ex->bind = bind;
  ex->cpuset = cpuset;
  ex->ranks = 1;
  ex->total_workers = ex->workers;
  if (info->create != NULL) {
    int rc = info->create(ex);
    if (rc != MPK_OK) {
      ex->pool = NULL;
      return rc;
    }
  }
  return MPK_OK;
}

void app_exec_close(app_exec *ex) {
  if (ex == NULL)
    return;
  if (ex->pool != NULL && mpk_pool_close(ex->pool) == MPK_OK)
    (void)mpk_pool_join(ex->pool); /* a clean stop; free reaps regardless */
  mpk_pool_free(ex->pool);
  ex->pool = NULL;
}

int app_exec_cores(const app_exec *ex) {
  return (int)ex->total_workers * ex->threads_per_worker;
}
