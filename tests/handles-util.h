/* tests/handles-util.h - every public call on a shared-heap object, as an
   int (void *h) adapter, grouped by kind (Queue in its three kinds, Lock,
   RLock, Semaphore, Event, Condition, Barrier, Array, Dict), with a maker
   and a destroyer per kind. Used by handles.wild (every call on every wild
   pointer) and by mpk-chaos (random calls on random wild pointers).
   File-static; include after check.h. */
#ifndef MPK_TESTS_HANDLES_UTIL_H
#define MPK_TESTS_HANDLES_UTIL_H

#include <stdlib.h>

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

/* ---- the kinds ----------------------------------------------------------
 */

typedef struct {
  const char *name;
  int (*fn)(void *h);
} hu_call;

#define HU_MAX_CALLS 16
typedef struct {
  const char *name;
  void *(*make)(void);
  void (*destroy)(void *h);
  hu_call calls[HU_MAX_CALLS];
} hu_kind;

#define HU_C(f)                                                                \
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
    HU_C(q_put), HU_C(q_put_nowait), HU_C(q_get), HU_C(q_get_nowait),          \
        HU_C(q_qsize), HU_C(q_empty), HU_C(q_full), HU_C(q_capacity),          \
        HU_C(q_max_msg), HU_C(q_close), HU_C(q_task_done), HU_C(q_join),       \
        HU_C(q_unfinished), HU_C(q_free)                                       \
  }

static const hu_kind hu_kinds[] = {
    {"queue", mk_q, rm_queue, QUEUE_CALLS},
    {"joinable queue", mk_jq, rm_queue, QUEUE_CALLS},
    {"spsc queue", mk_sq, rm_queue, QUEUE_CALLS},
    {"lock",
     mk_lock,
     rm_lock,
     {HU_C(l_acquire), HU_C(l_release), HU_C(l_locked), HU_C(l_cond_new),
      HU_C(l_free)}},
    {"rlock",
     mk_rlock,
     rm_rlock,
     {HU_C(r_acquire), HU_C(r_release), HU_C(r_free)}},
    {"sem",
     mk_sem,
     rm_sem,
     {HU_C(s_acquire), HU_C(s_release), HU_C(s_value), HU_C(s_free)}},
    {"event",
     mk_event,
     rm_event,
     {HU_C(e_set), HU_C(e_clear), HU_C(e_is_set), HU_C(e_wait), HU_C(e_free)}},
    {"cond",
     mk_cond,
     rm_cond,
     {HU_C(c_acquire), HU_C(c_release), HU_C(c_lock), HU_C(c_wait),
      HU_C(c_wait_for), HU_C(c_notify), HU_C(c_notify_all), HU_C(c_free)}},
    {"barrier",
     mk_barrier,
     rm_barrier,
     {HU_C(b_wait), HU_C(b_abort), HU_C(b_reset), HU_C(b_n_waiting),
      HU_C(b_broken), HU_C(b_parties), HU_C(b_free)}},
    {"array",
     mk_array,
     rm_array,
     {HU_C(a_data), HU_C(a_len), HU_C(a_type), HU_C(a_lock), HU_C(a_unlock),
      HU_C(a_load), HU_C(a_store), HU_C(a_fetch_add), HU_C(a_cas),
      HU_C(a_free)}},
    {"dict",
     mk_dict,
     rm_dict,
     {HU_C(d_set), HU_C(d_get), HU_C(d_get_alloc), HU_C(d_contains),
      HU_C(d_del), HU_C(d_len), HU_C(d_foreach), HU_C(d_free)}},
};
#define HU_NKINDS (sizeof hu_kinds / sizeof hu_kinds[0])

#endif
