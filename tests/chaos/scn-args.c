/* scn-args.c - bad-args: invalid arguments and wild handles.
 *
 * Each iteration runs 20-40 probes drawn at random. Half are wild-handle
 * probes: a random call on a shared-heap object kind (tests/handles-util.h)
 * given a pointer that is not a live object of that kind (0x40, the stack,
 * the middle of a heap block, misaligned, a live object of another kind, a
 * freed object, a copy outside the heap, malloc'd memory) must give the
 * documented bad-handle answer. The others pass one invalid argument (NaN
 * timeout, NULL out-pointer, unknown flag, size out of range, a call in the
 * wrong state) to one call and expect the code its header documents. A
 * crash names the probe (the crumb of the call in progress).
 */
#include <limits.h>
#include <stdalign.h>

#include "chaos.h"
#include "handles-util.h"
#include "mpk/pipe.h"
#include "mpk/pool.h"
#include "mpk/process.h"
#include "process-util.h"

/* ---- wild handles ----------------------------------------------------------
 */

static const char *const wild_name[] = {"0x40",
                                        "a stack buffer",
                                        "a heap block + 64",
                                        "a heap block + 8",
                                        "a live object + 8",
                                        "a live object of another kind",
                                        "a freed object",
                                        "a copy outside the heap",
                                        "malloc'd memory"};

static void probe_wild(void) {
  const hu_kind *k = &hu_kinds[ch_pick(HU_NKINDS)];
  int ncalls = 0;
  while (k->calls[ncalls].fn)
    ncalls++;
  const hu_call *c = &k->calls[ch_pick((unsigned long)ncalls)];
  int how = (int)ch_pick(9);
  alignas(64) unsigned char stack[256] = {0};
  unsigned char *blk = mpk_shm_alloc(4096);
  CHECK(blk != NULL);
  memset(blk, 0x5a, 4096);
  void *live = k->make(), *other = NULL, *copy = NULL, *h = NULL;
  const hu_kind *ok = NULL;
  switch (how) {
  case 0: h = (void *)0x40; break;
  case 1: h = stack; break;
  case 2: h = blk + 64; break;
  case 3: h = blk + 8; break;
  case 4: h = (char *)live + 8; break;
  case 5:
    do
      ok = &hu_kinds[ch_pick(HU_NKINDS)];
    while (ok->destroy == k->destroy); /* the queue kinds are one type */
    h = other = ok->make();
    break;
  case 6:
    h = k->make();
    k->destroy(h); /* nothing is allocated until the call */
    break;
  case 7:
  case 8:
    copy = aligned_alloc(64, 4096);
    CHECK(copy != NULL);
    size_t sz = mpk_shm_usable_size(live);
    memcpy(copy, live, how == 7 && sz < 4096 ? sz : 64);
    if (how == 8)
      memset(copy, 0x11, 4096);
    h = copy;
    break;
  }
  char what[128];
  snprintf(what, sizeof what, "%s(%s %s)", c->name, k->name, wild_name[how]);
  int t = ch_begin(what, CH_HANG);
  int r = c->fn(h);
  ch_end(t);
  CHECK_MSG(r == MPK_EINVAL, "%s gave %s, expected MPK_EINVAL", what,
            mpk_err_name(r));
  if (other)
    ok->destroy(other);
  free(copy);
  k->destroy(live);
  mpk_shm_free(blk);
}

/* ---- sync ------------------------------------------------------------------
 */

static void probe_sync(void) {
  mpk_lock_t *l;
  mpk_sem_t *s;
  mpk_cond_t *c;
  mpk_barrier_t *b;
  mpk_event_t *e;
  mpk_rlock_t *r;
  CHECK_OK(mpk_lock_new(&l));
  CHECK_RC(mpk_lock_acquire(l, NAN), MPK_EINVAL);
  CHECK_RC(mpk_lock_release(l), MPK_EPERM);
  CHECK_OK(mpk_lock_acquire(l, 0));
  CHECK_RC(mpk_lock_acquire(l, 1), MPK_EDEADLK);
  CHECK_OK(mpk_lock_release(l));
  CHECK_RC(mpk_lock_new(NULL), MPK_EINVAL);
  CHECK_RC(mpk_sem_new(&s, (unsigned)INT_MAX + 1u, 0), MPK_EINVAL);
  CHECK_RC(mpk_sem_new(&s, 1, 2), MPK_EINVAL);
  CHECK_OK(mpk_sem_new(&s, 1, 1));
  CHECK_RC(mpk_sem_release(s), MPK_EOVERFLOW); /* bounded, at its value */
  CHECK_RC(mpk_sem_acquire(s, NAN), MPK_EINVAL);
  CHECK_RC(mpk_cond_new(&c, (mpk_lock_t *)s), MPK_EINVAL);
  CHECK_OK(mpk_cond_new(&c, l));
  CHECK_RC(mpk_cond_wait(c, 0), MPK_EPERM);
  CHECK_RC(mpk_cond_notify(c, 1), MPK_EPERM);
  CHECK_OK(mpk_cond_acquire(c, 0));
  CHECK_RC(mpk_cond_notify(c, -1), MPK_EINVAL);
  CHECK_RC(mpk_cond_wait_for(c, NULL, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_cond_wait(c, NAN), MPK_EINVAL);
  CHECK_OK(mpk_cond_release(c));
  CHECK_RC(mpk_barrier_new(&b, 0), MPK_EINVAL);
  CHECK_RC(mpk_barrier_new(&b, 16777216), MPK_EINVAL);
  CHECK_OK(mpk_barrier_new(&b, 2));
  CHECK_RC(mpk_barrier_wait(b, NAN), MPK_EINVAL);
  CHECK_OK(mpk_event_new(&e));
  CHECK_RC(mpk_event_wait(e, NAN), MPK_EINVAL);
  CHECK_OK(mpk_rlock_new(&r));
  CHECK_RC(mpk_rlock_release(r), MPK_EPERM);
  mpk_rlock_free(r);
  mpk_event_free(e);
  mpk_barrier_free(b);
  mpk_cond_free(c);
  mpk_sem_free(s);
  mpk_lock_free(l);
}

/* ---- queue ------------------------------------------------------------------
 */

static void probe_queue(void) {
  mpk_queue_t *q, *j;
  CHECK_RC(mpk_queue_new(NULL, 0, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, MPK_QUEUE_MAX_CAPACITY + 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 0, 2), MPK_EINVAL);
  CHECK_RC(mpk_queue_new(&q, 0, 8), MPK_EINVAL);
  CHECK_OK(mpk_queue_new(&q, 64, 0));
  unsigned char b[128] = {0};
  size_t len = 0;
  CHECK_RC(mpk_queue_put(q, NULL, 5, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_put(q, b, 1, NAN), MPK_EINVAL);
  CHECK_RC(mpk_queue_put(q, b, mpk_queue_max_msg(q) + 1, 0), MPK_EMSGSIZE);
  CHECK_RC(mpk_queue_get_nowait(q, b, sizeof b, &len), MPK_EEMPTY);
  int queued = 0, r;
  while ((r = mpk_queue_put_nowait(q, b, 8)) == MPK_OK)
    queued++;
  CHECK_RC(r, MPK_EFULL);
  CHECK_EQ(queued, 64 / MPK_QUEUE_MSG_BYTES(8));
  CHECK_RC(mpk_queue_get(q, b, 2, &len, 0), MPK_EMSGSIZE);
  CHECK_EQ(len, 8); /* and it stays queued */
  CHECK_EQ(mpk_queue_qsize(q), queued);
  CHECK_RC(mpk_queue_get(q, b, sizeof b, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_queue_get(q, NULL, 4, &len, 0), MPK_EINVAL);
  CHECK_OK(mpk_queue_get(q, b, 8, &len, 0));
  CHECK_RC(mpk_queue_task_done(q), MPK_ENOTSUP);
  CHECK_RC(mpk_queue_join(q, 0), MPK_ENOTSUP);
  CHECK_OK(mpk_queue_new(&j, 0, MPK_QUEUE_JOINABLE));
  CHECK_RC(mpk_queue_task_done(j), MPK_EOVERFLOW);
  CHECK_RC(mpk_queue_join(j, NAN), MPK_EINVAL);
  mpk_queue_free(j);
  mpk_queue_free(q);
}

/* ---- pipe -------------------------------------------------------------------
 */

static void probe_pipe(void) {
  mpk_conn_t *a, *b;
  CHECK_RC(mpk_pipe(NULL, &b, 1), MPK_EINVAL);
  CHECK_RC(mpk_pipe(&a, &b, 2), MPK_EINVAL);
  CHECK_RC(mpk_pipe(&a, &a, 1), MPK_EINVAL);
  CHECK_OK(mpk_pipe(&a, &b, 0)); /* a receives, b sends */
  unsigned char buf[200] = {0};
  size_t len = 0;
  CHECK_RC(mpk_conn_send(NULL, buf, 1), MPK_EINVAL);
  CHECK_RC(mpk_conn_send(b, NULL, 3), MPK_EINVAL);
  CHECK_RC(mpk_conn_send(a, buf, 1), MPK_ENOTSUP);
  CHECK_RC(mpk_conn_recv(b, buf, 1, &len, 0), MPK_ENOTSUP);
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, NAN), MPK_EINVAL);
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_poll(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_conn_fileno(NULL), MPK_EINVAL);
  CHECK_OK(mpk_conn_send(b, buf, 100));
  CHECK_RC(mpk_conn_recv(a, buf, 10, &len, 1), MPK_EMSGSIZE);
  CHECK_EQ(len, 100); /* and it stays queued */
  CHECK_OK(mpk_conn_recv(a, buf, sizeof buf, &len, 1));
  CHECK_EQ(len, 100);
  CHECK_OK(mpk_conn_close(b));
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 1), MPK_EEOF);
  CHECK_OK(mpk_conn_close(a));
  CHECK_RC(mpk_conn_close(a), MPK_ECLOSED);
  CHECK_RC(mpk_conn_recv(a, buf, sizeof buf, &len, 0), MPK_ECLOSED);
  CHECK_RC(mpk_conn_close(NULL), MPK_EINVAL);
  mpk_conn_free(a);
  mpk_conn_free(b);
}

/* ---- dict and array
 * ---------------------------------------------------------- */

static int set_inside(const char *k, const void *v, size_t n, void *arg) {
  (void)k, (void)v, (void)n;
  return mpk_dict_set(arg, "x", "y", 1);
}

static void probe_dict(void) {
  mpk_dict_t *d;
  char key[300];
  memset(key, 'k', sizeof key);
  key[MPK_DICT_KEY_MAX + 1] = '\0'; /* one byte too long */
  unsigned char buf[8];
  size_t len = 0;
  CHECK_RC(mpk_dict_new(NULL), MPK_EINVAL);
  CHECK_OK(mpk_dict_new(&d));
  CHECK_RC(mpk_dict_set(d, "", "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(d, NULL, "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(d, key, "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(d, "k", NULL, 3), MPK_EINVAL);
  CHECK_RC(mpk_dict_get(d, "k", buf, sizeof buf, &len), MPK_EEMPTY);
  CHECK_RC(mpk_dict_del(d, "k"), MPK_EEMPTY);
  CHECK_OK(mpk_dict_set(d, "k", "0123456789", 10));
  CHECK_RC(mpk_dict_get(d, "k", buf, sizeof buf, &len), MPK_EMSGSIZE);
  CHECK_EQ(len, 10);
  CHECK_RC(mpk_dict_get(d, "k", buf, sizeof buf, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_foreach(d, NULL, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_foreach(d, set_inside, d), MPK_EDEADLK);
  CHECK_EQ(mpk_dict_len(d), 1);
  mpk_dict_free(d);
}

static void probe_array(void) {
  mpk_array_t *a;
  long want = 0;
  CHECK_RC(mpk_array_new(&a, (mpk_type)99, 1, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, MPK_LONG, 0, 0), MPK_EINVAL);
  CHECK_RC(mpk_array_new(&a, MPK_LONG, 1, 2), MPK_EINVAL);
  CHECK_OK(mpk_array_new(&a, MPK_DOUBLE, 2, 0));
  CHECK_RC(mpk_array_lock(a), MPK_ENOTSUP);
  CHECK_RC(mpk_array_compare_exchange(a, 0, &want, 1), MPK_EINVAL);
  mpk_array_free(a);
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 2, 1));
  CHECK_RC(mpk_array_unlock(a), MPK_EPERM);
  CHECK_RC(mpk_array_compare_exchange(a, 0, NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_array_compare_exchange(a, 2, &want, 1), MPK_EINVAL);
  CHECK_EQ(mpk_array_fetch_add(a, 2, 5), 0); /* out of range: no effect */
  CHECK_EQ(mpk_array_load(a, 1), 0);
  CHECK_OK(mpk_array_lock(a));
  CHECK_RC(mpk_array_lock(a), MPK_EDEADLK);
  CHECK_OK(mpk_array_unlock(a));
  mpk_array_free(a);
}

/* ---- pool
 * --------------------------------------------------------------------- */

static mpk_pool_t *pool; /* made at the first pool probe */

static int ident(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in;
  return 0;
}

static double chunk_sum(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  return (double)(hi - lo);
}

static int nothing(size_t lo, size_t hi, void *ctx) {
  (void)lo, (void)hi, (void)ctx;
  return 0;
}

static void probe_pool_create(void) {
  mpk_pool_opts o;
  mpk_pool_t *p = NULL;
  CHECK_RC(mpk_pool_create(NULL, NULL), MPK_EINVAL);
  int bad = (int)ch_pick(6);
  mpk_pool_opts_init(&o);
  o.workers = 1;
  if (bad == 0)
    o.workers = ch_chance(0.5) ? -1 : MPK_POOL_MAX_WORKERS + 1;
  else if (bad == 1)
    o.threads_per_worker = 0;
  else if (bad == 2)
    o.task_timeout = NAN;
  else if (bad == 3)
    o.backend = (mpk_backend)7;
  else if (bad == 4)
    o.start = (mpk_start)9;
  else
    o.cpuset = "no-such-cpus";
  CHECK_RC(mpk_pool_create(&p, &o), MPK_EINVAL);
  mpk_pool_opts_init(&o);
  o.backend = MPK_THREAD;
  o.max_rss_bytes = 1 << 20;
  CHECK_RC(mpk_pool_create(&p, &o), MPK_ENOTSUP);
}

static void probe_pool_calls(void) {
  if (pool == NULL) {
    mpk_pool_opts o;
    mpk_pool_opts_init(&o);
    o.workers = 1;
    CHECK_OK(mpk_pool_create(&pool, &o));
  }
  long x[4] = {1, 2, 3, 4}, y[4];
  double d = 0;
  mpk_sched ok = {MPK_SCHED_AUTO, 0}, bad = {(mpk_sched_kind)42, 0};
  CHECK_RC(mpk_pool_map(NULL, ident, x, 8, y, 8, 4, NULL, 0, ok), MPK_EINVAL);
  CHECK_RC(mpk_pool_map(pool, NULL, x, 8, y, 8, 4, NULL, 0, ok), MPK_EINVAL);
  CHECK_RC(mpk_pool_map(pool, ident, x, 0, y, 8, 4, NULL, 0, ok), MPK_EINVAL);
  CHECK_RC(mpk_pool_map(pool, ident, NULL, 8, y, 8, 4, NULL, 0, ok),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_map(pool, ident, x, 8, y, 8, 4, NULL, 0, bad), MPK_EINVAL);
  CHECK_RC(mpk_pool_map(pool, ident, x, 8, y, 8, 4, NULL, 8, ok), MPK_EINVAL);
  CHECK_RC(mpk_pool_for(pool, 4, nothing, NULL, 0, bad), MPK_EINVAL);
  CHECK_RC(
      mpk_pool_reduce_double(pool, 4, chunk_sum, NULL, 0, MPK_SUM, ok, 8, &d),
      MPK_EINVAL);
  CHECK_RC(
      mpk_pool_reduce_double(pool, 4, chunk_sum, NULL, 0, (mpk_op)9, ok, 0, &d),
      MPK_EINVAL);
  CHECK_RC(
      mpk_pool_reduce_double(pool, 4, chunk_sum, NULL, 0, MPK_SUM, ok, 0, NULL),
      MPK_EINVAL);
  mpk_iter_t *it = NULL;
  CHECK_RC(mpk_pool_imap(pool, ident, x, 8, 8, 4, NULL, 0, 1, 4, &it),
           MPK_EINVAL);
  CHECK_RC(mpk_pool_apply(pool, (mpk_task_fn)ident, NULL, 4, y, 8), MPK_EINVAL);
  CHECK_RC(mpk_async_wait(NULL, 0), MPK_EINVAL);
  CHECK_RC(mpk_iter_next(NULL, NULL, y, 0), MPK_EINVAL);
  CHECK_RC(mpk_pool_last_error(NULL, NULL, NULL, NULL), MPK_EINVAL);
  char cpus[64];
  CHECK_RC(mpk_pool_worker_cpuset(pool, 1, cpus, sizeof cpus), MPK_EINVAL);
  CHECK_EQ(mpk_pool_worker_pid(NULL, 0), -1);
  CHECK_EQ(mpk_pool_size(NULL), 0);
  CHECK_RC(mpk_pool_join(pool), MPK_ESTATE); /* not closed */
  CHECK_OK(mpk_pool_map(pool, ident, x, 8, y, 8, 4, NULL, 0, ok));
  CHECK_EQ(y[3], 4); /* bad calls changed nothing */
}

static void probe_pool_closed(void) {
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = 1;
  mpk_pool_t *p;
  CHECK_OK(mpk_pool_create(&p, &o));
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_close(p)); /* idempotent */
  long x = 1, y;
  mpk_sched ok = {MPK_SCHED_AUTO, 0};
  CHECK_RC(mpk_pool_map(p, ident, &x, 8, &y, 8, 1, NULL, 0, ok), MPK_ESTATE);
  CHECK_OK(mpk_pool_join(p));
  mpk_pool_free(p);
}

/* ---- processes, errors, the heap -------------------------------------------
 */

static void probe_process(void) {
  mpk_process_t *p;
  int code;
  mpk_process_opts bad_daemon = {NULL, 2, NULL}, bad_cpus = {NULL, 0, "x-y"};
  CHECK_RC(mpk_process_new(NULL, pu_ret_zero, NULL, 0, NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_new(&p, NULL, NULL, 0, NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_new(&p, pu_ret_zero, NULL, 4, NULL), MPK_EINVAL);
  CHECK_RC(mpk_process_new(&p, pu_ret_zero, NULL, 0, &bad_daemon), MPK_EINVAL);
  CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, &bad_cpus));
  CHECK_RC(mpk_process_start(p), MPK_EINVAL);
  mpk_process_free(p);
  CHECK_OK(mpk_process_new(&p, pu_ret_zero, NULL, 0, NULL));
  CHECK_RC(mpk_process_join(p, 0), MPK_ESTATE);
  CHECK_RC(mpk_process_kill(p), MPK_ESTATE);
  CHECK_RC(mpk_process_exitcode(p, &code), MPK_ESTATE);
  CHECK_OK(mpk_process_start(p));
  CHECK_RC(mpk_process_start(p), MPK_ESTATE);
  CHECK_RC(mpk_process_join(p, NAN), MPK_EINVAL);
  CHECK_RC(mpk_process_exitcode(p, NULL), MPK_EINVAL);
  CHECK_OK(mpk_process_join(p, CH_HANG));
  CHECK_OK(mpk_process_exitcode(p, &code));
  CHECK_EQ(code, 0);
  mpk_process_free(p);
}

static void probe_misc(void) {
  CHECK(mpk_strerror(12345) != NULL);
  CHECK_STR(mpk_err_name(12345), "MPK_UNKNOWN");
  CHECK_STR(mpk_err_name(MPK_EINVAL), "MPK_EINVAL");
  errno = 0;
  CHECK(mpk_shm_alloc(0) == NULL && errno == EINVAL);
  errno = 0;
  CHECK(mpk_shm_calloc(SIZE_MAX / 2, 4) == NULL && errno == ENOMEM);
  mpk_shm_free((void *)0x40); /* ignored */
  CHECK_EQ(mpk_shm_usable_size((void *)0x40), 0);
  CHECK_EQ(mpk_shm_contains((void *)0x40), 0);
  CHECK_RC(mpk_shm_stats(NULL), MPK_EINVAL);
}

typedef struct {
  const char *name;
  void (*fn)(void);
} probe;

static const probe probes[] = {
    {"sync", probe_sync},
    {"queue", probe_queue},
    {"pipe", probe_pipe},
    {"dict", probe_dict},
    {"array", probe_array},
    {"pool-create", probe_pool_create},
    {"pool-calls", probe_pool_calls},
    {"pool-closed", probe_pool_closed},
    {"process", probe_process},
    {"misc", probe_misc},
};

void ch_bad_args(void) {
  long n = ch_range(20, 40), wild = 0;
  for (long i = 0; i < n; i++) {
    if (ch_chance(0.5)) {
      probe_wild(); /* its own crumb names the call and the pointer */
      wild++;
      continue;
    }
    const probe *p = &probes[ch_pick(sizeof probes / sizeof probes[0])];
    ch_note("%s", p->name);
    int t = ch_begin(p->name, CH_HANG);
    p->fn();
    ch_end(t);
  }
  ch_note("+%ld wild", wild);
  mpk_pool_free(pool);
  pool = NULL;
}
