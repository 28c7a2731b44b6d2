/* scn-pool-iter.c - imap (ordered, unordered, closed mid-way), for and the
 * reductions with SIGKILLed workers (kill modes: scn-pool.c).
 *
 * imap is checked result by result: ordered results arrive in input order,
 * unordered ones chunk by chunk with the elements of a chunk in order;
 * each element is delivered once with its exact value, or its chunk is
 * reported failed exactly once (MPK_EWORKER at the chunk's first element,
 * before any of its elements); then MPK_EEOF, and MPK_EEOF again. The chunk
 * holding a "hold" element must be the failed one.
 */
#include <limits.h>

#include "scn-pool.h"

/* ---- imap ---------------------------------------------------------------- */

typedef struct {
  size_t n, chunk, nchunks;
  size_t *next; /* per chunk: the next element expected */
  char *failed; /* per chunk: reported failed */
  size_t cur;   /* ordered: the chunk being delivered */
  int unordered;
  long failures;
  double err_at; /* when the first failure was returned */
} ledger;

static void ledger_init(ledger *L, size_t n, size_t chunk, int unordered) {
  memset(L, 0, sizeof *L);
  L->n = n;
  L->chunk = chunk;
  L->nchunks = n ? (n + chunk - 1) / chunk : 0;
  L->next = calloc(L->nchunks + 1, sizeof *L->next);
  L->failed = calloc(L->nchunks + 1, 1);
  CHECK(L->next && L->failed);
  for (size_t c = 0; c < L->nchunks; c++)
    L->next[c] = c * chunk;
  L->unordered = unordered;
}

static size_t chunk_end(const ledger *L, size_t c) {
  size_t e = (c + 1) * L->chunk;
  return e < L->n ? e : L->n;
}

/* One result (rc, idx, v) against the ledger. */
static void take(ledger *L, int rc, size_t idx, long v, const pk_in *in) {
  CHECK_MSG(rc == MPK_OK || rc == MPK_EWORKER,
            "mpk_iter_next returned %s (index %zu)", mpk_err_name(rc), idx);
  CHECK_MSG(idx < L->n, "mpk_iter_next gave index %zu of %zu", idx, L->n);
  size_t c = idx / L->chunk;
  if (!L->unordered)
    CHECK_MSG(c == L->cur, "ordered imap: index %zu while chunk %zu is due",
              idx, L->cur);
  CHECK_MSG(idx == L->next[c],
            "index %zu delivered when chunk %zu is at %zu (lost or "
            "duplicated)",
            idx, c, L->next[c]);
  if (rc == MPK_OK) {
    CHECK_MSG(v == pk_f(in[idx].v), "imap result %zu: %ld, expected %ld", idx,
              v, pk_f(in[idx].v));
    L->next[c]++;
  } else {
    CHECK_MSG(idx == c * L->chunk,
              "MPK_EWORKER at %zu, not its chunk's first element", idx);
    L->failed[c] = 1;
    L->next[c] = chunk_end(L, c);
    if (L->failures++ == 0)
      L->err_at = check_now();
  }
  while (L->cur < L->nchunks && L->next[L->cur] == chunk_end(L, L->cur))
    L->cur++;
}

/* Take up to max results; 1 once MPK_EEOF came (checked complete). */
static int consume(mpk_iter_t *it, ledger *L, const pk_in *in, long max) {
  for (long k = 0; k < max; k++) {
    size_t idx = SIZE_MAX;
    long v = SENTINEL;
    int rc;
    CH_DO(rc, CH_LIMIT(CH_HANG), mpk_iter_next(it, &idx, &v, CH_HANG));
    if (rc == MPK_EEOF) {
      for (size_t c = 0; c < L->nchunks; c++)
        CHECK_MSG(L->next[c] == chunk_end(L, c),
                  "MPK_EEOF with chunk %zu at %zu of [%zu, %zu): lost", c,
                  L->next[c], c * L->chunk, chunk_end(L, c));
      CHECK_RC(mpk_iter_next(it, &idx, &v, 0), MPK_EEOF);
      return 1;
    }
    take(L, rc, idx, v, in);
  }
  return 0;
}

/* The kill mode's verdict over the whole iterator. */
static void settle(pk_pool *pp, pk_kill *kl, ledger *L) {
  int rc = L->failures ? MPK_EWORKER : MPK_OK;
  pk_kill_finish(pp, kl, rc, L->failures ? L->err_at : check_now(),
                 "mpk_iter_next", 0);
  for (int k = 0; k < 2 && kl->ctx.hold; k++) {
    size_t at = kl->ctx.kill_at[k];
    if (at != NONE_AT && k < kl->k.kills)
      CHECK_MSG(L->failed[at / L->chunk],
                "chunk of the killed element %zu was not reported failed", at);
  }
  CHECK_MSG(L->failures <= kl->k.kills, "%ld chunks failed, %d kills",
            L->failures, kl->k.kills);
  free(L->next);
  free(L->failed);
}

typedef struct {
  size_t n, chunk, actual;
  int flags, in_sh;
  pk_in *in;
  _Atomic long *done;
} imap_call;

static void imap_draw(pk_pool *pp, imap_call *ic, int flags, size_t min_n,
                      long max_chunk) {
  ic->n = pk_draw_n();
  if (ic->n < min_n)
    ic->n = min_n + (size_t)ch_pick(4 * min_n + 1);
  ic->chunk = ch_chance(0.3) ? 0 : (size_t)ch_range(1, max_chunk);
  ic->actual = ic->chunk ? ic->chunk
               : ic->n   ? (ic->n + 4 * (size_t)pp->W - 1) / (4 * (size_t)pp->W)
                         : 1;
  ic->flags = flags;
  ic->in_sh = ch_chance(0.5);
  ic->in = pk_inputs(ic->n, ic->in_sh);
  ic->done = mpk_shm_calloc(1, sizeof *ic->done);
  CHECK(ic->done != NULL);
  ch_note("imap%s n=%zu chunk=%zu in=%s", flags ? "-unordered" : "", ic->n,
          ic->chunk, ic->in_sh ? "shm" : "heap");
}

static mpk_iter_t *imap_open(pk_pool *pp, imap_call *ic, pk_kill *kl) {
  kl->ctx.done = ic->done;
  mpk_iter_t *it = NULL;
  int rc;
  CH_DO(rc, CH_HANG,
        mpk_pool_imap(pp->p, pk_map_kernel, ic->in, sizeof *ic->in,
                      sizeof(long), ic->n, &kl->ctx, sizeof kl->ctx, ic->chunk,
                      ic->flags, &it));
  CHECK_OK(rc);
  return it;
}

static void imap_done(imap_call *ic, mpk_iter_t *it) {
  CH_RUN(CH_HANG, mpk_iter_free(it));
  pk_unbuffer(ic->in, ic->in_sh);
  mpk_shm_free((void *)ic->done);
}

static void one_imap(pk_pool *pp, unsigned modes, int flags, int slow) {
  imap_call ic;
  imap_draw(pp, &ic, flags, slow ? 200 : 0, slow ? 3 : 20);
  pk_kill kl;
  pk_kill_start(pp, &kl, ic.n, modes);
  if (slow) {
    /* A chunk that finishes only after every other element (or 2 s): the
       others must still be handed out meanwhile. */
    kl.ctx.slow_at = (size_t)ch_pick(ic.n / 4);
    kl.ctx.slow_until = (long)(ic.n - ic.actual);
    ch_note("slow=%zu", kl.ctx.slow_at);
  }
  mpk_iter_t *it = imap_open(pp, &ic, &kl);
  ledger L;
  ledger_init(&L, ic.n, ic.actual, flags != 0);
  CHECK(consume(it, &L, ic.in, LONG_MAX));
  settle(pp, &kl, &L);
  imap_done(&ic, it);
}

static void one_ordered(pk_pool *pp, unsigned modes) {
  one_imap(pp, modes, 0, 0);
}

/* With a slow chunk, sometimes (not in the last, quiet call). */
static void one_unordered(pk_pool *pp, unsigned modes) {
  one_imap(pp, modes, MPK_UNORDERED,
           modes != PK_ONLY(K_NONE) && ch_chance(0.4));
}

void ch_pool_imap(void) {
  pk_rounds(one_ordered, 4);
}

void ch_pool_imap_unordered(void) {
  pk_rounds(one_unordered, 3);
}

typedef struct {
  mpk_pool_t *p;
  int rc;
} joiner;

static void *join_main(void *arg) {
  joiner *j = arg;
  CH_DO(j->rc, CH_HANG, mpk_pool_join(j->p));
  return NULL;
}

/* imap, some results taken, then close (and join, maybe from another
   thread while results are still being taken): every result of the
   iterator still comes, since the imap was submitted before the close. */
void ch_pool_imap_close(void) {
  pk_pool pp;
  pk_open(&pp);
  imap_call ic;
  imap_draw(&pp, &ic, ch_chance(0.5) ? MPK_UNORDERED : 0, 40, 8);
  pk_kill kl;
  pk_kill_start(&pp, &kl, ic.n,
                PK_ONLY(K_NONE) | PK_ONLY(K_HOLD) | PK_ONLY(K_RUN));
  mpk_iter_t *it = imap_open(&pp, &ic, &kl);
  ledger L;
  ledger_init(&L, ic.n, ic.actual, ic.flags != 0);
  long before = ch_range(0, (long)ic.n / 2);
  int threaded = ch_chance(0.5);
  ch_note("close after %ld%s", before, threaded ? " join-thread" : "");
  int eof = consume(it, &L, ic.in, before);
  CHECK_OK(mpk_pool_close(pp.p));
  joiner j = {pp.p, 1};
  pthread_t t;
  if (threaded)
    CHECK(pthread_create(&t, NULL, join_main, &j) == 0);
  if (!eof)
    CHECK(consume(it, &L, ic.in, LONG_MAX));
  if (threaded)
    CHECK(pthread_join(t, NULL) == 0);
  else
    join_main(&j);
  CHECK_RC(j.rc, MPK_OK);
  settle(&pp, &kl, &L);
  imap_done(&ic, it);
  long x = 0;
  mpk_sched s = {MPK_SCHED_AUTO, 0};
  CHECK_RC(mpk_pool_map(pp.p, pk_map_kernel, &x, sizeof x, &x, sizeof x, 1,
                        NULL, 0, s),
           MPK_ESTATE);
  CH_RUN(CH_HANG, mpk_pool_free(pp.p));
  close(pp.fd[0]);
  close(pp.fd[1]);
}

/* ---- for and the reductions ---------------------------------------------- */

static int for_kernel(size_t lo, size_t hi, void *ctx) {
  const pk_ctx *c = ctx;
  for (size_t i = lo; i < hi; i++) {
    pk_maybe_die(c, i);
    c->out[i] = pk_g(i);
  }
  return 0;
}

static void one_for(pk_pool *pp, unsigned modes) {
  size_t n = pk_draw_n();
  mpk_sched s = pk_sched();
  ch_note("for n=%zu", n);
  long *out = mpk_shm_alloc((n ? n : 1) * sizeof *out);
  CHECK(out != NULL);
  for (size_t i = 0; i < n; i++)
    out[i] = SENTINEL;
  pk_kill kl;
  pk_kill_start(pp, &kl, n, modes);
  kl.ctx.out = out;
  int rc;
  CH_DO(rc, CH_HANG,
        mpk_pool_for(pp->p, n, for_kernel, &kl.ctx, sizeof kl.ctx, s));
  pk_kill_finish(pp, &kl, rc, check_now(), "mpk_pool_for", 0);
  for (size_t i = 0; rc == MPK_OK && i < n; i++)
    CHECK_EQ(out[i], pk_g(i));
  mpk_shm_free(out);
}

void ch_pool_for(void) {
  pk_rounds(one_for, 4);
}

static double chunk_value(size_t lo, size_t hi, void *ctx) {
  const pk_ctx *c = ctx;
  double acc = c->op == MPK_SUM ? 0 : (double)pk_g(lo);
  for (size_t i = lo; i < hi; i++) {
    pk_maybe_die(c, i);
    double x = (double)pk_g(i);
    acc = c->op == MPK_SUM   ? acc + x
          : c->op == MPK_MIN ? (x < acc ? x : acc)
                             : (x > acc ? x : acc);
  }
  return acc;
}

static int long_kernel(size_t lo, size_t hi, void *acc, void *ctx) {
  for (size_t i = lo; i < hi; i++) {
    pk_maybe_die(ctx, i);
    *(long *)acc += pk_g(i);
  }
  return 0;
}

static void long_combine(void *acc, const void *other) {
  *(long *)acc += *(const long *)other;
}

/* What reducing pk_g over [0, n) with op gives (exact: small integers). */
static double expected(size_t n, int op) {
  double acc = op == MPK_SUM ? 0 : op == MPK_MIN ? INFINITY : -INFINITY;
  for (size_t i = 0; i < n; i++) {
    double x = (double)pk_g(i);
    acc = op == MPK_SUM   ? acc + x
          : op == MPK_MIN ? (x < acc ? x : acc)
                          : (x > acc ? x : acc);
  }
  return acc;
}

static void one_reduce(pk_pool *pp, unsigned modes) {
  size_t n = pk_draw_n();
  mpk_sched s = pk_sched();
  int generic = ch_chance(0.4);
  int op = generic ? MPK_SUM : CH_ONE_OF(MPK_SUM, MPK_MIN, MPK_MAX);
  int flags = ch_chance(0.5) ? MPK_REDUCE_FAST : 0;
  if (op == MPK_SUM && !generic && ch_chance(0.3))
    flags |= MPK_REDUCE_NEUMAIER;
  ch_note("%s n=%zu op=%d flags=%d", generic ? "reduce" : "reduce_double", n,
          op, flags);
  pk_kill kl;
  pk_kill_start(pp, &kl, n, modes);
  kl.ctx.op = op;
  int rc;
  if (generic) {
    long zero = 0, result = SENTINEL;
    CH_DO(rc, CH_HANG,
          mpk_pool_reduce(pp->p, n, long_kernel, long_combine, &zero,
                          sizeof zero, &kl.ctx, sizeof kl.ctx, s, flags,
                          &result));
    pk_kill_finish(pp, &kl, rc, check_now(), "mpk_pool_reduce", 0);
    CHECK_EQ(result, rc == MPK_OK ? (long)expected(n, MPK_SUM) : SENTINEL);
  } else {
    double result = (double)SENTINEL;
    CH_DO(rc, CH_HANG,
          mpk_pool_reduce_double(pp->p, n, chunk_value, &kl.ctx, sizeof kl.ctx,
                                 (mpk_op)op, s, flags, &result));
    pk_kill_finish(pp, &kl, rc, check_now(), "mpk_pool_reduce_double", 0);
    double want = rc == MPK_OK ? expected(n, op) : (double)SENTINEL;
    CHECK_MSG(result == want, "reduce_double gave %.17g, expected %.17g",
              result, want);
  }
}

void ch_pool_reduce(void) {
  pk_rounds(one_reduce, 4);
}
