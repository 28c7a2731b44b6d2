/* route.c - the public for / reduce / map entries: a pool with an
 * extension (the MPI mode) hands them to it, every other pool runs them
 * itself (ops.c, reduce.c). */
#include "pool/pool_internal.h"

int mpk_pool_for(mpk_pool_t *p, size_t n, mpk_range_fn fn, const void *ctx,
                 size_t ctx_size, mpk_sched s) {
  if (p != NULL && p->ext_ops != NULL)
    return p->ext_ops->for_(p, n, fn, ctx, ctx_size, s);
  return mpk__for_local(p, n, fn, ctx, ctx_size, s);
}

int mpk_pool_reduce_double(mpk_pool_t *p, size_t n, mpk_sum_fn fn,
                           const void *ctx, size_t ctx_size, mpk_op op,
                           mpk_sched s, int flags, double *result) {
  if (p != NULL && p->ext_ops != NULL)
    return p->ext_ops->reduce_d(p, n, fn, ctx, ctx_size, op, s, flags, result);
  return mpk__reduce_d_local(p, n, fn, ctx, ctx_size, op, s, flags, result);
}

int mpk_pool_reduce(mpk_pool_t *p, size_t n,
                    int (*kernel)(size_t lo, size_t hi, void *acc, void *ctx),
                    void (*combine)(void *acc, const void *other),
                    const void *identity, size_t elem_size, const void *ctx,
                    size_t ctx_size, mpk_sched s, int flags, void *result) {
  if (p != NULL && p->ext_ops != NULL)
    return p->ext_ops->reduce_g(p, n, kernel, combine, identity, elem_size, ctx,
                                ctx_size, s, flags, result);
  return mpk__reduce_g_local(p, n, kernel, combine, identity, elem_size, ctx,
                             ctx_size, s, flags, result);
}

int mpk_pool_map(mpk_pool_t *p, mpk_map_fn fn, const void *in, size_t in_size,
                 void *out, size_t out_size, size_t n, const void *ctx,
                 size_t ctx_size, mpk_sched s) {
  if (p != NULL && p->ext_ops != NULL)
    return p->ext_ops->map(p, fn, in, in_size, out, out_size, n, ctx, ctx_size,
                           s);
  return mpk__map_local(p, fn, in, in_size, out, out_size, n, ctx, ctx_size, s);
}
