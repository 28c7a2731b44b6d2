/* futex.c - the two futex system calls behind every mpk wait. */
#include "internal/futex.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>

int mpk__futex_wait(_Atomic uint32_t *word, uint32_t expected,
                    const mpk__deadline *d) {
  if (!d->forever && mpk__deadline_expired(d))
    return MPK_ETIMEDOUT;
  /* FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC timeout, so a
     retried wait never stretches the caller's deadline. */
  long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAIT_BITSET, expected,
                   d->forever ? NULL : &d->abs, NULL, FUTEX_BITSET_MATCH_ANY);
  if (r == -1 && errno == ETIMEDOUT)
    return MPK_ETIMEDOUT;
  return MPK_OK; /* woken, EAGAIN (value changed) or EINTR */
}

int mpk__futex_wake(_Atomic uint32_t *word, int n) {
  long r = syscall(SYS_futex, (uint32_t *)word, FUTEX_WAKE, n, NULL, NULL, 0);
  return r < 0 ? 0 : (int)r;
}
