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
    r = d->forever ? pthread_mutex_lock(&m->m)
                   : pthread_mutex_clocklock(&m->m, CLOCK_MONOTONIC, &d->abs);
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

int mpk__rmutex_held(mpk__rmutex *m) {
  /* An ERRORCHECK mutex reports EDEADLK to a thread that already holds it. */
  int r = pthread_mutex_trylock(&m->m);
  if (r == 0 || r == EOWNERDEAD) {
    if (r == EOWNERDEAD)
      pthread_mutex_consistent(&m->m);
    pthread_mutex_unlock(&m->m);
    return 0;
  }
  return r == EDEADLK;
}

void mpk__rmutex_destroy(mpk__rmutex *m) { pthread_mutex_destroy(&m->m); }
