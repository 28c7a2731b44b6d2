/* Uses an installed mpk without MPI: the umbrella header, a shared Value and
   a child process that adds to it. Prints "consumer: value=42" on success.
   mpk::mpk and mpk.pc carry nothing of MPI, whatever mpk was built with:
   MPK_WITH_MPI defined here fails the build (run.cmake also checks that the
   program does not load libmpi). */
#include <mpk.h>
#include <stdio.h>

#ifdef MPK_WITH_MPI
#error "mpk::mpk / pkg-config mpk gave MPK_WITH_MPI: the MPI mode leaked"
#endif

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
  printf("consumer: cpus=%d value=%ld\n", mpk_cpu_count(),
         mpk_array_load(v, 0));
  mpk_array_free(v);
  return 0;
}
