/* ops.c - mpk_pool_for, mpk_pool_map, mpk_pool_apply: argument checks,
 * plans, staging of map buffers, and the fill callbacks that write a job's
 * descriptor (shared with the async forms in async.c).
 */
#include <stdlib.h>
#include <string.h>

#include "mpk/shm.h"
#include "pool/pool_internal.h"

/* ---- for ------------------------------------------------------------------
 */

typedef struct {
  mpk__plan plan;
  void *fn;
  const void *ctx;
  size_t ctx_size;
} for_args;

static int fill_for(mpk__call *c, mpk__job *j, void *arg) {
  for_args *a = arg;
  j->plan = a->plan;
  j->fn.range = (mpk_range_fn)a->fn;
  j->ctx = mpk__place(j, 0, a->ctx, a->ctx_size, c->buf_ctx);
  return MPK_OK;
}

int mpk__plan_user(mpk__plan *pl, mpk_sched s, size_t n, unsigned workers,
                   mpk__sched_use use) {
  if (mpk__plan_make(pl, s, n, workers, use) != MPK_OK)
    return mpk__errf(MPK_EINVAL, "schedule kind %d is not an mpk_sched_kind",
                     (int)s.kind);
  return MPK_OK;
}

int mpk__fn_ctx_check(const void *fn, const void *ctx, size_t ctx_size) {
  if (fn == NULL)
    return mpk__errf(MPK_EINVAL, "the kernel function is NULL");
  if (ctx == NULL && ctx_size > 0)
    return mpk__errf(MPK_EINVAL, "ctx is NULL with ctx_size %zu", ctx_size);
  return MPK_OK;
}

int mpk__for_local(mpk_pool_t *p, size_t n, mpk_range_fn fn, const void *ctx,
                   size_t ctx_size, mpk_sched s) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  for_args a = {.fn = (void *)fn, .ctx = ctx, .ctx_size = ctx_size};
  rc = mpk__fn_ctx_check((const void *)fn, ctx, ctx_size);
  if (rc == MPK_OK)
    rc = mpk__plan_user(&a.plan, s, n, p->W, MPK__USE_FOR);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(p);
  if (n == 0)
    return MPK_OK;
  mpk__call c = {.pool = p, .kind = MPK__JOB_FOR};
  rc = mpk__prep_copy(p, ctx, ctx_size, MPK__INL_CTX, &c.buf_ctx);
  if (rc != MPK_OK)
    return rc;
  return mpk__call_run(&c, fill_for, &a);
}

/* ---- map --------------------------------------------------------------- */

typedef struct {
  mpk__plan plan;
  mpk_map_fn fn;
  const char *in;
  char *out;
  size_t in_size, out_size, base;
  const void *ctx;
  size_t ctx_size;
  void *ctx_shared; /* imap: the iterator's copy (not owned by the call) */
} map_args;

static int fill_map(mpk__call *c, mpk__job *j, void *arg) {
  map_args *a = arg;
  j->plan = a->plan;
  j->fn.map = a->fn;
  j->in = c->buf_in ? c->buf_in : a->in;
  j->out = c->buf_out ? c->buf_out : a->out;
  j->in_size = a->in_size;
  j->out_size = a->out_size;
  j->base = a->base;
  j->ctx = a->ctx_shared ? a->ctx_shared
                         : mpk__place(j, 0, a->ctx, a->ctx_size, c->buf_ctx);
  return MPK_OK;
}

int mpk__map_args_check(mpk_map_fn fn, const void *in, size_t in_size,
                        const void *out, size_t out_size, size_t n,
                        const void *ctx, size_t ctx_size) {
  int rc = mpk__fn_ctx_check((const void *)fn, ctx, ctx_size);
  if (rc != MPK_OK)
    return rc;
  if (in_size == 0 || out_size == 0)
    return mpk__errf(MPK_EINVAL,
                     "map: in_size %zu and out_size %zu must be "
                     "> 0",
                     in_size, out_size);
  if (n > 0 && (in == NULL || out == NULL))
    return mpk__errf(MPK_EINVAL, "map: %s is NULL with n = %zu",
                     in == NULL ? "in" : "out", n);
  if (n > SIZE_MAX / in_size || n > SIZE_MAX / out_size)
    return mpk__errf(MPK_EINVAL,
                     "map: n = %zu elements of %zu bytes "
                     "overflow size_t",
                     n, in_size > out_size ? in_size : out_size);
  return MPK_OK;
}

static bool in_shm(const void *b, size_t bytes) {
  return mpk_shm_contains(b) &&
         mpk_shm_contains((const char *)b + (bytes ? bytes - 1 : 0));
}

/* Validate map arguments, build the plan and stage buffers into c. */
static int map_prepare(mpk__call *c, map_args *a, mpk_pool_t *p, mpk_map_fn fn,
                       const void *in, size_t in_size, void *out,
                       size_t out_size, size_t n, const void *ctx,
                       size_t ctx_size, mpk_sched s) {
  int rc =
      mpk__map_args_check(fn, in, in_size, out, out_size, n, ctx, ctx_size);
  if (rc != MPK_OK)
    return rc;
  *a = (map_args){.fn = fn,
                  .in = in,
                  .out = out,
                  .in_size = in_size,
                  .out_size = out_size,
                  .ctx = ctx,
                  .ctx_size = ctx_size};
  rc = mpk__plan_user(&a->plan, s, n, p->W, MPK__USE_MAP);
  if (rc != MPK_OK)
    return rc;
  *c = (mpk__call){.pool = p, .kind = MPK__JOB_MAP};
  if (n == 0)
    return MPK_OK;
  rc = mpk__prep_copy(p, ctx, ctx_size, MPK__INL_CTX, &c->buf_ctx);
  if (rc != MPK_OK)
    return rc;
  if (p->backend == MPK_PROCESS) {
    size_t ib = n * in_size, ob = n * out_size;
    if (!in_shm(in, ib)) {
      rc = mpk__prep_copy(p, in, ib, 0, &c->buf_in);
      if (rc != MPK_OK)
        goto fail;
    }
    if (!in_shm(out, ob)) {
      c->buf_out = mpk__pool_alloc(p, ob);
      if (c->buf_out == NULL) {
        rc = mpk__pool_nomem(p, ob, "map's staged output");
        goto fail;
      }
      c->user_out = out;
      c->out_bytes = ob;
    }
  }
  return MPK_OK;
fail:
  mpk__call_discard(c);
  return rc;
}

int mpk__map_local(mpk_pool_t *p, mpk_map_fn fn, const void *in, size_t in_size,
                   void *out, size_t out_size, size_t n, const void *ctx,
                   size_t ctx_size, mpk_sched s) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(p);
  mpk__call c;
  map_args a;
  rc = map_prepare(&c, &a, p, fn, in, in_size, out, out_size, n, ctx, ctx_size,
                   s);
  if (rc != MPK_OK || n == 0)
    return rc;
  return mpk__call_run(&c, fill_map, &a);
}

/* For async.c: the same preparation and fill. */
int mpk__map_prepare(mpk__call *c, void **args, mpk_pool_t *p, mpk_map_fn fn,
                     const void *in, size_t in_size, void *out, size_t out_size,
                     size_t n, const void *ctx, size_t ctx_size, mpk_sched s) {
  map_args *a = malloc(sizeof *a);
  if (a == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for an async map");
  int rc =
      map_prepare(c, a, p, fn, in, in_size, out, out_size, n, ctx, ctx_size, s);
  if (rc != MPK_OK) {
    free(a);
    return rc;
  }
  *args = a;
  return MPK_OK;
}

int mpk__fill_map(mpk__call *c, mpk__job *j, void *arg) {
  return fill_map(c, j, arg);
}

/* imap chunk: elements [lo, hi) of in, results into out_chunk. */
int mpk__imap_submit(mpk__call *c, mpk_pool_t *p, mpk_map_fn fn, const char *in,
                     size_t in_size, char *out_chunk, size_t out_size,
                     size_t lo, size_t hi, void *ctx_shared, bool in_shared) {
  size_t n = hi - lo;
  map_args a = {.fn = fn,
                .in = in + lo * in_size,
                .out = out_chunk,
                .in_size = in_size,
                .out_size = out_size,
                .base = lo,
                .ctx_shared = ctx_shared};
  /* one chunk: a single worker runs it in order */
  mpk_sched s = {MPK_SCHED_DYNAMIC, n};
  mpk__plan_make(&a.plan, s, n, p->W, MPK__USE_MAP);
  *c = (mpk__call){.pool = p, .kind = MPK__JOB_MAP};
  if (!in_shared) {
    int rc = mpk__prep_copy(p, a.in, n * in_size, 0, &c->buf_in);
    if (rc != MPK_OK)
      return rc;
  }
  int rc = mpk__call_submit(c, fill_map, &a,
                            MPK__SUBMIT_CLOSED | MPK__SUBMIT_NOWAIT);
  if (rc != MPK_OK)
    mpk__call_discard(c);
  return rc;
}

/* ---- apply ----------------------------------------------------------------
 */

typedef struct {
  mpk_task_fn fn;
  const void *arg;
  size_t arg_size, result_size;
} apply_args;

static int fill_apply(mpk__call *c, mpk__job *j, void *arg) {
  apply_args *a = arg;
  j->plan = (mpk__plan){.kind = MPK__PLAN_DYNAMIC,
                        .workers = c->pool->W,
                        .n = 1,
                        .chunk = 1,
                        .nchunks = 1};
  j->fn.task = a->fn;
  j->in = mpk__place(j, 0, a->arg, a->arg_size, c->buf_in);
  j->out = a->result_size == 0 ? NULL
           : c->buf_out        ? c->buf_out
                               : (char *)j->inline_buf + MPK__INL_B_OFF;
  j->ctx = NULL;
  return MPK_OK;
}

int mpk__apply_prepare(mpk__call *c, void **args, mpk_pool_t *p, mpk_task_fn fn,
                       const void *arg, size_t arg_size, void *result,
                       size_t result_size) {
  int rc = mpk__fn_ctx_check((const void *)fn, NULL, 0);
  if (rc != MPK_OK)
    return rc;
  if (arg == NULL && arg_size > 0)
    return mpk__errf(MPK_EINVAL, "apply: arg is NULL with arg_size %zu",
                     arg_size);
  if (result == NULL && result_size > 0)
    return mpk__errf(MPK_EINVAL, "apply: result is NULL with result_size %zu",
                     result_size);
  apply_args *a = malloc(sizeof *a);
  if (a == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for an apply");
  *a = (apply_args){fn, arg, arg_size, result_size};
  *c = (mpk__call){.pool = p,
                   .kind = MPK__JOB_APPLY,
                   .user_result = result,
                   .result_size = result_size};
  rc = mpk__prep_copy(p, arg, arg_size, MPK__INL_CTX, &c->buf_in);
  if (rc == MPK_OK && result_size > MPK__INL_CTX) {
    c->buf_out = mpk__pool_alloc(p, result_size);
    if (c->buf_out == NULL)
      rc = mpk__pool_nomem(p, result_size, "apply's result");
  }
  if (rc != MPK_OK) {
    mpk__call_discard(c);
    free(a);
    return rc;
  }
  *args = a;
  return MPK_OK;
}

int mpk__fill_apply(mpk__call *c, mpk__job *j, void *arg) {
  return fill_apply(c, j, arg);
}

int mpk_pool_apply(mpk_pool_t *p, mpk_task_fn fn, const void *arg,
                   size_t arg_size, void *result, size_t result_size) {
  int rc = mpk__call_check(p, true);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(p);
  mpk__call c;
  void *a;
  rc = mpk__apply_prepare(&c, &a, p, fn, arg, arg_size, result, result_size);
  if (rc != MPK_OK)
    return rc;
  rc = mpk__call_run(&c, fill_apply, a);
  free(a);
  return rc;
}
