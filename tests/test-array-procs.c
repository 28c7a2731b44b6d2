/* array.procs: Values and Arrays shared by several processes: exact
   totals from atomic increments, CAS loops and lock-protected updates. */
#include <limits.h>

#include "check.h"
#include "internal/shm.h"
#include "mpk/shm.h"

enum { PROCS = 4, ADDS = 100000, CAS_ADDS = 20000, LOCKED_ADDS = 20000 };

static mpk_array_t *counters; /* MPK_LONG x 3: fetch_add, CAS, -fetch_add */
static mpk_array_t *ints;     /* MPK_INT x 1 */
static mpk_array_t *sizes;    /* MPK_SIZE x 1 */
static mpk_array_t *guarded;  /* MPK_DOUBLE x 2, locked */

static int adder(void *arg) {
  (void)arg;
  for (int i = 0; i < ADDS; i++) {
    mpk_array_fetch_add(counters, 0, 1);
    mpk_array_fetch_add(counters, 2, -1);
    mpk_array_fetch_add(ints, 0, 1);
    mpk_array_fetch_add(sizes, 0, 3);
  }
  for (int i = 0; i < CAS_ADDS; i++) {
    long e = mpk_array_load(counters, 1);
    while (!mpk_array_compare_exchange(counters, 1, &e, e + 1)) {
    }
  }
  double *d = mpk_array_data(guarded);
  for (int i = 0; i < LOCKED_ADDS; i++) {
    CHECK_OK(mpk_array_lock(guarded));
    /* a read-modify-write of two plain elements: torn without the lock */
    double v = d[0];
    d[0] = v + 1.0;
    d[1] = d[0] * 2.0;
    CHECK_OK(mpk_array_unlock(guarded));
  }
  return 0;
}

static void test_totals(void) {
  CHECK_OK(mpk_array_new(&counters, MPK_LONG, 3, 0));
  CHECK_OK(mpk_array_new(&ints, MPK_INT, 1, 0));
  CHECK_OK(mpk_array_new(&sizes, MPK_SIZE, 1, 0));
  CHECK_OK(mpk_array_new(&guarded, MPK_DOUBLE, 2, 1));
  pid_t pid[PROCS];
  for (int p = 0; p < PROCS; p++)
    pid[p] = check_fork(adder, NULL);
  for (int p = 0; p < PROCS; p++)
    check_wait_ok(pid[p], 60);
  CHECK_EQ(mpk_array_load(counters, 0), PROCS * ADDS);
  CHECK_EQ(mpk_array_load(counters, 1), PROCS * CAS_ADDS);
  CHECK_EQ(mpk_array_load(counters, 2), -(long)PROCS * ADDS);
  CHECK_EQ(mpk_array_load(ints, 0), PROCS * ADDS);
  CHECK_EQ(((int *)mpk_array_data(ints))[0], PROCS * ADDS);
  CHECK_EQ(mpk_array_load(sizes, 0), 3L * PROCS * ADDS);
  double *d = mpk_array_data(guarded);
  CHECK_NEAR(d[0], (double)PROCS * LOCKED_ADDS, 0);
  CHECK_NEAR(d[1], 2.0 * PROCS * LOCKED_ADDS, 0);
  mpk_array_free(counters);
  mpk_array_free(ints);
  mpk_array_free(sizes);
  mpk_array_free(guarded);
}

int main(void) {
  check_watchdog(60);
  CHECK_OK(mpk__shm_init());
  CHECK_RUN(test_totals);
  return check_done();
}
