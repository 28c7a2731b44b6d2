/* shm.kill (fault): processes die inside the allocator. A child looping on
   alloc/free is SIGKILLed at random instants while the parent keeps
   allocating; a child dies holding the span lock with the allocator's
   index torn. The survivors never hang and the heap stays correct. */
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "internal/futex.h"
#include "internal/shm.h"
#include "mpk/shm.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

enum { ROUNDS = 50, CHILD_LIVE = 8, PARENT_LIVE = 64 };

static uint64_t rng(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

/* Half small, half large (the large ones take the span lock and madvise). */
static size_t pick(uint64_t r) {
  if (r & 1)
    return 64 + (size_t)(r >> 8) % (32 * KiB);
  return 64 * KiB + (size_t)(r >> 8) % (192 * KiB);
}

typedef struct {
  unsigned char *p;
  size_t size;
  unsigned char tag;
} blk;

static void blk_new(blk *b, size_t size, unsigned char tag) {
  b->p = mpk_shm_alloc(size);
  CHECK_MSG(b->p != NULL, "alloc(%zu) failed: errno %d", size, errno);
  b->size = size;
  b->tag = tag;
  memset(b->p, tag, size);
}

static void blk_free(blk *b) {
  if (b->p == NULL)
    return;
  for (size_t i = 0; i < b->size; i += 61)
    CHECK_MSG(b->p[i] == b->tag, "block %p byte %zu corrupted", b->p, i);
  CHECK(b->p[b->size - 1] == b->tag);
  mpk_shm_free(b->p);
  b->p = NULL;
}

/* Only large blocks, barely touched: most of the time is spent inside the
   span allocator, so kills often land while the child holds its lock. */
static int lock_churner(void *arg) {
  _Atomic uint32_t *started = arg;
  uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull | 1;
  unsigned char *live[CHILD_LIVE] = {0};
  atomic_store(started, 1);
  for (;;) {
    unsigned char **b = &live[rng(&seed) % CHILD_LIVE];
    if (*b != NULL) {
      mpk_shm_free(*b);
      *b = NULL;
    } else {
      *b = mpk_shm_alloc(64 * KiB + (size_t)(rng(&seed) % (192 * KiB)));
      CHECK(*b != NULL);
      **b = 1;
    }
  }
  return 0; /* not reached: killed by the parent */
}

/* Signals the parent once it runs, then churns until killed. */
static int churner(void *arg) {
  _Atomic uint32_t *started = arg;
  uint64_t seed = (uint64_t)getpid() * 0x9E3779B97F4A7C15ull | 1;
  blk live[CHILD_LIVE] = {0};
  atomic_store(started, 1);
  unsigned i = 0;
  for (;;) {
    blk *b = &live[rng(&seed) % CHILD_LIVE];
    if (b->p != NULL)
      blk_free(b);
    else
      blk_new(b, pick(rng(&seed)), (unsigned char)(i++ | 1));
  }
  return 0; /* not reached: killed by the parent */
}

static void test_random_kills(void) {
  _Atomic uint32_t *started = mpk_shm_calloc(1, sizeof *started);
  CHECK(started != NULL);
  uint64_t seed = 0x1234567;
  blk mine[PARENT_LIVE] = {0};
  mpk_shm_stats_t a;
  CHECK_OK(mpk_shm_stats(&a));
  unsigned long rec = mpk__shm_recoveries();
  for (int round = 0; round < ROUNDS; round++) {
    atomic_store(started, 0);
    pid_t pid = check_fork(round % 2 ? lock_churner : churner, (void *)started);
    /* keep working while the child runs, until a random instant after it
       started: 0 .. 20 ms */
    double t0 = check_now(), until = 0;
    unsigned ops = 0;
    for (;;) {
      if (until == 0 && atomic_load(started))
        until = check_now() + (double)(rng(&seed) % 20000) * 1e-6;
      if (until != 0 && check_now() >= until)
        break;
      CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "child never started");
      blk *b = &mine[rng(&seed) % PARENT_LIVE];
      if (b->p != NULL)
        blk_free(b);
      else
        blk_new(b, pick(rng(&seed)), (unsigned char)(0x80 | ops));
      ops++;
    }
    CHECK(kill(pid, SIGKILL) == 0);
    int st = check_wait(pid, 10);
    CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  }
  for (int i = 0; i < PARENT_LIVE; i++)
    blk_free(&mine[i]);
  mpk_shm_free((void *)started);
  mpk_shm_stats_t b;
  CHECK_OK(mpk_shm_stats(&b));
  /* What the killed children held is leaked: at most their live blocks
     plus a slab each (CHILD_LIVE * 256 KiB + 512 KiB). */
  size_t leak = b.in_use - a.in_use;
  CHECK_MSG(leak <= ROUNDS * (CHILD_LIVE * 256 * KiB + 512 * KiB),
            "leaked %zu bytes", leak);
  printf("# %d kills: %zu KiB leaked, %lu index rebuilds\n", ROUNDS, leak / KiB,
         mpk__shm_recoveries() - rec);
  /* the heap still serves every size, contents intact */
  blk many[200];
  for (int i = 0; i < 200; i++)
    blk_new(&many[i], i < 100 ? (size_t)(i + 1) * 300 : MiB, (unsigned char)i);
  for (int i = 0; i < 200; i++)
    blk_free(&many[i]);
}

/* A child dies holding the span lock after taking spans it never
   committed and emptying the free-run lists: the next allocation repairs
   the index, and every span comes back. */
static int die_torn(void *arg) {
  (void)arg;
  CHECK_OK(mpk__shm_test_tear_and_hold(5));
  _exit(0); /* holding the lock */
}

static void test_dead_holder_repaired(void) {
  /* some free runs in the index first: allocate, then free every other */
  enum { N = 40 };
  void *p[N];
  for (int i = 0; i < N; i++)
    CHECK((p[i] = mpk_shm_alloc(3 * 64 * KiB)) != NULL);
  for (int i = 0; i < N; i += 2)
    mpk_shm_free(p[i]);
  mpk_shm_stats_t a;
  CHECK_OK(mpk_shm_stats(&a));
  unsigned long rec = mpk__shm_recoveries();
  check_wait_ok(check_fork(die_torn, NULL), 10);
  /* the freed runs must be found again: same addresses, best fit */
  void *q[N / 2];
  for (int i = 0; i < N / 2; i++)
    CHECK((q[i] = mpk_shm_alloc(3 * 64 * KiB)) != NULL);
  CHECK_EQ(mpk__shm_recoveries(), rec + 1);
  for (int i = 0; i < N / 2; i++) {
    int found = 0;
    for (int j = 0; j < N; j += 2)
      found |= q[i] == p[j];
    CHECK_MSG(found, "run %d not reused from the rebuilt index", i);
  }
  mpk_shm_stats_t b;
  CHECK_OK(mpk_shm_stats(&b));
  CHECK_EQ(b.committed, a.committed + N / 2 * 3 * 64 * KiB);
  for (int i = 0; i < N / 2; i++)
    mpk_shm_free(q[i]);
  for (int i = 1; i < N; i += 2)
    mpk_shm_free(p[i]);
  CHECK_OK(mpk_shm_stats(&b));
  CHECK_EQ(b.in_use, a.in_use - N / 2 * 3 * 64 * KiB);
}

/* The lock is robust for every kind of death: a child SIGKILLed while
   holding it (no chance to run anything). */
static int hold_and_sleep(void *arg) {
  _Atomic uint32_t *held = arg;
  CHECK_OK(mpk__shm_test_tear_and_hold(0));
  atomic_store(held, 1);
  mpk__futex_wake(held, 1);
  for (;;)
    pause();
}

static void test_killed_holder(void) {
  _Atomic uint32_t *held = mpk_shm_calloc(1, sizeof *held);
  CHECK(held != NULL);
  pid_t pid = check_fork(hold_and_sleep, (void *)held);
  mpk__deadline d;
  CHECK_OK(mpk__deadline_init(&d, CHECK_HANG_S));
  while (!atomic_load(held))
    CHECK_OK(mpk__futex_wait(held, 0, &d));
  unsigned long rec = mpk__shm_recoveries();
  CHECK(kill(pid, SIGKILL) == 0);
  check_wait(pid, 10);
  void *p = mpk_shm_alloc(MiB); /* needs the span lock */
  CHECK(p != NULL);
  CHECK_EQ(mpk__shm_recoveries(), rec + 1);
  mpk_shm_free(p);
  mpk_shm_free((void *)held);
}

int main(void) {
  check_watchdog(60);
  CHECK_OK(mpk__shm_init());
  CHECK_RUN(test_dead_holder_repaired);
  CHECK_RUN(test_killed_holder);
  CHECK_RUN(test_random_kills);
  return check_done();
}
