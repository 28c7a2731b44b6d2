/* pipe.c - framed messages over a socketpair or pipe(2) (see mpk/pipe.h).
 *
 * Frame: a 16-byte header {magic, check, length} then `length` payload
 * bytes. The sender writes header and payload with one writev / sendmsg.
 *
 * The receiver keeps a buffer per handle: bytes read from the descriptor
 * but not yet delivered, always the head of the rest of the stream. One
 * read(2) of up to RBUF_SIZE bytes usually brings a whole small frame (and
 * maybe more frames), so a small message costs one system call. The payload
 * of a frame larger than the buffer is read straight into the caller's
 * memory after what the buffer already holds. A receive that returns early
 * (MPK_EMSGSIZE, MPK_ETIMEDOUT) leaves everything it read in the buffer, at
 * worst a header and a partial payload, so the next receive continues.
 */
#include "mpk/pipe.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "internal/clock.h"
#include "internal/error.h"
#include "internal/futex.h"
#include "mpk/error.h"

enum {
  CONN_READ = 1u << 0,   /* may receive */
  CONN_WRITE = 1u << 1,  /* may send */
  CONN_SOCKET = 1u << 2, /* a socketpair end (else a pipe(2) end) */
  HDR_SIZE = 16,
  /* Receive buffer size: one read brings up to this much. A buffer grown
     past it (to keep a large partial message) is freed once drained. */
  RBUF_SIZE = 64 * 1024
};

#define FRAME_MAGIC 0x464b504du /* "MPKF" little-endian */

/* The check word ties the length to the magic, so that a corrupt or
   misaligned header is recognised instead of read as a huge length. */
static uint32_t frame_check(uint64_t len) {
  return (uint32_t)(len ^ (len >> 32)) ^ 0x9e3779b9u;
}

typedef struct {
  uint32_t magic;
  uint32_t check;
  uint64_t len;
} frame_hdr;
_Static_assert(sizeof(frame_hdr) == HDR_SIZE, "frame header is 16 bytes");

/* A process-private lock on a futex word, so that a receive can give up
   waiting for it at its CLOCK_MONOTONIC deadline. 0: free, 1: held,
   2: held and someone may sleep on it. Acquired with acquire ordering and
   released with release ordering: what the holder wrote to the handle is
   visible to the next holder. */
typedef struct {
  _Atomic uint32_t word;
} conn_lock;

static int conn_lock_acquire(conn_lock *l, const mpk__deadline *d) {
  uint32_t c = 0;
  if (atomic_compare_exchange_strong_explicit(
          &l->word, &c, 1, memory_order_acquire, memory_order_relaxed))
    return MPK_OK;
  if (c != 2)
    c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
  while (c != 0) {
    if (mpk__futex_wait(&l->word, 2, d) == MPK_ETIMEDOUT)
      return MPK_ETIMEDOUT; /* the word stays 2: one spare wake later */
    c = atomic_exchange_explicit(&l->word, 2, memory_order_acquire);
  }
  return MPK_OK;
}

static void conn_lock_release(conn_lock *l) {
  if (atomic_exchange_explicit(&l->word, 0, memory_order_release) == 2)
    mpk__futex_wake(&l->word, 1);
}

struct mpk_conn {
  int fd;              /* -1 once closed */
  unsigned mode;       /* CONN_* bits */
  int broken;          /* a corrupt or truncated frame was seen: MPK_EIO */
  conn_lock send_lock; /* serialises senders of this process */
  conn_lock recv_lock; /* serialises receivers; guards the fields below */
  unsigned char *rbuf; /* received, undelivered bytes: [rpos, rend) */
  size_t rcap, rpos, rend;
};

/* ---- creation and teardown ------------------------------------------- */

static mpk_conn_t *conn_new(int fd, unsigned mode) {
  mpk_conn_t *c = calloc(1, sizeof *c);
  if (c == NULL)
    return NULL;
  c->fd = fd;
  c->mode = mode;
  return c;
}

int mpk_pipe(mpk_conn_t **a, mpk_conn_t **b, int duplex) {
  if (a == NULL || b == NULL)
    return mpk__err_null(a == NULL ? "a" : "b");
  if (a == b)
    return mpk__errf(MPK_EINVAL, "mpk_pipe: a and b are the same pointer");
  if (duplex != 0 && duplex != 1)
    return mpk__errf(MPK_EINVAL, "mpk_pipe: duplex is %d, not 0 or 1", duplex);
  int fds[2];
  unsigned ma, mb;
  if (duplex) {
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0)
      return mpk__errsys(errno, MPK_ENOMEM, "mpk_pipe: socketpair");
    ma = mb = CONN_READ | CONN_WRITE | CONN_SOCKET;
  } else {
    if (pipe2(fds, O_CLOEXEC) != 0)
      return mpk__errsys(errno, MPK_ENOMEM, "mpk_pipe: pipe2");
    ma = CONN_READ; /* fds[0] is the read end */
    mb = CONN_WRITE;
  }
  mpk_conn_t *ca = conn_new(fds[0], ma);
  mpk_conn_t *cb = ca ? conn_new(fds[1], mb) : NULL;
  if (cb == NULL) {
    mpk_conn_free(ca); /* closes fds[0] */
    if (ca == NULL)
      close(fds[0]);
    close(fds[1]);
    return mpk__errf(MPK_ENOMEM, "mpk_pipe: no memory for a handle");
  }
  *a = ca;
  *b = cb;
  return MPK_OK;
}

static void drop_rbuf(mpk_conn_t *c) {
  free(c->rbuf);
  c->rbuf = NULL;
  c->rcap = c->rpos = c->rend = 0;
}

int mpk_conn_close(mpk_conn_t *c) {
  if (c == NULL)
    return mpk__err_null("c");
  if (c->fd < 0)
    return mpk__err(MPK_ECLOSED);
  /* Linux releases the descriptor even when close() reports EINTR, so it
     is never retried (a retry could close a descriptor reused meanwhile). */
  close(c->fd);
  c->fd = -1;
  drop_rbuf(c);
  return MPK_OK;
}

void mpk_conn_free(mpk_conn_t *c) {
  if (c == NULL)
    return;
  if (c->fd >= 0)
    mpk_conn_close(c);
  free(c);
}

int mpk_conn_fileno(const mpk_conn_t *c) { /* AS-safe: literal details */
  if (c == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_conn_fileno: c is NULL");
  return c->fd < 0 ? mpk__err(MPK_ECLOSED) : c->fd;
}

/* ---- sending ---------------------------------------------------------- */

/* Write the whole iovec. Returns MPK_OK, MPK_ECLOSED (EPIPE / ECONNRESET)
   or MPK_EIO. */
static int write_all(mpk_conn_t *c, struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t k;
    if (c->mode & CONN_SOCKET) {
      struct msghdr msg = {.msg_iov = iov, .msg_iovlen = (size_t)n};
      k = sendmsg(c->fd, &msg, MSG_NOSIGNAL);
    } else {
      k = writev(c->fd, iov, n);
    }
    if (k < 0) {
      if (errno == EINTR)
        continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        /* Only if someone made the descriptor non-blocking: wait. */
        struct pollfd p = {.fd = c->fd, .events = POLLOUT};
        if (poll(&p, 1, -1) < 0 && errno != EINTR)
          return mpk__errsys(errno, MPK_EIO, "mpk_conn_send: poll");
        continue;
      }
      if (errno == EPIPE || errno == ECONNRESET)
        return MPK_ECLOSED; /* an answer: recorded by mpk_conn_send */
      return mpk__errsys(errno, MPK_EIO, "mpk_conn_send: %s",
                         (c->mode & CONN_SOCKET) ? "sendmsg" : "writev");
    }
    size_t done = (size_t)k;
    while (n > 0 && done >= iov->iov_len) {
      done -= iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + done;
      iov->iov_len -= done;
    }
  }
  return MPK_OK;
}

/* pipe(2) has no MSG_NOSIGNAL: block SIGPIPE in this thread around the
   write and consume a SIGPIPE the write raised, unless one was already
   pending before (then it is not ours and is left alone). */
static int write_all_nosigpipe(mpk_conn_t *c, struct iovec *iov, int n) {
  sigset_t pipe_set, old, pending;
  sigemptyset(&pipe_set);
  sigaddset(&pipe_set, SIGPIPE);
  sigemptyset(&pending);
  sigpending(&pending);
  int was_pending = sigismember(&pending, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
  int r = write_all(c, iov, n);
  if (r == MPK_ECLOSED && !was_pending) {
    const struct timespec zero = {0, 0};
    while (sigtimedwait(&pipe_set, NULL, &zero) < 0 && errno == EINTR) {
    }
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  return r;
}

int mpk_conn_send(mpk_conn_t *c, const void *buf, size_t len) {
  if (c == NULL)
    return mpk__err_null("c");
  if (buf == NULL && len > 0)
    return mpk__errf(MPK_EINVAL, "mpk_conn_send: buf is NULL with len %zu",
                     len);
  if (c->fd < 0)
    return mpk__err(MPK_ECLOSED);
  if (!(c->mode & CONN_WRITE))
    return mpk__errf(MPK_ENOTSUP, "mpk_conn_send: the receive end of a "
                                  "one-way pipe");
  frame_hdr h = {FRAME_MAGIC, frame_check(len), len};
  struct iovec iov[2] = {{&h, sizeof h}, {(void *)(uintptr_t)buf, len}};
  int n = len > 0 ? 2 : 1;
  mpk__deadline forever = {.forever = true};
  conn_lock_acquire(&c->send_lock, &forever);
  int r = (c->mode & CONN_SOCKET) ? write_all(c, iov, n)
                                  : write_all_nosigpipe(c, iov, n);
  conn_lock_release(&c->send_lock);
  return mpk__err_answer(r);
}

/* ---- receiving -------------------------------------------------------- */

/* Wait until fd is readable (or at EOF / in error) before the deadline. */
static int wait_readable(int fd, const mpk__deadline *d) {
  for (;;) {
    struct pollfd p = {.fd = fd, .events = POLLIN};
    int r = poll(&p, 1, mpk__deadline_poll_ms(d));
    if (r > 0)
      return MPK_OK;
    if (r == 0 || (r < 0 && errno == EINTR)) {
      if (mpk__deadline_expired(d))
        return MPK_ETIMEDOUT;
      continue;
    }
    return mpk__errsys(errno, MPK_EIO, "poll (connection)");
  }
}

/* Read up to n (> 0) bytes. Returns the count (> 0), 0 at end of stream,
   MPK_ETIMEDOUT or MPK_EIO. Without a deadline it blocks in read(). With
   one, a socket is read with MSG_DONTWAIT first (data already there costs
   one call) and polled when empty; a pipe is polled first, then read. */
static ssize_t read_some(mpk_conn_t *c, void *p, size_t n,
                         const mpk__deadline *d) {
  int sock = (c->mode & CONN_SOCKET) != 0;
  for (;;) {
    ssize_t k;
    if (sock) {
      k = recv(c->fd, p, n, d->forever ? 0 : MSG_DONTWAIT);
    } else {
      if (!d->forever) {
        int w = wait_readable(c->fd, d);
        if (w < 0)
          return w;
      }
      k = read(c->fd, p, n);
    }
    if (k >= 0)
      return k;
    if (errno == EINTR)
      continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
      if (d->forever) { /* only if the descriptor was made non-blocking */
        struct pollfd q = {.fd = c->fd, .events = POLLIN};
        poll(&q, 1, -1);
      } else if (sock) {
        int w = wait_readable(c->fd, d);
        if (w < 0)
          return w;
      }
      continue;
    }
    /* A Unix socket whose peer closed with unread data reports ECONNRESET
       once (after our queued data); it is the end of the stream. */
    if (errno == ECONNRESET)
      return 0;
    return mpk__errsys(errno, MPK_EIO, "%s (connection)",
                       sock ? "recv" : "read");
  }
}

static int break_stream(mpk_conn_t *c, const char *why) {
  c->broken = 1;
  drop_rbuf(c);
  return mpk__errf(MPK_EIO, "connection broken: %s", why);
}

/* Read more into the buffer (from rend on). Returns > 0, 0 at end of
   stream, MPK_ETIMEDOUT or MPK_EIO. */
static ssize_t fill(mpk_conn_t *c, const mpk__deadline *d) {
  if (c->rpos > 0 && c->rcap - c->rend < HDR_SIZE) {
    memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
    c->rend -= c->rpos;
    c->rpos = 0;
  }
  return read_some(c, c->rbuf + c->rend, c->rcap - c->rend, d);
}

/* Make sure a whole, valid header is buffered at rpos; *n is the length. */
static int read_header_locked(mpk_conn_t *c, uint64_t *n,
                              const mpk__deadline *d) {
  if (c->rbuf == NULL) {
    c->rbuf = malloc(RBUF_SIZE);
    if (c->rbuf == NULL)
      return mpk__errf(MPK_ENOMEM, "no memory for a receive buffer");
    c->rcap = RBUF_SIZE;
  }
  while (c->rend - c->rpos < HDR_SIZE) {
    ssize_t k = fill(c, d);
    if (k < 0)
      return (int)k; /* a partial header stays buffered */
    if (k == 0)
      return c->rend == c->rpos ? MPK_EEOF
                                : break_stream(c, "the stream ended inside "
                                                  "a message header");
    c->rend += (size_t)k;
  }
  frame_hdr h;
  memcpy(&h, c->rbuf + c->rpos, sizeof h);
  if (h.magic != FRAME_MAGIC || h.check != frame_check(h.len))
    return break_stream(c, "a corrupt message header (not written by "
                           "mpk_conn_send?)");
#if SIZE_MAX < UINT64_MAX
  if (h.len > SIZE_MAX)
    return break_stream(c, "a message longer than SIZE_MAX");
#endif
  *n = h.len;
  return MPK_OK;
}

/* Deliver the message whose header is at rpos (n payload bytes) into dst.
   Small frames are completed in the buffer; a frame larger than the buffer
   is completed by reading straight into dst. On a timeout everything read
   stays buffered (the buffer grows to hold a large partial payload). */
static int read_payload_locked(mpk_conn_t *c, unsigned char *dst, size_t n,
                               const mpk__deadline *d) {
  if (HDR_SIZE + n <= c->rcap) {
    if (c->rpos > 0 && c->rpos + HDR_SIZE + n > c->rcap) {
      memmove(c->rbuf, c->rbuf + c->rpos, c->rend - c->rpos);
      c->rend -= c->rpos;
      c->rpos = 0;
    }
    while (c->rend - c->rpos < HDR_SIZE + n) {
      ssize_t k = read_some(c, c->rbuf + c->rend, c->rcap - c->rend, d);
      if (k == 0) /* the sender died mid-message */
        return break_stream(c, "the stream ended inside a message");
      if (k == MPK_EIO)
        return break_stream(c, mpk_errmsg());
      if (k < 0)
        return (int)k;
      c->rend += (size_t)k;
    }
    if (n > 0)
      memcpy(dst, c->rbuf + c->rpos + HDR_SIZE, n);
    c->rpos += HDR_SIZE + n;
    if (c->rpos == c->rend)
      c->rpos = c->rend = 0;
    return MPK_OK;
  }
  /* Large: the buffer holds the header and the start of the payload only
     (nothing beyond this frame, which is longer than the buffer). */
  size_t got = c->rend - c->rpos - HDR_SIZE;
  memcpy(dst, c->rbuf + c->rpos + HDR_SIZE, got);
  while (got < n) {
    ssize_t k = read_some(c, dst + got, n - got, d);
    if (k == 0)
      return break_stream(c, "the stream ended inside a message");
    if (k == MPK_EIO)
      return break_stream(c, mpk_errmsg());
    if (k < 0) { /* keep header + dst[0, got) buffered for the next try */
      if (HDR_SIZE + got > c->rcap) {
        unsigned char *p = malloc(HDR_SIZE + got);
        if (p == NULL) {
          break_stream(c, "no memory to keep a partial message");
          return mpk__errf(MPK_ENOMEM,
                           "no memory to keep a partial message "
                           "of %zu bytes: the connection is broken",
                           HDR_SIZE + got);
        }
        memcpy(p, c->rbuf + c->rpos, HDR_SIZE);
        free(c->rbuf);
        c->rbuf = p;
        c->rcap = HDR_SIZE + got;
      } else {
        memmove(c->rbuf, c->rbuf + c->rpos, HDR_SIZE);
      }
      memcpy(c->rbuf + HDR_SIZE, dst, got);
      c->rpos = 0;
      c->rend = HDR_SIZE + got;
      return (int)k;
    }
    got += (size_t)k;
  }
  c->rpos = c->rend = 0;
  if (c->rcap > RBUF_SIZE)
    drop_rbuf(c); /* reallocated at the normal size by the next receive */
  return MPK_OK;
}

/* fd and mode change only in close, which never runs concurrently with a
   receive; `broken` and the buffer are guarded by recv_lock. */
static int recv_check(const mpk_conn_t *c) {
  if (c->fd < 0)
    return mpk__err(MPK_ECLOSED);
  if (!(c->mode & CONN_READ))
    return mpk__errf(MPK_ENOTSUP, "the send end of a one-way pipe");
  return MPK_OK;
}

/* recv and recv_alloc: buf/cap is the caller's buffer, or out != NULL to
   malloc one. */
static int recv_common(mpk_conn_t *c, void *buf, size_t cap, void **out,
                       size_t *len, double timeout) {
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  int r = recv_check(c);
  if (r != MPK_OK)
    return r;
  if (conn_lock_acquire(&c->recv_lock, &d) != MPK_OK)
    return mpk__err(MPK_ETIMEDOUT);
  uint64_t n = 0;
  r = c->broken ? mpk__errf(MPK_EIO, "connection broken earlier (a corrupt "
                                     "or cut message)")
                : read_header_locked(c, &n, &d);
  if (r == MPK_OK) {
    unsigned char *dst = buf;
    if (out != NULL) {
      dst = malloc(n > 0 ? (size_t)n : 1);
      if (dst == NULL) /* the header stays: the message is kept */
        r = mpk__errf(MPK_ENOMEM, "no memory for a message of %llu bytes",
                      (unsigned long long)n);
    } else if (n > cap) {
      *len = (size_t)n;
      r = mpk__errf(MPK_EMSGSIZE,
                    "message of %llu bytes > the %zu-byte "
                    "buffer (it stays queued)",
                    (unsigned long long)n, cap);
    }
    if (r == MPK_OK)
      r = read_payload_locked(c, dst, (size_t)n, &d);
    if (r == MPK_OK) {
      *len = (size_t)n;
      if (out != NULL)
        *out = dst;
    } else if (out != NULL) {
      free(dst);
    }
  }
  conn_lock_release(&c->recv_lock);
  return mpk__err_answer(r);
}

int mpk_conn_recv(mpk_conn_t *c, void *buf, size_t cap, size_t *len,
                  double timeout) {
  if (c == NULL || len == NULL || (buf == NULL && cap > 0))
    return mpk__errf(MPK_EINVAL, "mpk_conn_recv: %s",
                     c == NULL     ? "c is NULL"
                     : len == NULL ? "len is NULL"
                                   : "buf is NULL with cap > 0");
  return recv_common(c, buf, cap, NULL, len, timeout);
}

int mpk_conn_recv_alloc(mpk_conn_t *c, void **buf, size_t *len,
                        double timeout) {
  if (c == NULL || buf == NULL || len == NULL)
    return mpk__err_null(c == NULL ? "c" : buf == NULL ? "buf" : "len");
  return recv_common(c, NULL, 0, buf, len, timeout);
}

int mpk_conn_poll(mpk_conn_t *c, double timeout) {
  if (c == NULL)
    return mpk__err_null("c");
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  int r = recv_check(c);
  if (r != MPK_OK)
    return r;
  if (conn_lock_acquire(&c->recv_lock, &d) != MPK_OK)
    return 0; /* another thread is receiving and holds the stream */
  if (c->broken || c->rend > c->rpos) {
    r = 1;
  } else {
    int w = wait_readable(c->fd, &d);
    r = w == MPK_OK ? 1 : (w == MPK_ETIMEDOUT ? 0 : w);
  }
  conn_lock_release(&c->recv_lock);
  return r;
}
