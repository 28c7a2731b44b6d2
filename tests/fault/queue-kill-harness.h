/* queue-kill-harness.h: the kill/ledger harness shared by queue.kill (MPMC
   queue, two producers and two consumers) and queue.spsc-kill
   (MPK_QUEUE_SPSC, one of each). Include once from a test program, after
   check.h; every function here is file-static.

   kill_rounds(flags): ROUNDS rounds of SIGKILL at random instants of a
   producer or a consumer in the middle of traffic, a replacement started
   each time; then the ledger: every message whose put returned MPK_OK is
   received exactly once, still queued, or sits whole in the receive buffer
   of a consumer killed before it could log it (at most one per killed
   consumer); nothing duplicated, torn or invented; with MPK_QUEUE_SPSC also
   nothing out of order; and the queue still works afterwards.

   killed_producer_then_close(flags): a getter gets what a killed producer
   completed, and a close then releases its next, blocked get.

   put_forever / get_forever: children that block on a full / empty ring
   (for the tests' own "kill a sleeper" cases). */
#ifndef MPK_TESTS_QUEUE_KILL_HARNESS_H
#define MPK_TESTS_QUEUE_KILL_HARNESS_H

#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "mpk/process.h"
#include "mpk/queue.h"
#include "mpk/shm.h"
#include "queue/queue_internal.h"

enum {
  ROUNDS = 100,
  MAX_IDS = 1 << 23,
  MAX_MSG = 3000,
  MAX_SLOTS = ROUNDS + 8,
  MAX_PAIRS = 2 /* producers (and consumers) of an MPMC run */
};

typedef struct {
  unsigned char buf[MAX_MSG]; /* the consumer gets straight into this */
} slot;

typedef struct {
  mpk_queue_t *q;
  int ordered; /* SPSC: ids must arrive in increasing order */
  _Atomic uint64_t next_id;
  _Atomic int stop;
  _Atomic int mode; /* 0: free running, 1: slow consumers, 2: slow producers */
  _Atomic int bad;
  _Atomic int ready; /* a child's hand-shake with the test process */
  _Atomic long received;
  _Atomic long last_id; /* the consumers' last logged id (order check) */
  _Atomic uint8_t
      state[MAX_IDS]; /* 0 unused, 1 put started, 2 put returned OK */
  _Atomic uint8_t recv[MAX_IDS]; /* times a consumer logged the message */
  slot slots[MAX_SLOTS];
} shared;

static shared *S;

/* Message id: 8 bytes of id, then (id * 13) % MAX_MSG - 8 bytes of a
   pattern derived from the id. */
static size_t msg_len(uint64_t id) {
  size_t n = (size_t)((id * 13) % (MAX_MSG - 8));
  return 8 + (id % 4 == 0 ? n : n % 64); /* mostly small, some large */
}

static void burn(int us) {
  double end = check_now() + us * 1e-6;
  while (check_now() < end) {
  }
}

static int producer(void *arg) {
  (void)arg;
  unsigned char b[MAX_MSG];
  while (!atomic_load(&S->stop)) {
    uint64_t id = atomic_fetch_add(&S->next_id, 1);
    if (id >= MAX_IDS) {
      check_sleep(0.001);
      continue;
    }
    size_t len = msg_len(id);
    memcpy(b, &id, 8);
    memset(b + 8, (int)(id * 7), len - 8);
    atomic_store(&S->state[id], 1);
    int r;
    do {
      r = mpk_queue_put(S->q, b, len, 0.05);
    } while (r == MPK_ETIMEDOUT && !atomic_load(&S->stop));
    if (r == MPK_ETIMEDOUT)
      return 0; /* stopping; the message was not queued */
    if (r != MPK_OK) {
      fprintf(stderr, "producer: put: %s\n", mpk_err_name(r));
      atomic_fetch_add(&S->bad, 1);
      return 1;
    }
    atomic_store(&S->state[id], 2);
    if (atomic_load(&S->mode) == 2)
      burn(30);
  }
  return 0;
}

static int consumer(void *arg) {
  slot *sl = &S->slots[*(int *)arg];
  while (!atomic_load(&S->stop)) {
    size_t len;
    int r = mpk_queue_get(S->q, sl->buf, MAX_MSG, &len, 0.05);
    if (r == MPK_ETIMEDOUT)
      continue;
    if (r != MPK_OK || len < 8) { /* SPSC: MPK_EPERM if takeover failed */
      fprintf(stderr, "consumer: get: %s\n", mpk_err_name(r));
      atomic_fetch_add(&S->bad, 1);
      return 1;
    }
    uint64_t id;
    memcpy(&id, sl->buf, 8);
    int ok = id < MAX_IDS && len == msg_len(id);
    for (size_t k = 8; ok && k < len; k++)
      ok = sl->buf[k] == (unsigned char)(id * 7);
    if (!ok) {
      fprintf(stderr, "consumer: torn or unknown message (len %zu)\n", len);
      atomic_fetch_add(&S->bad, 1);
      return 1;
    }
    /* SPSC: one producer at a time takes ids in order, so ids arrive in
       increasing order (gaps: unconfirmed puts of killed producers). */
    if (S->ordered && (long)id <= atomic_load(&S->last_id)) {
      fprintf(stderr, "consumer: id %llu after %ld\n", (unsigned long long)id,
              atomic_load(&S->last_id));
      atomic_fetch_add(&S->bad, 1);
      return 1;
    }
    atomic_fetch_add(&S->recv[id], 1);
    if (S->ordered)
      atomic_store(&S->last_id, (long)id);
    atomic_fetch_add(&S->received, 1);
    if (atomic_load(&S->mode) == 1)
      burn(30);
  }
  return 0;
}

static mpk_process_t *spawn(int (*fn)(void *), int slot_index) {
  mpk_process_t *p;
  CHECK_OK(mpk_process_new(&p, fn, &slot_index, sizeof slot_index, NULL));
  CHECK_OK(mpk_process_start(p));
  return p;
}

static void finish(mpk_process_t *p, int killed) {
  CHECK_OK(mpk_process_join(p, 30));
  int code = 0;
  CHECK_OK(mpk_process_exitcode(p, &code));
  if (killed)
    CHECK_MSG(code == -9 || code == 0, "exit code %d", code);
  else
    CHECK_EQ(code, 0);
  mpk_process_free(p);
}

/* After a kill the survivors (and the replacement) must move messages. */
static void wait_progress(void) {
  if (atomic_load(&S->next_id) >= MAX_IDS - 100000)
    return; /* ids nearly used up: producers are winding down */
  long before = atomic_load(&S->received);
  double end = check_now() + CHECK_HANG_S;
  while (atomic_load(&S->received) < before + 20) {
    CHECK_MSG(check_now() < end, "no progress after a kill: queue wedged");
    check_sleep(0.0005);
  }
}

/* See the top of this file. flags: 0 (MPMC, two producers and two
   consumers) or MPK_QUEUE_SPSC (one of each, order checked). */
static void kill_rounds(int flags) {
  int spsc = (flags & MPK_QUEUE_SPSC) != 0;
  int pairs = spsc ? 1 : MAX_PAIRS; /* producers, and as many consumers */
  S = mpk_shm_calloc(1, sizeof *S);
  CHECK(S != NULL);
  CHECK_OK(mpk_queue_new(&S->q, 16 << 10, flags));
  S->ordered = spsc;
  atomic_store(&S->last_id, -1);
  mpk_process_t *prod[MAX_PAIRS], *cons[MAX_PAIRS];
  int cons_slot[MAX_PAIRS];
  int killed_slot[MAX_SLOTS], n_killed_cons = 0, next_slot = 0;
  int kills_p = 0, kills_c = 0;
  for (int i = 0; i < pairs; i++)
    prod[i] = spawn(producer, 0);
  for (int i = 0; i < pairs; i++) {
    cons_slot[i] = next_slot++;
    cons[i] = spawn(consumer, cons_slot[i]);
  }
  srand(12345);
  for (int round = 0; round < ROUNDS; round++) {
    atomic_store(&S->mode, round % 3);
    check_sleep(0.0002 + (rand() % 3000) * 1e-6);
    int victim = rand() % 2; /* alternate-ish: both sides get killed */
    if (round % 4 == 0)
      victim = 0;
    if (round % 4 == 1)
      victim = 1;
    int k = pairs > 1 ? rand() % pairs : 0;
    if (victim == 0) {
      CHECK_OK(mpk_process_kill(prod[k]));
      finish(prod[k], 1);
      kills_p++;
      prod[k] = spawn(producer, 0);
    } else {
      CHECK_OK(mpk_process_kill(cons[k]));
      finish(cons[k], 1);
      kills_c++;
      killed_slot[n_killed_cons++] = cons_slot[k];
      cons_slot[k] = next_slot++;
      cons[k] = spawn(consumer, cons_slot[k]);
    }
    wait_progress();
  }
  /* Stop everyone normally, then drain what is left. */
  atomic_store(&S->stop, 1);
  for (int i = 0; i < pairs; i++)
    finish(prod[i], 0);
  for (int i = 0; i < pairs; i++)
    finish(cons[i], 0);
  CHECK_EQ(atomic_load(&S->bad), 0);
  static uint8_t drained[MAX_IDS];
  unsigned char b[MAX_MSG];
  size_t len;
  long left = 0;
  int r;
  /* SPSC: this process takes the consumer side over from the (exited)
     last one. */
  while ((r = mpk_queue_get_nowait(S->q, b, sizeof b, &len)) == MPK_OK) {
    uint64_t id;
    memcpy(&id, b, 8);
    CHECK(id < MAX_IDS && len == msg_len(id));
    for (size_t k = 8; k < len; k++)
      CHECK_EQ(b[k], (unsigned char)(id * 7));
    drained[id]++;
    left++;
  }
  CHECK_RC(r, MPK_EEMPTY);
  CHECK_EQ(mpk_queue_qsize(S->q), 0);

  /* The ledger. */
  uint64_t ids = atomic_load(&S->next_id);
  if (ids > MAX_IDS)
    ids = MAX_IDS;
  int slot_used[MAX_SLOTS] = {0};
  long confirmed = 0, unconfirmed_seen = 0, unconfirmed_gone = 0, lost = 0;
  for (uint64_t id = 0; id < ids; id++) {
    int seen = atomic_load(&S->recv[id]) + drained[id];
    int st = atomic_load(&S->state[id]);
    CHECK_MSG(seen <= 1, "message %llu delivered %d times",
              (unsigned long long)id, seen);
    if (st == 0)
      CHECK_MSG(seen == 0, "message %llu was never put",
                (unsigned long long)id);
    if (st == 1 && seen)
      unconfirmed_seen++;
    else if (st == 1)
      unconfirmed_gone++;
    if (st != 2)
      continue;
    confirmed++;
    if (seen == 1)
      continue;
    /* Gone: it must be what a killed consumer had just taken. */
    int found = 0;
    for (int i = 0; i < n_killed_cons && !found; i++) {
      uint64_t had;
      memcpy(&had, S->slots[killed_slot[i]].buf, 8);
      if (had == id && !slot_used[i])
        found = slot_used[i] = 1;
    }
    CHECK_MSG(found, "message %llu (put returned MPK_OK) was lost",
              (unsigned long long)id);
    lost++;
  }
  CHECK(lost <= kills_c);
  printf("# %d producer kills, %d consumer kills; %ld confirmed puts, %ld "
         "received, %ld left queued; taken by killed consumers: %ld; "
         "unconfirmed puts seen %ld / absent %ld; missed wake-ups %u\n",
         kills_p, kills_c, confirmed, atomic_load(&S->received), left, lost,
         unconfirmed_seen, unconfirmed_gone,
         (unsigned)mpk__queue_missed_wakes(S->q));
  CHECK(confirmed > 1000);

  /* The queue still works, in both directions and blocking. */
  for (int i = 0; i < 100; i++)
    CHECK_OK(mpk_queue_put(S->q, &i, sizeof i, 1));
  for (int i = 0; i < 100; i++) {
    int v;
    CHECK_OK(mpk_queue_get(S->q, &v, sizeof v, &len, 1));
    CHECK_EQ(v, i);
  }
  CHECK_OK(mpk_queue_close(S->q));
  CHECK_RC(mpk_queue_get(S->q, b, sizeof b, &len, 1), MPK_ECLOSED);
  mpk_queue_free(S->q);
  mpk_shm_free(S);
}

static int put_then_die(void *arg) {
  (void)arg;
  CHECK_OK(mpk_queue_put(S->q, "last", 4, 1));
  raise(SIGKILL);
  return 0;
}

static int getter_until_closed(void *arg) {
  (void)arg;
  char b[8];
  size_t len;
  int r = mpk_queue_get(S->q, b, sizeof b, &len, 30);
  if (r != MPK_OK || len != 4 || memcmp(b, "last", 4) != 0)
    return 1;
  r = mpk_queue_get(S->q, b, sizeof b, &len, 30);
  return r == MPK_ECLOSED ? 0 : 2;
}

/* A getter whose producer was killed gets the message it completed, and a
   close by another process then releases its next, blocked get. */
static void killed_producer_then_close(int flags) {
  S = mpk_shm_calloc(1, sizeof *S);
  CHECK(S != NULL);
  CHECK_OK(mpk_queue_new(&S->q, 1024, flags));
  pid_t g = check_fork(getter_until_closed, NULL);
  pid_t p = check_fork(put_then_die, NULL);
  int st = check_wait(p, 10);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
  check_sleep(0.05);
  CHECK_OK(mpk_queue_close(S->q));
  check_wait_ok(g, 10);
  mpk_queue_free(S->q);
  mpk_shm_free(S);
}

static int put_forever(void *arg) {
  (void)arg;
  mpk_queue_put(S->q, "sleeper!", 8, MPK_FOREVER); /* blocks: ring full */
  return 9;
}

static int get_forever(void *arg) {
  (void)arg;
  char b[16];
  size_t len;
  mpk_queue_get(S->q, b, sizeof b, &len, MPK_FOREVER); /* blocks: empty */
  return 9;
}

#endif
