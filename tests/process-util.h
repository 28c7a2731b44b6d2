/* tests/process-util.h - child bodies the process tests share: return 0,
   return the int behind arg, or wait for a signal forever. File-static. */
#ifndef MPK_TESTS_PROCESS_UTIL_H
#define MPK_TESTS_PROCESS_UTIL_H

#include <unistd.h>

static inline int pu_ret_zero(void *arg) {
  (void)arg;
  return 0;
}

static inline int pu_ret_int(void *arg) {
  return *(int *)arg;
}

/* Never returns on its own: ends by a signal. */
static inline int pu_pause_forever(void *arg) {
  (void)arg;
  for (;;)
    pause();
  return 0;
}

#endif
