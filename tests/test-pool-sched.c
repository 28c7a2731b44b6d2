/* pool.sched: the pool's chunk arithmetic (pool/sched.c), table-driven:
   n = 0, 1, chunk > n, n not divisible, n near SIZE_MAX; every kind and
   use. The invariant checked for every row: the chunks of the plan tile
   [0, n) exactly once, in order, and every hand-out (BLOCK shares, CYCLIC
   shares, DYNAMIC and GUIDED grabs) covers each chunk exactly once. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "internal/pool_sched.h"

typedef struct {
  mpk_sched_kind kind;
  size_t chunk;
  size_t n;
  unsigned workers;
  mpk__sched_use use;
  mpk__plan_kind want_kind;
  size_t want_chunk;
  size_t want_nchunks;
} row;

#define SMAX SIZE_MAX

static const row table[] = {
    /* n = 0: no chunks, chunk still >= 1 */
    {MPK_SCHED_STATIC, 0, 0, 4, MPK__USE_FOR, MPK__PLAN_BLOCK, 1, 0},
    {MPK_SCHED_DYNAMIC, 0, 0, 4, MPK__USE_FOR, MPK__PLAN_DYNAMIC, 1, 0},
    {MPK_SCHED_AUTO, 0, 0, 4, MPK__USE_MAP, MPK__PLAN_DYNAMIC, 1, 0},
    {MPK_SCHED_GUIDED, 0, 0, 4, MPK__USE_REDUCE, MPK__PLAN_GUIDED, 1, 0},
    /* n = 1 */
    {MPK_SCHED_STATIC, 0, 1, 4, MPK__USE_FOR, MPK__PLAN_BLOCK, 1, 1},
    {MPK_SCHED_CYCLIC, 0, 1, 4, MPK__USE_FOR, MPK__PLAN_CYCLIC, 1, 1},
    {MPK_SCHED_DYNAMIC, 7, 1, 4, MPK__USE_FOR, MPK__PLAN_DYNAMIC, 7, 1},
    {MPK_SCHED_AUTO, 0, 1, 4, MPK__USE_MAP, MPK__PLAN_DYNAMIC, 1, 1},
    {MPK_SCHED_AUTO, 0, 1, 4, MPK__USE_REDUCE, MPK__PLAN_BLOCK, 1, 1},
    /* chunk > n */
    {MPK_SCHED_STATIC, 100, 10, 3, MPK__USE_FOR, MPK__PLAN_CYCLIC, 100, 1},
    {MPK_SCHED_DYNAMIC, 100, 10, 3, MPK__USE_MAP, MPK__PLAN_DYNAMIC, 100, 1},
    {MPK_SCHED_GUIDED, 100, 10, 3, MPK__USE_REDUCE, MPK__PLAN_GUIDED, 100, 1},
    /* n not divisible */
    {MPK_SCHED_STATIC, 0, 10, 3, MPK__USE_FOR, MPK__PLAN_BLOCK, 1, 10},
    {MPK_SCHED_STATIC, 3, 10, 3, MPK__USE_FOR, MPK__PLAN_CYCLIC, 3, 4},
    {MPK_SCHED_CYCLIC, 4, 10, 2, MPK__USE_MAP, MPK__PLAN_CYCLIC, 4, 3},
    {MPK_SCHED_DYNAMIC, 3, 10, 3, MPK__USE_FOR, MPK__PLAN_DYNAMIC, 3, 4},
    {MPK_SCHED_GUIDED, 2, 101, 4, MPK__USE_FOR, MPK__PLAN_GUIDED, 2, 51},
    /* AUTO: Python's chunksize ceil(n / (4 W)) for maps */
    {MPK_SCHED_AUTO, 0, 100, 4, MPK__USE_MAP, MPK__PLAN_DYNAMIC, 7, 15},
    {MPK_SCHED_AUTO, 0, 101, 5, MPK__USE_MAP, MPK__PLAN_DYNAMIC, 6, 17},
    {MPK_SCHED_AUTO, 0, 100, 4, MPK__USE_FOR, MPK__PLAN_BLOCK, 1, 100},
    /* reductions: chunk 0 depends on n only (ceil(n / 4096)) */
    {MPK_SCHED_STATIC, 0, 10000000, 1, MPK__USE_REDUCE, MPK__PLAN_BLOCK, 2442,
     4096},
    {MPK_SCHED_STATIC, 0, 10000000, 3, MPK__USE_REDUCE, MPK__PLAN_BLOCK, 2442,
     4096},
    {MPK_SCHED_DYNAMIC, 0, 10000000, 2, MPK__USE_REDUCE, MPK__PLAN_DYNAMIC,
     2442, 4096},
    {MPK_SCHED_GUIDED, 0, 10000000, 4, MPK__USE_REDUCE, MPK__PLAN_GUIDED, 2442,
     4096},
    {MPK_SCHED_CYCLIC, 0, 10000000, 4, MPK__USE_REDUCE, MPK__PLAN_CYCLIC, 2442,
     4096},
    {MPK_SCHED_AUTO, 0, 4096, 7, MPK__USE_REDUCE, MPK__PLAN_BLOCK, 1, 4096},
    {MPK_SCHED_AUTO, 0, 4097, 7, MPK__USE_REDUCE, MPK__PLAN_BLOCK, 2, 2049},
    /* huge n: nothing overflows */
    {MPK_SCHED_STATIC, 0, SMAX, 4, MPK__USE_FOR, MPK__PLAN_BLOCK, 1, SMAX},
    {MPK_SCHED_DYNAMIC, SMAX / 2, SMAX, 4, MPK__USE_FOR, MPK__PLAN_DYNAMIC,
     SMAX / 2, 3},
    {MPK_SCHED_CYCLIC, SMAX - 1, SMAX, 2, MPK__USE_FOR, MPK__PLAN_CYCLIC,
     SMAX - 1, 2},
    {MPK_SCHED_GUIDED, SMAX, SMAX, 1024, MPK__USE_FOR, MPK__PLAN_GUIDED, SMAX,
     1},
    {MPK_SCHED_AUTO, 0, SMAX, 1024, MPK__USE_MAP, MPK__PLAN_DYNAMIC,
     SMAX / 4096 + 1, 4096},
    {MPK_SCHED_AUTO, 0, SMAX, 3, MPK__USE_REDUCE, MPK__PLAN_BLOCK,
     SMAX / 4096 + 1, 4096},
};

/* Chunks tile [0, n) in order with no gap and no overlap. Checked on the
   first and last few chunks for huge plans. */
static void check_tiling(const mpk__plan *pl) {
  if (pl->n == 0) {
    CHECK_EQ(pl->nchunks, 0);
    return;
  }
  size_t lo, hi;
  mpk__plan_chunk(pl, 0, &lo, &hi);
  CHECK_EQ(lo, 0);
  mpk__plan_chunk(pl, pl->nchunks - 1, &lo, &hi);
  CHECK(hi == pl->n);
  CHECK(lo < hi);
  CHECK(hi - lo <= pl->chunk);
  size_t limit = pl->nchunks < 100000 ? pl->nchunks : 8;
  size_t prev_hi = 0;
  for (size_t c = 0; c < limit; c++) {
    mpk__plan_chunk(pl, c, &lo, &hi);
    CHECK(lo == prev_hi);
    CHECK(hi > lo);
    CHECK(c + 1 == pl->nchunks || hi - lo == pl->chunk);
    prev_hi = hi;
  }
  if (limit == pl->nchunks)
    CHECK(prev_hi == pl->n);
}

/* Each hand-out covers every chunk once (small plans only). */
static void check_handout(const mpk__plan *pl) {
  if (pl->nchunks > 100000)
    return;
  unsigned char *seen = calloc(pl->nchunks + 1, 1);
  CHECK(seen != NULL);
  size_t total = 0;
  switch (pl->kind) {
  case MPK__PLAN_BLOCK: {
    size_t expect = 0;
    for (unsigned w = 0; w < pl->workers; w++) {
      size_t c0, c1;
      mpk__plan_block(pl, w, &c0, &c1);
      CHECK(c0 == expect); /* contiguous, in worker order */
      CHECK(c1 >= c0);
      /* balanced: sizes differ by at most one */
      CHECK(c1 - c0 == pl->nchunks / pl->workers ||
            c1 - c0 == pl->nchunks / pl->workers + 1);
      CHECK_EQ(mpk__plan_share_chunks(pl, w), c1 - c0);
      for (size_t c = c0; c < c1; c++)
        seen[c]++;
      total += c1 - c0;
      expect = c1;
    }
    CHECK(expect == pl->nchunks);
    if (pl->nchunks > 0) {
      size_t lo, hi;
      mpk__plan_run(pl, 0, pl->nchunks, &lo, &hi);
      CHECK(lo == 0 && hi == pl->n);
    }
    break;
  }
  case MPK__PLAN_CYCLIC:
    for (unsigned w = 0; w < pl->workers; w++) {
      size_t k = 0;
      for (size_t c = w; c < pl->nchunks; c = mpk__plan_cyclic_next(pl, c)) {
        CHECK(c % pl->workers == w);
        seen[c]++;
        k++;
      }
      CHECK_EQ(mpk__plan_share_chunks(pl, w), k);
      total += k;
    }
    break;
  case MPK__PLAN_DYNAMIC:
    for (size_t c = 0; c < pl->nchunks; c++)
      seen[c]++, total++;
    break;
  case MPK__PLAN_GUIDED: {
    size_t next = 0, last = SIZE_MAX;
    while (next < pl->nchunks) {
      size_t k = mpk__plan_guided_grab(pl, next);
      CHECK(k >= 1);
      CHECK(k <= pl->nchunks - next);
      CHECK(k <= last); /* grabs never grow */
      last = k;
      for (size_t c = next; c < next + k; c++)
        seen[c]++;
      total += k;
      next += k;
    }
    break;
  }
  }
  CHECK(total == pl->nchunks);
  for (size_t c = 0; c < pl->nchunks; c++)
    CHECK_MSG(seen[c] == 1, "chunk %zu seen %d times", c, seen[c]);
  free(seen);
}

static void test_table(void) {
  for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
    const row *r = &table[i];
    mpk__plan pl;
    mpk_sched s = {r->kind, r->chunk};
    CHECK_MSG(mpk__plan_make(&pl, s, r->n, r->workers, r->use) == MPK_OK,
              "row %zu", i);
    CHECK_MSG(pl.kind == r->want_kind, "row %zu: kind %d", i, (int)pl.kind);
    CHECK_MSG(pl.chunk == r->want_chunk, "row %zu: chunk %zu != %zu", i,
              pl.chunk, r->want_chunk);
    CHECK_MSG(pl.nchunks == r->want_nchunks, "row %zu: nchunks %zu != %zu", i,
              pl.nchunks, r->want_nchunks);
    CHECK(pl.n == r->n);
    CHECK(pl.workers == r->workers);
    check_tiling(&pl);
    check_handout(&pl);
  }
}

/* Every combination on small sizes: tiling and hand-out always hold. */
static void test_exhaustive_small(void) {
  const mpk__sched_use uses[] = {MPK__USE_FOR, MPK__USE_REDUCE, MPK__USE_MAP};
  for (int kind = MPK_SCHED_AUTO; kind <= MPK_SCHED_GUIDED; kind++)
    for (size_t n = 0; n <= 40; n++)
      for (size_t chunk = 0; chunk <= 12; chunk++)
        for (unsigned w = 1; w <= 9; w++)
          for (int u = 0; u < 3; u++) {
            mpk__plan pl;
            mpk_sched s = {(mpk_sched_kind)kind, chunk};
            CHECK_OK(mpk__plan_make(&pl, s, n, w, uses[u]));
            CHECK(pl.chunk >= 1);
            if (chunk > 0)
              CHECK(pl.chunk == chunk);
            check_tiling(&pl);
            check_handout(&pl);
          }
}

/* BLOCK shares at huge n: every share is computed without overflow and the
   shares are contiguous. */
static void test_huge_block(void) {
  mpk__plan pl;
  mpk_sched s = {MPK_SCHED_STATIC, 0};
  CHECK_OK(mpk__plan_make(&pl, s, SIZE_MAX, 1024, MPK__USE_FOR));
  size_t expect = 0;
  for (unsigned w = 0; w < 1024; w++) {
    size_t c0, c1;
    mpk__plan_block(&pl, w, &c0, &c1);
    CHECK(c0 == expect);
    CHECK(c1 > c0);
    expect = c1;
  }
  CHECK(expect == SIZE_MAX);
  size_t lo, hi;
  mpk__plan_run(&pl, 0, pl.nchunks, &lo, &hi);
  CHECK(lo == 0 && hi == SIZE_MAX);
  /* cyclic next never wraps */
  s = (mpk_sched){MPK_SCHED_CYCLIC, SIZE_MAX / 4}; /* 4 full + 1 short */
  CHECK_OK(mpk__plan_make(&pl, s, SIZE_MAX, 2, MPK__USE_FOR));
  CHECK_EQ(pl.nchunks, 5);
  CHECK(mpk__plan_cyclic_next(&pl, 0) == 2);
  CHECK(mpk__plan_cyclic_next(&pl, 2) == 4);
  CHECK(mpk__plan_cyclic_next(&pl, 4) == SIZE_MAX);
  CHECK(mpk__plan_cyclic_next(&pl, 3) == SIZE_MAX);
  mpk__plan_chunk(&pl, 4, &lo, &hi);
  CHECK(hi == SIZE_MAX && lo == 4 * (SIZE_MAX / 4) && hi - lo == 3);
  /* guided on a huge count */
  s = (mpk_sched){MPK_SCHED_GUIDED, 1};
  CHECK_OK(mpk__plan_make(&pl, s, SIZE_MAX, 4, MPK__USE_FOR));
  CHECK(mpk__plan_guided_grab(&pl, 0) == SIZE_MAX / 8 + 1);
  CHECK(mpk__plan_guided_grab(&pl, SIZE_MAX - 1) == 1);
}

/* Guided: first grab ceil(nchunks / 2W), then shrinking to 1. */
static void test_guided_values(void) {
  mpk__plan pl;
  mpk_sched s = {MPK_SCHED_GUIDED, 0};
  CHECK_OK(mpk__plan_make(&pl, s, 1000, 2, MPK__USE_FOR));
  CHECK_EQ(mpk__plan_guided_grab(&pl, 0), 250);
  CHECK_EQ(mpk__plan_guided_grab(&pl, 250), 188);
  CHECK_EQ(mpk__plan_guided_grab(&pl, 999), 1);
  s.chunk = 10; /* never below the chunk: grabs are whole chunks */
  CHECK_OK(mpk__plan_make(&pl, s, 1000, 2, MPK__USE_FOR));
  CHECK_EQ(pl.nchunks, 100);
  CHECK_EQ(mpk__plan_guided_grab(&pl, 0), 25);
  CHECK_EQ(mpk__plan_guided_grab(&pl, 99), 1);
}

/* OpenMP's static schedule without a chunk: 10 over 4 is 3,3,2,2. */
static void test_static_blocks(void) {
  mpk__plan pl;
  mpk_sched s = {MPK_SCHED_STATIC, 0};
  CHECK_OK(mpk__plan_make(&pl, s, 10, 4, MPK__USE_FOR));
  const size_t want[4][2] = {{0, 3}, {3, 6}, {6, 8}, {8, 10}};
  for (unsigned w = 0; w < 4; w++) {
    size_t c0, c1, lo, hi;
    mpk__plan_block(&pl, w, &c0, &c1);
    mpk__plan_run(&pl, c0, c1, &lo, &hi);
    CHECK_EQ(lo, want[w][0]);
    CHECK_EQ(hi, want[w][1]);
  }
  /* more workers than iterations: trailing shares are empty */
  CHECK_OK(mpk__plan_make(&pl, s, 2, 5, MPK__USE_FOR));
  size_t c0, c1;
  mpk__plan_block(&pl, 4, &c0, &c1);
  CHECK_EQ(c0, c1);
  CHECK_EQ(mpk__plan_share_chunks(&pl, 4), 0);
}

static void test_errors(void) {
  mpk__plan pl = {.chunk = 77};
  mpk_sched s = {MPK_SCHED_STATIC, 0};
  CHECK_RC(mpk__plan_make(&pl, s, 10, 0, MPK__USE_FOR), MPK_EINVAL);
  s.kind = (mpk_sched_kind)99;
  CHECK_RC(mpk__plan_make(&pl, s, 10, 2, MPK__USE_FOR), MPK_EINVAL);
  s.kind = (mpk_sched_kind)-1;
  CHECK_RC(mpk__plan_make(&pl, s, 10, 2, MPK__USE_FOR), MPK_EINVAL);
  s.kind = MPK_SCHED_STATIC;
  CHECK_RC(mpk__plan_make(&pl, s, 10, 2, (mpk__sched_use)7), MPK_EINVAL);
  CHECK_EQ(pl.chunk, 77); /* unchanged on error */
  CHECK_EQ(mpk__ceil_div(SIZE_MAX, 1), SIZE_MAX);
  CHECK(mpk__ceil_div(SIZE_MAX, 2) == SIZE_MAX / 2 + 1);
  CHECK_EQ(mpk__ceil_div(0, 5), 0);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_table);
  CHECK_RUN(test_exhaustive_small);
  CHECK_RUN(test_huge_block);
  CHECK_RUN(test_guided_values);
  CHECK_RUN(test_static_blocks);
  CHECK_RUN(test_errors);
  return check_done();
}
