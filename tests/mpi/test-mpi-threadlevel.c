/* mpi.threadlevel: MPI started at MPI_THREAD_SINGLE (the one test program
   that does not ask for MPI_THREAD_FUNNELED, on purpose): the pool runs
   threads of its own, so mpk_pool_create_mpi returns MPK_ESTATE on every
   rank and leaves *p NULL, and local pools still work. */
#include <string.h>

#include "check.h"
#include "mpi-util.h"

static double len_kernel(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return (double)(hi - lo);
}

static void test_single_is_estate(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  mpk_pool_t *p = (mpk_pool_t *)&p;
  int rc = mpk_pool_create_mpi(&p, MPI_COMM_WORLD, &o);
  CHECK_MSG(rc == MPK_ESTATE, "rank %d got %s", mt_rank, mpk_err_name(rc));
  CHECK(p == NULL);
  mt_same_ll(rc, "create at MPI_THREAD_SINGLE");
  /* the world is still usable, and a local pool works */
  mpk_pool_t *local = mt_local_pool(1);
  double r = 0;
  CHECK_OK(mpk_pool_reduce_double(local, 1000, len_kernel, NULL, 0, MPK_SUM,
                                  (mpk_sched){MPK_SCHED_AUTO, 0}, 0, &r));
  CHECK_EQ(r, 1000);
  mpk_pool_free(local);
}

int main(int argc, char **argv) {
  check_watchdog(30);
  int expect = -1;
  for (int i = 1; i + 1 < argc; i++)
    if (!strcmp(argv[i], "--expect-ranks"))
      expect = atoi(argv[i + 1]);
  check__current = "init";
  int provided = -1;
  CHECK_EQ(MPI_Init_thread(&argc, &argv, MPI_THREAD_SINGLE, &provided),
           MPI_SUCCESS);
  CHECK_MSG(provided == MPI_THREAD_SINGLE,
            "the MPI library gave thread level %d for MPI_THREAD_SINGLE: "
            "this test cannot run",
            provided);
  MPI_Comm_rank(MPI_COMM_WORLD, &mt_rank);
  MPI_Comm_size(MPI_COMM_WORLD, &mt_size);
  CHECK_MSG(expect > 0 && mt_size == expect,
            "launched with %d ranks, expected %d", mt_size, expect);
  MT_RUN(test_single_is_estate);
  return mt_finish();
}
