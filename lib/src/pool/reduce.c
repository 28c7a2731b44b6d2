/* reduce.c - reductions: one partial per chunk in pool memory (shared heap
 * for the process backend), combined by the parent in a fixed pairwise tree
 * over chunk order, so the result depends only on the chunk boundaries
 * (n and the chunk size), never on which worker ran what or when.
 * MPK_REDUCE_FAST keeps one accumulator per worker instead (each on its own
 * cache line: workers update them after every chunk). MPK_REDUCE_NEUMAIER
 * sums partials in chunk order with Neumaier's compensation.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "pool/pool_internal.h"

#define ACC_LINE 64 /* FAST accumulators: one cache line each (at least) */

double mpk__identity_double(int op) {
  switch (op) {
  case MPK_PROD: return 1.0;
  case MPK_MIN: return INFINITY;
  case MPK_MAX: return -INFINITY;
  default: return 0.0;
  }
}

double mpk__op_double(int op, double a, double b) {
  switch (op) {
  case MPK_PROD: return a * b;
  case MPK_MIN: return b < a ? b : a;
  case MPK_MAX: return b > a ? b : a;
  default: return a + b;
  }
}

/* Neumaier's compensated sum of v[0 .. n) read with a stride. */
static double neumaier(const double *v, size_t n, size_t stride) {
  double s = 0.0, comp = 0.0;
  for (size_t i = 0; i < n; i++) {
    double x = v[i * stride];
    double t = s + x;
    comp += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
    s = t;
  }
  return s + comp;
}

/* The fixed pairwise tree: at step 1 pair (0,1) (2,3) ..., at step 2 pair
   (0,2) (4,6) ..., and so on; the total ends in element 0. */
static double tree_double(double *a, size_t n, int op) {
  for (size_t step = 1; step < n; step *= 2)
    for (size_t i = 0; i < n - step; i += 2 * step) /* n > step */
      a[i] = mpk__op_double(op, a[i], a[i + step]);
  return a[0];
}

static void tree_generic(char *a, size_t n, size_t stride,
                         void (*combine)(void *, const void *)) {
  for (size_t step = 1; step < n; step *= 2)
    for (size_t i = 0; i < n - step; i += 2 * step) /* n > step */
      combine(a + i * stride, a + (i + step) * stride);
}

double mpk__fold_double(double *a, size_t n, int op, int flags) {
  if (n == 0)
    return mpk__identity_double(op);
  if (flags & MPK_REDUCE_NEUMAIER)
    return neumaier(a, n, 1);
  return tree_double(a, n, op);
}

void mpk__fold_generic(char *a, size_t n, size_t stride,
                       mpk__red_combine combine) {
  tree_generic(a, n, stride, combine);
}

/* What both reductions check: ctx, result and flag bits. */
static int common_check(const void *ctx, size_t ctx_size, const void *result,
                        int flags, int allowed) {
  if (result == NULL)
    return mpk__errf(MPK_EINVAL, "reduce: result is NULL");
  if (ctx == NULL && ctx_size > 0)
    return mpk__errf(MPK_EINVAL, "reduce: ctx is NULL with ctx_size %zu",
                     ctx_size);
  if (flags & ~allowed)
    return mpk__errf(MPK_EINVAL, "reduce: unknown flag bits 0x%x",
                     (unsigned)(flags & ~allowed));
  return MPK_OK;
}

int mpk__reduce_d_args_check(mpk_sum_fn fn, const void *ctx, size_t ctx_size,
                             mpk_op op, int flags, const double *result) {
  if (fn == NULL)
    return mpk__errf(MPK_EINVAL, "reduce: the kernel function is NULL");
  int rc = common_check(ctx, ctx_size, result, flags,
                        MPK_REDUCE_FAST | MPK_REDUCE_NEUMAIER);
  if (rc != MPK_OK)
    return rc;
  if ((unsigned)op > (unsigned)MPK_MAX)
    return mpk__errf(MPK_EINVAL, "reduce: op %d is not an mpk_op", (int)op);
  if ((flags & MPK_REDUCE_NEUMAIER) && op != MPK_SUM)
    return mpk__errf(MPK_EINVAL, "reduce: MPK_REDUCE_NEUMAIER needs MPK_SUM");
  return MPK_OK;
}

int mpk__reduce_g_args_check(mpk__red_kernel kernel, mpk__red_combine combine,
                             const void *identity, size_t elem_size,
                             const void *ctx, size_t ctx_size, int flags,
                             const void *result) {
  if (kernel == NULL || combine == NULL || identity == NULL)
    return mpk__errf(MPK_EINVAL, "reduce: %s is NULL",
                     kernel == NULL    ? "kernel"
                     : combine == NULL ? "combine"
                                       : "identity");
  int rc = common_check(ctx, ctx_size, result, flags, MPK_REDUCE_FAST);
  if (rc != MPK_OK)
    return rc;
  if (elem_size == 0 || elem_size > SIZE_MAX - 2 * ACC_LINE)
    return mpk__errf(MPK_EINVAL, "reduce: elem_size %zu is %s", elem_size,
                     elem_size == 0 ? "0" : "too large");
  return MPK_OK;
}

void mpk__reduce_finish(mpk__call *c) {
  char *acc = c->buf_acc;
  if (c->kind == MPK__JOB_REDUCE_D) {
    double r;
    bool fast = c->rflags & MPK_REDUCE_FAST;
    size_t stride = fast ? ACC_LINE / sizeof(double) : 1;
    if (c->rflags & MPK_REDUCE_NEUMAIER) {
      /* FAST: each worker keeps (sum, compensation): 2 terms each */
      if (fast) {
        double *v = (double *)(void *)acc;
        double s = 0.0, comp = 0.0;
        for (size_t w = 0; w < c->nacc; w++)
          for (int k = 0; k < 2; k++) {
            double x = v[w * stride + (size_t)k];
            double t = s + x;
            comp += fabs(s) >= fabs(x) ? (s - t) + x : (x - t) + s;
            s = t;
          }
        r = s + comp;
      } else {
        r = mpk__fold_double((double *)(void *)acc, c->nacc, c->op,
                             MPK_REDUCE_NEUMAIER);
      }
    } else if (fast) {
      double *v = (double *)(void *)acc;
      r = mpk__identity_double(c->op);
      for (size_t w = 0; w < c->nacc; w++)
        r = mpk__op_double(c->op, r, v[w * stride]);
    } else {
      r = mpk__fold_double((double *)(void *)acc, c->nacc, c->op, 0);
    }
    *c->dresult = r;
    return;
  }
  size_t stride = c->rflags & MPK_REDUCE_FAST
                      ? (c->elem_size + ACC_LINE - 1) / ACC_LINE * ACC_LINE
                      : c->elem_size;
  tree_generic(acc, c->nacc, stride, c->combine);
  memcpy(c->gresult, acc, c->elem_size);
}

typedef struct {
  mpk__plan plan;
  int kind;
  void *fn;
  const void *ctx;
  size_t ctx_size;
  int op;
  uint32_t jflags;
  size_t stride;
} red_args;

static int fill_reduce(mpk__call *c, mpk__job *j, void *arg) {
  red_args *a = arg;
  j->plan = a->plan;
  if (a->kind == MPK__JOB_REDUCE_D)
    j->fn.sum = (mpk_sum_fn)a->fn;
  else
    j->fn.red = (int (*)(size_t, size_t, void *, void *))a->fn;
  j->ctx = mpk__place(j, 0, a->ctx, a->ctx_size, c->buf_ctx);
  j->op = a->op;
  j->flags = a->jflags;
  j->acc = c->buf_acc;
  j->acc_stride = a->stride;
  j->elem_size = c->elem_size;
  if (a->kind == MPK__JOB_REDUCE_G && !(a->jflags & MPK__JF_FAST))
    j->identity =
        mpk__place(j, MPK__INL_B_OFF, c->identity, c->elem_size, c->buf_id);
  return MPK_OK;
}

/* Shared by both reductions: plan, accumulators, ctx; then run (n = 0:
   the identity, after the same checks). */
static int run_reduce(mpk_pool_t *p, mpk__call *c, red_args *a, size_t n,
                      mpk_sched s, int flags) {
  bool fast = flags & MPK_REDUCE_FAST;
  int rc = mpk__plan_user(&a->plan, s, n, p->W,
                          fast ? MPK__USE_FOR : MPK__USE_REDUCE);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(p);
  size_t es = a->kind == MPK__JOB_REDUCE_D ? sizeof(double) : c->elem_size;
  if (n == 0) { /* nothing to run: the identity */
    if (a->kind == MPK__JOB_REDUCE_D)
      *c->dresult = mpk__identity_double(a->op);
    else
      memmove(c->gresult, c->identity, es);
    return MPK_OK;
  }
  size_t count, stride;
  if (fast) {
    count = p->W;
    stride = (es + ACC_LINE - 1) / ACC_LINE * ACC_LINE;
  } else {
    count = a->plan.nchunks;
    stride = es;
    if (count > SIZE_MAX / stride)
      return mpk__errf(MPK_ENOMEM,
                       "reduce: %zu accumulators of %zu bytes "
                       "overflow size_t",
                       count, stride);
  }
  c->nacc = count;
  a->stride = stride;
  rc = mpk__prep_copy(p, a->ctx, a->ctx_size, MPK__INL_CTX, &c->buf_ctx);
  if (rc != MPK_OK)
    return rc;
  c->buf_acc = mpk__pool_alloc(p, count * stride);
  if (c->buf_acc == NULL) {
    mpk__call_discard(c);
    return mpk__pool_nomem(p, count * stride, "the reduction's accumulators");
  }
  if (fast) { /* every accumulator starts as the identity */
    for (size_t w = 0; w < count; w++) {
      char *slot = (char *)c->buf_acc + w * stride;
      memset(slot, 0, stride);
      if (a->kind == MPK__JOB_REDUCE_D)
        *(double *)(void *)slot = mpk__identity_double(a->op);
      else
        memcpy(slot, c->identity, es);
    }
  } else if (a->kind == MPK__JOB_REDUCE_G) {
    rc = mpk__prep_copy(p, c->identity, es, MPK__INL_SMALL, &c->buf_id);
    if (rc != MPK_OK) {
      mpk__call_discard(c);
      return rc;
    }
  }
  return mpk__call_run(c, fill_reduce, a);
}

int mpk__reduce_d_local(mpk_pool_t *p, size_t n, mpk_sum_fn fn, const void *ctx,
                        size_t ctx_size, mpk_op op, mpk_sched s, int flags,
                        double *result) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  rc = mpk__reduce_d_args_check(fn, ctx, ctx_size, op, flags, result);
  if (rc != MPK_OK)
    return rc;
  mpk__call c = {.pool = p,
                 .kind = MPK__JOB_REDUCE_D,
                 .op = op,
                 .rflags = flags,
                 .dresult = result};
  red_args a = {.kind = MPK__JOB_REDUCE_D,
                .fn = (void *)fn,
                .ctx = ctx,
                .ctx_size = ctx_size,
                .op = op};
  if (flags & MPK_REDUCE_FAST)
    a.jflags |= MPK__JF_FAST;
  if ((flags & MPK_REDUCE_FAST) && (flags & MPK_REDUCE_NEUMAIER))
    a.jflags |= MPK__JF_NEUMAIER;
  return run_reduce(p, &c, &a, n, s, flags);
}

int mpk__reduce_g_local(mpk_pool_t *p, size_t n, mpk__red_kernel kernel,
                        mpk__red_combine combine, const void *identity,
                        size_t elem_size, const void *ctx, size_t ctx_size,
                        mpk_sched s, int flags, void *result) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  rc = mpk__reduce_g_args_check(kernel, combine, identity, elem_size, ctx,
                                ctx_size, flags, result);
  if (rc != MPK_OK)
    return rc;
  mpk__call c = {.pool = p,
                 .kind = MPK__JOB_REDUCE_G,
                 .rflags = flags,
                 .gresult = result,
                 .combine = combine,
                 .identity = identity,
                 .elem_size = elem_size};
  red_args a = {.kind = MPK__JOB_REDUCE_G,
                .fn = (void *)kernel,
                .ctx = ctx,
                .ctx_size = ctx_size};
  if (flags & MPK_REDUCE_FAST)
    a.jflags |= MPK__JF_FAST;
  return run_reduce(p, &c, &a, n, s, flags);
}
