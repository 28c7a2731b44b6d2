/* tests/mpi/mpi-util.h - what every MPI test program of mpk shares.
 *
 * A program is launched by CTest as
 *   mpirun -np R --oversubscribe <exe> --expect-ranks R [--out FILE]
 *          [--expect-hosts H] [--expect-counter shm|rma|msg]
 * mt_init() arms the watchdog, starts MPI at MPI_THREAD_FUNNELED and fails
 * unless the job has exactly R ranks (a launcher that started the program
 * once, or with another count, would otherwise pass silently). On every run
 * it checks that MPI's nodes (MPI_COMM_TYPE_SHARED) are the ranks' hosts
 * (gethostname), and with --expect-hosts that there are H of them (the
 * simulated clusters of tests/cluster). --expect-counter names the path
 * DYNAMIC must take (mt_check_counter, after a DYNAMIC call). MT_RUN runs
 * one test function on every rank, then a barrier, so a test's collectives
 * never mix with the next test's. A failed CHECK on any rank exits that rank
 * with 1, and mpirun then aborts the job and exits non-zero: a failure on
 * any rank fails the CTest test. mt_finish() ends MPI and prints the count.
 *
 * Kernels run in forked workers and must see which rank they belong to and
 * where the shared arrays are without reading per-rank data from ctx (ctx
 * must hold the same bytes on every rank): those live in globals set before
 * the pool is created (workers are forked from a snapshot of the caller).
 * File-static; include after check.h.
 */
#ifndef MPK_TESTS_MPI_UTIL_H
#define MPK_TESTS_MPI_UTIL_H

#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mpk/mpi.h"
#include "mpk/pool.h"
#include "mpk/shm.h"

static int mt_rank = -1, mt_size = 0;
static const char *mt_out;     /* --out FILE, or NULL */
static const char *mt_counter; /* --expect-counter NAME, or NULL */

#define MT_HOST_CAP 256

/* MPI's nodes are the hosts: the ranks in this rank's MPI_COMM_TYPE_SHARED
   communicator are exactly those with its hostname. Returns the number of
   distinct hosts (the same on every rank). */
static inline int mt_hosts(void) {
  char *all = calloc((size_t)mt_size, MT_HOST_CAP), me[MT_HOST_CAP] = "";
  CHECK(all != NULL);
  CHECK_EQ(gethostname(me, sizeof me - 1), 0);
  MPI_Allgather(me, MT_HOST_CAP, MPI_CHAR, all, MT_HOST_CAP, MPI_CHAR,
                MPI_COMM_WORLD);
  MPI_Comm node;
  CHECK_EQ(MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0,
                               MPI_INFO_NULL, &node),
           MPI_SUCCESS);
  int ns = 0, same = 0, hosts = 0;
  MPI_Comm_size(node, &ns);
  for (int r = 0; r < mt_size; r++) {
    const char *h = all + (size_t)r * MT_HOST_CAP;
    same += strcmp(h, me) == 0;
    int seen = 0;
    for (int q = 0; q < r && !seen; q++)
      seen = strcmp(all + (size_t)q * MT_HOST_CAP, h) == 0;
    hosts += !seen;
  }
  MPI_Comm_free(&node);
  free(all);
  CHECK_MSG(ns == same,
            "rank %d on host %s: MPI's node has %d ranks, the host %d", mt_rank,
            me, ns, same);
  return hosts;
}

/* Parse --expect-ranks R and --out FILE, start MPI and check the job. */
static inline void mt_init(int *argc, char ***argv, unsigned watchdog_s) {
  check_watchdog(watchdog_s);
  int expect = -1, hosts = 0;
  for (int i = 1; i < *argc; i++) {
    if (!strcmp((*argv)[i], "--expect-ranks") && i + 1 < *argc)
      expect = atoi((*argv)[++i]);
    else if (!strcmp((*argv)[i], "--expect-hosts") && i + 1 < *argc)
      hosts = atoi((*argv)[++i]);
    else if (!strcmp((*argv)[i], "--expect-counter") && i + 1 < *argc)
      mt_counter = (*argv)[++i];
    else if (!strcmp((*argv)[i], "--out") && i + 1 < *argc)
      mt_out = (*argv)[++i];
  }
  check__current = "mt_init";
  int provided = -1;
  CHECK_EQ(MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided),
           MPI_SUCCESS);
  CHECK(provided >= MPI_THREAD_FUNNELED);
  MPI_Comm_rank(MPI_COMM_WORLD, &mt_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mt_size);
  CHECK_MSG(expect > 0, "usage: %s --expect-ranks R [--out FILE]", (*argv)[0]);
  CHECK_MSG(mt_size == expect, "launched with %d ranks, expected %d", mt_size,
            expect);
  int seen = mt_hosts();
  CHECK_MSG(hosts == 0 || seen == hosts, "the ranks run on %d hosts, not %d",
            seen, hosts);
}

/* Run one test on every rank; rank 0 reports it. */
#define MT_RUN(fn)                                                             \
  do {                                                                         \
    check__current = #fn;                                                      \
    fn();                                                                      \
    MPI_Barrier(MPI_COMM_WORLD);                                               \
    check__passed++;                                                           \
    if (mt_rank == 0) {                                                        \
      printf("ok - %s (%d ranks)\n", #fn, mt_size);                            \
      fflush(stdout);                                                          \
    }                                                                          \
  } while (0)

static inline int mt_finish(void) {
  check__current = "mt_finish";
  CHECK_EQ(MPI_Finalize(), MPI_SUCCESS);
  return check_done();
}

/* The rank that tests "fails on one rank only" aim at: 1, or 0 alone. */
static inline int mt_target(void) {
  return mt_size > 1 ? 1 : 0;
}

/* Every rank of comm holds the same v (else fail, naming both values). */
static inline void mt_same_ll_on(MPI_Comm comm, long long v, const char *what) {
  int n = 0, me = 0;
  MPI_Comm_size(comm, &n);
  MPI_Comm_rank(comm, &me);
  long long *all = malloc((size_t)n * sizeof *all);
  CHECK(all != NULL);
  MPI_Allgather(&v, 1, MPI_LONG_LONG, all, 1, MPI_LONG_LONG, comm);
  for (int r = 0; r < n; r++)
    CHECK_MSG(all[r] == all[0], "%s differs: rank %d has %lld, rank 0 %lld",
              what, r, all[r], all[0]);
  free(all);
}

static inline void mt_same_ll(long long v, const char *what) {
  mt_same_ll_on(MPI_COMM_WORLD, v, what);
}

static inline uint64_t mt_bits(double d) {
  uint64_t u;
  memcpy(&u, &d, sizeof u);
  return u;
}

/* Every rank of comm holds a double with the same bit pattern. */
static inline void mt_same_bits_on(MPI_Comm comm, double d, const char *what) {
  mt_same_ll_on(comm, (long long)mt_bits(d), what);
}

static inline void mt_same_bits(double d, const char *what) {
  mt_same_bits_on(MPI_COMM_WORLD, d, what);
}

/* Same bytes on every rank of comm (rank 0's copy is broadcast). */
static inline void mt_same_bytes(const void *buf, size_t len,
                                 const char *what) {
  unsigned char *root = malloc(len ? len : 1);
  CHECK(root != NULL);
  if (mt_rank == 0)
    memcpy(root, buf, len);
  for (size_t off = 0; off < len;) {
    size_t step = len - off > (1u << 30) ? (1u << 30) : len - off;
    MPI_Bcast(root + off, (int)step, MPI_BYTE, 0, MPI_COMM_WORLD);
    off += step;
  }
  int same = memcmp(root, buf, len) == 0;
  free(root);
  int all = 0;
  MPI_Allreduce(&same, &all, 1, MPI_INT, MPI_LAND, MPI_COMM_WORLD);
  CHECK_MSG(all, "%s: rank %d's bytes differ from rank 0's (or another's)",
            what, mt_rank);
}

/* Local workers for this rank: 1 on even ranks, 2 on odd ones, so the ranks
   differ in worker count (the reproducibility claims cover that). */
static inline int mt_workers(void) {
  return 1 + mt_rank % 2;
}

/* An MPI pool over comm with `workers` local workers on this rank. */
static inline mpk_pool_t *mt_pool_on(MPI_Comm comm, int workers) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create_mpi(&p, comm, &o));
  CHECK(p != NULL);
  CHECK_EQ(mpk_pool_is_mpi(p), 1);
  return p;
}

static inline mpk_pool_t *mt_pool(void) {
  return mt_pool_on(MPI_COMM_WORLD, mt_workers());
}

/* A plain local (non-MPI) pool. */
/* pi: the seed's calc_partial_pi over a range of steps (ctx: mt_pi_ctx),
   and pi over `steps` on pool p with schedule s. */
typedef struct {
  double dx;
} mt_pi_ctx;

static inline double mt_partial_pi(size_t lo, size_t hi, void *ctx) {
  double dx = ((const mt_pi_ctx *)ctx)->dx, s = 0.0;
  for (size_t i = lo; i < hi; i++) {
    double x = ((double)i + 0.5) * dx;
    s += 4.0 / (1.0 + x * x);
  }
  return s * dx;
}

static inline double mt_pi(mpk_pool_t *p, size_t steps, mpk_sched s) {
  mt_pi_ctx c = {1.0 / (double)steps};
  double r = 0;
  CHECK_OK(mpk_pool_reduce_double(p, steps, mt_partial_pi, &c, sizeof c,
                                  MPK_SUM, s, 0, &r));
  return r;
}

static inline mpk_pool_t *mt_local_pool(int workers) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  mpk_pool_t *p = NULL;
  CHECK_OK(mpk_pool_create(&p, &o));
  CHECK_EQ(mpk_pool_is_mpi(p), 0);
  return p;
}

static inline void mt_configure(mpk_pool_t *p, mpk_mpi_partition part, int root,
                                size_t grab) {
  mpk_mpi_opts o;
  mpk_mpi_opts_init(&o);
  o.partition = part;
  o.root = root;
  o.grab = grab;
  CHECK_OK(mpk_pool_mpi_configure(p, &o));
}

/* After a DYNAMIC call on p: the counter's path is chosen, the same on
   every rank, and the one --expect-counter names (when given). */
static inline void mt_check_counter(mpk_pool_t *p) {
  static const char *const names[] = {"none", "shm", "rma", "msg"};
  mpk_mpi_info info;
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_MSG(info.counter >= MPK_MPI_COUNTER_SHM &&
                info.counter <= MPK_MPI_COUNTER_MSG,
            "rank %d: DYNAMIC counter path %d after a DYNAMIC call", mt_rank,
            (int)info.counter);
  mt_same_ll(info.counter, "DYNAMIC counter path");
  CHECK_MSG(mt_counter == NULL || !strcmp(mt_counter, names[info.counter]),
            "DYNAMIC took the %s path, expected %s", names[info.counter],
            mt_counter);
}

/* The failure every rank saw last: the same code, index, status and signal
   on every rank, and returned for the caller to check against. */
typedef struct {
  int code;
  size_t index;
  int status, signal;
} mt_failure;

static inline mt_failure mt_last_error(mpk_pool_t *p) {
  mt_failure f = {0, 0, 0, 0};
  f.code = mpk_pool_last_error(p, &f.index, &f.status, &f.signal);
  mt_same_ll(f.code, "mpk_pool_last_error code");
  mt_same_ll((long long)f.index, "mpk_pool_last_error index");
  mt_same_ll(f.status, "mpk_pool_last_error task status");
  mt_same_ll(f.signal, "mpk_pool_last_error signal");
  return f;
}

/* Which global indices each rank's kernels receive: mt_hits (in the shared
   heap, allocated by mt_hits_alloc before the pools are created) counts the
   visits of this rank's workers. */
static unsigned char *mt_hits;
static size_t mt_hits_cap;

static inline void mt_hits_alloc(size_t cap) {
  mt_hits = mpk_shm_calloc(cap, 1);
  CHECK(mt_hits != NULL);
  mt_hits_cap = cap;
}

/* A map input 0, 1, .. n-1 (*in) and an output of n doubles (*out), both
   malloc'd, and the hit counters for n indices: the set-up of the map
   failure tests. */
static inline void mt_map_setup(size_t n, double **in, double **out) {
  *in = malloc(n * sizeof **in);
  *out = malloc(n * sizeof **out);
  CHECK(*in != NULL && *out != NULL);
  for (size_t i = 0; i < n; i++)
    (*in)[i] = (double)i;
  mt_hits_alloc(n);
}

typedef struct {
  size_t n;
} mt_hit_ctx;

/* Count each index of [lo, hi); a range outside [0, n) is task status 99. */
static inline int mt_hit_kernel(size_t lo, size_t hi, void *ctx) {
  size_t n = ((const mt_hit_ctx *)ctx)->n;
  if (lo >= hi || hi > n || hi > mt_hits_cap)
    return 99;
  for (size_t i = lo; i < hi; i++)
    mt_hits[i]++;
  return 0;
}

/* The indices one rank got: [lo, hi) spans them, count of them. */
typedef struct {
  long long lo, hi, count;
} mt_span;

/* Run mpk_pool_for over [0, n) and check that the ranks' kernels together
   received every index exactly once. Fills all[r] (mt_size entries) with
   each rank's span and returns this rank's. */
static inline mt_span mt_share(mpk_pool_t *p, size_t n, mpk_sched s,
                               mt_span *all) {
  CHECK(n <= mt_hits_cap);
  memset(mt_hits, 0, n);
  mt_hit_ctx c = {n};
  CHECK_OK(mpk_pool_for(p, n, mt_hit_kernel, &c, sizeof c, s));
  mt_span me = {(long long)n, 0, 0};
  for (size_t i = 0; i < n; i++) {
    CHECK_MSG(mt_hits[i] <= 1, "index %zu ran %d times on rank %d", i,
              mt_hits[i], mt_rank);
    if (mt_hits[i]) {
      me.count++;
      if ((long long)i < me.lo)
        me.lo = (long long)i;
      me.hi = (long long)i + 1;
    }
  }
  unsigned char *sum = malloc(n ? n : 1);
  CHECK(sum != NULL);
  if (n)
    MPI_Allreduce(mt_hits, sum, (int)n, MPI_UNSIGNED_CHAR, MPI_SUM,
                  MPI_COMM_WORLD);
  for (size_t i = 0; i < n; i++)
    CHECK_MSG(sum[i] == 1, "index %zu ran %d times over all ranks", i, sum[i]);
  free(sum);
  MPI_Allgather(&me, 3, MPI_LONG_LONG, all, 3, MPI_LONG_LONG, MPI_COMM_WORLD);
  return me;
}

/* Rank r's span for a static partition at schedule s (checked to be one
   non-empty contiguous run). */
static inline mt_span mt_span_of(mpk_pool_t *p, size_t n, mpk_sched s, int r) {
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  mt_share(p, n, s, all);
  mt_span sp = all[r];
  free(all);
  CHECK_MSG(sp.count > 0 && sp.hi - sp.lo == sp.count,
            "rank %d's static share is not one non-empty run: [%lld, %lld) "
            "with %lld indices",
            r, sp.lo, sp.hi, sp.count);
  return sp;
}

/* An index inside rank r's share for a static partition (the middle of its
   contiguous run), after checking that the run is contiguous. */
static inline size_t mt_index_on_rank(mpk_pool_t *p, size_t n, mpk_sched s,
                                      int r) {
  mt_span sp = mt_span_of(p, n, s, r);
  return (size_t)(sp.lo + sp.count / 2);
}

#endif
