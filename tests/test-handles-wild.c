/* handles.wild: every public call that takes a handle to an object in the
 * shared heap (Queue in its three kinds, Lock, RLock, Semaphore, Event,
 * Condition, Barrier, Array, Dict) answers a pointer that is not a live
 * object of its kind with its documented "bad handle" result (MPK_EINVAL,
 * or 0 / NULL for the calls that return a size or a pointer) and never
 * crashes. The pointers: 0x40, a pointer to the stack, a pointer into the
 * middle of a plain heap block (aligned and misaligned), a live object of
 * every other kind, a freed object of the same kind, and a byte-for-byte
 * copy of a live object outside the shared heap. Each (kind, pointer) pair
 * runs in a forked child, so a crash names the pair.
 */
#include <stdalign.h>
#include <stdint.h>

#include "check.h"
#include "internal/shm.h"
#include "mpk/dict.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "mpk/sync.h"

/* ---- the calls, as int (void *h) adapters ------------------------------
   A call that returns a size or a pointer is mapped to MPK_EINVAL when it
   gives its documented bad-handle answer; a free to MPK_EINVAL when it
   freed nothing (the heap's bytes in use did not change). */

static size_t in_use(void) {
  mpk_shm_stats_t st;
  CHECK_OK(mpk_shm_stats(&st));
  return st.in_use;
}

#define FREE_CALL(name, fn)                                                    \
  static int name(void *h) {                                                   \
    size_t before = in_use();                                                  \
    fn(h);                                                                     \
    return in_use() == before ? MPK_EINVAL : MPK_OK;                           \
  }

static int pred_true(void *arg) {
  (void)arg;
  return 1;
}
static int each_entry(const char *k, const void *v, size_t n, void *arg) {
  (void)k, (void)v, (void)n, (void)arg;
  return 0;
}

static int q_put(void *h) {
  return mpk_queue_put(h, "x", 1, 0);
}
static int q_put_nowait(void *h) {
  return mpk_queue_put_nowait(h, "x", 1);
}
static int q_get(void *h) {
  char b[8];
  size_t n;
  return mpk_queue_get(h, b, sizeof b, &n, 0);
}
static int q_get_nowait(void *h) {
  char b[8];
  size_t n;
  return mpk_queue_get_nowait(h, b, sizeof b, &n);
}
static int q_qsize(void *h) {
  return (int)mpk_queue_qsize(h);
}
static int q_empty(void *h) {
  return mpk_queue_empty(h);
}
static int q_full(void *h) {
  return mpk_queue_full(h);
}
static int q_capacity(void *h) {
  return mpk_queue_capacity(h) == 0 ? MPK_EINVAL : MPK_OK;
}
static int q_max_msg(void *h) {
  return mpk_queue_max_msg(h) == 0 ? MPK_EINVAL : MPK_OK;
}
static int q_close(void *h) {
  return mpk_queue_close(h);
}
static int q_task_done(void *h) {
  return mpk_queue_task_done(h);
}
static int q_join(void *h) {
  return mpk_queue_join(h, 0);
}
static int q_unfinished(void *h) {
  return (int)mpk_queue_unfinished(h);
}
FREE_CALL(q_free, mpk_queue_free)

static int l_acquire(void *h) {
  return mpk_lock_acquire(h, 0);
}
static int l_release(void *h) {
  return mpk_lock_release(h);
}
static int l_locked(void *h) {
  return mpk_lock_locked(h);
}
static int l_cond_new(void *h) {
  mpk_cond_t *c = NULL;
  int r = mpk_cond_new(&c, h);
  if (r == MPK_OK)
    mpk_cond_free(c);
  return r;
}
FREE_CALL(l_free, mpk_lock_free)

static int r_acquire(void *h) {
  return mpk_rlock_acquire(h, 0);
}
static int r_release(void *h) {
  return mpk_rlock_release(h);
}
FREE_CALL(r_free, mpk_rlock_free)

static int s_acquire(void *h) {
  return mpk_sem_acquire(h, 0);
}
static int s_release(void *h) {
  return mpk_sem_release(h);
}
static int s_value(void *h) {
  return mpk_sem_value(h);
}
FREE_CALL(s_free, mpk_sem_free)

static int e_set(void *h) {
  return mpk_event_set(h);
}
static int e_clear(void *h) {
  return mpk_event_clear(h);
}
static int e_is_set(void *h) {
  return mpk_event_is_set(h);
}
static int e_wait(void *h) {
  return mpk_event_wait(h, 0);
}
FREE_CALL(e_free, mpk_event_free)

static int c_acquire(void *h) {
  return mpk_cond_acquire(h, 0);
}
static int c_release(void *h) {
  return mpk_cond_release(h);
}
static int c_lock(void *h) {
  return mpk_cond_lock(h) == NULL ? MPK_EINVAL : MPK_OK;
}
static int c_wait(void *h) {
  return mpk_cond_wait(h, 0);
}
static int c_wait_for(void *h) {
  return mpk_cond_wait_for(h, pred_true, NULL, 0);
}
static int c_notify(void *h) {
  return mpk_cond_notify(h, 1);
}
static int c_notify_all(void *h) {
  return mpk_cond_notify_all(h);
}
FREE_CALL(c_free, mpk_cond_free)

static int b_wait(void *h) {
  return mpk_barrier_wait(h, 0);
}
static int b_abort(void *h) {
  return mpk_barrier_abort(h);
}
static int b_reset(void *h) {
  return mpk_barrier_reset(h);
}
static int b_n_waiting(void *h) {
  return mpk_barrier_n_waiting(h);
}
static int b_broken(void *h) {
  return mpk_barrier_broken(h);
}
static int b_parties(void *h) {
  return mpk_barrier_parties(h);
}
FREE_CALL(b_free, mpk_barrier_free)

/* The test's arrays are MPK_LONG of 4 elements holding 7 each, so the
   bad-handle answers (NULL, 0, MPK_CHAR, 0) differ from a live one's. */
static int a_data(void *h) {
  return mpk_array_data(h) == NULL ? MPK_EINVAL : MPK_OK;
}
static int a_len(void *h) {
  return mpk_array_len(h) == 0 ? MPK_EINVAL : 1;
}
static int a_type(void *h) {
  return mpk_array_type(h) == MPK_CHAR ? MPK_EINVAL : MPK_OK;
}
static int a_lock(void *h) {
  return mpk_array_lock(h);
}
static int a_unlock(void *h) {
  return mpk_array_unlock(h);
}
static int a_load(void *h) {
  return mpk_array_load(h, 0) == 0 ? MPK_EINVAL : 1;
}
static int a_store(void *h) {
  mpk_array_store(h, 0, 9); /* no effect: checked through the live arrays */
  return MPK_EINVAL;
}
static int a_fetch_add(void *h) {
  return mpk_array_fetch_add(h, 0, 1) == 0 ? MPK_EINVAL : MPK_OK;
}
static int a_cas(void *h) {
  long want = 7;
  return mpk_array_compare_exchange(h, 0, &want, 8);
}
FREE_CALL(a_free, mpk_array_free)

static int d_set(void *h) {
  return mpk_dict_set(h, "k", "v", 1);
}
static int d_get(void *h) {
  char b[8];
  size_t n;
  return mpk_dict_get(h, "k", b, sizeof b, &n);
}
static int d_get_alloc(void *h) {
  void *b = NULL;
  size_t n;
  int r = mpk_dict_get_alloc(h, "k", &b, &n);
  free(b);
  return r;
}
static int d_contains(void *h) {
  return mpk_dict_contains(h, "k");
}
static int d_del(void *h) {
  return mpk_dict_del(h, "k");
}
static int d_len(void *h) {
  return (int)mpk_dict_len(h);
}
static int d_foreach(void *h) {
  return mpk_dict_foreach(h, each_entry, NULL);
}
FREE_CALL(d_free, mpk_dict_free)

/* ---- the kinds ------------------------------------------------------------
 */

typedef struct {
  const char *name;
  int (*fn)(void *h);
} call;

#define MAX_CALLS 16
typedef struct {
  const char *name;
  void *(*make)(void);
  void (*destroy)(void *h);
  call calls[MAX_CALLS];
} kind;

#define C(f)                                                                   \
  { #f, f }

static void *mk_queue(int flags) {
  mpk_queue_t *q;
  CHECK_OK(mpk_queue_new(&q, 256, flags));
  return q;
}
static void *mk_q(void) {
  return mk_queue(0);
}
static void *mk_jq(void) {
  return mk_queue(MPK_QUEUE_JOINABLE);
}
static void *mk_sq(void) {
  return mk_queue(MPK_QUEUE_SPSC);
}
static void *mk_lock(void) {
  mpk_lock_t *l;
  CHECK_OK(mpk_lock_new(&l));
  return l;
}
static void *mk_rlock(void) {
  mpk_rlock_t *l;
  CHECK_OK(mpk_rlock_new(&l));
  return l;
}
static void *mk_sem(void) {
  mpk_sem_t *s;
  CHECK_OK(mpk_sem_new(&s, 1, 0));
  return s;
}
static void *mk_event(void) {
  mpk_event_t *e;
  CHECK_OK(mpk_event_new(&e));
  return e;
}
static void *mk_cond(void) {
  mpk_cond_t *c;
  CHECK_OK(mpk_cond_new(&c, NULL));
  return c;
}
static void *mk_barrier(void) {
  mpk_barrier_t *b;
  CHECK_OK(mpk_barrier_new(&b, 2));
  return b;
}
static void *mk_array(void) {
  mpk_array_t *a;
  CHECK_OK(mpk_array_new(&a, MPK_LONG, 4, 1));
  for (size_t i = 0; i < 4; i++)
    mpk_array_store(a, i, 7);
  return a;
}
static void *mk_dict(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  return d;
}
static void rm_queue(void *h) {
  mpk_queue_free(h);
}
static void rm_lock(void *h) {
  mpk_lock_free(h);
}
static void rm_rlock(void *h) {
  mpk_rlock_free(h);
}
static void rm_sem(void *h) {
  mpk_sem_free(h);
}
static void rm_event(void *h) {
  mpk_event_free(h);
}
static void rm_cond(void *h) {
  mpk_cond_free(h);
}
static void rm_barrier(void *h) {
  mpk_barrier_free(h);
}
static void rm_array(void *h) {
  mpk_array_free(h);
}
static void rm_dict(void *h) {
  mpk_dict_free(h);
}

#define QUEUE_CALLS                                                            \
  {                                                                            \
    C(q_put), C(q_put_nowait), C(q_get), C(q_get_nowait), C(q_qsize),          \
        C(q_empty), C(q_full), C(q_capacity), C(q_max_msg), C(q_close),        \
        C(q_task_done), C(q_join), C(q_unfinished), C(q_free)                  \
  }

static const kind kinds[] = {
    {"queue", mk_q, rm_queue, QUEUE_CALLS},
    {"joinable queue", mk_jq, rm_queue, QUEUE_CALLS},
    {"spsc queue", mk_sq, rm_queue, QUEUE_CALLS},
    {"lock",
     mk_lock,
     rm_lock,
     {C(l_acquire), C(l_release), C(l_locked), C(l_cond_new), C(l_free)}},
    {"rlock", mk_rlock, rm_rlock, {C(r_acquire), C(r_release), C(r_free)}},
    {"sem",
     mk_sem,
     rm_sem,
     {C(s_acquire), C(s_release), C(s_value), C(s_free)}},
    {"event",
     mk_event,
     rm_event,
     {C(e_set), C(e_clear), C(e_is_set), C(e_wait), C(e_free)}},
    {"cond",
     mk_cond,
     rm_cond,
     {C(c_acquire), C(c_release), C(c_lock), C(c_wait), C(c_wait_for),
      C(c_notify), C(c_notify_all), C(c_free)}},
    {"barrier",
     mk_barrier,
     rm_barrier,
     {C(b_wait), C(b_abort), C(b_reset), C(b_n_waiting), C(b_broken),
      C(b_parties), C(b_free)}},
    {"array",
     mk_array,
     rm_array,
     {C(a_data), C(a_len), C(a_type), C(a_lock), C(a_unlock), C(a_load),
      C(a_store), C(a_fetch_add), C(a_cas), C(a_free)}},
    {"dict",
     mk_dict,
     rm_dict,
     {C(d_set), C(d_get), C(d_get_alloc), C(d_contains), C(d_del), C(d_len),
      C(d_foreach), C(d_free)}},
};
#define NKINDS (sizeof kinds / sizeof kinds[0])

/* ---- running a kind's calls on one pointer ------------------------------ */

typedef struct {
  const kind *k;
  void *h;
} job;

/* Child: every call of the kind on h must give MPK_EINVAL. */
static int run_calls(void *arg) {
  const job *j = arg;
  for (const call *c = j->k->calls; c->fn != NULL; c++) {
    int r = c->fn(j->h);
    CHECK_MSG(r == MPK_EINVAL, "%s(%p) gave %s (%d), expected MPK_EINVAL",
              c->name, j->h, mpk_err_name(r), r);
  }
  return 0;
}

static void expect_rejected(const kind *k, void *h, const char *what) {
  job j = {k, h};
  int st = check_wait(check_fork(run_calls, &j), 30);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s calls on %s: %s %d",
            k->name, what, WIFEXITED(st) ? "failed, exit" : "crashed, signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void *live[NKINDS]; /* one live object of every kind */

static void *live_of(const char *name) {
  for (size_t i = 0; i < NKINDS; i++)
    if (strcmp(kinds[i].name, name) == 0)
      return live[i];
  CHECK_MSG(0, "no kind %s", name);
  return NULL;
}

static void test_wild_pointers(void) {
  for (size_t i = 0; i < NKINDS; i++)
    live[i] = kinds[i].make();
  /* a plain heap block holding a byte pattern */
  unsigned char *blk = mpk_shm_alloc(4096);
  CHECK(blk != NULL);
  memset(blk, 0x5a, 4096);
  alignas(64) unsigned char stack[256];
  memset(stack, 0, sizeof stack);
  for (size_t i = 0; i < NKINDS; i++) {
    const kind *k = &kinds[i];
    expect_rejected(k, (void *)0x40, "0x40");
    expect_rejected(k, stack, "a stack buffer");
    expect_rejected(k, blk + 64, "the middle of a heap block (aligned)");
    expect_rejected(k, blk + 8, "the middle of a heap block (misaligned)");
    expect_rejected(k, (char *)live[i] + 8, "a live object + 8");
    for (size_t o = 0; o < NKINDS; o++) {
      if (kinds[o].destroy == k->destroy)
        continue; /* the queue kinds are one C type */
      char what[64];
      snprintf(what, sizeof what, "a live %s", kinds[o].name);
      expect_rejected(k, live[o], what);
    }
    /* a copy of a live object outside the shared heap */
    size_t n = mpk_shm_usable_size(live[i]);
    CHECK(n >= 64);
    void *copy = aligned_alloc(64, n);
    CHECK(copy != NULL);
    memcpy(copy, live[i], n);
    expect_rejected(k, copy, "a copy outside the shared heap");
    free(copy);
    /* a freed object of the kind (its memory not handed out again: nothing
       is allocated between this free and the calls) */
    void *dead = k->make();
    k->destroy(dead);
    expect_rejected(k, dead, "a freed object");
  }
  /* the live objects were not touched by any of it */
  CHECK_EQ(mpk_array_load(live_of("array"), 0), 7);
  CHECK_EQ(mpk_queue_qsize(live_of("queue")), 0);
  CHECK_EQ(mpk_sem_value(live_of("sem")), 1);
  CHECK_EQ(mpk_lock_locked(live_of("lock")), 0);
  CHECK_EQ(mpk_dict_len(live_of("dict")), 0);
  for (size_t i = 0; i < NKINDS; i++)
    kinds[i].destroy(live[i]);
  mpk_shm_free(blk);
}

/* The one range check itself: the whole object must lie in the data area,
   starting on a 64-byte boundary. */
static void test_shm_owns(void) {
  void *b = mpk_shm_alloc(64);
  CHECK(b != NULL);
  uintptr_t lo = atomic_load(&mpk__shm_area.lo);
  size_t bytes = atomic_load(&mpk__shm_area.bytes);
  CHECK(bytes > 0);
  CHECK(mpk__shm_owns(b, 64));
  CHECK(!mpk__shm_owns((char *)b + 1, 1));
  CHECK(!mpk__shm_owns((char *)b + 32, 1));
  CHECK(!mpk__shm_owns(NULL, 1));
  CHECK(!mpk__shm_owns((void *)0x40, 64));
  CHECK(mpk__shm_owns((void *)lo, 64));
  CHECK(!mpk__shm_owns((void *)(lo - 64), 64)); /* the allocator's tables */
  CHECK(mpk__shm_owns((void *)(lo + bytes - 64), 64));
  CHECK(!mpk__shm_owns((void *)(lo + bytes - 64), 128)); /* runs off */
  CHECK(!mpk__shm_owns((void *)(lo + bytes), 1));
  CHECK(!mpk__shm_owns((void *)UINTPTR_MAX, 1));
  mpk_shm_free(b);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_wild_pointers);
  CHECK_RUN(test_shm_owns);
  return check_done();
}
