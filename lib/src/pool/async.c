/* async.c - asynchronous calls, the completion thread, and imap.
 *
 * Async calls are ordinary jobs whose waiting is done by ONE completion
 * thread per pool (started at the first async call). It sleeps on the
 * pool's progress futex, finishes each call that has completed (copy-out,
 * ring slot released), runs its callback, then marks the handle complete and
 * wakes mpk_async_wait. Completion order is the order in which the thread
 * finds calls complete.
 *
 * imap is driven by the consumer: the iterator keeps at most `window`
 * chunks submitted or waiting to be consumed (one job per chunk), and
 * submits the next chunk as one is consumed, so memory stays bounded
 * whatever the consumer's speed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpk/shm.h"
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
    rc = mpk__call_submit(&a->call, fill, args, false);
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

/* ---- imap ---------------------------------------------------------------- */

/* One chunk of an iterator. Allocated on its own: the pool's ring points
   at its call while the job is in flight, so it never moves. */
typedef struct {
  mpk__call call;
  size_t lo, hi; /* elements of this chunk */
  char *out;     /* results (pool memory), owned until consumed */
  size_t next;   /* next element to hand out */
  size_t stop;   /* hand out elements before this one (error: failing) */
  int status;    /* after finish */
  bool done, reported;
} ichunk;

struct mpk__iterlist {
  mpk_iter_t *it;
  struct mpk__iterlist *next;
};

struct mpk_iter {
  mpk_pool_t *pool; /* NULL once the pool was freed */
  mpk_map_fn fn;
  const char *in;
  size_t in_size, out_size, n, chunk;
  bool unordered, in_shared;
  void *ctx;        /* pool memory, shared by all chunk jobs */
  size_t submitted; /* elements submitted so far */
  unsigned window;
  ichunk **ch; /* chunks not yet consumed, oldest first (count used) */
  unsigned count;
  int cur; /* unordered: index in ch being handed out, -1 none */
  struct mpk__iterlist link;
};

static void iter_link(mpk_pool_t *p, mpk_iter_t *it) {
  pthread_mutex_lock(&p->mu);
  it->link.it = it;
  it->link.next = p->iters;
  p->iters = &it->link;
  pthread_mutex_unlock(&p->mu);
}

static void iter_unlink(mpk_pool_t *p, mpk_iter_t *it) {
  pthread_mutex_lock(&p->mu);
  for (struct mpk__iterlist **l = &p->iters; *l; l = &(*l)->next)
    if (*l == &it->link) {
      *l = it->link.next;
      break;
    }
  pthread_mutex_unlock(&p->mu);
}

/* Submit chunks until the window is full or the input exhausted. */
static int refill(mpk_iter_t *it) {
  mpk_pool_t *p = it->pool;
  while (it->count < it->window && it->submitted < it->n) {
    size_t lo = it->submitted;
    size_t hi = it->n - lo > it->chunk ? lo + it->chunk : it->n;
    ichunk *c = calloc(1, sizeof *c);
    if (c == NULL)
      return mpk__errf(MPK_ENOMEM, "no memory for an imap chunk");
    c->lo = lo;
    c->hi = hi;
    c->next = lo;
    c->stop = hi;
    c->out = mpk__pool_alloc(p, (hi - lo) * it->out_size);
    if (c->out == NULL) {
      free(c);
      return mpk__pool_nomem(p, (hi - lo) * it->out_size, "imap's results");
    }
    int rc = mpk__imap_submit(&c->call, p, it->fn, it->in, it->in_size, c->out,
                              it->out_size, lo, hi, it->ctx, it->in_shared);
    if (rc != MPK_OK) {
      mpk__pool_free_mem(p, c->out);
      free(c);
      return rc;
    }
    it->submitted = hi;
    it->ch[it->count++] = c;
  }
  return MPK_OK;
}

int mpk_pool_imap(mpk_pool_t *p, mpk_map_fn fn, const void *in, size_t in_size,
                  size_t out_size, size_t n, const void *ctx, size_t ctx_size,
                  size_t chunk, int flags, mpk_iter_t **out) {
  if (out)
    *out = NULL;
  int rc = mpk__call_check(p, false);
  if (rc != MPK_OK)
    return rc;
  if (out == NULL)
    return mpk__err_null("it");
  if (flags & ~MPK_UNORDERED)
    return mpk__errf(MPK_EINVAL, "imap: unknown flag bits 0x%x",
                     (unsigned)(flags & ~MPK_UNORDERED));
  /* as map's, with out standing for the iterator's own buffers */
  rc = mpk__map_args_check(fn, in, in_size, out, out_size, n, ctx, ctx_size);
  if (rc != MPK_OK)
    return rc;
  if (atomic_load(&p->state) != MPK__P_OPEN)
    return mpk__pool_state_err(p);
  mpk_iter_t *it = calloc(1, sizeof *it);
  if (it == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for an iterator");
  it->pool = p;
  it->fn = fn;
  it->in = in;
  it->in_size = in_size;
  it->out_size = out_size;
  it->n = n;
  it->unordered = flags & MPK_UNORDERED;
  it->chunk = chunk ? chunk : (n ? mpk__ceil_div(n, 4 * (size_t)p->W) : 1);
  it->in_shared = p->backend == MPK_THREAD ||
                  (n > 0 && mpk_shm_contains(in) &&
                   mpk_shm_contains((const char *)in + n * in_size - 1));
  it->window = 2 * p->W < p->R / 2 ? 2 * p->W : p->R / 2;
  it->cur = -1;
  it->ch = calloc(it->window, sizeof *it->ch);
  if (it->ch == NULL) {
    free(it);
    return mpk__errf(MPK_ENOMEM, "no memory for an iterator");
  }
  if (ctx_size > 0) {
    it->ctx = mpk__pool_alloc(p, ctx_size);
    if (it->ctx == NULL) {
      free(it->ch);
      free(it);
      return mpk__pool_nomem(p, ctx_size, "imap's ctx");
    }
    memcpy(it->ctx, ctx, ctx_size);
  }
  mpk__errstate saved;
  mpk__err_save(&saved);
  rc = refill(it);
  if (rc != MPK_OK && it->count > 0)
    mpk__err_restore(&saved); /* absorbed: iter_next submits the rest */
  if (rc != MPK_OK && it->count == 0) {
    mpk__pool_free_mem(p, it->ctx);
    free(it->ch);
    free(it);
    return rc;
  }
  iter_link(p, it);
  *out = it;
  return MPK_OK;
}

static bool chunk_ready(ichunk *c) {
  return c->done || mpk__call_ready(&c->call);
}

/* Finish chunk c once its job is ready. */
static void chunk_finish(ichunk *c) {
  if (c->done)
    return;
  c->status = mpk__call_finish(&c->call);
  c->done = true;
  if (c->status == MPK_ETASK)
    c->stop = (size_t)c->call.err.index; /* elements before it are valid */
  else if (c->status != MPK_OK)
    c->stop = c->lo;
}

static bool any_ready(void *arg) {
  mpk_iter_t *it = arg;
  for (unsigned k = 0; k < it->count; k++)
    if (chunk_ready(it->ch[k]))
      return true;
  return false;
}

static bool head_ready(void *arg) {
  mpk_iter_t *it = arg;
  return chunk_ready(it->ch[0]);
}

/* Hand out from chunk c: an element, its error, or MPK_EEOF when the chunk
   is used up. */
static int take(mpk_iter_t *it, ichunk *c, size_t *index, void *out) {
  if (c->next < c->stop) {
    size_t i = c->next++;
    memcpy(out, c->out + (i - c->lo) * it->out_size, it->out_size);
    if (index)
      *index = i;
    return MPK_OK;
  }
  if (c->status != MPK_OK && !c->reported) {
    c->reported = true;
    if (index)
      *index = c->stop;
    return mpk__failure_errf(it->pool, &c->call.err);
  }
  return MPK_EEOF;
}

/* Drop consumed chunk k (finished), keeping the others in order. */
static void remove_at(mpk_iter_t *it, unsigned k) {
  ichunk *c = it->ch[k];
  mpk__pool_free_mem(it->pool, c->out);
  free(c);
  memmove(&it->ch[k], &it->ch[k + 1], (it->count - k - 1) * sizeof *it->ch);
  it->count--;
}

/* refill failed with rc in iter_next: the pool was terminated or joined
   (MPK_ECLOSED, saying why), or no memory. */
static int refill_failed(int rc) {
  if (rc != MPK_ESTATE && rc != MPK_EWORKER)
    return rc;
  char why[MPK_ERRMSG_MAX];
  snprintf(why, sizeof why, "%s", mpk_errmsg());
  return mpk__errf(MPK_ECLOSED, "imap: the rest cannot run: %s", why);
}

int mpk_iter_next(mpk_iter_t *it, size_t *index, void *out, double timeout) {
  if (it == NULL || out == NULL)
    return mpk__err_null(it == NULL ? "it" : "out");
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return MPK_EINVAL;
  mpk_pool_t *p = it->pool;
  if (p == NULL)
    return mpk__errf(MPK_ECLOSED, "imap: the pool was freed");
  if (mpk__in_completer(p))
    return mpk__errf(MPK_EDEADLK, "mpk_iter_next from an async callback");
  for (;;) {
    if (it->count == 0) {
      if (it->submitted >= it->n)
        return mpk__err(MPK_EEOF);
      int rc = refill(it);
      if (rc != MPK_OK)
        return refill_failed(rc);
      continue;
    }
    unsigned k = 0;
    if (!it->unordered) {
      if (mpk__progress_wait(p, head_ready, it, &d, true) != MPK_OK)
        return mpk__err(MPK_ETIMEDOUT);
    } else if (it->cur >= 0) {
      k = (unsigned)it->cur;
    } else {
      if (mpk__progress_wait(p, any_ready, it, &d, true) != MPK_OK)
        return mpk__err(MPK_ETIMEDOUT);
      while (k < it->count && !chunk_ready(it->ch[k]))
        k++;
      it->cur = (int)k;
    }
    ichunk *c = it->ch[k];
    chunk_finish(c);
    int rc = take(it, c, index, out);
    if (rc != MPK_EEOF)
      return rc;
    it->cur = -1;
    remove_at(it, k);
    mpk__errstate saved;
    mpk__err_save(&saved);
    rc = refill(it);
    if (rc != MPK_OK && rc != MPK_ESTATE && rc != MPK_EWORKER)
      return rc;
    if (rc != MPK_OK)
      mpk__err_restore(&saved); /* reported when nothing is left */
  }
}

static void iter_drain(mpk_iter_t *it) {
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  for (unsigned k = 0; k < it->count; k++)
    if (!it->ch[k]->done) /* skip the chunks that have not started */
      atomic_store(&it->ch[k]->call.job->cancel, 1);
  for (unsigned k = 0; k < it->count; k++) {
    ichunk *c = it->ch[k];
    if (!c->done) {
      mpk__call_wait(&c->call, &forever);
      chunk_finish(c);
    }
    mpk__pool_free_mem(it->pool, c->out);
    free(c);
  }
  it->count = 0;
  mpk__pool_free_mem(it->pool, it->ctx);
  it->ctx = NULL;
}

void mpk_iter_free(mpk_iter_t *it) {
  if (it == NULL)
    return;
  if (it->pool) {
    iter_drain(it);
    iter_unlink(it->pool, it);
  }
  free(it->ch);
  free(it);
}

void mpk__iters_orphan(mpk_pool_t *p) {
  for (;;) {
    pthread_mutex_lock(&p->mu);
    struct mpk__iterlist *l = p->iters;
    if (l)
      p->iters = l->next;
    pthread_mutex_unlock(&p->mu);
    if (l == NULL)
      break;
    iter_drain(l->it);
    l->it->pool = NULL;
  }
}
