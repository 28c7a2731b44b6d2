/* pool.imap: mpk_pool_imap / mpk_iter_next / mpk_iter_free. Ordered and
   unordered results, bounded run-ahead, chunk errors, timeouts, early free;
   an unordered iterator whose chunks run far ahead of a blocked one (the
   ring must never wait on the iterator's own finished chunks, and
   mpk_iter_next always honours its timeout); the pool's life cycle: close +
   join with nobody reading (join computes every result and keeps it, also
   through mpk_pool_free), join while another thread reads, terminate and
   free (each chunk that did not complete yields MPK_ECLOSED once with its
   first element, then MPK_EEOF), mpk_iter_free and terminate during join,
   pool memory running out (MPK_ENOMEM: call again; chunks join cannot
   hold); mpk_iter_next inside an async callback. Both backends. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "pool-util.h"

static mpk_backend g_backend = MPK_PROCESS;
static _Atomic long *g_started; /* shared: allocated before any pool */
static _Atomic int *g_entered;  /* shared: element 0 of `gated` has begun */
static const mpk_sched AUTO0 = {MPK_SCHED_AUTO, 0};

static mpk_pool_t *mk(int workers) {
  return pool_new(workers, g_backend);
}

static void fill_in(long *in, size_t n) {
  for (size_t i = 0; i < n; i++)
    in[i] = (long)i;
}

/* ---- the gate: element 0 of `gated` blocks until the test releases it --
   A pipe made before the pool, so every worker (and every replacement, and
   the fork server) holds it; one byte lets one element 0 through. */

static int g_gate[2] = {-1, -1};

static void gate_open(void) {
  CHECK(pipe(g_gate) == 0);
  atomic_store(g_entered, 0);
}

static void gate_release(void) {
  char c = 1;
  CHECK(write(g_gate[1], &c, 1) == 1);
}

static void gate_close(void) {
  close(g_gate[0]);
  close(g_gate[1]);
  g_gate[0] = g_gate[1] = -1;
}

static int gated(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  if (x == 0) {
    atomic_store(g_entered, 1);
    char c;
    while (read(g_gate[0], &c, 1) < 0 && errno == EINTR) {
    }
  }
  atomic_fetch_add(g_started, 1);
  *(long *)out = x + 1;
  return 0;
}

static void wait_entered(void) {
  double t0 = check_now();
  while (!atomic_load(g_entered)) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "element 0 never started");
    check_sleep(0.0005);
  }
}

static void test_imap_ordered(void) {
  mpk_pool_t *p = mk(3);
  enum { N = 1000 };
  long in[N];
  fill_in(in, N);
  for (size_t chunk = 0; chunk < 40; chunk = chunk * 3 + 1) {
    mpk_iter_t *it;
    CHECK_OK(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N,
                           NULL, 0, chunk, 0, &it));
    for (size_t i = 0; i < N; i++) {
      size_t idx = 9999;
      long v;
      CHECK_OK(mpk_iter_next(it, &idx, &v, CHECK_HANG_S));
      CHECK_EQ(idx, i);
      CHECK_EQ(v, (long)(i * i));
    }
    long v;
    CHECK_RC(mpk_iter_next(it, NULL, &v, CHECK_HANG_S), MPK_EEOF);
    CHECK_RC(mpk_iter_next(it, NULL, &v, 0), MPK_EEOF);
    mpk_iter_free(it);
  }
  mpk_pool_free(p);
}

static int uneven(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  if (x % 10 == 0)
    check_sleep(0.02);
  *(long *)out = x + 1;
  return 0;
}

static void test_imap_unordered(void) {
  mpk_pool_t *p = mk(3);
  enum { N = 200 };
  long in[N];
  fill_in(in, N);
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, uneven, in, sizeof(long), sizeof(long), N, NULL, 0,
                         5, MPK_UNORDERED, &it));
  char seen[N] = {0};
  int out_of_order = 0;
  size_t prev = 0;
  for (int k = 0; k < N; k++) {
    size_t idx;
    long v;
    CHECK_OK(mpk_iter_next(it, &idx, &v, CHECK_HANG_S));
    CHECK(idx < N);
    CHECK(!seen[idx]);
    seen[idx] = 1;
    CHECK_EQ(v, (long)idx + 1);
    out_of_order += k > 0 && idx < prev;
    prev = idx;
  }
  long v;
  CHECK_RC(mpk_iter_next(it, NULL, &v, CHECK_HANG_S), MPK_EEOF);
  mpk_iter_free(it);
  (void)out_of_order; /* usually > 0; not required */
  mpk_pool_free(p);
}

/* A consumer that does not read: at most ~2 x workers chunks run ahead. */
static int counted(const void *in, void *out, void *ctx) {
  (void)ctx;
  atomic_fetch_add(g_started, 1);
  *(long *)out = *(const long *)in;
  return 0;
}

static void test_imap_bounded(void) {
  mpk_pool_t *p = mk(2);
  enum { N = 500 };
  long in[N];
  fill_in(in, N);
  atomic_store(g_started, 0);
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, counted, in, sizeof(long), sizeof(long), N, NULL, 0,
                         1, 0, &it));
  double t0 = check_now();
  while (atomic_load(g_started) < 1) /* the window opened */
    CHECK(check_now() - t0 < CHECK_HANG_S);
  check_sleep(0.1); /* time to run ahead, if they would (weaker if not) */
  long ahead = atomic_load(g_started);
  CHECK_MSG(ahead <= 4, "%ld elements ran ahead of the consumer", ahead);
  for (int i = 0; i < N; i++) {
    long v;
    size_t idx;
    CHECK_OK(mpk_iter_next(it, &idx, &v, CHECK_HANG_S));
    CHECK_EQ(v, i);
    CHECK(atomic_load(g_started) <= i + 1 + 4);
  }
  mpk_iter_free(it);
  mpk_pool_free(p);
}

static int fail37(const void *in, void *out, void *ctx) {
  (void)ctx;
  long x = *(const long *)in;
  *(long *)out = -x;
  return x == 37 ? 5 : 0;
}

static void test_imap_error(void) {
  mpk_pool_t *p = mk(2);
  enum { N = 100 };
  long in[N];
  fill_in(in, N);
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, fail37, in, sizeof(long), sizeof(long), N, NULL, 0,
                         10, 0, &it));
  size_t expect = 0;
  int errors = 0;
  for (;;) {
    size_t idx;
    long v;
    int rc = mpk_iter_next(it, &idx, &v, CHECK_HANG_S);
    if (rc == MPK_EEOF)
      break;
    if (rc == MPK_ETASK) {
      CHECK_EQ(idx, 37);
      errors++;
      expect = 40; /* the rest of the failed chunk is skipped */
      continue;
    }
    CHECK_OK(rc);
    CHECK_EQ(idx, expect);
    CHECK_EQ(v, -(long)idx);
    expect++;
  }
  CHECK_EQ(errors, 1);
  CHECK_EQ(expect, N);
  mpk_iter_free(it);
  mpk_pool_free(p);
}

/* Element 0 waits at the gate; the others take 0.2 s. */
static int slow_elem(const void *in, void *out, void *ctx) {
  (void)ctx;
  atomic_fetch_add(g_started, 1);
  if (*(const long *)in == 0) {
    char c;
    while (read(g_gate[0], &c, 1) < 0 && errno == EINTR) {
    }
  } else {
    check_sleep(0.2);
  }
  *(long *)out = *(const long *)in;
  return 0;
}

static void test_imap_timeout_and_free(void) {
  gate_open(); /* before the pool: its workers hold the pipe */
  mpk_pool_t *p = mk(2);
  long in[8] = {0, 1, 2, 3, 4, 5, 6, 7}, v;
  mpk_iter_t *it;
  atomic_store(g_started, 0);
  CHECK_OK(mpk_pool_imap(p, slow_elem, in, sizeof(long), sizeof(long), 8, NULL,
                         0, 1, 0, &it));
  CHECK_RC(mpk_iter_next(it, NULL, &v, 0.01), MPK_ETIMEDOUT);
  CHECK_RC(mpk_iter_next(it, NULL, &v, 0), MPK_ETIMEDOUT);
  gate_release();
  size_t idx;
  CHECK_OK(mpk_iter_next(it, &idx, &v, CHECK_HANG_S));
  CHECK_EQ(idx, 0);
  /* 2 workers, window 4: elements 0-3 have started (or 0-2), 4 is queued */
  double t0 = check_now();
  mpk_iter_free(it); /* cancels what has not started, waits for the rest */
  CHECK(check_now() - t0 < CHECK_HANG_S);
  check_sleep(0.3);
  long started = atomic_load(g_started);
  CHECK_MSG(started <= 4, "%ld elements ran after the iterator was freed",
            started);
  CHECK_RC(mpk_iter_next(NULL, NULL, &v, 1), MPK_EINVAL);
  mpk_iter_free(NULL);
  /* n = 0, and errors at creation */
  CHECK_OK(mpk_pool_imap(p, square_long, NULL, sizeof(long), sizeof(long), 0,
                         NULL, 0, 0, 0, &it));
  CHECK_RC(mpk_iter_next(it, NULL, &v, 1), MPK_EEOF);
  CHECK_RC(mpk_iter_next(it, NULL, NULL, 1), MPK_EINVAL);
  mpk_iter_free(it);
  it = (mpk_iter_t *)0x1;
  CHECK_RC(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), 8,
                         NULL, 0, 0, 8, &it),
           MPK_EINVAL);
  CHECK(it == NULL);
  CHECK_RC(mpk_pool_imap(p, NULL, in, sizeof(long), sizeof(long), 8, NULL, 0, 0,
                         0, &it),
           MPK_EINVAL);
  CHECK_RC(
      mpk_pool_imap(p, square_long, in, 0, sizeof(long), 8, NULL, 0, 0, 0, &it),
      MPK_EINVAL);
  CHECK_RC(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), 8,
                         NULL, 0, 0, 0, NULL),
           MPK_EINVAL);
  /* the pool works after the early free */
  long out[8];
  CHECK_OK(mpk_pool_map(p, square_long, in, sizeof(long), out, sizeof(long), 8,
                        NULL, 0, AUTO0));
  CHECK_EQ(out[7], 49);
  mpk_pool_free(p);
  gate_close();
}

/* An iterator keeps working after close (its chunks were promised); a new
   one is MPK_ESTATE. */
static void test_imap_after_close(void) {
  mpk_pool_t *p = mk(2);
  enum { N = 60 };
  long in[N], v;
  fill_in(in, N);
  long k[1] = {3};
  mpk_iter_t *it;
  CHECK_OK(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N, k,
                         sizeof k, 1, 0, &it));
  CHECK_OK(mpk_pool_close(p));
  for (int i = 0; i < N; i++) {
    CHECK_OK(mpk_iter_next(it, NULL, &v, CHECK_HANG_S));
    CHECK_EQ(v, (long)i * i);
  }
  CHECK_RC(mpk_iter_next(it, NULL, &v, CHECK_HANG_S), MPK_EEOF);
  mpk_iter_t *it2;
  CHECK_RC(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N,
                         NULL, 0, 1, 0, &it2),
           MPK_ESTATE);
  CHECK_OK(mpk_pool_join(p));
  mpk_iter_free(it);
  mpk_pool_free(p);
}

/* Unordered, 2 workers, chunks of 1, element 0 blocked: the other chunks run
   ahead until the pool's job ring (64 slots with 2 workers, see ring_size
   in pool.c) is used up behind chunk 0's job, whose slot cannot be reused
   before chunk 0 ends. The iterator's finished chunks must not hold the
   ring: it hands out all 63 results that fit, then times out (and stays
   usable), and once element 0 is released delivers the rest. The old
   iterator stopped after 61 results inside mpk_iter_next and never returned
   (timeout ignored): it waited in submit for a slot held by one of its own
   finished chunks, which only it could release. Ordered mode waits for
   element 0 from the start. */
static void test_imap_unordered_runahead(void) {
  enum { N = 300, RING = 64 };
  long in[N];
  fill_in(in, N);
  gate_open();
  mpk_pool_t *p = mk(2);
  iter_guard g;
  iter_guard_start(&g);
  mpk_iter_t *it;
  size_t idx;
  long v;
  /* unordered, on the fresh pool: chunk 0 is job 1 */
  CHECK_OK(mpk_pool_imap(p, gated, in, sizeof(long), sizeof(long), N, NULL, 0,
                         1, MPK_UNORDERED, &it));
  char seen[N] = {0};
  for (int k = 0; k < RING - 1; k++) {
    CHECK_OK(guarded_next(&g, it, &idx, &v, CHECK_HANG_S));
    CHECK(idx > 0 && idx < N && !seen[idx]);
    seen[idx] = 1;
    CHECK_EQ(v, (long)idx + 1);
  }
  CHECK_RC(guarded_next(&g, it, &idx, &v, 0.2), MPK_ETIMEDOUT);
  CHECK_RC(guarded_next(&g, it, &idx, &v, 0), MPK_ETIMEDOUT);
  gate_release();
  for (int k = RING - 1; k < N; k++) {
    CHECK_OK(guarded_next(&g, it, &idx, &v, CHECK_HANG_S));
    CHECK(idx < N && !seen[idx]);
    seen[idx] = 1;
    CHECK_EQ(v, (long)idx + 1);
  }
  CHECK_RC(guarded_next(&g, it, &idx, &v, CHECK_HANG_S), MPK_EEOF);
  mpk_iter_free(it);
  /* ordered: nothing before element 0 */
  CHECK_OK(mpk_pool_imap(p, gated, in, sizeof(long), sizeof(long), N, NULL, 0,
                         1, 0, &it));
  CHECK_RC(guarded_next(&g, it, &idx, &v, 0.2), MPK_ETIMEDOUT);
  gate_release();
  for (size_t i = 0; i < N; i++) {
    CHECK_OK(guarded_next(&g, it, &idx, &v, CHECK_HANG_S));
    CHECK_EQ(idx, i);
    CHECK_EQ(v, (long)i + 1);
  }
  CHECK_RC(guarded_next(&g, it, &idx, &v, CHECK_HANG_S), MPK_EEOF);
  mpk_iter_free(it);
  iter_guard_stop(&g);
  mpk_pool_free(p);
  gate_close();
}

/* Read every result of an N-element iterator over `counted` / `gated`
   (value = index or index + 1): each once, in order unless unordered. */
static void drain_all(mpk_iter_t *it, size_t n, int unordered, long plus) {
  char *seen = calloc(n, 1);
  CHECK(seen != NULL);
  for (size_t k = 0; k < n; k++) {
    size_t idx = SIZE_MAX;
    long v;
    int rc = mpk_iter_next(it, &idx, &v, CHECK_HANG_S);
    CHECK_MSG(rc == MPK_OK, "result %zu: %s (index %zu)", k, mpk_err_name(rc),
              idx);
    CHECK(idx < n && !seen[idx]);
    if (!unordered)
      CHECK_EQ(idx, k);
    seen[idx] = 1;
    CHECK_EQ(v, (long)idx + plus);
  }
  long v;
  CHECK_RC(mpk_iter_next(it, NULL, &v, CHECK_HANG_S), MPK_EEOF);
  free(seen);
}

/* close + join with an iterator nobody reads: join submits the iterator's
   lazy chunks itself and returns once every result is computed (Python's
   imap + close + join); the results wait in the iterator, also through
   mpk_pool_free. The old join returned once the few chunks already
   submitted had finished, and the other results came back MPK_ECLOSED. */
static void test_imap_join_undrained(void) {
  enum { N = 1000 };
  static long in[N];
  fill_in(in, N);
  for (int mode = 0; mode < 4; mode++) {
    int unordered = mode & 1, free_first = mode & 2;
    mpk_pool_t *p = mk(2);
    atomic_store(g_started, 0);
    mpk_iter_t *it;
    CHECK_OK(mpk_pool_imap(p, counted, in, sizeof(long), sizeof(long), N, NULL,
                           0, 1, unordered ? MPK_UNORDERED : 0, &it));
    CHECK_OK(mpk_pool_close(p));
    CHECK_OK(mpk_pool_join(p));
    CHECK_EQ(atomic_load(g_started), N);
    if (free_first)
      mpk_pool_free(p);
    drain_all(it, N, unordered, 0);
    mpk_iter_free(it);
    if (!free_first)
      mpk_pool_free(p);
  }
}

/* close, then one thread reads the iterator while another joins: every
   result comes back (the old join left 920 of 1000 as MPK_ECLOSED). */
typedef struct {
  mpk_iter_t *it;
  int unordered;
  _Atomic int got; /* results read so far */
  int rc[1000];
  size_t idx[1000];
  long v[1000];
  int eof;
} reader;

static void *reader_main(void *arg) {
  reader *r = arg;
  for (int k = 0; k < 1000; k++) {
    r->rc[k] = mpk_iter_next(r->it, &r->idx[k], &r->v[k], CHECK_HANG_S);
    atomic_fetch_add(&r->got, 1);
  }
  long v;
  r->eof = mpk_iter_next(r->it, NULL, &v, CHECK_HANG_S);
  return NULL;
}

static void test_imap_join_while_reading(void) {
  enum { N = 1000 };
  static long in[N];
  fill_in(in, N);
  static reader r;
  for (int unordered = 0; unordered < 2; unordered++) {
    mpk_pool_t *p = mk(2);
    memset(&r, 0, sizeof r);
    r.unordered = unordered;
    CHECK_OK(mpk_pool_imap(p, square_long, in, sizeof(long), sizeof(long), N,
                           NULL, 0, 1, unordered ? MPK_UNORDERED : 0, &r.it));
    CHECK_OK(mpk_pool_close(p));
    pthread_t t;
    CHECK(pthread_create(&t, NULL, reader_main, &r) == 0);
    double t0 = check_now();
    while (atomic_load(&r.got) < 10) { /* join while it reads */
      CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "the reader is stuck");
      check_sleep(0.0005);
    }
    CHECK_OK(mpk_pool_join(p));
    pthread_join(t, NULL);
    char seen[N] = {0};
    for (int k = 0; k < N; k++) {
      CHECK_MSG(r.rc[k] == MPK_OK, "result %d: %s", k, mpk_err_name(r.rc[k]));
      CHECK(r.idx[k] < N && !seen[r.idx[k]]);
      if (!unordered)
        CHECK_EQ(r.idx[k], k);
      seen[r.idx[k]] = 1;
      CHECK_EQ(r.v[k], (long)(r.idx[k] * r.idx[k]));
    }
    CHECK_RC(r.eof, MPK_EEOF);
    mpk_iter_free(r.it);
    mpk_pool_free(p);
  }
}

/* terminate / free under a live iterator: 100 elements in chunks of 10,
   element 0 blocked, so chunk 0 is in flight (process backend: its worker
   is killed while blocked; thread backend: released, as terminate lets a
   thread finish its chunk), chunks 1-3 have run or are running, the last
   chunks were never submitted. Afterwards the results of chunks that had
   completed still come, each other chunk yields MPK_ECLOSED once with
   *index = its first element (ordered: at its place), then MPK_EEOF, and
   nothing hangs. The old iterator returned MPK_ECLOSED forever, without an
   index and never MPK_EEOF. */
static void test_imap_terminate(void) {
  enum { N = 100, CH = 10, NCH = N / CH };
  long in[N];
  fill_in(in, N);
  iter_guard g;
  iter_guard_start(&g);
  for (int mode = 0; mode < 4; mode++) {
    int unordered = mode & 1, by_free = mode & 2;
    gate_open();
    mpk_pool_t *p = mk(2);
    mpk_iter_t *it;
    CHECK_OK(mpk_pool_imap(p, gated, in, sizeof(long), sizeof(long), N, NULL, 0,
                           CH, unordered ? MPK_UNORDERED : 0, &it));
    wait_entered();
    if (g_backend == MPK_THREAD)
      gate_release();
    if (by_free)
      mpk_pool_free(p);
    else
      CHECK_OK(mpk_pool_terminate(p));
    int state[NCH] = {0}; /* 0 not seen, 1 results, 2 MPK_ECLOSED */
    int count[NCH] = {0};
    size_t expect = 0;
    for (int calls = 0;; calls++) {
      CHECK(calls <= N + NCH);
      size_t idx = SIZE_MAX;
      long v;
      int rc = guarded_next(&g, it, &idx, &v, CHECK_HANG_S);
      if (rc == MPK_EEOF)
        break;
      CHECK_MSG(idx < N, "%s with index %zu", mpk_err_name(rc), idx);
      int c = (int)(idx / CH);
      if (!unordered)
        CHECK_EQ(idx, expect);
      if (rc == MPK_ECLOSED) {
        CHECK_EQ(idx % CH, 0);
        CHECK_EQ(state[c], 0);
        state[c] = 2;
        expect = idx + CH;
        continue;
      }
      CHECK_RC(rc, MPK_OK);
      CHECK_EQ(v, (long)idx + 1);
      if (idx % CH == 0) {
        CHECK_EQ(state[c], 0);
        state[c] = 1;
      } else {
        CHECK_EQ(state[c], 1);
      }
      count[c]++;
      expect = idx + 1;
    }
    for (int c = 0; c < NCH; c++) {
      CHECK_MSG(state[c] != 0, "chunk %d never reported", c);
      if (state[c] == 1)
        CHECK_EQ(count[c], CH);
    }
    if (g_backend == MPK_PROCESS)
      CHECK_EQ(state[0], 2);     /* killed while blocked */
    CHECK_EQ(state[NCH - 1], 2); /* never submitted */
    long v;
    CHECK_RC(mpk_iter_next(it, NULL, &v, 0), MPK_EEOF);
    mpk_iter_free(it);
    if (!by_free)
      mpk_pool_free(p);
    gate_close();
  }
  iter_guard_stop(&g);
}

/* mpk_iter_free while another thread joins: join stops counting the
   iterator and returns. Element 0 is blocked, so join (which drives the
   iterator: more elements run than the consumer's window of 4) cannot be
   done before the free; the gate opens just before it, as free waits for
   the chunk in flight. */
static void *joiner(void *arg) {
  return (void *)(intptr_t)mpk_pool_join(arg);
}

enum { JN = 1000 };
static long g_jin[JN];

/* A gated iterator over g_jin, the pool closed, a thread joining it, and
   join seen driving the iterator (20 elements ran: more than the window).
   Returns the pool. */
static mpk_pool_t *join_driving(int flags, mpk_iter_t **it, pthread_t *t) {
  fill_in(g_jin, JN);
  gate_open();
  mpk_pool_t *p = mk(2);
  atomic_store(g_started, 0);
  CHECK_OK(mpk_pool_imap(p, gated, g_jin, sizeof(long), sizeof(long), JN, NULL,
                         0, 1, flags, it));
  CHECK_OK(mpk_pool_close(p));
  CHECK(pthread_create(t, NULL, joiner, p) == 0);
  double t0 = check_now();
  while (atomic_load(g_started) < 20) {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S,
              "join does not drive the iterator");
    check_sleep(0.0005);
  }
  return p;
}

static void test_imap_free_during_join(void) {
  mpk_iter_t *it;
  pthread_t t;
  mpk_pool_t *p = join_driving(MPK_UNORDERED, &it, &t);
  gate_release();
  mpk_iter_free(it);
  void *rc;
  pthread_join(t, &rc);
  CHECK_RC((int)(intptr_t)rc, MPK_OK);
  CHECK_RC(mpk_pool_imap(p, gated, g_jin, sizeof(long), sizeof(long), JN, NULL,
                         0, 1, 0, &it),
           MPK_ESTATE);
  mpk_pool_free(p);
  gate_close();
}

/* terminate while join drives an iterator that cannot finish (element 0
   blocked; process backend: its worker is killed, a thread would finish
   its chunk first): join stops driving it and returns MPK_ESTATE, and the
   iterator reports the rest as after any terminate. */
static void test_imap_terminate_during_join(void) {
  if (g_backend != MPK_PROCESS)
    return;
  mpk_iter_t *it;
  pthread_t t;
  mpk_pool_t *p = join_driving(0, &it, &t);
  CHECK_OK(mpk_pool_terminate(p));
  void *rc;
  pthread_join(t, &rc);
  CHECK_RC((int)(intptr_t)rc, MPK_ESTATE);
  size_t idx, expect;
  long v;
  CHECK_RC(mpk_iter_next(it, &idx, &v, CHECK_HANG_S),
           MPK_ECLOSED); /* element 0 */
  CHECK_EQ(idx, 0);
  for (expect = 1;; expect++) {
    int r = mpk_iter_next(it, &idx, &v, CHECK_HANG_S);
    if (r == MPK_EEOF)
      break;
    CHECK_EQ(idx, expect);
    CHECK_MSG(r == MPK_OK || r == MPK_ECLOSED, "%zu: %s", idx, mpk_err_name(r));
    if (r == MPK_OK)
      CHECK_EQ(v, (long)idx + 1);
  }
  CHECK_EQ(expect, JN);
  mpk_iter_free(it);
  mpk_pool_free(p);
  gate_close();
}

/* Pool memory runs out (process backend: results live in the shared heap,
   64 MiB for this program, see tests/cmake/pool.cmake). Driven by the
   consumer: an iterator made while the ring is full (an async map blocked
   in job 1 holds it: slot 1 cannot be reused before job 1 ends) times out,
   nothing in flight; with the ring free again but no memory for the next
   chunk, mpk_iter_next returns MPK_ENOMEM, and works once memory is back.
   join: the chunks it cannot hold yield MPK_ENOMEM once each, in place,
   after the results it holds. */
enum { MiB = 1 << 20 };

static int big_out(const void *in, void *out, void *ctx) {
  (void)ctx;
  *(long *)out = *(const long *)in + 1;
  return 0;
}

/* Take the heap's free space in 1 MiB blocks. */
static size_t hog(void **h, size_t k, size_t cap) {
  while (k < cap && (h[k] = mpk_shm_alloc(MiB)) != NULL)
    k++;
  CHECK(k < cap);
  return k;
}

static void test_imap_nomem(void) {
  if (g_backend != MPK_PROCESS)
    return; /* the thread backend's results are malloc'd */
  enum { N = 100, HOGS = 128, RING = 64 };
  static char buf[8 * MiB];
  static void *h[HOGS];
  long in[N];
  fill_in(in, N);
  gate_open();
  mpk_pool_t *p = mk(2);
  mpk_async_t *blocked, *a;
  long r0, r;
  CHECK_OK(mpk_pool_map_async(p, gated, in, sizeof(long), &r0, sizeof(long), 1,
                              NULL, 0, AUTO0, NULL, NULL, &blocked));
  for (int k = 1; k < RING; k++) { /* jobs 2 .. 64 */
    CHECK_OK(mpk_pool_map_async(p, square_long, in, sizeof(long), &r,
                                sizeof(long), 1, NULL, 0, AUTO0, NULL, NULL,
                                &a));
    CHECK_OK(mpk_async_wait(a, CHECK_HANG_S));
    mpk_async_free(a);
  }
  mpk_iter_t *it;
  size_t idx, nh = 0;
  CHECK_OK(mpk_pool_imap(p, big_out, in, sizeof(long), 8 * MiB, 8, NULL, 0, 1,
                         0, &it));
  CHECK_RC(mpk_iter_next(it, &idx, buf, 0.1), MPK_ETIMEDOUT);
  nh = hog(h, nh, HOGS);
  gate_release();
  CHECK_OK(
      mpk_async_wait(blocked, CHECK_HANG_S)); /* job 1 done, its slot free */
  mpk_async_free(blocked);
  CHECK_RC(mpk_iter_next(it, &idx, buf, CHECK_HANG_S), MPK_ENOMEM);
  while (nh > 0)
    mpk_shm_free(h[--nh]);
  for (size_t k = 0; k < 8; k++) {
    CHECK_OK(mpk_iter_next(it, &idx, buf, CHECK_HANG_S));
    CHECK_EQ(idx, k);
    CHECK_EQ(*(long *)buf, (long)k + 1);
  }
  CHECK_RC(mpk_iter_next(it, &idx, buf, CHECK_HANG_S), MPK_EEOF);
  mpk_iter_free(it);
  /* join holds 1 MiB per result: 100 do not fit */
  CHECK_OK(
      mpk_pool_imap(p, big_out, in, sizeof(long), MiB, N, NULL, 0, 1, 0, &it));
  CHECK_OK(mpk_pool_close(p));
  CHECK_OK(mpk_pool_join(p));
  size_t held = 0;
  for (size_t k = 0; k < N; k++) {
    int rc = mpk_iter_next(it, &idx, buf, CHECK_HANG_S);
    CHECK_EQ(idx, k);
    if (rc == MPK_OK) {
      CHECK_EQ(held, k); /* every result held precedes the failures */
      CHECK_EQ(*(long *)buf, (long)k + 1);
      held++;
    } else {
      CHECK_RC(rc, MPK_ENOMEM);
    }
  }
  CHECK_RC(mpk_iter_next(it, &idx, buf, CHECK_HANG_S), MPK_EEOF);
  CHECK(held >= 4 && held < N);
  mpk_iter_free(it);
  void *back = mpk_shm_alloc(32 * MiB); /* the held results were freed */
  CHECK(back != NULL);
  mpk_shm_free(back);
  mpk_pool_free(p);
  gate_close();
}

/* mpk_iter_next inside an async callback: MPK_EDEADLK (it could wait on the
   completion thread itself). */
static mpk_iter_t *g_cb_it;
static _Atomic int g_cb_rc;

static void next_in_cb(mpk_async_t *a, int status, void *user) {
  (void)a;
  (void)status;
  (void)user;
  long v;
  atomic_store(&g_cb_rc, mpk_iter_next(g_cb_it, NULL, &v, 1));
}

static void test_imap_in_callback(void) {
  mpk_pool_t *p = mk(2);
  long in[8];
  fill_in(in, 8);
  CHECK_OK(mpk_pool_imap(p, counted, in, sizeof(long), sizeof(long), 8, NULL, 0,
                         1, 0, &g_cb_it));
  mpk_async_t *a;
  long r = 0;
  CHECK_OK(mpk_pool_map_async(p, square_long, in, sizeof(long), &r,
                              sizeof(long), 1, NULL, 0, AUTO0, next_in_cb, NULL,
                              &a));
  CHECK_OK(mpk_async_wait(a, CHECK_HANG_S));
  CHECK_RC(atomic_load(&g_cb_rc), MPK_EDEADLK);
  mpk_async_free(a);
  drain_all(g_cb_it, 8, 0, 0); /* the iterator is unharmed */
  mpk_iter_free(g_cb_it);
  mpk_pool_free(p);
}

static void run_all(void) {
  CHECK_RUN(test_imap_ordered);
  CHECK_RUN(test_imap_unordered);
  CHECK_RUN(test_imap_bounded);
  CHECK_RUN(test_imap_error);
  CHECK_RUN(test_imap_timeout_and_free);
  CHECK_RUN(test_imap_after_close);
  CHECK_RUN(test_imap_unordered_runahead);
  CHECK_RUN(test_imap_join_undrained);
  CHECK_RUN(test_imap_join_while_reading);
  CHECK_RUN(test_imap_terminate);
  CHECK_RUN(test_imap_free_during_join);
  CHECK_RUN(test_imap_terminate_during_join);
  CHECK_RUN(test_imap_nomem);
  CHECK_RUN(test_imap_in_callback);
}

int main(void) {
  check_watchdog(150);
  g_started = mpk_shm_calloc(1, sizeof *g_started);
  g_entered = mpk_shm_calloc(1, sizeof *g_entered);
  CHECK(g_started != NULL && g_entered != NULL);
  pool_run_backends(&g_backend, run_all);
  return check_done();
}
