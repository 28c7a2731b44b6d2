/* pool/pool_internal.h - the pool's layers and shared layouts.
 *
 * Layers (as libgomp): API entry (pool.c: creation and life cycle; ops.c:
 * for / map / apply; reduce.c; async.c: async calls, completion thread;
 * imap.c: iterators) -> call.c (one call: copies, ring slot, publish, wait,
 * finish) -> job.c (the job descriptor: completion, errors, wake-ups) ->
 * worker.c (the one worker loop, both backends) -> sched.c (pure chunk
 * arithmetic) -> futex / clock primitives. Beside them: monitor.c (the parent's
 * monitor thread: spawns, reaps, replaces, enforces task_timeout),
 * backend_process.c (fork, fork server, lifelines, worker process entry)
 * and backend_thread.c (pthreads).
 *
 * Protocol in one paragraph. The control block (mpk__pool_ctl) lives in the
 * shared heap (process backend) or in ordinary memory (thread backend). Calls
 * are jobs numbered 1, 2, 3, ... (seq, 64 bits: never wraps); job seq lives
 * in ring slot seq & (ring - 1). The parent fills the slot, then publishes
 * by storing ctl->pub = seq and bumping ctl->pub_tok (the futex word idle
 * workers sleep on). Every worker visits every job in order (its slot's
 * `pos` is the next seq it will visit): it marks itself inside the job (a bit
 * in job->bits[].inside), claims chunks (BLOCK / CYCLIC: shares via
 * job->bits[].claimed; DYNAMIC / GUIDED: the job->next counter), runs them,
 * clears its bit, bumps job->left, and moves on. A job is complete when every
 * chunk has been claimed (or the job was cancelled) and no worker is inside it;
 * whoever waits checks exactly that. A slot is reused only when every worker's
 * pos has passed its job and the parent has released it. A worker that dies
 * inside a job (slot->cur) fails that job; the monitor clears its bit, so
 * nothing waits for the dead.
 */
#ifndef MPK_POOL_INTERNAL_H
#define MPK_POOL_INTERNAL_H

#include <pthread.h>
#include <signal.h>
#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "internal/clock.h"
#include "internal/futex.h"
#include "internal/pool_sched.h"
#include "mpk/error.h"
#include "mpk/pool.h"

#define MPK__CACHE_LINE 64
#define MPK__MASK_WORDS (MPK_POOL_MAX_WORKERS / 64)
#define MPK__JOB_INLINE 256 /* ctx / arg / result / identity kept inline */
#define MPK__POOL_MAGIC 0x31706f6f6c6b706dULL /* "mpkpool1" */
#define MPK__POOL_VERSION 1u

typedef enum {
  MPK__JOB_FOR,
  MPK__JOB_REDUCE_D, /* mpk_pool_reduce_double */
  MPK__JOB_REDUCE_G, /* mpk_pool_reduce */
  MPK__JOB_MAP,
  MPK__JOB_APPLY
} mpk__job_kind;

/* Job flags (descriptor, read-only while published). */
enum {
  MPK__JF_FAST = 1u,     /* reduction: per-worker accumulators */
  MPK__JF_NEUMAIER = 2u, /* reduce_double FAST + NEUMAIER: compensated acc */
};

/* One job: a ring slot of the control block.
 *
 * Line 0 (hot descriptor): everything a `for` or reduction needs, written by
 * the parent before the job is published (ordered by the seq_cst store of
 * ctl->pub, which workers load with acquire before touching the slot) and
 * read by every worker at every visit; never written while a worker may
 * still visit the slot. Line 1 (cold descriptor): map / apply / reduction
 * extras, same rules. The counters line: `next` (DYNAMIC / GUIDED claims),
 * `cancel`, and the first words of the share-claim and inside bitmaps, so a
 * pool of up to 64 workers touches ONE contended line per job (the
 * descriptor lines stay shared and clean). Bitmap words of workers 64+
 * follow. The error record has its own line: written only on failure.
 */
typedef struct {
  _Atomic uint64_t claimed; /* BLOCK / CYCLIC: bit w = share w claimed */
  _Atomic uint64_t inside;  /* bit w = worker w inside the job */
} mpk__jbits;

#define MPK__BITS_LINE0 3 /* bitmap words that share the counters line */

/* What a failed call reports: mpk_pool_last_error's fields and what
   mpk_errmsg says (mpk__failure_errf). One record travels from the job's
   error record (shared memory, written by a worker or the monitor) to the
   call, to the pool's last error, and to the MPI outcome of a rank. */
typedef struct {
  int32_t code;   /* 0, MPK_ETASK, MPK_EWORKER, MPK_ETIMEDOUT, MPK_ECLOSED */
  int32_t status; /* task return value (MPK_ETASK) */
  uint64_t index; /* failing element / chunk start */
  int32_t signal; /* signal that killed the worker (EWORKER, ETIMEDOUT) */
  int32_t exit;   /* exit status of a worker that exited (signal 0) */
  int32_t worker; /* worker id, -1: not one worker (every worker gone) */
  int32_t pid;    /* the worker's pid, 0: unknown or a thread */
  int32_t rank;   /* MPI: the rank it happened on, -1: this process */
  int32_t kind;   /* mpk__job_kind of the call */
} mpk__failure;

typedef struct mpk__job {
  /* line 0: hot descriptor */
  alignas(MPK__CACHE_LINE) uint32_t kind; /* mpk__job_kind */
  uint32_t flags;                         /* MPK__JF_* */
  /* 1 = skip chunks not yet started. Written at most once per job (on
     failure), so it lives in this clean, read-shared line: workers read it
     (relaxed; a stale read runs one more chunk) before every chunk without
     a miss; the parent reads it seq_cst as part of completion. */
  _Atomic uint32_t cancel;
  uint32_t pad0_;
  mpk__plan plan;
  union {
    mpk_range_fn range;
    mpk_sum_fn sum;
    int (*red)(size_t lo, size_t hi, void *acc, void *ctx);
    mpk_map_fn map;
    mpk_task_fn task;
  } fn;
  void *ctx; /* copy in the shared heap (or inline), or NULL */
  /* line 1: cold descriptor */
  alignas(MPK__CACHE_LINE) uint64_t seq; /* the job this slot holds now */
  const char *in;                        /* map: input; apply: arg */
  char *out;                             /* map: output; apply: result */
  size_t in_size, out_size;              /* map: element sizes */
  size_t base; /* imap: element index of in[0] (error index) */
  char *acc;   /* reductions: partials (per chunk) or per-worker
                  accumulators (FAST, stride acc_stride) */
  size_t acc_stride;
  const void *identity; /* generic reduction: elem_size bytes */
  size_t elem_size;
  int op; /* mpk_op */

  /* counters line. `next`: seq_cst RMW, a claim is ordered after the
     claimer's inside bit (job.c, completion). */
  alignas(MPK__CACHE_LINE) _Atomic uint64_t next;
  uint64_t pad1_;
  mpk__jbits bits[MPK__MASK_WORDS]; /* seq_cst RMWs */

  /* Completion line: bumped (seq_cst RMW, after the inside bit is cleared)
     by every worker leaving the job. A waiting caller spins on this word
     and tests completion only when it moves, so its polling never pulls the
     counters line away from workers claiming chunks. */
  alignas(MPK__CACHE_LINE) _Atomic uint32_t left;

  /* Error record, guarded by err_lock: 0 free, else holder id + 1 (a worker
     slot, or MPK__LOCK_MONITOR / MPK__LOCK_PARENT). A worker dies holding it
     only if killed within a few instructions; the monitor then releases it
     (mpk__job_err_unlock_dead). Acquire / release orders the fields. Only
     touched when something fails (cancel is set after every record). */
  alignas(MPK__CACHE_LINE) _Atomic uint32_t err_lock;
  mpk__failure err; /* err.code 0: none */

  /* Small ctx / arg / result / identity copies: no allocation per call. */
  alignas(MPK__CACHE_LINE) unsigned char inline_buf[MPK__JOB_INLINE];
} mpk__job;

_Static_assert(sizeof(mpk__job) % MPK__CACHE_LINE == 0, "job: whole lines");
_Static_assert(alignof(mpk__job) == MPK__CACHE_LINE, "job: line aligned");
_Static_assert(offsetof(mpk__job, seq) == MPK__CACHE_LINE,
               "job: the hot descriptor fits one line");
_Static_assert(offsetof(mpk__job, bits) +
                       MPK__BITS_LINE0 * sizeof(mpk__jbits) <=
                   offsetof(mpk__job, next) + MPK__CACHE_LINE,
               "job: counters and the first bitmap words share a line");

#define MPK__LOCK_MONITOR (MPK_POOL_MAX_WORKERS + 1u)
#define MPK__LOCK_PARENT (MPK_POOL_MAX_WORKERS + 2u)

/* Worker slot states (mpk__wslot.state). */
enum {
  MPK__W_EMPTY,    /* no worker (before the first spawn) */
  MPK__W_STARTING, /* spawned, running init */
  MPK__W_READY,    /* in the worker loop */
  MPK__W_RETIRING, /* leaving on purpose (recycling, rss, stop) */
  MPK__W_DEAD,     /* died; a replacement is being made */
  MPK__W_GONE      /* no replacement possible: slot out of service */
};

/* One per worker, one cache line each: written by its worker at every job
   (pos, cur) and read by the parent (ring reuse, death) and by stealers. */
typedef struct {
  /* Next job seq this worker will visit. Written by the worker (release,
     after its last access to the previous slot), by the monitor for a GONE
     slot (UINT64_MAX); read with acquire by the parent before reusing a
     ring slot. A replacement inherits it. */
  alignas(MPK__CACHE_LINE) _Atomic uint64_t pos;
  /* Job seq the worker is inside, 0 when between jobs (seq_cst: stored
     before the inside bit is set). Read by the monitor after a death. */
  _Atomic uint64_t cur;
  /* CLOCK_MONOTONIC ns at which the running chunk started, 0 when none
     (only with task_timeout; relaxed: the monitor's check is approximate). */
  _Atomic uint64_t unit_start;
  _Atomic uint32_t sleeping;    /* 1 while blocked on ctl->pub_tok */
  _Atomic uint32_t state;       /* MPK__W_* */
  _Atomic int32_t pid;          /* process backend: the worker's pid */
  _Atomic uint32_t kill_reason; /* MPK__KILL_*: why the monitor killed it */
  _Atomic uint32_t epoch;       /* bumped at every (re)spawn */
  uint32_t pad_;
  _Atomic uint64_t unit_lo; /* first index of the running chunk (relaxed;
                               reported when the worker dies) */
} mpk__wslot;

_Static_assert(sizeof(mpk__wslot) == MPK__CACHE_LINE, "wslot: one line");

enum { MPK__KILL_NONE, MPK__KILL_TIMEOUT };

/* Stop levels (ctl->stop). */
enum { MPK__STOP_NONE, MPK__STOP_IDLE, MPK__STOP_NOW };

/* Worker exit codes (process backend; thread backend: thread results). */
enum {
  MPK__WEXIT_STOP = 0,   /* told to stop */
  MPK__WEXIT_RETIRE = 1, /* recycling or rss: replace me */
  MPK__WEXIT_INITFAIL = 3
};

/* The control block. Followed in the same allocation by `workers` worker
   slots and `ring` jobs (offsets below). */
typedef struct {
  /* Read-mostly line: set at creation. */
  alignas(MPK__CACHE_LINE) uint64_t magic;
  uint32_t version;
  uint32_t workers;
  uint32_t ring; /* power of two >= 4 * workers, >= 64 */
  uint32_t tpw;
  int64_t spin_ns;  /* idle spin before sleeping; INT64_MAX: forever */
  int64_t grace_ns; /* static: wait this long for a share's owner */
  int64_t yield_ns; /* how often a spinning thread checks whether its PU
                       is wanted by another party of the pool */
  int crowded;      /* workers * tpw >= PUs: the caller always shares a PU
                       with some worker, so idle workers yield regularly */
  long max_tasks;
  size_t max_rss;
  int timeout_on; /* task_timeout > 0: record chunk start times */

  /* Publication line: written once per call, polled by idle workers. */
  alignas(MPK__CACHE_LINE) _Atomic uint64_t pub; /* last published seq */
  _Atomic uint32_t pub_tok; /* futex word: bumped at every publish / stop */
  _Atomic uint32_t stop;    /* MPK__STOP_* */

  /* Sleeping workers: written when one sleeps or wakes, read per publish. */
  alignas(MPK__CACHE_LINE) _Atomic uint32_t sleepers;

  /* Parent-side waiters (callers, completion thread) sleep on `progress`;
     a worker that leaves a complete job bumps it when waiters > 0. */
  alignas(MPK__CACHE_LINE) _Atomic uint32_t progress;
  _Atomic uint32_t waiters;
  /* PU of a caller stuck spinning on a worker's PU, -1 none (best effort
     with several callers): the worker pinned there yields it while idle.
     Written only by a caller that has spun YIELD_NS in vain. */
  _Atomic int32_t wait_pu;
} mpk__pool_ctl;

_Static_assert(sizeof(mpk__pool_ctl) % MPK__CACHE_LINE == 0, "ctl: lines");

/* ---- parent-side records ---------------------------------------------- */

typedef struct mpk__call mpk__call;

/* One submitted job, owned by the parent (stack of a sync caller, inside an
   async handle, or in an iterator). */
struct mpk__call {
  mpk_pool_t *pool;
  uint64_t seq; /* 0 until published */
  mpk__job *job;
  int kind;   /* mpk__job_kind */
  int status; /* set by mpk__call_finish */
  bool finished;
  /* Set once the job was seen complete. Sticky on purpose: a worker that
     visits a complete job late sets its `inside` bit for a moment, so
     mpk__job_done can turn false again afterwards. */
  _Atomic bool ready;
  /* per-call allocations in pool memory, freed at finish */
  void *buf_ctx, *buf_in, *buf_out, *buf_acc, *buf_id;
  /* map: copy-out after success */
  void *user_out;
  size_t out_bytes;
  /* apply: copy-out after success */
  void *user_result;
  size_t result_size;
  /* reductions (reduce.c) */
  int op, rflags;
  double *dresult;
  void *gresult;
  void (*combine)(void *acc, const void *other);
  const void *identity; /* the caller's copy (sync) or ours */
  size_t elem_size;
  size_t nacc; /* number of accumulators (chunks, or workers for FAST) */
  /* error details for mpk_pool_last_error and mpk_errmsg (at finish) */
  mpk__failure err;
  /* async */
  mpk_async_t *async;
  mpk__call *next; /* completion list (pool mutex) */
};

struct mpk_async {
  mpk__call call;
  mpk_done_fn done;
  void *user;
  bool self_free;            /* handle was not returned (a == NULL) */
  _Atomic uint32_t complete; /* futex word: 1 after the callback ran */
  int status;                /* valid once complete (acquire) */
};

/* Pool states. */
enum { MPK__P_OPEN, MPK__P_CLOSED, MPK__P_JOINED, MPK__P_TERMINATED };

struct mpk_pool {
  /* Immutable after create (workers read some of it from their copy). */
  mpk__pool_ctl *ctl;
  mpk__wslot *slots;
  mpk__job *ring;
  unsigned W, R;
  mpk_backend backend;
  mpk_start start; /* resolved */
  int tpw;
  int oversub;
  int bind_none;
  double task_timeout;
  int (*init)(void *);
  void *init_arg;
  char **cpus; /* per worker cpuset list string */
  /* PU -> id of the worker pinned to exactly that PU, -1 none (n_pu
     entries): a waiting caller yields only to a worker on its own PU. */
  int *pu_worker;
  int n_pu;
  unsigned owner_gen; /* fork generation of the creating process */
  sigset_t sigmask;   /* creator's mask, restored in workers */
  double spin_us_info;

  /* Parent state: guarded by mu. */
  pthread_mutex_t mu;
  _Atomic int state; /* MPK__P_*; written under mu, read anywhere */
  uint64_t next_seq; /* next seq to publish */
  uint64_t min_pos;  /* cached lower bound of every slot's pos */
  /* per ring slot: the call that owns it, or NULL (written under mu) */
  _Atomic(mpk__call *) *owner;
  mpk__call *async_head, *async_tail; /* async calls in flight */
  mpk__failure last;                  /* mpk_pool_last_error */
  /* Live iterators (imap.c). iter_mu guards the list and is held by
     join while it drives them; lock order: iter_mu -> an iterator's own
     mutex -> mu. */
  pthread_mutex_t iter_mu;
  struct mpk__iterlist *iters;
  pthread_t completer;
  bool completer_on;
  bool completer_stop;

  /* Set once in-flight jobs can no longer complete normally (terminated,
     or every worker gone): waiters then finish their calls as failed. */
  _Atomic int aborted;
  _Atomic int broken; /* every worker gone */
  _Atomic long replaced;

  /* Monitor thread (monitor.c). */
  pthread_t monitor;
  bool monitor_on;
  int efd;              /* eventfd: wakes the monitor */
  int life_r, life_w;   /* lifeline pipe (process backend): only this
                           process holds the write end (MPK__FD_PRIVATE);
                           a worker exits when it reads EOF (parent gone) */
  _Atomic int mon_cmd;  /* MPK__MON_* request */
  struct mpk__mon *mon; /* monitor-private state */

  /* An extension that takes over for / reduce / map (the MPI mode), or
     NULL: set once after create, parent-local. */
  const struct mpk__pool_ext_ops *ext_ops;
  void *ext;

  /* Start-up handshake (parent-local). */
  pthread_mutex_t start_mu;
  pthread_cond_t start_cv;
  int start_done; /* 0 pending, 1 done */
  int start_rc;
  char start_msg[MPK_ERRMSG_MAX]; /* why the start failed (mpk_errmsg) */
};

enum { MPK__MON_NONE, MPK__MON_JOIN, MPK__MON_TERMINATE };

/* ---- job.c ------------------------------------------------------------- */

/* 1 when job j is complete: cancelled or every chunk claimed, and no worker
   inside. seq_cst loads (pairs with the workers' seq_cst RMWs). */
bool mpk__job_done(const mpk__job *j);

/* The plan facts mpk__job_done needs, read while the job's slot cannot be
   reused (by a worker inside it, or the call's owner). */
typedef struct {
  unsigned workers;
  bool shares;
  size_t nchunks;
} mpk__job_shape;
mpk__job_shape mpk__job_shape_of(const mpk__job *j);

/* mpk__job_done with the plan facts taken earlier: reads only j's atomics,
   so a worker may call it after publishing its pos, when the slot may
   already hold the next job (the answer is then of no use to anyone, but
   reading it is no data race). */
bool mpk__job_done_as(const mpk__job *j, mpk__job_shape sh);

/* Record a failure in j's error record and cancel the job. A task failure
   (MPK_ETASK) keeps the lowest index; a worker failure (EWORKER, ETIMEDOUT,
   ECLOSED) replaces a task failure and keeps the first such. `holder` is the
   lock id (worker id + 1, MPK__LOCK_MONITOR, MPK__LOCK_PARENT). f->kind is
   filled from the job. */
void mpk__job_fail(mpk__job *j, uint32_t holder, const mpk__failure *f);

/* Read the record (under its lock) into *f and return its code; then clear
   it for the slot's next job. MPK_OK (*f zeroed, worker -1, rank -1) at
   once when the job was never cancelled (no record can exist). Parent
   only, after completion. */
int mpk__job_error(mpk__job *j, mpk__failure *f);

/* A failure with no details yet: code, worker -1, rank -1, the rest 0. */
mpk__failure mpk__failure_of(int code);

/* Release j's error lock if dead worker `id` holds it (monitor only). */
void mpk__job_err_unlock_dead(mpk__job *j, unsigned id);

/* Wake everyone sleeping on ctl->progress (cheap when nobody sleeps). */
void mpk__progress_wake(mpk__pool_ctl *ctl);

/* Initialise ring slot j for job seq: counters of `workers` workers
   cleared (only what the previous job may have changed). Parent only, when
   the slot is free. */
void mpk__job_reset(mpk__job *j, uint64_t seq, unsigned workers);

/* ---- worker.c ---------------------------------------------------------- */

/* The worker loop of worker `id` (both backends): runs jobs until told to
   stop (returns MPK__WEXIT_STOP) or until it should be recycled
   (MPK__WEXIT_RETIRE). */
int mpk__worker_loop(mpk_pool_t *p, unsigned id);

/* Entry of a worker thread (thread backend) and of the fresh thread of a
   worker process: per-thread setup, hybrid OpenMP setup, binding (thread
   backend), init, READY, then the loop. arg: mpk__wstart. Returns the exit
   code as (void *)(intptr_t). */
typedef struct {
  mpk_pool_t *pool;
  unsigned id;
  int bind_here; /* bind the calling thread to the worker's cpuset */
} mpk__wstart;
void *mpk__worker_thread(void *arg);

/* Worker identity of the calling process / thread. */
void mpk__set_worker_process(int id, int count);

/* 1 when the calling thread is a worker thread of pool p. */
bool mpk__in_worker_of(const mpk_pool_t *p);

/* ---- monitor.c --------------------------------------------------------- */

/* Start the monitor thread, which spawns the workers; waits until all are
   READY (MPK_OK) or the start failed (the monitor has cleaned up and
   exited). */
int mpk__monitor_start(mpk_pool_t *p);

/* Ask the monitor to stop the workers (JOIN: after idle; TERMINATE: now),
   then join it. Idempotent. */
void mpk__monitor_stop(mpk_pool_t *p, int how);

/* Wake the monitor (eventfd). */
void mpk__monitor_kick(mpk_pool_t *p);

/* ---- backend_process.c / backend_thread.c ------------------------------ */

/* Process backend, called by the monitor thread only. */
typedef struct mpk__procs mpk__procs;
int mpk__procs_open(mpk_pool_t *p, mpk__procs **out); /* fork server if any */
int mpk__procs_spawn(mpk__procs *pr, unsigned id, unsigned number);
/* fd to poll for events (fork server socket), or -1 */
int mpk__procs_event_fd(mpk__procs *pr);
/* Append pidfds of live workers to fds (FORK method); returns count. */
int mpk__procs_pollfds(mpk__procs *pr, int *fds, unsigned *ids, int cap);
/* Handle readiness of fd: reports exits through cb(id, wstatus). */
void mpk__procs_handle(mpk__procs *pr, int fd,
                       void (*cb)(mpk_pool_t *, unsigned id, int wstatus));
int mpk__procs_kill(mpk__procs *pr, unsigned id, int sig);
/* Kill every worker, reap them all (and the fork server); close. */
void mpk__procs_close(mpk__procs *pr, bool kill_first);

/* Thread backend. */
int mpk__threads_spawn(mpk_pool_t *p, pthread_t *t, unsigned id);

/* ---- pool.c: the call life cycle (used by reduce.c and async.c) -------- */

/* Check the pool may take a call from this thread: MPK_EINVAL (NULL),
   MPK_ESTATE (other process, a worker, closed), MPK_EDEADLK (callback). */
int mpk__call_check(mpk_pool_t *p, bool blocking);

/* Record why p takes no more calls (closed, joined, terminated): returns
   MPK_ESTATE. */
int mpk__pool_state_err(const mpk_pool_t *p);

/* ---- extensions (route.c) ----------------------------------------------

   A pool with ext_ops routes the four range calls to the extension after
   the pool argument itself was checked (p != NULL); the extension runs its
   share through the *_local forms below. destroy runs first in
   mpk_pool_free (owning process only). */
typedef int (*mpk__red_kernel)(size_t lo, size_t hi, void *acc, void *ctx);
typedef void (*mpk__red_combine)(void *acc, const void *other);
typedef struct mpk__pool_ext_ops {
  int (*for_)(mpk_pool_t *p, size_t n, mpk_range_fn fn, const void *ctx,
              size_t ctx_size, mpk_sched s);
  int (*reduce_d)(mpk_pool_t *p, size_t n, mpk_sum_fn fn, const void *ctx,
                  size_t ctx_size, mpk_op op, mpk_sched s, int flags,
                  double *result);
  int (*reduce_g)(mpk_pool_t *p, size_t n, mpk__red_kernel kernel,
                  mpk__red_combine combine, const void *identity,
                  size_t elem_size, const void *ctx, size_t ctx_size,
                  mpk_sched s, int flags, void *result);
  int (*map)(mpk_pool_t *p, mpk_map_fn fn, const void *in, size_t in_size,
             void *out, size_t out_size, size_t n, const void *ctx,
             size_t ctx_size, mpk_sched s);
  void (*destroy)(mpk_pool_t *p);
} mpk__pool_ext_ops;

/* The calls as a plain pool runs them (ops.c, reduce.c). */
int mpk__for_local(mpk_pool_t *p, size_t n, mpk_range_fn fn, const void *ctx,
                   size_t ctx_size, mpk_sched s);
int mpk__reduce_d_local(mpk_pool_t *p, size_t n, mpk_sum_fn fn, const void *ctx,
                        size_t ctx_size, mpk_op op, mpk_sched s, int flags,
                        double *result);
int mpk__reduce_g_local(mpk_pool_t *p, size_t n, mpk__red_kernel kernel,
                        mpk__red_combine combine, const void *identity,
                        size_t elem_size, const void *ctx, size_t ctx_size,
                        mpk_sched s, int flags, void *result);
int mpk__map_local(mpk_pool_t *p, mpk_map_fn fn, const void *in, size_t in_size,
                   void *out, size_t out_size, size_t n, const void *ctx,
                   size_t ctx_size, mpk_sched s);

/* The reduction arithmetic (reduce.c), for extensions that hold per-chunk
   partials themselves. fold_double: the result of a non-FAST reduction
   over the n chunk partials a[0 .. n) (pairwise tree, or Neumaier in chunk
   order with MPK_REDUCE_NEUMAIER); a is overwritten; n = 0 gives the
   identity. fold_generic: the same tree over n >= 1 elements of `stride`
   bytes, the total left in a[0]. op_double: one step of op; identity of op. */
double mpk__fold_double(double *a, size_t n, int op, int flags);
void mpk__fold_generic(char *a, size_t n, size_t stride,
                       mpk__red_combine combine);
double mpk__op_double(int op, double a, double b);
double mpk__identity_double(int op);
/* The checks of reduce_double / reduce arguments (no pool state): MPK_OK,
   or MPK_EINVAL recorded with the argument that is wrong. */
int mpk__reduce_d_args_check(mpk_sum_fn fn, const void *ctx, size_t ctx_size,
                             mpk_op op, int flags, const double *result);
int mpk__reduce_g_args_check(mpk__red_kernel kernel, mpk__red_combine combine,
                             const void *identity, size_t elem_size,
                             const void *ctx, size_t ctx_size, int flags,
                             const void *result);
/* The checks of map arguments (no pool state), as above. */
int mpk__map_args_check(mpk_map_fn fn, const void *in, size_t in_size,
                        const void *out, size_t out_size, size_t n,
                        const void *ctx, size_t ctx_size);
/* The kernel fn and ctx / ctx_size, as every call checks them: MPK_OK or
   MPK_EINVAL recorded. */
int mpk__fn_ctx_check(const void *fn, const void *ctx, size_t ctx_size);
/* mpk__plan_make for a user's schedule: MPK_EINVAL recorded for a bad
   kind. */
int mpk__plan_user(mpk__plan *pl, mpk_sched s, size_t n, unsigned workers,
                   mpk__sched_use use);

/* Record a call's failure for mpk_pool_last_error (an extension reports the
   global failure this way). */
void mpk__set_last_error(mpk_pool_t *p, const mpk__failure *f);

/* Record f as the calling thread's mpk_errmsg ("map: task returned 7 at
   element 5 (worker 1, pid 1234)", "worker 1 (pid 1234) killed by signal 9
   (SIGKILL) during mpk_pool_for, chunk at index 40") and return f->code.
   `p` gives task_timeout for MPK_ETIMEDOUT (may be NULL). */
int mpk__failure_errf(const mpk_pool_t *p, const mpk__failure *f);

/* Describe how worker `id` (pid, 0: unknown) ended, ec its exit code
   (>= 0) or -signal, into buf: "worker 1 (pid 1234) killed by signal 9
   (SIGKILL)" / "worker 1 (pid 1234) exited with status 3". */
void mpk__worker_end_str(char *buf, size_t cap, int id, int pid, int ec);

/* call.c ------------------------------------------------------------------

   Pool memory: shared heap (process backend) or malloc (thread backend),
   64-byte aligned. NULL on ENOMEM. */
void *mpk__pool_alloc(const mpk_pool_t *p, size_t size);
/* Record that pool memory for `what` (size bytes) ran out; MPK_ENOMEM. */
int mpk__pool_nomem(const mpk_pool_t *p, size_t size, const char *what);
void mpk__pool_free_mem(const mpk_pool_t *p, void *mem);
/* The same by backend: for memory that outlives its pool (an iterator's
   results after mpk_pool_free). NULL is a no-op. */
void mpk__mem_free(mpk_backend backend, void *mem);

/* Before submit (no lock held): copy src (size bytes) into pool memory when
   size > limit, else leave *owned NULL (it will be placed inline by
   mpk__place). MPK_OK or MPK_ENOMEM. */
int mpk__prep_copy(const mpk_pool_t *p, const void *src, size_t size,
                   size_t limit, void **owned);

/* In a fill callback: the job-visible copy: `owned`, or an inline copy at
   inline_buf + off; NULL for size 0. */
void *mpk__place(mpk__job *j, size_t off, const void *src, size_t size,
                 void *owned);

/* Inline layout: ctx at 0 (<= 128 bytes), a second item at 128 (<= 64),
   a third at 192 (<= 64). */
#define MPK__INL_CTX 128u
#define MPK__INL_B_OFF 128u
#define MPK__INL_C_OFF 192u
#define MPK__INL_SMALL 64u

/* mpk__call_submit flags. */
enum {
  MPK__SUBMIT_CLOSED = 1u, /* allowed on a closed (not joined) pool */
  MPK__SUBMIT_NOWAIT = 2u  /* MPK_EAGAIN instead of waiting for a slot */
};

/* Reserve a ring slot (waits while the ring is full, unless
   MPK__SUBMIT_NOWAIT), let fill(c, j, arg) write the descriptor, publish.
   MPK_OK or MPK_ESTATE / MPK_EWORKER / MPK_EAGAIN / fill's error (nothing
   published). */
int mpk__call_submit(mpk__call *c, int (*fill)(mpk__call *, mpk__job *, void *),
                     void *arg, unsigned flags);

/* 1 when a submission now would not wait for a ring slot (it may still
   fail: the pool is terminated, joined or broken). Takes p->mu. A slot
   found free may be taken by another submitter before ours. */
bool mpk__ring_has_room(mpk_pool_t *p);

/* 1 when the call's job is complete (or the pool aborted). */
bool mpk__call_ready(mpk__call *c);

/* Wait for the call's job: MPK_OK or MPK_ETIMEDOUT. */
int mpk__call_wait(mpk__call *c, const mpk__deadline *d);

/* After ready: read errors, run the kind's copy-out / combine, free the
   call's memory, release the ring slot. Returns the call's status. */
int mpk__call_finish(mpk__call *c);

/* Free a call that was never published. */
void mpk__call_discard(mpk__call *c);

/* Submit + wait + finish. */
int mpk__call_run(mpk__call *c, int (*fill)(mpk__call *, mpk__job *, void *),
                  void *arg);

/* Sleep on ctl->progress until pred(arg) or the deadline (spins first when
   spin is true). MPK_OK or MPK_ETIMEDOUT. */
/* The worker pinned to the PU the caller runs on, if any, and if it is
   awake and has not passed job `seq` (seq 0: any job): its PU is wanted. */
bool mpk__pu_wanted(const mpk_pool_t *p, uint64_t seq);
int mpk__progress_wait(mpk_pool_t *p, bool (*pred)(void *), void *arg,
                       const mpk__deadline *d, bool spin);

/* ops.c: shared with the async forms. prepare validates and stages into c
   (and mallocs the fill argument, freed by the caller after submit); fill
   is the mpk__call_submit callback. */
int mpk__map_prepare(mpk__call *c, void **args, mpk_pool_t *p, mpk_map_fn fn,
                     const void *in, size_t in_size, void *out, size_t out_size,
                     size_t n, const void *ctx, size_t ctx_size, mpk_sched s);
int mpk__fill_map(mpk__call *c, mpk__job *j, void *arg);
int mpk__apply_prepare(mpk__call *c, void **args, mpk_pool_t *p, mpk_task_fn fn,
                       const void *arg, size_t arg_size, void *result,
                       size_t result_size);
int mpk__fill_apply(mpk__call *c, mpk__job *j, void *arg);
/* imap: submit elements [lo, hi) of in as one chunk job writing into
   out_chunk; ctx_shared is the iterator's ctx copy (not owned by the call);
   in_shared: use `in` in place. Allowed on a closed (not joined) pool;
   never waits for a ring slot (MPK_EAGAIN). */
int mpk__imap_submit(mpk__call *c, mpk_pool_t *p, mpk_map_fn fn, const char *in,
                     size_t in_size, char *out_chunk, size_t out_size,
                     size_t lo, size_t hi, void *ctx_shared, bool in_shared);

/* reduce.c: combine the call's partials into its result (after success). */
void mpk__reduce_finish(mpk__call *c);

/* async.c */
void mpk__async_start_stop(mpk_pool_t *p); /* stop + join the completer */
bool mpk__in_completer(const mpk_pool_t *p);

/* imap.c. join: submit every chunk of every live iterator and wait until
   each has completed (results kept for the consumer), or until the pool
   can take no more. orphan: the pool is going away (after terminate):
   finish every chunk, keep the results, detach the iterators. */
void mpk__iters_join(mpk_pool_t *p);
void mpk__iters_orphan(mpk_pool_t *p);

#endif
