/* dict.threads: threads of one process share a dict: own keys, shared keys,
   growth while others read, foreach while others write. The final contents
   are exact. Also runs under ThreadSanitizer. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "mpk/dict.h"

enum { THREADS = 4, KEYS = 5000, SHARED = 16 };

static mpk_dict_t *d;
static atomic_int stop_iter;

static void *writer(void *arg) {
  int t = (int)(intptr_t)arg;
  char k[32];
  for (long i = 0; i < KEYS; i++) {
    snprintf(k, sizeof k, "t%d-%ld", t, i);
    long v = t * 1000000L + i;
    CHECK_OK(mpk_dict_set(d, k, &v, sizeof v));
    snprintf(k, sizeof k, "shared-%ld", i % SHARED);
    CHECK_OK(mpk_dict_set(d, k, &v, sizeof v));
    long got = -1;
    size_t len = 0;
    snprintf(k, sizeof k, "t%d-%ld", t, i / 2);
    CHECK_OK(mpk_dict_get(d, k, &got, sizeof got, &len));
    CHECK(len == sizeof got && got == t * 1000000L + i / 2);
  }
  for (long i = 0; i < KEYS; i += 3) {
    snprintf(k, sizeof k, "t%d-%ld", t, i);
    CHECK_OK(mpk_dict_del(d, k));
  }
  return NULL;
}

static int check_entry(const char *key, const void *val, size_t len,
                       void *arg) {
  (void)key;
  CHECK_EQ(len, sizeof(long));
  long v;
  memcpy(&v, val, sizeof v);
  CHECK(v >= 0 && v < THREADS * 1000000L);
  ++*(long *)arg;
  return 0;
}

static void *iterator(void *arg) {
  (void)arg;
  while (!atomic_load(&stop_iter)) {
    long n = 0;
    CHECK_OK(mpk_dict_foreach(d, check_entry, &n));
    CHECK(n >= 0);
    CHECK(mpk_dict_len(d) >= 0);
    /* The dict's lock is not fair (as pthread mutexes): an iterator that
       re-locks at once can starve the writers, which under TSan's slowdown
       turned this test into a livelock. Readers between passes is what
       the test is about, not a hot loop. */
    check_sleep(0.001);
  }
  return NULL;
}

static void test_threads(void) {
  CHECK_OK(mpk_dict_new(&d));
  pthread_t w[THREADS], it;
  CHECK_EQ(pthread_create(&it, NULL, iterator, NULL), 0);
  for (int t = 0; t < THREADS; t++)
    CHECK_EQ(pthread_create(&w[t], NULL, writer, (void *)(intptr_t)t), 0);
  for (int t = 0; t < THREADS; t++)
    pthread_join(w[t], NULL);
  atomic_store(&stop_iter, 1);
  pthread_join(it, NULL);
  long deleted = (KEYS + 2) / 3;
  CHECK_EQ(mpk_dict_len(d), THREADS * (KEYS - deleted) + SHARED);
  char k[32];
  for (int t = 0; t < THREADS; t++)
    for (long i = 0; i < KEYS; i++) {
      snprintf(k, sizeof k, "t%d-%ld", t, i);
      long v = -1;
      size_t len;
      int r = mpk_dict_get(d, k, &v, sizeof v, &len);
      if (i % 3 == 0) {
        CHECK_RC(r, MPK_EEMPTY);
      } else {
        CHECK_OK(r);
        CHECK_EQ(v, t * 1000000L + i);
      }
    }
  mpk_dict_free(d);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_threads);
  return check_done();
}
