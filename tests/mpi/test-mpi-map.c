/* mpi.map: mpk_pool_map on an MPI pool over 10^5 elements. With the default
   root (-1) every rank's `out` holds all n results, identical on every rank,
   for both partitions, every local schedule, buffers staged (malloc) or in
   the shared heap. With root = 0 or size - 1 the root's `out` is complete
   and every other rank holds at least the elements its own workers
   computed (and nothing else but its untouched initial bytes); under the
   static partition a rank's share is one contiguous run, the same run
   mpk_pool_for gives it at the same schedule. n = 0 runs nothing. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"

#define N 100000u

/* Each result says which rank computed it (mt_rank is set before the pools
   fork their workers). */
typedef struct {
  double y;
  int32_t rank;
  int32_t tag;
} result;

#define TAG 0x5eed

static double f(double x) {
  return sqrt(x) * 3.0 + x * 0.5 + 1.0;
}

static int square_kernel(const void *in, void *out, void *ctx) {
  (void)ctx;
  result *r = out;
  r->y = f(*(const double *)in);
  r->rank = mt_rank;
  r->tag = TAG;
  return 0;
}

static int correct(const result *out, const double *in, size_t i) {
  return out[i].tag == TAG && out[i].y == f(in[i]) && out[i].rank >= 0 &&
         out[i].rank < mt_size;
}

static double *in_malloc, *in_shm;
static result *out_malloc, *out_shm;

static void fill(double *in, result *out) {
  for (size_t i = 0; i < N; i++)
    in[i] = (double)i;
  memset(out, 0xff, N * sizeof *out);
}

static int untouched(const result *r) {
  const unsigned char *b = (const unsigned char *)r;
  for (size_t k = 0; k < sizeof *r; k++)
    if (b[k] != 0xff)
      return 0;
  return 1;
}

static void map_on(mpk_pool_t *p, const double *in, result *out, mpk_sched s) {
  CHECK_OK(mpk_pool_map(p, square_kernel, in, sizeof *in, out, sizeof *out, N,
                        NULL, 0, s));
}

/* Every rank has every result; the same bytes everywhere; `in` unchanged. */
static void check_all(const double *in, const result *out, int every_rank) {
  long long *per = calloc((size_t)mt_size, sizeof *per);
  CHECK(per != NULL);
  for (size_t i = 0; i < N; i++) {
    CHECK_MSG(in[i] == (double)i, "in[%zu] changed", i);
    CHECK_MSG(correct(out, in, i), "rank %d: out[%zu] = %g (rank %d tag %x)",
              mt_rank, i, out[i].y, out[i].rank, (unsigned)out[i].tag);
    per[out[i].rank]++;
  }
  mt_same_bytes(out, N * sizeof *out, "map results");
  if (every_rank)
    for (int r = 0; r < mt_size; r++)
      CHECK_MSG(per[r] > 0, "rank %d computed no element", r);
  free(per);
}

static void test_map_every_rank_static(void) {
  mpk_pool_t *p = mt_pool();
  for (int k = MPK_SCHED_AUTO; k <= MPK_SCHED_GUIDED; k++) {
    const size_t chunks[2] = {0, 1000};
    for (int c = 0; c < 2; c++) {
      fill(in_malloc, out_malloc);
      map_on(p, in_malloc, out_malloc,
             (mpk_sched){(mpk_sched_kind)k, chunks[c]});
      check_all(in_malloc, out_malloc, 1);
    }
  }
  mpk_pool_free(p);
}

static void test_map_every_rank_dynamic(void) {
  mpk_pool_t *p = mt_pool();
  const size_t grabs[3] = {0, 1, 7};
  for (int g = 0; g < 3; g++) {
    mt_configure(p, MPK_MPI_DYNAMIC, -1, grabs[g]);
    const mpk_sched s[3] = {
        {MPK_SCHED_DYNAMIC, 500}, {MPK_SCHED_AUTO, 0}, {MPK_SCHED_STATIC, 0}};
    /* STATIC 0 maps 10^5 chunks of one element: too many for grabs of 1
       or 7 (a local call per grab, and on the message path of DYNAMIC a
       round trip to rank 0) */
    for (int k = 0; k < (grabs[g] == 0 ? 3 : 2); k++) {
      fill(in_malloc, out_malloc);
      map_on(p, in_malloc, out_malloc, s[k]);
      check_all(in_malloc, out_malloc, 0);
    }
  }
  mt_check_counter(p);
  mpk_pool_free(p);
}

static void test_map_shared_heap_buffers(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, -1, 0);
    fill(in_shm, out_shm);
    map_on(p, in_shm, out_shm, (mpk_sched){MPK_SCHED_CYCLIC, 250});
    check_all(in_shm, out_shm, part == MPK_MPI_STATIC);
    /* a staged in and an in-place out, and the reverse */
    fill(in_malloc, out_shm);
    map_on(p, in_malloc, out_shm, (mpk_sched){MPK_SCHED_DYNAMIC, 0});
    check_all(in_malloc, out_shm, 0);
    fill(in_shm, out_malloc);
    map_on(p, in_shm, out_malloc, (mpk_sched){MPK_SCHED_GUIDED, 0});
    check_all(in_shm, out_malloc, 0);
  }
  mpk_pool_free(p);
}

/* root mode: the root complete, the others at least what they computed */
static void root_case(mpk_pool_t *p, int root, mpk_mpi_partition part,
                      double *in, result *out) {
  mt_configure(p, part, root, 0);
  mpk_mpi_info info;
  CHECK_OK(mpk_pool_mpi_info_get(p, &info));
  CHECK_EQ(info.root, root);
  CHECK_EQ(info.partition, part);
  const mpk_sched s = {MPK_SCHED_STATIC, 1000};
  fill(in, out);
  map_on(p, in, out, s);
  int32_t *owner = malloc(N * sizeof *owner);
  CHECK(owner != NULL);
  if (mt_rank == root)
    for (size_t i = 0; i < N; i++) {
      CHECK_MSG(correct(out, in, i), "root %d: out[%zu] missing", root, i);
      owner[i] = out[i].rank;
    }
  MPI_Bcast(owner, (int)N, MPI_INT32_T, root, MPI_COMM_WORLD);
  long long mine = 0, lo = -1, hi = -1;
  for (size_t i = 0; i < N; i++) {
    if (owner[i] == mt_rank) {
      CHECK_MSG(correct(out, in, i) && out[i].rank == mt_rank,
                "rank %d (root %d) lacks its own out[%zu]", mt_rank, root, i);
      mine++;
      if (lo < 0)
        lo = (long long)i;
      hi = (long long)i + 1;
    } else if (mt_rank != root) {
      CHECK_MSG(untouched(&out[i]) || correct(out, in, i),
                "rank %d (root %d): out[%zu] is neither its initial bytes "
                "nor the result",
                mt_rank, root, i);
    }
  }
  if (part == MPK_MPI_STATIC) {
    /* one contiguous run per rank, the one mpk_pool_for gives it */
    CHECK_MSG(mine > 0 && hi - lo == mine,
              "rank %d's static map share is not one run: [%lld, %lld) with "
              "%lld",
              mt_rank, lo, hi, mine);
    mt_span *all = malloc((size_t)mt_size * sizeof *all);
    CHECK(all != NULL);
    mt_span me = mt_share(p, N, s, all);
    CHECK_MSG(me.lo == lo && me.hi == hi,
              "rank %d: map share [%lld, %lld) != for share [%lld, %lld)",
              mt_rank, lo, hi, me.lo, me.hi);
    free(all);
  }
  free(owner);
}

static void test_map_root(void) {
  mpk_pool_t *p = mt_pool();
  const int roots[2] = {0, mt_size - 1};
  for (int r = 0; r < 2; r++)
    for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
      root_case(p, roots[r], (mpk_mpi_partition)part, in_malloc, out_malloc);
      root_case(p, roots[r], (mpk_mpi_partition)part, in_shm, out_shm);
    }
  /* back to results on every rank */
  mt_configure(p, MPK_MPI_STATIC, -1, 0);
  fill(in_malloc, out_malloc);
  map_on(p, in_malloc, out_malloc, (mpk_sched){MPK_SCHED_AUTO, 0});
  check_all(in_malloc, out_malloc, 1);
  mpk_pool_free(p);
}

static void test_map_n0(void) {
  mpk_pool_t *p = mt_pool();
  for (int part = MPK_MPI_STATIC; part <= MPK_MPI_DYNAMIC; part++) {
    mt_configure(p, (mpk_mpi_partition)part, part ? 0 : -1, 0);
    memset(out_malloc, 0xff, sizeof *out_malloc);
    CHECK_OK(mpk_pool_map(p, square_kernel, in_malloc, sizeof(double),
                          out_malloc, sizeof(result), 0, NULL, 0,
                          (mpk_sched){MPK_SCHED_AUTO, 0}));
    CHECK(untouched(&out_malloc[0]));
    CHECK_OK(mpk_pool_map(p, square_kernel, NULL, sizeof(double), NULL,
                          sizeof(result), 0, NULL, 0,
                          (mpk_sched){MPK_SCHED_DYNAMIC, 0}));
  }
  mpk_pool_free(p);
}

int main(int argc, char **argv) {
  mt_init(&argc, &argv, 50);
  check__current = "setup";
  in_malloc = malloc(N * sizeof *in_malloc);
  out_malloc = malloc(N * sizeof *out_malloc);
  in_shm = mpk_shm_alloc(N * sizeof *in_shm);
  out_shm = mpk_shm_alloc(N * sizeof *out_shm);
  CHECK(in_malloc && out_malloc && in_shm && out_shm);
  mt_hits_alloc(N);
  MT_RUN(test_map_every_rank_static);
  MT_RUN(test_map_every_rank_dynamic);
  MT_RUN(test_map_shared_heap_buffers);
  MT_RUN(test_map_root);
  MT_RUN(test_map_n0);
  mpk_shm_free(in_shm);
  mpk_shm_free(out_shm);
  mpk_shm_free(mt_hits);
  free(in_malloc);
  free(out_malloc);
  return mt_finish();
}
