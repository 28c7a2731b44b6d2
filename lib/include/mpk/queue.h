/* mpk/queue.h - Queue and JoinableQueue: Python's multiprocessing.Queue for C.
 *
 * A queue is a bounded ring of variable-length byte messages in the shared
 * heap (mpk/shm.h). Any number of processes and threads may put and get at
 * once (multi-producer, multi-consumer); the handle is a pointer into the
 * shared heap, so it is valid in the creator and in every process forked
 * after the shared heap was first used, including processes forked before
 * the queue was made. Messages are copied in at put and out at get; order is
 * first-in first-out (puts are serialised, so FIFO holds across producers,
 * and in particular per producer).
 *
 * Sizes. `capacity_bytes` is the size of the ring. Each message takes
 * MPK_QUEUE_MSG_BYTES(len) = 8 bytes of header + len rounded up to 8, so a
 * queue for n messages of m bytes needs n * MPK_QUEUE_MSG_BYTES(m). The ring
 * size is capacity_bytes rounded up to a multiple of 8; a message larger
 * than mpk_queue_max_msg() (ring - 8) can never fit and is MPK_EMSGSIZE at
 * put, never truncated.
 *
 * Timeouts are seconds on CLOCK_MONOTONIC: MPK_FOREVER (< 0) blocks, 0 polls
 * (like the _nowait forms), NaN is MPK_EINVAL. Blocking calls spin briefly,
 * then sleep on futex words (never on a pthread condition variable) and
 * retry on EINTR.
 *
 * Death. A process SIGKILLed at any instant inside any call never wedges the
 * queue for the others: the two side locks are robust, every change is
 * published by one final store (a put writes the whole message first, a get
 * copies the message out before it advances the head), and sleepers
 * re-check their condition at least every 20 ms, so a waker killed between
 * publishing and waking delays them by at most that. A message whose put
 * returned MPK_OK is delivered exactly once, or is still queued; a message
 * whose producer died inside put is either wholly queued or absent; a
 * message taken by a consumer that died before get returned is gone with it.
 * See docs/guide.md (Queue) for the full story.
 *
 * SPSC mode (MPK_QUEUE_SPSC). A queue declared single-producer /
 * single-consumer takes no lock: each index has one writer, a put or get
 * costs one atomic read-modify-write or store and makes no system call
 * while the peer is awake. The contract is enforced, not assumed: the
 * first thread to put becomes the producer, the first to get the consumer
 * (one thread may be both); a put or get by any other thread or process
 * while that owner thread is alive is MPK_EPERM. When the owner thread has
 * exited or was killed (its process may still be an unreaped zombie), the
 * next caller takes its side over. Everything else, including the death
 * guarantees above, is as in the default (MPMC) mode: a producer killed
 * inside put leaves its message wholly queued or absent, a consumer killed
 * inside get leaves the message queued unless the head had moved past it.
 * Ownership is per thread id, so all users must share one PID namespace
 * (true for forked children), and /proc should be mounted (without it, an
 * exited but unreaped owner still counts as alive).
 *
 * "Not a queue" below means a bad handle as mpk/shm.h defines it: NULL, a
 * pointer outside the shared heap or not at the start of a queue, another
 * kind of object, or a freed queue whose memory was not reused. Every call
 * checks for it first and never crashes on one.
 */
#ifndef MPK_QUEUE_H
#define MPK_QUEUE_H

#include <stddef.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

typedef struct mpk_queue mpk_queue_t;

/* Ring bytes a message of `len` bytes occupies: an 8-byte header plus the
   payload rounded up to 8. */
#define MPK_QUEUE_MSG_BYTES(len)                                               \
  ((size_t)8 + ((((size_t)(len)) + 7) & ~(size_t)7))

/* capacity_bytes == 0 picks this ring size (1 MiB), as Python's Queue()
   needs no size. */
#define MPK_QUEUE_DEFAULT_CAPACITY ((size_t)1 << 20)

/* Largest ring: 1 GiB. Larger capacities are MPK_EINVAL. */
#define MPK_QUEUE_MAX_CAPACITY ((size_t)1 << 30)

/* Flags of mpk_queue_new (OR them). 0 is a plain multi-producer,
   multi-consumer Queue. */
#define MPK_QUEUE_JOINABLE 1 /* a JoinableQueue (task_done / join) */
/* One producer thread, one consumer thread. (Bit value 2 is reserved and,
   like every unknown bit, MPK_EINVAL.) */
#define MPK_QUEUE_SPSC 4

/* Make a queue in the shared heap. capacity_bytes: ring size (see above; 0
   is MPK_QUEUE_DEFAULT_CAPACITY). flags: MPK_QUEUE_JOINABLE (1, so the old
   `joinable` 0 / 1 argument keeps its meaning) makes a JoinableQueue (puts
   count unfinished tasks; task_done / join work); MPK_QUEUE_SPSC (4) makes
   a lock-free single-producer / single-consumer queue (see the top); both
   may be combined. Errors: MPK_EINVAL (q NULL, an unknown flag bit,
   capacity over MPK_QUEUE_MAX_CAPACITY), MPK_ENOMEM (shared heap
   exhausted); *q is then untouched. MT-safe, MP-safe. */
MPK_API int mpk_queue_new(mpk_queue_t **q, size_t capacity_bytes, int flags);

/* Copy len bytes from buf into the queue, waiting up to `timeout` seconds
   for room. len 0 is a valid message (buf may then be NULL).
   Errors: MPK_EINVAL (q not a queue, buf NULL with len > 0, NaN
   timeout), MPK_EMSGSIZE (len > mpk_queue_max_msg(q): can never fit),
   MPK_ECLOSED (the queue is closed, also when closed while waiting),
   MPK_EFULL (timeout 0 and no room), MPK_ETIMEDOUT (no room before the
   timeout), MPK_EDEADLK (called from a signal handler that interrupted a
   put of the same thread), MPK_EPERM (SPSC queue: another thread, alive,
   is its producer). On any error nothing was queued. A JoinableQueue
   counts one more unfinished task for each message put. MT-safe, MP-safe, not
   AS-safe. A process killed inside put leaves either the whole message queued
   or none of it. */
MPK_API int mpk_queue_put(mpk_queue_t *q, const void *buf, size_t len,
                          double timeout);

/* Take the oldest message, waiting up to `timeout` seconds for one. On
   success copies it into buf (cap bytes available) and sets *len to its
   size. buf may be NULL only when cap is 0.
   Errors: MPK_EINVAL (q not a queue, len NULL, buf NULL with cap > 0,
   NaN timeout), MPK_EMSGSIZE (the message is larger than cap: *len is set
   to its size and the message stays queued, so a get with a big enough
   buffer returns it), MPK_ECLOSED (closed and drained; also wakes a get
   blocked in any process when the queue is closed empty), MPK_EEMPTY
   (timeout 0 and nothing queued), MPK_ETIMEDOUT (nothing before the
   timeout), MPK_EIO (the queue's memory was overwritten by someone else:
   a message header does not match; nothing is taken), MPK_EDEADLK (called
   from a signal handler that interrupted a get of the same thread),
   MPK_EPERM (SPSC queue: another thread, alive, is its consumer).
   MT-safe, MP-safe, not AS-safe. A process killed inside get leaves the
   message queued unless the head had already moved past it. */
MPK_API int mpk_queue_get(mpk_queue_t *q, void *buf, size_t cap, size_t *len,
                          double timeout);

/* put / get with timeout 0: MPK_EFULL / MPK_EEMPTY instead of waiting.
   Never sleep; when another thread or process is in the middle of copying
   a message they wait for it to finish (at most about a millisecond if
   that holder is stopped), so MPK_EEMPTY means the queue was seen empty
   and MPK_EFULL that the message was seen not to fit. Other errors as put
   / get. MT-safe, MP-safe. */
MPK_API int mpk_queue_put_nowait(mpk_queue_t *q, const void *buf, size_t len);
MPK_API int mpk_queue_get_nowait(mpk_queue_t *q, void *buf, size_t cap,
                                 size_t *len);

/* Number of messages queued: an exact snapshot, out of date as soon as
   others put or get. MPK_EINVAL (negative) when not a queue. MT-safe, MP-safe.
 */
MPK_API long mpk_queue_qsize(mpk_queue_t *q);

/* 1 when no message is queued, 0 otherwise; MPK_EINVAL when not a queue.
   Snapshot. MT-safe, MP-safe. */
MPK_API int mpk_queue_empty(mpk_queue_t *q);

/* 1 when not even an empty message (8 bytes) fits, 0 otherwise; MPK_EINVAL
   when not a queue. A larger message may still not fit when this is 0.
   Snapshot. MT-safe, MP-safe. */
MPK_API int mpk_queue_full(mpk_queue_t *q);

/* Ring size in bytes (capacity_bytes rounded up to 8) and the largest
   message that fits (ring - 8). 0 when not a queue. MT-safe, MP-safe. */
MPK_API size_t mpk_queue_capacity(const mpk_queue_t *q);
MPK_API size_t mpk_queue_max_msg(const mpk_queue_t *q);

/* Close the queue for every process: later puts (and puts waiting for room)
   fail with MPK_ECLOSED; gets return what is queued, then MPK_ECLOSED, and a
   get blocked in any process is woken. When close returns no put can still
   add a message. Closing twice is MPK_OK. Waits only for a put that is in
   the middle of copying. Unlike Python's close (which only concerns the
   calling process) this closes the shared queue. MPK_EINVAL when not a
   queue.
   MT-safe, MP-safe. If the closer dies half-way, the next get (or close)
   completes the close. */
MPK_API int mpk_queue_close(mpk_queue_t *q);

/* JoinableQueue: mark one task (a message taken by get) as finished.
   Errors: MPK_EOVERFLOW (called more times than messages were put; nothing
   changes), MPK_ENOTSUP (not a JoinableQueue), MPK_EINVAL (not a queue).
   MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_queue_task_done(mpk_queue_t *q);

/* JoinableQueue: wait until every message put so far has been matched by a
   task_done (the unfinished count is 0). MPK_ETIMEDOUT when that did not
   happen before the timeout, MPK_ENOTSUP (not a JoinableQueue), MPK_EINVAL
   (not a queue, NaN timeout). A consumer killed after taking a message and
   before its task_done leaves that task unfinished forever (as in Python): join
   then times out. MT-safe, MP-safe. */
MPK_API int mpk_queue_join(mpk_queue_t *q, double timeout);

/* Unfinished tasks of a JoinableQueue (puts minus task_done calls); 0 for a
   plain queue; MPK_EINVAL (negative) when not a queue. Snapshot. MT-safe,
   MP-safe. */
MPK_API long mpk_queue_unfinished(mpk_queue_t *q);

/* Free the queue (not a queue, NULL included: no-op). No process or thread may
   use it afterwards, and none may be blocked in it. MT-safe, MP-safe. */
MPK_API void mpk_queue_free(mpk_queue_t *q);

MPK_END_DECLS

#endif
