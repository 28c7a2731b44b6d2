/* rlock.c - RLock: an mpk__rmutex plus a recursion count kept by the owner.
 * The layout (struct mpk_rlock) is in internal/sync.h. */
#include "internal/sync.h"

#include "mpk/shm.h"

static bool valid(const mpk_rlock_t *l) {
  return MPK__SHM_LIVE(l, MPK__RLOCK_MAGIC);
}

int mpk_rlock_new(mpk_rlock_t **out) {
  if (out == NULL)
    return mpk__err_lit(MPK_EINVAL, "mpk_rlock_new: l is NULL");
  mpk_rlock_t *l;
  int r =
      mpk__rmutex_line_new(sizeof *l, offsetof(mpk_rlock_t, r), (void **)&l);
  if (r != MPK_OK)
    return r;
  l->magic = MPK__RLOCK_MAGIC; /* count is 0 */
  *out = l;
  return MPK_OK;
}

int mpk_rlock_acquire(mpk_rlock_t *l, double timeout) {
  int rc =
      mpk__sync_wait_args(__func__, valid(l), l, "l", "mpk_rlock_t", timeout);
  if (rc != MPK_OK)
    return rc;
  if (mpk__rmutex_held(&l->r)) { /* ours: one level deeper */
    if (l->count == UINT32_MAX)
      return mpk__err_lit(MPK_EOVERFLOW, "mpk_rlock_acquire: recursion depth "
                                         "UINT32_MAX reached");
    l->count++;
    return MPK_OK;
  }
  int r;
  if (mpk__rmutex_trylock_fast(&l->r)) {
    r = MPK_OK;
  } else if (timeout == 0) {
    r = mpk__rmutex_lock_slow(&l->r, NULL);
  } else {
    mpk__deadline d;
    mpk__deadline_init(&d, timeout);
    r = mpk__rmutex_lock_slow(&l->r, &d);
  }
  /* A dead owner's depth is forgotten: the count starts afresh. */
  if (r == MPK_OK || r == MPK_EOWNERDEAD)
    l->count = 1;
  return mpk__err_if(r);
}

int mpk_rlock_release(mpk_rlock_t *l) {
  if (!valid(l))
    return mpk__err_lit(MPK_EINVAL, "mpk_rlock_release: l is not a live "
                                    "mpk_rlock_t");
  if (!mpk__rmutex_held(&l->r))
    return mpk__err_lit(MPK_EPERM, "mpk_rlock_release: the calling thread "
                                   "does not hold the RLock");
  if (l->count > 1) {
    l->count--;
    return MPK_OK;
  }
  l->count = 0;
  return mpk__err_if(mpk__rmutex_unlock(&l->r));
}

void mpk_rlock_free(mpk_rlock_t *l) {
  if (!valid(l))
    return;
  mpk__rmutex_destroy(&l->r); /* leave our robust list first */
  l->magic = MPK__SYNC_FREED;
  mpk_shm_free(l);
}
