/* shm.c - the shared heap (see mpk/shm.h).
 *
 * One MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE region per process tree,
 * reserved on first use. Offsets from its base, fixed at creation:
 *
 *   [0, SPAN)                 struct region: identity, the free-list tops of
 *                             the size classes, the span allocator, the
 *                             statistics slots
 *   [table_off, data_off)     the span table: one span_ent per span
 *   [data_off, size)          n_spans spans of 64 KiB each
 *
 * Small blocks (64 B .. 32 KiB, 32 size classes) are carved from slabs (a
 * run of 1..8 spans given to one class for good). Each class keeps its free
 * blocks on a lock-free Treiber stack whose top is one 64-bit word {block
 * index, ABA tag}; the link to the next free block lives in the first four
 * bytes of the free block. A block is named by its offset from the base in
 * 64-byte units (a u32: regions are at most 256 GiB); index 0 is the header,
 * never a block, and means "none". Larger blocks are runs of whole spans.
 *
 * Spans are handed out under one robust mutex. The span table is the truth:
 * an allocated thing is a committed head entry (LARGE with its length, or
 * SMALL with delta 0 whose class gives the slab length); everything else
 * below the bump pointer is free. The size-binned lists of free runs and the
 * FREE head/tail tags are an index over that truth: a holder killed
 * mid-update leaves them torn, and the next holder (MPK_EOWNERDEAD) rebuilds
 * them with one walk of the table (rebuild_locked). Every writer under the
 * lock commits a head entry last when allocating and uncommits it first
 * when freeing, so a kill at any instant leaks at most the run in flight.
 *
 * Pages go back to the kernel with madvise(MADV_REMOVE) (shared anonymous
 * memory is a shmem file: MADV_DONTNEED would keep the pages): a freed
 * large block of 1 MiB or more at once (before it is marked free, so
 * without the lock), and any free run that grows to 1 MiB by merging, or
 * that the bump pointer is lowered onto. Smaller free runs stay resident
 * and are marked dirty in their head entry, so that churn of 64 KiB ..
 * 1 MiB blocks costs no system call. Invariants: spans at or above the
 * bump pointer hold zeros; a free run of TRIM_SPANS or more is clean; a
 * large calloc clears only a dirty (so < 1 MiB) run.
 *
 * Memory handed to a size class stays with it while in use. When the span
 * allocator runs dry, scavenge_class_locked takes each class's free list,
 * returns the slabs that are entirely free to the span allocator, and puts
 * the other blocks back: a heap filled with one size and freed can be used
 * for any other size afterwards.
 */
#include "internal/shm.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/config.h"
#include "internal/rmutex.h"
#include "mpk/error.h"
#include "mpk/shm.h"

_Static_assert(sizeof(size_t) == 8, "the shared heap needs a 64-bit target");

#define SPAN_SHIFT 16
#define SPAN ((size_t)1 << SPAN_SHIFT)
#define UNIT_SHIFT 6 /* blocks are named in 64-byte units */
#define UNITS_PER_SPAN ((uint32_t)(SPAN >> UNIT_SHIFT))
#define NCLASS 32
#define SMALL_MAX ((size_t)32768)
#define SLAB_MAX_SPANS 8
#define NBINS 96
#define NSLOTS 256
#define TRIM_SPANS 16 /* free runs of 1 MiB or more go back to the kernel */
#define NIL UINT32_MAX
#define REGION_MIN ((size_t)4 << 20)   /* smallest MPK_SHM_SIZE honoured */
#define DEFAULT_MIN ((size_t)64 << 20) /* default and fallback floor */
#define DEFAULT_MAX ((size_t)64 << 30)
/* Block indices are u32 counts of 64 bytes from the base: the whole region,
   end included, must stay below 2^38 bytes. */
#define REGION_MAX (((size_t)1 << 38) - SPAN)
#define REGION_MAGIC 0x316d68735f6b706dULL /* "mpk_shm1" */
#define REGION_VERSION 1u

/* ---- layouts in the region ------------------------------------------- */

/* Span table entry kinds (low byte of span_ent.meta). */
enum {
  K_NONE = 0,      /* never used (zero pages) */
  K_FREE = 1,      /* head of a free run; len = run length, class byte =
                      1 when its pages may hold old data (dirty) */
  K_FREE_TAIL = 2, /* last span of a free run of len > 1 */
  K_LARGE = 3,     /* head of a large block: committed; len = spans */
  K_BODY = 4,      /* any other span of a large block */
  K_SMALL = 5      /* a slab span: class, delta = span - slab head */
};

/* meta = kind | class << 8 | delta << 16 | len << 32 */
static inline uint64_t meta_make(unsigned kind, unsigned cls, unsigned delta,
                                 uint32_t len) {
  return (uint64_t)kind | (uint64_t)cls << 8 | (uint64_t)delta << 16 |
         (uint64_t)len << 32;
}
#define META_KIND(m) ((unsigned)((m)&0xff))
#define META_CLASS(m) ((unsigned)((m) >> 8 & 0xff))
#define META_DELTA(m) ((unsigned)((m) >> 16 & 0xff))
#define META_LEN(m) ((uint32_t)((m) >> 32))

typedef struct {
  /* Stored under the span lock (release, so that a lock-free reader that
     sees a committed head also sees the body entries written before it);
     loaded without the lock (relaxed) by free / usable_size, which only
     trust entries that cannot change while the block is live. */
  _Atomic uint64_t meta;
  /* Span lock only. Head of a free run: its bin list links. Head of a slab:
     a block counter and a queue link while scavenge_class_locked runs. */
  uint32_t prev, next;
} span_ent;
_Static_assert(sizeof(span_ent) == 16, "span table entries are 16 bytes");

/* The free-list top of one size class: {block index (low 32 bits), ABA tag
   (high 32)}. Every alloc and free of the class CASes it, so each sits
   alone on a cache line: classes never false-share. The tag grows by one
   on every successful CAS, so a CAS made from a stale read fails (unless
   exactly a multiple of 2^32 CASes happened in between). */
typedef struct {
  _Alignas(64) _Atomic uint64_t top;
} class_head;
_Static_assert(sizeof(class_head) == 64, "one class top per cache line");

/* Statistics of one thread (or, slot 0, of everyone who found no slot of
   their own). A claimed slot has a single writer, which updates it with a
   relaxed load + store (no locked instruction on the fast path); slot 0 is
   shared and uses fetch_add. Readers sum all slots with relaxed loads: a
   racy snapshot, as documented. One slot per cache line so that writers
   never false-share. */
typedef struct {
  _Alignas(64) _Atomic uint64_t owner;  /* pid << 32 | tid; 0 = free */
  _Atomic uint64_t allocs, frees;       /* blocks */
  _Atomic uint64_t bytes_in, bytes_out; /* usable bytes allocated / freed */
} stat_slot;
_Static_assert(sizeof(stat_slot) == 64, "one statistics slot per line");

struct region {
  /* Line 0: identity and layout. Written once by the creator before the
     region is published; read-only afterwards. */
  uint64_t magic;
  uint32_t version;
  uint32_t span_shift;
  uint64_t size;
  uint64_t table_off;
  uint64_t data_off;
  uint32_t n_spans;
  uint32_t n_classes;
  /* (16 bytes of padding: the class tops start on the next line) */
  class_head cls[NCLASS];
  /* The span allocator, guarded by span_lock. It starts a new line so that
     lock traffic does not disturb the class tops; the state it guards
     shares the lock's lines because only the holder touches it. */
  _Alignas(64) mpk__rmutex span_lock;
  uint32_t bump;        /* first never-used span (all spans >= are zero) */
  uint32_t bins[NBINS]; /* free run lists by length (NIL = empty) */
  uint64_t binmap[2];   /* bit b set <=> bins[b] != NIL */
  /* Bytes in slabs and live large runs. Changed under the span lock,
     read without it by mpk_shm_stats: relaxed atomics, a snapshot. */
  _Atomic uint64_t committed;
  /* Times the free index was rebuilt after a holder died (under the span
     lock; relaxed, read by tests). */
  _Atomic uint64_t recoveries;
  stat_slot slots[NSLOTS];
};
_Static_assert(sizeof(struct region) <= SPAN, "the header fits in a span");
_Static_assert(offsetof(struct region, cls) == 64, "class tops on line 1");
_Static_assert(offsetof(struct region, span_lock) % 64 == 0,
               "the span lock starts a line");
_Static_assert(_Alignof(struct region) == 64, "the header is line-aligned");
_Static_assert(NBINS <= 128, "binmap has 128 bits");

/* ---- process-local state (copied into every forked child) ------------- */

/* The layout as seen by this process: written once by init_once before
   g_ready is published (release); read after an acquire load of g_ready. */
static struct {
  char *base;
  size_t size;
  span_ent *tab;
  char *data;
  size_t data_bytes; /* n_spans << SPAN_SHIFT */
  uint32_t n_spans;
  uint32_t first_unit, end_unit; /* block indices of the data area */
} g;
static _Atomic(struct region *) g_ready;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;

/* Size classes in 64-byte units: 64 B .. 512 B by 64, then four steps per
   power of two up to 32 KiB (at most 25 % internal waste). */
static const uint32_t class_units[NCLASS] = {
    1,  2,  3,  4,  5,  6,  7,   8,   10,  12,  14,  16,  20,  24,  28,  32,
    40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512};
static uint32_t slab_spans[NCLASS];  /* spans per slab (waste <= 1/8) */
static uint32_t slab_blocks[NCLASS]; /* blocks per slab */
static uint32_t slab_units[NCLASS];  /* slab_blocks * class_units */
static uint64_t class_magic[NCLASS]; /* ceil(2^64 / units): n % units == 0
                                        <=> n * magic < magic (Lemire) */

/* The class of a small size (1 .. SMALL_MAX): the smallest that fits. */
static inline unsigned size_class(size_t size) {
  uint32_t u = (uint32_t)((size + 63) >> UNIT_SHIFT); /* 1..512 */
  if (u <= 8)
    return u - 1;
  unsigned k = 31u - (unsigned)__builtin_clz(u - 1); /* 2^k < u <= 2^k+1 */
  unsigned sh = k - 2;
  unsigned sub = (u - (1u << k) + (1u << sh) - 1) >> sh; /* 1..4 */
  return 8 + (k - 3) * 4 + sub - 1;
}

static inline size_t class_bytes(unsigned c) {
  return (size_t)class_units[c] << UNIT_SHIFT;
}

static inline char *unit_ptr(uint32_t u) {
  return g.base + ((size_t)u << UNIT_SHIFT);
}
static inline uint32_t ptr_unit(const char *p) {
  return (uint32_t)((size_t)(p - g.base) >> UNIT_SHIFT);
}
static inline _Atomic uint32_t *unit_link(uint32_t u) {
  return (_Atomic uint32_t *)(void *)unit_ptr(u);
}
static inline bool unit_ok(uint32_t u) {
  return u >= g.first_unit && u < g.end_unit;
}
static inline char *span_ptr(uint32_t s) {
  return g.data + ((size_t)s << SPAN_SHIFT);
}
static inline uint64_t meta_get(uint32_t s) {
  return atomic_load_explicit(&g.tab[s].meta, memory_order_relaxed);
}
static inline void meta_set(uint32_t s, uint64_t m) {
  atomic_store_explicit(&g.tab[s].meta, m, memory_order_release);
}

/* ---- the lock-free free lists ---------------------------------------- */

#define TOP(unit, tag) ((uint64_t)(uint32_t)(tag) << 32 | (uint32_t)(unit))
#define TOP_TAG(t) ((uint32_t)((t) >> 32))

/* Read the link of a block that may no longer be free: another thread or
   process may have popped it and be writing to it (plain stores) while we
   read. The region is always mapped, so the read is harmless, and a value
   read from a block that left the list is never used: the CAS that would
   publish it fails on the tag. ThreadSanitizer cannot know that, so under
   TSan this one read is done uninstrumented. */
#if defined(__SANITIZE_THREAD__)
#define MPK_SHM_RACY_READ 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPK_SHM_RACY_READ 1
#endif
#endif
#ifdef MPK_SHM_RACY_READ
__attribute__((no_sanitize("thread"), noinline)) static uint32_t
read_link(uint32_t u) {
  return *(volatile uint32_t *)(void *)unit_ptr(u);
}
#else
static inline uint32_t read_link(uint32_t u) {
  return atomic_load_explicit(unit_link(u), memory_order_relaxed);
}
#endif

/* Pop one block (lock-free). The acquire load of the top pairs with the
   release CAS of the push that put the block there, so its link (and the
   freeing owner's writes) are visible. NULL when the list is empty. */
static inline void *class_pop(class_head *h) {
  uint64_t old = atomic_load_explicit(&h->top, memory_order_acquire);
  for (;;) {
    uint32_t u = (uint32_t)old;
    if (u == 0)
      return NULL;
    uint32_t next = read_link(u);
    if (next != 0 && !unit_ok(next)) {
      /* Either u was popped and reused under us (the top has moved on), or
         someone wrote into a freed block. In the second case drop the
         list: leaking its blocks beats handing out wild pointers. */
      uint64_t now = atomic_load_explicit(&h->top, memory_order_acquire);
      if (now == old && atomic_compare_exchange_strong_explicit(
                            &h->top, &old, TOP(0, TOP_TAG(old) + 1),
                            memory_order_acquire, memory_order_acquire))
        return NULL;
      old = atomic_load_explicit(&h->top, memory_order_acquire);
      continue;
    }
    if (atomic_compare_exchange_weak_explicit(
            &h->top, &old, TOP(next, TOP_TAG(old) + 1), memory_order_acquire,
            memory_order_acquire))
      return unit_ptr(u);
  }
}

/* Push the chain first..last (already linked; last's link is set here)
   with one CAS. Release: the blocks' contents and links are published with
   the new top. */
static void class_push_chain(class_head *h, uint32_t first, uint32_t last) {
  uint64_t old = atomic_load_explicit(&h->top, memory_order_relaxed);
  for (;;) {
    atomic_store_explicit(unit_link(last), (uint32_t)old, memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(
            &h->top, &old, TOP(first, TOP_TAG(old) + 1), memory_order_release,
            memory_order_relaxed))
      return;
  }
}

/* ---- statistics ------------------------------------------------------- */

/* initial-exec: no __tls_get_addr call on the fast path, also when libmpk
   is a shared library (one pointer of static TLS). */
static _Thread_local stat_slot *my_slot
    __attribute__((tls_model("initial-exec")));
static pthread_key_t slot_key;

static void slot_release(void *p) {
  atomic_store_explicit(&((stat_slot *)p)->owner, 0, memory_order_release);
  my_slot = NULL;
}

/* In the child of a fork: the slot belongs to the parent's thread. */
static void slot_forget(void) {
  my_slot = NULL;
  pthread_setspecific(slot_key, NULL);
}

static bool owner_gone(uint64_t o) {
  pid_t pid = (pid_t)(o >> 32), tid = (pid_t)(uint32_t)o;
  return syscall(SYS_tgkill, pid, tid, 0) == -1 && errno == ESRCH;
}

/* Claim a slot for the calling thread: a free one, else one whose owner
   thread no longer exists (killed processes, exited main threads), else
   the shared slot 0. Acquire on the claim: we continue the previous
   owner's counters. */
__attribute__((noinline)) static stat_slot *slot_claim(struct region *r) {
  int saved = errno;
  uint64_t me = (uint64_t)(uint32_t)getpid() << 32 | (uint32_t)gettid();
  stat_slot *got = NULL;
  for (int pass = 0; pass < 2 && got == NULL; pass++) {
    for (int i = 1; i < NSLOTS; i++) {
      stat_slot *s = &r->slots[i];
      uint64_t o = atomic_load_explicit(&s->owner, memory_order_relaxed);
      if (pass == 0 ? o != 0 : (o == 0 || !owner_gone(o)))
        continue;
      if (atomic_compare_exchange_strong_explicit(
              &s->owner, &o, me, memory_order_acquire, memory_order_relaxed)) {
        got = s;
        break;
      }
    }
  }
  if (got != NULL)
    pthread_setspecific(slot_key, got);
  else
    got = &r->slots[0];
  my_slot = got;
  errno = saved;
  return got;
}

static inline void stat_add(struct region *r, bool alloc, uint64_t bytes) {
  stat_slot *s = my_slot;
  if (__builtin_expect(s == NULL, 0))
    s = slot_claim(r);
  _Atomic uint64_t *n = alloc ? &s->allocs : &s->frees;
  _Atomic uint64_t *b = alloc ? &s->bytes_in : &s->bytes_out;
  if (__builtin_expect(s == &r->slots[0], 0)) {
    atomic_fetch_add_explicit(n, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(b, bytes, memory_order_relaxed);
  } else {
    atomic_store_explicit(n, atomic_load_explicit(n, memory_order_relaxed) + 1,
                          memory_order_relaxed);
    atomic_store_explicit(b,
                          atomic_load_explicit(b, memory_order_relaxed) + bytes,
                          memory_order_relaxed);
  }
}

/* ---- the region ------------------------------------------------------- */

static void classes_init(void) {
  for (unsigned c = 0; c < NCLASS; c++) {
    size_t bytes = class_bytes(c);
    unsigned k = 1;
    while (k < SLAB_MAX_SPANS && (k * SPAN) % bytes > k * SPAN / 8)
      k++;
    slab_spans[c] = k;
    slab_blocks[c] = (uint32_t)(k * SPAN / bytes);
    slab_units[c] = slab_blocks[c] * class_units[c];
    class_magic[c] = UINT64_MAX / class_units[c] + 1;
  }
}

static size_t default_size(void) {
  long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
  size_t half = pages > 0 && psz > 0 ? (size_t)pages / 2 * (size_t)psz : 0;
  if (half < DEFAULT_MIN)
    half = DEFAULT_MIN;
  return half > DEFAULT_MAX ? DEFAULT_MAX : half;
}

/* Lay out a fresh (zero) mapping. 0 or a negative code. */
static int region_format(char *base, size_t size) {
  size_t n = (size - SPAN) / (SPAN + sizeof(span_ent));
  size_t table = 0;
  for (; n > 0; n--) {
    table = (n * sizeof(span_ent) + SPAN - 1) & ~(SPAN - 1);
    if (SPAN + table + n * SPAN <= size)
      break;
  }
  if (n < 2 * SLAB_MAX_SPANS)
    return MPK_ENOMEM;
  struct region *r = (struct region *)(void *)base;
  r->version = REGION_VERSION;
  r->span_shift = SPAN_SHIFT;
  r->size = size;
  r->table_off = SPAN;
  r->data_off = SPAN + table;
  r->n_spans = (uint32_t)n;
  r->n_classes = NCLASS;
  for (int b = 0; b < NBINS; b++)
    r->bins[b] = NIL;
  int rc = mpk__rmutex_init(&r->span_lock);
  if (rc != MPK_OK)
    return rc;
  r->magic = REGION_MAGIC;
  return MPK_OK;
}

static void init_once(void) {
  size_t want = mpk__config_get()->shm_size, floor = DEFAULT_MIN;
  if (want == 0) {
    want = default_size();
  } else {
    want = want < REGION_MIN ? REGION_MIN : want;
    want = want > REGION_MAX ? REGION_MAX : want;
    floor = want < floor ? want : floor;
  }
  want &= ~(SPAN - 1);
  floor &= ~(SPAN - 1);
  char *base = MAP_FAILED;
  for (size_t sz = want;; sz /= 2) {
    sz = (sz < floor ? floor : sz) & ~(SPAN - 1);
    base = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base != MAP_FAILED) {
      want = sz;
      break;
    }
    if (sz <= floor)
      return;
  }
  if (region_format(base, want) != MPK_OK ||
      pthread_key_create(&slot_key, slot_release) != 0) {
    munmap(base, want);
    return;
  }
  pthread_atfork(NULL, NULL, slot_forget);
  classes_init();
  struct region *r = (struct region *)(void *)base;
  g.base = base;
  g.size = want;
  g.tab = (span_ent *)(void *)(base + r->table_off);
  g.data = base + r->data_off;
  g.n_spans = r->n_spans;
  g.data_bytes = (size_t)r->n_spans << SPAN_SHIFT;
  g.first_unit = (uint32_t)(r->data_off >> UNIT_SHIFT);
  g.end_unit = g.first_unit + r->n_spans * UNITS_PER_SPAN;
  atomic_store_explicit(&g_ready, r, memory_order_release);
}

/* The region, reserving it on first use; NULL if it cannot be reserved. */
static inline struct region *region(void) {
  struct region *r = atomic_load_explicit(&g_ready, memory_order_acquire);
  if (__builtin_expect(r == NULL, 0)) {
    pthread_once(&g_once, init_once);
    r = atomic_load_explicit(&g_ready, memory_order_acquire);
  }
  return r;
}

int mpk__shm_init(void) {
  return region() != NULL ? MPK_OK : MPK_ENOMEM;
}

/* ---- the span allocator (span lock) ----------------------------------- */

static inline unsigned bin_of(uint32_t len) {
  return len < 64 ? len : 64 + (31u - (unsigned)__builtin_clz(len)) - 6;
}

/* Index the free run [s, s+len). `dirty`: its pages may hold old data
   (kept in the head entry's class byte). */
static void bin_insert_locked(struct region *r, uint32_t s, uint32_t len,
                              bool dirty) {
  meta_set(s, meta_make(K_FREE, dirty, 0, len));
  if (len > 1)
    meta_set(s + len - 1, meta_make(K_FREE_TAIL, 0, 0, len));
  unsigned b = bin_of(len);
  g.tab[s].prev = NIL;
  g.tab[s].next = r->bins[b];
  if (r->bins[b] != NIL)
    g.tab[r->bins[b]].prev = s;
  r->bins[b] = s;
  r->binmap[b >> 6] |= 1ull << (b & 63);
}

static void bin_remove_locked(struct region *r, uint32_t s, uint32_t len) {
  unsigned b = bin_of(len);
  uint32_t p = g.tab[s].prev, n = g.tab[s].next;
  if (p != NIL)
    g.tab[p].next = n;
  else
    r->bins[b] = n;
  if (n != NIL)
    g.tab[n].prev = p;
  if (r->bins[b] == NIL)
    r->binmap[b >> 6] &= ~(1ull << (b & 63));
}

/* First non-empty bin >= b, or NBINS. */
static unsigned bin_next(const struct region *r, unsigned b) {
  for (unsigned w = b >> 6; w < 2; w++) {
    uint64_t bits = r->binmap[w];
    if (w == b >> 6)
      bits &= ~0ull << (b & 63);
    if (bits)
      return w * 64 + (unsigned)__builtin_ctzll(bits);
  }
  return NBINS;
}

/* Zero a run's pages by giving them back to the kernel. */
static void run_zero(uint32_t s, uint32_t n) {
  size_t len = (size_t)n << SPAN_SHIFT;
  int saved = errno;
  if (madvise(span_ptr(s), len, MADV_REMOVE) != 0)
    memset(span_ptr(s), 0, len);
  errno = saved;
}

/* Take a run of n spans: the best-fitting free run (split), else fresh
   spans from the bump pointer. NIL when nothing fits; *dirty tells whether
   its pages may hold old data. The run's entries are not written: the
   caller commits them. */
static uint32_t run_take_locked(struct region *r, uint32_t n, bool *dirty) {
  unsigned b = bin_of(n);
  uint32_t s = NIL;
  if (b >= 64) { /* a log-sized bin: first fit inside it */
    for (uint32_t x = r->bins[b]; x != NIL; x = g.tab[x].next)
      if (META_LEN(meta_get(x)) >= n) {
        s = x;
        break;
      }
  } else if (r->bins[b] != NIL) {
    s = r->bins[b]; /* exact length */
  }
  if (s == NIL) { /* any run of a larger bin fits */
    unsigned b2 = bin_next(r, b + 1);
    if (b2 < NBINS)
      s = r->bins[b2];
  }
  if (s != NIL) {
    uint64_t m = meta_get(s);
    uint32_t len = META_LEN(m);
    *dirty = META_CLASS(m) != 0;
    bin_remove_locked(r, s, len);
    if (len > n)
      bin_insert_locked(r, s + n, len - n, *dirty);
    return s;
  }
  if (n <= g.n_spans - r->bump) {
    *dirty = false;
    s = r->bump;
    r->bump += n;
    return s;
  }
  return NIL;
}

/* A free run that is in no list yet: lower the bump pointer onto it if it
   ends there, else index it. Either way, dirty pages of a run of
   TRIM_SPANS or more (or below the bump pointer) go back to the kernel. */
static void free_run_locked(struct region *r, uint32_t s, uint32_t len,
                            bool dirty) {
  bool at_bump = s + len == r->bump;
  if (dirty && (at_bump || len >= TRIM_SPANS)) {
    run_zero(s, len);
    dirty = false;
  }
  if (at_bump)
    r->bump = s;
  else
    bin_insert_locked(r, s, len, dirty);
}

/* Give back the run [s, s+n) whose head is already uncommitted: merge it
   with its free neighbours and index the result. */
static void run_release_locked(struct region *r, uint32_t s, uint32_t n,
                               bool dirty) {
  uint32_t start = s, len = n;
  if (s > 0) {
    uint64_t lm = meta_get(s - 1);
    uint32_t l = META_LEN(lm);
    if ((META_KIND(lm) == K_FREE_TAIL || (META_KIND(lm) == K_FREE && l == 1)) &&
        l <= s) {
      uint64_t hm = meta_get(s - l);
      if (META_KIND(hm) == K_FREE && META_LEN(hm) == l) {
        bin_remove_locked(r, s - l, l);
        dirty |= META_CLASS(hm) != 0;
        start = s - l;
        len += l;
      }
    }
  }
  uint32_t e = s + n;
  if (e < r->bump) {
    uint64_t rm = meta_get(e);
    if (META_KIND(rm) == K_FREE) {
      bin_remove_locked(r, e, META_LEN(rm));
      dirty |= META_CLASS(rm) != 0;
      len += META_LEN(rm);
    }
  }
  free_run_locked(r, start, len, dirty);
}

/* After a holder died: rebuild the free index from the committed heads.
   Whether a free span is clean is not recorded in the truth, so every
   rebuilt run counts as dirty. */
static void rebuild_locked(struct region *r) {
  for (int b = 0; b < NBINS; b++)
    r->bins[b] = NIL;
  r->binmap[0] = r->binmap[1] = 0;
  if (r->bump > g.n_spans)
    r->bump = g.n_spans;
  uint32_t bump = r->bump, s = 0, run = NIL;
  uint64_t used = 0;
  while (s < bump) {
    uint64_t m = meta_get(s);
    uint32_t len = 0;
    if (META_KIND(m) == K_LARGE)
      len = META_LEN(m);
    else if (META_KIND(m) == K_SMALL && META_DELTA(m) == 0 &&
             META_CLASS(m) < NCLASS)
      len = slab_spans[META_CLASS(m)];
    if (len == 0 || len > bump - s) {
      if (run == NIL)
        run = s;
      s++;
      continue;
    }
    if (run != NIL)
      free_run_locked(r, run, s - run, true);
    run = NIL;
    used += len;
    s += len;
  }
  if (run != NIL)
    free_run_locked(r, run, bump - run, true); /* lowers the bump */
  atomic_store_explicit(&r->committed, used << SPAN_SHIFT,
                        memory_order_relaxed);
  atomic_fetch_add_explicit(&r->recoveries, 1, memory_order_relaxed);
}

/* MPK_OK with the span lock held, or a negative code: MPK_EDEADLK when
   the calling thread holds it already (mpk_shm_* called from a signal
   handler that interrupted it). A dead holder's torn index is rebuilt. */
static int spans_lock(struct region *r) {
  int rc = mpk__rmutex_lock_forever(&r->span_lock);
  if (rc == MPK_EOWNERDEAD) {
    rebuild_locked(r);
    rc = MPK_OK;
  }
  return rc;
}

static void spans_unlock(struct region *r) {
  mpk__rmutex_unlock(&r->span_lock);
}

static void commit_large_locked(struct region *r, uint32_t s, uint32_t n) {
  for (uint32_t i = 1; i < n; i++)
    meta_set(s + i, meta_make(K_BODY, 0, 0, 0));
  meta_set(s, meta_make(K_LARGE, 0, 0, n));
  atomic_fetch_add_explicit(&r->committed, (uint64_t)n << SPAN_SHIFT,
                            memory_order_relaxed);
}

static void commit_slab_locked(struct region *r, uint32_t s, unsigned c) {
  for (uint32_t d = 1; d < slab_spans[c]; d++)
    meta_set(s + d, meta_make(K_SMALL, c, d, 0));
  meta_set(s, meta_make(K_SMALL, c, 0, 0));
  atomic_fetch_add_explicit(&r->committed,
                            (uint64_t)slab_spans[c] << SPAN_SHIFT,
                            memory_order_relaxed);
}

/* Whether unit `off` of the data area, in span s whose entry m is SMALL,
   is the start of a block of a committed slab. Lock-free: the entries of a
   slab with a live block cannot change. */
static inline bool small_ok(uint32_t s, uint64_t m, uint32_t off) {
  unsigned c = META_CLASS(m), d = META_DELTA(m);
  if (c >= NCLASS)
    return false;
  if (d != 0 && (d >= slab_spans[c] || d > s ||
                 meta_get(s - d) != meta_make(K_SMALL, c, 0, 0)))
    return false;
  uint32_t in = off - (s - d) * UNITS_PER_SPAN; /* units into the slab */
  return (class_units[c] == 1 || in * class_magic[c] < class_magic[c]) &&
         in < slab_units[c];
}

/* The slab head of block unit u of class c, or NIL if u is not the start
   of a block of a committed slab of that class. Lock-free (slab entries
   of a live block cannot change). */
static uint32_t slab_of(uint32_t u, unsigned c) {
  if (!unit_ok(u))
    return NIL;
  uint32_t off = u - g.first_unit, s = off / UNITS_PER_SPAN;
  uint64_t m = meta_get(s);
  if (META_KIND(m) != K_SMALL || META_CLASS(m) != c || !small_ok(s, m, off))
    return NIL;
  return s - META_DELTA(m);
}

/* Take the whole free list of class c, give every slab whose blocks are
   all on it back to the span allocator, and put the other blocks back.
   A holder killed here leaks what it took of this one class. */
static void scavenge_class_locked(struct region *r, unsigned c) {
  class_head *h = &r->cls[c];
  uint64_t old = atomic_load_explicit(&h->top, memory_order_acquire);
  do {
    if ((uint32_t)old == 0)
      return;
  } while (!atomic_compare_exchange_weak_explicit(
      &h->top, &old, TOP(0, TOP_TAG(old) + 1), memory_order_acquire,
      memory_order_acquire));
  uint32_t first = (uint32_t)old, nb = slab_blocks[c];
  /* Bound every walk: a double free can make the chain a cycle. */
  uint64_t max = (uint64_t)g.n_spans * SPAN / class_bytes(c) + 1, n = 0;
  for (uint32_t u = first; u != 0 && n < max; n++) {
    uint32_t s = slab_of(u, c);
    if (s == NIL)
      break; /* a corrupt link: the rest of the chain is lost */
    g.tab[s].prev = 0;
    u = atomic_load_explicit(unit_link(u), memory_order_relaxed);
  }
  uint32_t u = first;
  for (uint64_t i = 0; i < n; i++) {
    g.tab[slab_of(u, c)].prev++;
    u = atomic_load_explicit(unit_link(u), memory_order_relaxed);
  }
  uint32_t keep_first = 0, keep_last = 0, queue = NIL;
  u = first;
  for (uint64_t i = 0; i < n; i++) {
    uint32_t next = atomic_load_explicit(unit_link(u), memory_order_relaxed);
    uint32_t s = slab_of(u, c);
    if (g.tab[s].prev == nb) { /* all free: queue the slab once */
      g.tab[s].prev = NIL;
      g.tab[s].next = queue;
      queue = s;
    } else if (g.tab[s].prev != NIL) {
      if (keep_last != 0)
        atomic_store_explicit(unit_link(keep_last), u, memory_order_relaxed);
      else
        keep_first = u;
      keep_last = u;
    }
    u = next;
  }
  if (keep_first != 0)
    class_push_chain(h, keep_first, keep_last);
  while (queue != NIL) {
    uint32_t s = queue, k = slab_spans[c];
    queue = g.tab[s].next;
    meta_set(s, meta_make(K_FREE, 1, 0, k)); /* uncommit */
    run_release_locked(r, s, k, true);
    atomic_fetch_sub_explicit(&r->committed, (uint64_t)k << SPAN_SHIFT,
                              memory_order_relaxed);
  }
}

static uint32_t run_take_or_scavenge_locked(struct region *r, uint32_t n,
                                            bool *dirty) {
  uint32_t s = run_take_locked(r, n, dirty);
  if (s == NIL) {
    for (unsigned c = 0; c < NCLASS; c++)
      scavenge_class_locked(r, c);
    s = run_take_locked(r, n, dirty);
  }
  return s;
}

/* ---- allocation --------------------------------------------------------- */

/* The class list is empty: carve a fresh slab, return its first block and
   push the others with one CAS. A process killed between the commit and
   the push leaks this slab. */
__attribute__((noinline)) static void *slab_refill(struct region *r, unsigned c,
                                                   int *err) {
  int rc = spans_lock(r);
  if (rc != MPK_OK) {
    *err = -rc;
    return NULL;
  }
  bool dirty; /* slabs do not care: carving writes every link */
  uint32_t s = run_take_or_scavenge_locked(r, slab_spans[c], &dirty);
  if (s != NIL)
    commit_slab_locked(r, s, c);
  spans_unlock(r);
  if (s == NIL) /* the scavenge may have put blocks back on our list */
    return class_pop(&r->cls[c]);
  uint32_t first = ptr_unit(span_ptr(s)), step = class_units[c];
  uint32_t nb = slab_blocks[c];
  if (nb > 1) {
    for (uint32_t i = 1; i + 1 < nb; i++)
      atomic_store_explicit(unit_link(first + i * step), first + (i + 1) * step,
                            memory_order_relaxed);
    class_push_chain(&r->cls[c], first + step, first + (nb - 1) * step);
  }
  return unit_ptr(first);
}

__attribute__((noinline)) static void *
large_alloc(struct region *r, size_t size, bool zero, int *err) {
  if (size > ((size_t)g.n_spans << SPAN_SHIFT))
    return NULL;
  uint32_t n = (uint32_t)((size + SPAN - 1) >> SPAN_SHIFT);
  int rc = spans_lock(r);
  if (rc != MPK_OK) {
    *err = -rc;
    return NULL;
  }
  bool dirty = false;
  uint32_t s = run_take_or_scavenge_locked(r, n, &dirty);
  if (s != NIL)
    commit_large_locked(r, s, n);
  spans_unlock(r);
  if (s == NIL)
    return NULL;
  if (zero && dirty) /* dirty runs are shorter than TRIM_SPANS */
    memset(span_ptr(s), 0, (size_t)n << SPAN_SHIFT);
  stat_add(r, true, (uint64_t)n << SPAN_SHIFT);
  return span_ptr(s);
}

static inline __attribute__((always_inline)) void *shm_alloc(size_t size,
                                                             bool zero) {
  if (size == 0) {
    errno = EINVAL;
    return NULL;
  }
  struct region *r = region();
  if (__builtin_expect(r == NULL, 0)) {
    errno = ENOMEM;
    return NULL;
  }
  int err = ENOMEM;
  void *p;
  if (size <= SMALL_MAX) {
    unsigned c = size_class(size);
    p = class_pop(&r->cls[c]);
    if (__builtin_expect(p == NULL, 0))
      p = slab_refill(r, c, &err);
    if (__builtin_expect(p != NULL, 1)) {
      stat_add(r, true, class_bytes(c));
      if (zero) /* recycled blocks hold old data, fresh ones a link */
        memset(p, 0, class_bytes(c));
    }
  } else {
    p = large_alloc(r, size, zero, &err);
  }
  if (p == NULL)
    errno = err;
  return p;
}

void *mpk_shm_alloc(size_t size) {
  return shm_alloc(size, false);
}

void *mpk_shm_calloc(size_t n, size_t size) {
  if (n != 0 && size > SIZE_MAX / n) {
    errno = ENOMEM;
    return NULL;
  }
  return shm_alloc(n * size, true);
}

/* ---- free --------------------------------------------------------------- */

/* Free the large block at span s whose committed head entry is m. */
__attribute__((noinline)) static void large_free(struct region *r, uint32_t s,
                                                 uint64_t m) {
  uint32_t n = META_LEN(m);
  int saved = errno;
  bool dirty = n < TRIM_SPANS;
  if (!dirty) /* still ours: no lock needed for this */
    run_zero(s, n);
  if (spans_lock(r) != MPK_OK) {
    errno = saved;
    return;
  }
  bool live = meta_get(s) == m; /* else a racing double free won */
  if (live) {
    meta_set(s, meta_make(K_FREE, dirty, 0, n)); /* uncommit first */
    run_release_locked(r, s, n, dirty);
    atomic_fetch_sub_explicit(&r->committed, (uint64_t)n << SPAN_SHIFT,
                              memory_order_relaxed);
  }
  spans_unlock(r);
  if (live)
    stat_add(r, false, (uint64_t)n << SPAN_SHIFT);
  errno = saved;
}

void mpk_shm_free(void *p) {
  struct region *r = atomic_load_explicit(&g_ready, memory_order_acquire);
  if (r == NULL)
    return;
  size_t off = (size_t)((uintptr_t)p - (uintptr_t)g.data);
  if (off >= g.data_bytes || (off & ((1u << UNIT_SHIFT) - 1)) != 0)
    return; /* outside the data area (below it wraps), or misaligned */
  uint32_t s = (uint32_t)(off >> SPAN_SHIFT);
  uint64_t m = meta_get(s);
  if (__builtin_expect(META_KIND(m) == K_SMALL, 1)) {
    uint32_t u = (uint32_t)(off >> UNIT_SHIFT);
    if (!small_ok(s, m, u))
      return;
    unsigned c = META_CLASS(m);
    class_push_chain(&r->cls[c], g.first_unit + u, g.first_unit + u);
    stat_add(r, false, class_bytes(c));
  } else if (META_KIND(m) == K_LARGE && (off & (SPAN - 1)) == 0) {
    large_free(r, s, m);
  }
}

/* ---- queries ------------------------------------------------------------ */

int mpk_shm_contains(const void *p) {
  if (atomic_load_explicit(&g_ready, memory_order_acquire) == NULL)
    return 0;
  return (uintptr_t)p - (uintptr_t)g.base < g.size;
}

size_t mpk_shm_usable_size(const void *p) {
  if (atomic_load_explicit(&g_ready, memory_order_acquire) == NULL)
    return 0;
  size_t off = (size_t)((uintptr_t)p - (uintptr_t)g.data);
  if (off >= g.data_bytes || (off & ((1u << UNIT_SHIFT) - 1)) != 0)
    return 0;
  uint32_t s = (uint32_t)(off >> SPAN_SHIFT);
  uint64_t m = meta_get(s);
  if (META_KIND(m) == K_SMALL && small_ok(s, m, (uint32_t)(off >> UNIT_SHIFT)))
    return class_bytes(META_CLASS(m));
  if (META_KIND(m) == K_LARGE && (off & (SPAN - 1)) == 0)
    return (size_t)META_LEN(m) << SPAN_SHIFT;
  return 0;
}

int mpk_shm_stats(mpk_shm_stats_t *st) {
  if (st == NULL)
    return MPK_EINVAL;
  memset(st, 0, sizeof *st);
  struct region *r = region();
  if (r == NULL)
    return MPK_ENOMEM;
  uint64_t in = 0, out = 0, allocs = 0, frees = 0;
  for (int i = 0; i < NSLOTS; i++) {
    stat_slot *s = &r->slots[i];
    allocs += atomic_load_explicit(&s->allocs, memory_order_relaxed);
    frees += atomic_load_explicit(&s->frees, memory_order_relaxed);
    in += atomic_load_explicit(&s->bytes_in, memory_order_relaxed);
    out += atomic_load_explicit(&s->bytes_out, memory_order_relaxed);
  }
  st->reserved = g.size;
  st->committed =
      (size_t)atomic_load_explicit(&r->committed, memory_order_relaxed);
  st->in_use = in > out ? (size_t)(in - out) : 0; /* slots read at once */
  st->allocs = (size_t)allocs;
  st->frees = (size_t)frees;
  return MPK_OK;
}

/* ---- test hooks (internal/shm.h) -------------------------------------- */

unsigned long mpk__shm_recoveries(void) {
  struct region *r = atomic_load_explicit(&g_ready, memory_order_acquire);
  return r == NULL ? 0
                   : (unsigned long)atomic_load_explicit(&r->recoveries,
                                                         memory_order_relaxed);
}

int mpk__shm_test_tear_and_hold(uint32_t spans) {
  struct region *r = region();
  if (r == NULL)
    return MPK_ENOMEM;
  int rc = spans_lock(r);
  if (rc != MPK_OK)
    return rc;
  if (spans > g.n_spans - r->bump) {
    spans_unlock(r);
    return MPK_EINVAL;
  }
  /* What a holder killed inside run_take_locked leaves behind: spans taken
     from the bump pointer but never committed, and a half-edited index. */
  r->bump += spans;
  for (int b = 0; b < NBINS; b++)
    r->bins[b] = NIL;
  r->binmap[0] = r->binmap[1] = 0;
  return MPK_OK;
}
