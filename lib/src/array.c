/* array.c - Value / Array in the shared heap (see mpk/shm.h).
 *
 * One shared-heap block: a 128-byte header, then the elements (64-byte
 * aligned, zeroed). Every process forked after mpk_array_new sees it at the
 * same address, so the handle itself is what processes share.
 */
#include <limits.h>
#include <stdatomic.h>
#include <stdint.h>

#include "internal/robust.h"
#include "internal/error.h"
#include "internal/shm.h"
#include "mpk/error.h"
#include "mpk/shm.h"

#define ARRAY_MAGIC 0x79617272616b706dULL /* "mpkarray" */

struct mpk_array {
  /* Line 0: read by every access, written only by new/free. */
  uint64_t magic;    /* ARRAY_MAGIC while live, 0 after mpk_array_free */
  uint64_t n;        /* elements */
  uint32_t type;     /* mpk_type */
  uint32_t elem;     /* bytes per element */
  uint32_t locked;   /* 1: `lock` is initialised */
  uint32_t reserved; /* (padding, zero) */
  /* The robust mutex starts its own line so that lock traffic does not
     bounce the read-mostly line above between processes. */
  _Alignas(64) mpk__rmutex lock;
  /* The elements start on a fresh line: no false sharing with the lock,
     and SIMD-friendly alignment. */
  _Alignas(64) unsigned char data[];
};
_Static_assert(offsetof(struct mpk_array, lock) == 64, "lock on line 1");
_Static_assert(offsetof(struct mpk_array, data) == 128, "data on line 2");
_Static_assert(sizeof(mpk__rmutex) <= 64, "the mutex fits in its line");

static size_t elem_size(mpk_type t) {
  switch (t) {
  case MPK_CHAR: return sizeof(char);
  case MPK_INT: return sizeof(int);
  case MPK_LONG: return sizeof(long);
  case MPK_FLOAT: return sizeof(float);
  case MPK_DOUBLE: return sizeof(double);
  case MPK_SIZE: return sizeof(size_t);
  default: return 0;
  }
}

/* A handle from mpk_array_new that was not freed (internal/shm.h). */
static inline int live(const mpk_array_t *a) {
  return MPK__SHM_LIVE(a, ARRAY_MAGIC);
}

int mpk_array_new(mpk_array_t **out, mpk_type t, size_t n, int locked) {
  size_t es = elem_size(t);
  if (out == NULL)
    return mpk__err_null("a");
  if (es == 0)
    return mpk__errf(MPK_EINVAL, "array: type %d is not an mpk_type", (int)t);
  if (n == 0)
    return mpk__errf(MPK_EINVAL, "array: n is 0");
  if (locked != 0 && locked != 1)
    return mpk__errf(MPK_EINVAL, "array: locked is %d, not 0 or 1", locked);
  if (n > (SIZE_MAX - sizeof(struct mpk_array)) / es)
    return mpk__errf(MPK_ENOMEM,
                     "array: %zu elements of %zu bytes overflow "
                     "size_t",
                     n, es);
  mpk_array_t *a = mpk_shm_calloc(1, sizeof(struct mpk_array) + n * es);
  if (a == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_calloc */
  if (locked) {
    int rc = mpk__rmutex_init(&a->lock);
    if (rc != MPK_OK) {
      mpk_shm_free(a);
      return mpk__errf(rc, "array: robust locks are unusable here");
    }
  }
  a->n = n;
  a->type = (uint32_t)t;
  a->elem = (uint32_t)es;
  a->locked = (uint32_t)locked;
  a->magic = ARRAY_MAGIC;
  *out = a;
  return MPK_OK;
}

void *mpk_array_data(mpk_array_t *a) {
  return live(a) ? a->data : NULL;
}

size_t mpk_array_len(const mpk_array_t *a) {
  return live(a) ? a->n : 0;
}

mpk_type mpk_array_type(const mpk_array_t *a) {
  return live(a) ? (mpk_type)a->type : MPK_CHAR;
}

/* The checks of lock and unlock. */
static int lock_check(const char *fn, const mpk_array_t *a) {
  if (!live(a))
    return mpk__err_handle(fn, a, "a", "mpk_array_t");
  if (!a->locked)
    return mpk__errf(MPK_ENOTSUP,
                     "%s: the array was made without a lock "
                     "(locked 0)",
                     fn);
  return MPK_OK;
}

int mpk_array_lock(mpk_array_t *a) {
  int rc = lock_check(__func__, a);
  if (rc != MPK_OK)
    return rc;
  return mpk__err_if(mpk__rmutex_lock_forever(&a->lock));
}

int mpk_array_unlock(mpk_array_t *a) {
  int rc = lock_check(__func__, a);
  if (rc != MPK_OK)
    return rc;
  return mpk__err_if(mpk__rmutex_unlock(&a->lock));
}

/* The element as the matching _Atomic object, or NULL for bad input.
   Only integer types: a plain int / long / size_t has the same size and
   alignment as its _Atomic twin on every target mpk builds for (checked
   below), and the elements are naturally aligned. */
_Static_assert(sizeof(_Atomic int) == sizeof(int) &&
                   sizeof(_Atomic long) == sizeof(long) &&
                   sizeof(_Atomic size_t) == sizeof(size_t),
               "atomic integers have the plain layout");

static void *atomic_elem(mpk_array_t *a, size_t i) {
  if (!live(a) || i >= a->n)
    return NULL;
  if (a->type != MPK_INT && a->type != MPK_LONG && a->type != MPK_SIZE)
    return NULL;
  return a->data + i * a->elem;
}

/* All operations are seq_cst: the default a user expects of a shared
   counter (Python's value with its lock), and on x86 a locked instruction
   either way. */
long mpk_array_load(mpk_array_t *a, size_t i) {
  void *e = atomic_elem(a, i);
  if (e == NULL)
    return 0;
  switch (a->type) {
  case MPK_INT: return atomic_load((_Atomic int *)e);
  case MPK_LONG: return atomic_load((_Atomic long *)e);
  default: return (long)atomic_load((_Atomic size_t *)e);
  }
}

void mpk_array_store(mpk_array_t *a, size_t i, long v) {
  void *e = atomic_elem(a, i);
  if (e == NULL)
    return;
  switch (a->type) {
  case MPK_INT: atomic_store((_Atomic int *)e, (int)v); break;
  case MPK_LONG: atomic_store((_Atomic long *)e, v); break;
  default: atomic_store((_Atomic size_t *)e, (size_t)v); break;
  }
}

long mpk_array_fetch_add(mpk_array_t *a, size_t i, long delta) {
  void *e = atomic_elem(a, i);
  if (e == NULL)
    return 0;
  switch (a->type) {
  case MPK_INT: /* wraps modulo 2^32 like every atomic signed add */
    return atomic_fetch_add((_Atomic int *)e, (int)(unsigned)delta);
  case MPK_LONG: return atomic_fetch_add((_Atomic long *)e, delta);
  default: return (long)atomic_fetch_add((_Atomic size_t *)e, (size_t)delta);
  }
}

int mpk_array_compare_exchange(mpk_array_t *a, size_t i, long *expected,
                               long desired) {
  void *e = atomic_elem(a, i);
  if (e == NULL || expected == NULL)
    return mpk__errf(MPK_EINVAL, "mpk_array_compare_exchange: %s",
                     expected == NULL ? "expected is NULL"
                     : !live(a)       ? "a is NULL or not a live mpk_array_t"
                     : i >= a->n      ? "index out of range"
                                      : "not an integer array");
  switch (a->type) {
  case MPK_INT: {
    int x = (int)*expected;
    if (x != *expected) { /* no int equals it: fail like a mismatch */
      *expected = atomic_load((_Atomic int *)e);
      return 0;
    }
    int ok = atomic_compare_exchange_strong((_Atomic int *)e, &x, (int)desired);
    *expected = x;
    return ok;
  }
  case MPK_LONG:
    return atomic_compare_exchange_strong((_Atomic long *)e, expected, desired);
  default: {
    size_t x = (size_t)*expected;
    int ok = atomic_compare_exchange_strong((_Atomic size_t *)e, &x,
                                            (size_t)desired);
    *expected = (long)x;
    return ok;
  }
  }
}

void mpk_array_free(mpk_array_t *a) {
  if (!live(a))
    return;
  a->magic = 0;
  if (a->locked)
    mpk__rmutex_destroy(&a->lock);
  mpk_shm_free(a);
}
