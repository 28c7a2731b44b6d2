/* mpi_ops.c - for / reduce_double / reduce / map on an MPI pool: the
 * global plan, each rank's runs of chunks (static share or grabs from rank
 * 0), the local calls that execute a run, and the settling of results.
 *
 * A run [lo, hi) of global indices executes as ONE local call over
 * [0, hi - lo) whose kernel is a small wrapper: it adds lo back (kernels see
 * global indices) and finds the user's ctx behind its own header (`wrap`,
 * copied with the call like any ctx). Reductions without MPK_REDUCE_FAST do
 * not reduce locally at all: the wrapper writes one partial per GLOBAL chunk
 * into an array in pool memory, the ranks exchange their partials, and
 * every rank folds all of them exactly as one pool would. */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "internal/pool_sched.h"
#include "mpi/mpi_internal.h"

/* The lowest failing chunk of a partials run, one record per local worker
   (pool memory): each is written only by its worker, which keeps the
   lowest chunk it saw fail, and read by the parent after the local call
   returned (its completion orders the writes before the reads). */
typedef struct {
  uint64_t index; /* UINT64_MAX: none */
  int32_t status, pad_;
} fail_slot;

/* A local call's ctx: this header, then the identity (generic partials),
   then the user's ctx bytes, each at a 16-byte aligned offset. */
typedef struct {
  union {
    mpk_range_fn range;
    mpk_sum_fn sum;
    mpk__red_kernel red;
  } fn;
  void *uctx;               /* the user's ctx when not copied (ctx_size 0) */
  uint64_t base;            /* the global index of local index 0 */
  uint64_t n;               /* partials: the global range and chunk */
  uint64_t chunk;           /* (every local run starts on a chunk boundary) */
  char *partials;           /* partials: one per global chunk, es bytes each */
  size_t es;                /* partials: element size */
  fail_slot *slot;          /* partials (generic): the first failure */
  uint32_t id_off, ctx_off; /* 0: absent */
} wrap;

#define WRAP_ALIGN 16u

static size_t align_up(size_t x) {
  return (x + WRAP_ALIGN - 1) & ~(size_t)(WRAP_ALIGN - 1);
}

static void *uctx_of(const wrap *w) {
  return w->ctx_off ? (char *)(uintptr_t)w + w->ctx_off : w->uctx;
}

static int for_wrap(size_t lo, size_t hi, void *ctx) {
  const wrap *w = ctx;
  return w->fn.range(w->base + lo, w->base + hi, uctx_of(w));
}

static double sum_wrap(size_t lo, size_t hi, void *ctx) {
  const wrap *w = ctx;
  return w->fn.sum(w->base + lo, w->base + hi, uctx_of(w));
}

static int red_wrap(size_t lo, size_t hi, void *acc, void *ctx) {
  const wrap *w = ctx;
  return w->fn.red(w->base + lo, w->base + hi, acc, uctx_of(w));
}

/* The end of the global chunk that starts at a. */
static uint64_t chunk_end(const wrap *w, uint64_t a) {
  return w->n - a > w->chunk ? a + w->chunk : w->n;
}

static int partials_d(size_t lo, size_t hi, void *ctx) {
  const wrap *w = ctx;
  double *part = (double *)(void *)w->partials;
  void *u = uctx_of(w);
  for (uint64_t a = w->base + lo, b; a < w->base + hi; a = b) {
    b = chunk_end(w, a);
    part[a / w->chunk] = w->fn.sum(a, b, u);
  }
  return 0;
}

static int partials_g(size_t lo, size_t hi, void *ctx) {
  const wrap *w = ctx;
  void *u = uctx_of(w);
  const char *identity = (const char *)w + w->id_off;
  for (uint64_t a = w->base + lo, b; a < w->base + hi; a = b) {
    b = chunk_end(w, a);
    char *acc = w->partials + a / w->chunk * w->es;
    memcpy(acc, identity, w->es);
    int r = w->fn.red(a, b, acc, u);
    if (r != 0) {
      fail_slot *f = &w->slot[mpk_worker_id()];
      if (a < f->index) {
        f->index = a;
        f->status = r;
      }
      return r;
    }
  }
  return 0;
}

/* One call on an MPI pool. */
typedef struct call call;
struct call {
  mpk_pool_t *p;
  mpk__mpi *m;
  uint64_t n, nchunks, chunk; /* the global plan */
  mpk_sched s;                /* the local schedule */
  wrap *w;                    /* the local calls' ctx (w->base set per run) */
  size_t wsize;
  /* map */
  mpk_map_fn map;
  const char *in;
  char *out;
  size_t in_size, out_size;
  const void *ctx;
  size_t ctx_size;
  /* reductions */
  int op, flags;
  mpk__red_combine combine;
  const void *identity;
  double *vals; /* FAST reduce_double: one value per run */
  size_t nvals;
  char *acc; /* FAST reduce: the rank's accumulator */
  /* executes elements [lo, hi) = chunks [k0, k1); failures go to o */
  void (*run)(call *c, uint64_t k0, uint64_t k1, uint64_t lo, uint64_t hi,
              mpk__mpi_out *o);
};

/* A local call failed: record it with a global index. */
static void local_failed(call *c, int rc, uint64_t lo, mpk__mpi_out *o) {
  if (rc != MPK_ETASK && rc != MPK_EWORKER && rc != MPK_ETIMEDOUT) {
    mpk__mpi_fail(o, rc, UINT64_MAX, 0, 0);
    return;
  }
  size_t idx = 0;
  int st = 0, sig = 0;
  mpk_pool_last_error(c->p, &idx, &st, &sig);
  uint64_t g = lo + idx;
  if (rc == MPK_ETASK && c->w && c->w->slot) {
    /* a run of several chunks reports its start: the workers' records
       name the lowest failing chunk itself (global already) */
    uint64_t best = UINT64_MAX;
    for (int i = 0; i < c->m->workers; i++)
      if (c->w->slot[i].index < best) {
        best = c->w->slot[i].index;
        st = c->w->slot[i].status;
      }
    if (best < UINT64_MAX)
      g = best;
  }
  mpk__mpi_fail(o, rc, g, st, sig);
}

/* Build c->w: header, identity copy, user ctx copy. */
static int make_wrap(call *c, void *fn, const void *ctx, size_t ctx_size,
                     const void *identity, size_t es) {
  wrap *w = NULL;
  size_t id_off = identity ? align_up(sizeof(wrap)) : 0;
  size_t ctx_off = ctx_size ? align_up(id_off ? id_off + es : sizeof(wrap)) : 0;
  size_t total = ctx_off  ? ctx_off + ctx_size
                 : id_off ? id_off + es
                          : sizeof(wrap);
  if (id_off + es > UINT32_MAX || ctx_off > UINT32_MAX || total < ctx_size ||
      (w = calloc(1, total)) == NULL)
    return mpk__errf(MPK_ENOMEM,
                     "no memory for the MPI call's %zu-byte "
                     "context",
                     total);
  memcpy(&w->fn, &fn, sizeof fn);
  w->uctx = ctx_size ? NULL : (void *)(uintptr_t)ctx;
  w->n = c->n;
  w->chunk = c->chunk;
  w->es = es;
  w->id_off = (uint32_t)id_off;
  w->ctx_off = (uint32_t)ctx_off;
  if (identity)
    memcpy((char *)w + id_off, identity, es);
  if (ctx_size)
    memcpy((char *)w + ctx_off, ctx, ctx_size);
  c->w = w;
  c->wsize = total;
  return MPK_OK;
}

/* The end (element) of the run of chunks [k0, k1). */
static uint64_t run_end(const call *c, uint64_t k1) {
  return k1 >= c->nchunks ? c->n : k1 * c->chunk;
}

/* DYNAMIC: this rank's chunks per grab. The counter starts at 0 and each
   rank overshoots the end by at most one grab, so grabs are capped to
   keep nchunks + size x grab below 2^64; 0 when even one chunk would not
   fit (then every rank falls back to STATIC: all compute the same). */
static uint64_t grab_size(const call *c) {
  const mpk__mpi *m = c->m;
  uint64_t K = c->nchunks, g = m->opts.grab;
  if (g == 0) {
    uint64_t per = K / (8 * (uint64_t)m->total);
    g = (uint64_t)m->workers * (per > 0 ? per : 1);
  }
  uint64_t room = (UINT64_MAX - K) / (uint64_t)m->size;
  if (g > K)
    g = K;
  return g < room ? g : room;
}

/* Step 2: this rank's runs. */
static void work(call *c, mpk__mpi_out *o) {
  mpk__mpi *m = c->m;
  uint64_t K = c->nchunks, g = grab_size(c);
  if (m->opts.partition == MPK_MPI_STATIC || g == 0) {
    uint64_t k0, k1;
    mpk__mpi_static_share(m, m->rank, K, &k0, &k1);
    if (o->code == MPK_OK && k0 < k1) {
      c->run(c, k0, k1, k0 * c->chunk, run_end(c, k1), o);
      o->chunks += k1 - k0;
    }
    return;
  }
  while (o->code == MPK_OK) {
    uint64_t k0;
    int rc = mpk__mpi_grab(m, g, &k0);
    if (rc != MPK_OK) {
      mpk__mpi_fail(o, rc, UINT64_MAX, 0, 0);
      break;
    }
    if (k0 >= K)
      return;
    uint64_t k1 = K - k0 > g ? k0 + g : K;
    c->run(c, k0, k1, k0 * c->chunk, run_end(c, k1), o);
    o->chunks += k1 - k0;
  }
  /* failed: no rank starts another grab */
  mpk__mpi_counter_raise(m, K);
}

/* ---- the runs ------------------------------------------------------------
 */

static void run_for(call *c, uint64_t k0, uint64_t k1, uint64_t lo, uint64_t hi,
                    mpk__mpi_out *o) {
  (void)k0;
  (void)k1;
  c->w->base = lo;
  int rc = mpk__for_local(c->p, hi - lo, for_wrap, c->w, c->wsize, c->s);
  if (rc != MPK_OK)
    local_failed(c, rc, lo, o);
}

/* A run whose data settle spreads: the local call's failure (elements
   from lo), or the run [a, b) of what it wrote. */
static void keep_run(call *c, int rc, uint64_t lo, uint64_t a, uint64_t b,
                     mpk__mpi_out *o) {
  if (rc != MPK_OK)
    local_failed(c, rc, lo, o);
  else if ((rc = mpk__mpi_add_run(o, a, b)) != MPK_OK)
    mpk__mpi_fail(o, rc, UINT64_MAX, 0, 0);
}

static void run_partials(call *c, uint64_t k0, uint64_t k1, uint64_t lo,
                         uint64_t hi, mpk__mpi_out *o) {
  c->w->base = lo;
  int rc = mpk__for_local(c->p, hi - lo, c->w->id_off ? partials_g : partials_d,
                          c->w, c->wsize, c->s);
  keep_run(c, rc, lo, k0, k1, o); /* partials: one per chunk */
}

static void run_fast_d(call *c, uint64_t k0, uint64_t k1, uint64_t lo,
                       uint64_t hi, mpk__mpi_out *o) {
  (void)k0;
  (void)k1;
  double *v = realloc(c->vals, (c->nvals + 1) * sizeof *v);
  if (v == NULL) {
    mpk__mpi_fail(o, MPK_ENOMEM, UINT64_MAX, 0, 0);
    return;
  }
  c->vals = v;
  c->w->base = lo;
  int rc = mpk__reduce_d_local(c->p, hi - lo, sum_wrap, c->w, c->wsize,
                               (mpk_op)c->op, c->s, c->flags, &v[c->nvals]);
  if (rc != MPK_OK)
    local_failed(c, rc, lo, o);
  else
    c->nvals++;
}

static void run_fast_g(call *c, uint64_t k0, uint64_t k1, uint64_t lo,
                       uint64_t hi, mpk__mpi_out *o) {
  (void)k0;
  (void)k1;
  char *tmp = c->acc + c->w->es; /* the scratch after the accumulator */
  c->w->base = lo;
  int rc = mpk__reduce_g_local(c->p, hi - lo, red_wrap, c->combine, c->identity,
                               c->w->es, c->w, c->wsize, c->s, c->flags, tmp);
  if (rc != MPK_OK)
    local_failed(c, rc, lo, o);
  else
    c->combine(c->acc, tmp);
}

static void run_map(call *c, uint64_t k0, uint64_t k1, uint64_t lo, uint64_t hi,
                    mpk__mpi_out *o) {
  (void)k0;
  (void)k1;
  int rc = mpk__map_local(c->p, c->map, c->in + lo * c->in_size, c->in_size,
                          c->out + lo * c->out_size, c->out_size, hi - lo,
                          c->ctx, c->ctx_size, c->s);
  keep_run(c, rc, lo, lo, hi, o); /* results: one per element */
}

/* ---- the calls -------------------------------------------------------- */

/* MPI counts are int: a size over INT_MAX is MPK_EINVAL (after rc). */
static int int_max_check(int rc, const char *what, size_t v) {
  if (rc == MPK_OK && v > INT_MAX)
    return mpk__errf(MPK_EINVAL, "MPI: %s %zu > INT_MAX", what, v);
  return rc;
}

/* This rank's verdict on the pool's state and the global plan, after the
   argument checks' verdict args_rc. */
static int plan_verdict(call *c, int args_rc, mpk_sched s, uint64_t n,
                        mpk__sched_use use) {
  mpk__plan gp;
  if (args_rc != MPK_OK)
    return args_rc;
  int rc = mpk__plan_user(&gp, s, n, (unsigned)c->m->total, use);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&c->p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(c->p);
  c->n = n;
  c->nchunks = gp.nchunks;
  c->chunk = gp.chunk;
  c->s = s;
  return MPK_OK;
}

/* The local schedule of a reduction run: the global chunk, whatever hands
   it out. STATIC without a chunk is the block plan, which AUTO with an
   explicit chunk also is. */
static mpk_sched reduce_sched(const call *c) {
  mpk_sched s = c->s;
  if (s.kind == MPK_SCHED_STATIC && s.chunk == 0)
    s.kind = MPK_SCHED_AUTO;
  s.chunk = c->chunk;
  return s;
}

/* Steps 1 to 3 around c->run; buf / elem / root: what settle spreads. */
static int drive(call *c, mpk__mpi_hdr *h, void *buf, size_t elem, int root) {
  int rc = mpk__mpi_agree(c->m, h);
  if (rc != MPK_OK || c->n == 0)
    return rc;
  mpk__mpi_out o = {.code = MPK_OK,
                    .index = UINT64_MAX,
                    .kind = h->call == MPK__MPI_FOR     ? MPK__JOB_FOR
                            : h->call == MPK__MPI_RED_D ? MPK__JOB_REDUCE_D
                            : h->call == MPK__MPI_RED_G ? MPK__JOB_REDUCE_G
                                                        : MPK__JOB_MAP};
  work(c, &o);
  return mpk__mpi_settle(c->p, c->m, &o, c->nchunks, buf, elem, root);
}

static int mpi_for(mpk_pool_t *p, size_t n, mpk_range_fn fn, const void *ctx,
                   size_t ctx_size, mpk_sched s) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc; /* cannot take part: not this process's or thread's call */
  call c = {.p = p, .m = p->ext, .run = run_for};
  mpk__mpi_hdr h = {.call = MPK__MPI_FOR,
                    .kind = (int32_t)s.kind,
                    .n = n,
                    .chunk = s.chunk,
                    .ctx_size = ctx_size};
  h.rc = plan_verdict(&c, mpk__fn_ctx_check((const void *)fn, ctx, ctx_size), s,
                      n, MPK__USE_FOR);
  if (h.rc == MPK_OK)
    h.rc = make_wrap(&c, (void *)fn, ctx, ctx_size, NULL, 0);
  rc = drive(&c, &h, NULL, 0, -1);
  free(c.w);
  return rc;
}

static int mpi_reduce_d(mpk_pool_t *p, size_t n, mpk_sum_fn fn, const void *ctx,
                        size_t ctx_size, mpk_op op, mpk_sched s, int flags,
                        double *result) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  bool fast = flags & MPK_REDUCE_FAST;
  call c = {.p = p,
            .m = p->ext,
            .op = op,
            .flags = flags,
            .run = fast ? run_fast_d : run_partials};
  mpk__mpi_hdr h = {.call = MPK__MPI_RED_D,
                    .kind = (int32_t)s.kind,
                    .op = (int32_t)op,
                    .flags = flags,
                    .n = n,
                    .chunk = s.chunk,
                    .ctx_size = ctx_size};
  h.rc = plan_verdict(
      &c, mpk__reduce_d_args_check(fn, ctx, ctx_size, op, flags, result), s, n,
      fast ? MPK__USE_FOR : MPK__USE_REDUCE);
  double *part = NULL;
  if (h.rc == MPK_OK && !fast && n > 0) {
    c.s = reduce_sched(&c);
    part = c.nchunks > SIZE_MAX / sizeof(double)
               ? NULL
               : mpk__pool_alloc(p, (size_t)c.nchunks * sizeof(double));
    if (part == NULL)
      h.rc = mpk__errf(MPK_ENOMEM, "no memory for the MPI call");
  }
  double *all = NULL; /* FAST: every rank's result, made before the call
                         so that no rank can fail to take part later */
  if (h.rc == MPK_OK && fast &&
      (all = malloc((size_t)c.m->size * sizeof *all)) == NULL)
    h.rc = mpk__errf(MPK_ENOMEM, "no memory for the MPI call");
  if (h.rc == MPK_OK)
    h.rc = make_wrap(&c, (void *)fn, ctx, ctx_size, NULL, 0);
  if (h.rc == MPK_OK)
    c.w->partials = (char *)part;
  rc = drive(&c, &h, fast ? NULL : part, sizeof(double), -1);
  if (rc == MPK_OK && n == 0) {
    *result = mpk__identity_double(op);
  } else if (rc == MPK_OK && !fast) {
    *result = mpk__fold_double(part, (size_t)c.nchunks, op, flags);
  } else if (rc == MPK_OK) {
    int nf = flags & MPK_REDUCE_NEUMAIER;
    double mine = mpk__fold_double(c.vals, c.nvals, op, nf);
    rc = mpk__mpi_allgather(c.m, &mine, all, sizeof mine);
    if (rc == MPK_OK && nf) {
      *result = mpk__fold_double(all, (size_t)c.m->size, op, nf);
    } else if (rc == MPK_OK) { /* in rank order */
      double r = mpk__identity_double(op);
      for (int q = 0; q < c.m->size; q++)
        r = mpk__op_double(op, r, all[q]);
      *result = r;
    }
  }
  free(all);
  if (part)
    mpk__pool_free_mem(p, part);
  free(c.vals);
  free(c.w);
  return rc;
}

static int mpi_reduce_g(mpk_pool_t *p, size_t n, mpk__red_kernel kernel,
                        mpk__red_combine combine, const void *identity,
                        size_t elem_size, const void *ctx, size_t ctx_size,
                        mpk_sched s, int flags, void *result) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  bool fast = flags & MPK_REDUCE_FAST;
  call c = {.p = p,
            .m = p->ext,
            .flags = flags,
            .combine = combine,
            .identity = identity,
            .run = fast ? run_fast_g : run_partials};
  mpk__mpi_hdr h = {.call = MPK__MPI_RED_G,
                    .kind = (int32_t)s.kind,
                    .flags = flags,
                    .n = n,
                    .chunk = s.chunk,
                    .size_a = elem_size,
                    .ctx_size = ctx_size};
  h.rc = plan_verdict(&c,
                      int_max_check(mpk__reduce_g_args_check(
                                        kernel, combine, identity, elem_size,
                                        ctx, ctx_size, flags, result),
                                    "elem_size", elem_size),
                      s, n, fast ? MPK__USE_FOR : MPK__USE_REDUCE);
  char *part = NULL;
  fail_slot *slot = NULL;
  if (h.rc == MPK_OK && !fast && n > 0) {
    c.s = reduce_sched(&c);
    part = c.nchunks > SIZE_MAX / elem_size
               ? NULL
               : mpk__pool_alloc(p, (size_t)c.nchunks * elem_size);
    slot = mpk__pool_alloc(p, (size_t)c.m->workers * sizeof *slot);
    if (part == NULL || slot == NULL)
      h.rc = mpk__errf(MPK_ENOMEM, "no memory for the MPI call");
    for (int i = 0; slot != NULL && i < c.m->workers; i++)
      slot[i] = (fail_slot){.index = UINT64_MAX};
  }
  if (h.rc == MPK_OK && fast) {
    /* the accumulator, a scratch result, then every rank's result (made
       before the call so that no rank can fail to take part later) */
    c.acc = (size_t)c.m->size + 2 > SIZE_MAX / elem_size
                ? NULL
                : malloc(((size_t)c.m->size + 2) * elem_size);
    if (c.acc == NULL)
      h.rc = mpk__errf(MPK_ENOMEM, "no memory for the MPI call");
    else
      memcpy(c.acc, identity, elem_size);
  }
  if (h.rc == MPK_OK)
    h.rc = make_wrap(&c, (void *)kernel, ctx, ctx_size, fast ? NULL : identity,
                     elem_size);
  if (h.rc == MPK_OK) {
    c.w->partials = part;
    c.w->slot = slot;
  }
  rc = drive(&c, &h, fast ? NULL : part, elem_size, -1);
  if (rc == MPK_OK && n == 0) {
    memmove(result, identity, elem_size);
  } else if (rc == MPK_OK && !fast) {
    mpk__fold_generic(part, (size_t)c.nchunks, elem_size, combine);
    memcpy(result, part, elem_size);
  } else if (rc == MPK_OK) {
    char *all = c.acc + 2 * elem_size;
    rc = mpk__mpi_allgather(c.m, c.acc, all, elem_size);
    if (rc == MPK_OK) { /* in rank order */
      memcpy(c.acc, identity, elem_size);
      for (int q = 0; q < c.m->size; q++)
        combine(c.acc, all + (size_t)q * elem_size);
      memcpy(result, c.acc, elem_size);
    }
  }
  if (part)
    mpk__pool_free_mem(p, part);
  if (slot)
    mpk__pool_free_mem(p, slot);
  free(c.acc);
  free(c.w);
  return rc;
}

static int mpi_map(mpk_pool_t *p, mpk_map_fn fn, const void *in, size_t in_size,
                   void *out, size_t out_size, size_t n, const void *ctx,
                   size_t ctx_size, mpk_sched s) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  call c = {.p = p,
            .m = p->ext,
            .map = fn,
            .in = in,
            .out = out,
            .in_size = in_size,
            .out_size = out_size,
            .ctx = ctx,
            .ctx_size = ctx_size,
            .run = run_map};
  mpk__mpi_hdr h = {.call = MPK__MPI_MAP,
                    .kind = (int32_t)s.kind,
                    .n = n,
                    .chunk = s.chunk,
                    .size_a = in_size,
                    .size_b = out_size,
                    .ctx_size = ctx_size};
  h.rc = plan_verdict(
      &c,
      int_max_check(
          mpk__map_args_check(fn, in, in_size, out, out_size, n, ctx, ctx_size),
          "out_size", out_size),
      s, n, MPK__USE_MAP);
  return drive(&c, &h, out, out_size, c.m->opts.root);
}

const mpk__pool_ext_ops mpk__mpi_ops = {
    .for_ = mpi_for,
    .reduce_d = mpi_reduce_d,
    .reduce_g = mpi_reduce_g,
    .map = mpi_map,
    .destroy = mpk__mpi_destroy,
};
