/* lock.c - Lock: one mpk__rmutex (internal/robust.h) in a cache line. */
#include "internal/sync.h"

#include "mpk/shm.h"

int mpk_lock_new(mpk_lock_t **out) {
  if (out == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_lock_new: l is NULL");
  mpk_lock_t *l;
  int r = mpk__rmutex_line_new(sizeof *l, offsetof(mpk_lock_t, r), (void **)&l);
  if (r != MPK_OK)
    return r;
  l->magic = MPK__LOCK_MAGIC; /* pad_ is 0 */
  *out = l;
  return MPK_OK;
}

/* Kept out of line so the uncontended path needs no stack frame. */
__attribute__((noinline)) static int acquire_slow(mpk_lock_t *l,
                                                  double timeout) {
  if (timeout == 0)
    return mpk__rmutex_lock_slow(&l->r, NULL);
  mpk__deadline d;
  mpk__deadline_init(&d, timeout);
  return mpk__rmutex_lock_slow(&l->r, &d);
}

int mpk_lock_acquire(mpk_lock_t *l, double timeout) {
  int rc = mpk__sync_wait_args(__func__, mpk__lock_valid(l), l, "l",
                               "mpk_lock_t", timeout);
  if (rc != MPK_OK)
    return rc;
  if (mpk__rmutex_trylock_fast(&l->r)) /* no clock read when free */
    return MPK_OK;
  return mpk__err_if(acquire_slow(l, timeout));
}

int mpk_lock_release(mpk_lock_t *l) {
  if (!mpk__lock_valid(l))
    return mpk__err_lit(MPK_EINVAL, "mpk_lock_release: l is not a live "
                                    "mpk_lock_t");
  return mpk__err_if(mpk__rmutex_unlock(&l->r));
}

int mpk_lock_locked(mpk_lock_t *l) {
  if (!mpk__lock_valid(l))
    return mpk__err_lit(MPK_EINVAL, "mpk_lock_locked: l is not a live "
                                    "mpk_lock_t");
  return mpk__err_if(mpk__rmutex_locked(&l->r));
}

void mpk_lock_free(mpk_lock_t *l) {
  if (!mpk__lock_valid(l))
    return;
  /* A lock freed by its holder must leave the holder's robust list first:
     the list would otherwise point into a freed block. */
  mpk__rmutex_destroy(&l->r);
  l->magic = MPK__SYNC_FREED;
  mpk_shm_free(l);
}
