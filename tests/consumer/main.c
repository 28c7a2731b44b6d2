/* Uses an installed mpk: the umbrella header, a shared Value and a child
   process that adds to it. Prints "consumer: value=42" on success, and
   "mpi=on" when the installed libmpk has the MPI mode (mpk/mpi.h comes in
   through mpk.h with MPK_WITH_MPI, and its symbols link), else "mpi=off". */
#include <mpk.h>
#include <stdio.h>

static int child(void *arg) {
  mpk_array_t *v = *(mpk_array_t **)arg; /* the handle lives in shared memory */
  mpk_array_fetch_add(v, 0, 41);
  return 0;
}

int main(void) {
  mpk_array_t *v;
  mpk_process_t *p;
  if (mpk_array_new(&v, MPK_LONG, 1, 0) != MPK_OK)
    return 1;
  mpk_array_store(v, 0, 1);
  int rc = mpk_process_new(&p, child, &v, sizeof v, NULL);
  if (rc == MPK_OK)
    rc = mpk_process_start(p);
  if (rc == MPK_OK)
    rc = mpk_process_join(p, MPK_FOREVER);
  if (rc != MPK_OK) {
    fprintf(stderr, "consumer: %s\n", mpk_strerror(rc));
    return 1;
  }
  mpk_process_free(p);
#if defined(MPK_WITH_MPI)
  if (mpk_pool_is_mpi(NULL) != 0)
    return 1;
  const char *mpi = "on";
#else
  const char *mpi = "off";
#endif
  printf("consumer: cpus=%d value=%ld mpi=%s\n", mpk_cpu_count(),
         mpk_array_load(v, 0), mpi);
  mpk_array_free(v);
  return 0;
}
