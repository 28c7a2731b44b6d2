/* shm.exhaust: a 64 MiB heap (MPK_SHM_SIZE=64M, set by CTest) filled until
   allocation fails, emptied, and used again for other sizes. */
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "internal/shm.h"
#include "internal/shm_span.h"
#include "mpk/shm.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static mpk_shm_stats_t stats(void) {
  mpk_shm_stats_t st;
  CHECK_OK(mpk_shm_stats(&st));
  return st;
}

/* Children that never touched the heap pick their own MPK_SHM_SIZE. These
   run first, while this process has not read its configuration yet. */
static int child_size(void *arg) {
  setenv("MPK_SHM_SIZE", (const char *)arg, 1);
  mpk_shm_stats_t st = stats();
  const char *want = getenv("WANT_RESERVED");
  CHECK(want != NULL);
  CHECK_EQ(st.reserved, strtoull(want, NULL, 10));
  void *p = mpk_shm_alloc(1000);
  CHECK(p != NULL);
  mpk_shm_free(p);
  /* the biggest block that fits (all but the tables), last byte touched:
     block arithmetic holds up to the end of the region */
  size_t big =
      (st.reserved - st.reserved / 2048 - (2u << 20)) & ~(size_t)0xffff;
  char *q = mpk_shm_alloc(big);
  CHECK(q != NULL);
  q[big - 1] = 1;
  CHECK(mpk_shm_usable_size(q) == big);
  CHECK(mpk_shm_alloc(st.reserved / 2) == NULL);
  char *r = mpk_shm_alloc(64); /* a small block beside it */
  CHECK(r != NULL && (r + 64 <= q || r >= q + big));
  mpk_shm_free(r);
  mpk_shm_free(q);
  return 0;
}

static void test_size_from_env(void) {
  setenv("WANT_RESERVED", "3221225472", 1);
  check_wait_ok(check_fork(child_size, "3G"), 10);
  setenv("WANT_RESERVED", "4194304", 1); /* below 4 MiB: raised to 4 MiB */
  check_wait_ok(check_fork(child_size, "1M"), 10);
  setenv("WANT_RESERVED", "274877841408", 1); /* 256 GiB - 64 KiB at most */
  check_wait_ok(check_fork(child_size, "1T"), 10);
  setenv("WANT_RESERVED", "8388608", 1); /* rounded down to 64 KiB */
  check_wait_ok(check_fork(child_size, "8400000"), 10);
  unsetenv("WANT_RESERVED");
}

static size_t mixed_size(unsigned i) {
  static const size_t sizes[] = {64, 100, 1000, 5000, 32768, 40000, 300 * KiB};
  return sizes[(i * 2654435761u >> 7) % (sizeof sizes / sizeof sizes[0])];
}

/* Allocate until NULL; returns how many blocks (all kept in `out`). */
static size_t fill_heap(void **out, size_t cap, size_t (*size_of)(unsigned)) {
  size_t n = 0;
  for (;;) {
    CHECK(n < cap);
    size_t s = size_of((unsigned)n);
    errno = 0;
    void *p = mpk_shm_alloc(s);
    if (p == NULL) {
      CHECK_EQ(errno, ENOMEM);
      /* the other allocation functions fail the same way */
      errno = 0;
      CHECK(mpk_shm_alloc(60 * MiB) == NULL);
      CHECK_EQ(errno, ENOMEM);
      return n;
    }
    memset(p, (int)(n & 0xff) | 1, s < 256 ? s : 256);
    out[n++] = p;
  }
}

static void check_and_free(void **blk, size_t n, size_t (*size_of)(unsigned)) {
  for (size_t i = 0; i < n; i++) {
    size_t s = size_of((unsigned)i);
    unsigned char *b = blk[i];
    for (size_t j = 0; j < (s < 256 ? s : 256); j++)
      CHECK_MSG(b[j] == (unsigned char)((i & 0xff) | 1), "block %zu", i);
    mpk_shm_free(b);
  }
}

static size_t size_64(unsigned i) {
  (void)i;
  return 64;
}

static size_t size_big(unsigned i) {
  (void)i;
  return 5 * 64 * KiB;
}

static void **blocks;
enum { CAP = 1 << 20 };

static void test_exhaust_mixed(void) {
  mpk_shm_stats_t a = stats();
  CHECK_EQ(a.reserved, 64 * MiB);
  size_t n = fill_heap(blocks, CAP, mixed_size);
  mpk_shm_stats_t b = stats();
  CHECK(n > 100);
  CHECK(b.in_use > 50 * MiB); /* most of the heap was usable */
  CHECK(b.committed > 60 * MiB);
  check_and_free(blocks, n, mixed_size);
  mpk_shm_stats_t c = stats();
  CHECK_EQ(c.in_use, a.in_use);
  CHECK_EQ(c.allocs - a.allocs, n);
  CHECK_EQ(c.frees - a.frees, n);
  /* everything works again, even a size that needs the slabs back */
  char *big = mpk_shm_alloc(48 * MiB);
  CHECK(big != NULL);
  memset(big, 1, 48 * MiB);
  mpk_shm_free(big);
  size_t n2 = fill_heap(blocks, CAP, mixed_size);
  CHECK(n2 * 10 >= n * 9);
  check_and_free(blocks, n2, mixed_size);
}

/* One small class takes the whole heap; once freed, the slabs return to the
   span allocator and the heap serves large blocks again. */
static void test_exhaust_one_class(void) {
  size_t n = fill_heap(blocks, CAP, size_64);
  CHECK(n > 800000); /* ~63 MiB / 64 B */
  errno = 0;
  CHECK(mpk_shm_alloc(64 * KiB) == NULL);
  CHECK_EQ(errno, ENOMEM);
  check_and_free(blocks, n, size_64);
  CHECK_EQ(stats().in_use, 0);
  char *big = mpk_shm_calloc(1, 60 * MiB);
  CHECK(big != NULL);
  CHECK(big[0] == 0 && big[60 * MiB - 1] == 0);
  mpk_shm_free(big);
  CHECK_EQ(stats().committed, 0);
  /* and large blocks the other way round */
  size_t m = fill_heap(blocks, CAP, size_big);
  CHECK(m >= 190); /* 1021 spans / 5 */
  check_and_free(blocks, m, size_big);
  size_t k = fill_heap(blocks, CAP, size_64);
  CHECK(k * 100 >= n * 99);
  check_and_free(blocks, k, size_64);
}

/* Freed neighbours merge: two adjacent runs serve one block their size. */
static void test_coalesce(void) {
  size_t m = fill_heap(blocks, CAP, size_big); /* nothing else is live */
  CHECK(m >= 2);
  char *x = NULL, *y = NULL;
  size_t xi = 0, yi = 0;
  for (size_t i = 0; i + 1 < m && x == NULL; i++)
    for (size_t j = 0; j < m; j++)
      if ((char *)blocks[j] == (char *)blocks[i] + 5 * 64 * KiB) {
        x = blocks[i], y = blocks[j], xi = i, yi = j;
        break;
      }
  CHECK(x != NULL);
  CHECK(mpk_shm_alloc(10 * 64 * KiB) == NULL);
  mpk_shm_free(x);
  mpk_shm_free(y);
  blocks[xi] = blocks[yi] = NULL;
  char *z = mpk_shm_calloc(1, 10 * 64 * KiB); /* fits only at x, y */
  CHECK(z != NULL);
  CHECK(z <= x && z + 2 * 64 * KiB >= x);    /* (a 2-span gap may precede x) */
  for (size_t i = 0; i < 10 * 64 * KiB; i++) /* calloc cleared old data */
    CHECK(z[i] == 0);
  mpk_shm_free(z);
  for (size_t i = 0; i < m; i++)
    mpk_shm_free(blocks[i]); /* NULL is a no-op */
  CHECK_EQ(stats().in_use, 0);
}

/* Once the heap is full, a failing allocation rescans the size classes'
   free lists (a walk of every free block under the span lock) only if a
   small block was freed since the last scan. Here class 64 B holds ~half
   a million free blocks, none of whose slabs is entirely free. */
static void test_scavenge_only_after_frees(void) {
  size_t n = fill_heap(blocks, CAP, size_64);
  CHECK(n > 800000);
  for (size_t i = 1; i < n; i += 2) { /* every slab keeps live blocks */
    mpk_shm_free(blocks[i]);
    blocks[i] = NULL;
  }
  unsigned long s0 = mpk__shm_scavenges();
  CHECK(mpk_shm_alloc(64 * KiB) == NULL); /* scans once: nothing to gain */
  CHECK_EQ(mpk__shm_scavenges(), s0 + 1);
  double t0 = check_now();
  enum { FAILS = 2000 };
  for (int i = 0; i < FAILS; i++) {
    errno = 0;
    CHECK(mpk_shm_alloc(64 * KiB) == NULL); /* large: span allocator */
    CHECK_EQ(errno, ENOMEM);
    CHECK(mpk_shm_calloc(1, 100) == NULL); /* another class: a new slab */
    CHECK_EQ(errno, ENOMEM);
  }
  double each = (check_now() - t0) / (2 * FAILS);
  CHECK_EQ(mpk__shm_scavenges(), s0 + 1); /* nothing freed: no new scan */
  printf("  a failing allocation takes %.2f us\n", each * 1e6);
  /* the class that has free blocks still serves them */
  void *a = mpk_shm_alloc(64);
  CHECK(a != NULL);
  mpk_shm_free(a); /* a free: the next failure scans again, once */
  CHECK(mpk_shm_alloc(64 * KiB) == NULL);
  CHECK(mpk_shm_alloc(64 * KiB) == NULL);
  CHECK_EQ(mpk__shm_scavenges(), s0 + 2);
  /* freeing everything still lets another size take the whole heap */
  for (size_t i = 0; i < n; i += 2)
    mpk_shm_free(blocks[i]);
  CHECK_EQ(stats().in_use, 0);
  char *big = mpk_shm_calloc(1, 60 * MiB);
  CHECK(big != NULL);
  CHECK(big[0] == 0 && big[60 * MiB - 1] == 0);
  CHECK_EQ(mpk__shm_scavenges(), s0 + 3);
  mpk_shm_free(big);
  CHECK_EQ(stats().committed, 0);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_size_from_env);
  blocks = malloc(CAP * sizeof *blocks);
  CHECK(blocks != NULL);
  CHECK_RUN(test_exhaust_mixed);
  CHECK_RUN(test_exhaust_one_class);
  CHECK_RUN(test_coalesce);
  CHECK_RUN(test_scavenge_only_after_frees);
  free(blocks);
  return check_done();
}
