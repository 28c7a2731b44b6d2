/* mpk/shm.h - the shared heap, and Value/Array on it.
 *
 * mpk reserves one MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE region per
 * process tree the first time any mpk object is made (or mpk_shm_alloc is
 * called), before anything is forked. Every child forked afterwards, by mpk
 * or by the user, sees the same bytes at the same addresses, including
 * memory allocated after the fork. Only touched pages cost memory.
 *
 * Size: MPK_SHM_SIZE (e.g. "8G"; default: half of physical RAM, at most
 * 64 GiB, at least 64 MiB). An explicit size is rounded down to 64 KiB and
 * kept within [4 MiB, 256 GiB]. If the mapping fails, halves are tried down
 * to 64 MiB (or the explicit size, if smaller); if that fails too, every
 * allocation fails with ENOMEM. The region is reserved once and never
 * grows; its allocator tables take 64 KiB plus 0.025 % of it.
 *
 * The allocator has size classes (64 B .. 32 KiB, lock-free free lists) and
 * runs of 64 KiB spans for larger blocks (a robust process-shared lock).
 * Freed blocks of 1 MiB or more, and free runs that merge to 1 MiB, give
 * their pages back to the kernel; smaller free runs stay resident for
 * reuse. Memory given to a size class is reused by that class; when the
 * heap runs out, slabs whose blocks are all free go back to the common
 * pool, so memory freed by one size serves any other. Each thread keeps up
 * to 4 KiB per size class of the blocks it freed (classes up to 1 KiB, as
 * malloc's thread caches do), so an alloc / free pair of one thread touches
 * no shared cache line; these blocks go back to the common lists when the
 * cache is full, when the thread exits, when the process calls exit() or an
 * mpk child returns, and when the heap runs out (the calling thread's
 * cache). Until then other processes cannot get them, and a forked child
 * starts with an empty cache.
 *
 * It is safe from any number of processes and threads at once. A process
 * SIGKILLed inside it never wedges or corrupts the heap for the others; it
 * leaks what it held and its threads' caches (at most ~41 KiB a thread),
 * plus at most the block it was allocating or freeing (or a fresh slab of
 * at most 512 KiB; or, killed during the rare out-of-memory sweep of the
 * free lists, the free blocks of one size class).
 *
 * Handles of shared objects. Every object mpk makes in the shared heap
 * (Queue, Lock, RLock, Semaphore, Event, Condition, Barrier, Value/Array,
 * Dict) is checked at the start of every call on it: a pointer that is not
 * a live object of the call's kind is a "bad handle", answered with
 * MPK_EINVAL (or the 0 / NULL the call documents for one; a free ignores
 * it), never a crash. Bad handles are NULL; any pointer outside the shared
 * heap (0x40, the stack, malloc'd memory, a copy of an object); a pointer
 * into a block that is not the start of an object; an object of another
 * kind; and a freed object, as long as its memory was not handed out again.
 * The check is a range test and a magic word per kind, so two things
 * cannot be caught: a freed object whose block was reused by a new object
 * of the same kind (the handle then names the new object), and other
 * shared memory that holds a copy of a live object's first bytes.
 */
#ifndef MPK_SHM_H
#define MPK_SHM_H

#include <stddef.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

/* Allocate `size` bytes (> 0) in the shared heap, 64-byte aligned. The
   contents are unspecified (use mpk_shm_calloc for zeroes).
   Returns NULL with errno = EINVAL for size 0, ENOMEM when the heap is
   exhausted or the size larger than the heap (mpk_errmsg() then says so,
   with the heap's size and MPK_SHM_SIZE). Never aborts.
   MT-safe, MP-safe. Not AS-safe (from a signal handler that interrupted an
   allocator call in the same thread it may fail with errno = EDEADLK).
   Lock-free for sizes up to 32 KiB once their size class has free blocks. */
MPK_API void *mpk_shm_alloc(size_t size);

/* As mpk_shm_alloc for n * size bytes, zeroed (the whole usable size);
   NULL + ENOMEM when n * size overflows, NULL + EINVAL when it is 0.
   MT-safe, MP-safe. */
MPK_API void *mpk_shm_calloc(size_t n, size_t size);

/* Give a block back. NULL is a no-op; so is a pointer outside the heap,
   inside a block, misaligned, or into memory that is not allocated (all
   ignored, never a crash). Any process may free a block that any other
   process allocated. Freeing a block twice is undefined, as with free(3):
   a large block's second free is ignored unless the memory was handed out
   again in between; a small block's cannot be told from a live one.
   Preserves errno. MT-safe, MP-safe. */
MPK_API void mpk_shm_free(void *p);

/* 1 if p points into the shared heap (allocated or not), else 0.
   MT-safe, MP-safe, AS-safe. */
MPK_API int mpk_shm_contains(const void *p);

/* Usable size of the block at p (>= the size asked for; a size class, or a
   multiple of 64 KiB above 32 KiB), 0 for a pointer that is not the start
   of a block. A freed small block still reports its class size (see
   mpk_shm_free). MT-safe, MP-safe. */
MPK_API size_t mpk_shm_usable_size(const void *p);

typedef struct {
  size_t reserved;  /* bytes of address space reserved */
  size_t committed; /* bytes now held by size classes (slabs) and large
                       blocks: in_use plus free small blocks */
  size_t in_use;    /* bytes in live blocks (usable sizes) */
  size_t allocs;    /* blocks allocated since start, all processes */
  size_t frees;     /* blocks freed since start, all processes */
} mpk_shm_stats_t;

/* Heap-wide statistics (a racy snapshot while others allocate; exact when
   nobody does). Reserves the heap if needed. MPK_EINVAL for NULL,
   MPK_ENOMEM when the heap cannot be reserved (*st zeroed). MT-safe,
   MP-safe. */
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

/* The elements (in the shared heap, 64-byte aligned: valid in every
   process forked after mpk_array_new, and in the creator). The array
   handle itself lives in the shared heap too, so it can be passed to
   children as is. NULL for a bad handle (see the top: NULL, freed, not an
   array). Length: 0, type: MPK_CHAR for a bad handle. MT-safe, MP-safe,
   AS-safe. */
MPK_API void *mpk_array_data(mpk_array_t *a);
MPK_API size_t mpk_array_len(const mpk_array_t *a);
MPK_API mpk_type mpk_array_type(const mpk_array_t *a);

/* The array's lock (a robust mutex; it belongs to the thread that locked
   it). lock: MPK_OK, MPK_EOWNERDEAD (held; the previous holder died holding
   it, the elements may be half-updated), MPK_EDEADLK (the caller holds it
   already), MPK_ENOTSUP when created unlocked, MPK_EINVAL for a bad
   handle (see the top). Blocks without limit. unlock: MPK_OK, MPK_EPERM when
   the calling thread does not hold it, MPK_ENOTSUP, MPK_EINVAL. MT-safe,
   MP-safe. A lock held across fork() stays held by the parent's thread; the
   child does not hold it. */
MPK_API int mpk_array_lock(mpk_array_t *a);
MPK_API int mpk_array_unlock(mpk_array_t *a);

/* Lock-free atomics on integer elements (MPK_INT, MPK_LONG, MPK_SIZE), all
   sequentially consistent: the fast, correct form of Python's
   `v.value += 1` (which loses updates). Values are widened to / narrowed
   from long: an MPK_INT element takes v modulo 2^32 and wraps on overflow;
   an MPK_SIZE element above LONG_MAX reads back negative (cast it to
   size_t). Preconditions (checked with a return of 0 / no effect and, for
   compare_exchange, MPK_EINVAL): a live array (not a bad handle, see the
   top), i < len, an integer type.
   The lock is not involved: atomics and locked sections do not exclude
   each other. MT-safe, MP-safe, AS-safe. */
MPK_API long mpk_array_load(mpk_array_t *a, size_t i);
MPK_API void mpk_array_store(mpk_array_t *a, size_t i, long v);
MPK_API long mpk_array_fetch_add(mpk_array_t *a, size_t i, long delta);
/* 1 if the element equalled *expected and now holds desired; 0 if not (and
   *expected is updated to the current value; for MPK_INT an *expected
   outside the int range never matches); MPK_EINVAL on bad input or
   expected == NULL. */
MPK_API int mpk_array_compare_exchange(mpk_array_t *a, size_t i, long *expected,
                                       long desired);

/* Free the array (a bad handle, e.g. NULL or an already freed array that
   was not reused: no-op). No process may use it afterwards; it must not be
   locked. MT-safe, MP-safe. */
MPK_API void mpk_array_free(mpk_array_t *a);

MPK_END_DECLS

#endif
