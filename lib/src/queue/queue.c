/* queue/queue.c - Queue and JoinableQueue (see mpk/queue.h).
 *
 * Design
 * ------
 * One shared-heap block holds a small header and the ring. Producers are
 * serialised by a robust producer lock and consumers by a robust consumer
 * lock; a producer and a consumer never take the same lock, so in the
 * one-producer / one-consumer case both sides run in parallel and each
 * lock stays uncontended in its own cache line. (That lock / unlock pair,
 * ~45 ns for glibc's robust error-checking mutex on the target VM, is most
 * of the cost of an uncontended put or get.)
 *
 * Positions. `tail` (producer side) and `head` (consumer side) are 64-bit
 * words packing (message count << 32) | byte position. Positions run over
 * [0, 2 * size) (a "mirrored" index: position p is ring offset p mod size,
 * and head == tail means empty while tail - head == size means full), so the
 * ring size needs no power of two and no division. The counts give qsize
 * exactly, and a JoinableQueue's number of puts, from the same word that
 * publishes a message: nothing can disagree after a crash.
 *
 * Crash consistency: a put writes the header and payload into free space,
 * then publishes with one seq_cst store of `tail`; a get copies the message
 * out, then frees it with one store of `head`. A holder killed before its
 * store changed nothing (the next holder overwrites the half-written bytes,
 * or reads the message again); killed after it, the operation is complete.
 * The hints `head_cache` / `tail_cache` are only ever stale in the safe
 * direction. The robust locks hand a dead holder's lock to the next caller
 * (MPK_EOWNERDEAD), which clears the sleeper flag the dead holder may have
 * left and wakes the other side in case the dead holder published without
 * waking.
 *
 * Waiting. Only the holder of a side lock waits for its condition (room for
 * its message / a message), so at most one process sleeps on each of
 * `space_seq` / `data_seq`; the others queue on the lock itself (FIFO among
 * producers follows). A waiter (wait.c) spins briefly with the library's
 * policy (internal/spin.h: bounded back-off, cut short on an oversubscribed
 * machine), then sets a sleeper flag and sleeps on the futex
 * word. The waker publishes (seq_cst store), then reads the flag
 * (seq_cst load): the Dekker pair guarantees that either the waiter sees
 * the new state before sleeping or the waker sees the flag, claims it
 * (exchange to 0: one wake-up system call per sleep, not one per put while
 * the sleeper gets up), bumps the futex word and wakes it. With nobody asleep a
 * put or get makes no system call. Sleeps are cut into slices (RECHECK_NS,
 * wait.c): a waker killed between publishing and waking delays a sleeper by at
 * most one slice.
 */
#include "mpk/queue.h"

#include <limits.h>
#include <math.h>
#include <sched.h>

#include "internal/clock.h"
#include "internal/futex.h"
#include "internal/robust.h"
#include "internal/error.h"
#include "mpk/shm.h"
#include "queue/queue_internal.h"
#include "queue/ring_internal.h"

/* A poll that finds the lock held by a holder in the middle of a copy waits
   for it at most this long (a stopped holder) before giving up. */
#define POLL_LOCK_NS 1000000L

/* ---- side locks ------------------------------------------------------- */

/* Is the lock holder's side able to proceed without waiting (a message
   queued for W_DATA, `need` bytes free for W_SPACE)? Lock-free snapshot. */
static bool progress_possible(queue *q, wait_kind k, uint32_t need) {
  if (k == W_DATA)
    return atomic_load(&q->tail) != atomic_load(&q->head);
  uint32_t t = w_pos(atomic_load(&q->tail));
  uint32_t h = w_pos(atomic_load(&q->head));
  uint32_t used = used_bytes(q, t, h);
  return used <= q->size && q->size - used >= need;
}

/* Take a side lock before the deadline. The first attempt is one trylock
   with no clock read. When the deadline passes while the lock is held by
   someone in the middle of a copy (the queue shows a message for a get,
   room for a put), keep trying for a little longer: a timeout or a poll
   reports empty / full only after seeing it. MPK_OK, MPK_EOWNERDEAD
   (repaired by the caller), MPK_ETIMEDOUT, MPK_EDEADLK. */
static int lock_side(queue *q, mpk__rmutex *m, wait_kind k, uint32_t need,
                     lazy_deadline *x) {
  static const mpk__deadline past = {.forever = false}; /* one try */
  int r = mpk__rmutex_lock(m, &past);
  if (r != MPK_ETIMEDOUT)
    return r;
  if (x->timeout != 0) {
    r = mpk__rmutex_lock(m, deadline_of(x));
    if (r != MPK_ETIMEDOUT)
      return r;
  }
  int64_t give_up = now_ns() + POLL_LOCK_NS;
  for (unsigned i = 1;; i++) {
    if (!progress_possible(q, k, need))
      return MPK_ETIMEDOUT;
    r = mpk__rmutex_lock(m, &past);
    if (r != MPK_ETIMEDOUT)
      return r;
    if ((i & 63) == 0) {
      if (now_ns() > give_up)
        return MPK_ETIMEDOUT;
      sched_yield(); /* the holder may need this CPU */
    } else {
      mpk__cpu_relax();
    }
  }
}

static int lock_producer(queue *q, uint32_t need, lazy_deadline *x) {
  int r = lock_side(q, &q->plock, W_SPACE, need, x);
  if (r == MPK_EOWNERDEAD) {
    recover_producer(q);
    r = MPK_OK;
  }
  return r;
}

static int lock_consumer(queue *q, lazy_deadline *x) {
  int r = lock_side(q, &q->clock_, W_DATA, 0, x);
  if (r == MPK_EOWNERDEAD) {
    recover_consumer(q);
    r = MPK_OK;
  }
  return r;
}

/* Close step 2: once the producer lock has been held after `closing` was
   set (MPMC), or `tail` is sealed (SPSC), no put can publish any more.
   Idempotent; run by close, or by a get that finds a close half done (its
   caller died). */
int mpk__queue_finish_close(queue *q, const mpk__deadline *d) {
  if (q->spsc) {
    /* seq_cst RMW: a producer's publishing CAS either landed before it (the
       message is queued before close returns) or fails after it. */
    atomic_fetch_or(&q->tail, TAIL_SEALED);
  } else {
    int r = mpk__rmutex_lock(&q->plock, d);
    if (r == MPK_EOWNERDEAD) {
      recover_producer(q);
      r = MPK_OK;
    }
    if (r != MPK_OK)
      return r;
  }
  atomic_store(&q->closed, 1); /* seq_cst: Dekker with a sleeping getter */
  if (!q->spsc)
    mpk__rmutex_unlock(&q->plock);
  mpk__queue_wake(&q->data_seq, &q->get_waiters);
  return MPK_OK;
}

/* ---- public API --------------------------------------------------------- */

int mpk_queue_new(mpk_queue_t **out, size_t capacity_bytes, int flags) {
  if (out == NULL)
    return mpk__err_null("q");
  if ((flags & ~(MPK_QUEUE_JOINABLE | MPK_QUEUE_SPSC)) != 0)
    return mpk__errf(
        MPK_EINVAL, "mpk_queue_new: unknown flag bits 0x%x",
        (unsigned)(flags & ~(MPK_QUEUE_JOINABLE | MPK_QUEUE_SPSC)));
  if (capacity_bytes == 0)
    capacity_bytes = MPK_QUEUE_DEFAULT_CAPACITY;
  if (capacity_bytes > MPK_QUEUE_MAX_CAPACITY)
    return mpk__errf(MPK_EINVAL,
                     "queue capacity %zu bytes > "
                     "MPK_QUEUE_MAX_CAPACITY (%zu)",
                     capacity_bytes, MPK_QUEUE_MAX_CAPACITY);
  size_t size = (capacity_bytes + 7) & ~(size_t)7;
  queue *q = mpk_shm_alloc(sizeof(struct mpk_queue) + size);
  if (q == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_alloc */
  memset(q, 0, sizeof(struct mpk_queue));
  /* MPK_ENOSYS where robust lists are unusable (internal/robust.h). */
  int r = mpk__rmutex_init(&q->plock);
  if (r == MPK_OK)
    r = mpk__rmutex_init(&q->clock_);
  if (r != MPK_OK) {
    mpk_shm_free(q);
    return mpk__errf(r, "queue: robust locks are unusable here");
  }
  q->size = (uint32_t)size;
  q->joinable = (flags & MPK_QUEUE_JOINABLE) != 0;
  q->spsc = (flags & MPK_QUEUE_SPSC) != 0;
  q->magic = QUEUE_MAGIC; /* others get q through fork or a synchronised
                             hand-over, which orders these stores */
  *out = q;
  return MPK_OK;
}

static int put_impl(queue *q, const void *buf, size_t len, double timeout) {
  if (!valid(q))
    return mpk__err_handle("mpk_queue_put", q, "q", "mpk_queue_t");
  if (buf == NULL && len > 0)
    return mpk__errf(MPK_EINVAL, "mpk_queue_put: buf is NULL with len %zu",
                     len);
  if (isnan(timeout))
    return mpk__errf(MPK_EINVAL, "mpk_queue_put: timeout is NaN");
  if (len > q->size - HDR)
    return mpk__errf(MPK_EMSGSIZE,
                     "message of %zu bytes > the queue's "
                     "largest (%u bytes; capacity %u)",
                     len, q->size - HDR, q->size);
  if (q->spsc)
    return mpk__queue_put_spsc(q, buf, len, timeout);
  lazy_deadline d;
  lazy_init(&d, timeout);
  int late = timeout == 0 ? MPK_EFULL : MPK_ETIMEDOUT;
  uint32_t need = msg_bytes(len);
  if (atomic_load_explicit(&q->closing, memory_order_acquire))
    return mpk__err(MPK_ECLOSED);
  if (timeout == 0 && !progress_possible(q, W_SPACE, need))
    return mpk__err(MPK_EFULL); /* a poll that sees no room: no lock */
  int r = lock_producer(q, need, &d);
  if (r != MPK_OK) {
    if (r != MPK_ETIMEDOUT)
      return mpk__err(r);
    return mpk__err(atomic_load(&q->closing) ? MPK_ECLOSED : late);
  }
  /* We are the only writer of tail and head_cache: relaxed loads. */
  uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  uint64_t h = atomic_load_explicit(&q->head_cache, memory_order_relaxed);
  if (q->size - used_bytes(q, w_pos(t), w_pos(h)) < need) {
    /* acquire: the consumers' copies out of that space are complete */
    for (;;) {
      h = atomic_load_explicit(&q->head, memory_order_acquire);
      if (q->size - used_bytes(q, w_pos(t), w_pos(h)) >= need || r != MPK_OK ||
          atomic_load(&q->closing))
        break;
      r = mpk__queue_wait(q, W_SPACE, need, deadline_of(&d));
    }
    atomic_store_explicit(&q->head_cache, h, memory_order_relaxed);
  }
  /* Checked under the lock, after any wait: close's step 2 takes this lock,
     so once close returns no put gets past this point. */
  if (atomic_load_explicit(&q->closing, memory_order_acquire))
    r = MPK_ECLOSED;
  if (r != MPK_OK) {
    mpk__rmutex_unlock(&q->plock);
    return mpk__err(r == MPK_ETIMEDOUT ? late : r);
  }
  uint64_t next = msg_write(q, t, buf, len);
  /* The one store that publishes the message (seq_cst: release for the
     payload, and ordered before the waiter check in mpk__queue_wake()). */
  atomic_store(&q->tail, next);
  /* Wake before unlocking: if we die in between, the next producer's
     EOWNERDEAD recovery wakes the getter for us. */
  mpk__queue_wake(&q->data_seq, &q->get_waiters);
  mpk__rmutex_unlock(&q->plock);
  return MPK_OK;
}

static int get_impl(queue *q, void *buf, size_t cap, size_t *len,
                    double timeout) {
  if (!valid(q))
    return mpk__err_handle("mpk_queue_get", q, "q", "mpk_queue_t");
  if (len == NULL || (buf == NULL && cap > 0))
    return mpk__errf(MPK_EINVAL, "mpk_queue_get: %s",
                     len == NULL ? "len is NULL" : "buf is NULL with cap > 0");
  if (isnan(timeout))
    return mpk__errf(MPK_EINVAL, "mpk_queue_get: timeout is NaN");
  if (q->spsc)
    return mpk__queue_get_spsc(q, buf, cap, len, timeout);
  lazy_deadline d;
  lazy_init(&d, timeout);
  int late = timeout == 0 ? MPK_EEMPTY : MPK_ETIMEDOUT;
  if (timeout == 0 && !progress_possible(q, W_DATA, 0)) {
    /* A poll that sees nothing queued answers without the lock. */
    if (atomic_load(&q->closed) && !progress_possible(q, W_DATA, 0))
      return mpk__err(MPK_ECLOSED);
    if (!atomic_load(&q->closing))
      return mpk__err(MPK_EEMPTY);
  }
  int r = lock_consumer(q, &d);
  if (r != MPK_OK) {
    if (r != MPK_ETIMEDOUT)
      return mpk__err(r);
    bool drained = atomic_load(&q->tail) == atomic_load(&q->head);
    return mpk__err(drained && atomic_load(&q->closed) ? MPK_ECLOSED : late);
  }
  uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&q->tail_cache, memory_order_relaxed);
  while (h == t) {
    /* acquire: pairs with the producer's publishing store */
    t = atomic_load_explicit(&q->tail, memory_order_acquire);
    atomic_store_explicit(&q->tail_cache, t, memory_order_relaxed);
    if (h != t)
      break;
    if (atomic_load_explicit(&q->closed, memory_order_acquire)) {
      r = MPK_ECLOSED;
    } else if (atomic_load_explicit(&q->closing, memory_order_acquire)) {
      /* the closer may have died half-way */
      r = mpk__queue_finish_close(q, deadline_of(&d));
      if (r == MPK_OK)
        continue;
    } else {
      r = mpk__queue_wait(q, W_DATA, 0, deadline_of(&d));
      if (r == MPK_OK)
        continue;
    }
    mpk__rmutex_unlock(&q->clock_);
    return mpk__err(r == MPK_ETIMEDOUT ? late : r);
  }
  size_t n = 0;
  uint64_t next = h;
  r = msg_read(q, h, buf, cap, &n, &next);
  if (r != MPK_OK) {
    mpk__rmutex_unlock(&q->clock_);
    if (r != MPK_EMSGSIZE)
      return mpk__err(r);
    *len = n; /* the message stays queued */
    return mpk__errf(r,
                     "message of %zu bytes > the %zu-byte buffer (it "
                     "stays queued)",
                     n, cap);
  }
  /* Copied out: now free it with one store (seq_cst: release for the
     producers that reuse the space, ordered before the waiter check). */
  atomic_store(&q->head, next);
  mpk__queue_wake(&q->space_seq, &q->put_waiters);
  mpk__rmutex_unlock(&q->clock_);
  *len = n;
  return MPK_OK;
}

int mpk_queue_put(mpk_queue_t *q, const void *buf, size_t len, double timeout) {
  return put_impl(q, buf, len, timeout);
}

int mpk_queue_get(mpk_queue_t *q, void *buf, size_t cap, size_t *len,
                  double timeout) {
  return get_impl(q, buf, cap, len, timeout);
}

int mpk_queue_put_nowait(mpk_queue_t *q, const void *buf, size_t len) {
  return put_impl(q, buf, len, 0);
}

int mpk_queue_get_nowait(mpk_queue_t *q, void *buf, size_t cap, size_t *len) {
  return get_impl(q, buf, cap, len, 0);
}

long mpk_queue_qsize(mpk_queue_t *q) {
  if (!valid(q))
    return mpk__err_handle(__func__, q, "q", "mpk_queue_t");
  /* head first: tail only grows, so the difference is never negative */
  uint64_t h = atomic_load(&q->head);
  uint64_t t = atomic_load(&q->tail);
  return (long)(uint32_t)(w_count(t) - w_count(h));
}

int mpk_queue_empty(mpk_queue_t *q) {
  if (!valid(q))
    return mpk__err_handle(__func__, q, "q", "mpk_queue_t");
  return mpk_queue_qsize(q) == 0;
}

int mpk_queue_full(mpk_queue_t *q) {
  if (!valid(q))
    return mpk__err_handle(__func__, q, "q", "mpk_queue_t");
  /* tail first: the used bytes are then never over-counted */
  uint32_t t = w_pos(atomic_load(&q->tail));
  uint32_t h = w_pos(atomic_load(&q->head));
  uint32_t used = used_bytes(q, t, h);
  return used <= q->size && q->size - used < HDR;
}

size_t mpk_queue_capacity(const mpk_queue_t *q) {
  return valid(q) ? q->size : 0;
}

size_t mpk_queue_max_msg(const mpk_queue_t *q) {
  return valid(q) ? q->size - HDR : 0;
}

int mpk_queue_close(mpk_queue_t *q) {
  if (!valid(q))
    return mpk__err_handle(__func__, q, "q", "mpk_queue_t");
  atomic_store(&q->closing, 1); /* seq_cst: Dekker with a sleeping putter */
  mpk__queue_wake(&q->space_seq, &q->put_waiters);
  mpk__deadline forever = {.forever = true};
  int r = mpk__queue_finish_close(q, &forever);
  return r == MPK_OK ? MPK_OK : mpk__err(r);
}

int mpk_queue_task_done(mpk_queue_t *q) { /* AS-safe: literal details */
  if (!valid(q))
    return mpk__err_lit(MPK_EINVAL, "mpk_queue_task_done: q is NULL or not "
                                    "a live mpk_queue_t");
  if (!q->joinable)
    return mpk__err_lit(MPK_ENOTSUP, "mpk_queue_task_done: the queue was "
                                     "not made with MPK_QUEUE_JOINABLE");
  uint32_t d = atomic_load_explicit(&q->done, memory_order_relaxed);
  for (;;) {
    /* puts only grow, so d < puts stays true until our CAS lands */
    if (d == w_count(atomic_load(&q->tail)))
      return mpk__err_lit(MPK_EOVERFLOW, "mpk_queue_task_done: called more "
                                         "times than messages were put");
    if (atomic_compare_exchange_weak(&q->done, &d, d + 1))
      break;
  }
  /* Dekker with join: our seq_cst CAS, then its registration flag; the
     exchange claims the wake-up as in mpk__queue_wake. */
  if (atomic_load(&q->join_waiters) != 0 &&
      d + 1 == w_count(atomic_load(&q->tail)) &&
      atomic_exchange(&q->join_waiters, 0) != 0)
    mpk__futex_wake(&q->done, INT_MAX);
  return MPK_OK;
}

int mpk_queue_join(mpk_queue_t *q, double timeout) {
  if (!valid(q))
    return mpk__err_handle(__func__, q, "q", "mpk_queue_t");
  if (!q->joinable)
    return mpk__errf(MPK_ENOTSUP, "mpk_queue_join: the queue was not made "
                                  "with MPK_QUEUE_JOINABLE");
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  int r = mpk__queue_wait(q, W_JOIN, 0, &d);
  return r == MPK_OK ? MPK_OK : mpk__err(r);
}

long mpk_queue_unfinished(mpk_queue_t *q) {
  if (!valid(q))
    return mpk__err_handle(__func__, q, "q", "mpk_queue_t");
  if (!q->joinable)
    return 0;
  uint32_t d = atomic_load(&q->done);
  return (long)(uint32_t)(w_count(atomic_load(&q->tail)) - d);
}

void mpk_queue_free(mpk_queue_t *q) {
  if (!valid(q))
    return;
  q->magic = 0;
  mpk__rmutex_destroy(&q->plock);
  mpk__rmutex_destroy(&q->clock_);
  mpk_shm_free(q);
}

uint32_t mpk__queue_missed_wakes(const mpk_queue_t *q) {
  return valid(q) ? atomic_load(&q->missed_wakes) : 0;
}
