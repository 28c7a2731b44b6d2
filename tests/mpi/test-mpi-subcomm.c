/* mpi.subcomm: MPI pools on the two halves of one MPI_Comm_split, created
   at the same time (as two independent parts of a program would), each
   computing pi with the dynamic partition: every half gets M_PI
   bit-identical to a local pool's, eight times over. With 4 ranks and Open
   MPI 4.1 an MPI_Win_allocate window would meet osc/rdma's shared-memory
   file naming (context id only, shared by the halves of one split:
   open-mpi/ompi#9492) and merge the two halves' counters; the library uses
   a shared-memory window on one node, which this test guards. On simulated
   hosts (tests/cluster, 2 hosts x 2 ranks) each half spans both hosts and
   DYNAMIC takes the message path there: no window at all. */
#include <math.h>
#include <string.h>

#include "check.h"
#include "mpi-util.h"

static double pi_with(mpk_pool_t *p, size_t steps) {
  return mt_pi(p, steps, (mpk_sched){MPK_SCHED_STATIC, 500});
}

static void test_halves_at_once(void) {
  /* the halves use different n */
  const size_t steps = mt_rank % 2 ? 300000 : 400000;
  mpk_pool_t *local = mt_local_pool(1);
  double ref = pi_with(local, steps);
  mpk_pool_free(local);
  MPI_Comm half;
  MPI_Comm_split(MPI_COMM_WORLD, mt_rank % 2, mt_rank, &half);
  for (int round = 0; round < 8; round++) {
    MPI_Barrier(MPI_COMM_WORLD);
    mpk_pool_t *p = mt_pool_on(half, 1);
    mt_configure(p, MPK_MPI_DYNAMIC, -1, 1);
    double pi = pi_with(p, steps);
    CHECK_MSG(mt_bits(pi) == mt_bits(ref),
              "round %d, half %d: pi %.17g, a local pool gives %.17g", round,
              mt_rank % 2, pi, ref);
    mt_same_bits_on(half, pi, "pi in one half");
    mpk_mpi_info info;
    CHECK_OK(mpk_pool_mpi_info_get(p, &info));
    CHECK(info.counter != MPK_MPI_COUNTER_NONE);
    mt_same_ll_on(half, info.counter, "DYNAMIC counter path in one half");
    mpk_pool_free(p);
  }
  MPI_Comm_free(&half);
}

int main(int argc, char **argv) {
  mt_init(&argc, &argv, 50);
  MT_RUN(test_halves_at_once);
  return mt_finish();
}
