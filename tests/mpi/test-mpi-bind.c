/* mpi.bind: ranks of one node that were given the same PUs (mpirun
   --bind-to none, or oversubscribed, which Open MPI leaves unbound) share
   them out: the l-th of L such ranks plans its workers over the l-th compact
   slice of max(1, C / L) cores, with one worker per core by default, so
   with L <= C no two ranks pin workers onto the same PU. Ranks that mpirun
   bound apart keep their own binding. An explicit cpuset or MPK_BIND_NONE
   turns the sharing off. Expected values come from mpk_topo_plan_ex, the
   same call every process can make. Node-aware: the share is among the
   ranks of one node (MPI_COMM_TYPE_SHARED, one host); ranks on different
   hosts may use the same PU numbers (on the simulated hosts of
   tests/cluster they are even the same cores). With --expect-cores W (a
   batch-system launch line): each rank was given W cores and its default
   pool has W workers inside them. */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"
#include "mpk/topo.h"

#define CAP 1024

/* This rank's place among the node's ranks whose allowed set equals ours:
 *L of them, we are the *l-th. *node: the node's communicator (to free). */
static void peers(const char *mine, int *L, int *l, MPI_Comm *node_out) {
  MPI_Comm node;
  CHECK_EQ(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                               MPI_INFO_NULL, &node),
           MPI_SUCCESS);
  *node_out = node;
  int nr, ns;
  MPI_Comm_rank(node, &nr);
  MPI_Comm_size(node, &ns);
  char *all = malloc((size_t)ns * CAP);
  CHECK(all != NULL);
  MPI_Allgather(mine, CAP, MPI_CHAR, all, CAP, MPI_CHAR, node);
  *L = 0;
  *l = -1;
  for (int r = 0; r < ns; r++)
    if (strcmp(all + (size_t)r * CAP, mine) == 0) {
      if (r == nr)
        *l = *L;
      (*L)++;
    }
  free(all);
}

/* The PUs of a cpuset list as a bit mask (PUs < 64 on the test machine). */
static unsigned long long mask_of(const char *list) {
  unsigned long long m = 0;
  const char *s = list;
  while (*s) {
    char *end;
    long a = strtol(s, &end, 10), b = a;
    if (*end == '-')
      b = strtol(end + 1, &end, 10);
    for (long i = a; i <= b && i < 64; i++)
      m |= 1ULL << i;
    s = *end == ',' ? end + 1 : end;
    if (end == s && *s)
      break;
  }
  return m;
}

static void test_default_shares(void) {
  char mine[CAP];
  CHECK_OK(mpk_topo_allowed(mine, sizeof mine));
  int L, l;
  MPI_Comm node;
  peers(mine, &L, &l, &node);
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create_mpi(&p, MPI_COMM_WORLD, NULL));
  mpk_mpi_info in;
  CHECK_OK(mpk_pool_mpi_info_get(p, &in));
  int cores = mpk_core_count();
  char slice[CAP];
  unsigned long long want = mask_of(mine);
  int workers = cores;
  if (L > 1) {
    int per = cores / L > 0 ? cores / L : 1;
    CHECK_OK(mpk_topo_plan_ex(L, per, MPK_BIND_COMPACT, NULL, l, slice,
                              sizeof slice, NULL));
    want = mask_of(slice);
    workers = per;
  }
  CHECK_EQ(in.workers, workers);
  unsigned long long used = 0;
  for (int i = 0; i < in.workers; i++) {
    char w[CAP];
    CHECK_OK(mpk_pool_worker_cpuset(p, i, w, sizeof w));
    CHECK_MSG((mask_of(w) & ~want) == 0,
              "rank %d: worker %d on %s, outside its share", mt_rank, i, w);
    used |= mask_of(w);
  }
  /* no two ranks of one node pin onto one PU while the node has a core
     for each (mpirun bound them apart, or they shared out one set) */
  int nr, ns;
  MPI_Comm_rank(node, &nr);
  MPI_Comm_size(node, &ns);
  unsigned long long *all = malloc((size_t)ns * sizeof *all);
  CHECK(all != NULL);
  MPI_Allgather(&used, 1, MPI_UNSIGNED_LONG_LONG, all, 1,
                MPI_UNSIGNED_LONG_LONG, node);
  if (ns <= cores)
    for (int r = 0; r < ns; r++)
      CHECK_MSG(r == nr || (all[r] & used) == 0,
                "ranks %d and %d of one node pin onto the same PU", nr, r);
  free(all);
  MPI_Comm_free(&node);
  mpk_pool_free(p);
}

static void test_explicit_cpuset_keeps(void) {
  char mine[CAP];
  CHECK_OK(mpk_topo_allowed(mine, sizeof mine));
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  o.cpuset = mine; /* everything allowed: no sharing */
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create_mpi(&p, MPI_COMM_WORLD, &o));
  char w[CAP], first[CAP];
  CHECK_OK(mpk_pool_worker_cpuset(p, 0, w, sizeof w));
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_COMPACT, mine, 0, first, sizeof first));
  CHECK_STR(w, first);
  mpk_pool_free(p);
  o.cpuset = NULL;
  o.bind = MPK_BIND_NONE; /* not pinned: nothing to share */
  CHECK_OK(mpk_pool_create_mpi(&p, MPI_COMM_WORLD, &o));
  mpk_mpi_info in;
  CHECK_OK(mpk_pool_mpi_info_get(p, &in));
  CHECK_EQ(in.workers, 1);
  mpk_pool_free(p);
}

/* --expect-cores W: the launcher gave every rank a cpuset of W cores (a
   batch system's task, e.g. --map-by ppr:R:node:PE=W --bind-to core), and
   the default pool follows it: W workers, pinned inside it. */
static int expect_cores;

static void test_given_cpuset(void) {
  if (expect_cores == 0)
    return;
  CHECK_EQ(mpk_core_count(), expect_cores);
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create_mpi(&p, MPI_COMM_WORLD, NULL));
  CHECK_EQ(mpk_pool_size(p), expect_cores);
  char mine[CAP], w[CAP];
  CHECK_OK(mpk_topo_allowed(mine, sizeof mine));
  for (int i = 0; i < expect_cores; i++) {
    CHECK_OK(mpk_pool_worker_cpuset(p, i, w, sizeof w));
    CHECK_MSG((mask_of(w) & ~mask_of(mine)) == 0,
              "rank %d: worker %d on %s, outside the given cpuset %s", mt_rank,
              i, w, mine);
  }
  mpk_pool_free(p);
}

int main(int argc, char **argv) {
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--expect-cores"))
      expect_cores = atoi(argv[i + 1]);
  mt_init(&argc, &argv, 50);
  MT_RUN(test_given_cpuset);
  MT_RUN(test_default_shares);
  MT_RUN(test_explicit_cpuset_keeps);
  return mt_finish();
}
