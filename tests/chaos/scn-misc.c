/* scn-misc.c - the shared dict with writers killed mid-call, and the death
 * of a pool's owner.
 *
 * dict-kill: a victim writes numbered entries ("v-<seq>", a sequence-
 * numbered value) and deletes some, logging each call's start and return;
 * a survivor works on its own keys against a model meanwhile. The victim
 * is killed
 *   stepped  0-8000 instructions into a random call;
 *   told     0-2 ms after telling the leader it starts a random call;
 *   foreach  inside a foreach callback, i.e. holding the dict's mutex;
 *   blocked  asleep on the mutex, which another process holds (in a
 *            foreach callback) until the victim is dead.
 * Afterwards every entry whose set returned (and whose delete did not
 * start) is there, whole; entries deleted are gone; the one call in flight
 * is either wholly applied or not at all; mpk_dict_len agrees with foreach;
 * the survivor's keys match its model exactly; no call took over 1 s
 * except while the harness held the mutex.
 *
 * parent-death: an owner process makes a pool (maybe a nested pool inside a
 * worker, maybe an mpk_process child), then dies: SIGKILLed inside a pool
 * call or idle, _exit() or exit() with an async call in flight, or abort().
 * Every process of the iteration but the leader must be gone within 1 s (a
 * stall past that; a failure if any is alive CH_HANG later).
 */
#include "chaos.h"
#include "mpk/dict.h"
#include "mpk/pool.h"
#include "mpk/process.h"
#include "pool-util.h"
#include "process-util.h"
#include "test-sync-util.h"

/* ---- dict ---------------------------------------------------------------- */

typedef enum { DK_STEPPED, DK_TOLD, DK_FOREACH, DK_BLOCKED } dkill;
static const char *const dkill_name[] = {"stepped", "told", "foreach",
                                         "blocked"};

enum { DMAX = 400, SKEYS = 64 };

typedef struct {
  mpk_dict_t *d;
  dkill how;
  int ops, at, tell_fd, hold_fd;
  _Atomic uint8_t set_state[DMAX]; /* 1 set started, 2 returned OK */
  _Atomic uint8_t del_state[DMAX]; /* 1 del started, 2 returned OK */
  _Atomic int stop;
} d_world;

static size_t v_len(int seq) {
  return sizeof(ch_msg) + (size_t)(seq * 53) % 300;
}

static void timed(int rc, int want, double t0, const char *call) {
  CHECK_MSG(rc == want, "%s returned %s, expected %s", call, mpk_err_name(rc),
            mpk_err_name(want));
  double took = check_now() - t0;
  if (took > 1.0 && !ch_paused_since(t0))
    ch_stall("%s took %.2f s (bound 1 s)", call, took);
}

static int die_inside(const char *k, const void *v, size_t n, void *arg) {
  (void)k, (void)v, (void)n;
  d_world *w = arg;
  ch_tell(w->tell_fd, getpid());
  for (;;)
    pause();
  return 0;
}

static int hold_inside(const char *k, const void *v, size_t n, void *arg) {
  (void)k, (void)v, (void)n;
  d_world *w = arg;
  ch_tell(w->tell_fd, getpid());
  long go;
  CHECK(ch_hear(w->hold_fd, &go, CH_HANG));
  return 1; /* one entry is enough */
}

static int d_blocker(void *arg) {
  d_world *w = arg;
  int rc;
  CH_DO(rc, CH_HANG, mpk_dict_foreach(w->d, hold_inside, w));
  CHECK_RC(rc, 1);
  return 0;
}

static int d_victim(void *arg) {
  d_world *w = arg;
  char key[32];
  unsigned char val[400];
  for (int seq = 0; seq < w->ops; seq++) {
    if (seq == w->at && w->how == DK_STEPPED)
      ch_stop_here();
    if (seq == w->at && w->how == DK_TOLD)
      ch_tell(w->tell_fd, getpid());
    if (seq == w->at && w->how == DK_FOREACH)
      mpk_dict_foreach(w->d, die_inside, w);
    snprintf(key, sizeof key, "v-%d", seq);
    ch_msg_make(val, 1, (uint32_t)seq, v_len(seq));
    atomic_store(&w->set_state[seq], 1);
    double t0 = check_now();
    int rc;
    CH_DO(rc, CH_HANG, mpk_dict_set(w->d, key, val, v_len(seq)));
    timed(rc, MPK_OK, t0, "mpk_dict_set");
    atomic_store(&w->set_state[seq], 2);
    if (seq % 3 == 2) {
      snprintf(key, sizeof key, "v-%d", seq - 1);
      atomic_store(&w->del_state[seq - 1], 1);
      t0 = check_now();
      CH_DO(rc, CH_HANG, mpk_dict_del(w->d, key));
      timed(rc, MPK_OK, t0, "mpk_dict_del");
      atomic_store(&w->del_state[seq - 1], 2);
    }
  }
  return 0;
}

/* The survivor: random set / del / get of its own keys, checked against a
   model (the version it last wrote, -1 for absent). */
static int d_survivor(void *arg) {
  d_world *w = arg;
  int model[SKEYS];
  for (int i = 0; i < SKEYS; i++)
    model[i] = -1;
  char key[32];
  unsigned char val[400];
  unsigned seed = 12345;
  for (long n = 0; !atomic_load(&w->stop) || n < 300; n++) {
    int k = (int)(rand_r(&seed) % SKEYS), op = (int)(rand_r(&seed) % 3), rc;
    snprintf(key, sizeof key, "s-%d", k);
    double t0 = check_now();
    if (op == 0) {
      model[k]++;
      if (model[k] == 0)
        model[k] = 1;
      ch_msg_make(val, 2, (uint32_t)model[k], v_len(model[k]));
      CH_DO(rc, CH_HANG, mpk_dict_set(w->d, key, val, v_len(model[k])));
      timed(rc, MPK_OK, t0, "mpk_dict_set");
    } else if (op == 1) {
      CH_DO(rc, CH_HANG, mpk_dict_del(w->d, key));
      timed(rc, model[k] < 0 ? MPK_EEMPTY : MPK_OK, t0, "mpk_dict_del");
      model[k] = -1;
    } else {
      size_t len = 0;
      CH_DO(rc, CH_HANG, mpk_dict_get(w->d, key, val, sizeof val, &len));
      timed(rc, model[k] < 0 ? MPK_EEMPTY : MPK_OK, t0, "mpk_dict_get");
      if (rc == MPK_OK)
        CHECK_EQ(ch_msg_check(val, len).seq, model[k]);
    }
  }
  return 0;
}

typedef struct {
  long entries;
} d_count;

static int count_entry(const char *k, const void *v, size_t n, void *arg) {
  ch_msg h = ch_msg_check(v, n);
  CHECK_MSG(h.who == (k[0] == 'v' ? 1u : 2u), "entry %s holds a value of %u", k,
            h.who);
  ((d_count *)arg)->entries++;
  return 0;
}

/* The victim's entries against its log. */
static void d_ledger(d_world *w) {
  char key[32];
  unsigned char val[400];
  for (int seq = 0; seq < w->ops; seq++) {
    snprintf(key, sizeof key, "v-%d", seq);
    size_t len = 0;
    int rc = mpk_dict_get(w->d, key, val, sizeof val, &len);
    CHECK_MSG(rc == MPK_OK || rc == MPK_EEMPTY, "get %s: %s", key,
              mpk_err_name(rc));
    if (rc == MPK_OK)
      CHECK_EQ(ch_msg_check(val, len).seq, seq);
    int set = atomic_load(&w->set_state[seq]);
    int del = atomic_load(&w->del_state[seq]);
    if (set == 0)
      CHECK_MSG(rc == MPK_EEMPTY, "%s there, never set", key);
    else if (set == 2 && del == 0)
      CHECK_MSG(rc == MPK_OK, "%s (set returned MPK_OK) is lost", key);
    else if (del == 2)
      CHECK_MSG(rc == MPK_EEMPTY, "%s (deleted) is back", key);
  }
}

static void d_kill(d_world *w, pid_t v, int tell) {
  long told;
  if (w->how == DK_STEPPED) {
    CHECK_MSG(ch_await_stop(v, CH_HANG), "the victim never stopped");
    unsigned steps = (unsigned)ch_pick(8001);
    ch_note("steps=%u", steps);
    ch_step_kill(v, steps);
    return;
  }
  if (w->how == DK_BLOCKED) {
    await_futex_sleep(v, v); /* the blocker holds the mutex */
    kill_child(v);
    return;
  }
  CHECK_MSG(ch_hear(tell, &told, CH_HANG), "the victim never told");
  CHECK_EQ(told, v);
  if (w->how == DK_FOREACH) {
    ch_pause(1); /* the survivor waits for the harness meanwhile */
    kill_child(v);
    ch_pause(0);
  } else {
    ch_jitter(0.002);
    ch_kill_reap(v);
  }
}

void ch_dict_kill(void) {
  d_world *w = shared(sizeof *w);
  CHECK_OK(mpk_dict_new(&w->d));
  w->how = (dkill)ch_pick(4);
  w->ops = (int)ch_range(30, DMAX);
  w->at = w->how == DK_BLOCKED ? 0 : (int)ch_pick((unsigned long)w->ops);
  ch_note("%d ops, killed %s at %d", w->ops, dkill_name[w->how], w->at);
  int tell[2], hold[2];
  ch_pipe(tell);
  ch_pipe(hold);
  w->tell_fd = tell[1];
  w->hold_fd = hold[0];
  unsigned char first[64]; /* foreach callbacks need an entry */
  ch_msg_make(first, 2, 0, sizeof first);
  CHECK_OK(mpk_dict_set(w->d, "seed", first, sizeof first));
  pid_t blocker = 0;
  if (w->how == DK_BLOCKED) {
    blocker = ch_fork(d_blocker, w, "blocker");
    long told;
    CHECK(ch_hear(tell[0], &told, CH_HANG));
    ch_pause(1);
  }
  pid_t s = ch_fork(d_survivor, w, "survivor");
  pid_t v;
  if (w->how == DK_STEPPED) {
    v = ch_fork_traced(d_victim, w, "victim");
    ch_trace_cont(v);
  } else {
    v = ch_fork(d_victim, w, "victim");
  }
  d_kill(w, v, tell[0]);
  if (blocker) {
    ch_tell(hold[1], 1);
    check_wait_ok(blocker, CH_HANG);
    ch_pause(0);
  }
  atomic_store(&w->stop, 1);
  check_wait_ok(s, 60);
  d_ledger(w);
  d_count c = {0};
  CHECK_OK(mpk_dict_foreach(w->d, count_entry, &c));
  CHECK_EQ(mpk_dict_len(w->d), c.entries);
  CHECK_OK(mpk_dict_set(w->d, "after", "x", 1)); /* and it works on */
  CHECK_OK(mpk_dict_del(w->d, "after"));
  mpk_dict_free(w->d);
  close(tell[0]);
  close(tell[1]);
  close(hold[0]);
  close(hold[1]);
  mpk_shm_free(w);
}

/* ---- parent death ------------------------------------------------------- */

typedef enum { PD_KILL_CALL, PD_KILL_IDLE, PD_EXIT_, PD_EXIT, PD_ABORT } pdeath;
static const char *const pdeath_name[] = {"SIGKILL in a call", "SIGKILL idle",
                                          "_exit", "exit", "abort"};

typedef struct {
  pdeath how;
  mpk_start start;
  int workers, nested, child;
  int tell_fd, go_fd; /* go: the leader has counted the processes */
} pd_plan;

static int hold_kernel(const void *in, void *out, void *ctx) {
  (void)in, (void)out;
  ch_tell(*(const int *)ctx, getpid());
  for (;;)
    pause();
  return 0;
}

static int block_task(const void *arg, void *res, void *ctx) {
  (void)arg, (void)res, (void)ctx;
  for (;;)
    pause();
  return 0;
}

static int square(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in * *(const long *)in;
  return 0;
}

/* In a worker: a pool of its own, used, then block. */
static int nested_task(const void *arg, void *res, void *ctx) {
  (void)res, (void)ctx;
  int fd = *(const int *)arg;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, NULL));
  long in[8] = {1, 2, 3, 4, 5, 6, 7, 8}, out[8];
  mpk_sched s = {MPK_SCHED_DYNAMIC, 1};
  CHECK_OK(
      mpk_pool_map(p, square, in, sizeof *in, out, sizeof *out, 8, NULL, 0, s));
  CHECK_EQ(out[7], 64);
  ch_tell(fd, getpid());
  for (;;)
    pause();
  return 0;
}

static int owner(void *arg) {
  const pd_plan *pl = arg;
  int fds[2]; /* before the pool: the workers hold it */
  ch_pipe(fds);
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = pl->workers;
  o.start = pl->start;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  mpk_async_t *a = NULL;
  long told;
  if (pl->nested) {
    CHECK_OK(mpk_pool_apply_async(p, nested_task, &fds[1], sizeof fds[1], NULL,
                                  0, NULL, NULL, &a));
    CHECK(ch_hear(fds[0], &told, CH_HANG));
  }
  if (pl->child) {
    mpk_process_t *c;
    mpk_process_opts po = {NULL, 1, NULL}; /* daemon: exit() ends it */
    CHECK_OK(mpk_process_new(&c, pu_pause_forever, NULL, 0, &po));
    CHECK_OK(mpk_process_start(c));
  }
  for (int i = 0; i < pl->workers; i++)
    pool_pid_of(p, i);
  if (!pl->nested && pl->how != PD_KILL_IDLE && pl->how != PD_KILL_CALL)
    CHECK_OK(mpk_pool_apply_async(p, block_task, NULL, 0, NULL, 0, NULL, NULL,
                                  &a)); /* in flight at the death */
  ch_tell(pl->tell_fd, 0);              /* everything is up */
  if (pl->how != PD_KILL_CALL && pl->how != PD_KILL_IDLE) {
    long go; /* the leader has counted us: now die */
    CHECK_MSG(ch_hear(pl->go_fd, &go, CH_HANG), "no go from the leader");
  }
  switch (pl->how) {
  case PD_KILL_CALL: {
    long x = 3, y;
    mpk_sched s = {MPK_SCHED_AUTO, 0};
    mpk_pool_map(p, hold_kernel, &x, sizeof x, &y, sizeof y, 1, &pl->tell_fd,
                 sizeof pl->tell_fd, s);
    break;
  }
  case PD_KILL_IDLE: break;
  case PD_EXIT_: _exit(0);
  case PD_EXIT: exit(0);
  case PD_ABORT: abort();
  }
  for (;;)
    pause();
  return 0;
}

/* Every process in pids[] dead within 1 s (a stall past that, a failure
   past CH_HANG), then gone: the zombies that come back to us reaped. */
static void all_gone(const pid_t *pids, int n, double since) {
  int dead = 0;
  for (;;) {
    ch_reap_any();
    int alive = 0, left = 0;
    pid_t one = 0;
    for (int i = 0; i < n; i++) {
      left += !check_pid_gone(pids[i]);
      if (!pu_pid_dead(pids[i])) {
        alive++;
        one = pids[i];
      }
    }
    double t = check_now() - since;
    if (alive == 0 && !dead) {
      dead = 1;
      if (t > 1.0)
        ch_stall("the owner's descendants took %.2f s to die (bound 1 s)", t);
    }
    if (left == 0)
      return;
    if (t > CH_HANG) {
      char d[80];
      ch_describe(one ? one : pids[0], d, sizeof d);
      CHECK_MSG(0,
                "%d process(es) alive, %d not reaped %.0f s after their "
                "owner died, e.g. %s",
                alive, left, CH_HANG, d);
    }
    check_sleep(0.001);
  }
}

void ch_parent_death(void) {
  pd_plan pl;
  pl.how = (pdeath)ch_pick(5);
  pl.start = CH_ONE_OF(MPK_START_FORK, MPK_START_FORKSERVER);
  pl.workers = (int)ch_range(1, 3);
  pl.nested = ch_chance(0.3);
  if (pl.nested && pl.workers < 2)
    pl.workers = 2; /* the nested pool's worker is busy for good */
  pl.child = ch_chance(0.4);
  ch_note("%d workers %s%s%s, owner dies by %s", pl.workers,
          pl.start == MPK_START_FORK ? "fork" : "forkserver",
          pl.nested ? " +nested pool" : "", pl.child ? " +process" : "",
          pdeath_name[pl.how]);
  int fds[2], go[2];
  ch_pipe(fds);
  ch_pipe(go);
  pl.tell_fd = fds[1];
  pl.go_fd = go[0];
  pid_t o = ch_fork(owner, &pl, "owner");
  long told;
  CHECK_MSG(ch_hear(fds[0], &told, CH_HANG), "the owner never got ready");
  if (pl.how == PD_KILL_CALL) /* its kernel is running */
    CHECK_MSG(ch_hear(fds[0], &told, CH_HANG), "the call never started");
  pid_t pids[64];
  int n = ch_session_pids(getpid(), getpid(), pids, 64);
  CHECK_MSG(n >= 1 + pl.workers, "%d processes for %d workers and an owner", n,
            pl.workers);
  if (pl.how == PD_KILL_CALL || pl.how == PD_KILL_IDLE)
    CHECK(kill(o, SIGKILL) == 0);
  else
    ch_tell(go[1], 1); /* die now */
  int st = ch_reap(o, CH_HANG);
  double since = check_now();
  int want_sig = pl.how == PD_ABORT ? SIGABRT : SIGKILL;
  if (pl.how == PD_EXIT_ || pl.how == PD_EXIT)
    CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "owner status 0x%x", st);
  else
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == want_sig, "owner status 0x%x",
              st);
  all_gone(pids, n, since);
  close(fds[0]);
  close(fds[1]);
  close(go[0]);
  close(go[1]);
}
