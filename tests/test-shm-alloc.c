/* shm.alloc: every shared-heap call and errno case in one process. */
#include <stdint.h>

#include "check.h"
#include "internal/shm.h"
#include "mpk/shm.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define GiB ((size_t)1 << 30)

static mpk_shm_stats_t stats(void) {
  mpk_shm_stats_t st;
  CHECK_OK(mpk_shm_stats(&st));
  return st;
}

/* The process's resident shared-memory pages (kB) from /proc. */
static long rss_shmem_kb(void) {
  FILE *f = fopen("/proc/self/status", "r");
  CHECK(f != NULL);
  char line[256];
  long kb = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "RssShmem: %ld kB", &kb) == 1)
      break;
  fclose(f);
  CHECK(kb >= 0);
  return kb;
}

static void fill(void *p, size_t n, unsigned seed) {
  unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    b[i] = (unsigned char)(seed + i * 7);
}

static int filled(const void *p, size_t n, unsigned seed) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != (unsigned char)(seed + i * 7))
      return 0;
  return 1;
}

static int all_zero(const void *p, size_t n) {
  const unsigned char *b = p;
  for (size_t i = 0; i < n; i++)
    if (b[i] != 0)
      return 0;
  return 1;
}

static void test_init(void) {
  CHECK_OK(mpk__shm_init());
  CHECK_OK(mpk__shm_init()); /* idempotent */
  mpk_shm_stats_t st = stats();
  CHECK(st.reserved >= 64 * MiB);
  CHECK(st.reserved <= 64 * GiB);
}

static void test_errors(void) {
  errno = 0;
  CHECK(mpk_shm_alloc(0) == NULL);
  CHECK_EQ(errno, EINVAL);
  size_t huge[] = {SIZE_MAX, SIZE_MAX / 2, stats().reserved,
                   stats().reserved + 1, (size_t)1 << 62};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    errno = 0;
    CHECK(mpk_shm_alloc(huge[i]) == NULL);
    CHECK_EQ(errno, ENOMEM);
  }
  errno = 0;
  CHECK(mpk_shm_calloc(SIZE_MAX / 2, 3) == NULL); /* overflow */
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(mpk_shm_calloc((size_t)1 << 33, (size_t)1 << 33) == NULL);
  CHECK_EQ(errno, ENOMEM);
  errno = 0;
  CHECK(mpk_shm_calloc(0, 8) == NULL); /* zero bytes, as alloc(0) */
  CHECK_EQ(errno, EINVAL);
  errno = 0;
  CHECK(mpk_shm_calloc(8, 0) == NULL);
  CHECK_EQ(errno, EINVAL);
  CHECK_RC(mpk_shm_stats(NULL), MPK_EINVAL);
  /* a failed call changed nothing */
  mpk_shm_stats_t a = stats();
  CHECK(mpk_shm_alloc(SIZE_MAX) == NULL);
  mpk_shm_stats_t b = stats();
  CHECK_EQ(a.allocs, b.allocs);
  CHECK_EQ(a.in_use, b.in_use);
}

/* Alignment, usable size bounds and contents for every small size and a
   spread of large ones. */
static void test_sizes(void) {
  static void *keep[40000 / 7 + 64];
  size_t nkeep = 0;
  for (size_t s = 1; s <= 40000; s += (s < 1100 ? 1 : 7)) {
    void *p = mpk_shm_alloc(s);
    CHECK_MSG(p != NULL, "alloc(%zu)", s);
    CHECK_MSG(((uintptr_t)p & 63) == 0, "alloc(%zu) = %p", s, p);
    CHECK(mpk_shm_contains(p));
    size_t u = mpk_shm_usable_size(p);
    CHECK_MSG(u >= s && u % 64 == 0, "usable(%zu) = %zu", s, u);
    if (s <= 32768) /* size classes waste at most 25 % (or < 64 B) */
      CHECK_MSG(u <= s + 63 || u * 4 <= s * 5 + 256, "usable(%zu)=%zu", s, u);
    else /* large: whole 64 KiB spans */
      CHECK_MSG(u % (64 * KiB) == 0 && u < s + 64 * KiB, "usable %zu", u);
    fill(p, u, (unsigned)s);
    if (s % 8 == 1 && nkeep < sizeof keep / sizeof keep[0])
      keep[nkeep++] = p; /* survives the allocations that follow */
    else {
      CHECK(filled(p, u, (unsigned)s));
      mpk_shm_free(p);
    }
  }
  for (size_t i = 0; i < nkeep; i++) {
    size_t u = mpk_shm_usable_size(keep[i]);
    CHECK(u > 0);
    mpk_shm_free(keep[i]);
  }
  size_t large[] = {32769,   64 * KiB,     64 * KiB + 1,
                    1 * MiB, 3 * MiB + 17, 100 * MiB};
  for (size_t i = 0; i < sizeof large / sizeof large[0]; i++) {
    char *p = mpk_shm_alloc(large[i]);
    CHECK(p != NULL);
    CHECK(((uintptr_t)p & 63) == 0);
    CHECK(mpk_shm_usable_size(p) >= large[i]);
    p[0] = 1;
    p[large[i] - 1] = 2;
    CHECK(p[0] == 1 && p[large[i] - 1] == 2);
    mpk_shm_free(p);
  }
}

/* Exact class sizes are used whole; the next byte goes to the next class. */
static void test_class_edges(void) {
  static const size_t classes[] = {
      64,   128,  192,   256,   320,   384,   448,   512,   640,   768,  896,
      1024, 1280, 1536,  1792,  2048,  2560,  3072,  3584,  4096,  5120, 6144,
      7168, 8192, 10240, 12288, 14336, 16384, 20480, 24576, 28672, 32768};
  for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++) {
    size_t c = classes[i];
    void *p = mpk_shm_alloc(c), *q = mpk_shm_alloc(c + 1);
    CHECK_EQ(mpk_shm_usable_size(p), c);
    size_t next =
        i + 1 < sizeof classes / sizeof classes[0] ? classes[i + 1] : 64 * KiB;
    CHECK_EQ(mpk_shm_usable_size(q), next);
    mpk_shm_free(p);
    mpk_shm_free(q);
  }
}

static void test_contents_survive(void) {
  enum { N = 20000 };
  static void *p[N];
  for (int i = 0; i < N; i++) {
    size_t s = 1 + (size_t)(i * 37) % 3000;
    p[i] = mpk_shm_alloc(s);
    CHECK(p[i] != NULL);
    fill(p[i], s, (unsigned)i);
  }
  for (int i = 0; i < N; i += 2) /* free half, then reuse the holes */
    mpk_shm_free(p[i]);
  for (int i = 0; i < N; i += 2) {
    size_t s = 1 + (size_t)(i * 37) % 3000;
    p[i] = mpk_shm_alloc(s);
    CHECK(p[i] != NULL);
    fill(p[i], s, (unsigned)i);
  }
  for (int i = 0; i < N; i++) {
    size_t s = 1 + (size_t)(i * 37) % 3000;
    CHECK_MSG(filled(p[i], s, (unsigned)i), "block %d corrupted", i);
    for (int j = i + 1; j < i + 4 && j < N; j++)
      CHECK(p[i] != p[j]);
    mpk_shm_free(p[i]);
  }
}

static void test_calloc_zero_after_reuse(void) {
  size_t sizes[] = {1, 64, 100, 1000, 4096, 20000, 32768, 40000, 1 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t s = sizes[i];
    enum { K = 8 };
    void *p[K];
    for (int k = 0; k < K; k++) {
      p[k] = mpk_shm_alloc(s);
      CHECK(p[k] != NULL);
      memset(p[k], 0xAB, mpk_shm_usable_size(p[k]));
    }
    for (int k = 0; k < K; k++)
      mpk_shm_free(p[k]);
    for (int k = 0; k < K; k++) {
      p[k] = mpk_shm_calloc(1, s);
      CHECK(p[k] != NULL);
      CHECK_MSG(all_zero(p[k], mpk_shm_usable_size(p[k])),
                "calloc(%zu) not zeroed", s);
    }
    for (int k = 0; k < K; k++)
      mpk_shm_free(p[k]);
  }
  long *v = mpk_shm_calloc(1000, sizeof(long));
  CHECK(v != NULL && all_zero(v, 1000 * sizeof(long)));
  mpk_shm_free(v);
}

static int a_static;

static void test_contains(void) {
  char *p = mpk_shm_alloc(100);
  CHECK(p != NULL);
  CHECK_EQ(mpk_shm_contains(p), 1);
  CHECK_EQ(mpk_shm_contains(p + 99), 1);
  int local = 0;
  void *m = malloc(64);
  CHECK_EQ(mpk_shm_contains(NULL), 0);
  CHECK_EQ(mpk_shm_contains(&local), 0);
  CHECK_EQ(mpk_shm_contains(&a_static), 0);
  CHECK_EQ(mpk_shm_contains(m), 0);
  CHECK_EQ(mpk_shm_contains((void *)test_contains), 0);
  free(m);
  mpk_shm_free(p);
  CHECK_EQ(mpk_shm_contains(p), 1); /* still in the heap, just free */
}

/* Frees the span table can reject are no-ops; stats do not move. */
static void test_free_invalid(void) {
  char *small = mpk_shm_alloc(128);
  char *large = mpk_shm_alloc(200 * KiB);
  CHECK(small != NULL && large != NULL);
  memset(small, 0x5A, 128);
  large[0] = 7;
  int local = 0;
  void *m = malloc(64);
  mpk_shm_stats_t a = stats();
  mpk_shm_free(NULL);
  mpk_shm_free(&local);
  mpk_shm_free(m);
  mpk_shm_free(small + 1);         /* misaligned */
  mpk_shm_free(small + 64);        /* inside a 128-byte block */
  mpk_shm_free(large + 64);        /* inside a large block */
  mpk_shm_free(large + 64 * KiB);  /* the next span of the same block */
  mpk_shm_free(large + 256 * KiB); /* past its end: never allocated */
  mpk_shm_stats_t b = stats();
  CHECK_EQ(b.frees, a.frees);
  CHECK_EQ(b.in_use, a.in_use);
  CHECK_EQ(mpk_shm_usable_size(small), 128);
  CHECK_EQ(mpk_shm_usable_size(small + 64), 0);
  CHECK_EQ(mpk_shm_usable_size(large + 64 * KiB), 0);
  CHECK_EQ(mpk_shm_usable_size(&local), 0);
  CHECK_EQ(mpk_shm_usable_size(NULL), 0);
  CHECK_EQ(mpk_shm_usable_size(m), 0);
  CHECK(small[127] == 0x5A && large[0] == 7);
  free(m);
  mpk_shm_free(small);
  mpk_shm_free(large);
  b = stats();
  CHECK_EQ(b.frees, a.frees + 2);
  /* a large block freed twice: the second free is seen and ignored */
  CHECK_EQ(mpk_shm_usable_size(large), 0);
  mpk_shm_free(large);
  mpk_shm_stats_t c = stats();
  CHECK_EQ(c.frees, b.frees);
  CHECK_EQ(c.in_use, b.in_use);
}

static void test_stats(void) {
  mpk_shm_stats_t a = stats();
  void *p = mpk_shm_alloc(100); /* class 128 */
  mpk_shm_stats_t b = stats();
  CHECK_EQ(b.allocs, a.allocs + 1);
  CHECK_EQ(b.frees, a.frees);
  CHECK_EQ(b.in_use, a.in_use + 128);
  CHECK(b.committed >= b.in_use);
  CHECK_EQ(b.reserved, a.reserved);
  void *q = mpk_shm_alloc(MiB + 1); /* 17 spans */
  mpk_shm_stats_t c = stats();
  CHECK_EQ(c.allocs, a.allocs + 2);
  CHECK_EQ(c.in_use, a.in_use + 128 + 17 * 64 * KiB);
  CHECK(c.committed >= b.committed + 17 * 64 * KiB);
  mpk_shm_free(q);
  mpk_shm_free(p);
  mpk_shm_stats_t d = stats();
  CHECK_EQ(d.frees, a.frees + 2);
  CHECK_EQ(d.in_use, a.in_use);
  CHECK_EQ(d.committed, b.committed); /* the large run went back */
}

/* A 1 GiB block: its pages go back to the kernel when it is freed. */
static void test_large_returns_memory(void) {
  mpk_shm_stats_t a = stats();
  CHECK(a.reserved >= 4 * GiB); /* the default on a machine this size */
  long rss0 = rss_shmem_kb();
  char *p = mpk_shm_alloc(GiB);
  CHECK(p != NULL);
  CHECK(mpk_shm_usable_size(p) == GiB);
  for (size_t i = 0; i < GiB; i += 4096)
    p[i] = (char)(i >> 12);
  CHECK(p[GiB - 4096] == (char)((GiB - 4096) >> 12));
  long rss1 = rss_shmem_kb();
  CHECK_MSG(rss1 - rss0 >= 1000 * 1024, "rss %ld -> %ld kB", rss0, rss1);
  mpk_shm_stats_t b = stats();
  CHECK_EQ(b.in_use, a.in_use + GiB);
  mpk_shm_free(p);
  long rss2 = rss_shmem_kb();
  CHECK_MSG(rss1 - rss2 >= 1000 * 1024, "rss %ld -> %ld kB", rss1, rss2);
  mpk_shm_stats_t c = stats();
  CHECK_EQ(c.in_use, a.in_use);
  CHECK_EQ(c.committed, a.committed);
  /* reuse: the same spans come back, zeroed */
  char *q = mpk_shm_calloc(1, GiB);
  CHECK(q != NULL);
  for (size_t i = 0; i < GiB; i += 64 * MiB)
    CHECK(q[i] == 0 && q[i + 4095] == 0);
  mpk_shm_free(q);
}

/* LIFO reuse: a freed block is the next one handed out for its class. */
static void test_reuse(void) {
  void *p = mpk_shm_alloc(200);
  mpk_shm_free(p);
  CHECK(mpk_shm_alloc(256) == p);
  void *q = mpk_shm_alloc(256);
  CHECK(q != p);
  mpk_shm_free(q);
  mpk_shm_free(p);
  CHECK(mpk_shm_alloc(193) == p);
  CHECK(mpk_shm_alloc(250) == q);
  mpk_shm_free(p);
  mpk_shm_free(q);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_init);
  CHECK_RUN(test_errors);
  CHECK_RUN(test_sizes);
  CHECK_RUN(test_class_edges);
  CHECK_RUN(test_contents_survive);
  CHECK_RUN(test_calloc_zero_after_reuse);
  CHECK_RUN(test_contains);
  CHECK_RUN(test_free_invalid);
  CHECK_RUN(test_stats);
  CHECK_RUN(test_large_returns_memory);
  CHECK_RUN(test_reuse);
  return check_done();
}
