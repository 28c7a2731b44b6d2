/* internal/pool_sched.h - the pool's chunk arithmetic (pool/sched.c).
 *
 * Pure code: no I/O, no locks, no atomics, no allocation. It turns a public
 * mpk_sched and (n, workers, use) into a plan: the chunk boundaries and how
 * chunks are handed out. The worker loop (pool/worker.c) applies the plan
 * with atomics; the tests check the arithmetic on tables, including n = 0,
 * 1, chunk > n, n not divisible and n near SIZE_MAX (nothing overflows).
 *
 * Chunks: chunk c of a plan covers [c * chunk, min(n, (c + 1) * chunk)), for
 * c in [0, nchunks), nchunks = ceil(n / chunk).
 * Hand-out:
 *   BLOCK    W shares; share w is the contiguous chunk run
 *            [w*q + min(w, r), that + q + (w < r)), q = nchunks / W,
 *            r = nchunks % W (OpenMP static without a chunk).
 *   CYCLIC   W shares; share w is chunks w, w + W, w + 2W, ...
 *   DYNAMIC  one shared counter, one chunk per grab.
 *   GUIDED   one shared counter, mpk__plan_guided_grab() chunks per grab.
 */
#ifndef MPK_INTERNAL_POOL_SCHED_H
#define MPK_INTERNAL_POOL_SCHED_H

#include <stddef.h>
#include <stdint.h>

#include "mpk/pool.h"

typedef enum {
  MPK__PLAN_BLOCK,
  MPK__PLAN_CYCLIC,
  MPK__PLAN_DYNAMIC,
  MPK__PLAN_GUIDED
} mpk__plan_kind;

/* What the plan is for; it decides what chunk 0 and AUTO mean. */
typedef enum {
  MPK__USE_FOR,    /* mpk_pool_for and MPK_REDUCE_FAST reductions */
  MPK__USE_REDUCE, /* deterministic reductions: chunk 0 depends on n only */
  MPK__USE_MAP     /* map, imap: AUTO is Python's chunksize rule */
} mpk__sched_use;

/* Chunks a deterministic reduction aims for when chunk is 0. */
#define MPK__REDUCE_CHUNKS 4096u

typedef struct {
  mpk__plan_kind kind;
  unsigned workers; /* W >= 1 */
  size_t n;         /* iterations */
  size_t chunk;     /* >= 1 */
  size_t nchunks;   /* ceil(n / chunk); 0 when n == 0 */
} mpk__plan;

/* Build the plan of schedule s for n iterations on `workers` workers.
   MPK_OK, or MPK_EINVAL for a bad kind, workers 0 or a bad use. */
int mpk__plan_make(mpk__plan *pl, mpk_sched s, size_t n, unsigned workers,
                   mpk__sched_use use);

/* ceil(a / b), b > 0, without overflow. */
static inline size_t mpk__ceil_div(size_t a, size_t b) {
  return a / b + (a % b != 0);
}

/* Bounds of chunk c (c < nchunks). */
static inline void mpk__plan_chunk(const mpk__plan *pl, size_t c, size_t *lo,
                                   size_t *hi) {
  size_t l = c * pl->chunk; /* < n: (nchunks - 1) * chunk < n */
  *lo = l;
  *hi = pl->n - l > pl->chunk ? l + pl->chunk : pl->n;
}

/* Bounds of the chunk run [c0, c1) (c0 < c1 <= nchunks). */
static inline void mpk__plan_run(const mpk__plan *pl, size_t c0, size_t c1,
                                 size_t *lo, size_t *hi) {
  *lo = c0 * pl->chunk;
  *hi = c1 >= pl->nchunks ? pl->n : c1 * pl->chunk;
}

/* Number of shares (BLOCK, CYCLIC: W) or 0 (DYNAMIC, GUIDED). */
static inline unsigned mpk__plan_shares(const mpk__plan *pl) {
  return pl->kind == MPK__PLAN_BLOCK || pl->kind == MPK__PLAN_CYCLIC
             ? pl->workers
             : 0;
}

/* BLOCK: the chunk run [*c0, *c1) of share w (w < W); may be empty. */
void mpk__plan_block(const mpk__plan *pl, unsigned w, size_t *c0, size_t *c1);

/* CYCLIC: the chunk after c in the same share, or SIZE_MAX when none. The
   first chunk of share w is w (none when w >= nchunks). */
static inline size_t mpk__plan_cyclic_next(const mpk__plan *pl, size_t c) {
  return pl->nchunks - c > pl->workers ? c + pl->workers : SIZE_MAX;
}

/* GUIDED: how many chunks a grab at counter value `next` (< nchunks) takes:
   ceil((nchunks - next) / (2 W)), at least 1 and at most what is left. */
size_t mpk__plan_guided_grab(const mpk__plan *pl, size_t next);

/* Number of chunks (units of the error index and of reduction partials)
   in share w, for tests and for sizing. */
size_t mpk__plan_share_chunks(const mpk__plan *pl, unsigned w);

#endif
