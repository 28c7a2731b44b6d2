/* shm.threads: one process, several threads allocating, freeing and
   handing blocks to each other (the in-process half of shm.stress, small
   enough for ThreadSanitizer, which cannot see other processes). */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "mpk/shm.h"

enum { THREADS = 4, OPS = 10000, LOCAL = 32, XCHG = 16 };

static _Atomic(uint32_t *) xchg[XCHG];

static uint32_t *make(size_t words, uint32_t stamp) {
  uint32_t *b = mpk_shm_alloc(words * 4);
  CHECK(b != NULL);
  b[0] = (uint32_t)words;
  for (size_t i = 1; i < words; i++)
    b[i] = stamp + (uint32_t)i;
  return b;
}

static void check_free(uint32_t *b) {
  size_t words = b[0];
  CHECK(words >= 2 && words <= 40000);
  uint32_t stamp = b[1] - 1;
  for (size_t i = 2; i < words; i++)
    CHECK_MSG(b[i] == stamp + (uint32_t)i, "block %p corrupted", (void *)b);
  mpk_shm_free(b);
}

static void *worker(void *arg) {
  uint64_t s = (uintptr_t)arg * 0x9E3779B97F4A7C15ull | 1;
  uint32_t *mine[LOCAL] = {0};
  for (int op = 0; op < OPS; op++) {
    s ^= s << 13, s ^= s >> 7, s ^= s << 17;
    int k = (int)(s % LOCAL);
    if (mine[k] == NULL) {
      size_t words = s >> 58 == 0 ? 9000 + (s >> 20) % 20000 /* large */
                                  : 2 + (s >> 20) % 2000;
      mine[k] = make(words, (uint32_t)(s >> 32));
    } else if ((s >> 8) % 8 == 0) {
      uint32_t *got = atomic_exchange(&xchg[(s >> 12) % XCHG], mine[k]);
      mine[k] = NULL;
      if (got != NULL)
        check_free(got);
    } else {
      check_free(mine[k]);
      mine[k] = NULL;
    }
  }
  for (int k = 0; k < LOCAL; k++)
    if (mine[k] != NULL)
      check_free(mine[k]);
  return NULL;
}

static void test_threads(void) {
  mpk_shm_stats_t a, b;
  CHECK_OK(mpk_shm_stats(&a));
  pthread_t t[THREADS];
  for (uintptr_t i = 0; i < THREADS; i++)
    CHECK(pthread_create(&t[i], NULL, worker, (void *)(i + 1)) == 0);
  for (int i = 0; i < THREADS; i++)
    CHECK(pthread_join(t[i], NULL) == 0);
  for (int i = 0; i < XCHG; i++) {
    uint32_t *blk = atomic_exchange(&xchg[i], NULL);
    if (blk != NULL)
      check_free(blk);
  }
  CHECK_OK(mpk_shm_stats(&b));
  CHECK(b.allocs - a.allocs >= THREADS * OPS / 3);
  CHECK_EQ(b.allocs - a.allocs, b.frees - a.frees);
  CHECK_EQ(b.in_use, a.in_use);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_threads);
  CHECK_RUN(test_threads); /* again: the threads' statistics slots were
                              released at their exit and are reused */
  return check_done();
}
