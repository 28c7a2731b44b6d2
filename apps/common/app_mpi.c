/* app_mpi.c - MPI set-up, timing and layout for the apps' mpi mode. Compiled
 * only when mpk has MPI (apps/common/CMakeLists.txt). See app_mpi.h. */
#include "app_mpi.h"

#include <limits.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "mpk/error.h"

/* 1 once app_mpi_init has initialised MPI (and until app_mpi_finalize). */
static int initialised;

/* The MPI_Init watchdog's message, built before arming it. */
static char init_msg[256];
static size_t init_msg_len;

static void init_expired(int sig) {
  (void)sig;
  ssize_t w = write(STDERR_FILENO, init_msg, init_msg_len); /* AS-safe */
  (void)w;
  _exit(2);
}

int app_mpi_init(int *argc, char ***argv, double timeout, char *err,
                 size_t cap) {
  int flag = 0;
  if (MPI_Finalized(&flag) == MPI_SUCCESS && flag) {
    snprintf(err, cap, "MPI was already finalised in this process");
    return -1;
  }
  if (MPI_Initialized(&flag) == MPI_SUCCESS && flag) {
    snprintf(err, cap, "MPI was already initialised in this process");
    return -1;
  }
  const char *prog = "mpk";
  if (argc && argv && *argc > 0 && *argv && (*argv)[0]) {
    const char *slash = strrchr((*argv)[0], '/');
    prog = slash ? slash + 1 : (*argv)[0];
  }
  int n = snprintf(init_msg, sizeof init_msg,
                   "%s: MPI_Init did not finish within %g s: does every "
                   "process of the job run the mpi mode?\n",
                   prog, timeout);
  init_msg_len = n < 0                         ? 0
                 : (size_t)n < sizeof init_msg ? (size_t)n
                                               : sizeof init_msg - 1;
  struct sigaction sa, old;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = init_expired;
  sigemptyset(&sa.sa_mask);
  const int watch = timeout > 0 && sigaction(SIGALRM, &sa, &old) == 0;
  if (watch)
    alarm(timeout >= UINT_MAX ? UINT_MAX : (unsigned)ceil(timeout));
  int provided = MPI_THREAD_SINGLE;
  int rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  if (watch) {
    alarm(0);
    sigaction(SIGALRM, &old, NULL);
  }
  if (rc != MPI_SUCCESS) {
    char msg[MPI_MAX_ERROR_STRING];
    int len = 0;
    if (MPI_Error_string(rc, msg, &len) != MPI_SUCCESS)
      snprintf(msg, sizeof msg, "error %d", rc);
    snprintf(err, cap, "MPI_Init_thread failed: %s", msg);
    return -1;
  }
  if (provided < MPI_THREAD_FUNNELED) {
    MPI_Finalize();
    snprintf(err, cap,
             "the MPI library provides thread level %d, below "
             "MPI_THREAD_FUNNELED (%d) which the pool needs",
             provided, MPI_THREAD_FUNNELED);
    return -1;
  }
  initialised = 1;
  return 0;
}

void app_mpi_finalize(void) {
  if (!initialised)
    return;
  initialised = 0;
  MPI_Finalize();
}

int app_mpi_rank(void) {
  int r = 0;
  if (initialised && MPI_Comm_rank(MPI_COMM_WORLD, &r) != MPI_SUCCESS)
    r = 0;
  return r;
}

/* MPI_COMM_WORLD keeps MPI's default handler (errors are fatal: the job
   aborts), so the collective calls below report nothing to check. */
int app_mpi_time_runs(int (*run)(void *arg), void *arg, int warmup, int repeats,
                      double *times) {
  for (int i = 0; i < warmup + repeats; i++) {
    MPI_Barrier(MPI_COMM_WORLD);
    double t0 = MPI_Wtime();
    int rc = run(arg);
    MPI_Barrier(MPI_COMM_WORLD);
    /* One reduction for the slowest time and the extreme codes:
       max(-rc) is -min(rc), the most negative code. */
    double mine[3] = {MPI_Wtime() - t0, -(double)rc, (double)rc}, all[3];
    MPI_Allreduce(mine, all, 3, MPI_DOUBLE, MPI_MAX, MPI_COMM_WORLD);
    if (all[1] > 0)
      return -(int)all[1];
    if (all[2] > 0)
      return (int)all[2];
    if (i >= warmup)
      times[i - warmup] = all[0];
  }
  return 0;
}

int app_mpi_same(const void *buf, size_t len) {
  unsigned char root[APP_MPI_SAME_MAX];
  if (len > sizeof root)
    return -1; /* the same on every rank: len is the program's constant */
  memcpy(root, buf, len);
  MPI_Bcast(root, (int)len, MPI_BYTE, 0, MPI_COMM_WORLD);
  int same = memcmp(root, buf, len) == 0, all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  return all;
}

void app_mpi_workers(const app_exec *ex, int *out) {
  int mine = ex->workers;
  MPI_Allgather(&mine, 1, MPI_INT, out, 1, MPI_INT, MPI_COMM_WORLD);
}

int app_mpi_partition(app_exec *ex, mpk_mpi_partition part) {
  mpk_mpi_opts o;
  mpk_mpi_opts_init(&o); /* results on every rank, automatic grab */
  o.partition = part;
  return mpk_pool_mpi_configure(ex->pool, &o);
}

int app_mpi_nodes(void) {
  MPI_Comm node;
  int leader = 0, nodes = 0;
  if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                          MPI_INFO_NULL, &node) == MPI_SUCCESS) {
    int r = -1;
    MPI_Comm_rank(node, &r);
    leader = r == 0;
    MPI_Comm_free(&node);
  }
  MPI_Allreduce(&leader, &nodes, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  return nodes;
}

const char *app_mpi_counter(const app_exec *ex) {
  mpk_mpi_info info;
  if (mpk_pool_mpi_info_get(ex->pool, &info) != MPK_OK)
    return NULL;
  switch (info.counter) {
  case MPK_MPI_COUNTER_SHM: return "shm";
  case MPK_MPI_COUNTER_RMA: return "rma";
  case MPK_MPI_COUNTER_MSG: return "msg";
  default: return NULL;
  }
}
