/* dict.kill (fault): writer processes are SIGKILLed over and over in the
 * middle of their updates (inside the dict's critical section, inside
 * rehashes, inside the shared-heap allocator), while two survivor processes
 * keep working on the same dict. Nothing may hang; after every kill the
 * dict's invariants hold (mpk__dict_check) and every value is whole; the
 * survivors' own keys end exactly as they wrote them. Some writers kill
 * themselves from inside a foreach callback, i.e. certainly while holding
 * the mutex, so repairs are certain to happen. */
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "internal/dict.h"
#include "mpk/dict.h"
#include "mpk/shm.h"

enum {
  ROUNDS = 60,
  SURVIVORS = 2,
  SURVIVOR_KEYS = 500,
  VICTIM_KEYS = 30000, /* enough to make rehashes of large tables */
  MAX_PAD = 400
};

typedef struct {
  uint32_t id;    /* the key's number */
  uint32_t owner; /* 1000 + survivor index, or the victim round */
  uint32_t version, pad_len;
  uint64_t check;
} value_head;

static uint64_t check_of(const value_head *h) {
  return (((uint64_t)h->id << 32) | h->version) * 0x9e3779b97f4a7c15ull ^
         ((uint64_t)h->owner << 20) ^ h->pad_len;
}

static size_t make_value(unsigned char *buf, uint32_t id, uint32_t owner,
                         uint32_t version) {
  value_head h = {id, owner, version, (id * 13 + version * 7) % MAX_PAD, 0};
  h.check = check_of(&h);
  memcpy(buf, &h, sizeof h);
  memset(buf + sizeof h, (int)(id + version) & 0xff, h.pad_len);
  return sizeof h + h.pad_len;
}

static value_head check_value(const void *val, size_t len) {
  value_head h;
  CHECK(len >= sizeof h);
  memcpy(&h, val, sizeof h);
  CHECK(h.check == check_of(&h));
  CHECK_EQ(len, sizeof h + h.pad_len);
  const unsigned char *p = (const unsigned char *)val + sizeof h;
  for (uint32_t i = 0; i < h.pad_len; i++)
    CHECK_EQ(p[i], (unsigned char)((h.id + h.version) & 0xff));
  return h;
}

typedef struct {
  mpk_dict_t *d;
  _Atomic int *stop;
  uint32_t index; /* survivor index, or victim round */
} job;

static uint32_t lcg(uint32_t *s) {
  *s = *s * 1664525u + 1013904223u;
  return *s >> 8;
}

/* A survivor keeps a model of its own keys and checks it all the time. */
static int survivor(void *arg) {
  job *j = arg;
  static int32_t model[SURVIVOR_KEYS]; /* version, -1 = absent */
  for (int i = 0; i < SURVIVOR_KEYS; i++)
    model[i] = -1;
  unsigned char buf[sizeof(value_head) + MAX_PAD];
  char k[32];
  size_t len;
  uint32_t seed = 12345 + j->index;
  long ops = 0;
  while (!atomic_load(j->stop) || ops < 1000) {
    uint32_t id = lcg(&seed) % SURVIVOR_KEYS, op = lcg(&seed) % 4;
    snprintf(k, sizeof k, "s%u-%u", j->index, id);
    if (op < 2) {
      model[id]++;
      if (model[id] == 0)
        model[id] = 1;
      len = make_value(buf, id, 1000 + j->index, (uint32_t)model[id]);
      CHECK_OK(mpk_dict_set(j->d, k, buf, len));
    } else if (op == 2) {
      CHECK_RC(mpk_dict_del(j->d, k), model[id] < 0 ? MPK_EEMPTY : MPK_OK);
      model[id] = -1;
    } else {
      int r = mpk_dict_get(j->d, k, buf, sizeof buf, &len);
      if (model[id] < 0) {
        CHECK_RC(r, MPK_EEMPTY);
      } else {
        CHECK_OK(r);
        value_head h = check_value(buf, len);
        CHECK(h.id == id && h.owner == 1000 + j->index &&
              h.version == (uint32_t)model[id]);
      }
    }
    ops++;
  }
  for (uint32_t id = 0; id < SURVIVOR_KEYS; id++) {
    snprintf(k, sizeof k, "s%u-%u", j->index, id);
    int r = mpk_dict_get(j->d, k, buf, sizeof buf, &len);
    if (model[id] < 0) {
      CHECK_RC(r, MPK_EEMPTY);
    } else {
      CHECK_OK(r);
      CHECK_EQ(check_value(buf, len).version, model[id]);
    }
  }
  return 0;
}

/* A victim writes, replaces and deletes until it is killed. */
static int victim(void *arg) {
  job *j = arg;
  unsigned char buf[sizeof(value_head) + MAX_PAD];
  char k[32];
  uint32_t seed = 777 + j->index;
  for (uint32_t n = 0;; n++) {
    uint32_t id = lcg(&seed) % VICTIM_KEYS;
    snprintf(k, sizeof k, "v-%u", id);
    if (lcg(&seed) % 4 == 0) {
      int r = mpk_dict_del(j->d, k);
      CHECK(r == MPK_OK || r == MPK_EEMPTY);
    } else {
      size_t len = make_value(buf, id, j->index, n);
      CHECK_OK(mpk_dict_set(j->d, k, buf, len));
    }
  }
  return 0;
}

static int die_inside(const char *key, const void *val, size_t len, void *arg) {
  (void)key, (void)val, (void)len, (void)arg;
  raise(SIGKILL); /* with the dict's mutex held */
  return 0;
}

/* Writes a little, then dies inside foreach, holding the mutex. */
static int victim_in_foreach(void *arg) {
  job *j = arg;
  unsigned char buf[sizeof(value_head) + MAX_PAD];
  size_t len = make_value(buf, 1, j->index, 1);
  CHECK_OK(mpk_dict_set(j->d, "v-1", buf, len));
  mpk_dict_foreach(j->d, die_inside, NULL);
  return 1; /* not reached */
}

static int check_entry(const char *key, const void *val, size_t len,
                       void *arg) {
  value_head h = check_value(val, len);
  unsigned id = 0, who = 0;
  if (key[0] == 'v') {
    CHECK(sscanf(key, "v-%u", &id) == 1);
  } else {
    CHECK(sscanf(key, "s%u-%u", &who, &id) == 2);
    CHECK(who < SURVIVORS && h.owner == 1000 + who);
  }
  CHECK_EQ(h.id, id);
  ++*(long *)arg;
  return 0;
}

static void test_kill_writers(void) {
  mpk_dict_t *d;
  CHECK_OK(mpk_dict_new(&d));
  _Atomic int *stop = mpk_shm_calloc(1, sizeof *stop);
  CHECK(stop != NULL);
  job sj[SURVIVORS];
  pid_t sp[SURVIVORS];
  for (int i = 0; i < SURVIVORS; i++) {
    sj[i] = (job){d, stop, (uint32_t)i};
    sp[i] = check_fork(survivor, &sj[i]);
  }
  uint32_t seed = 99;
  int self_kills = 0;
  for (int round = 0; round < ROUNDS; round++) {
    job vj = {d, stop, (uint32_t)round};
    int in_foreach = round % 5 == 4;
    pid_t v = check_fork(in_foreach ? victim_in_foreach : victim, &vj);
    if (in_foreach) {
      int st = check_wait(v, 20);
      CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
      self_kills++;
    } else {
      check_sleep(0.001 * (1 + lcg(&seed) % 40));
      CHECK_EQ(kill(v, SIGKILL), 0);
      int st = check_wait(v, 20);
      CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    }
    CHECK_OK(mpk__dict_check(d)); /* repairs first if needed */
    long n = 0;
    CHECK_OK(mpk_dict_foreach(d, check_entry, &n));
    CHECK(mpk_dict_len(d) >= 0);
  }
  atomic_store(stop, 1);
  for (int i = 0; i < SURVIVORS; i++)
    check_wait_ok(sp[i], 60);
  long repairs = mpk__dict_repairs(d);
  printf("%d kills (%d inside foreach), %ld repairs\n", ROUNDS, self_kills,
         repairs);
  CHECK(repairs >= self_kills);
  CHECK_OK(mpk__dict_check(d));
  long n = 0;
  CHECK_OK(mpk_dict_foreach(d, check_entry, &n));
  CHECK_EQ(n, mpk_dict_len(d));
  /* still fully usable */
  CHECK_OK(mpk_dict_set(d, "after", "x", 1));
  CHECK_EQ(mpk_dict_contains(d, "after"), 1);
  CHECK_EQ(mpk_dict_len(d), n + 1);
  mpk_dict_free(d);
  mpk_shm_free(stop);
}

int main(void) {
  check_watchdog(90);
  CHECK_RUN(test_kill_writers);
  return check_done();
}
