/* Uses an installed mpk's MPI mode (mpk::mpi, pkg-config mpk-mpi):
   mpk/mpi.h through mpk.h, one pool over MPI_COMM_WORLD, a reduction that
   counts [0, 1000). Run as a one-rank job (no mpirun), it prints
   "consumer-mpi: ranks=1 sum=1000". */
#include <mpi.h>
#include <mpk.h>
#include <stdio.h>

#ifndef MPK_WITH_MPI
#error "mpk::mpi / pkg-config mpk-mpi must give MPK_WITH_MPI"
#endif

/* The length of [lo, hi): the reduction counts the range. */
static double len(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return (double)(hi - lo);
}

int main(int argc, char **argv) {
  int provided = 0, ranks = 0;
  if (MPI_Init_thread(&argc, &argv, MPI_THREAD_FUNNELED, &provided) !=
      MPI_SUCCESS)
    return 1;
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  mpk_pool_t *p = NULL;
  double sum = -1;
  int rc = mpk_pool_create_mpi(&p, MPI_COMM_WORLD, &o);
  if (rc == MPK_OK)
    rc = mpk_pool_reduce_double(p, 1000, len, NULL, 0, MPK_SUM,
                                (mpk_sched){MPK_SCHED_AUTO, 0}, 0, &sum);
  mpk_pool_free(p);
  MPI_Finalize();
  if (rc != MPK_OK) {
    fprintf(stderr, "consumer-mpi: %s\n", mpk_strerror(rc));
    return 1;
  }
  printf("consumer-mpi: ranks=%d sum=%.0f\n", ranks, sum);
  return 0;
}
