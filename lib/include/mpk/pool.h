/* mpk/pool.h - the worker pool: Python's multiprocessing.Pool for C, with
 * index-range kernels, chunked scheduling and shared-memory reductions.
 *
 * Execution model
 * ---------------
 * A pool forks its workers once (MPK_PROCESS) or starts them as threads
 * (MPK_THREAD) and pins worker i to mpk_topo_plan_ex(workers,
 * threads_per_worker, bind, cpuset, i). Every call (for, reduce, map, apply,
 * their async forms and imap) publishes a job descriptor in the shared heap
 * and bumps a futex word; idle workers spin for a while (MPK_SPIN_US,
 * default 300 us; MPK_WAIT_POLICY / OMP_WAIT_POLICY = active: forever,
 * passive: not at all; 2 us when the pool is oversubscribed), then sleep on
 * that word. When the workers fill every PU (no PU left for the calling
 * thread), spinning threads also yield the PU every few microseconds and an
 * unclaimed static share is taken over sooner. Dispatch and completion never go
 * through pipes or system calls while workers are spinning. Several calls may
 * be in flight at once (from several threads, or async); workers take them in
 * submission order, and a worker that has no more chunks of one call moves on
 * to the next, so a slow chunk of one call does not hold up the others.
 *
 * What a kernel may touch (process backend)
 * -----------------------------------------
 * A worker is a separate process. It sees:
 *   - the shared heap (mpk_shm_alloc, Value/Array, mpk objects): every byte,
 *     including memory allocated after the pool was created;
 *   - a private copy-on-write snapshot of the parent's other memory, taken
 *     when the worker was forked (see Start methods): globals, the stack, the
 *     malloc heap. Writes to it stay in the worker; the parent never sees
 *     them, and the parent's later writes are not seen by the worker.
 * `ctx` and `arg` are copied into the shared heap at each call (like Python
 * pickling the arguments), so a caller's stack buffer is fine. One copy
 * serves every worker of the call: kernels must treat it as read-only.
 * Pointers
 * inside them must point into the shared heap or to data that already
 * existed, unchanged, when the worker was forked. map's `in` / `out` that are
 * not in the shared heap are staged through it (copied); buffers in the
 * shared heap are used in place (zero-copy). Function pointers are valid in
 * workers (same executable, forked), except functions of libraries loaded
 * with dlopen() after the workers (or the fork server) were created.
 * With MPK_THREAD everything is shared as in any threaded program.
 *
 * Start methods (mpk_pool_opts.start, process backend)
 * ----------------------------------------------------
 *   MPK_START_FORK        workers (and their replacements) are forked from
 *                         the calling process; a replacement sees the
 *                         parent's memory as of its own fork.
 *   MPK_START_FORKSERVER  at pool creation mpk forks one single-threaded
 *                         server process, which forks every worker and
 *                         every replacement; no worker is ever forked from a
 *                         multithreaded process. Workers see the parent's
 *                         memory as of pool creation plus the shared heap.
 *   MPK_START_AUTO        (default) FORKSERVER when the calling process has
 *                         more than one thread at pool creation (an MPI
 *                         library, another pool, the caller's own threads),
 *                         else FORK.
 * With FORK, replacements of dead or recycled workers are forked from the
 * parent as it is then, possibly multithreaded. glibc's malloc is safe in
 * such a child; the allocator of GCC 12's AddressSanitizer is not (a lock
 * held by another thread at the fork stays held in the child, whose first
 * malloc then waits forever: seen once in 25 runs of pool.stress under
 * load). Programs that start threads after creating a pool and replace
 * workers should use MPK_START_FORKSERVER when built with ASan.
 * In every worker the worker loop runs on a fresh thread created after the
 * fork, so OpenMP regions inside kernels work even when the parent ran
 * OpenMP before the pool was created (GNU libgomp would otherwise hang).
 * Workers inherit the user's descriptors as with fork(2) (those open when
 * they, or the fork server, were forked), but never mpk's internal ones of
 * another pool or process: a pool's fork-server socket, lifeline and pidfds
 * are held by that pool's own processes only, not by another pool's server
 * or workers, an mpk_process child or a raw fork() child. So pools may be
 * freed in any order, also while other children run.
 *
 * Hybrid workers
 * --------------
 * threads_per_worker = k > 1 gives each worker k cores (the plan of
 * mpk_topo_plan_ex) and makes k the OpenMP team size inside it
 * (omp_set_num_threads(k) in the worker); a kernel may use
 * `#pragma omp parallel for` inside a chunk. The team inherits the worker's
 * cpuset, so it stays on the worker's cores. With OMP_PROC_BIND set to true,
 * close, master/primary or spread, mpk also binds team thread t to PU t of
 * the worker's cpuset (close) or spreads the team over it (spread) when the
 * worker starts; with OMP_PROC_BIND unset or false the team floats inside
 * the worker's cpuset. OMP_NUM_THREADS is ignored inside workers (the pool
 * option decides). With k = 1 (the default) the OpenMP team size inside a
 * worker is 1, so a stray `omp parallel` does not oversubscribe the node.
 *
 * Failure semantics
 * -----------------
 *   - A task returning non-zero fails its call with MPK_ETASK; the rest of
 *     the call is cancelled (chunks not yet started are skipped); the lowest
 *     failing index among the tasks that ran is reported by
 *     mpk_pool_last_error (map: element index; for / reduce: start of the
 *     failing chunk; apply: 0) with the task's return value.
 *   - A worker that dies while it takes part in a call (a signal, exit() in
 *     a kernel) fails that call with MPK_EWORKER (mpk_pool_last_error gives
 *     the signal, 0 for an exit); the call returns promptly (death is seen
 *     through pidfds, not polling). The pool forks a replacement with the
 *     same id and binding, so the next call works; other calls in flight
 *     continue.
 *   - task_timeout: a chunk running longer is killed with its worker, the
 *     call fails with MPK_ETIMEDOUT, the worker is replaced.
 *   - A failed call leaves `result` and a staged `out` unchanged; an `out`
 *     in the shared heap, or any `out` with MPK_THREAD, may be partly
 *     written.
 *   - When the parent dies, every worker dies too (PR_SET_PDEATHSIG).
 *   - mpk_errmsg() (mpk/error.h) in the thread that gets the code says
 *     which: "map: task returned 7 at element 5 (worker 1, pid 1234)",
 *     "map: worker 1 (pid 1234) killed by signal 9 (SIGKILL) in the chunk
 *     from element 40", "apply: worker 0 (pid 99) exited with status 3",
 *     "...: ran longer than task_timeout (0.5 s)"; a pool that cannot start
 *     says which worker failed and how ("worker 0 (pid 1234): init returned
 *     non-zero"). So do mpk_async_wait, mpk_iter_next and
 *     mpk_pool_last_error, in the thread that calls them, and an async
 *     callback, on the completion thread.
 *
 * Scheduling (mpk_sched)
 * ----------------------
 *   MPK_SCHED_STATIC   chunk 0: one contiguous block per worker (OpenMP
 *                      static); chunk c: blocks of c dealt round-robin.
 *   MPK_SCHED_CYCLIC   blocks of `chunk` (0: 1) dealt round-robin.
 *   MPK_SCHED_DYNAMIC  workers take the next block of `chunk` (0: 1) from one
 *                      shared atomic counter.
 *   MPK_SCHED_GUIDED   workers take ceil(remaining / (2 * workers)) chunks
 *                      at once, never less than one chunk (0: 1).
 *   MPK_SCHED_AUTO     map / imap: Python's rule, chunks of
 *                      ceil(n / (4 * workers)) taken dynamically; for and
 *                      reduce: static blocks.
 * A worker that finishes its static share early takes over the share of a
 * worker that is asleep, busy with an earlier call, dead, or has not started
 * it after a short grace period; so static is fast when all workers are
 * ready and still completes when one is not.
 *
 * Reductions
 * ----------
 * The chunk is the unit of reduction for every schedule: each chunk's partial
 * (starting from `identity`) lives in the shared heap, and the partials are
 * combined in the parent in a fixed pairwise tree over chunk order. The result
 * is therefore bit-identical for any worker count, backend and schedule at a
 * fixed chunk size. In reductions chunk 0 means ceil(n / 4096) (at least 1),
 * which depends on n only, so the default is reproducible too.
 * MPK_REDUCE_FAST combines per worker instead (one accumulator per worker,
 * blocks as in mpk_pool_for; not reproducible across worker counts).
 * MPK_REDUCE_NEUMAIER (MPK_SUM only) sums the chunk partials in chunk order
 * with Neumaier's compensated summation instead of the tree.
 *
 * Threads and forks
 * -----------------
 * Pool calls are MT-safe: several threads of the parent may call into one
 * pool at once. A pool belongs to the process that created it: a call from
 * a worker, or from any process forked from the creator, returns MPK_ESTATE
 * (never a deadlock). Async callbacks run on one completion thread of the
 * parent; inside a callback, blocking pool calls (a synchronous call,
 * mpk_async_wait on an unfinished call, mpk_iter_next, join) return
 * MPK_EDEADLK; async submissions are allowed.
 *
 * Handles. Pools (MPI pools included), async handles and iterators are
 * malloc'd objects of the process that made them, not shared-heap objects,
 * so unlike the handles of mpk/shm.h they cannot be checked without being
 * read: NULL gets the answer each call lists (MPK_EINVAL, 0, -1, a no-op),
 * and any other pointer that is not a live handle of the call's type (one
 * already freed, an object of another type, garbage) is undefined
 * behaviour, as for FILE * or pthread handles.
 */
#ifndef MPK_POOL_H
#define MPK_POOL_H

#include <stddef.h>
#include <sys/types.h>

#include "mpk/common.h"
#include "mpk/topo.h"

MPK_BEGIN_DECLS

typedef struct mpk_pool mpk_pool_t;

typedef enum { MPK_PROCESS, MPK_THREAD } mpk_backend;
typedef enum { MPK_START_AUTO, MPK_START_FORK, MPK_START_FORKSERVER } mpk_start;

/* Largest pool. */
#define MPK_POOL_MAX_WORKERS 1024

typedef struct {
  int workers;               /* 0: one per allowed core (mpk_core_count())
                                divided by threads_per_worker, at least 1 */
  mpk_backend backend;       /* default MPK_PROCESS */
  mpk_bind_policy bind;      /* default MPK_BIND_COMPACT */
  const char *cpuset;        /* optional explicit list, overrides bind's domain
                                (copied at create) */
  int threads_per_worker;    /* default 1; > 1: OpenMP team per worker */
  long max_tasks_per_worker; /* 0: never recycle; > 0: a worker exits after
                                that many chunks and is replaced */
  size_t max_rss_bytes;      /* 0: no limit; a worker whose resident set passes
                                it retires between chunks and is replaced
                                (process backend only) */
  double task_timeout;       /* <= 0: none; a chunk running longer is killed
                                with its worker (process backend only) */
  mpk_start start;           /* MPK_START_AUTO (default), FORK, FORKSERVER */
  int (*init)(void *arg);    /* runs once in each new worker before its first
                                chunk (Python's initializer); non-zero fails */
  void *init_arg;            /* passed as is: must be valid in workers */
} mpk_pool_opts;

/* Fill o with the defaults above. MT-safe, AS-safe. */
MPK_API void mpk_pool_opts_init(mpk_pool_opts *o);

/* Create a pool (o NULL: defaults) and start its workers; returns once every
   worker has run `init` and is ready.
   Errors: MPK_EINVAL (p NULL, workers < 0 or > MPK_POOL_MAX_WORKERS,
   threads_per_worker < 1, bad backend / bind / start, cpuset unparsable or
   naming no allowed PU, task_timeout NaN); MPK_ENOTSUP (max_rss_bytes or
   task_timeout with MPK_THREAD); MPK_ETASK (init returned non-zero in a
   worker); MPK_EWORKER (a worker died while starting); MPK_ENOMEM,
   MPK_EAGAIN (no memory / processes / threads). On error nothing is left
   running. MT-safe. Creating a pool inside a worker is allowed (a nested
   pool, owned by that worker). */
MPK_API int mpk_pool_create(mpk_pool_t **p, const mpk_pool_opts *o);

/* Number of workers (>= 1), 0 for NULL. MT-safe. */
MPK_API int mpk_pool_size(const mpk_pool_t *p);

typedef struct {
  int workers;            /* pool size */
  int threads_per_worker; /* OpenMP team size per worker */
  mpk_backend backend;
  mpk_start start;    /* resolved: MPK_START_FORK or MPK_START_FORKSERVER
                         (MPK_START_FORK for MPK_THREAD) */
  int oversubscribed; /* 1: workers * threads_per_worker exceed the PUs
                         of the binding domain (workers share PUs) */
  double spin_us;     /* how long an idle worker spins before sleeping
                         (-1: forever, MPK_WAIT_POLICY=active) */
  long replaced;      /* workers replaced so far (deaths, recycling) */
} mpk_pool_info;

/* Describe the pool. MPK_EINVAL for NULL. MT-safe. */
MPK_API int mpk_pool_info_get(const mpk_pool_t *p, mpk_pool_info *info);

/* The cpuset worker i is bound to, as an hwloc list string ("0-1").
   MPK_EINVAL (NULL, i out of range), MPK_EMSGSIZE (cap too small). MT-safe.
 */
MPK_API int mpk_pool_worker_cpuset(const mpk_pool_t *p, int i, char *buf,
                                   size_t cap);

/* The pid of worker i now (process backend; it changes when the worker is
   replaced), 0 while it is starting (initializer not yet returned) or being
   replaced, and for MPK_THREAD; -1 for a bad pool or index. A worker that
   dies 3 times in a row before finishing its start takes its slot out of
   service, so only pids this returns are safe to kill in fault tests.
   MT-safe. */
MPK_API pid_t mpk_pool_worker_pid(const mpk_pool_t *p, int i);

/* Stop accepting work: later submissions return MPK_ESTATE; calls already
   submitted complete. An iterator made before close counts as submitted in
   full: its chunks not yet submitted still run (see mpk_pool_imap).
   MPK_EINVAL for NULL, MPK_ESTATE from a worker. MT-safe. Idempotent. */
MPK_API int mpk_pool_close(mpk_pool_t *p);

/* After close: wait for every submitted call (async callbacks included),
   then stop and reap the workers. Every chunk of every iterator not yet
   freed is part of it: join submits the chunks the iterator has not
   submitted yet and waits until all have completed, keeping the results in
   the iterator (Python's imap + close + join), so it never waits for the
   iterator's consumer; a thread may read the iterator meanwhile, or read it
   after join (or after mpk_pool_free). MPK_ESTATE before close, from a
   worker or after terminate (also when terminate interrupts it);
   MPK_EDEADLK from an async callback. MT-safe (a second join returns at
   once). */
MPK_API int mpk_pool_join(mpk_pool_t *p);

/* Stop now: workers are killed (process backend) or stopped after their
   current chunk (thread backend), pending calls fail with MPK_ECLOSED (their
   callbacks run), later calls return MPK_ESTATE. Iterators hand out the
   results of the chunks that had completed, and MPK_ECLOSED once for each
   other chunk (see mpk_iter_next). MT-safe. Idempotent. */
MPK_API int mpk_pool_terminate(mpk_pool_t *p);

/* Terminate if still running, reap everything, free. NULL is a no-op.
   Async handles and iterators of the pool stay valid until freed (their
   calls have failed with MPK_ECLOSED if they had not finished); an iterator
   still hands out the results of the chunks that had completed (all of
   them after join), then MPK_ECLOSED once for each other chunk, then
   MPK_EEOF. Not to be called concurrently with other calls on the same
   pool (its iterators included), nor from an async callback. */
MPK_API void mpk_pool_free(mpk_pool_t *p);

typedef enum {
  MPK_SCHED_AUTO,
  MPK_SCHED_STATIC,
  MPK_SCHED_CYCLIC,
  MPK_SCHED_DYNAMIC,
  MPK_SCHED_GUIDED
} mpk_sched_kind;

typedef struct {
  mpk_sched_kind kind;
  size_t chunk; /* 0: automatic (see Scheduling and Reductions above) */
} mpk_sched;

typedef int (*mpk_range_fn)(size_t lo, size_t hi, void *ctx);
typedef double (*mpk_sum_fn)(size_t lo, size_t hi, void *ctx);
typedef int (*mpk_map_fn)(const void *in, void *out, void *ctx);
typedef int (*mpk_task_fn)(const void *arg, void *result, void *ctx);
typedef enum { MPK_SUM, MPK_PROD, MPK_MIN, MPK_MAX } mpk_op;

/* Flags. MPK_REDUCE_FAST and MPK_REDUCE_NEUMAIER for reductions,
   MPK_UNORDERED for imap. Unknown bits are MPK_EINVAL. */
enum { MPK_REDUCE_FAST = 1, MPK_UNORDERED = 2, MPK_REDUCE_NEUMAIER = 4 };

/* Run fn(lo, hi, ctx) over [0, n) in chunks (the schedule decides which
   worker runs which chunk); return when all have finished. A non-zero return
   is MPK_ETASK. n = 0 returns MPK_OK at once, running nothing.
   Errors: MPK_EINVAL (p or fn NULL, ctx NULL with ctx_size > 0, bad
   schedule kind); MPK_ESTATE (closed, terminated, or called from a worker);
   MPK_EDEADLK (from an async callback); MPK_ETASK; MPK_EWORKER;
   MPK_ETIMEDOUT (task_timeout); MPK_ECLOSED (terminated meanwhile);
   MPK_ENOMEM. MT-safe. */
MPK_API int mpk_pool_for(mpk_pool_t *p, size_t n, mpk_range_fn fn,
                         const void *ctx, size_t ctx_size, mpk_sched s);

/* Reduce fn(lo, hi, ctx) over the chunks of [0, n) with op into *result
   (see Reductions). n = 0 gives the identity (0, 1, +inf, -inf).
   Flags: 0 (deterministic tree), MPK_REDUCE_FAST, MPK_REDUCE_NEUMAIER
   (MPK_SUM only; may be combined with FAST). Errors as mpk_pool_for, and
   MPK_EINVAL for result NULL, a bad op or bad flags. *result is unchanged
   on error. MT-safe. */
MPK_API int mpk_pool_reduce_double(mpk_pool_t *p, size_t n, mpk_sum_fn fn,
                                   const void *ctx, size_t ctx_size, mpk_op op,
                                   mpk_sched s, int flags, double *result);

/* Generic reduction over elements of elem_size bytes: each chunk's
   accumulator starts as a copy of identity and kernel(lo, hi, acc, ctx)
   folds the chunk into it (non-zero: MPK_ETASK); the parent folds
   accumulators with combine(acc, other) in a fixed pairwise tree and writes
   the total to result. n = 0 copies identity. combine must be associative
   for the result to be meaningful; it runs in the parent. Flags 0 or
   MPK_REDUCE_FAST. Errors as mpk_pool_for, and MPK_EINVAL for NULL kernel,
   combine, identity or result, elem_size 0, bad flags. MT-safe. */
MPK_API int
mpk_pool_reduce(mpk_pool_t *p, size_t n,
                int (*kernel)(size_t lo, size_t hi, void *acc, void *ctx),
                void (*combine)(void *acc, const void *other),
                const void *identity, size_t elem_size, const void *ctx,
                size_t ctx_size, mpk_sched s, int flags, void *result);

/* out[i] = fn(in[i]) for i in [0, n): fn(in + i * in_size,
   out + i * out_size, ctx). Results are in input order. in / out outside the
   shared heap are staged through it (process backend). n = 0: MPK_OK.
   Errors: MPK_EINVAL (p or fn NULL, in_size or out_size 0, in or out NULL
   with n > 0, sizes overflowing, ctx NULL with ctx_size > 0, bad schedule);
   the rest as mpk_pool_for (MPK_ETASK gives the element index). MT-safe. */
MPK_API int mpk_pool_map(mpk_pool_t *p, mpk_map_fn fn, const void *in,
                         size_t in_size, void *out, size_t out_size, size_t n,
                         const void *ctx, size_t ctx_size, mpk_sched s);

/* Run fn(arg, result, NULL) once in a worker; arg (arg_size bytes, copied)
   and result (result_size bytes) may be NULL with size 0. Errors as
   mpk_pool_for, MPK_EINVAL for a NULL pointer with a non-zero size.
   MT-safe. */
MPK_API int mpk_pool_apply(mpk_pool_t *p, mpk_task_fn fn, const void *arg,
                           size_t arg_size, void *result, size_t result_size);

typedef struct mpk_async mpk_async_t;
typedef void (*mpk_done_fn)(mpk_async_t *a, int status, void *user);

/* Asynchronous map: as mpk_pool_map, returning at once. ctx is copied and a
   staged `in` is copied at submit; `out` (and an `in` used in place: in the
   shared heap, or any `in` with MPK_THREAD) must stay valid until the call
   completes. When it completes, results are written to out, then done(a,
   status, user) runs once on the pool's completion thread (done may be
   NULL), then mpk_async_wait returns. *a receives a handle to free with
   mpk_async_free; a may be NULL (the handle frees itself after the
   callback). A call rejected at submit returns its error, sets *a to NULL
   and never runs done. Errors at submit: as mpk_pool_map (except the
   run-time ones), MPK_EAGAIN (no completion thread). MT-safe. */
MPK_API int mpk_pool_map_async(mpk_pool_t *p, mpk_map_fn fn, const void *in,
                               size_t in_size, void *out, size_t out_size,
                               size_t n, const void *ctx, size_t ctx_size,
                               mpk_sched s, mpk_done_fn done, void *user,
                               mpk_async_t **a);

/* Asynchronous apply: as mpk_pool_apply; arg is copied at submit, result
   must stay valid until completion. Callback and handle as map_async.
   MT-safe. */
MPK_API int mpk_pool_apply_async(mpk_pool_t *p, mpk_task_fn fn, const void *arg,
                                 size_t arg_size, void *result,
                                 size_t result_size, mpk_done_fn done,
                                 void *user, mpk_async_t **a);

/* Wait until the call has completed and its callback has run; returns the
   call's status (MPK_OK, MPK_ETASK, MPK_EWORKER, MPK_ETIMEDOUT,
   MPK_ECLOSED, ...), or MPK_ETIMEDOUT when it is still running after
   `timeout` seconds (MPK_FOREVER: no limit; 0: poll), MPK_EINVAL for NULL
   or a NaN timeout, MPK_EDEADLK from the completion thread on a call that
   has not completed. MT-safe. */
MPK_API int mpk_async_wait(mpk_async_t *a, double timeout);

/* 1 once the call has completed and its callback has run, else 0 (also 0
   for NULL). MT-safe, never blocks. */
MPK_API int mpk_async_ready(mpk_async_t *a);

/* Wait for the call (if still running) and free the handle. NULL is a no-op.
   Must not be called twice, nor on a handle the callback may still use, nor
   on a handle returned through a NULL `a`. */
MPK_API void mpk_async_free(mpk_async_t *a);

typedef struct mpk_iter mpk_iter_t;

/* imap / imap_unordered: map fn over in[0, n) and stream the results with
   mpk_iter_next, as chunks finish. Chunks of `chunk` elements (0: Python
   map's rule ceil(n / (4 * workers))), one job each. flags 0: results in
   input order; MPK_UNORDERED: chunks in completion order (elements of one
   chunk in order). `in` is read (and staged chunk by chunk) while the
   iterator runs: it must stay valid and unchanged until mpk_iter_free.

   Flow. The consumer drives the iterator: mpk_iter_next submits the next
   chunks so that at most about 2 x workers chunks are in flight or waiting
   to be consumed (a slow consumer never makes results pile up). A chunk
   far slower than the others holds back only its own results (unordered)
   or those after it (ordered); the pool's job ring (64 jobs; more for
   pools of over 16 workers) is not reused past a job still running, so at
   most that many jobs, other calls' included, run ahead of it. Submission
   never waits inside mpk_iter_next: a finished chunk gives back its ring
   slot as soon as the iterator sees it (its results wait in the
   iterator), and when the ring is full the iterator waits, within the
   caller's timeout, for a result or a free slot. So an iterator never
   waits on itself and mpk_iter_next always returns within its timeout.

   Life cycle. The whole map counts as submitted at creation: mpk_pool_close
   does not stop it; mpk_pool_join runs every remaining chunk and keeps the
   results (the window above does not apply then: every result not yet
   consumed is held, in the shared heap for the process backend). After
   terminate, free, or the loss of every worker, see mpk_iter_next.

   Errors: as mpk_pool_map at submit (MPK_ESTATE once closed, MPK_EWORKER
   when no worker is left), MPK_EINVAL for unknown flags. MT-safe (one
   iterator is used by one thread at a time; other threads may close, join
   or terminate the pool meanwhile). */
MPK_API int mpk_pool_imap(mpk_pool_t *p, mpk_map_fn fn, const void *in,
                          size_t in_size, size_t out_size, size_t n,
                          const void *ctx, size_t ctx_size, size_t chunk,
                          int flags, mpk_iter_t **it);

/* The next result: its element index into *index (may be NULL) and
   out_size bytes into out. Waits at most `timeout` seconds (MPK_FOREVER: no
   limit; 0: poll), always: also when the ring is full or a worker dies.
   Returns MPK_OK; MPK_EEOF after the last (and again at every later call);
   MPK_ETIMEDOUT (nothing ready within timeout; the iterator is unchanged:
   call again); MPK_ETASK / MPK_EWORKER / MPK_ETIMEDOUT / MPK_ECLOSED when a
   chunk failed: returned once, with *index the failing element (ETASK) or
   the chunk's first element, after the chunk's results that precede it; the
   iterator then continues with the next chunk.
   After mpk_pool_terminate, mpk_pool_free or the loss of every worker, the
   results of the chunks that had completed are still handed out, and every
   other chunk yields its error once with *index its first element:
   MPK_ECLOSED for a chunk in flight at terminate / free or never submitted,
   MPK_EWORKER for a chunk in flight when the last worker was lost; then
   MPK_EEOF. Ordered iterators report each chunk in its place; unordered
   ones the chunks that had been submitted first. MPK_ENOMEM: no memory for
   the next chunk and none in flight (call again); a chunk join could not
   hold (pool memory exhausted) yields MPK_ENOMEM once, as a failed chunk.
   MPK_EINVAL (NULL it or out, NaN timeout), MPK_EDEADLK from an async
   callback. Not MT-safe on one iterator; MT-safe with respect to close,
   join and terminate of its pool in other threads. */
MPK_API int mpk_iter_next(mpk_iter_t *it, size_t *index, void *out,
                          double timeout);

/* Cancel what is left (chunks not started are skipped), wait for the chunks
   in flight and free the iterator (and the results it holds); a join in
   progress no longer waits for it. Also after mpk_pool_free. NULL is a
   no-op. */
MPK_API void mpk_iter_free(mpk_iter_t *it);

/* Inside a worker (and inside OpenMP threads of a hybrid worker): the
   worker's id, 0..n-1 (a replacement keeps the id), and the pool size.
   In any other thread: -1 and 0. MT-safe, AS-safe. */
MPK_API int mpk_worker_id(void);
MPK_API int mpk_worker_count(void);

/* After a call failed with MPK_ETASK, MPK_EWORKER or MPK_ETIMEDOUT: returns
   that code (the pool's most recent failure) and fills *index (map: the
   element; for / reduce: the failing chunk's first index; apply: 0),
   *task_status (the task's return value for MPK_ETASK, else 0) and *signal
   (the signal that killed the worker for MPK_EWORKER / MPK_ETIMEDOUT, 0 if
   it exited). Returns MPK_OK (outputs zeroed) when no call has failed yet.
   Any output pointer may be NULL. MPK_EINVAL for a NULL pool. MT-safe. */
MPK_API int mpk_pool_last_error(mpk_pool_t *p, size_t *index, int *task_status,
                                int *signal);

MPK_END_DECLS

#endif
