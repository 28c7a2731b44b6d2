/* scn-semcond.c - Semaphore and Condition sleepers (and a Condition's lock
 * holder) killed.
 *
 * sem-kill: 2-3 sleepers wait for units of a semaphore at 0; one is
 * killed, then the leader releases a unit per survivor, and each survivor
 * must get one within 1 s of the last release (a stall past that; still
 * asleep CH_HANG later is a lost wake-up). The victim is killed
 *   asleep     in its futex wait: the value ends at 0;
 *   waketake   in the instant after a release woke it, before it took the
 *              unit (sometimes the leader takes the unit in between): the
 *              dead never took it, so the unit stays free and the value
 *              ends at 1 (0 if the leader took it);
 *   stepped    0-6000 instructions into its acquire, racing a woken
 *              survivor for a unit: the value ends at 0 or 1.
 *
 * cond-kill: 2-3 waiters in mpk_cond_wait_for(has a ticket). One is killed
 *   asleep     then notify(survivors) with a ticket each: dead sleepers
 *              are skipped, every survivor gets one within 1 s;
 *   waketake   after notify(1) or notify_all woke it, before it took the
 *              lock back (the leader may hold the lock through the kill):
 *              after notify_all the others wake anyway; after notify(1)
 *              the dead used up the share (documented), and a second
 *              notify must reach the survivors;
 *   holder     not a waiter: a process dies holding the Condition's lock;
 *              either the leader's next acquire or (their timeouts
 *              expired) one waiter's re-acquire reports MPK_EOWNERDEAD,
 *              exactly once.
 */
#include "chaos.h"
#include "test-sync-util.h"

enum { MAXW = 3 };
typedef enum { V_ASLEEP, V_WAKETAKE, V_STEPPED, V_HOLDER } victim_mode;
static const char *const vmode_name[] = {"asleep", "waketake", "stepped",
                                         "holder"};

typedef struct {
  mpk_sem_t *s;
  mpk_cond_t *c;
  mpk_lock_t *own; /* a Condition's caller-made lock, or NULL */
  double timeout;
  victim_mode mode;
  int victim;
  int tickets; /* guarded by c's lock */
  int rc[MAXW], timeouts[MAXW];
  double got_at[MAXW];
  int tell_fd;
} sc_world;

typedef struct {
  sc_world *w;
  int me;
} sc_job;

static pid_t start(int (*fn)(void *), sc_job *j, int traced) {
  char role[24];
  snprintf(role, sizeof role, "sleeper %d", j->me);
  return traced ? ch_fork_traced(fn, j, role) : ch_fork(fn, j, role);
}

/* The survivors' lateness: each must have returned within 1 s of `since`. */
static void punctual(sc_world *w, int n, double since, const char *call) {
  for (int i = 0; i < n; i++) {
    if (i == w->victim)
      continue;
    double late = w->got_at[i] - since;
    if (late > 1.0)
      ch_stall("sleeper %d: %s returned %.2f s after it could (bound 1 s; "
               "%d timeouts before)",
               i, call, late, w->timeouts[i]);
  }
}

/* Fork the n sleepers (fn), wait until all sleep in a futex (on a word in
   [on, on + on_size) when on is not NULL: a Condition's, not its Lock's,
   on which a waiter also sleeps while the others contend for it), kill
   the victim. */
static void all_asleep_kill(int (*fn)(void *), sc_world *w, int n, sc_job *jobs,
                            pid_t *p, const void *on, size_t on_size) {
  for (int i = 0; i < n; i++)
    p[i] = start(fn, &jobs[i], 0);
  for (int i = 0; i < n; i++)
    await_futex_sleep_on(p[i], p[i], on, on_size);
  kill_child(p[w->victim]);
}

static void wait_survivors(const sc_world *w, int n, const pid_t *p) {
  for (int i = 0; i < n; i++)
    if (i != w->victim)
      check_wait_ok(p[i], CH_HANG);
}

typedef void (*mode_fn)(sc_world *w, int n, sc_job *jobs);

/* The n sleepers' jobs, then the victim mode's run. */
static void run_mode(sc_world *w, int n, const mode_fn *by_mode) {
  sc_job jobs[MAXW];
  for (int i = 0; i < n; i++)
    jobs[i] = (sc_job){w, i};
  by_mode[w->mode](w, n, jobs);
}

/* Follow the traced sleepers to their end; fail on a lost wake-up. */
static void finish_traced(ch_tracees *t, double since, const char *call) {
  int stuck = ch_tracees_finish(t, since + CH_HANG);
  CHECK_MSG(stuck == 0,
            "lost wake-up: %d sleeper(s) still in %s %.0f s after they "
            "could go on",
            stuck, call, CH_HANG);
  for (int i = 0; i < t->n; i++)
    CHECK_MSG(t->status[i] == SIGKILL ||
                  (WIFEXITED(t->status[i]) && WEXITSTATUS(t->status[i]) == 0),
              "sleeper %d ended with status 0x%x", i, t->status[i]);
}

/* ---- Semaphore ----------------------------------------------------------- */

static int sem_sleeper(void *arg) {
  sc_job *j = arg;
  sc_world *w = j->w;
  if (j->me == w->victim && w->mode == V_STEPPED)
    ch_stop_here();
  double lim = w->timeout < 0 ? CH_HANG : CH_LIMIT(w->timeout),
         t0 = check_now();
  int rc;
  for (;;) {
    CH_DO(rc, lim, mpk_sem_acquire(w->s, w->timeout));
    if (rc != MPK_ETIMEDOUT || check_now() - t0 > CH_HANG)
      break;
    w->timeouts[j->me]++; /* a stall: reported with the lateness */
  }
  w->rc[j->me] = rc;
  w->got_at[j->me] = check_now();
  return rc == MPK_OK ? 0 : 1;
}

static void release_units(sc_world *w, int k) {
  for (int i = 0; i < k; i++)
    CHECK_OK(mpk_sem_release(w->s));
}

static void sem_asleep(sc_world *w, int n, sc_job *jobs) {
  pid_t p[MAXW];
  all_asleep_kill(sem_sleeper, w, n, jobs, p, NULL, 0);
  CHECK_EQ(mpk_sem_value(w->s), 0); /* the dead took nothing */
  release_units(w, n - 1);
  double since = check_now();
  wait_survivors(w, n, p);
  punctual(w, n, since, "mpk_sem_acquire");
  CHECK_EQ(mpk_sem_value(w->s), 0);
}

static void sem_waketake(sc_world *w, int n, sc_job *jobs) {
  ch_tracees t = {0};
  for (int i = 0; i < n; i++)
    ch_tracees_add(&t, start(sem_sleeper, &jobs[i], 1));
  ch_tracees_asleep(&t, CH_HANG);
  CHECK_OK(mpk_sem_release(w->s));
  w->victim = ch_tracees_woken(&t, CH_HANG);
  CHECK_MSG(w->victim >= 0, "the release woke no sleeper within %.0f s",
            CH_HANG);
  int third = ch_chance(0.5);
  ch_note("woken %d%s", w->victim, third ? ", the leader takes the unit" : "");
  if (third)
    CHECK_OK(mpk_sem_acquire(w->s, 0)); /* the unit is still free */
  ch_tracees_kill(&t, w->victim);
  CHECK_MSG(mpk_sem_value(w->s) == !third,
            "value %d after the woken sleeper died before taking its unit",
            mpk_sem_value(w->s));
  release_units(w, n - 1);
  double since = check_now();
  finish_traced(&t, since, "mpk_sem_acquire");
  punctual(w, n, since, "mpk_sem_acquire");
  CHECK_EQ(mpk_sem_value(w->s), !third);
}

static void sem_stepped(sc_world *w, int n, sc_job *jobs) {
  pid_t p[MAXW];
  for (int i = 0; i < n; i++) {
    p[i] = start(sem_sleeper, &jobs[i], i == w->victim);
    if (i == w->victim)
      ch_trace_cont(p[i]);
  }
  for (int i = 0; i < n; i++)
    if (i != w->victim)
      await_futex_sleep(p[i], p[i]);
  CHECK_MSG(ch_await_stop(p[w->victim], CH_HANG), "the victim never stopped");
  CHECK_OK(mpk_sem_release(w->s)); /* a survivor wakes for it, racing */
  unsigned steps = (unsigned)ch_pick(6001);
  ch_note("steps=%u", steps);
  ch_step_kill(p[w->victim], steps);
  release_units(w, n - 1);
  double since = check_now();
  wait_survivors(w, n, p);
  punctual(w, n, since, "mpk_sem_acquire");
  int v = mpk_sem_value(w->s);
  CHECK_MSG(v == 0 || v == 1,
            "value %d: n units, %d survivors, at most one "
            "taken by the victim",
            v, n - 1);
}

void ch_sem_kill(void) {
  sc_world *w = shared(sizeof *w);
  int n = (int)ch_range(2, MAXW), bounded = ch_chance(0.3);
  /* bounded: room for n units, all taken by the leader first */
  CHECK_OK(mpk_sem_new(&w->s, bounded ? (unsigned)n : 0, bounded));
  for (int i = 0; bounded && i < n; i++)
    CHECK_OK(mpk_sem_acquire(w->s, 0));
  w->mode = (victim_mode)ch_pick(3);
  w->victim = (int)ch_pick((unsigned long)n);
  w->timeout = ch_chance(0.5) ? MPK_FOREVER : 2.0;
  ch_note("%d sleepers%s, timeout %g, victim %d %s", n,
          bounded ? " (bounded)" : "", w->timeout, w->victim,
          vmode_name[w->mode]);
  static const mode_fn by_mode[] = {sem_asleep, sem_waketake, sem_stepped};
  run_mode(w, n, by_mode);
  mpk_sem_free(w->s);
  mpk_shm_free(w);
}

/* ---- Condition ----------------------------------------------------------- */

static int has_ticket(void *arg) {
  return ((sc_world *)arg)->tickets > 0;
}

static int cond_waiter(void *arg) {
  sc_job *j = arg;
  sc_world *w = j->w;
  int rc;
  CH_DO(rc, CH_HANG, mpk_cond_acquire(w->c, MPK_FOREVER));
  CHECK_OK(rc);
  double lim = w->timeout < 0 ? CH_HANG : CH_LIMIT(w->timeout),
         t0 = check_now();
  for (;;) {
    CH_DO(rc, lim, mpk_cond_wait_for(w->c, has_ticket, w, w->timeout));
    /* holder mode: the timeout and its re-acquire are the point */
    if (rc != MPK_ETIMEDOUT || w->mode == V_HOLDER ||
        check_now() - t0 > CH_HANG)
      break;
    w->timeouts[j->me]++; /* a stall: reported with the lateness */
  }
  w->rc[j->me] = rc;
  w->got_at[j->me] = check_now();
  CHECK_EQ(mpk_lock_locked(mpk_cond_lock(w->c)), 1); /* held on return */
  if (rc == MPK_OK)
    w->tickets--;
  CHECK_OK(mpk_cond_release(w->c));
  return rc == MPK_OK || w->mode == V_HOLDER ? 0 : 1;
}

/* Give `tickets` tickets and notify n (n < 0: all). */
static void hand_out(sc_world *w, int tickets, int n, int keep_lock) {
  CHECK_OK(mpk_cond_acquire(w->c, 1.0));
  w->tickets += tickets;
  CHECK_OK(n < 0 ? mpk_cond_notify_all(w->c) : mpk_cond_notify(w->c, n));
  if (!keep_lock)
    CHECK_OK(mpk_cond_release(w->c));
}

static void cond_asleep(sc_world *w, int n, sc_job *jobs) {
  pid_t p[MAXW];
  all_asleep_kill(cond_waiter, w, n, jobs, p, w->c, COND_FUTEX_SPAN);
  hand_out(w, n - 1, ch_chance(0.5) ? n - 1 : -1, 0);
  double since = check_now();
  wait_survivors(w, n, p);
  punctual(w, n, since, "mpk_cond_wait_for");
  CHECK_EQ(w->tickets, 0);
}

static void cond_waketake(sc_world *w, int n, sc_job *jobs) {
  ch_tracees t = {0};
  for (int i = 0; i < n; i++)
    ch_tracees_add(&t, start(cond_waiter, &jobs[i], 1));
  ch_tracees_asleep(&t, CH_HANG);
  int all = ch_chance(0.5), keep = ch_chance(0.5);
  hand_out(w, n - 1, all ? -1 : 1, keep);
  w->victim = ch_tracees_woken(&t, CH_HANG);
  CHECK_MSG(w->victim >= 0, "the notify woke no waiter within %.0f s", CH_HANG);
  ch_note("notify %s, woken %d%s", all ? "all" : "1", w->victim,
          keep ? ", lock held through the kill" : "");
  ch_tracees_kill(&t, w->victim);
  if (keep)
    CHECK_OK(mpk_cond_release(w->c));
  if (!all) /* the dead used up notify(1): notify the survivors again */
    hand_out(w, 0, n - 1, 0);
  double since = check_now();
  finish_traced(&t, since, "mpk_cond_wait_for");
  punctual(w, n, since, "mpk_cond_wait_for");
  CHECK_EQ(w->tickets, 0);
}

static int grab_and_hold(void *arg) {
  sc_world *w = arg;
  int rc;
  CH_DO(rc, CH_HANG, mpk_cond_acquire(w->c, MPK_FOREVER));
  CHECK_OK(rc);
  ch_tell(w->tell_fd, getpid());
  for (;;)
    pause();
  return 0;
}

static void cond_holder(sc_world *w, int n, sc_job *jobs) {
  int fds[2];
  ch_pipe(fds);
  w->tell_fd = fds[1];
  w->victim = -1; /* not a waiter */
  int leader_takes = ch_chance(0.5);
  w->timeout = leader_takes ? MPK_FOREVER : 0.3;
  ch_note("%s", leader_takes ? "the leader recovers the lock"
                             : "the waiters' timeouts recover it");
  pid_t p[MAXW];
  for (int i = 0; i < n; i++)
    p[i] = start(cond_waiter, &jobs[i], 0);
  for (int i = 0; i < n; i++) /* in the wait, not in cond_acquire */
    await_futex_sleep_on(p[i], p[i], w->c, COND_FUTEX_SPAN);
  pid_t g = ch_fork(grab_and_hold, w, "lock holder");
  long told;
  CHECK_MSG(ch_hear(fds[0], &told, CH_HANG), "the holder never told");
  kill_child(g);
  int ownerdead = 0;
  if (leader_takes) {
    int rc = mpk_cond_acquire(w->c, 1.0);
    CHECK_RC(rc, MPK_EOWNERDEAD);
    ownerdead++;
    CHECK_OK(mpk_cond_release(w->c));
    hand_out(w, n, -1, 0);
  }
  double since = check_now();
  for (int i = 0; i < n; i++)
    check_wait_ok(p[i], CH_HANG);
  for (int i = 0; i < n; i++) {
    ownerdead += w->rc[i] == MPK_EOWNERDEAD;
    if (leader_takes)
      CHECK_MSG(w->rc[i] == MPK_OK, "waiter %d: %s after the notify", i,
                mpk_err_name(w->rc[i]));
    else
      CHECK_MSG(w->rc[i] == MPK_EOWNERDEAD || w->rc[i] == MPK_ETIMEDOUT,
                "waiter %d: %s after its timeout", i, mpk_err_name(w->rc[i]));
  }
  CHECK_MSG(ownerdead == 1, "MPK_EOWNERDEAD %d times for one death", ownerdead);
  if (leader_takes)
    punctual(w, n, since, "mpk_cond_wait_for");
  close(fds[0]);
  close(fds[1]);
}

void ch_cond_kill(void) {
  sc_world *w = shared(sizeof *w);
  if (ch_chance(0.5))
    CHECK_OK(mpk_lock_new(&w->own));
  CHECK_OK(mpk_cond_new(&w->c, w->own));
  int n = (int)ch_range(2, MAXW);
  w->mode = (victim_mode)CH_ONE_OF(V_ASLEEP, V_WAKETAKE, V_HOLDER);
  w->victim = (int)ch_pick((unsigned long)n);
  w->timeout = ch_chance(0.5) ? MPK_FOREVER : 2.0;
  ch_note("%s, %d waiters, %s", w->own ? "a caller's Lock" : "its own lock", n,
          vmode_name[w->mode]);
  if (w->mode != V_HOLDER)
    ch_note("timeout %g", w->timeout);
  static const mode_fn by_mode[] = {cond_asleep, cond_waketake, NULL,
                                    cond_holder};
  run_mode(w, n, by_mode);
  CHECK_OK(mpk_cond_acquire(w->c, 1.0)); /* nobody holds it now */
  CHECK_OK(mpk_cond_release(w->c));
  mpk_cond_free(w->c);
  mpk_lock_free(w->own);
  mpk_shm_free(w);
}
