/* imap.c - mpk_pool_imap: a map whose results stream out as chunks finish.
 *
 * One job per chunk. The consumer drives the iterator: each mpk_iter_next
 * that reaches the end of a chunk (or waits) harvests every chunk whose job
 * is complete (mpk__call_finish: the ring slot is released at once; the
 * results stay in the chunk's buffer until handed out), picks the next
 * result, and submits chunks while fewer than `window` are live (submitted
 * and not used up).
 *
 * Submitting never waits. When the ring has no free slot the iterator is
 * "starved" and waits, within the caller's timeout, for one of its chunks
 * to complete or for a slot. So the ring never waits on its own consumer:
 * an unordered iterator whose chunks run far ahead of a slow one used to
 * wrap the 64-slot ring onto a slot held by one of its own finished chunks
 * and wait in submit for it, forever, since only it could release it. And
 * mpk_iter_next never outlives its timeout (its only waits are the
 * deadline-bounded progress wait and short mutex sections).
 *
 * Life cycle. An iterator counts as submitted in full from its creation:
 * close does not stop it, and join drives every live iterator itself
 * (harvest, then submit with no window) until every chunk has completed,
 * keeping the results for the consumer (who may read concurrently, or after
 * join, or after mpk_pool_free). Once the pool takes no more chunks
 * (terminated, joined, freed, every worker lost) the iterator is "refused":
 * each chunk it never submitted is reported once with MPK_ECLOSED and its
 * first element, in its place, then MPK_EEOF; the chunks in flight then
 * finish as any call does (MPK_ECLOSED after terminate, MPK_EWORKER when the
 * last worker was lost) and are reported once the same way.
 *
 * Locking: p->iter_mu (the list of live iterators; held by join while it
 * drives them) -> it->mu (the iterator's state; the consumer holds it
 * except while it waits) -> p->mu (ring: submit, finish). An iterator's
 * memory is freed by the backend's rule recorded in it, so its results
 * outlive the pool.
 */
#include <stdlib.h>
#include <string.h>

#include "mpk/shm.h"
#include "pool/pool_internal.h"

/* One chunk of an iterator. Allocated on its own: the pool's ring points
   at its call while the job is in flight, so it never moves. */
typedef struct {
  mpk__call call;
  size_t lo, hi; /* elements of this chunk */
  char *out;     /* results (pool memory), owned until used up */
  size_t next;   /* next element to hand out */
  size_t stop;   /* hand out elements before this one (error: failing) */
  int status;    /* after finish */
  bool done;     /* finished: job seen complete, ring slot released */
  bool reported; /* its error was handed out */
} ichunk;

/* A FIFO of chunks: a power-of-two ring of pointers that grows. */
typedef struct {
  ichunk **v;
  size_t cap, head, len;
} cqueue;

static int cq_reserve(cqueue *q, size_t need) {
  if (need <= q->cap)
    return MPK_OK;
  size_t cap = q->cap ? q->cap : 8;
  while (cap < need) {
    if (cap > SIZE_MAX / 2 / sizeof *q->v)
      return mpk__errf(MPK_ENOMEM, "imap: %zu chunks at once", need);
    cap *= 2;
  }
  ichunk **v = malloc(cap * sizeof *v);
  if (v == NULL)
    return mpk__errf(MPK_ENOMEM, "imap: no memory for %zu chunk records", cap);
  for (size_t i = 0; i < q->len; i++)
    v[i] = q->v[(q->head + i) & (q->cap - 1)];
  free(q->v);
  q->v = v;
  q->cap = cap;
  q->head = 0;
  return MPK_OK;
}

/* Room was reserved. */
static void cq_push(cqueue *q, ichunk *c) {
  q->v[(q->head + q->len++) & (q->cap - 1)] = c;
}

static ichunk *cq_at(const cqueue *q, size_t i) {
  return q->v[(q->head + i) & (q->cap - 1)];
}

static ichunk *cq_front(const cqueue *q) {
  return q->len ? q->v[q->head] : NULL;
}

static ichunk *cq_pop(cqueue *q) {
  ichunk *c = q->v[q->head];
  q->head = (q->head + 1) & (q->cap - 1);
  q->len--;
  return c;
}

struct mpk__iterlist {
  mpk_iter_t *it;
  struct mpk__iterlist *next;
};

struct mpk_iter {
  pthread_mutex_t mu;  /* guards everything below (see the top) */
  mpk_pool_t *pool;    /* NULL once the pool was freed */
  mpk_backend backend; /* frees the results, also after the pool */
  mpk_map_fn fn;
  const char *in;
  size_t in_size, out_size, n, chunk;
  bool unordered, in_shared;
  void *ctx;        /* pool memory, shared by all chunk jobs */
  size_t submitted; /* elements submitted, or reported as never run */
  size_t live;      /* chunks submitted and not yet used up */
  size_t window;    /* the consumer keeps at most this many live */
  bool starved;     /* the last submission found no free ring slot */
  int refused;      /* 0 while the pool takes chunks, else the code of the
                       chunks it will not run (MPK_ECLOSED, MPK_ENOMEM) */
  cqueue flight;    /* submitted, not finished (any order) */
  cqueue queue;     /* ordered: every live chunk in input order;
                       unordered: the finished ones in finishing order */
  struct mpk__iterlist link;
};

static size_t chunk_end(const mpk_iter_t *it, size_t lo) {
  return it->n - lo > it->chunk ? lo + it->chunk : it->n;
}

static void chunk_free(mpk_iter_t *it, ichunk *c) {
  mpk__mem_free(it->backend, c->out);
  free(c);
}

/* Submit the next chunk. Never waits for a ring slot (MPK_EAGAIN). */
static int submit_next(mpk_iter_t *it) {
  mpk_pool_t *p = it->pool;
  if (cq_reserve(&it->flight, it->flight.len + 1) != MPK_OK ||
      cq_reserve(&it->queue, it->live + 1) != MPK_OK)
    return MPK_ENOMEM; /* recorded by cq_reserve */
  ichunk *c = calloc(1, sizeof *c);
  if (c == NULL)
    return mpk__errf(MPK_ENOMEM, "no memory for an imap chunk");
  c->lo = c->next = it->submitted;
  c->hi = c->stop = chunk_end(it, c->lo);
  c->out = mpk__pool_alloc(p, (c->hi - c->lo) * it->out_size);
  int rc =
      c->out == NULL
          ? mpk__pool_nomem(p, (c->hi - c->lo) * it->out_size, "imap's results")
          : mpk__imap_submit(&c->call, p, it->fn, it->in, it->in_size, c->out,
                             it->out_size, c->lo, c->hi, it->ctx,
                             it->in_shared);
  if (rc != MPK_OK) {
    chunk_free(it, c);
    return rc;
  }
  it->submitted = c->hi;
  it->live++;
  cq_push(&it->flight, c);
  if (!it->unordered)
    cq_push(&it->queue, c);
  return MPK_OK;
}

/* Submit chunks while fewer than `window` are live (all: no limit) and the
   ring has a free slot; never waits. MPK_OK, or what stopped it:
   MPK_ENOMEM (nothing lost: tried again later), MPK_ESTATE / MPK_EWORKER
   (the pool takes no more chunks: the iterator is refused). */
static int feed(mpk_iter_t *it, bool all) {
  it->starved = false;
  while (!it->refused && it->submitted < it->n &&
         (all || it->live < it->window)) {
    int rc = mpk__ring_has_room(it->pool) ? submit_next(it) : MPK_EAGAIN;
    if (rc == MPK_EAGAIN) {
      it->starved = true;
      return MPK_OK;
    }
    if (rc == MPK_ESTATE || rc == MPK_EWORKER)
      it->refused = MPK_ECLOSED;
    if (rc != MPK_OK)
      return rc;
  }
  return MPK_OK;
}

/* Chunk c's job is complete: read its status, release its ring slot. */
static void chunk_finish(ichunk *c) {
  c->status = mpk__call_finish(&c->call);
  c->done = true;
  if (c->status == MPK_ETASK)
    c->stop = (size_t)c->call.err.index; /* elements before it are valid */
  else if (c->status != MPK_OK)
    c->stop = c->lo;
}

static void finished(mpk_iter_t *it, ichunk *c) {
  chunk_finish(c);
  if (it->unordered)
    cq_push(&it->queue, c);
}

/* Finish every chunk whose job is complete, so that no finished chunk
   holds a ring slot. */
static void harvest(mpk_iter_t *it) {
  for (size_t k = it->flight.len; k > 0; k--) {
    ichunk *c = cq_pop(&it->flight);
    if (mpk__call_ready(&c->call))
      finished(it, c);
    else
      cq_push(&it->flight, c);
  }
}

/* Wait for every chunk in flight and finish it (after a cancel or a
   terminate: promptly). */
static void settle(mpk_iter_t *it) {
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  while (it->flight.len > 0) {
    ichunk *c = cq_pop(&it->flight);
    mpk__call_wait(&c->call, &forever);
    finished(it, c);
  }
}

/* Hand out from finished chunk c: an element, its error, or MPK_EEOF when
   the chunk is used up. */
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
    if (c->call.err.code == c->status)
      return mpk__failure_errf(it->pool, &c->call.err);
    return mpk__err(c->status);
  }
  return MPK_EEOF;
}

enum { NOTHING = 1 }; /* pick: nothing to hand out yet */

/* The next result, error or end, or NOTHING. */
static int pick(mpk_iter_t *it, size_t *index, void *out) {
  for (;;) {
    ichunk *c = cq_front(&it->queue);
    if (c != NULL && c->done) {
      int rc = take(it, c, index, out);
      if (rc != MPK_EEOF)
        return rc;
      cq_pop(&it->queue);
      it->live--;
      chunk_free(it, c);
      continue;
    }
    if (it->live > 0 || (it->submitted < it->n && !it->refused))
      return NOTHING;
    if (it->submitted >= it->n)
      return mpk__err(MPK_EEOF);
    size_t lo = it->submitted; /* a chunk the pool will never run */
    it->submitted = chunk_end(it, lo);
    if (index)
      *index = lo;
    return mpk__errf(it->refused,
                     "imap: the chunk from element %zu never "
                     "ran: %s",
                     lo,
                     it->refused == MPK_ENOMEM
                         ? "no memory to hold its results while joining"
                         : "the pool was joined, terminated, freed or lost "
                           "its workers first");
  }
}

static bool flight_ready(mpk_iter_t *it) {
  for (size_t k = 0; k < it->flight.len; k++)
    if (mpk__call_ready(&cq_at(&it->flight, k)->call))
      return true;
  return false;
}

/* The consumer has something to do: a chunk to finish, a result that join
   finished, a ring slot for a starved submission, or the end. */
static bool next_pred(void *arg) {
  mpk_iter_t *it = arg;
  pthread_mutex_lock(&it->mu);
  const ichunk *c = cq_front(&it->queue);
  bool go = (c != NULL && c->done) || flight_ready(it) ||
            (it->live == 0 && (it->refused || it->submitted >= it->n)) ||
            (it->starved && mpk__ring_has_room(it->pool));
  pthread_mutex_unlock(&it->mu);
  return go;
}

int mpk_iter_next(mpk_iter_t *it, size_t *index, void *out, double timeout) {
  if (it == NULL || out == NULL)
    return mpk__err_null(it == NULL ? "it" : "out");
  mpk__deadline d;
  if (mpk__deadline_init(&d, timeout) != MPK_OK)
    return mpk__errf(MPK_EINVAL, "mpk_iter_next: timeout is NaN");
  pthread_mutex_lock(&it->mu);
  /* A detached iterator (pool freed) has every chunk finished and is
     refused: pick always has an answer, so p is only used when set. */
  mpk_pool_t *p = it->pool;
  int rc = p && mpk__in_completer(p)
               ? mpk__errf(MPK_EDEADLK, "mpk_iter_next from an async callback")
               : NOTHING;
  ichunk *c = cq_front(&it->queue);
  if (rc == NOTHING && c != NULL && c->done && c->next < c->stop)
    rc = take(it, c, index, out); /* inside a finished chunk: no more */
  while (rc == NOTHING) {
    if (p)
      harvest(it);
    rc = pick(it, index, out);
    /* after pick: a chunk it used up makes room in the window and memory;
       a failure here is reported only when it is the answer */
    mpk__errstate saved;
    mpk__err_save(&saved);
    int fed = p ? feed(it, false) : MPK_OK;
    if (rc == NOTHING && it->live == 0 && fed == MPK_ENOMEM) {
      rc = MPK_ENOMEM; /* nothing in flight to wait for: recorded by feed */
      break;
    }
    if (fed != MPK_OK)
      mpk__err_restore(&saved);
    if (rc != NOTHING)
      break;
    if (it->live == 0 && !it->starved)
      continue; /* refused, or done: pick answers */
    pthread_mutex_unlock(&it->mu);
    int w = mpk__progress_wait(p, next_pred, it, &d, true);
    pthread_mutex_lock(&it->mu);
    if (w != MPK_OK)
      rc = mpk__err(MPK_ETIMEDOUT);
  }
  pthread_mutex_unlock(&it->mu);
  return rc;
}

/* ---- creation and free ---------------------------------------------------
 */

static void iter_destroy(mpk_iter_t *it) {
  while (it->queue.len > 0)
    chunk_free(it, cq_pop(&it->queue));
  mpk__mem_free(it->backend, it->ctx);
  free(it->flight.v);
  free(it->queue.v);
  pthread_mutex_destroy(&it->mu);
  free(it);
}

/* Submit the first chunks and link the iterator, atomically with respect to
   close + join (iter_mu): an iterator of an open pool is in join's list.
   MPK_OK, or the error of a pool that could take no chunk. */
static int iter_start(mpk_pool_t *p, mpk_iter_t *it) {
  pthread_mutex_lock(&p->iter_mu);
  pthread_mutex_lock(&p->mu);
  int rc =
      atomic_load(&p->state) == MPK__P_OPEN ? MPK_OK : mpk__pool_state_err(p);
  pthread_mutex_unlock(&p->mu);
  if (rc == MPK_OK) {
    mpk__errstate saved;
    mpk__err_save(&saved);
    rc = feed(it, false);
    if (it->live > 0 && rc != MPK_OK) {
      mpk__err_restore(&saved); /* absorbed: the rest is submitted later */
      rc = MPK_OK;
    }
  }
  if (rc == MPK_OK) {
    it->link.it = it;
    it->link.next = p->iters;
    p->iters = &it->link;
  }
  pthread_mutex_unlock(&p->iter_mu);
  return rc;
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
  pthread_mutex_init(&it->mu, NULL);
  it->pool = p;
  it->backend = p->backend;
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
  if (ctx_size > 0) {
    it->ctx = mpk__pool_alloc(p, ctx_size);
    if (it->ctx == NULL) {
      iter_destroy(it);
      return mpk__pool_nomem(p, ctx_size, "imap's ctx");
    }
    memcpy(it->ctx, ctx, ctx_size);
  }
  rc = iter_start(p, it);
  if (rc != MPK_OK) {
    iter_destroy(it);
    return rc;
  }
  *out = it;
  return MPK_OK;
}

void mpk_iter_free(mpk_iter_t *it) {
  if (it == NULL)
    return;
  mpk_pool_t *p = it->pool;
  if (p) {
    pthread_mutex_lock(&p->iter_mu); /* join no longer drives it */
    for (struct mpk__iterlist **l = &p->iters; *l; l = &(*l)->next)
      if (*l == &it->link) {
        *l = it->link.next;
        break;
      }
    pthread_mutex_unlock(&p->iter_mu);
    for (size_t k = 0; k < it->flight.len; k++) /* skip what has not run */
      atomic_store(&cq_at(&it->flight, k)->call.job->cancel, 1);
    settle(it);
  }
  iter_destroy(it);
}

/* ---- the pool's life cycle ----------------------------------------------
 */

/* Join still has to wait for it: chunks in flight or not yet submitted.
   it->mu held. */
static bool unsettled(const mpk_iter_t *it) {
  return it->flight.len > 0 || (!it->refused && it->submitted < it->n);
}

/* Join has something to do (a chunk to finish, a ring slot for the next
   chunk), or nothing left to wait for (a consumer may have finished the
   last chunks itself). */
static bool join_pred(void *arg) {
  mpk_pool_t *p = arg;
  bool go = false, waiting = false;
  pthread_mutex_lock(&p->iter_mu);
  for (struct mpk__iterlist *l = p->iters; l && !go; l = l->next) {
    mpk_iter_t *it = l->it;
    pthread_mutex_lock(&it->mu);
    waiting = waiting || unsettled(it);
    go = flight_ready(it) ||
         (!it->refused && it->submitted < it->n && mpk__ring_has_room(p));
    pthread_mutex_unlock(&it->mu);
  }
  pthread_mutex_unlock(&p->iter_mu);
  return go || !waiting;
}

void mpk__iters_join(mpk_pool_t *p) {
  mpk__deadline forever;
  mpk__deadline_init(&forever, MPK_FOREVER);
  for (;;) {
    bool pending = false;
    pthread_mutex_lock(&p->iter_mu);
    for (struct mpk__iterlist *l = p->iters; l; l = l->next) {
      mpk_iter_t *it = l->it;
      pthread_mutex_lock(&it->mu);
      harvest(it);
      /* Out of pool memory with the results held for the consumer: the
         chunks join cannot submit are reported as MPK_ENOMEM (by
         iter_next; join itself succeeds and records nothing). */
      mpk__errstate saved;
      mpk__err_save(&saved);
      if (feed(it, true) == MPK_ENOMEM)
        it->refused = MPK_ENOMEM;
      mpk__err_restore(&saved);
      pending = pending || unsettled(it);
      pthread_mutex_unlock(&it->mu);
    }
    pthread_mutex_unlock(&p->iter_mu);
    if (!pending)
      return;
    mpk__progress_wait(p, join_pred, p, &forever, false);
  }
}

void mpk__iters_orphan(mpk_pool_t *p) {
  for (;;) {
    pthread_mutex_lock(&p->iter_mu);
    struct mpk__iterlist *l = p->iters;
    if (l)
      p->iters = l->next;
    pthread_mutex_unlock(&p->iter_mu);
    if (l == NULL)
      break;
    mpk_iter_t *it = l->it;
    pthread_mutex_lock(&it->mu);
    settle(it); /* terminated: every job is final */
    mpk__pool_free_mem(p, it->ctx);
    it->ctx = NULL;
    if (!it->refused)
      it->refused = MPK_ECLOSED;
    it->pool = NULL;
    pthread_mutex_unlock(&it->mu);
  }
}
