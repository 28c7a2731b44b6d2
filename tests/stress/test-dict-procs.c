/* dict.procs (stress): many processes set, get, replace and delete distinct
   and shared keys at once; the final contents are exactly what the program
   implies, and every value read at any time is whole. */
#include <stdint.h>

#include "check.h"
#include "internal/dict.h"
#include "mpk/dict.h"

enum { PROCS = 8, KEYS = 20000, SHARED = 64, MAX_PAD = 300 };

typedef struct {
  int32_t proc, key, version, pad_len;
  uint64_t check;
} value_head;

static uint64_t check_of(const value_head *h) {
  return ((uint64_t)(uint32_t)h->proc << 40) ^
         ((uint64_t)(uint32_t)h->key << 16) ^ (uint64_t)(uint32_t)h->version ^
         ((uint64_t)(uint32_t)h->pad_len << 56) ^ 0x5bd1e995ull;
}

/* value = head + pad_len bytes of a pattern */
static size_t make_value(unsigned char *buf, int proc, int key, int version) {
  value_head h = {proc, key, version,
                  (key * 37 + proc * 11 + version) % MAX_PAD, 0};
  h.check = check_of(&h);
  memcpy(buf, &h, sizeof h);
  for (int i = 0; i < h.pad_len; i++)
    buf[sizeof h + (size_t)i] = (unsigned char)(proc + key + version + i);
  return sizeof h + (size_t)h.pad_len;
}

/* Whole and well-formed; returns the head. */
static value_head check_value(const unsigned char *buf, size_t len) {
  value_head h;
  CHECK(len >= sizeof h);
  memcpy(&h, buf, sizeof h);
  CHECK(h.check == check_of(&h));
  CHECK(h.pad_len >= 0 && h.pad_len < MAX_PAD);
  CHECK_EQ(len, sizeof h + (size_t)h.pad_len);
  for (int i = 0; i < h.pad_len; i++)
    CHECK_EQ(buf[sizeof h + (size_t)i],
             (unsigned char)(h.proc + h.key + h.version + i));
  return h;
}

typedef struct {
  mpk_dict_t *d;
  int proc;
} job;

static int run_job(void *arg) {
  job *j = arg;
  mpk_dict_t *d = j->d;
  unsigned char buf[sizeof(value_head) + MAX_PAD];
  char k[32];
  size_t len;
  for (int i = 0; i < KEYS; i++) {
    snprintf(k, sizeof k, "p%d-%d", j->proc, i);
    len = make_value(buf, j->proc, i, 0);
    CHECK_OK(mpk_dict_set(d, k, buf, len));
    /* a shared key, written by everyone */
    snprintf(k, sizeof k, "s-%d", i % SHARED);
    len = make_value(buf, j->proc, i, 0);
    CHECK_OK(mpk_dict_set(d, k, buf, len));
    /* read someone's shared key: whole, whoever wrote it last */
    snprintf(k, sizeof k, "s-%d", (i * 7) % SHARED);
    int r = mpk_dict_get(d, k, buf, sizeof buf, &len);
    if (r != MPK_EEMPTY) {
      CHECK_OK(r);
      check_value(buf, len);
    }
  }
  for (int i = 0; i < KEYS; i++) {
    snprintf(k, sizeof k, "p%d-%d", j->proc, i);
    CHECK_OK(mpk_dict_get(d, k, buf, sizeof buf, &len));
    value_head h = check_value(buf, len);
    CHECK(h.proc == j->proc && h.key == i && h.version == 0);
    if (i % 2) {
      CHECK_OK(mpk_dict_del(d, k));
      CHECK_RC(mpk_dict_del(d, k), MPK_EEMPTY);
    } else {
      len = make_value(buf, j->proc, i, 1);
      CHECK_OK(mpk_dict_set(d, k, buf, len));
    }
  }
  return 0;
}

static int count_entries(const char *key, const void *val, size_t len,
                         void *arg) {
  (void)key;
  check_value(val, len);
  ++*(long *)arg;
  return 0;
}

static void test_many_processes(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  pid_t pid[PROCS];
  job jobs[PROCS];
  for (int i = 0; i < PROCS; i++) {
    jobs[i] = (job){d, i};
    pid[i] = check_fork(run_job, &jobs[i]);
  }
  for (int i = 0; i < PROCS; i++)
    check_wait_ok(pid[i], 60);
  /* exactly: every even own key at version 1, no odd one, all shared keys */
  CHECK_EQ(mpk_dict_len(d), PROCS * KEYS / 2 + SHARED);
  unsigned char buf[sizeof(value_head) + MAX_PAD];
  char k[32];
  size_t len;
  for (int p = 0; p < PROCS; p++)
    for (int i = 0; i < KEYS; i++) {
      snprintf(k, sizeof k, "p%d-%d", p, i);
      int r = mpk_dict_get(d, k, buf, sizeof buf, &len);
      if (i % 2) {
        CHECK_RC(r, MPK_EEMPTY);
      } else {
        CHECK_OK(r);
        value_head h = check_value(buf, len);
        CHECK(h.proc == p && h.key == i && h.version == 1);
      }
    }
  for (int s = 0; s < SHARED; s++) {
    snprintf(k, sizeof k, "s-%d", s);
    CHECK_OK(mpk_dict_get(d, k, buf, sizeof buf, &len));
    value_head h = check_value(buf, len);
    CHECK(h.proc >= 0 && h.proc < PROCS && h.key % SHARED == s);
    /* every process's last write to s-<s> was its largest i with i % 64 ==
       s, so the survivor is one of those */
    CHECK_EQ(h.key, (KEYS - 1) - ((KEYS - 1 - s) % SHARED));
  }
  long n = 0;
  CHECK_OK(mpk_dict_foreach(d, count_entries, &n));
  CHECK_EQ(n, PROCS * KEYS / 2 + SHARED);
  CHECK_EQ(mpk__dict_repairs(d), 0); /* nobody died */
  mpk_dict_free(d);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_many_processes);
  return check_done();
}
