/* wait.c - the spin budget shared by the sync primitives. */
#include "internal/config.h"
#include "internal/sync.h"

#include <pthread.h>

/* Default spin before sleeping: long enough to cover a hand-off between two
   running processes (a few microseconds), short enough not to steal much
   from others when the machine is oversubscribed. */
#define DEFAULT_SPIN_S 50e-6
/* Upper bound under MPK_WAIT_POLICY=active: waits longer than this sleep
   anyway, so a forgotten waiter does not burn a core forever. */
#define ACTIVE_SPIN_S 10e-3

static double spin_s = -1.0;
static pthread_once_t spin_once = PTHREAD_ONCE_INIT;

static void load_spin(void) {
  const mpk__config *c = mpk__config_get();
  double s = DEFAULT_SPIN_S;
  if (c->spin_us >= 0)
    s = c->spin_us * 1e-6;
  if (c->wait == MPK__WAIT_PASSIVE)
    s = 0;
  else if (c->wait == MPK__WAIT_ACTIVE && c->spin_us < 0)
    s = ACTIVE_SPIN_S;
  spin_s = s;
}

double mpk__spin_budget(void) {
  pthread_once(&spin_once, load_spin);
  return spin_s;
}
