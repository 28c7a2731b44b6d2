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
  bool counted = false; /* in m->sleepers */
  int rc;
  uint32_t old = atomic_load_explicit(&m->word, memory_order_relaxed);
  for (;;) {
    if ((old & FUTEX_TID_MASK) == 0) {
      /* Free, perhaps with OWNER_DIED. Take it with FUTEX_WAITERS while
         anyone else is counted in `sleepers` (asleep, or woken and not yet
         holding it): our release must wake one of them, whatever became of
         the wake-up that let us in. Nobody counted: take it without the
         bit, so its release is the fast one again. A sleeper counted after
         this read sets the bit itself before it sleeps, on the held word.
       */
      uint32_t mine = counted ? 1u : 0u;
      uint32_t want =
          tid | (atomic_load(&m->sleepers) > mine ? FUTEX_WAITERS : 0u);
      /* seq_cst: ordered before the re-check of `sleepers` below */
      if (atomic_compare_exchange_weak_explicit(&m->word, &old, want,
                                                memory_order_seq_cst,
                                                memory_order_relaxed)) {
        /* The read above may be stale: a sleeper counted, woken and still
           on its way in may have arrived while this thread was preempted
           before the CAS (the word went through another hold in between).
           Re-check now that the lock is ours: a sleeper this misses was
           counted after our CAS, so its own seq_cst re-read of the word
           sees us holding it and it sets the bit itself. */
        if (!(want & FUTEX_WAITERS) && atomic_load(&m->sleepers) > mine)
          atomic_fetch_or(&m->word, FUTEX_WAITERS);
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
    if (!counted) {
      /* seq_cst, before we set the bit or sleep: an acquirer that reads
         `sleepers` after this keeps the bit for us; one that read it before
         took the word without the bit, and we set it below. */
      atomic_fetch_add(&m->sleepers, 1);
      counted = true;
      old = atomic_load(&m->word); /* seq_cst: after the count */
      continue;
    }
    if (!(old & FUTEX_WAITERS)) {
      /* Ask the holder (or the kernel, if it dies) to wake us. */
      if (!atomic_compare_exchange_weak_explicit(
              &m->word, &old, old | FUTEX_WAITERS, memory_order_relaxed,
              memory_order_relaxed))
        continue;
      old |= FUTEX_WAITERS;
    }
    /* Returns on a wake-up, a changed word, EINTR or the deadline; the
       loop re-reads the word and tries again in every case (a waiter that
       was woken always gets its try, even at the deadline). */
    mpk__futex_wait(&m->word, old, d);
    old = atomic_load_explicit(&m->word, memory_order_relaxed);
  }
  if (counted) /* after the CAS that took it: we kept the bit for others */
    atomic_fetch_sub(&m->sleepers, 1);
  atomic_signal_fence(memory_order_seq_cst);
  h->list_op_pending = NULL;
  return rc;
}

void mpk__rmutex_wake_slow(mpk__rmutex *m) {
  mpk__futex_wake(&m->word, 1);
}
