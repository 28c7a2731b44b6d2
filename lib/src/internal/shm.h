/* internal/shm.h - shared-heap hooks for the rest of the library. */
#ifndef MPK_INTERNAL_SHM_H
#define MPK_INTERNAL_SHM_H

#include <stdint.h>

/* Reserve the shared region now if it is not yet (idempotent, MT-safe).
   Every mpk call that forks calls this first, so the region is mapped before
   the fork and shared with the child. MPK_OK, MPK_ENOMEM, or MPK_ENOSYS where
   robust locks are unusable. */
int mpk__shm_init(void);

/* Give the calling thread's cached free blocks back to the shared lists
   (before _exit in a child, which skips atexit). MT-safe. */
void mpk__shm_flush_cache(void);

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
