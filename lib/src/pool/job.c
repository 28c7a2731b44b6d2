/* job.c - the job descriptor: completion test, error record, wake-ups.
 *
 * Completion. A worker sets its `inside` bit before it claims anything in a
 * job and clears it after the last chunk it claimed has finished (all
 * seq_cst RMWs). A waiter that sees "every chunk claimed" (or "cancelled")
 * and then "no bit set" (seq_cst loads, in that order) knows every claimed
 * chunk has finished: a claim is ordered after its claimer's bit, so a
 * visible claim implies a visible bit until the chunk is done. A late worker
 * entering a complete job finds nothing to claim and only touches the
 * descriptor, which stays valid until every worker's pos has passed it.
 */
#include <stdbool.h>
#include <string.h>

#include "pool/pool_internal.h"

mpk__job_shape mpk__job_shape_of(const mpk__job *j) {
  return (mpk__job_shape){j->plan.workers, mpk__plan_shares(&j->plan) != 0,
                          j->plan.nchunks};
}

bool mpk__job_done(const mpk__job *j) {
  return mpk__job_done_as(j, mpk__job_shape_of(j));
}

bool mpk__job_done_as(const mpk__job *j, mpk__job_shape sh) {
  mpk__job *m = (mpk__job *)j; /* atomics are not const */
  unsigned W = sh.workers;
  unsigned words = (W + 63) / 64;
  if (!atomic_load(&m->cancel)) {
    if (sh.shares) {
      for (unsigned i = 0; i < words; i++) {
        uint64_t want =
            (i + 1 < words || W % 64 == 0) ? ~0ULL : (1ULL << (W % 64)) - 1;
        if ((atomic_load(&m->bits[i].claimed) & want) != want)
          return false;
      }
    } else if (atomic_load(&m->next) < sh.nchunks) {
      return false;
    }
  }
  for (unsigned i = 0; i < words; i++)
    if (atomic_load(&m->bits[i].inside) != 0)
      return false;
  return true;
}

static void err_lock(mpk__job *j, uint32_t holder) {
  for (;;) {
    uint32_t z = 0;
    /* acquire: the record's fields are read / written after this */
    if (atomic_compare_exchange_weak_explicit(&j->err_lock, &z, holder,
                                              memory_order_acquire,
                                              memory_order_relaxed))
      return;
    mpk__cpu_relax();
  }
}

static void err_unlock(mpk__job *j) {
  atomic_store_explicit(&j->err_lock, 0, memory_order_release);
}

mpk__failure mpk__failure_of(int code) {
  return (mpk__failure){.code = code, .worker = -1, .rank = -1};
}

void mpk__job_fail(mpk__job *j, uint32_t holder, const mpk__failure *f) {
  err_lock(j, holder);
  bool take;
  if (j->err.code == 0)
    take = true;
  else if (f->code == MPK_ETASK)
    take = j->err.code == MPK_ETASK && f->index < j->err.index;
  else
    take = j->err.code == MPK_ETASK; /* a death beats a task failure */
  if (take) {
    j->err = *f;
    j->err.kind = (int32_t)j->kind;
  }
  err_unlock(j);
  /* relaxed would do for the workers (they only skip work), but the parent
     reads cancel as part of the completion test: seq_cst. */
  atomic_store(&j->cancel, 1);
}

int mpk__job_error(mpk__job *j, mpk__failure *f) {
  *f = mpk__failure_of(MPK_OK);
  f->kind = (int32_t)j->kind;
  if (!atomic_load(&j->cancel))
    return MPK_OK; /* every failure sets cancel: nothing recorded */
  err_lock(j, MPK__LOCK_PARENT);
  if (j->err.code != 0)
    *f = j->err;
  memset(&j->err, 0, sizeof j->err); /* clean for the slot's next job */
  err_unlock(j);
  return f->code;
}

void mpk__job_err_unlock_dead(mpk__job *j, unsigned id) {
  uint32_t held = id + 1;
  atomic_compare_exchange_strong_explicit(
      &j->err_lock, &held, 0, memory_order_release, memory_order_relaxed);
}

void mpk__progress_wake(mpk__pool_ctl *ctl) {
  /* seq_cst load: pairs with the waiter's increment of `waiters` before it
     re-checks its condition (Dekker); no waiter, no system call. */
  if (atomic_load(&ctl->waiters) == 0)
    return;
  atomic_fetch_add(&ctl->progress, 1);
  mpk__futex_wake(&ctl->progress, INT32_MAX);
}

void mpk__job_reset(mpk__job *j, uint64_t seq, unsigned workers) {
  j->seq = seq;
  j->flags = 0;
  /* The counters line is written only where the previous job left
     something: a line that is already clean is not pulled from the worker
     that last touched it. (inside is 0 after every completed job; the
     error record is cleared by mpk__job_error.) */
  if (atomic_load_explicit(&j->next, memory_order_relaxed) != 0)
    atomic_store_explicit(&j->next, 0, memory_order_relaxed);
  if (atomic_load_explicit(&j->cancel, memory_order_relaxed) != 0)
    atomic_store_explicit(&j->cancel, 0, memory_order_relaxed);
  for (unsigned i = 0; i < (workers + 63) / 64; i++) {
    if (atomic_load_explicit(&j->bits[i].claimed, memory_order_relaxed))
      atomic_store_explicit(&j->bits[i].claimed, 0, memory_order_relaxed);
    if (atomic_load_explicit(&j->bits[i].inside, memory_order_relaxed))
      atomic_store_explicit(&j->bits[i].inside, 0, memory_order_relaxed);
  }
  atomic_store_explicit(&j->err_lock, 0, memory_order_relaxed);
}
