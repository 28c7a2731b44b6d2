/* internal/shm.h - shared-heap hooks for the rest of the library. */
#ifndef MPK_INTERNAL_SHM_H
#define MPK_INTERNAL_SHM_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Reserve the shared region now if it is not yet (idempotent, MT-safe).
   Every mpk call that forks calls this first, so the region is mapped before
   the fork and shared with the child. MPK_OK, MPK_ENOMEM, or MPK_ENOSYS where
   robust locks are unusable. */
int mpk__shm_init(void);

/* Give the calling thread's cached free blocks back to the shared lists
   (before _exit in a child, which skips atexit). MT-safe. */
void mpk__shm_flush_cache(void);

/* ---- handle checks ------------------------------------------------------ */

/* The data area of the shared heap, [lo, lo + bytes), as this process sees
   it: both 0 until the heap is set up. shm.c's init_once stores `lo`, then
   `bytes` with release, before anything is allocated; both are constant
   afterwards and copied into every forked child. */
typedef struct {
  _Atomic uintptr_t lo;
  _Atomic size_t bytes;
} mpk__shm_area_t;
extern mpk__shm_area_t mpk__shm_area;

/* 1 when p may be the start of an object of `size` bytes made in the shared
   heap: [p, p + size) lies in the data area and p is 64-byte aligned, as
   every block the heap hands out is. The test every public call runs on a
   handle to a shared object before it reads the handle's magic word (use
   MPK__SHM_LIVE): NULL, a small integer, a pointer to the stack or the
   malloc heap, or a misaligned pointer into a block fails it without any
   memory access, so a wild handle is MPK_EINVAL, never a crash. Cost: one
   acquire load (a plain load on x86) of a read-mostly line, two compares
   and a mask. MT-safe, MP-safe, AS-safe. */
static inline bool mpk__shm_owns(const void *p, size_t size) {
  size_t bytes =
      atomic_load_explicit(&mpk__shm_area.bytes, memory_order_acquire);
  size_t off =
      (size_t)((uintptr_t)p -
               atomic_load_explicit(&mpk__shm_area.lo, memory_order_relaxed));
  return off < bytes && bytes - off >= size && (off & 63) == 0;
}

/* A live shared object of p's type: p passes mpk__shm_owns for the whole
   object and its `magic` field (within its first line) holds `want`. Every
   kind keeps a distinct magic and overwrites it when freed, so a pointer to
   another kind, into the middle of a block, or to a freed object whose
   memory was not handed out again is refused; memory that happens to hold
   the magic word (a reused block, a user's copy) cannot be told apart. */
#define MPK__SHM_LIVE(p, want)                                                 \
  (mpk__shm_owns((p), sizeof *(p)) && (p)->magic == (want))

/* ---- for the tests only ---- */

/* How many times the span allocator's free index was rebuilt because a
   process died holding its lock (heap-wide). 0 before the heap exists. */
unsigned long mpk__shm_recoveries(void);

/* Take the span lock and return holding it, after tearing the allocator's
   state the way a holder SIGKILLed mid-update would: `spans` spans taken
   from the bump pointer but never committed, and every free-run list
   emptied. The caller must then exit without unlocking (the next locker
   gets EOWNERDEAD and must repair everything). MPK_OK, MPK_EINVAL (not
   that many never-used spans), MPK_ENOMEM (no heap). */
int mpk__shm_test_tear_and_hold(uint32_t spans);

#endif
