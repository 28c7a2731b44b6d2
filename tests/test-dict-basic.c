/* dict.basic: every mpk_dict_* call and error code; growth and deletion at
   scale; foreach and its rules; the dict is shared with a forked child; no
   shared-heap block is leaked. */
#include <stdint.h>

#include "check.h"
#include "internal/dict.h"
#include "mpk/dict.h"
#include "mpk/shm.h"

static void key_of(char *k, size_t cap, long i) {
  snprintf(k, cap, "key-%ld", i);
}

static size_t in_use(void) {
  mpk_shm_stats_t st;
  CHECK_OK(mpk_shm_stats(&st));
  return st.in_use;
}

static void test_bad_arguments(void) {
  CHECK_RC(mpk_dict_new(NULL), MPK_EINVAL);
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  char buf[8];
  size_t len = 77;
  void *p = NULL;
  long fake[32] = {0}; /* not in the shared heap */
  mpk_dict_t *bad = (mpk_dict_t *)fake;
  CHECK_RC(mpk_dict_set(NULL, "k", "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(bad, "k", "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_get(bad, "k", buf, sizeof buf, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_get_alloc(bad, "k", &p, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_del(bad, "k"), MPK_EINVAL);
  CHECK_RC(mpk_dict_contains(bad, "k"), MPK_EINVAL);
  CHECK_EQ(mpk_dict_len(NULL), MPK_EINVAL);
  CHECK_EQ(mpk_dict_len(bad), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(d, NULL, "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(d, "", "v", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_set(d, "k", NULL, 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_get(d, NULL, buf, sizeof buf, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_get(d, "", buf, sizeof buf, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_get(d, "k", buf, sizeof buf, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_get(d, "k", NULL, 4, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_get_alloc(d, "k", NULL, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_get_alloc(d, "k", &p, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_get_alloc(d, "", &p, &len), MPK_EINVAL);
  CHECK_RC(mpk_dict_del(d, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_del(d, ""), MPK_EINVAL);
  CHECK_RC(mpk_dict_contains(d, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_foreach(d, NULL, NULL), MPK_EINVAL);
  CHECK_RC(mpk_dict_foreach(NULL, NULL, NULL), MPK_EINVAL);
  CHECK_EQ(len, 77);
  CHECK(p == NULL);
  CHECK_EQ(mpk_dict_len(d), 0);
  mpk_dict_free(bad);  /* not a dict: ignored */
  mpk_dict_free(NULL); /* no-op */
  mpk_dict_free(d);
  /* a freed dict is no longer a dict */
  CHECK_RC(mpk_dict_set(d, "k", "v", 1), MPK_EINVAL);
  CHECK_EQ(mpk_dict_len(d), MPK_EINVAL);
  mpk_dict_free(d); /* twice: ignored */
}

static void test_key_length_limit(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  char k[MPK_DICT_KEY_MAX + 2];
  memset(k, 'a', sizeof k - 1);
  k[MPK_DICT_KEY_MAX] = '\0'; /* exactly the limit */
  CHECK_OK(mpk_dict_set(d, k, "x", 1));
  CHECK_EQ(mpk_dict_contains(d, k), 1);
  k[MPK_DICT_KEY_MAX] = 'a';
  k[MPK_DICT_KEY_MAX + 1] = '\0'; /* one over */
  CHECK_RC(mpk_dict_set(d, k, "x", 1), MPK_EINVAL);
  CHECK_RC(mpk_dict_contains(d, k), MPK_EINVAL);
  CHECK_RC(mpk_dict_del(d, k), MPK_EINVAL);
  CHECK_EQ(mpk_dict_len(d), 1);
  CHECK_OK(mpk_dict_set(d, "a", "1", 1)); /* shortest key */
  CHECK_EQ(mpk_dict_len(d), 2);
  mpk_dict_free(d);
}

static void test_set_get_del(void) {
  size_t base = in_use();
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  char buf[64];
  size_t len = 5;
  CHECK_RC(mpk_dict_get(d, "missing", buf, sizeof buf, &len), MPK_EEMPTY);
  CHECK_EQ(len, 5);
  CHECK_RC(mpk_dict_del(d, "missing"), MPK_EEMPTY);
  CHECK_EQ(mpk_dict_contains(d, "missing"), 0);

  CHECK_OK(mpk_dict_set(d, "answer", "42", 2));
  CHECK_OK(mpk_dict_get(d, "answer", buf, sizeof buf, &len));
  CHECK_EQ(len, 2);
  CHECK(memcmp(buf, "42", 2) == 0);
  CHECK_EQ(mpk_dict_contains(d, "answer"), 1);
  /* replace, with a longer then a shorter value */
  CHECK_OK(mpk_dict_set(d, "answer", "forty-two", 9));
  CHECK_OK(mpk_dict_get(d, "answer", buf, sizeof buf, &len));
  CHECK_EQ(len, 9);
  CHECK(memcmp(buf, "forty-two", 9) == 0);
  CHECK_EQ(mpk_dict_len(d), 1);
  /* too small: EMSGSIZE with the size; cap 0 asks for it */
  len = 0;
  CHECK_RC(mpk_dict_get(d, "answer", buf, 3, &len), MPK_EMSGSIZE);
  CHECK_EQ(len, 9);
  len = 0;
  CHECK_RC(mpk_dict_get(d, "answer", NULL, 0, &len), MPK_EMSGSIZE);
  CHECK_EQ(len, 9);
  /* zero-length values and binary values with NULs */
  CHECK_OK(mpk_dict_set(d, "empty", NULL, 0));
  CHECK_OK(mpk_dict_get(d, "empty", NULL, 0, &len));
  CHECK_EQ(len, 0);
  void *p = NULL;
  CHECK_OK(mpk_dict_get_alloc(d, "empty", &p, &len));
  CHECK(p != NULL);
  CHECK_EQ(len, 0);
  free(p);
  const unsigned char bin[5] = {0, 1, 0, 255, 0};
  CHECK_OK(mpk_dict_set(d, "bin", bin, sizeof bin));
  CHECK_OK(mpk_dict_get_alloc(d, "bin", &p, &len));
  CHECK_EQ(len, 5);
  CHECK(memcmp(p, bin, 5) == 0);
  free(p);
  CHECK_EQ(mpk_dict_len(d), 3);
  /* delete and set again */
  CHECK_OK(mpk_dict_del(d, "answer"));
  CHECK_RC(mpk_dict_del(d, "answer"), MPK_EEMPTY);
  CHECK_RC(mpk_dict_get(d, "answer", buf, sizeof buf, &len), MPK_EEMPTY);
  CHECK_RC(mpk_dict_get_alloc(d, "answer", &p, &len), MPK_EEMPTY);
  CHECK_EQ(mpk_dict_len(d), 2);
  CHECK_OK(mpk_dict_set(d, "answer", "again", 5));
  CHECK_OK(mpk_dict_get(d, "answer", buf, sizeof buf, &len));
  CHECK(len == 5 && memcmp(buf, "again", 5) == 0);
  CHECK_EQ(mpk_dict_len(d), 3);
  CHECK_EQ(mpk__dict_repairs(d), 0);
  mpk_dict_free(d);
  CHECK_EQ(in_use(), base); /* every block went back */
}

static void test_large_values(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  const size_t n = (size_t)16 << 20;
  unsigned char *v = malloc(n);
  CHECK(v != NULL);
  for (size_t i = 0; i < n; i++)
    v[i] = (unsigned char)(i * 31 + 7);
  CHECK_OK(mpk_dict_set(d, "big", v, n));
  void *p = NULL;
  size_t len = 0;
  CHECK_OK(mpk_dict_get_alloc(d, "big", &p, &len));
  CHECK_EQ(len, n);
  CHECK(memcmp(p, v, n) == 0);
  free(p);
  CHECK_OK(mpk_dict_set(d, "big", "small", 5)); /* the big block is freed */
  CHECK_OK(mpk_dict_get_alloc(d, "big", &p, &len));
  CHECK_EQ(len, 5);
  free(p);
  free(v);
  mpk_dict_free(d);
}

/* Grow through many rehashes, delete half (tombstones), insert again. */
static void test_growth_and_tombstones(void) {
  size_t base = in_use();
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  enum { N = 20000 };
  char k[32];
  for (long i = 0; i < N; i++) {
    key_of(k, sizeof k, i);
    long v = i * 3;
    CHECK_OK(mpk_dict_set(d, k, &v, sizeof v));
    if (i % 4096 == 0)
      CHECK_EQ(mpk_dict_len(d), i + 1);
  }
  CHECK_EQ(mpk_dict_len(d), N);
  for (long i = 0; i < N; i += 2) {
    key_of(k, sizeof k, i);
    CHECK_OK(mpk_dict_del(d, k));
  }
  CHECK_EQ(mpk_dict_len(d), N / 2);
  for (long i = 0; i < N; i++) {
    key_of(k, sizeof k, i);
    long v = -1;
    size_t len;
    int r = mpk_dict_get(d, k, &v, sizeof v, &len);
    if (i % 2 == 0) {
      CHECK_RC(r, MPK_EEMPTY);
    } else {
      CHECK_OK(r);
      CHECK_EQ(v, i * 3);
    }
  }
  /* churn: many deletes and inserts through tombstones */
  for (int round = 0; round < 5; round++) {
    for (long i = 0; i < N; i += 2) {
      key_of(k, sizeof k, i);
      long v = i + round;
      CHECK_OK(mpk_dict_set(d, k, &v, sizeof v));
    }
    for (long i = 0; i < N; i += 2) {
      key_of(k, sizeof k, i);
      CHECK_OK(mpk_dict_del(d, k));
    }
  }
  CHECK_EQ(mpk_dict_len(d), N / 2);
  for (long i = 1; i < N; i += 2) {
    key_of(k, sizeof k, i);
    CHECK_OK(mpk_dict_del(d, k));
  }
  CHECK_EQ(mpk_dict_len(d), 0);
  CHECK_OK(mpk_dict_set(d, "last", "x", 1));
  CHECK_EQ(mpk_dict_len(d), 1);
  mpk_dict_free(d);
  CHECK_EQ(in_use(), base);
}

/* ---- foreach ------------------------------------------------------------ */

typedef struct {
  int seen[100];
  int calls;
  mpk_dict_t *d;
  int inner_rc;
} visit;

static int count_visit(const char *key, const void *val, size_t len,
                       void *arg) {
  visit *v = arg;
  long i = -1;
  CHECK(sscanf(key, "key-%ld", &i) == 1 && i >= 0 && i < 100);
  CHECK_EQ(len, sizeof(long));
  long value;
  memcpy(&value, val, sizeof value);
  CHECK_EQ(value, i * i);
  v->seen[i]++;
  v->calls++;
  return 0;
}

static int stop_at_third(const char *key, const void *val, size_t len,
                         void *arg) {
  (void)key, (void)val, (void)len;
  visit *v = arg;
  return ++v->calls == 3 ? 1234 : 0;
}

static int reenter(const char *key, const void *val, size_t len, void *arg) {
  (void)key, (void)val, (void)len;
  visit *v = arg;
  v->calls++;
  v->inner_rc = mpk_dict_set(v->d, "other", "x", 1);
  CHECK_RC(mpk_dict_del(v->d, key), MPK_EDEADLK);
  CHECK_EQ(mpk_dict_len(v->d), MPK_EDEADLK);
  CHECK_RC(mpk_dict_foreach(v->d, reenter, arg), MPK_EDEADLK);
  return -1;
}

static void test_foreach(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  visit v;
  memset(&v, 0, sizeof v);
  CHECK_OK(mpk_dict_foreach(d, count_visit, &v)); /* empty: no call */
  CHECK_EQ(v.calls, 0);
  char k[32];
  for (long i = 0; i < 100; i++) {
    key_of(k, sizeof k, i);
    long sq = i * i;
    CHECK_OK(mpk_dict_set(d, k, &sq, sizeof sq));
  }
  CHECK_OK(mpk_dict_foreach(d, count_visit, &v));
  CHECK_EQ(v.calls, 100);
  for (int i = 0; i < 100; i++)
    CHECK_EQ(v.seen[i], 1);
  memset(&v, 0, sizeof v);
  CHECK_EQ(mpk_dict_foreach(d, stop_at_third, &v), 1234);
  CHECK_EQ(v.calls, 3);
  /* a callback that calls the dict gets MPK_EDEADLK, not a hang */
  memset(&v, 0, sizeof v);
  v.d = d;
  CHECK_EQ(mpk_dict_foreach(d, reenter, &v), -1);
  CHECK_EQ(v.calls, 1);
  CHECK_RC(v.inner_rc, MPK_EDEADLK);
  CHECK_EQ(mpk_dict_contains(d, "other"), 0);
  CHECK_EQ(mpk_dict_len(d), 100); /* and the dict works afterwards */
  mpk_dict_free(d);
}

/* ---- shared with a child -------------------------------------------------
 */

static int child_edits(void *arg) {
  mpk_dict_t *d = arg;
  char buf[16];
  size_t len;
  CHECK_OK(mpk_dict_get(d, "from-parent", buf, sizeof buf, &len));
  CHECK(len == 5 && memcmp(buf, "hello", 5) == 0);
  CHECK_OK(mpk_dict_set(d, "from-child", "world", 5));
  CHECK_OK(mpk_dict_del(d, "from-parent"));
  return 0;
}

static void test_shared_with_child(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  CHECK_OK(mpk_dict_set(d, "from-parent", "hello", 5));
  check_wait_ok(check_fork(child_edits, d), 10);
  char buf[16];
  size_t len;
  CHECK_OK(mpk_dict_get(d, "from-child", buf, sizeof buf, &len));
  CHECK(len == 5 && memcmp(buf, "world", 5) == 0);
  CHECK_EQ(mpk_dict_contains(d, "from-parent"), 0);
  CHECK_EQ(mpk_dict_len(d), 1);
  mpk_dict_free(d);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_bad_arguments);
  CHECK_RUN(test_key_length_limit);
  CHECK_RUN(test_set_get_del);
  CHECK_RUN(test_large_values);
  CHECK_RUN(test_growth_and_tombstones);
  CHECK_RUN(test_foreach);
  CHECK_RUN(test_shared_with_child);
  return check_done();
}
