/* call.c - the life cycle of one call (the job / work-share layer):
 * pool memory and copies, reserving a ring slot, publishing, waiting for
 * completion (spin, then the progress futex), and finishing (errors,
 * copy-out, release). The entry points in ops.c, reduce.c and async.c are
 * thin layers over it.
 */
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "mpk/shm.h"
#include "pool/pool_internal.h"

/* The caller spins at most this long for its own call before sleeping. */
#define CALLER_SPIN_MAX_NS 1000000

/* ---- memory --------------------------------------------------------------
 */

void *mpk__pool_alloc(const mpk_pool_t *p, size_t size) {
  if (size == 0)
    size = 1;
  if (p->backend == MPK_PROCESS)
    return mpk_shm_alloc(size);
  if (size > SIZE_MAX - 63)
    return NULL;
  return aligned_alloc(64, (size + 63) & ~(size_t)63);
}

void mpk__mem_free(mpk_backend backend, void *mem) {
  if (mem == NULL)
    return;
  if (backend == MPK_PROCESS)
    mpk_shm_free(mem);
  else
    free(mem);
}

void mpk__pool_free_mem(const mpk_pool_t *p, void *mem) {
  mpk__mem_free(p->backend, mem);
}

int mpk__pool_nomem(const mpk_pool_t *p, size_t size, const char *what) {
  if (p->backend == MPK_PROCESS)
    return mpk__errf(MPK_ENOMEM,
                     "shared heap full: no %zu bytes for %s "
                     "(MPK_SHM_SIZE sets its size)",
                     size, what);
  return mpk__errf(MPK_ENOMEM, "out of memory: no %zu bytes for %s", size,
                   what);
}

int mpk__prep_copy(const mpk_pool_t *p, const void *src, size_t size,
                   size_t limit, void **owned) {
  *owned = NULL;
  if (size <= limit)
    return MPK_OK;
  void *m = mpk__pool_alloc(p, size);
  if (m == NULL)
    return mpk__pool_nomem(p, size, "a staged copy");
  memcpy(m, src, size);
  *owned = m;
  return MPK_OK;
}

void *mpk__place(mpk__job *j, size_t off, const void *src, size_t size,
                 void *owned) {
  if (size == 0)
    return NULL;
  if (owned)
    return owned;
  memcpy(j->inline_buf + off, src, size);
  return j->inline_buf + off;
}

/* ---- the call life cycle ------------------------------------------------ */

static uint64_t min_pos(mpk_pool_t *p) {
  uint64_t m = UINT64_MAX;
  for (unsigned i = 0; i < p->W; i++) {
    /* acquire: pairs with the worker's release store of pos, after its last
       access to the slot being reused */
    uint64_t v = atomic_load_explicit(&p->slots[i].pos, memory_order_acquire);
    if (v < m)
      m = v;
  }
  return m;
}

/* Ring slot of seq t reusable? (mu held) */
static bool slot_free_locked(mpk_pool_t *p, uint64_t t) {
  if (atomic_load(&p->owner[t & (p->R - 1)]) != NULL)
    return false;
  if (t <= p->R)
    return true;
  uint64_t need = t - p->R; /* every pos must exceed it */
  if (p->min_pos > need)
    return true;
  p->min_pos = min_pos(p);
  return p->min_pos > need;
}

/* The pool takes no more jobs: a submission would fail, not wait. */
static bool refusing(mpk_pool_t *p) {
  int st = atomic_load(&p->state);
  return st == MPK__P_TERMINATED || st == MPK__P_JOINED ||
         atomic_load(&p->broken);
}

typedef struct {
  mpk_pool_t *p;
  uint64_t t;
} slot_wait;

static bool slot_pred(void *arg) {
  slot_wait *sw = arg;
  mpk_pool_t *p = sw->p;
  if (refusing(p))
    return true;
  if (atomic_load(&p->owner[sw->t & (p->R - 1)]) != NULL)
    return false;
  return sw->t <= p->R || min_pos(p) > sw->t - p->R;
}

bool mpk__ring_has_room(mpk_pool_t *p) {
  pthread_mutex_lock(&p->mu);
  bool room = refusing(p) || slot_free_locked(p, p->next_seq);
  pthread_mutex_unlock(&p->mu);
  return room;
}

static void publish(mpk_pool_t *p, uint64_t t, const mpk__job *j) {
  mpk__pool_ctl *c = p->ctl;
  /* seq_cst store: orders the descriptor before workers read it (they load
     pub with acquire), and before our read of `sleepers` (Dekker with the
     sleeping worker). */
  atomic_store(&c->pub, t);
  atomic_fetch_add(&c->pub_tok, 1);
  if (atomic_load(&c->sleepers) > 0) {
    int n = INT32_MAX;
    if (!mpk__plan_shares(&j->plan) && j->plan.nchunks < (size_t)INT32_MAX)
      n = (int)j->plan.nchunks;
    mpk__futex_wake(&c->pub_tok, n);
  }
}

int mpk__call_submit(mpk__call *c, int (*fill)(mpk__call *, mpk__job *, void *),
                     void *arg, unsigned flags) {
  mpk_pool_t *p = c->pool;
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  pthread_mutex_lock(&p->mu);
  for (;;) {
    int st = atomic_load(&p->state);
    if (st != MPK__P_OPEN &&
        !((flags & MPK__SUBMIT_CLOSED) && st == MPK__P_CLOSED)) {
      pthread_mutex_unlock(&p->mu);
      return mpk__pool_state_err(p);
    }
    if (atomic_load(&p->broken)) {
      pthread_mutex_unlock(&p->mu);
      return mpk__errf(MPK_EWORKER,
                       "every worker of the pool is out of "
                       "service (init failed, a replacement could not be "
                       "forked, or it died 3 times while starting)");
    }
    if (slot_free_locked(p, p->next_seq))
      break;
    if (flags & MPK__SUBMIT_NOWAIT) {
      pthread_mutex_unlock(&p->mu);
      return MPK_EAGAIN;
    }
    slot_wait sw = {p, p->next_seq};
    pthread_mutex_unlock(&p->mu);
    mpk__progress_wait(p, slot_pred, &sw, &forever, true);
    pthread_mutex_lock(&p->mu);
  }
  uint64_t t = p->next_seq;
  mpk__job *j = &p->ring[t & (p->R - 1)];
  mpk__job_reset(j, t, p->W);
  j->kind = (uint32_t)c->kind;
  int rc = fill(c, j, arg);
  if (rc != MPK_OK) {
    pthread_mutex_unlock(&p->mu);
    return rc;
  }
  p->next_seq = t + 1;
  c->seq = t;
  c->job = j;
  atomic_store(&p->owner[t & (p->R - 1)], c);
  if (c->async) { /* in the completion list before anyone can join */
    c->next = NULL;
    if (p->async_tail)
      p->async_tail->next = c;
    else
      p->async_head = c;
    p->async_tail = c;
  }
  publish(p, t, j);
  pthread_mutex_unlock(&p->mu);
  return MPK_OK;
}

bool mpk__call_ready(mpk__call *c) {
  if (atomic_load_explicit(&c->ready, memory_order_acquire))
    return true;
  if (mpk__job_done(c->job) || atomic_load(&c->pool->aborted)) {
    atomic_store_explicit(&c->ready, true, memory_order_release);
    return true;
  }
  return false;
}

static bool ready_pred(void *arg) {
  return mpk__call_ready(arg);
}

int mpk__progress_wait(mpk_pool_t *p, bool (*pred)(void *), void *arg,
                       const mpk__deadline *d, bool spin) {
  mpk__pool_ctl *c = p->ctl;
  if (pred(arg))
    return MPK_OK;
  int64_t budget =
      c->spin_ns < CALLER_SPIN_MAX_NS ? c->spin_ns : CALLER_SPIN_MAX_NS;
  if (spin && budget > 0) {
    double now = mpk__now(), end = now + (double)budget * 1e-9;
    double yield_every = (double)c->yield_ns * 1e-9, next_yield = now;
    for (unsigned i = 1;; i++) {
      if (pred(arg))
        return MPK_OK;
      mpk__cpu_relax();
      if ((i & 63) == 0) {
        now = mpk__now();
        if (now >= end)
          break;
        if (!d->forever && mpk__deadline_expired(d))
          return MPK_ETIMEDOUT;
        if (yield_every > 0 && now >= next_yield + yield_every) {
          if (mpk__pu_wanted(p, 0))
            sched_yield(); /* the worker of our PU is awake */
          next_yield = now;
        }
      }
    }
  }
  for (;;) {
    /* seq_cst: waiters++ before re-testing pairs with a worker's bit clear
       before it reads waiters (worker.c, visit). */
    atomic_fetch_add(&c->waiters, 1);
    uint32_t v = atomic_load(&c->progress);
    if (pred(arg)) {
      atomic_fetch_sub(&c->waiters, 1);
      return MPK_OK;
    }
    int r = mpk__futex_wait(&c->progress, v, d);
    atomic_fetch_sub(&c->waiters, 1);
    if (pred(arg))
      return MPK_OK;
    if (r == MPK_ETIMEDOUT)
      return MPK_ETIMEDOUT;
  }
}

bool mpk__pu_wanted(const mpk_pool_t *p, uint64_t seq) {
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= p->n_pu || p->pu_worker[cpu] < 0)
    return false;
  mpk__wslot *s = &p->slots[p->pu_worker[cpu]];
  if (atomic_load_explicit(&s->sleeping, memory_order_relaxed))
    return false;
  return seq == 0 || atomic_load_explicit(&s->pos, memory_order_relaxed) <= seq;
}

/* The caller has spun YIELD_NS in vain: if it runs on the PU of a pinned
   worker, advertise it (the worker yields it back once idle) and yield it
   now if that worker has yet to do its part of job seq. */
static void stuck_on_pu(mpk_pool_t *p, uint64_t seq, int *advertised) {
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu >= p->n_pu || p->pu_worker[cpu] < 0)
    return;
  if (*advertised != cpu) {
    atomic_store_explicit(&p->ctl->wait_pu, cpu, memory_order_relaxed);
    *advertised = cpu;
  }
  if (mpk__pu_wanted(p, seq))
    sched_yield();
}

static void unadvertise(mpk_pool_t *p, int advertised) {
  if (advertised < 0)
    return;
  int32_t v = advertised;
  atomic_compare_exchange_strong_explicit(
      &p->ctl->wait_pu, &v, -1, memory_order_relaxed, memory_order_relaxed);
}

int mpk__call_wait(mpk__call *c, const mpk__deadline *d) {
  mpk_pool_t *p = c->pool;
  mpk__pool_ctl *ctl = p->ctl;
  /* Spin on the job's completion line; test completion (which reads the
     counters line) only when a worker has left since the last test. The
     baseline is read BEFORE the first test, so a leave after it is seen. */
  uint32_t seen = atomic_load(&c->job->left);
  int advertised = -1;
  if (mpk__call_ready(c))
    return MPK_OK;
  int64_t budget =
      ctl->spin_ns < CALLER_SPIN_MAX_NS ? ctl->spin_ns : CALLER_SPIN_MAX_NS;
  if (budget > 0) {
    double now = mpk__now(), end = now + (double)budget * 1e-9;
    double yield_every = (double)ctl->yield_ns * 1e-9, last_yield = now;
    for (unsigned i = 1;; i++) {
      uint32_t l = atomic_load_explicit(&c->job->left, memory_order_relaxed);
      if (l != seen) {
        seen = l;
        if (mpk__call_ready(c))
          goto done;
      }
      mpk__cpu_relax();
      if ((i & 63) == 0) {
        now = mpk__now();
        if (now >= end || atomic_load(&p->aborted))
          break;
        if (!d->forever && mpk__deadline_expired(d)) {
          unadvertise(p, advertised);
          return MPK_ETIMEDOUT;
        }
        if (yield_every > 0 && now >= last_yield + yield_every) {
          stuck_on_pu(p, c->seq, &advertised);
          last_yield = now;
        }
      }
    }
  }
  int rc = mpk__progress_wait(p, ready_pred, c, d, false);
  unadvertise(p, advertised);
  return rc;
done:
  unadvertise(p, advertised);
  return MPK_OK;
}

static void free_bufs(mpk__call *c) {
  mpk_pool_t *p = c->pool;
  mpk__pool_free_mem(p, c->buf_ctx);
  mpk__pool_free_mem(p, c->buf_in);
  mpk__pool_free_mem(p, c->buf_out);
  mpk__pool_free_mem(p, c->buf_acc);
  mpk__pool_free_mem(p, c->buf_id);
  c->buf_ctx = c->buf_in = c->buf_out = c->buf_acc = c->buf_id = NULL;
}

void mpk__call_discard(mpk__call *c) {
  free_bufs(c);
}

int mpk__call_finish(mpk__call *c) {
  mpk_pool_t *p = c->pool;
  mpk__job *j = c->job;
  mpk__failure f;
  int code = mpk__job_error(j, &f);
  /* Aborted (terminated, or every worker gone) before it completed: no
     worker is left, so the job's state is final. */
  if (code == MPK_OK && atomic_load(&p->aborted) && !mpk__job_done(j))
    code = f.code = MPK_ECLOSED;
  if (code == MPK_OK) {
    switch (c->kind) {
    case MPK__JOB_MAP:
      if (c->buf_out && c->user_out)
        memcpy(c->user_out, c->buf_out, c->out_bytes);
      break;
    case MPK__JOB_APPLY:
      if (c->result_size)
        memcpy(c->user_result, j->out, c->result_size);
      break;
    case MPK__JOB_REDUCE_D:
    case MPK__JOB_REDUCE_G: mpk__reduce_finish(c); break;
    default: break;
    }
  }
  free_bufs(c);
  c->status = code;
  c->err = f;
  if (code == MPK_ETASK || code == MPK_EWORKER || code == MPK_ETIMEDOUT)
    mpk__set_last_error(p, &f);
  /* seq_cst, not only release (everything we did with the slot happens
     before its reuse): a submitter, join or a starved iterator waiting for
     this slot bumps `waiters` and then reads owner; we store owner and then
     read `waiters` in mpk__progress_wake. Both sides seq_cst, one of us sees
     the other (a release store could pass our load of `waiters`, and the
     wake-up would be lost). Under mu: terminate, join and the monitor
     scan owner[] under mu and dereference the call they find, which its
     owner may free as soon as this returns; no caller holds mu here. */
  pthread_mutex_lock(&p->mu);
  atomic_store(&p->owner[c->seq & (p->R - 1)], NULL);
  pthread_mutex_unlock(&p->mu);
  c->finished = true;
  mpk__progress_wake(p->ctl); /* a submitter may wait for this slot */
  return code;
}

int mpk__call_run(mpk__call *c, int (*fill)(mpk__call *, mpk__job *, void *),
                  void *arg) {
  int rc = mpk__call_submit(c, fill, arg, 0);
  if (rc != MPK_OK) {
    mpk__call_discard(c);
    return rc;
  }
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  mpk__call_wait(c, &forever);
  rc = mpk__call_finish(c);
  return rc == MPK_OK ? MPK_OK : mpk__failure_errf(c->pool, &c->err);
}
