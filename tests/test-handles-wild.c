/* handles.wild: every public call that takes a handle to an object in the
 * shared heap (Queue in its three kinds, Lock, RLock, Semaphore, Event,
 * Condition, Barrier, Array, Dict) answers a pointer that is not a live
 * object of its kind with its documented "bad handle" result (MPK_EINVAL,
 * or 0 / NULL for the calls that return a size or a pointer) and never
 * crashes. The pointers: 0x40, a pointer to the stack, a pointer into the
 * middle of a plain heap block (aligned and misaligned), a live object of
 * every other kind, a freed object of the same kind, and a byte-for-byte
 * copy of a live object outside the shared heap. Each (kind, pointer) pair
 * runs in a forked child, so a crash names the pair.
 */
#include <stdalign.h>
#include <stdint.h>

#include "check.h"
#include "handles-util.h"
#include "internal/shm.h"

/* ---- running a kind's calls on one pointer ------------------------------ */

typedef struct {
  const hu_kind *k;
  void *h;
} job;

/* Child: every call of the kind on h must give MPK_EINVAL. */
static int run_calls(void *arg) {
  const job *j = arg;
  for (const hu_call *c = j->k->calls; c->fn != NULL; c++) {
    int r = c->fn(j->h);
    CHECK_MSG(r == MPK_EINVAL, "%s(%p) gave %s (%d), expected MPK_EINVAL",
              c->name, j->h, mpk_err_name(r), r);
  }
  return 0;
}

static void expect_rejected(const hu_kind *k, void *h, const char *what) {
  job j = {k, h};
  int st = check_wait(check_fork(run_calls, &j), 30);
  CHECK_MSG(WIFEXITED(st) && WEXITSTATUS(st) == 0, "%s calls on %s: %s %d",
            k->name, what, WIFEXITED(st) ? "failed, exit" : "crashed, signal",
            WIFEXITED(st) ? WEXITSTATUS(st) : WTERMSIG(st));
}

static void *live[HU_NKINDS]; /* one live object of every kind */

static void *live_of(const char *name) {
  for (size_t i = 0; i < HU_NKINDS; i++)
    if (strcmp(hu_kinds[i].name, name) == 0)
      return live[i];
  CHECK_MSG(0, "no kind %s", name);
  return NULL;
}

static void test_wild_pointers(void) {
  for (size_t i = 0; i < HU_NKINDS; i++)
    live[i] = hu_kinds[i].make();
  /* a plain heap block holding a byte pattern */
  unsigned char *blk = mpk_shm_alloc(4096);
  CHECK(blk != NULL);
  memset(blk, 0x5a, 4096);
  alignas(64) unsigned char stack[256];
  memset(stack, 0, sizeof stack);
  for (size_t i = 0; i < HU_NKINDS; i++) {
    const hu_kind *k = &hu_kinds[i];
    expect_rejected(k, (void *)0x40, "0x40");
    expect_rejected(k, stack, "a stack buffer");
    expect_rejected(k, blk + 64, "the middle of a heap block (aligned)");
    expect_rejected(k, blk + 8, "the middle of a heap block (misaligned)");
    expect_rejected(k, (char *)live[i] + 8, "a live object + 8");
    for (size_t o = 0; o < HU_NKINDS; o++) {
      if (hu_kinds[o].destroy == k->destroy)
        continue; /* the queue kinds are one C type */
      char what[64];
      snprintf(what, sizeof what, "a live %s", hu_kinds[o].name);
      expect_rejected(k, live[o], what);
    }
    /* a copy of a live object outside the shared heap */
    size_t n = mpk_shm_usable_size(live[i]);
    CHECK(n >= 64);
    void *copy = aligned_alloc(64, n);
    CHECK(copy != NULL);
    memcpy(copy, live[i], n);
    expect_rejected(k, copy, "a copy outside the shared heap");
    free(copy);
    /* a freed object of the kind (its memory not handed out again: nothing
       is allocated between this free and the calls) */
    void *dead = k->make();
    k->destroy(dead);
    expect_rejected(k, dead, "a freed object");
  }
  /* the live objects were not touched by any of it */
  CHECK_EQ(mpk_array_load(live_of("array"), 0), 7);
  CHECK_EQ(mpk_queue_qsize(live_of("queue")), 0);
  CHECK_EQ(mpk_sem_value(live_of("sem")), 1);
  CHECK_EQ(mpk_lock_locked(live_of("lock")), 0);
  CHECK_EQ(mpk_dict_len(live_of("dict")), 0);
  for (size_t i = 0; i < HU_NKINDS; i++)
    hu_kinds[i].destroy(live[i]);
  mpk_shm_free(blk);
}

/* The one range check itself: the whole object must lie in the data area,
   starting on a 64-byte boundary. */
static void test_shm_owns(void) {
  void *b = mpk_shm_alloc(64);
  CHECK(b != NULL);
  uintptr_t lo = atomic_load(&mpk__shm_area.lo);
  size_t bytes = atomic_load(&mpk__shm_area.bytes);
  CHECK(bytes > 0);
  CHECK(mpk__shm_owns(b, 64));
  CHECK(!mpk__shm_owns((char *)b + 1, 1));
  CHECK(!mpk__shm_owns((char *)b + 32, 1));
  CHECK(!mpk__shm_owns(NULL, 1));
  CHECK(!mpk__shm_owns((void *)0x40, 64));
  CHECK(mpk__shm_owns((void *)lo, 64));
  CHECK(!mpk__shm_owns((void *)(lo - 64), 64)); /* the allocator's tables */
  CHECK(mpk__shm_owns((void *)(lo + bytes - 64), 64));
  CHECK(!mpk__shm_owns((void *)(lo + bytes - 64), 128)); /* runs off */
  CHECK(!mpk__shm_owns((void *)(lo + bytes), 1));
  CHECK(!mpk__shm_owns((void *)UINTPTR_MAX, 1));
  mpk_shm_free(b);
}

int main(void) {
  check_watchdog(120);
  CHECK_RUN(test_wild_pointers);
  CHECK_RUN(test_shm_owns);
  return check_done();
}
