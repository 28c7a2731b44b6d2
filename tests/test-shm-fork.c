/* shm.fork: the heap is shared with every process forked after it was
   reserved, including memory allocated after the fork. */
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"
#include "internal/futex.h"
#include "internal/shm.h"
#include "mpk/shm.h"

/* A mailbox allocated before the fork: the parent and the child hand
   pointers to each other through it, waiting on futex words. */
typedef struct {
  _Atomic uint32_t step; /* futex word: 0 start, 1 parent posted, 2 child */
  _Atomic(char *) from_parent;
  _Atomic(char *) from_child_small;
  _Atomic(char *) from_child_large;
} mailbox;

static mailbox *box;

enum { SMALL = 1000, LARGE = 3 << 20 };

static void wait_step(uint32_t want) {
  mpk__deadline d;
  CHECK_OK(mpk__deadline_init(&d, CHECK_HANG_S));
  uint32_t v;
  while ((v = atomic_load(&box->step)) < want)
    CHECK_RC(mpk__futex_wait(&box->step, v, &d), MPK_OK);
}

static void post_step(uint32_t v) {
  atomic_store(&box->step, v);
  mpk__futex_wake(&box->step, INT32_MAX);
}

static int child_main(void *arg) {
  (void)arg;
  wait_step(1);
  char *p = atomic_load(&box->from_parent);
  CHECK(mpk_shm_contains(p));
  for (int i = 0; i < SMALL; i++) /* same address, parent's bytes */
    CHECK(p[i] == (char)(i * 3));
  for (int i = 0; i < SMALL; i++) /* our writes, for the parent */
    p[i] = (char)(i * 5);
  char *s = mpk_shm_alloc(SMALL), *l = mpk_shm_alloc(LARGE);
  CHECK(s != NULL && l != NULL);
  memset(s, 0x11, SMALL);
  memset(l, 0x22, LARGE);
  atomic_store(&box->from_child_small, s);
  atomic_store(&box->from_child_large, l);
  post_step(2);
  return 0;
}

static void test_after_fork_visible(void) {
  pid_t pid = check_fork(child_main, NULL);
  /* allocated after the fork */
  char *p = mpk_shm_alloc(SMALL);
  CHECK(p != NULL);
  for (int i = 0; i < SMALL; i++)
    p[i] = (char)(i * 3);
  mpk_shm_stats_t before;
  CHECK_OK(mpk_shm_stats(&before));
  atomic_store(&box->from_parent, p);
  post_step(1);
  check_wait_ok(pid, 10);
  for (int i = 0; i < SMALL; i++)
    CHECK(p[i] == (char)(i * 5));
  /* the child's blocks: visible here, counted heap-wide, freed by us */
  char *s = atomic_load(&box->from_child_small);
  char *l = atomic_load(&box->from_child_large);
  CHECK(s[0] == 0x11 && s[SMALL - 1] == 0x11);
  CHECK(l[0] == 0x22 && l[LARGE - 1] == 0x22);
  CHECK(mpk_shm_usable_size(s) >= SMALL);
  CHECK(mpk_shm_usable_size(l) >= LARGE);
  mpk_shm_stats_t after;
  CHECK_OK(mpk_shm_stats(&after));
  CHECK_EQ(after.allocs, before.allocs + 2);
  mpk_shm_free(s);
  mpk_shm_free(l);
  mpk_shm_free(p);
  CHECK_EQ(mpk_shm_usable_size(l), 0); /* really freed */
  CHECK_OK(mpk_shm_stats(&after));
  CHECK_EQ(after.frees, before.frees + 3);
  CHECK_EQ(after.in_use, before.in_use - 1024); /* p (class 1024) */
}

/* Grandchildren share it too; a block allocated two forks down is freed at
   the top and reused there (the freeing thread's cache); a sibling forked
   later starts with an empty cache and never gets a block still cached. */
static int grandchild(void *arg) {
  char **slot = arg;
  char *q = mpk_shm_alloc(100);
  CHECK(q != NULL);
  strcpy(q, "from the grandchild");
  *slot = q;
  return 0;
}

static int middle(void *arg) {
  check_wait_ok(check_fork(grandchild, arg), 10);
  return 0;
}

static void test_grandchild(void) {
  char **slot = mpk_shm_calloc(1, sizeof(char *));
  CHECK(slot != NULL);
  check_wait_ok(check_fork(middle, slot), 20);
  CHECK(*slot != NULL);
  CHECK_STR(*slot, "from the grandchild");
  char *q = *slot;
  mpk_shm_free(q);
  *slot = NULL;
  /* the block is ours to reuse: this thread's cache hands it out again */
  char *again = mpk_shm_alloc(100);
  CHECK(again == q);
  mpk_shm_free(again);
  check_wait_ok(check_fork(grandchild, slot), 10);
  CHECK(*slot != NULL && *slot != q); /* q sits in our thread's cache */
  CHECK_STR(*slot, "from the grandchild");
  mpk_shm_free(*slot);
  mpk_shm_free(slot);
}

/* Concurrent alloc/free of one size class from parent and child: blocks
   are never handed out twice (each process stamps its blocks). */
enum { ROUNDS = 50000, LIVE = 64 };

static void churn(unsigned char tag) {
  unsigned char *live[LIVE] = {0};
  for (int i = 0; i < ROUNDS; i++) {
    int k = (int)((unsigned)i * 2654435761u % LIVE);
    if (live[k]) {
      for (int j = 0; j < 64; j++)
        CHECK(live[k][j] == tag);
      mpk_shm_free(live[k]);
    }
    live[k] = mpk_shm_alloc(64);
    CHECK(live[k] != NULL);
    memset(live[k], tag, 64);
  }
  for (int k = 0; k < LIVE; k++)
    mpk_shm_free(live[k]);
}

static int churn_child(void *arg) {
  (void)arg;
  churn(0xC1);
  return 0;
}

static void test_concurrent_churn(void) {
  mpk_shm_stats_t a, b;
  CHECK_OK(mpk_shm_stats(&a));
  pid_t pid = check_fork(churn_child, NULL);
  churn(0xA7);
  check_wait_ok(pid, 30);
  CHECK_OK(mpk_shm_stats(&b));
  CHECK_EQ(b.allocs - a.allocs, 2 * ROUNDS);
  CHECK_EQ(b.frees - a.frees, 2 * ROUNDS);
  CHECK_EQ(b.in_use, a.in_use);
}

/* Every process keeps its own statistics slot; more processes than slots
   (256) come and go, and not one allocation or free is lost from the
   heap-wide counts (slots of dead processes are taken over). */
static int alloc_ten(void *arg) {
  (void)arg;
  void *p[10];
  for (int i = 0; i < 10; i++)
    CHECK((p[i] = mpk_shm_alloc(100 + (size_t)i * 1000)) != NULL);
  for (int i = 0; i < 9; i++) /* the last one stays allocated */
    mpk_shm_free(p[i]);
  return 0;
}

static void test_many_processes_counted(void) {
  enum { KIDS = 300 };
  mpk_shm_stats_t a, b;
  CHECK_OK(mpk_shm_stats(&a));
  for (int k = 0; k < KIDS; k++)
    check_wait_ok(check_fork(alloc_ten, NULL), 10);
  CHECK_OK(mpk_shm_stats(&b));
  CHECK_EQ(b.allocs - a.allocs, 10 * KIDS);
  CHECK_EQ(b.frees - a.frees, 9 * KIDS);
  /* each child left one 9100-byte block (class 10240) allocated */
  CHECK_EQ(b.in_use - a.in_use, (size_t)KIDS * 10240);
}

int main(void) {
  check_watchdog(60);
  CHECK_OK(mpk__shm_init()); /* before any fork */
  box = mpk_shm_calloc(1, sizeof *box);
  CHECK(box != NULL);
  CHECK_RUN(test_after_fork_visible);
  CHECK_RUN(test_grandchild);
  CHECK_RUN(test_concurrent_churn);
  CHECK_RUN(test_many_processes_counted);
  mpk_shm_free(box);
  return check_done();
}
