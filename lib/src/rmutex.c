/* rmutex.c - robust process-shared mutexes (see internal/rmutex.h). */
#include "internal/rmutex.h"

#include <errno.h>

#include "internal/futex.h"

/* Trylock attempts before sleeping in the kernel. Short: a holder that is
   descheduled on an oversubscribed machine should not be spun on for long. */
enum { RMUTEX_SPINS = 64 };

int mpk__rmutex_init(mpk__rmutex *m) {
  pthread_mutexattr_t a;
  int r = pthread_mutexattr_init(&a);
  if (r != 0)
    return -r;
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  pthread_mutexattr_setrobust(&a, PTHREAD_MUTEX_ROBUST);
  pthread_mutexattr_settype(&a, PTHREAD_MUTEX_ERRORCHECK);
  r = pthread_mutex_init(&m->m, &a);
  pthread_mutexattr_destroy(&a);
  return -r;
}

static int settle(mpk__rmutex *m, int r) {
  switch (r) {
  case 0:
    return MPK_OK;
  case EOWNERDEAD:
    /* We hold it now. Mark it consistent so it stays usable; the caller
       learns through MPK_EOWNERDEAD that the data it guards may be torn. */
    pthread_mutex_consistent(&m->m);
    return MPK_EOWNERDEAD;
  case ETIMEDOUT:
  case EBUSY:
    return MPK_ETIMEDOUT;
  case EDEADLK:
    return MPK_EDEADLK;
  default:
    return -r;
  }
}

#if defined(__SANITIZE_THREAD__)
/* GCC 12's ThreadSanitizer does not intercept pthread_mutex_clocklock, so it
   would miss the acquisition and report false races. Under TSan only, sleep
   with pthread_mutex_timedlock on the CLOCK_REALTIME equivalent of the
   deadline (a wall-clock step can then stretch or shorten the wait). */
static int timed_lock(pthread_mutex_t *m, const struct timespec *mono) {
  struct timespec now_m, now_r, abs;
  clock_gettime(CLOCK_MONOTONIC, &now_m);
  clock_gettime(CLOCK_REALTIME, &now_r);
  long long ns = (long long)(mono->tv_sec - now_m.tv_sec) * 1000000000LL +
                 (mono->tv_nsec - now_m.tv_nsec);
  if (ns < 0)
    ns = 0;
  abs.tv_sec = now_r.tv_sec + (time_t)(ns / 1000000000LL);
  abs.tv_nsec = now_r.tv_nsec + (long)(ns % 1000000000LL);
  if (abs.tv_nsec >= 1000000000L) {
    abs.tv_sec++;
    abs.tv_nsec -= 1000000000L;
  }
  return pthread_mutex_timedlock(m, &abs);
}
#else
static int timed_lock(pthread_mutex_t *m, const struct timespec *mono) {
  return pthread_mutex_clocklock(m, CLOCK_MONOTONIC, mono);
}
#endif

int mpk__rmutex_lock(mpk__rmutex *m, const mpk__deadline *d) {
  for (int i = 0; i < RMUTEX_SPINS; i++) {
    int r = pthread_mutex_trylock(&m->m);
    if (r != EBUSY)
      return settle(m, r);
    if (!d->forever && i == 0 && mpk__deadline_expired(d))
      return MPK_ETIMEDOUT; /* a poll tries once */
    mpk__cpu_relax();
  }
  int r;
  do {
    r = d->forever ? pthread_mutex_lock(&m->m) : timed_lock(&m->m, &d->abs);
  } while (r == EINTR);
  return settle(m, r);
}

int mpk__rmutex_lock_forever(mpk__rmutex *m) {
  mpk__deadline d = {.forever = true};
  return mpk__rmutex_lock(m, &d);
}

int mpk__rmutex_unlock(mpk__rmutex *m) {
  int r = pthread_mutex_unlock(&m->m);
  return r == 0 ? MPK_OK : (r == EPERM ? MPK_EPERM : -r);
}

void mpk__rmutex_destroy(mpk__rmutex *m) { pthread_mutex_destroy(&m->m); }
