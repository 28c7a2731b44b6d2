/* internal/clock.h - CLOCK_MONOTONIC deadlines for every timed wait.
 *
 * A public `double timeout` becomes a deadline once, at the start of a call,
 * so retries after EINTR or spurious wake-ups never extend the total wait.
 */
#ifndef MPK_INTERNAL_CLOCK_H
#define MPK_INTERNAL_CLOCK_H

#include <math.h>
#include <stdbool.h>
#include <time.h>

#include "internal/error.h"

typedef struct {
  bool forever;        /* MPK_FOREVER (any negative timeout) */
  struct timespec abs; /* CLOCK_MONOTONIC instant; unused when forever */
} mpk__deadline;

static inline double mpk__now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* timeout < 0: forever; 0: already expired (poll); NaN: MPK_EINVAL.
   Timeouts beyond ~30 years are treated as forever. */
static inline int mpk__deadline_init(mpk__deadline *d, double timeout) {
  if (isnan(timeout))
    return mpk__errf(MPK_EINVAL, "timeout is NaN");
  d->forever = timeout < 0 || timeout > 1e9;
  clock_gettime(CLOCK_MONOTONIC, &d->abs);
  if (!d->forever && timeout > 0) {
    double whole = floor(timeout);
    d->abs.tv_sec += (time_t)whole;
    d->abs.tv_nsec += (long)((timeout - whole) * 1e9);
    if (d->abs.tv_nsec >= 1000000000L) {
      d->abs.tv_sec += 1;
      d->abs.tv_nsec -= 1000000000L;
    }
  }
  return MPK_OK;
}

static inline bool mpk__deadline_expired(const mpk__deadline *d) {
  if (d->forever)
    return false;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  return now.tv_sec > d->abs.tv_sec ||
         (now.tv_sec == d->abs.tv_sec && now.tv_nsec >= d->abs.tv_nsec);
}

/* Seconds left (>= 0), or -1 when forever. */
static inline double mpk__deadline_left(const mpk__deadline *d) {
  if (d->forever)
    return -1.0;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  double left = (double)(d->abs.tv_sec - now.tv_sec) +
                1e-9 * (double)(d->abs.tv_nsec - now.tv_nsec);
  return left > 0 ? left : 0.0;
}

/* Milliseconds left for poll(2): -1 forever, rounded up so that a poll never
   returns before the deadline. */
static inline int mpk__deadline_poll_ms(const mpk__deadline *d) {
  double left = mpk__deadline_left(d);
  if (left < 0)
    return -1;
  double ms = ceil(left * 1e3);
  return ms > 2147483647.0 ? 2147483647 : (int)ms;
}

#endif
