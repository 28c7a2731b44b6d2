/* queue/ring_internal.h - a queue's shared layout, and the waiting layer
 * between queue.c (the operations) and wait.c (spin, then sleep). Never
 * installed. The design is described at the top of queue.c.
 */
#ifndef MPK_QUEUE_RING_INTERNAL_H
#define MPK_QUEUE_RING_INTERNAL_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "internal/clock.h"
#include "internal/futex.h"
#include "internal/robust.h"
#include "internal/shm.h"
#include "mpk/queue.h"

#define QUEUE_MAGIC 0x4d504b51u /* "MPKQ" */
#define LINE 64
#define HDR 8u /* message header: length + sequence number */

typedef struct {
  uint32_t len; /* payload bytes */
  uint32_t seq; /* the message's number (low 32 bits of the put count) */
} msg_hdr;

/* The shared layout. Each group of fields that one side writes often sits in
   its own 64-byte cache line, so a producer's stores never invalidate the
   line a consumer keeps reading and vice versa (false sharing would turn
   every put/get into a cross-CPU cache miss). */
struct mpk_queue {
  /* Line 0, read-mostly: set at creation (magic, size, joinable) or once by
     close (closing, closed); read by every call. */
  alignas(LINE) uint32_t magic;
  uint32_t size;     /* ring bytes, a multiple of 8, <= 1 GiB */
  uint32_t joinable; /* 0 / 1 */
  uint32_t spsc;     /* 0 / 1: MPK_QUEUE_SPSC (spsc.c) */
  /* close step 1: later puts fail. seq_cst store (Dekker with a putter
     registering to sleep), acquire loads. */
  _Atomic uint32_t closing;
  /* close step 2, set while holding the producer lock after `closing`: no
     put can publish any more, so an empty queue stays empty. seq_cst store
     (Dekker with a sleeping getter), acquire loads. */
  _Atomic uint32_t closed;

  /* Line 1, producer side: written by the producer-lock holder on every
     put; consumers read `tail` only when their cached copy says empty. */
  alignas(LINE) mpk__rmutex plock;
  /* (put count << 32) | position. Stored seq_cst by the holder (publishes
     the message with release semantics and orders the following waiter
     check), loaded acquire by consumers (sees the payload). */
  _Atomic uint64_t tail;
  /* Producer's last view of `head`; only touched under plock (relaxed). */
  _Atomic uint64_t head_cache;
  /* SPSC mode: the producer owner's identity (spsc.c), 0 for none. Read
     relaxed by every SPSC put (the owner's own line, so no miss); claimed
     by a seq_cst CAS. Unused by the MPMC mode. */
  _Atomic uint64_t powner;

  /* Line 2, consumer side: the mirror image, written by the consumer-lock
     holder on every get; producers read `head` only when their cached copy
     says full. */
  alignas(LINE) mpk__rmutex clock_;
  /* (get count << 32) | position. Stored seq_cst after the copy out
     (release: the copy is complete before a producer reuses the space;
     seq_cst orders the following waiter check), loaded acquire. */
  _Atomic uint64_t head;
  /* Consumer's last view of `tail`; only touched under clock_ (relaxed). */
  _Atomic uint64_t tail_cache;
  /* SPSC mode: the consumer owner's identity, as powner. */
  _Atomic uint64_t cowner;

  /* Line 3: getters' sleep words, written only around a sleep, read by every
     put (a line of its own stays shared and clean in every cache while
     nobody sleeps, so the check costs a put no miss). get_waiters is a
     "someone may be asleep" flag (a waiter count that a waker resets): a
     sleeper sets it (seq_cst) before its last check; a waker loads it
     (seq_cst) after its publishing store (the Dekker pair) and, if set,
     claims it with an exchange to 0, so only one publisher makes the wake-up
     system call while the sleeper is still getting up. A sleeper that must
     sleep again sets it again; a killed sleeper costs one extra wake-up.
     data_seq: the futex word, read acquire before registering, bumped
     (release) by the waker. */
  alignas(LINE) _Atomic uint32_t data_seq;
  _Atomic uint32_t get_waiters;

  /* Line 4: putters' sleep words, read by every get; same protocol. */
  alignas(LINE) _Atomic uint32_t space_seq;
  _Atomic uint32_t put_waiters;

  /* Line 5: JoinableQueue bookkeeping and statistics, written by task_done
     and join only, kept off the put / get lines. done: task_done calls
     (mod 2^32), seq_cst CAS (Dekker with join_waiters), also join's futex
     word. missed_wakes: relaxed counter (statistics only). */
  alignas(LINE) _Atomic uint32_t done;
  _Atomic uint32_t join_waiters;
  _Atomic uint32_t missed_wakes;

  /* The ring follows the header, 64-byte aligned. */
};

_Static_assert(sizeof(struct mpk_queue) % LINE == 0,
               "the ring after the header must start on a cache line");
_Static_assert(offsetof(struct mpk_queue, plock) % LINE == 0 &&
                   offsetof(struct mpk_queue, clock_) % LINE == 0 &&
                   offsetof(struct mpk_queue, data_seq) % LINE == 0 &&
                   offsetof(struct mpk_queue, space_seq) % LINE == 0 &&
                   offsetof(struct mpk_queue, done) % LINE == 0,
               "each side's hot fields start their own cache line");
_Static_assert(offsetof(struct mpk_queue, powner) + 8 <=
                   offsetof(struct mpk_queue, plock) + LINE,
               "producer lock, tail, head_cache and powner share one line");
_Static_assert(offsetof(struct mpk_queue, cowner) + 8 <=
                   offsetof(struct mpk_queue, clock_) + LINE,
               "consumer lock, head, tail_cache and cowner share one line");
_Static_assert(sizeof(msg_hdr) == HDR, "message header is 8 bytes");
_Static_assert(MPK_QUEUE_MAX_CAPACITY <= (size_t)1 << 30,
               "positions in [0, 2 * size) must fit 32 bits with headroom");
typedef struct mpk_queue queue;

/* ---- positions and the ring -------------------------------------------- */

/* SPSC mode: close sets this bit of `tail` (positions stay below 2^31), so
   the producer's publishing CAS fails once the queue is sealed. Never set
   in MPMC mode. */
#define TAIL_SEALED ((uint64_t)1 << 31)

static inline uint32_t w_pos(uint64_t w) {
  return (uint32_t)(w & (TAIL_SEALED - 1));
}
static inline uint32_t w_count(uint64_t w) {
  return (uint32_t)(w >> 32);
}
static inline uint64_t w_make(uint32_t count, uint32_t pos) {
  return ((uint64_t)count << 32) | pos;
}

static inline unsigned char *ring(queue *q) {
  return (unsigned char *)q + sizeof(struct mpk_queue);
}

/* Bytes between head and tail positions. A snapshot whose head is newer
   than its tail comes out above size: callers read that as 0. */
static inline uint32_t used_bytes(const queue *q, uint32_t tpos,
                                  uint32_t hpos) {
  return tpos >= hpos ? tpos - hpos : tpos + 2 * q->size - hpos;
}

static inline uint32_t pos_off(const queue *q, uint32_t pos) {
  return pos >= q->size ? pos - q->size : pos;
}

static inline uint32_t pos_add(const queue *q, uint32_t pos, uint32_t n) {
  pos += n;
  return pos >= 2 * q->size ? pos - 2 * q->size : pos;
}

static inline uint32_t msg_bytes(size_t len) {
  return (uint32_t)(HDR + ((len + 7) & ~(size_t)7));
}

/* Copy into / out of the ring starting at offset off (< size), wrapping. */
static inline void ring_write(queue *q, uint32_t off, const void *src,
                              size_t n) {
  size_t first = q->size - off;
  if (first >= n) {
    memcpy(ring(q) + off, src, n);
  } else {
    memcpy(ring(q) + off, src, first);
    memcpy(ring(q), (const unsigned char *)src + first, n - first);
  }
}

static inline void ring_read(queue *q, uint32_t off, void *dst, size_t n) {
  size_t first = q->size - off;
  if (first >= n) {
    memcpy(dst, ring(q) + off, n);
  } else {
    memcpy(dst, ring(q) + off, first);
    memcpy((unsigned char *)dst + first, ring(q), n - first);
  }
}

static inline bool valid(const queue *q) {
  return MPK__SHM_LIVE(q, QUEUE_MAGIC);
}
static inline int64_t ts_ns(const struct timespec *ts) {
  return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static inline int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts_ns(&ts);
}

/* ---- message framing (both modes) ---------------------------------------- */

/* Write the message numbered w_count(t) at position w_pos(t) of free space
   (the caller checked it has msg_bytes(len) free bytes) and return the tail
   word that publishes it. Nothing is visible until the caller stores that. */
static inline uint64_t msg_write(queue *q, uint64_t t, const void *buf,
                                 size_t len) {
  uint32_t pos = w_pos(t), count = w_count(t);
  msg_hdr hd = {(uint32_t)len, count};
  memcpy(ring(q) + pos_off(q, pos), &hd, HDR); /* 8-aligned: never wraps */
  if (len > 0)
    ring_write(q, pos_off(q, pos_add(q, pos, HDR)), buf, len);
  return w_make(count + 1, pos_add(q, pos, msg_bytes(len)));
}

/* Copy the message at head word h (the caller saw it published) into buf.
   MPK_OK with *len and *next (the head word that frees it); MPK_EMSGSIZE
   (*len set, nothing copied); MPK_EIO (the header is not the one a put
   wrote: the memory was overwritten). */
static inline int msg_read(queue *q, uint64_t h, void *buf, size_t cap,
                           size_t *len, uint64_t *next) {
  uint32_t pos = w_pos(h), count = w_count(h);
  msg_hdr hd;
  memcpy(&hd, ring(q) + pos_off(q, pos), HDR);
  if (hd.seq != count || hd.len > q->size - HDR)
    return MPK_EIO;
  *len = hd.len;
  if (hd.len > cap)
    return MPK_EMSGSIZE; /* the message stays queued */
  if (hd.len > 0)
    ring_read(q, pos_off(q, pos_add(q, pos, HDR)), buf, hd.len);
  *next = w_make(count + 1, pos_add(q, pos, msg_bytes(hd.len)));
  return MPK_OK;
}

/* A call's deadline, computed on first need: a put or get that neither
   waits nor finds its lock busy reads no clock (clock_gettime costs as much
   as the rest of an uncontended put on some VMs). The few nanoseconds
   before the first need are not counted against the timeout. */
typedef struct {
  double timeout; /* as passed: < 0 forever, 0 poll (never NaN here) */
  bool set;
  mpk__deadline d;
} lazy_deadline;

static inline void lazy_init(lazy_deadline *x, double timeout) {
  x->timeout = timeout;
  x->set = timeout <= 0; /* forever and poll need no clock */
  x->d.forever = timeout < 0;
  x->d.abs.tv_sec = 0; /* poll: a deadline long past */
  x->d.abs.tv_nsec = 0;
}

static inline const mpk__deadline *deadline_of(lazy_deadline *x) {
  if (!x->set) {
    mpk__deadline_init(&x->d, x->timeout);
    x->set = true;
  }
  return &x->d;
}

/* ---- waiting (wait.c) -------------------------------------------------- */

typedef enum {
  W_DATA,  /* a message is queued (or the queue is closing) */
  W_SPACE, /* `need` bytes are free (or the queue is closing) */
  W_JOIN   /* every put matched by a task_done */
} wait_kind;

/* Wait until the condition k holds (see wait.c) or the deadline passes:
   spin briefly, then sleep on the condition's futex word in slices.
   MPK_OK / MPK_ETIMEDOUT. For W_DATA and W_SPACE the caller holds the side
   lock (MPMC) or owns the side (SPSC): only one thread sleeps there.
   MT-safe, MP-safe. */
int mpk__queue_wait(queue *q, wait_kind k, uint32_t need,
                    const mpk__deadline *d);

/* After a publishing seq_cst store: if anyone sleeps on seq (the sleeper
   flag `waiters` is set), claim the flag, bump seq and wake them all. No system
   call when nobody sleeps. MT-safe, MP-safe, AS-safe. */
void mpk__queue_wake(_Atomic uint32_t *seq, _Atomic uint32_t *waiters);

/* A side's previous owner (lock holder, or SPSC owner) died. Only that
   owner sleeps on the side's futex word, so the sleeper flag it may have
   left is stale: clear it. It may have published without waking the other
   side: wake it. MT-safe, MP-safe. */
static inline void recover_producer(queue *q) {
  atomic_store_explicit(&q->put_waiters, 0, memory_order_relaxed);
  mpk__queue_wake(&q->data_seq, &q->get_waiters);
}

static inline void recover_consumer(queue *q) {
  atomic_store_explicit(&q->get_waiters, 0, memory_order_relaxed);
  mpk__queue_wake(&q->space_seq, &q->put_waiters);
}

/* ---- the two modes (queue.c, spsc.c) ----------------------------------- */

/* Close step 2 (queue.c): once it returns MPK_OK no put can publish any
   more. MPMC: hold the producer lock once after `closing` was set (may
   wait up to d, MPK_ETIMEDOUT). SPSC: seal `tail`, never waits. Then sets
   `closed` and wakes a sleeping getter. Idempotent. MT-safe, MP-safe. */
int mpk__queue_finish_close(queue *q, const mpk__deadline *d);

/* put / get of an SPSC queue (spsc.c), called after the argument checks
   common to both modes (valid q, buffers, NaN timeout, message size).
   Same results as the MPMC mode plus MPK_EPERM (another thread or process
   owns that side and is alive). MT-safe, MP-safe. */
int mpk__queue_put_spsc(queue *q, const void *buf, size_t len, double timeout);
int mpk__queue_get_spsc(queue *q, void *buf, size_t cap, size_t *len,
                        double timeout);

#endif
