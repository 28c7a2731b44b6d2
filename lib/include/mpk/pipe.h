/* mpk/pipe.h - Pipe and Connection: Python's multiprocessing.Pipe().
 *
 * mpk_pipe() makes two connected ends. A duplex pipe is a Unix stream
 * socketpair: both ends send and receive. A one-way pipe is pipe(2): `a`
 * receives and `b` sends, as Python's Pipe(duplex=False) returns
 * (reader, writer). Calls on the wrong end of a one-way pipe return
 * MPK_ENOTSUP (the same code as locking an Array created without a lock: the
 * object was made without that ability).
 *
 * Messages are byte strings of any length, zero included, sent as frames: a
 * 16-byte header (magic word, check word, 64-bit length) and the payload.
 * A message always arrives whole or not at all: a receiver never gets part
 * of a message. A corrupt header, or a stream that ends inside a frame (the
 * sender died mid-message), is MPK_EIO, and the receiving end stays MPK_EIO
 * from then on (the byte stream cannot be re-synchronised).
 *
 * Handles are ordinary per-process objects (malloc'd), like Python's
 * Connection. NULL gets the answer each call lists (MPK_EINVAL, a no-op);
 * any other pointer that is not a live handle from mpk_pipe (one already
 * freed, another object, garbage) is undefined behaviour, as for FILE *:
 * it cannot be checked without being read. After fork() both processes hold
 * both ends; mpk_conn_close() closes the caller's copy only, and a reader sees
 * MPK_EEOF once every copy of the sending end, in every process, is closed and
 * the data is drained. Close the ends a process does not use right after
 * forking, or EOF never comes (exactly as in Python).
 *
 * The receiver reads ahead, for speed: one read(2) takes whatever is
 * queued (up to 64 KiB), so a small message costs one system call, and
 * several queued messages may land in the handle at once. Messages in a
 * handle are received only through it (and through its copy in a child
 * forked afterwards, which receives them in order). So, unlike Python's
 * Connection, an end may be handed from one receiving process to another
 * only when the first one's handle is drained (mpk_conn_poll(c, 0) == 0
 * and nothing more was sent to it); and two processes must not share one
 * receiving end behind a lock (use mpk/queue.h for many consumers). A
 * receive that returns MPK_EMSGSIZE or MPK_ETIMEDOUT part-way through a
 * message keeps what it has read in the handle, and the next receive on
 * that handle continues the same message.
 *
 * No SIGPIPE ever reaches the caller: sockets are written with MSG_NOSIGNAL;
 * pipe(2) writes run with SIGPIPE blocked in the calling thread and a
 * SIGPIPE raised by that write is consumed before it is unblocked (a SIGPIPE
 * that was already pending is left pending).
 *
 * Descriptors are close-on-exec. Blocking calls retry on EINTR and time out
 * on CLOCK_MONOTONIC deadlines.
 *
 * Thread and process safety (one line per call below):
 *  - Within one process, concurrent senders on one handle are serialised
 *    (each message is written whole), and so are concurrent receivers.
 *    mpk_conn_close and mpk_conn_free must not run concurrently with any
 *    other call on the same handle.
 *  - Across processes, one end must have at most one sending process and at
 *    most one receiving process at a time (as in Python). Two processes
 *    sending on copies of one end at the same moment may interleave the
 *    bytes of their frames (on a one-way pipe, frames of up to PIPE_BUF =
 *    4096 bytes, header included, are written atomically); the receiver
 *    may then get garbled messages before MPK_EIO. Serialise such senders
 *    with an mpk_lock_t.
 *  - Do not fork while another thread is inside a call on a handle: the
 *    child's copy of that handle may be left locked.
 */
#ifndef MPK_PIPE_H
#define MPK_PIPE_H

#include <stddef.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

typedef struct mpk_conn mpk_conn_t;

/* Make a pipe. duplex 1: *a and *b both send and receive (socketpair).
   duplex 0: *a receives only, *b sends only (pipe(2)).
   Errors: MPK_EINVAL (a or b NULL, duplex not 0/1, a == b), MPK_ENOMEM,
   MPK_EAGAIN (no file descriptors left: EMFILE / ENFILE). On error *a and
   *b are untouched and nothing is leaked.
   MT-safe. The handles are inherited by fork()ed children (see above). */
MPK_API int mpk_pipe(mpk_conn_t **a, mpk_conn_t **b, int duplex);

/* Send one message of len bytes (0 allowed; buf may be NULL when len is 0).
   Blocks until the whole frame is written (the kernel buffers about 64 KiB
   for a pipe, ~200 KiB for a socket; a larger message needs the receiver to
   read). Errors: MPK_EINVAL (c NULL, buf NULL with len > 0), MPK_ECLOSED
   (this handle was closed, or every copy of the receiving end is closed: no
   SIGPIPE is raised), MPK_ENOTSUP (the receive end of a one-way pipe),
   MPK_EIO (any other write error).
   MT-safe (senders on one handle are serialised), not AS-safe. */
MPK_API int mpk_conn_send(mpk_conn_t *c, const void *buf, size_t len);

/* Receive one message into buf (cap bytes); *len is its length.
   timeout: seconds, MPK_FOREVER blocks, 0 polls.
   Errors: MPK_EINVAL (c or len NULL, buf NULL with cap > 0, NaN timeout),
   MPK_EMSGSIZE (the message is longer than cap: *len is set to its length
   and it stays queued for the next receive), MPK_ETIMEDOUT (no whole message
   in time; what has arrived stays buffered in the handle), MPK_EEOF (every
   copy of the sending end is closed and every message has been received),
   MPK_EIO (corrupt frame, or the stream ended inside a frame: the sender
   died mid-message; sticky. MPK_EMSGSIZE does not wait for the payload, so
   only a receive with room for the message finds that it was cut short),
   MPK_ECLOSED (this handle was closed), MPK_ENOTSUP (the send end of a one-way
   pipe), MPK_ENOMEM (the handle's 64 KiB receive buffer, allocated at the
   first receive, could not be allocated: nothing changed; or memory ran out
   while keeping a partly received large message after a timeout: the handle
   is then broken, MPK_EIO from then on). MPK_ETIMEDOUT also when another
   thread of this process is receiving on the handle for the whole timeout.
   MT-safe (receivers on one handle are serialised), not
   AS-safe. */
MPK_API int mpk_conn_recv(mpk_conn_t *c, void *buf, size_t cap, size_t *len,
                          double timeout);

/* As mpk_conn_recv, into a buffer malloc'd to fit (the caller free()s it;
   non-NULL also for a zero-length message). On error *buf is untouched.
   Errors: those of mpk_conn_recv except MPK_EMSGSIZE, plus MPK_ENOMEM (the
   message stays queued). MT-safe, not AS-safe. */
MPK_API int mpk_conn_recv_alloc(mpk_conn_t *c, void **buf, size_t *len,
                                double timeout);

/* 1 when there is something to receive: data is buffered in the handle or
   readable from the descriptor (possibly only part of a message), EOF is
   pending (a receive returns MPK_EEOF), or the stream is broken (MPK_EIO);
   0 when nothing arrived within timeout (MPK_FOREVER waits, 0 checks), or
   when another thread of this process held the handle's receive side for
   the whole timeout. Consumes nothing.
   Errors: MPK_EINVAL (c NULL, NaN timeout), MPK_ECLOSED, MPK_ENOTSUP (the
   send end of a one-way pipe). MT-safe, not AS-safe. */
MPK_API int mpk_conn_poll(mpk_conn_t *c, double timeout);

/* Close this process's copy of the end (copies held by other processes stay
   open). The peer sees MPK_EEOF once every copy is closed. Later calls on
   the handle return MPK_ECLOSED; free it with mpk_conn_free.
   Errors: MPK_EINVAL (NULL), MPK_ECLOSED (already closed).
   Not MT-safe with other calls on the same handle. */
MPK_API int mpk_conn_close(mpk_conn_t *c);

/* Close (when still open) and free the handle. NULL is a no-op.
   Not MT-safe with other calls on the same handle. */
MPK_API void mpk_conn_free(mpk_conn_t *c);

/* The handle's file descriptor (Python's Connection.fileno()), e.g. to wait
   on several connections with poll(2). Do not read, write or close it
   yourself. Errors: MPK_EINVAL (NULL), MPK_ECLOSED. MT-safe, AS-safe. */
MPK_API int mpk_conn_fileno(const mpk_conn_t *c);

MPK_END_DECLS

#endif
