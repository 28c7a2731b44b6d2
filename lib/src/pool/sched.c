/* sched.c - the pool's chunk arithmetic: pure functions, no I/O, no locks.
 * The rules are in internal/pool_sched.h and mpk/pool.h (Scheduling). */
#include "internal/pool_sched.h"

#include "mpk/error.h"

int mpk__plan_make(mpk__plan *pl, mpk_sched s, size_t n, unsigned workers,
                   mpk__sched_use use) {
  if (workers == 0 || (unsigned)s.kind > (unsigned)MPK_SCHED_GUIDED ||
      (unsigned)use > (unsigned)MPK__USE_MAP)
    return MPK_EINVAL;
  mpk__plan p = {.workers = workers, .n = n, .chunk = s.chunk};
  size_t reduce_chunk = n > 0 ? mpk__ceil_div(n, MPK__REDUCE_CHUNKS) : 1;

  switch (s.kind) {
  case MPK_SCHED_AUTO:
    /* An explicit chunk keeps its size; AUTO picks the hand-out. */
    if (use == MPK__USE_MAP) {
      /* Python: chunksize = ceil(n / (4 * workers)), handed out on demand. */
      p.kind = MPK__PLAN_DYNAMIC;
      if (p.chunk == 0)
        p.chunk = n > 0 ? mpk__ceil_div(n, 4 * (size_t)workers) : 1;
    } else {
      p.kind = MPK__PLAN_BLOCK; /* contiguous runs of chunks per worker */
    }
    break;
  case MPK_SCHED_STATIC:
    if (s.chunk == 0) {
      p.kind = MPK__PLAN_BLOCK;
      p.chunk = use == MPK__USE_REDUCE ? reduce_chunk : 1;
    } else {
      p.kind = MPK__PLAN_CYCLIC; /* OpenMP schedule(static, chunk) */
    }
    break;
  case MPK_SCHED_CYCLIC: p.kind = MPK__PLAN_CYCLIC; break;
  case MPK_SCHED_DYNAMIC: p.kind = MPK__PLAN_DYNAMIC; break;
  case MPK_SCHED_GUIDED: p.kind = MPK__PLAN_GUIDED; break;
  }
  if (p.chunk == 0)
    p.chunk = use == MPK__USE_REDUCE ? reduce_chunk : 1;
  p.nchunks = n > 0 ? mpk__ceil_div(n, p.chunk) : 0;
  *pl = p;
  return MPK_OK;
}

void mpk__plan_block(const mpk__plan *pl, unsigned w, size_t *c0, size_t *c1) {
  size_t q = pl->nchunks / pl->workers, r = pl->nchunks % pl->workers;
  /* w * q <= nchunks because w < W; no overflow. */
  size_t first = (size_t)w * q + (w < r ? w : r);
  *c0 = first;
  *c1 = first + q + (w < r);
}

size_t mpk__plan_guided_grab(const mpk__plan *pl, size_t next) {
  size_t left = pl->nchunks - next;
  size_t k = mpk__ceil_div(left, 2 * (size_t)pl->workers);
  return k < 1 ? 1 : k;
}

size_t mpk__plan_share_chunks(const mpk__plan *pl, unsigned w) {
  if (pl->kind == MPK__PLAN_BLOCK) {
    size_t c0, c1;
    mpk__plan_block(pl, w, &c0, &c1);
    return c1 - c0;
  }
  if (pl->kind == MPK__PLAN_CYCLIC) {
    if (w >= pl->nchunks)
      return 0;
    /* chunks w, w + W, ... below nchunks */
    return (pl->nchunks - w - 1) / pl->workers + 1;
  }
  return 0;
}
