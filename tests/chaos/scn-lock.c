/* scn-lock.c - robust locks (Lock, RLock, a locked Array's lock) with
 * holders and waiters killed.
 *
 * lock-kill: 2-4 participants take the lock in rounds and make a two-step
 * update of guarded data (value++, then shadow = value) that a kill can
 * tear. One of them is killed:
 *   hold     after the first step of a random round, having told the
 *            leader through a pipe: the next taker must get
 *            MPK_EOWNERDEAD, exactly once;
 *   asleep   while it sleeps in the acquire (the leader holds the lock):
 *            nobody gets MPK_EOWNERDEAD;
 *   stepped  it stops itself before a random round and the leader, its
 *            tracer, single-steps it 0-6000 instructions (into the acquire,
 *            the update or the release) and kills it: MPK_EOWNERDEAD at
 *            most once, and exactly once if it died holding the lock.
 * Everyone else must finish every round: each acquire succeeds within 1 s
 * (else a stall), never two holders at once, torn data is always reported
 * with MPK_EOWNERDEAD, and the committed count (shadow) is the rounds the
 * survivors finished plus what the victim committed (0 or 1 in flight).
 *
 * lock-waketake: 2-3 waiters sleep in the acquire, followed syscall by
 * syscall by the leader, which holds the lock. It releases; the waiter the
 * release woke is stopped where its futex wait returns, before it can take
 * the lock, and killed there; sometimes the leader takes and releases the
 * lock in between (as a spinning thread would). The others must get the
 * lock within 1 s of it being free (a stall past that), and must get it at
 * all: one still asleep CH_HANG later is a lost wake-up.
 */
#include "chaos.h"
#include "test-sync-util.h"

typedef enum { OBJ_LOCK, OBJ_RLOCK, OBJ_ARRAY } obj_kind;
static const char *const obj_call[] = {"mpk_lock_acquire", "mpk_rlock_acquire",
                                       "mpk_array_lock"};
typedef enum { M_HOLD, M_ASLEEP, M_STEPPED } kill_mode;
static const char *const mode_name[] = {"hold", "asleep", "stepped"};

enum { MAXP = 4 };

typedef struct {
  obj_kind kind;
  mpk_lock_t *l;
  mpk_rlock_t *r;
  mpk_array_t *a;
  double timeout;     /* Lock / RLock acquires; the Array lock has none */
  long value, shadow; /* guarded: equal between critical sections */
  _Atomic int inside;
  _Atomic int ownerdead;
  _Atomic int holding[MAXP];
  _Atomic long done[MAXP]; /* rounds finished (released) */
  int rc[MAXP];
  int timeouts[MAXP];
  double got_at[MAXP];
  kill_mode mode;
  int rounds, victim, at_round;
  int tell_fd;
} lk_world;

typedef struct {
  lk_world *w;
  int me;
} lk_job;

static void lk_new(lk_world *w) {
  w->kind = (obj_kind)ch_pick(3);
  w->timeout = w->kind == OBJ_ARRAY || ch_chance(0.5) ? MPK_FOREVER : 2.0;
  if (w->kind == OBJ_LOCK)
    CHECK_OK(mpk_lock_new(&w->l));
  else if (w->kind == OBJ_RLOCK)
    CHECK_OK(mpk_rlock_new(&w->r));
  else
    CHECK_OK(mpk_array_new(&w->a, MPK_LONG, 4, 1));
  ch_note("%s timeout=%g", obj_call[w->kind], w->timeout);
}

static void lk_free(lk_world *w) {
  mpk_lock_free(w->l);
  mpk_rlock_free(w->r);
  mpk_array_free(w->a);
}

static int lk_acquire(lk_world *w) {
  double lim = w->timeout < 0 ? CH_HANG : CH_LIMIT(w->timeout);
  int rc;
  if (w->kind == OBJ_LOCK)
    CH_DO(rc, lim, mpk_lock_acquire(w->l, w->timeout));
  else if (w->kind == OBJ_RLOCK)
    CH_DO(rc, lim, mpk_rlock_acquire(w->r, w->timeout));
  else
    CH_DO(rc, CH_HANG, mpk_array_lock(w->a));
  return rc;
}

static int lk_release(lk_world *w) {
  if (w->kind == OBJ_LOCK)
    return mpk_lock_release(w->l);
  if (w->kind == OBJ_RLOCK)
    return mpk_rlock_release(w->r);
  return mpk_array_unlock(w->a);
}

/* Take the lock (retrying after a timeout, which is a stall: it is held
   for microseconds at a time). Returns MPK_OK or MPK_EOWNERDEAD. */
static int lk_take(lk_world *w) {
  double t0 = check_now();
  int rc;
  while ((rc = lk_acquire(w)) == MPK_ETIMEDOUT) {
    if (!ch_paused_since(t0))
      ch_stall("%s timed out (%.1f s) on a lock held for microseconds",
               obj_call[w->kind], w->timeout);
    CHECK_MSG(check_now() - t0 < CH_HANG, "no %s within %.0f s",
              obj_call[w->kind], CH_HANG);
  }
  CHECK_MSG(rc == MPK_OK || rc == MPK_EOWNERDEAD, "%s returned %s",
            obj_call[w->kind], mpk_err_name(rc));
  double took = check_now() - t0;
  if (took > 1.0 && !ch_paused_since(t0)) /* not waiting on a stepped one */
    ch_stall("%s took %.2f s (bound 1 s)", obj_call[w->kind], took);
  if (w->kind == OBJ_RLOCK) /* the owner takes it again at once */
    CHECK_OK(mpk_rlock_acquire(w->r, 0));
  return rc;
}

static void lk_give(lk_world *w) {
  if (w->kind == OBJ_RLOCK)
    CHECK_OK(mpk_rlock_release(w->r));
  CHECK_OK(lk_release(w));
}

/* The guarded section's entry checks; me < 0 is the leader. */
static void lk_enter(lk_world *w, int me, int rc) {
  if (me >= 0)
    atomic_store(&w->holding[me], 1);
  if (rc == MPK_EOWNERDEAD) {
    atomic_fetch_add(&w->ownerdead, 1);
    w->value = w->shadow; /* roll back a torn update */
    atomic_store(&w->inside, 0);
  }
  CHECK_MSG(w->value == w->shadow,
            "torn update (%ld, %ld) handed over without MPK_EOWNERDEAD",
            w->value, w->shadow);
  CHECK_MSG(atomic_exchange(&w->inside, 1) == 0, "two holders at once");
}

static void lk_leave(lk_world *w, int me) {
  atomic_store(&w->inside, 0);
  if (me >= 0)
    atomic_store(&w->holding[me], 0);
  lk_give(w);
}

static int participant(void *arg) {
  lk_job *j = arg;
  lk_world *w = j->w;
  int victim = j->me == w->victim;
  for (int round = 0; round < w->rounds; round++) {
    if (victim && round == w->at_round && w->mode == M_STEPPED)
      ch_stop_here(); /* the leader steps us into what follows */
    lk_enter(w, j->me, lk_take(w));
    w->value++;
    if (victim && round == w->at_round && w->mode == M_HOLD) {
      ch_tell(w->tell_fd, getpid());
      for (;;)
        pause();
    }
    for (volatile int spin = 0; spin < (round * 37) % 500; spin++) {
    }
    w->shadow = w->value;
    lk_leave(w, j->me);
    atomic_fetch_add(&w->done[j->me], 1);
  }
  return 0;
}

/* Kill the victim as its mode says; p[] are the participants. */
static void kill_victim(lk_world *w, pid_t *p, int fd) {
  pid_t v = p[w->victim];
  long told;
  switch (w->mode) {
  case M_HOLD:
    CHECK_MSG(ch_hear(fd, &told, CH_HANG), "the holder never told");
    CHECK_EQ(told, v);
    kill_child(v);
    break;
  case M_ASLEEP:
    await_futex_sleep(v, v);
    kill_child(v);
    lk_leave(w, -1); /* the leader held it from the start */
    break;
  case M_STEPPED: {
    CHECK_MSG(ch_await_stop(v, CH_HANG), "the victim never stopped");
    unsigned steps = (unsigned)ch_pick(6001);
    ch_note("steps=%u", steps);
    ch_step_kill(v, steps);
    break;
  }
  }
}

void ch_lock_kill(void) {
  lk_world *w = shared(sizeof *w);
  lk_new(w);
  int np = (int)ch_range(2, MAXP), fds[2];
  ch_pipe(fds);
  w->tell_fd = fds[1];
  w->mode = (kill_mode)ch_pick(3);
  w->rounds = (int)ch_range(20, 300);
  w->victim = (int)ch_pick((unsigned long)np);
  w->at_round = (int)ch_pick((unsigned long)w->rounds);
  ch_note("%d participants, %d rounds, victim %d killed %s in round %d", np,
          w->rounds, w->victim, mode_name[w->mode], w->at_round);
  if (w->mode == M_ASLEEP) /* the victim will sleep in its first acquire */
    lk_enter(w, -1, lk_take(w));
  pid_t p[MAXP] = {0};
  lk_job jobs[MAXP];
  for (int i = 0; i < np; i++) {
    jobs[i] = (lk_job){w, i};
    char role[24];
    snprintf(role, sizeof role, "participant %d", i);
    if (i == w->victim && w->mode == M_STEPPED) {
      p[i] = ch_fork_traced(participant, &jobs[i], role);
      ch_trace_cont(p[i]);
    } else {
      p[i] = ch_fork(participant, &jobs[i], role);
    }
  }
  kill_victim(w, p, fds[0]);
  long survivors = 0;
  for (int i = 0; i < np; i++)
    if (i != w->victim) {
      check_wait_ok(p[i], 60);
      CHECK_EQ(atomic_load(&w->done[i]), w->rounds);
      survivors += w->rounds;
    }
  lk_enter(w, -1, lk_take(w)); /* the last taker may be the one told */
  long vdone = atomic_load(&w->done[w->victim]);
  long extra = w->shadow - survivors - vdone;
  int od = atomic_load(&w->ownerdead);
  ch_note("EOWNERDEAD=%d", od);
  if (w->mode == M_STEPPED) {
    CHECK_MSG(extra == 0 || extra == 1,
              "committed %ld, survivors %ld + victim %ld (lost or doubled)",
              w->shadow, survivors, vdone);
    CHECK_MSG(od <= 1, "MPK_EOWNERDEAD %d times for one death", od);
    if (atomic_load(&w->holding[w->victim]))
      CHECK_MSG(od == 1, "the victim died holding it: no MPK_EOWNERDEAD");
  } else {
    CHECK_MSG(extra == 0, "committed %ld, survivors %ld + victim %ld",
              w->shadow, survivors, vdone);
    CHECK_MSG(od == (w->mode == M_HOLD), "MPK_EOWNERDEAD %d times (%s)", od,
              mode_name[w->mode]);
  }
  lk_leave(w, -1);
  lk_free(w);
  close(fds[0]);
  close(fds[1]);
  mpk_shm_free(w);
}

/* ---- between wake and take ------------------------------------------------
 */

static int waketake_waiter(void *arg) {
  lk_job *j = arg;
  lk_world *w = j->w;
  double t0 = check_now();
  /* A timeout (the lock free all along) is a stall, reported with the
     lateness by the leader; then try again. */
  while ((w->rc[j->me] = lk_acquire(w)) == MPK_ETIMEDOUT &&
         check_now() - t0 < CH_HANG)
    w->timeouts[j->me]++;
  w->got_at[j->me] = check_now();
  if (w->rc[j->me] != MPK_OK)
    return 1;
  if (w->kind == OBJ_RLOCK)
    CHECK_OK(mpk_rlock_acquire(w->r, 0));
  CHECK_MSG(atomic_exchange(&w->inside, 1) == 0, "two holders at once");
  atomic_store(&w->inside, 0);
  lk_give(w);
  return 0;
}

void ch_lock_waketake(void) {
  lk_world *w = shared(sizeof *w);
  lk_new(w);
  int n = (int)ch_range(2, 3), third = ch_chance(0.5);
  ch_note("%d waiters%s", n, third ? ", the leader takes it in between" : "");
  lk_enter(w, -1, lk_take(w));
  ch_tracees t = {0};
  lk_job jobs[MAXP];
  for (int i = 0; i < n; i++) {
    jobs[i] = (lk_job){w, i};
    char role[24];
    snprintf(role, sizeof role, "waiter %d", i);
    ch_tracees_add(&t, ch_fork_traced(waketake_waiter, &jobs[i], role));
  }
  ch_tracees_asleep(&t, CH_HANG);
  lk_leave(w, -1);
  int v = ch_tracees_woken(&t, CH_HANG);
  CHECK_MSG(v >= 0, "the release woke no waiter within %.0f s", CH_HANG);
  if (third) {
    lk_enter(w, -1, lk_take(w));
    ch_tracees_kill(&t, v);
    lk_leave(w, -1);
  } else {
    ch_tracees_kill(&t, v);
  }
  double t_free = check_now();
  int stuck = ch_tracees_finish(&t, t_free + CH_HANG);
  CHECK_MSG(stuck == 0,
            "lost wake-up: %d waiter(s) still asleep in %s %.0f s after the "
            "lock became free (the woken waiter was killed before taking "
            "it%s)",
            stuck, obj_call[w->kind], CH_HANG,
            third ? "; the leader took it between" : "");
  for (int i = 0; i < n; i++) {
    if (i == v)
      continue;
    CHECK_MSG(WIFEXITED(t.status[i]) && WEXITSTATUS(t.status[i]) == 0,
              "waiter %d ended with status 0x%x (%s returned %s)", i,
              t.status[i], obj_call[w->kind], mpk_err_name(w->rc[i]));
    double late = w->got_at[i] - t_free;
    if (late > 1.0)
      ch_stall("waiter %d: %s took the lock %.2f s after it became free "
               "(bound 1 s; %d timeouts before)",
               i, obj_call[w->kind], late, w->timeouts[i]);
  }
  CHECK_RC(lk_take(w), MPK_OK); /* nobody died holding it */
  lk_leave(w, -1);
  lk_free(w);
  mpk_shm_free(w);
}
