/* robust.c - the robust lock of mpk (internal/robust.h) and the per-thread
 * state it needs: thread id and robust-list head. */
#include "internal/robust.h"

#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/spin.h"

__thread uint32_t mpk__tid_cache __attribute__((tls_model("initial-exec")));
__thread struct robust_list_head *mpk__rhead_cache
    __attribute__((tls_model("initial-exec")));

static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* In the child of a fork only the forking thread survives, with a new id:
   forget what we cached for the parent (the C library re-registers the
   child's robust list, at the same address). */
static void forget_thread(void) {
  mpk__tid_cache = 0;
  mpk__rhead_cache = NULL;
}

static void register_atfork(void) {
  pthread_atfork(NULL, NULL, forget_thread);
}

/* The robust list the C library registered for this thread, if it has the
   layout mpk__rmutex relies on; NULL otherwise. */
static struct robust_list_head *find_head(void) {
#if defined(__GLIBC__) && UINTPTR_MAX == UINT64_MAX
  /* glibc's 64-bit pthread_mutex_t: word at 0, list prev/next at 24/32. */
  _Static_assert(offsetof(pthread_mutex_t, __data.__list.__next) -
                         offsetof(pthread_mutex_t, __data.__lock) ==
                     (size_t)-MPK__ROBUST_FUTEX_OFFSET,
                 "glibc's robust list layout");
  _Static_assert(offsetof(pthread_mutex_t, __data.__list.__next) -
                         offsetof(pthread_mutex_t, __data.__list.__prev) ==
                     sizeof(void *),
                 "glibc's robust list is doubly linked");
  struct robust_list_head *h = NULL;
  size_t len = 0;
  if (syscall(SYS_get_robust_list, 0, &h, &len) != 0 || h == NULL ||
      len != sizeof *h || h->futex_offset != MPK__ROBUST_FUTEX_OFFSET)
    return NULL;
  return h;
#else
  return NULL;
#endif
}

uint32_t mpk__thread_init(void) {
  pthread_once(&atfork_once, register_atfork);
  uint32_t t = (uint32_t)gettid();
  mpk__rhead_cache = find_head();
  mpk__tid_cache = t;
  return t;
}

int mpk__rmutex_init(mpk__rmutex *m) {
  if (!mpk__robust_ready())
    return MPK_ENOSYS;
  *m = (mpk__rmutex){0};
  atomic_init(&m->word, 0);
  return MPK_OK;
}

/* Everything but the uncontended case: the lock is held, or its owner died,
   or the thread is not set up yet. */
int mpk__rmutex_lock_slow(mpk__rmutex *m, const mpk__deadline *d) {
  uint32_t tid = mpk__tid();
  struct robust_list_head *h = mpk__rhead_cache;
  if (h == NULL)
    return MPK_ENOSYS;
  /* Pending for the whole call, as glibc does: killed after a wake-up
     meant for us but before taking the lock, the kernel passes that wake-up
     on to the next waiter (it sees the pending node with a free word). */
  h->list_op_pending = (struct robust_list *)(void *)&m->next;
  atomic_signal_fence(memory_order_seq_cst);
  mpk__spin sp = MPK__SPIN_INIT(d);
  bool slept = false;
  int rc;
  uint32_t old = atomic_load_explicit(&m->word, memory_order_relaxed);
  for (;;) {
    if ((old & FUTEX_TID_MASK) == 0) {
      /* Free, perhaps with OWNER_DIED. Keep FUTEX_WAITERS if it was set,
         and set it if we slept: others may still sleep, and our release
         must wake one of them. */
      uint32_t want =
          tid | (old & FUTEX_WAITERS) | (slept ? FUTEX_WAITERS : 0u);
      if (atomic_compare_exchange_weak_explicit(&m->word, &old, want,
                                                memory_order_acquire,
                                                memory_order_relaxed)) {
        mpk__rmutex_link(h, m);
        rc = (old & FUTEX_OWNER_DIED) ? MPK_EOWNERDEAD : MPK_OK;
        break;
      }
      continue; /* old was reloaded by the failed CAS */
    }
    if ((old & FUTEX_TID_MASK) == tid) {
      rc = MPK_EDEADLK;
      break;
    }
    if (d != NULL && mpk__spin_more(&sp)) {
      old = atomic_load_explicit(&m->word, memory_order_relaxed);
      continue;
    }
    if (d == NULL || mpk__deadline_expired(d)) {
      rc = MPK_ETIMEDOUT;
      break;
    }
    if (!(old & FUTEX_WAITERS)) {
      /* Ask the holder (or the kernel, if it dies) to wake us. */
      if (!atomic_compare_exchange_weak_explicit(
              &m->word, &old, old | FUTEX_WAITERS, memory_order_relaxed,
              memory_order_relaxed))
        continue;
      old |= FUTEX_WAITERS;
    }
    slept = true;
    /* Returns on a wake-up, a changed word, EINTR or the deadline; the
       loop re-reads the word and tries again in every case (a waiter that
       was woken always gets its try, even at the deadline). */
    mpk__futex_wait(&m->word, old, d);
    old = atomic_load_explicit(&m->word, memory_order_relaxed);
  }
  atomic_signal_fence(memory_order_seq_cst);
  h->list_op_pending = NULL;
  return rc;
}

void mpk__rmutex_wake_slow(mpk__rmutex *m) {
  if (mpk__futex_wake(&m->word, 1) > 0)
    return;
  uint32_t w = FUTEX_WAITERS;
  atomic_compare_exchange_strong_explicit(&m->word, &w, 0, memory_order_relaxed,
                                          memory_order_relaxed);
}
