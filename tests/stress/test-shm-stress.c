/* shm.stress: 2 processes x 2 threads allocate and free blocks of
   mixed sizes at random, hand blocks to each other through a shared
   exchange table, and check every block's contents when it is freed. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "internal/shm.h"
#include "mpk/shm.h"

enum { PROCS = 2, THREADS = 2, OPS = 400000, LOCAL = 128, XCHG = 256 };

/* Shared by all processes: blocks in transit between threads/processes. */
static _Atomic(uint64_t *) *xchg;

static uint64_t rng_next(uint64_t *s) {
  uint64_t x = *s;
  x ^= x << 13;
  x ^= x >> 7;
  x ^= x << 17;
  return *s = x;
}

static size_t pick_size(uint64_t r) {
  unsigned k = (unsigned)(r % 1000);
  if (k < 600)
    return 16 + (size_t)(r >> 10) % 497; /* 16..512 */
  if (k < 900)
    return 513 + (size_t)(r >> 10) % 7680; /* ..8 KiB */
  if (k < 990)
    return 8193 + (size_t)(r >> 10) % 24576;      /* ..32 KiB */
  return 32769 + (size_t)(r >> 10) % (300 << 10); /* large */
}

/* Block layout: word 0 = size in bytes, word 1 = stamp, then words derived
   from the stamp up to the size. */
static uint64_t *make_block(size_t size, uint64_t stamp) {
  uint64_t *b = mpk_shm_alloc(size);
  CHECK(b != NULL);
  CHECK(((uintptr_t)b & 63) == 0);
  CHECK(mpk_shm_usable_size(b) >= size);
  size_t n = size / 8;
  b[0] = size;
  b[1] = stamp;
  for (size_t i = 2; i < n; i++)
    b[i] = stamp ^ (i * 0x9E3779B97F4A7C15ull);
  return b;
}

static void check_free(uint64_t *b) {
  size_t size = b[0], n = size / 8;
  CHECK_MSG(size >= 16 && size <= (1u << 20),
            "pid %d block %p size %zu usable %zu w1 %llx", (int)getpid(),
            (void *)b, size, mpk_shm_usable_size(b), (unsigned long long)b[1]);
  CHECK(mpk_shm_usable_size(b) >= size);
  uint64_t stamp = b[1];
  for (size_t i = 2; i < n; i++)
    CHECK_MSG(b[i] == (stamp ^ (i * 0x9E3779B97F4A7C15ull)),
              "block %p word %zu of %zu corrupted", (void *)b, i, n);
  mpk_shm_free(b);
}

static void *worker(void *arg) {
  uint64_t seed = (uint64_t)(uintptr_t)arg * 0x2545F4914F6CDD1Dull + 1;
  uint64_t *local[LOCAL] = {0};
  for (int op = 0; op < OPS; op++) {
    uint64_t r = rng_next(&seed);
    int k = (int)(r % LOCAL);
    unsigned what = (unsigned)(r >> 40) % 100;
    if (what < 5 && local[k] != NULL) { /* hand it to someone else */
      uint64_t *got = atomic_exchange(&xchg[(r >> 20) % XCHG], local[k]);
      local[k] = NULL;
      if (got != NULL)
        check_free(got);
    } else if (local[k] != NULL) {
      check_free(local[k]);
      local[k] = NULL;
    } else {
      local[k] = make_block(pick_size(rng_next(&seed)), rng_next(&seed));
    }
  }
  for (int k = 0; k < LOCAL; k++)
    if (local[k] != NULL)
      check_free(local[k]);
  return NULL;
}

static int run_process(void *arg) {
  uintptr_t proc = (uintptr_t)arg;
  pthread_t t[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++)
    CHECK(pthread_create(&t[i], NULL, worker,
                         (void *)(proc * THREADS + i + 1)) == 0);
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_join(t[i], NULL) == 0);
  return 0;
}

static void test_mixed(void) {
  mpk_shm_stats_t a, b;
  CHECK_OK(mpk_shm_stats(&a));
  pid_t pid[PROCS];
  for (uintptr_t p = 0; p < PROCS; p++)
    pid[p] = check_fork(run_process, (void *)p);
  for (int p = 0; p < PROCS; p++)
    check_wait_ok(pid[p], 60);
  for (int i = 0; i < XCHG; i++) {
    uint64_t *blk = atomic_exchange(&xchg[i], NULL);
    if (blk != NULL)
      check_free(blk);
  }
  CHECK_OK(mpk_shm_stats(&b));
  /* every allocation was freed, by whichever process held it last */
  CHECK(b.allocs - a.allocs >= (size_t)PROCS * THREADS * OPS / 3);
  CHECK_EQ(b.allocs - a.allocs, b.frees - a.frees);
  CHECK_EQ(b.in_use, a.in_use);
  CHECK(b.committed <= 256u << 20); /* no runaway growth */
  /* and the heap still serves every size */
  for (size_t s = 16; s <= (1u << 20); s *= 2)
    check_free(make_block(s, s));
}

int main(void) {
  check_watchdog(120);
  CHECK_OK(mpk__shm_init());
  xchg = mpk_shm_calloc(XCHG, sizeof *xchg);
  CHECK(xchg != NULL);
  CHECK_RUN(test_mixed);
  mpk_shm_free((void *)xchg);
  return check_done();
}
