/* async.c - asynchronous calls and the completion thread.
 *
 * Async calls are ordinary jobs whose waiting is done by ONE completion
 * thread per pool (started at the first async call). It sleeps on the
 * pool's progress futex, finishes each call that has completed (copy-out,
 * ring slot released), runs its callback, then marks the handle complete and
 * wakes mpk_async_wait. Completion order is the order in which the thread
 * finds calls complete. (imap, which streams results instead, is imap.c.)
 */
#include <stdio.h>
#include <stdlib.h>

#include "pool/pool_internal.h"

static _Thread_local const mpk_pool_t *tls_completer;

bool mpk__in_completer(const mpk_pool_t *p) {
  return tls_completer == p;
}

/* ---- the completion thread ---------------------------------------------- */

static void deliver(mpk_async_t *a, int status) {
  a->status = status;
  if (a->done)
    a->done(a, status, a->user);
  bool self_free = a->self_free; /* read before the handle may be freed */
  atomic_store_explicit(&a->complete, 1, memory_order_release);
  mpk__futex_wake(&a->complete, INT32_MAX);
  if (self_free)
    free(a);
}

/* First async call (in submission order) that is ready, unlinked; NULL if
   none. mu held. */
static mpk__call *take_ready_locked(mpk_pool_t *p) {
  mpk__call **pp = &p->async_head, *prev = NULL;
  for (mpk__call *c = p->async_head; c; prev = c, c = c->next) {
    if (mpk__call_ready(c)) {
      *pp = c->next;
      if (p->async_tail == c)
        p->async_tail = prev;
      c->next = NULL;
      return c;
    }
    pp = &c->next;
  }
  return NULL;
}

static bool completer_pred(void *arg) {
  mpk_pool_t *p = arg;
  pthread_mutex_lock(&p->mu);
  bool go = p->completer_stop && p->async_head == NULL;
  for (mpk__call *c = p->async_head; !go && c; c = c->next)
    go = mpk__call_ready(c);
  pthread_mutex_unlock(&p->mu);
  return go;
}

static void *completer_main(void *arg) {
  mpk_pool_t *p = arg;
  tls_completer = p;
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  for (;;) {
    pthread_mutex_lock(&p->mu);
    mpk__call *c = take_ready_locked(p);
    bool stop = c == NULL && p->completer_stop && p->async_head == NULL;
    pthread_mutex_unlock(&p->mu);
    if (stop)
      break;
    if (c == NULL) {
      mpk__progress_wait(p, completer_pred, p, &forever, false);
      continue;
    }
    int status = mpk__call_finish(c);
    if (status != MPK_OK) /* the callback's mpk_errmsg() tells why */
      mpk__failure_errf(p, &c->err);
    deliver(c->async, status);
    mpk__progress_wake(p->ctl); /* join waits for the async list */
  }
  return NULL;
}

/* Start the completion thread if needed. mu held. */
static int completer_ensure_locked(mpk_pool_t *p) {
  if (p->completer_on)
    return MPK_OK;
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int r = pthread_create(&p->completer, NULL, completer_main, p);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (r != 0)
    return mpk__errsys(r, MPK_EAGAIN, "pthread_create (completion thread)");
  p->completer_on = true;
  p->completer_stop = false;
  return MPK_OK;
}

void mpk__async_start_stop(mpk_pool_t *p) {
  pthread_mutex_lock(&p->mu);
  bool on = p->completer_on;
  p->completer_stop = true;
  pthread_mutex_unlock(&p->mu);
  if (!on)
    return;
  atomic_fetch_add(&p->ctl->progress, 1);
  mpk__futex_wake(&p->ctl->progress, INT32_MAX);
  pthread_join(p->completer, NULL);
  pthread_mutex_lock(&p->mu);
  p->completer_on = false;
  pthread_mutex_unlock(&p->mu);
}

/* Submit an async call prepared in a->call. */
static int submit_async(mpk_pool_t *p, mpk_async_t *a,
                        int (*fill)(mpk__call *, mpk__job *, void *),
                        void *args, mpk_async_t **out) {
  pthread_mutex_lock(&p->mu);
  int rc = completer_ensure_locked(p);
  pthread_mutex_unlock(&p->mu);
  /* set before publishing: once published, the handle may complete (and
     free itself) at any moment */
  a->self_free = out == NULL;
  if (rc == MPK_OK)
    rc = mpk__call_submit(&a->call, fill, args, 0);
  if (rc != MPK_OK) {
    mpk__call_discard(&a->call);
    free(a);
    if (out)
      *out = NULL;
    return rc;
  }
  if (out)
    *out = a;
  mpk__progress_wake(p->ctl); /* the completion thread may sleep */
  return MPK_OK;
}

/* What every async submit checks first: the pool accepts calls from here,
   and a handle for the call (freed by the caller if preparing it fails). */
static int async_begin(mpk_pool_t *p, mpk_done_fn done, void *user,
                       mpk_async_t **a, mpk_async_t **h) {
  if (a)
    *a = NULL;
  int rc = mpk__call_check(p, false);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(p);
  *h = calloc(1, sizeof **h);
  if (*h == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for an async handle");
  (*h)->done = done;
  (*h)->user = user;
  return MPK_OK;
}

/* After the prepare step (rc): submit h with the fill's args, or drop it. */
static int submit_prepared(mpk_pool_t *p, mpk_async_t *h, int rc,
                           int (*fill)(mpk__call *, mpk__job *, void *),
                           void *args, mpk_async_t **a) {
  if (rc != MPK_OK) {
    free(h);
    return rc;
  }
  h->call.async = h;
  rc = submit_async(p, h, fill, args, a);
  free(args);
  return rc;
}

int mpk_pool_map_async(mpk_pool_t *p, mpk_map_fn fn, const void *in,
                       size_t in_size, void *out, size_t out_size, size_t n,
                       const void *ctx, size_t ctx_size, mpk_sched s,
                       mpk_done_fn done, void *user, mpk_async_t **a) {
  mpk_async_t *h = NULL;
  int rc = async_begin(p, done, user, a, &h);
  if (rc != MPK_OK)
    return rc;
  void *args = NULL;
  rc = mpk__map_prepare(&h->call, &args, p, fn, in, in_size, out, out_size, n,
                        ctx, ctx_size, s);
  return submit_prepared(p, h, rc, mpk__fill_map, args, a);
}

int mpk_pool_apply_async(mpk_pool_t *p, mpk_task_fn fn, const void *arg,
                         size_t arg_size, void *result, size_t result_size,
                         mpk_done_fn done, void *user, mpk_async_t **a) {
  mpk_async_t *h = NULL;
  int rc = async_begin(p, done, user, a, &h);
  if (rc != MPK_OK)
    return rc;
  void *args = NULL;
  rc = mpk__apply_prepare(&h->call, &args, p, fn, arg, arg_size, result,
                          result_size);
  return submit_prepared(p, h, rc, mpk__fill_apply, args, a);
}

int mpk_async_wait(mpk_async_t *a, double timeout) {
  if (a == NULL)
    return mpk__err_null("a");
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  for (;;) {
    if (atomic_load_explicit(&a->complete, memory_order_acquire)) {
      if (a->status == MPK_OK)
        return MPK_OK;
      /* the pool may be gone by now (task_timeout is not shown then) */
      return mpk__failure_errf(NULL, &a->call.err);
    }
    if (mpk__in_completer(a->call.pool))
      return mpk__errf(MPK_EDEADLK, "mpk_async_wait from the completion "
                                    "thread on a call that has not completed");
    if (mpk__futex_wait(&a->complete, 0, &d) == MPK_ETIMEDOUT &&
        !atomic_load_explicit(&a->complete, memory_order_acquire))
      return mpk__err(MPK_ETIMEDOUT);
  }
}

int mpk_async_ready(mpk_async_t *a) {
  return a && atomic_load_explicit(&a->complete, memory_order_acquire) ? 1 : 0;
}

void mpk_async_free(mpk_async_t *a) {
  if (a == NULL)
    return;
  mpk__errstate saved; /* a void call leaves mpk_errmsg alone */
  mpk__err_save(&saved);
  mpk_async_wait(a, MPK_FOREVER);
  mpk__err_restore(&saved);
  free(a);
}
