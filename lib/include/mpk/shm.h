/* mpk/shm.h - the shared heap, and Value/Array on it.
 *
 * mpk reserves one MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE region per
 * process tree the first time any mpk object is made (or mpk_shm_alloc is
 * called), before anything is forked. Every child forked afterwards, by mpk
 * or by the user, sees the same bytes at the same addresses, including
 * memory allocated after the fork. Only touched pages cost memory.
 *
 * Size: MPK_SHM_SIZE (e.g. "8G"; default: half of physical RAM, at most
 * 64 GiB, at least 64 MiB). The region is reserved once and never grows.
 *
 * The allocator has size classes (64 B .. 32 KiB, lock-free free lists) and
 * page runs for larger blocks (a robust process-shared lock; freed runs give
 * their pages back to the kernel). It is safe from any number of processes
 * and threads at once; a process SIGKILLed inside it can leak at most the
 * block it was allocating, never wedge or corrupt the heap for the others.
 */
#ifndef MPK_SHM_H
#define MPK_SHM_H

#include <stddef.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

/* Allocate `size` bytes (> 0) in the shared heap, 64-byte aligned.
   Returns NULL with errno = ENOMEM when the heap is exhausted or the size
   is 0 or absurd (errno = EINVAL for 0). Never aborts.
   MT-safe, MP-safe. Not AS-safe. */
MPK_API void *mpk_shm_alloc(size_t size);

/* As mpk_shm_alloc for n * size bytes, zeroed; NULL + ENOMEM on overflow.
   MT-safe, MP-safe. */
MPK_API void *mpk_shm_calloc(size_t n, size_t size);

/* Give a block back. NULL is a no-op; so is a pointer that is not the start
   of a live block of the shared heap (ignored, never a crash). Any process
   may free a block that any other process allocated. MT-safe, MP-safe. */
MPK_API void mpk_shm_free(void *p);

/* 1 if p points into the shared heap (allocated or not), else 0.
   MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_shm_contains(const void *p);

/* Usable size of the block at p (>= the size asked for), 0 for a pointer that
   is not a live block. MT-safe, MP-safe. */
MPK_API size_t mpk_shm_usable_size(const void *p);

typedef struct {
  size_t reserved;   /* bytes of address space reserved */
  size_t committed;  /* bytes handed out to size classes and runs so far */
  size_t in_use;     /* bytes in live blocks (usable sizes) */
  size_t allocs;     /* blocks allocated since start, all processes */
  size_t frees;      /* blocks freed since start, all processes */
} mpk_shm_stats_t;

/* Heap-wide statistics (a racy snapshot while others allocate).
   MPK_EINVAL for NULL. MT-safe, MP-safe. */
MPK_API int mpk_shm_stats(mpk_shm_stats_t *st);

/* ---- Value / Array: Python's Value (n == 1) and Array ---------------- */

typedef enum {
  MPK_CHAR,   /* char */
  MPK_INT,    /* int */
  MPK_LONG,   /* long */
  MPK_FLOAT,  /* float */
  MPK_DOUBLE, /* double */
  MPK_SIZE    /* size_t */
} mpk_type;

typedef struct mpk_array mpk_array_t;

/* A zeroed array of n (>= 1) elements of type t in the shared heap, with a
   robust lock when `locked` is 1 (Python's get_lock()). MPK_EINVAL for a
   bad type, n == 0 or locked not 0/1; MPK_ENOMEM. MT-safe, MP-safe. */
MPK_API int mpk_array_new(mpk_array_t **a, mpk_type t, size_t n, int locked);

/* The elements (in the shared heap: valid in every process forked after
   mpk_array_new, and in the creator). NULL for a NULL array. */
MPK_API void *mpk_array_data(mpk_array_t *a);
MPK_API size_t mpk_array_len(const mpk_array_t *a);
MPK_API mpk_type mpk_array_type(const mpk_array_t *a);

/* The array's lock. lock: MPK_OK, MPK_EOWNERDEAD (held; the previous holder
   died holding it), MPK_EDEADLK (the caller holds it already), MPK_ENOTSUP
   when created unlocked, MPK_EINVAL for NULL. unlock: MPK_EPERM when the
   caller does not hold it. MT-safe, MP-safe. */
MPK_API int mpk_array_lock(mpk_array_t *a);
MPK_API int mpk_array_unlock(mpk_array_t *a);

/* Lock-free atomics on integer elements (MPK_INT, MPK_LONG, MPK_SIZE), all
   sequentially consistent: the fast, correct form of Python's
   `v.value += 1` (which loses updates). Values are widened to / narrowed
   from long. Preconditions (checked with a return of 0 / no effect and, for
   compare_exchange, MPK_EINVAL): a != NULL, i < len, an integer type.
   MT-safe, MP-safe, AS-safe. */
MPK_API long mpk_array_load(mpk_array_t *a, size_t i);
MPK_API void mpk_array_store(mpk_array_t *a, size_t i, long v);
MPK_API long mpk_array_fetch_add(mpk_array_t *a, size_t i, long delta);
/* 1 if the element equalled *expected and now holds desired; 0 if not (and
   *expected is updated to the current value); MPK_EINVAL on bad input. */
MPK_API int mpk_array_compare_exchange(mpk_array_t *a, size_t i,
                                       long *expected, long desired);

/* Free the array (NULL: no-op). No process may use it afterwards. */
MPK_API void mpk_array_free(mpk_array_t *a);

MPK_END_DECLS

#endif
