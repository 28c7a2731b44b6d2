/* queue/spsc.c - the lock-free single-producer / single-consumer mode of a
 * Queue (mpk_queue_new with MPK_QUEUE_SPSC; see mpk/queue.h).
 *
 * Design
 * ------
 * The same shared layout, ring, message framing (msg_write / msg_read), wait
 * layer (wait.c) and close protocol as the MPMC mode (queue.c), without the
 * two robust side locks. Each index has exactly one writer: `tail` only the
 * producer owner (and close, which only sets TAIL_SEALED), `head` only the
 * consumer owner; each owner keeps its copy of the other index
 * (head_cache / tail_cache) on its own line and reads the peer's line only
 * when that copy says full / empty.
 *
 * One locked instruction per operation. A put writes the message into free
 * space, then publishes it with one seq_cst CAS of `tail` (release for the
 * payload); a get copies the message out, then frees it with one seq_cst
 * store of `head`. Each is followed by the sleeper-flag check of
 * mpk__queue_wake() (a seq_cst load). No lost wake-up: a sleeper (wait.c)
 * stores its flag seq_cst, then loads the index seq_cst before it sleeps;
 * the publisher's RMW / store and its flag load are seq_cst too. In the
 * single total order of these four operations either the sleeper's flag
 * store precedes the publisher's flag load (the publisher sees the flag and
 * wakes it: futex word bumped after the sleeper read it, so futex_wait
 * returns at once), or the publisher's index update precedes the sleeper's
 * index load (the sleeper sees the message / room and does not sleep).
 * With nobody asleep no system call is made.
 *
 * Close. Close sets `closing`, then seals the tail with a seq_cst fetch_or
 * of TAIL_SEALED (mpk__queue_finish_close). The producer's publishing CAS
 * expects a word without that bit, so it either landed before the seal (the
 * message is queued before close returns) or fails (MPK_ECLOSED, nothing
 * queued). Close never waits for the producer, alive, stopped or dead. A
 * get that finds the queue empty and `closing` set but not sealed (the
 * closer died half-way) seals it itself.
 *
 * Ownership. The SPSC contract is enforced, not assumed: the first thread to
 * put becomes the producer owner, the first to get the consumer owner (the
 * same thread may be both). The owner word holds (tid << 32) | the low 32
 * bits of the thread's start time (field 22 of /proc/<tid>/stat, clock
 * ticks since boot), so a thread id recycled by a later thread is not taken
 * for the owner. A put / get by another thread while the owner is alive is
 * MPK_EPERM. The owner is dead when /proc/<tid>/stat is gone, shows a zombie
 * (a SIGKILLed process not yet reaped counts as dead: none of its threads
 * can run), or shows another start time; without /proc, when kill(tid, 0)
 * fails with ESRCH. A caller that finds the owner dead takes the side over
 * with a CAS (one winner among several candidates), clears the sleeper flag
 * the dead owner may have left and wakes the other side (it may have
 * published without waking), exactly as MPMC's EOWNERDEAD recovery does.
 * The fast-path check is one load of the owner word (on the owner's own
 * line) compared with the cached thread id (mpk__tid(), reset in a forked
 * child), no system call. A thread whose id equals a dead owner's passes that
 * check without the recovery step; the dead owner left nothing to repair
 * but a stale sleeper flag (one spurious wake-up) or an unwoken peer (which
 * re-checks within 20 ms).
 *
 * Crash consistency. Killed before its CAS, a producer changed nothing
 * visible: its half-written bytes sit in free space and the next owner
 * overwrites them ("no message completely put is lost", and none is torn).
 * Killed before its store of `head`, a consumer leaves the message queued;
 * after it, the message is gone with it (as in MPMC mode). A new owner
 * starts from the shared indices only; it re-derives its cached copy of the
 * peer's index (the dead owner's copy is not ordered against its last index
 * store for us). The dead owner's last index update is visible to the
 * taker: it happened before the owner's thread was gone, which the taker
 * observed through the kernel (/proc read or kill), a full barrier.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "internal/robust.h"
#include "queue/ring_internal.h"

/* ---- ownership ----------------------------------------------------------- */

enum { STAT_GONE = 0, STAT_OK = 1, STAT_UNKNOWN = -1 };

/* State letter and start time (low 32 bits) of thread `tid` from
   /proc/<tid>/stat (the per-thread entry is reachable by thread id).
   STAT_GONE when the thread does not exist, STAT_UNKNOWN when /proc cannot
   tell (not mounted, no permission). */
static int thread_stat(uint32_t tid, char *state, uint32_t *start) {
  char path[32], b[1024];
  snprintf(path, sizeof path, "/proc/%u/stat", (unsigned)tid);
  int fd;
  do
    fd = open(path, O_RDONLY | O_CLOEXEC);
  while (fd < 0 && errno == EINTR);
  if (fd < 0)
    return errno == ENOENT || errno == ESRCH ? STAT_GONE : STAT_UNKNOWN;
  ssize_t n;
  do
    n = read(fd, b, sizeof b - 1);
  while (n < 0 && errno == EINTR);
  int err = errno;
  close(fd);
  if (n < 0)
    return err == ESRCH ? STAT_GONE : STAT_UNKNOWN; /* exited meanwhile */
  b[n] = '\0';
  /* "tid (comm) S ppid ... starttime ...": comm may hold spaces and
     parentheses, so fields are counted from the last ')'. The state is
     field 3, the start time field 22. */
  char *p = strrchr(b, ')');
  if (p == NULL || p[1] != ' ' || p[2] == '\0')
    return STAT_UNKNOWN;
  *state = p[2];
  p += 3;
  for (int field = 4; field <= 22; field++) {
    p = strchr(p, ' ');
    if (p == NULL)
      return STAT_UNKNOWN;
    p++;
  }
  *start = (uint32_t)strtoull(p, NULL, 10);
  return STAT_OK;
}

/* The calling thread's owner word. Start time 0 when /proc cannot tell. */
static uint64_t my_identity(uint32_t tid) {
  char state;
  uint32_t start = 0;
  if (thread_stat(tid, &state, &start) != STAT_OK)
    start = 0;
  return (uint64_t)tid << 32 | start;
}

static bool owner_alive(uint64_t w) {
  uint32_t tid = (uint32_t)(w >> 32), start = (uint32_t)w, now = 0;
  char state = '?';
  int r = thread_stat(tid, &state, &now);
  if (r == STAT_GONE)
    return false;
  if (r == STAT_UNKNOWN)
    return kill((pid_t)tid, 0) == 0 || errno != ESRCH;
  if (state == 'Z' || state == 'X' || state == 'x')
    return false; /* exited, not yet reaped: it can never run again */
  return start == 0 || now == start; /* another start: the id was recycled */
}

/* Make the caller the owner of the side whose owner word is *owner, unless
   a live thread owns it. MPK_OK or MPK_EPERM. */
static int claim(queue *q, _Atomic uint64_t *owner, bool producer) {
  uint32_t tid = mpk__tid();
  uint64_t cur = atomic_load_explicit(owner, memory_order_acquire);
  uint64_t me = 0;
  for (;;) {
    if (cur != 0 && (uint32_t)(cur >> 32) == tid)
      return MPK_OK;
    if (cur != 0 && owner_alive(cur))
      return mpk__errf(MPK_EPERM, "SPSC queue: thread %u (alive) is its %s",
                       (unsigned)(cur >> 32),
                       producer ? "producer" : "consumer");
    if (me == 0)
      me = my_identity(tid);
    /* seq_cst: one winner among several takers; on failure cur is the
       winner (or a newer owner), checked again. */
    if (atomic_compare_exchange_strong(owner, &cur, me))
      break;
  }
  /* Our cached copy of the peer's index starts from the shared index (the
     dead owner's copy may be newer than what we see of our own index). */
  if (producer) {
    atomic_store_explicit(&q->head_cache,
                          atomic_load_explicit(&q->head, memory_order_acquire),
                          memory_order_relaxed);
  } else {
    atomic_store_explicit(&q->tail_cache,
                          atomic_load_explicit(&q->head, memory_order_acquire),
                          memory_order_relaxed);
  }
  if (cur != 0) {
    if (producer)
      recover_producer(q);
    else
      recover_consumer(q);
  }
  return MPK_OK;
}

/* The fast path: one relaxed load of the owner word (only a taker that
   found the owner dead changes it, never while we live) against the cached
   thread id. */
static inline int own(queue *q, _Atomic uint64_t *owner, bool producer) {
  uint64_t w = atomic_load_explicit(owner, memory_order_relaxed);
  if (w != 0 && (uint32_t)(w >> 32) == mpk__tid())
    return MPK_OK;
  return claim(q, owner, producer);
}

/* The queue whose put / get this thread is inside (NULL: none), so a signal
   handler that interrupts it and calls put / get on the same queue gets
   MPK_EDEADLK instead of becoming a second writer of the same index. Only
   this thread and its handlers touch these; atomic_signal_fence keeps the
   compiler from moving the ring accesses across their stores. */
static _Thread_local const queue *tls_putting, *tls_getting;

/* ---- put / get ----------------------------------------------------------- */

static int put_owned(queue *q, const void *buf, size_t len, double timeout) {
  uint32_t need = msg_bytes(len);
  /* Only we write tail (close only sets TAIL_SEALED, which our CAS sees)
     and head_cache: relaxed loads. */
  uint64_t t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  uint64_t h = atomic_load_explicit(&q->head_cache, memory_order_relaxed);
  if (q->size - used_bytes(q, w_pos(t), w_pos(h)) < need) {
    lazy_deadline d;
    lazy_init(&d, timeout);
    for (;;) {
      /* acquire: the consumer's copies out of that space are complete */
      h = atomic_load_explicit(&q->head, memory_order_acquire);
      if (q->size - used_bytes(q, w_pos(t), w_pos(h)) >= need)
        break;
      if (atomic_load_explicit(&q->closing, memory_order_acquire))
        return mpk__err(MPK_ECLOSED);
      int r = mpk__queue_wait(q, W_SPACE, need, deadline_of(&d));
      if (r != MPK_OK)
        return mpk__err(timeout == 0 ? MPK_EFULL : r);
    }
    atomic_store_explicit(&q->head_cache, h, memory_order_relaxed);
  }
  if (t & TAIL_SEALED)
    return mpk__err(MPK_ECLOSED);
  uint64_t next = msg_write(q, t, buf, len);
  /* The one RMW that publishes the message: release for the payload,
     seq_cst for the Dekker pair with a sleeping getter (see the top), and
     it fails once close has sealed the tail. */
  if (!atomic_compare_exchange_strong(&q->tail, &t, next))
    return mpk__err(MPK_ECLOSED);
  mpk__queue_wake(&q->data_seq, &q->get_waiters);
  return MPK_OK;
}

static int get_owned(queue *q, void *buf, size_t cap, size_t *len,
                     double timeout) {
  /* Only we write head and tail_cache: relaxed loads. */
  uint64_t h = atomic_load_explicit(&q->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&q->tail_cache, memory_order_relaxed);
  if (h == t) {
    lazy_deadline d;
    lazy_init(&d, timeout);
    for (;;) {
      /* acquire: pairs with the producer's publishing CAS */
      uint64_t raw = atomic_load_explicit(&q->tail, memory_order_acquire);
      t = raw & ~TAIL_SEALED;
      if (h != t)
        break;
      if (raw & TAIL_SEALED)
        return mpk__err(MPK_ECLOSED); /* sealed and drained */
      int r;
      if (atomic_load_explicit(&q->closing, memory_order_acquire))
        r = mpk__queue_finish_close(q, deadline_of(&d)); /* closer died */
      else
        r = mpk__queue_wait(q, W_DATA, 0, deadline_of(&d));
      if (r != MPK_OK)
        return mpk__err(timeout == 0 ? MPK_EEMPTY : r);
    }
    atomic_store_explicit(&q->tail_cache, t, memory_order_relaxed);
  }
  size_t n = 0;
  uint64_t next = h;
  int r = msg_read(q, h, buf, cap, &n, &next);
  if (r == MPK_EMSGSIZE) {
    *len = n; /* the message stays queued */
    return mpk__errf(r,
                     "message of %zu bytes > the %zu-byte buffer (it "
                     "stays queued)",
                     n, cap);
  }
  if (r != MPK_OK)
    return mpk__err(r);
  /* Copied out: free it with one store (seq_cst: release for the producer
     that reuses the space, and the Dekker pair with a sleeping putter). */
  atomic_store(&q->head, next);
  mpk__queue_wake(&q->space_seq, &q->put_waiters);
  *len = n;
  return MPK_OK;
}

int mpk__queue_put_spsc(queue *q, const void *buf, size_t len, double timeout) {
  if (atomic_load_explicit(&q->closing, memory_order_acquire))
    return mpk__err(MPK_ECLOSED);
  int r = own(q, &q->powner, true);
  if (r != MPK_OK)
    return r;
  if (tls_putting == q)
    return mpk__errf(MPK_EDEADLK, "mpk_queue_put from a signal handler that "
                                  "interrupted a put on the same SPSC queue");
  const queue *outer = tls_putting;
  tls_putting = q;
  atomic_signal_fence(memory_order_seq_cst);
  r = put_owned(q, buf, len, timeout);
  atomic_signal_fence(memory_order_seq_cst);
  tls_putting = outer;
  return r;
}

int mpk__queue_get_spsc(queue *q, void *buf, size_t cap, size_t *len,
                        double timeout) {
  int r = own(q, &q->cowner, false);
  if (r != MPK_OK)
    return r;
  if (tls_getting == q)
    return mpk__errf(MPK_EDEADLK, "mpk_queue_get from a signal handler that "
                                  "interrupted a get on the same SPSC queue");
  const queue *outer = tls_getting;
  tls_getting = q;
  atomic_signal_fence(memory_order_seq_cst);
  r = get_owned(q, buf, cap, len, timeout);
  atomic_signal_fence(memory_order_seq_cst);
  tls_getting = outer;
  return r;
}
