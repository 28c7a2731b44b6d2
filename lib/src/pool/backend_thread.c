/* backend_thread.c - worker threads (MPK_THREAD): the same worker loop on
 * pthreads. The monitor thread creates them (so they inherit nothing from a
 * caller's thread but the process) and joins them when they leave their
 * loop; each binds itself to its cpuset and restores the creator's signal
 * mask (mpk__worker_thread). Threads cannot be killed, so task_timeout and
 * max_rss_bytes are not offered; max_tasks_per_worker recycles the thread.
 */
#include <errno.h>
#include <stdlib.h>

#include "pool/pool_internal.h"

int mpk__threads_spawn(mpk_pool_t *p, pthread_t *t, unsigned id) {
  mpk__wstart *st = malloc(sizeof *st);
  if (st == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory to start worker thread %u", id);
  *st = (mpk__wstart){.pool = p, .id = id, .bind_here = 1};
  int r = pthread_create(t, NULL, mpk__worker_thread, st);
  if (r != 0) {
    free(st);
    return mpk__errsys(r, MPK_ENOMEM, "pthread_create (worker %u)", id);
  }
  return MPK_OK;
}
