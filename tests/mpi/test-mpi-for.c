/* mpi.for: mpk_pool_for on an MPI pool. The kernels of all ranks receive
   global indices that cover [0, n) exactly once (each rank counts the
   indices its workers got in a shared-heap array, MPI_Allreduce adds the
   counts), for both partitions, any grab, every local schedule and chunk,
   and tiny n (fewer chunks than ranks). The static partition gives each
   rank one contiguous run in proportion to its worker count. Info, the
   local-only calls (apply, map_async on one rank only), many calls in a row
   and pools created and freed repeatedly. */
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"

#define N 100000u

static void test_for_static_cover(void) {
  mpk_pool_t *p = mt_pool();
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  long long w = mt_workers(), total = 0;
  MPI_Allreduce(&w, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  const size_t chunks[3] = {0, 1, 777};
  for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++)
    for (int c = 0; c < 3; c++) {
      mt_share(p, N, (mpk_sched){(mpk_sched_kind)k, chunks[c]}, all);
      for (int r = 0; r < mt_size; r++) {
        CHECK_MSG(all[r].count > 0 && all[r].hi - all[r].lo == all[r].count,
                  "schedule %d chunk %zu: rank %d's share [%lld, %lld) has "
                  "%lld indices",
                  k, chunks[c], r, all[r].lo, all[r].hi, all[r].count);
        if (chunks[c] == 0)
          continue;
        /* in proportion to the workers (1 on even ranks, 2 on odd ones),
           within two chunks */
        double want = (double)N * (double)(1 + r % 2) / (double)total;
        CHECK_MSG(fabs((double)all[r].count - want) <=
                      2.0 * (double)chunks[c] + 1.0,
                  "chunk %zu: rank %d got %lld indices, %.0f expected",
                  chunks[c], r, all[r].count, want);
      }
    }
  free(all);
  mpk_pool_free(p);
}

static void test_for_dynamic_cover(void) {
  mpk_pool_t *p = mt_pool();
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  const size_t grabs[3] = {0, 1, 5};
  for (int g = 0; g < 3; g++) {
    mt_configure(p, MPK_MPI_DYNAMIC, -1, grabs[g]);
    for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
      /* chunk 0 is 1 for cyclic / dynamic / guided: 10^5 chunks, too many
         for grabs of 1 or 5 (a local call per grab, and on the message
         path of DYNAMIC a round trip to rank 0) */
      if (grabs[g] == 0)
        mt_share(p, N, (mpk_sched){(mpk_sched_kind)k, 0}, all);
      mt_share(p, N, (mpk_sched){(mpk_sched_kind)k, 333}, all);
    }
  }
  free(all);
  mpk_pool_free(p);
}

static void test_for_small_n(void) {
  mpk_pool_t *p = mt_pool();
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  const size_t ns[7] = {0, 1, 2, 3, 5, 7, 64};
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    for (int i = 0; i < 7; i++)
      for (size_t chunk = 0; chunk <= 100; chunk += 50) {
        mt_share(p, ns[i], (mpk_sched){MPK_SCHED_STATIC, chunk}, all);
        mt_share(p, ns[i], (mpk_sched){MPK_SCHED_DYNAMIC, chunk}, all);
      }
  }
  free(all);
  mpk_pool_free(p);
}

/* Ranges near 2^64: a kernel that only adds up what it was given. The
   last chunk's end must be n, not (chunks x chunk) wrapped around; a grab
   larger than the range must not wrap the counter (each index once). */
static _Atomic unsigned long long *g_sum; /* shared: indices seen here */
static _Atomic int *g_bad;                /* shared: ranges with hi <= lo */

static int add_range(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  if (hi <= lo)
    atomic_fetch_add(g_bad, 1);
  else
    atomic_fetch_add(g_sum, (unsigned long long)(hi - lo));
  return 0;
}

static unsigned long long covered(mpk_pool_t *p, size_t n, mpk_sched s) {
  atomic_store(g_sum, 0);
  atomic_store(g_bad, 0);
  CHECK_OK(mpk_pool_for(p, n, add_range, NULL, 0, s));
  CHECK_EQ(atomic_load(g_bad), 0);
  unsigned long long mine = atomic_load(g_sum), all = 0;
  MPI_Allreduce(&mine, &all, 1, MPI_UNSIGNED_LONG_LONG, MPI_SUM,
                MPI_COMM_WORLD);
  return all;
}

static void test_huge_ranges(void) {
  g_sum = mpk_shm_calloc(1, sizeof *g_sum);
  g_bad = mpk_shm_calloc(1, sizeof *g_bad);
  CHECK(g_sum != NULL && g_bad != NULL);
  mpk_pool_t *p = mt_pool();
  const size_t big = (size_t)1 << 63;
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    /* 2 chunks, the second one short of 2^63 by one */
    CHECK_EQ(covered(p, SIZE_MAX, (mpk_sched){MPK_SCHED_STATIC, big}),
             (unsigned long long)SIZE_MAX);
    CHECK_EQ(covered(p, SIZE_MAX - 5, (mpk_sched){MPK_SCHED_DYNAMIC, big}),
             (unsigned long long)(SIZE_MAX - 5));
  }
  /* a grab of 2^63 chunks on a range of 1000 */
  mt_configure(p, MPK_MPI_DYNAMIC, -1, big);
  CHECK_EQ(covered(p, 1000, (mpk_sched){MPK_SCHED_STATIC, 1}), 1000ull);
  CHECK_EQ(covered(p, 1000, (mpk_sched){MPK_SCHED_DYNAMIC, 7}), 1000ull);
  mpk_pool_free(p);
  mpk_shm_free((void *)g_sum);
  mpk_shm_free((void *)g_bad);
}

/* mpk_pool_for over [0, 1000) (chunk 7, dynamic local schedule): how many
   indices all ranks visited, each once. */
static long long covered_once(mpk_pool_t *p) {
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  mt_share(p, 1000, (mpk_sched){MPK_SCHED_DYNAMIC, 7}, all);
  long long n = 0;
  for (int r = 0; r < mt_size; r++)
    n += all[r].count;
  free(all);
  return n;
}

static void test_info(void) {
  mpk_pool_t *p = mt_pool();
  mpk_mpi_info info;
  memset(&info, 0x55, sizeof info);
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_EQ(info.rank, mt_rank);
  CHECK_EQ(info.size, mt_size);
  CHECK_EQ(info.workers, mt_workers());
  CHECK_EQ(mpk_pool_size(p), mt_workers());
  long long total = 0, w = mt_workers();
  MPI_Allreduce(&w, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  CHECK_EQ(info.total_workers, total);
  CHECK_EQ(info.partition, MPK_MPI_STATIC);
  CHECK_EQ(info.root, -1);
  mt_configure(p, MPK_MPI_DYNAMIC, mt_size - 1, 9);
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_EQ(info.partition, MPK_MPI_DYNAMIC);
  CHECK_EQ(info.root, mt_size - 1);
  CHECK_EQ(info.grab, 9);
  CHECK_EQ(info.rank, mt_rank);
  /* DYNAMIC's counter: chosen at the first DYNAMIC call, not before */
  CHECK_EQ(info.counter, MPK_MPI_COUNTER_NONE);
  CHECK_EQ(covered_once(p), 1000);
  mt_check_counter(p);
  mpk_pool_free(p);
  /* workers 0: the PUs mpirun gave the rank, at least one */
  p = mt_pool_on(MPI_COMM_WORLD, 0);
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK(info.workers >= 1);
  CHECK_EQ(info.workers, mpk_pool_size(p));
  w = info.workers;
  MPI_Allreduce(&w, &total, 1, MPI_LONG_LONG, MPI_SUM, MPI_COMM_WORLD);
  CHECK_EQ(info.total_workers, total);
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  mt_share(p, N, (mpk_sched){MPK_SCHED_AUTO, 0}, all);
  free(all);
  mpk_pool_free(p);
}

static int twice_task(const void *arg, void *result, void *ctx) {
  (void)ctx;
  *(long *)result = 2 * *(const long *)arg;
  return 0;
}

static int neg_kernel(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = -*(const long *)in;
  return 0;
}

/* apply and map_async act on the calling rank only: a rank may call them
   alone, and the next collective call still matches up. */
static void test_local_calls_on_one_rank(void) {
  mpk_pool_t *p = mt_pool();
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  for (int r = 0; r < mt_size; r++) {
    if (mt_rank == r) {
      long arg = 21 + r, res = 0;
      CHECK_OK(
          mpk_pool_apply(p, twice_task, &arg, sizeof arg, &res, sizeof res));
      CHECK_EQ(res, 2 * (21 + r));
      long in[1000], out[1000];
      for (int i = 0; i < 1000; i++)
        in[i] = i;
      mpk_async_t *a = NULL;
      CHECK_OK(mpk_pool_map_async(
          p, neg_kernel, in, sizeof in[0], out, sizeof out[0], 1000, NULL, 0,
          (mpk_sched){MPK_SCHED_AUTO, 0}, NULL, NULL, &a));
      CHECK_OK(mpk_async_wait(a, CHECK_HANG_S));
      mpk_async_free(a);
      for (int i = 0; i < 1000; i++)
        CHECK_EQ(out[i], -i);
    }
    mt_share(p, N, (mpk_sched){MPK_SCHED_STATIC, 0}, all);
  }
  free(all);
  mpk_pool_free(p);
}

static double one_kernel(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return (double)(hi - lo);
}

static void test_many_calls(void) {
  mpk_pool_t *p = mt_pool();
  mt_span *all = malloc((size_t)mt_size * sizeof *all);
  CHECK(all != NULL);
  for (int i = 0; i < 100; i++) {
    mt_configure(p, i % 3 ? MPK_MPI_STATIC : MPK_MPI_DYNAMIC, -1, 0);
    size_t n = 1000 + (size_t)i * 37;
    double r = 0;
    CHECK_OK(mpk_pool_reduce_double(p, n, one_kernel, NULL, 0, MPK_SUM,
                                    (mpk_sched){MPK_SCHED_STATIC, 16}, 0, &r));
    CHECK_EQ((long long)r, (long long)n);
    if (i % 10 == 0)
      mt_share(p, n, (mpk_sched){MPK_SCHED_CYCLIC, 3}, all);
  }
  free(all);
  mpk_pool_free(p);
}

static void test_create_free_repeatedly(void) {
  for (int i = 0; i < 4; i++) {
    mpk_pool_t *p = mt_pool();
    double r = 0;
    CHECK_OK(mpk_pool_reduce_double(p, 5000, one_kernel, NULL, 0, MPK_SUM,
                                    (mpk_sched){MPK_SCHED_AUTO, 0}, 0, &r));
    CHECK_EQ((long long)r, 5000);
    mpk_pool_free(p);
  }
  /* two MPI pools at once over the same communicator */
  mpk_pool_t *a = mt_pool(), *b = mt_pool_on(MPI_COMM_WORLD, 1);
  double ra = 0, rb = 0;
  CHECK_OK(mpk_pool_reduce_double(a, 7000, one_kernel, NULL, 0, MPK_SUM,
                                  (mpk_sched){MPK_SCHED_AUTO, 0}, 0, &ra));
  CHECK_OK(mpk_pool_reduce_double(b, 9000, one_kernel, NULL, 0, MPK_SUM,
                                  (mpk_sched){MPK_SCHED_AUTO, 0}, 0, &rb));
  CHECK_EQ((long long)ra, 7000);
  CHECK_EQ((long long)rb, 9000);
  mpk_pool_free(b);
  mpk_pool_free(a);
}

int main(int argc, char **argv) {
  mt_init(&argc, &argv, 50);
  check__current = "setup";
  mt_hits_alloc(N);
  MT_RUN(test_for_static_cover);
  MT_RUN(test_for_dynamic_cover);
  MT_RUN(test_for_small_n);
  MT_RUN(test_huge_ranges);
  MT_RUN(test_info);
  MT_RUN(test_local_calls_on_one_rank);
  MT_RUN(test_many_calls);
  MT_RUN(test_create_free_repeatedly);
  mpk_shm_free(mt_hits);
  return mt_finish();
}
