/* internal/shm.h - shared-heap hooks for the rest of the library. */
#ifndef MPK_INTERNAL_SHM_H
#define MPK_INTERNAL_SHM_H

/* Reserve the shared region now if it is not yet (idempotent, MT-safe).
   Every mpk call that forks calls this first, so the region is mapped before
   the fork and shared with the child. MPK_OK or MPK_ENOMEM. */
int mpk__shm_init(void);

#endif
