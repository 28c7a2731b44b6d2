/* scn-pool.c - pool calls of every kind with SIGKILLed workers.
 *
 * Each scenario makes a pool (1-3 workers, fork or fork-server start,
 * sometimes recycling workers) and runs a few calls. Before each call a
 * kill mode is drawn:
 *   none  no kill: exact results.
 *   idle  a worker is killed (and seen dead) before the call: exact
 *         results (an idle worker takes no part in it).
 *   hold  the kernel of a random element tells the killer thread its pid
 *         through a pipe and blocks: the worker dies inside the call, which
 *         must fail with MPK_EWORKER (signal SIGKILL in last_error); the
 *         time from the kill to the call's return is a latency sample and
 *         a stall when over 1 s.
 *   run   as hold, but the kernel goes on and the killer waits a random
 *         0-3 ms: the call either succeeds with exact results or fails
 *         with MPK_EWORKER.
 *   two   two elements hold: MPK_EWORKER.
 * A failed call must leave a staged `out` (not in the shared heap) and a
 * reduction's result unchanged. At the end every worker has been replaced
 * (same cpuset, new pid) and a last exact call works.
 */
#include <pthread.h>

#include "process-util.h"
#include "scn-pool.h"

static const char *const kmode_name[] = {"none", "idle", "hold", "run", "two"};

/* The kernel's share of the fault: tell and block, or tell and go on. */
void pk_maybe_die(const pk_ctx *c, size_t i) {
  for (int k = 0; k < 2; k++)
    if (c->kill_at[k] == i && atomic_load(c->now) == c->gen) {
      ch_tell(c->fd, c->gen << 32 | (long)getpid());
      while (c->hold && atomic_load(c->now) == c->gen)
        check_sleep(0.001);
    }
  if (c->slow_at == i) {
    double end = check_now() + 2.0;
    while (atomic_load(c->done) < c->slow_until && check_now() < end)
      check_sleep(0.0005);
  }
}

void pk_finished(const pk_ctx *c, long n) {
  if (c->done)
    atomic_fetch_add(c->done, n);
}

int pk_map_kernel(const void *in, void *out, void *ctx) {
  const pk_in *x = in;
  pk_maybe_die(ctx, (size_t)x->i);
  *(long *)out = pk_f(x->v);
  pk_finished(ctx, 1);
  return 0;
}

typedef struct {
  pk_ctx c;
  long v;
} apply_arg;

static int apply_kernel(const void *arg, void *result, void *ctx) {
  (void)ctx;
  const apply_arg *a = arg;
  pk_maybe_die(&a->c, 0);
  *(long *)result = pk_f(a->v);
  return 0;
}

/* ---- the pool and its killer --------------------------------------------- */

void pk_open(pk_pool *pp) {
  memset(pp, 0, sizeof *pp);
  ch_pipe(pp->fd); /* before the pool: every worker holds the write end */
  pp->now = mpk_shm_calloc(1, sizeof *pp->now);
  CHECK(pp->now != NULL);
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = pp->W = (int)ch_range(1, 3);
  o.start = CH_ONE_OF(MPK_START_FORK, MPK_START_FORKSERVER);
#if defined(__SANITIZE_ADDRESS__)
  /* mpk/pool.h: with ASan, a pool whose parent starts threads (the killer)
     and replaces workers must fork them from a fork server */
  o.start = MPK_START_FORKSERVER;
#endif
  if (ch_chance(0.2))
    o.max_tasks_per_worker = ch_range(2, 40);
  ch_note("W=%d %s recycle=%ld", o.workers,
          o.start == MPK_START_FORK ? "fork" : "forkserver",
          o.max_tasks_per_worker);
  int rc;
  CH_DO(rc, CH_HANG, mpk_pool_create(&pp->p, &o));
  CHECK_OK(rc);
  for (int i = 0; i < pp->W; i++)
    CHECK_OK(mpk_pool_worker_cpuset(pp->p, i, pp->cpus[i], 64));
}

static int is_victim(const pk_pool *pp, pid_t pid) {
  for (int v = 0; v < pp->nvictims; v++)
    if (pp->victims[v] == pid)
      return 1;
  return 0;
}

/* Worker i's pid once it is not one we killed (it has been replaced). */
static pid_t live_pid(pk_pool *pp, int i) {
  double t0 = check_now();
  pid_t pid;
  while (is_victim(pp, pid = pool_pid_of(pp->p, i))) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "worker %d not replaced", i);
    check_sleep(0.0005);
  }
  return pid;
}

/* The replacements: new pids with the old cpusets. */
void pk_close(pk_pool *pp) {
  for (int i = 0; i < pp->W; i++) {
    live_pid(pp, i);
    char now[64];
    CHECK_OK(mpk_pool_worker_cpuset(pp->p, i, now, sizeof now));
    CHECK_STR(now, pp->cpus[i]);
  }
  mpk_pool_info info;
  CHECK_OK(mpk_pool_info_get(pp->p, &info));
  CHECK_MSG(info.replaced >= pp->kills, "%ld kills, %ld replaced", pp->kills,
            info.replaced);
  CH_RUN(CH_HANG, mpk_pool_free(pp->p));
  close(pp->fd[0]);
  close(pp->fd[1]);
  mpk_shm_free((void *)pp->now);
}

/* A kernel that went on (run) may have retired already (recycling). */
static void kill_one(pk_killer *k, pid_t pid) {
  k->killed_at[k->kills] = check_now();
  int r = kill(pid, SIGKILL);
  if (r != 0 && errno == ESRCH && !k->hold)
    return;
  CHECK_MSG(r == 0, "kill(%d): %s", (int)pid, strerror(errno));
  k->victim[k->kills++] = pid;
}

/* What a kernel of this call told: 1 with its pid. */
static int heard(pk_killer *k, double timeout, pid_t *pid) {
  long v;
  while (ch_hear(k->fd, &v, timeout))
    if (v >> 32 == k->gen) {
      *pid = (pid_t)(v & 0xffffffff);
      return 1;
    }
  return 0;
}

static void *killer_main(void *arg) {
  pk_killer *k = arg;
  pid_t pid;
  while (k->kills < k->expect) {
    if (heard(k, 0.005, &pid)) {
      if (k->delay[k->kills] > 0)
        check_sleep(k->delay[k->kills]);
      kill_one(k, pid);
    } else if (atomic_load(&k->stop)) {
      break;
    }
  }
  /* A kernel that told after the call returned holds a cancelled chunk. */
  while (k->kills < 2 && heard(k, 0, &pid))
    kill_one(k, pid);
  for (int i = 0; i < k->kills; i++) { /* dead before the next call */
    double t0 = check_now();
    while (!pu_pid_dead(k->victim[i])) {
      CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "worker %d survived SIGKILL",
                (int)k->victim[i]);
      check_sleep(0.0002);
    }
  }
  return NULL;
}

static void victim(pk_pool *pp, pid_t pid) {
  if (is_victim(pp, pid))
    return;
  if (pp->nvictims < 64)
    pp->victims[pp->nvictims++] = pid;
  pp->kills++;
}

static void kill_idle(pk_pool *pp) {
  pid_t pid = live_pid(pp, (int)ch_pick((unsigned long)pp->W));
  CHECK(kill(pid, SIGKILL) == 0);
  double t0 = check_now();
  while (!pu_pid_dead(pid)) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "idle worker %d survived",
              (int)pid);
    check_sleep(0.0002);
  }
  victim(pp, pid);
}

/* Draw the kill mode for a call over n elements (n == 0: none or idle) and
   start the killer. `modes` limits the draw (a bit per kmode). */
void pk_kill_start(pk_pool *pp, pk_kill *kl, size_t n, unsigned modes) {
  memset(kl, 0, sizeof *kl);
  kl->n = n;
  if (n == 0)
    modes &= PK_ONLY(K_NONE) | PK_ONLY(K_IDLE);
  do
    kl->mode = (kmode)ch_pick(5);
  while (!(modes & PK_ONLY(kl->mode)));
  pk_ctx *c = &kl->ctx;
  c->kill_at[0] = c->kill_at[1] = c->slow_at = NONE_AT;
  c->fd = pp->fd[1];
  c->now = pp->now;
  c->gen = kl->k.gen = ++pp->calls;
  atomic_store(pp->now, c->gen);
  c->hold = kl->mode == K_HOLD || kl->mode == K_TWO;
  int kills = kl->mode == K_TWO ? 2 : kl->mode >= K_HOLD ? 1 : 0;
  for (int i = 0; i < kills; i++)
    c->kill_at[i] = ch_pick(n);
  if (kl->mode == K_RUN)
    kl->k.delay[0] = gsl_rng_uniform(ch_rng) * 0.003;
  ch_note("[%s", kmode_name[kl->mode]);
  if (kills)
    ch_note("at=%zu", c->kill_at[0]);
  if (kills > 1)
    ch_note("at=%zu", c->kill_at[1]);
  if (kl->mode == K_IDLE)
    kill_idle(pp);
  kl->k.fd = pp->fd[0];
  kl->k.hold = c->hold;
  kl->k.expect = kills;
  if (kills)
    CHECK(pthread_create(&kl->t, NULL, killer_main, &kl->k) == 0);
}

/* The call returned rc at t_ret: check it against the kill mode. */
void pk_kill_finish(pk_pool *pp, pk_kill *kl, int rc, double t_ret,
                    const char *call, int apply) {
  pk_killer *k = &kl->k;
  atomic_store(&k->stop, 1);
  if (k->expect)
    CHECK(pthread_join(kl->t, NULL) == 0);
  atomic_store(pp->now, 0); /* late kernels of the call go on */
  for (int i = 0; i < k->kills; i++)
    victim(pp, k->victim[i]);
  ch_note("%s]", mpk_err_name(rc));
  if (kl->mode == K_NONE || kl->mode == K_IDLE) {
    CHECK_MSG(rc == MPK_OK, "%s returned %s with no worker killed in it", call,
              mpk_err_name(rc));
    return;
  }
  if (kl->mode == K_RUN && rc == MPK_OK)
    return;
  CHECK_MSG(rc == MPK_EWORKER, "%s returned %s; its worker was killed in it",
            call, mpk_err_name(rc));
  CHECK(k->kills >= 1);
  double lat = t_ret - k->killed_at[0];
  ch_latency(lat);
  if (lat > 1.0)
    ch_stall("%s returned %.3f s after its worker was killed (bound 1 s)", call,
             lat);
  size_t idx = SIZE_MAX;
  int st = -1, sig = -1;
  CHECK_RC(mpk_pool_last_error(pp->p, &idx, &st, &sig), MPK_EWORKER);
  CHECK_EQ(sig, SIGKILL);
  CHECK_EQ(st, 0);
  size_t last = kl->ctx.kill_at[0];
  if (kl->ctx.kill_at[1] != NONE_AT && kl->ctx.kill_at[1] > last)
    last = kl->ctx.kill_at[1];
  if (apply)
    CHECK_EQ(idx, 0);
  else if (kl->mode != K_RUN)
    CHECK_MSG(idx <= last, "last_error index %zu past the killed element %zu",
              idx, last);
  else
    CHECK(idx < kl->n);
}

mpk_sched pk_sched(void) {
  mpk_sched s = {(mpk_sched_kind)ch_pick(5), 0};
  if (ch_chance(0.7))
    s.chunk = (size_t)ch_range(1, 40);
  static const char *const kind[] = {"auto", "static", "cyclic", "dynamic",
                                     "guided"};
  ch_note("%s/%zu", kind[s.kind], s.chunk);
  return s;
}

/* Buffers: in the shared heap (zero-copy) or malloc'd (staged). */
void *pk_buffer(size_t bytes, int shared) {
  void *b =
      shared ? mpk_shm_alloc(bytes ? bytes : 1) : malloc(bytes ? bytes : 1);
  CHECK(b != NULL);
  return b;
}

void pk_unbuffer(void *b, int shared) {
  if (shared)
    mpk_shm_free(b);
  else
    free(b);
}

pk_in *pk_inputs(size_t n, int shared) {
  pk_in *in = pk_buffer(n * sizeof *in, shared);
  for (size_t i = 0; i < n; i++)
    in[i] = (pk_in){(long)i, ch_range(-1000000, 1000000)};
  return in;
}

size_t pk_draw_n(void) {
  if (ch_chance(0.05))
    return 0;
  return (size_t)(ch_chance(0.2) ? ch_range(1, 8) : ch_range(9, 600));
}

/* ---- map, apply, async -----------------------------------------------------
 */

void pk_one_map(pk_pool *pp, unsigned modes) {
  size_t n = pk_draw_n();
  int in_sh = ch_chance(0.5), out_sh = ch_chance(0.5);
  mpk_sched s = pk_sched();
  ch_note("map n=%zu in=%s out=%s", n, in_sh ? "shm" : "heap",
          out_sh ? "shm" : "heap");
  pk_in *in = pk_inputs(n, in_sh);
  long *out = pk_buffer(n * sizeof *out, out_sh);
  for (size_t i = 0; i < n; i++)
    out[i] = SENTINEL;
  pk_kill kl;
  pk_kill_start(pp, &kl, n, modes);
  int rc;
  CH_DO(rc, CH_HANG,
        mpk_pool_map(pp->p, pk_map_kernel, in, sizeof *in, out, sizeof *out, n,
                     &kl.ctx, sizeof kl.ctx, s));
  pk_kill_finish(pp, &kl, rc, check_now(), "mpk_pool_map", 0);
  for (size_t i = 0; i < n; i++) {
    if (rc == MPK_OK)
      CHECK_EQ(out[i], pk_f(in[i].v));
    else if (!out_sh)
      CHECK_MSG(out[i] == SENTINEL, "failed map wrote staged out[%zu]", i);
  }
  pk_unbuffer(in, in_sh);
  pk_unbuffer(out, out_sh);
}

void pk_rounds(void (*one)(pk_pool *, unsigned), long max_rounds) {
  pk_pool pp;
  pk_open(&pp);
  for (long r = ch_range(2, max_rounds); r > 0; r--)
    one(&pp, PK_ALL_MODES);
  one(&pp, PK_ONLY(K_NONE));
  pk_close(&pp);
}

void ch_pool_map(void) {
  pk_rounds(pk_one_map, 4);
}

static void one_apply(pk_pool *pp, unsigned modes) {
  apply_arg a;
  a.v = ch_range(-1000000, 1000000);
  long result = SENTINEL;
  pk_kill kl;
  pk_kill_start(pp, &kl, 1, modes & ~PK_ONLY(K_TWO));
  a.c = kl.ctx;
  int rc;
  CH_DO(rc, CH_HANG,
        mpk_pool_apply(pp->p, apply_kernel, &a, sizeof a, &result,
                       sizeof result));
  pk_kill_finish(pp, &kl, rc, check_now(), "mpk_pool_apply", 1);
  CHECK_EQ(result, rc == MPK_OK ? pk_f(a.v) : SENTINEL);
}

void ch_pool_apply(void) {
  pk_rounds(one_apply, 5);
}

/* Async: calls[0] carries the kill; the others must complete normally
   ("other calls in flight continue"). */
enum { MAX_ASYNC = 4 };

typedef struct {
  _Atomic int calls;
  int status;
} cb_record;

static void on_done(mpk_async_t *a, int status, void *user) {
  (void)a;
  cb_record *r = user;
  r->status = status;
  atomic_fetch_add(&r->calls, 1);
}

typedef struct {
  int is_map;
  size_t n;
  pk_in *in;
  long *out;
  apply_arg arg;
  long result;
  cb_record cb;
  mpk_async_t *a;
} async_call;

static void submit(pk_pool *pp, async_call *c, const pk_ctx *ctx) {
  mpk_sched s = {MPK_SCHED_DYNAMIC, (size_t)ch_range(1, 8)};
  int rc;
  if (c->is_map) {
    CH_DO(rc, CH_HANG,
          mpk_pool_map_async(pp->p, pk_map_kernel, c->in, sizeof *c->in, c->out,
                             sizeof *c->out, c->n, ctx, sizeof *ctx, s, on_done,
                             &c->cb, &c->a));
  } else {
    c->arg.c = *ctx;
    CH_DO(rc, CH_HANG,
          mpk_pool_apply_async(pp->p, apply_kernel, &c->arg, sizeof c->arg,
                               &c->result, sizeof c->result, on_done, &c->cb,
                               &c->a));
  }
  CHECK_OK(rc);
}

static void check_async(async_call *c, int rc) {
  CHECK_EQ(atomic_load(&c->cb.calls), 1);
  CHECK_EQ(c->cb.status, rc);
  CHECK_EQ(mpk_async_ready(c->a), 1);
  for (size_t i = 0; c->is_map && i < c->n; i++)
    CHECK_EQ(c->out[i], rc == MPK_OK ? pk_f(c->in[i].v) : SENTINEL);
  if (!c->is_map)
    CHECK_EQ(c->result, rc == MPK_OK ? pk_f(c->arg.v) : SENTINEL);
}

void ch_pool_async(void) {
  pk_pool pp;
  pk_open(&pp);
  int ncalls = (int)ch_range(2, MAX_ASYNC);
  async_call calls[MAX_ASYNC];
  memset(calls, 0, sizeof calls);
  pk_kill kl;
  for (int c = 0; c < ncalls; c++) {
    async_call *ac = &calls[c];
    ac->is_map = ch_chance(0.6);
    ac->n = ac->is_map ? (size_t)ch_range(1, 300) : 1;
    ac->in = pk_inputs(ac->n, 0);
    ac->out = pk_buffer(ac->n * sizeof *ac->out, 0);
    for (size_t i = 0; i < ac->n; i++)
      ac->out[i] = SENTINEL;
    ac->arg.v = ch_range(-1000, 1000);
    ac->result = SENTINEL;
    ch_note("%s n=%zu", ac->is_map ? "map_async" : "apply_async", ac->n);
  }
  pk_kill_start(&pp, &kl, calls[0].n,
                calls[0].is_map ? PK_ALL_MODES
                                : PK_ALL_MODES & ~PK_ONLY(K_TWO));
  pk_ctx quiet = kl.ctx;
  quiet.kill_at[0] = quiet.kill_at[1] = NONE_AT;
  for (int c = 0; c < ncalls; c++)
    submit(&pp, &calls[c], c == 0 ? &kl.ctx : &quiet);
  int rc;
  CH_DO(rc, CH_HANG, mpk_async_wait(calls[0].a, MPK_FOREVER));
  pk_kill_finish(&pp, &kl, rc, check_now(), "mpk_async_wait", !calls[0].is_map);
  check_async(&calls[0], rc);
  /* A K_RUN victim goes on after its tell, so its SIGKILL may land once
     call 0 is over, in a chunk of a later call: that one call (only one,
     and only then) returns MPK_EWORKER. */
  int late = kl.mode == K_RUN && rc == MPK_OK;
  for (int c = 1; c < ncalls; c++) {
    CH_DO(rc, CH_HANG, mpk_async_wait(calls[c].a, MPK_FOREVER));
    if (late && rc == MPK_EWORKER)
      late = 0;
    else
      CHECK_MSG(rc == MPK_OK, "async call %d (no kill in it) returned %s", c,
                mpk_err_name(rc));
    check_async(&calls[c], rc);
  }
  for (int c = 0; c < ncalls; c++) {
    mpk_async_free(calls[c].a);
    CHECK_EQ(atomic_load(&calls[c].cb.calls), 1); /* exactly once */
    free(calls[c].in);
    free(calls[c].out);
  }
  pk_one_map(&pp, PK_ONLY(K_NONE));
  pk_close(&pp);
}
