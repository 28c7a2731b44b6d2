/* shm.c - the shared heap (see mpk/shm.h).
 *
 * One MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE region per process tree,
 * reserved on first use. Offsets from its base, fixed at creation:
 *
 *   [0, 64 KiB)               struct mpk__shm_region: identity, the
 *                             free-list tops of the size classes, the span
 *                             allocator, the statistics slots
 *   [table_off, data_off)     the span table: one mpk__span_ent per span
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
 * them with one walk of the table (shm_span.c). Every writer under the
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
 * bump pointer hold zeros; a free run of MPK__TRIM_SPANS or more is clean; a
 * large calloc clears only a dirty (so < 1 MiB) run.
 *
 * Memory handed to a size class stays with it while in use. When the span
 * allocator runs dry, scavenge_class_locked takes each class's free list,
 * returns the slabs that are entirely free to the span allocator, and puts
 * the other blocks back: a heap filled with one size and freed can be used
 * for any other size afterwards. A scavenge walks every free block under
 * the span lock and briefly empties the lists, so it runs only if a small
 * block was freed since the last one (the region's `freed` flag): once the
 * heap is full, failing allocations cost a lock round trip, not a walk.
 * The flag is sequentially consistent because two threads race on it and
 * on a class top in opposite orders: a free pushes (CAS on the top), then
 * reads the flag and sets it if clear; a scavenge clears the flag
 * (exchange), then takes each top (CAS). In the single order of those
 * seq_cst operations, a push that a scavenge's take did not see comes
 * after that take, so after the clear, and the free's read then sees the
 * clear and sets the flag again: a freed block is never left behind
 * without a flag to fetch it. (On x86 the CASes are locked instructions
 * either way and the load a plain one: the fast path costs nothing more.)
 *
 * Thread caches. Each thread keeps up to ~4 KiB of freed blocks per class
 * for the classes up to 1 KiB in a private LIFO (process memory, linked
 * through the blocks like the shared lists), so an alloc / free pair of one
 * thread touches no shared word at all. A free into a full cache first
 * pushes the whole cache to the shared list (one CAS); an alloc from an
 * empty cache pops the shared list. Caches go back to the shared lists when
 * a thread exits, at exit() and in mpk__child_exit(); a forked child starts
 * with an empty cache (the parent's thread still owns the blocks). A
 * SIGKILLed process leaks what its threads' caches held. A `busy` flag
 * makes a signal handler that interrupts a cache operation of its own
 * thread bypass the cache.
 *
 * Files: this one has the size classes, the free lists, the statistics and
 * the public calls; shm_span.c has the span allocator (span table, free
 * runs, bump pointer, repair); internal/shm_span.h the shared layout.
 */
#include "internal/shm.h"
#include "internal/shm_span.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal/config.h"
#include "internal/error.h"
#include "internal/robust.h"
#include "mpk/error.h"
#include "mpk/shm.h"

_Static_assert(sizeof(size_t) == 8, "the shared heap needs a 64-bit target");

#define UNIT_SHIFT 6 /* blocks are named in 64-byte units */
#define UNITS_PER_SPAN ((uint32_t)(MPK__SPAN >> UNIT_SHIFT))
#define SMALL_MAX ((size_t)32768)
#define REGION_MIN ((size_t)4 << 20)   /* smallest MPK_SHM_SIZE honoured */
#define DEFAULT_MIN ((size_t)64 << 20) /* default and fallback floor */
#define DEFAULT_MAX ((size_t)64 << 30)
/* Block indices are u32 counts of 64 bytes from the base: the whole region,
   end included, must stay below 2^38 bytes. */
#define REGION_MAX (((size_t)1 << 38) - MPK__SPAN)
#define REGION_MAGIC 0x316d68735f6b706dULL /* "mpk_shm1" */
#define REGION_VERSION                                                         \
  3u /* 2: the `freed` line; 3: span_lock is an                                \
         mpk__rmutex futex word, not a pthread mutex */

/* ---- process-local state (copied into every forked child) ------------- */

mpk__shm_layout mpk__shm_g;    /* (internal/shm_span.h) */
mpk__shm_area_t mpk__shm_area; /* (internal/shm.h) */
static _Atomic(struct mpk__shm_region *) g_ready;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
/* Why the region could not be set up (read after g_once): MPK_ENOMEM, or
   MPK_ENOSYS where robust locks are unusable (internal/robust.h). */
static int g_init_rc = MPK_ENOMEM;
static char g_init_msg[MPK_ERRMSG_MAX] = "the shared heap could not be mapped";

/* Size classes in 64-byte units: 64 B .. 512 B by 64, then four steps per
   power of two up to 32 KiB (at most 25 % internal waste). */
static const uint32_t class_units[MPK__NCLASS] = {
    1,  2,  3,  4,  5,  6,  7,   8,   10,  12,  14,  16,  20,  24,  28,  32,
    40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384, 448, 512};
uint32_t mpk__shm_slab_spans[MPK__NCLASS]; /* (internal/shm_span.h) */
static uint32_t slab_blocks[MPK__NCLASS];  /* blocks per slab */
static uint32_t slab_units[MPK__NCLASS];   /* slab_blocks * class_units */
/* ceil(2^64 / units): n % units == 0 <=> n * magic < magic (Lemire) */
static uint64_t class_magic[MPK__NCLASS];

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
  return mpk__shm_g.base + ((size_t)u << UNIT_SHIFT);
}
static inline uint32_t ptr_unit(const char *p) {
  return (uint32_t)((size_t)(p - mpk__shm_g.base) >> UNIT_SHIFT);
}
static inline _Atomic uint32_t *unit_link(uint32_t u) {
  return (_Atomic uint32_t *)(void *)unit_ptr(u);
}
static inline bool unit_ok(uint32_t u) {
  return u >= mpk__shm_g.first_unit && u < mpk__shm_g.end_unit;
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
static inline void *class_pop(mpk__class_head *h) {
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
   with one CAS. Release (at least): the blocks' contents and links are
   published with the new top; seq_cst for the `freed` flag protocol (see
   the top of this file). */
static void class_push_chain(mpk__class_head *h, uint32_t first,
                             uint32_t last) {
  uint64_t old = atomic_load_explicit(&h->top, memory_order_relaxed);
  for (;;) {
    atomic_store_explicit(unit_link(last), (uint32_t)old, memory_order_relaxed);
    if (atomic_compare_exchange_weak_explicit(
            &h->top, &old, TOP(first, TOP_TAG(old) + 1), memory_order_seq_cst,
            memory_order_relaxed))
      return;
  }
}

/* After a push to a shared list (see the top of this file): written only
   by the first free after a scavenge. */
static inline void note_freed(struct mpk__shm_region *r) {
  if (!atomic_load_explicit(&r->freed, memory_order_seq_cst))
    atomic_store_explicit(&r->freed, 1, memory_order_seq_cst);
}

/* ---- thread caches ---------------------------------------------------- */

#define TC_CLASSES 12u    /* classes 0..11: blocks up to 1 KiB */
#define TC_BYTES 4096u    /* cached bytes per class, at most */
#define TC_MAX_BLOCKS 16u /* cached blocks per class, at most */

typedef struct {
  uint32_t first[TC_CLASSES], last[TC_CLASSES]; /* units; 0: empty */
  uint8_t n[TC_CLASSES];
  uint8_t busy;  /* inside a cache operation (signal handlers bypass) */
  uint8_t keyed; /* tc_key set: the cache is flushed at thread exit */
} tcache;

static _Thread_local tcache tc __attribute__((tls_model("initial-exec")));
static pthread_key_t tc_key;
static uint8_t tc_cap[TC_CLASSES]; /* set once by classes_init */

static inline void tc_enter(void) {
  tc.busy = 1;
  atomic_signal_fence(memory_order_seq_cst);
}

static inline void tc_leave(void) {
  atomic_signal_fence(memory_order_seq_cst);
  tc.busy = 0;
}

/* Push class c's cache to the shared list (inside tc_enter). */
static void tc_spill(struct mpk__shm_region *r, unsigned c) {
  if (tc.n[c] == 0)
    return;
  class_push_chain(&r->cls[c], tc.first[c], tc.last[c]);
  note_freed(r);
  tc.first[c] = tc.last[c] = 0;
  tc.n[c] = 0;
}

/* Pop one block of class c from this thread's cache, or NULL. A link that
   names no block (the program wrote into a freed block) drops the cache:
   leaking its blocks beats handing out wild pointers. */
static inline void *tc_pop(unsigned c) {
  if (c >= TC_CLASSES || tc.busy || tc.n[c] == 0)
    return NULL;
  tc_enter();
  uint32_t u = tc.first[c];
  uint32_t next = atomic_load_explicit(unit_link(u), memory_order_relaxed);
  if (--tc.n[c] == 0) {
    tc.first[c] = tc.last[c] = 0;
  } else if (unit_ok(next)) {
    tc.first[c] = next;
  } else {
    tc.first[c] = tc.last[c] = 0;
    tc.n[c] = 0;
  }
  tc_leave();
  return unit_ptr(u);
}

static void tc_flush_all(void) {
  struct mpk__shm_region *r =
      atomic_load_explicit(&g_ready, memory_order_acquire);
  if (r == NULL || tc.busy)
    return;
  tc_enter();
  for (unsigned c = 0; c < TC_CLASSES; c++)
    tc_spill(r, c);
  tc_leave();
}

/* Keep the freed block u of class c in this thread's cache; false when the
   class is not cached or a cache operation is under way (signal). */
static inline bool tc_push(struct mpk__shm_region *r, unsigned c, uint32_t u) {
  if (c >= TC_CLASSES || tc.busy)
    return false;
  tc_enter();
  if (__builtin_expect(!tc.keyed, 0)) {
    pthread_setspecific(tc_key, &tc); /* non-NULL: flush at thread exit */
    tc.keyed = 1;
  }
  if (tc.n[c] == tc_cap[c])
    tc_spill(r, c);
  atomic_store_explicit(unit_link(u), tc.first[c], memory_order_relaxed);
  if (tc.n[c]++ == 0)
    tc.last[c] = u;
  tc.first[c] = u;
  tc_leave();
  return true;
}

static void tc_thread_exit(void *p) {
  (void)p;
  tc_flush_all();
}

/* In the child of a fork: the cached blocks belong to the parent's thread. */
static void tc_forget(void) {
  memset(&tc, 0, sizeof tc);
  pthread_setspecific(tc_key, NULL);
}

void mpk__shm_flush_cache(void) {
  tc_flush_all();
}

/* ---- statistics ------------------------------------------------------- */

/* initial-exec: no __tls_get_addr call on the fast path, also when libmpk
   is a shared library (one pointer of static TLS). */
static _Thread_local mpk__stat_slot *my_slot
    __attribute__((tls_model("initial-exec")));
static pthread_key_t slot_key;

static void slot_release(void *p) {
  atomic_store_explicit(&((mpk__stat_slot *)p)->owner, 0, memory_order_release);
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
__attribute__((noinline)) static mpk__stat_slot *
slot_claim(struct mpk__shm_region *r) {
  int saved = errno;
  uint64_t me = (uint64_t)(uint32_t)getpid() << 32 | (uint32_t)gettid();
  mpk__stat_slot *got = NULL;
  for (int pass = 0; pass < 2 && got == NULL; pass++) {
    for (int i = 1; i < MPK__NSLOTS; i++) {
      mpk__stat_slot *s = &r->slots[i];
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

static inline void stat_add(struct mpk__shm_region *r, bool alloc,
                            uint64_t bytes) {
  mpk__stat_slot *s = my_slot;
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
  for (unsigned c = 0; c < TC_CLASSES; c++) {
    size_t k = TC_BYTES / class_bytes(c);
    tc_cap[c] = (uint8_t)(k > TC_MAX_BLOCKS ? TC_MAX_BLOCKS : k < 2 ? 2 : k);
  }
  for (unsigned c = 0; c < MPK__NCLASS; c++) {
    size_t bytes = class_bytes(c);
    unsigned k = 1;
    while (k < MPK__SLAB_MAX_SPANS &&
           (k * MPK__SPAN) % bytes > k * MPK__SPAN / 8)
      k++;
    mpk__shm_slab_spans[c] = k;
    slab_blocks[c] = (uint32_t)(k * MPK__SPAN / bytes);
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
  size_t n = (size - MPK__SPAN) / (MPK__SPAN + sizeof(mpk__span_ent));
  size_t table = 0;
  for (; n > 0; n--) {
    table = (n * sizeof(mpk__span_ent) + MPK__SPAN - 1) & ~(MPK__SPAN - 1);
    if (MPK__SPAN + table + n * MPK__SPAN <= size)
      break;
  }
  if (n < 2 * MPK__SLAB_MAX_SPANS)
    return MPK_ENOMEM;
  struct mpk__shm_region *r = (struct mpk__shm_region *)(void *)base;
  r->version = REGION_VERSION;
  r->span_shift = MPK__SPAN_SHIFT;
  r->size = size;
  r->table_off = MPK__SPAN;
  r->data_off = MPK__SPAN + table;
  r->n_spans = (uint32_t)n;
  r->n_classes = MPK__NCLASS;
  for (int b = 0; b < MPK__NBINS; b++)
    r->bins[b] = MPK__NIL;
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
  want &= ~(MPK__SPAN - 1);
  floor &= ~(MPK__SPAN - 1);
  char *base = MAP_FAILED;
  for (size_t sz = want;; sz /= 2) {
    sz = (sz < floor ? floor : sz) & ~(MPK__SPAN - 1);
    base = mmap(NULL, sz, PROT_READ | PROT_WRITE,
                MAP_SHARED | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base != MAP_FAILED) {
      want = sz;
      break;
    }
    if (sz <= floor) {
      snprintf(g_init_msg, sizeof g_init_msg,
               "the shared heap could not be "
               "mapped: mmap of %zu bytes: %s (MPK_SHM_SIZE sets its size)",
               sz, strerror(errno)); /* once, before any other thread */
      return;
    }
  }
  int rc = region_format(base, want);
  if (rc != MPK_OK || pthread_key_create(&slot_key, slot_release) != 0) {
    g_init_rc = rc != MPK_OK ? rc : MPK_ENOMEM;
    snprintf(g_init_msg, sizeof g_init_msg,
             "the shared heap could not be "
             "set up: %s",
             rc == MPK_ENOSYS ? "robust locks are unusable here"
             : rc != MPK_OK   ? mpk_strerror(rc)
                              : "pthread_key_create failed");
    munmap(base, want);
    return;
  }
  if (pthread_key_create(&tc_key, tc_thread_exit) != 0) {
    pthread_key_delete(slot_key);
    g_init_rc = MPK_ENOMEM;
    snprintf(g_init_msg, sizeof g_init_msg,
             "the shared heap could not be "
             "set up: pthread_key_create failed");
    munmap(base, want);
    return;
  }
  pthread_atfork(NULL, NULL, slot_forget);
  pthread_atfork(NULL, NULL, tc_forget);
  atexit(tc_flush_all); /* the exiting thread's cache */
  classes_init();
  struct mpk__shm_region *r = (struct mpk__shm_region *)(void *)base;
  mpk__shm_g.base = base;
  mpk__shm_g.size = want;
  mpk__shm_g.tab = (mpk__span_ent *)(void *)(base + r->table_off);
  mpk__shm_g.data = base + r->data_off;
  mpk__shm_g.n_spans = r->n_spans;
  mpk__shm_g.data_bytes = (size_t)r->n_spans << MPK__SPAN_SHIFT;
  mpk__shm_g.first_unit = (uint32_t)(r->data_off >> UNIT_SHIFT);
  mpk__shm_g.end_unit = mpk__shm_g.first_unit + r->n_spans * UNITS_PER_SPAN;
  atomic_store_explicit(&mpk__shm_area.lo, (uintptr_t)mpk__shm_g.data,
                        memory_order_relaxed);
  atomic_store_explicit(&mpk__shm_area.bytes, mpk__shm_g.data_bytes,
                        memory_order_release);
  atomic_store_explicit(&g_ready, r, memory_order_release);
}

/* The region, reserving it on first use; NULL if it cannot be reserved. */
static inline struct mpk__shm_region *region(void) {
  struct mpk__shm_region *r =
      atomic_load_explicit(&g_ready, memory_order_acquire);
  if (__builtin_expect(r == NULL, 0)) {
    pthread_once(&g_once, init_once);
    r = atomic_load_explicit(&g_ready, memory_order_acquire);
  }
  return r;
}

int mpk__shm_init(void) {
  if (region() != NULL)
    return MPK_OK;
  return mpk__errf(g_init_rc, "%s", g_init_msg);
}

/* Whether unit `off` of the data area, in span s whose entry m is SMALL,
   is the start of a block of a committed slab. Lock-free: the entries of a
   slab with a live block cannot change. */
static inline bool small_ok(uint32_t s, uint64_t m, uint32_t off) {
  unsigned c = MPK__META_CLASS(m), d = MPK__META_DELTA(m);
  if (c >= MPK__NCLASS)
    return false;
  if (d != 0 && (d >= mpk__shm_slab_spans[c] || d > s ||
                 mpk__meta_get(s - d) != mpk__meta_make(MPK__K_SMALL, c, 0, 0)))
    return false;
  uint32_t in = off - (s - d) * UNITS_PER_SPAN; /* units into the slab */
  return (class_units[c] == 1 || in * class_magic[c] < class_magic[c]) &&
         in < slab_units[c];
}

/* The slab head of block unit u of class c, or MPK__NIL if u is not the start
   of a block of a committed slab of that class. Lock-free (slab entries
   of a live block cannot change). */
static uint32_t slab_of(uint32_t u, unsigned c) {
  if (!unit_ok(u))
    return MPK__NIL;
  uint32_t off = u - mpk__shm_g.first_unit, s = off / UNITS_PER_SPAN;
  uint64_t m = mpk__meta_get(s);
  if (MPK__META_KIND(m) != MPK__K_SMALL || MPK__META_CLASS(m) != c ||
      !small_ok(s, m, off))
    return MPK__NIL;
  return s - MPK__META_DELTA(m);
}

/* Take the whole free list of class c, give every slab whose blocks are
   all on it back to the span allocator, and put the other blocks back.
   A holder killed here leaks what it took of this one class. The top is
   read seq_cst (acquire at least: the blocks' links) for the `freed` flag
   protocol (see the top of this file). */
static void scavenge_class_locked(struct mpk__shm_region *r, unsigned c) {
  mpk__class_head *h = &r->cls[c];
  uint64_t old = atomic_load_explicit(&h->top, memory_order_seq_cst);
  do {
    if ((uint32_t)old == 0)
      return;
  } while (!atomic_compare_exchange_weak_explicit(
      &h->top, &old, TOP(0, TOP_TAG(old) + 1), memory_order_seq_cst,
      memory_order_seq_cst));
  uint32_t first = (uint32_t)old, nb = slab_blocks[c];
  /* Bound every walk: a double free can make the chain a cycle. */
  uint64_t max = (uint64_t)mpk__shm_g.n_spans * MPK__SPAN / class_bytes(c) + 1,
           n = 0;
  for (uint32_t u = first; u != 0 && n < max; n++) {
    uint32_t s = slab_of(u, c);
    if (s == MPK__NIL)
      break; /* a corrupt link: the rest of the chain is lost */
    mpk__shm_g.tab[s].prev = 0;
    u = atomic_load_explicit(unit_link(u), memory_order_relaxed);
  }
  uint32_t u = first;
  for (uint64_t i = 0; i < n; i++) {
    mpk__shm_g.tab[slab_of(u, c)].prev++;
    u = atomic_load_explicit(unit_link(u), memory_order_relaxed);
  }
  uint32_t keep_first = 0, keep_last = 0, queue = MPK__NIL;
  u = first;
  for (uint64_t i = 0; i < n; i++) {
    uint32_t next = atomic_load_explicit(unit_link(u), memory_order_relaxed);
    uint32_t s = slab_of(u, c);
    if (mpk__shm_g.tab[s].prev == nb) { /* all free: queue the slab once */
      mpk__shm_g.tab[s].prev = MPK__NIL;
      mpk__shm_g.tab[s].next = queue;
      queue = s;
    } else if (mpk__shm_g.tab[s].prev != MPK__NIL) {
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
  while (queue != MPK__NIL) {
    uint32_t s = queue, k = mpk__shm_slab_spans[c];
    queue = mpk__shm_g.tab[s].next;
    mpk__meta_set(s, mpk__meta_make(MPK__K_FREE, 1, 0, k)); /* uncommit */
    mpk__span_release_locked(r, s, k, true);
    atomic_fetch_sub_explicit(&r->committed, (uint64_t)k << MPK__SPAN_SHIFT,
                              memory_order_relaxed);
  }
}

/* Take n spans; when none are left, scavenge the classes first, but only
   if a small block was freed since the last scavenge (else the walk would
   find what the last one left and give back nothing). Clearing the flag
   before the walk: a free racing with it sets it again. */
static uint32_t run_take_or_scavenge_locked(struct mpk__shm_region *r,
                                            uint32_t n, bool *dirty) {
  uint32_t s = mpk__span_take_locked(r, n, dirty);
  if (s == MPK__NIL)
    tc_flush_all(); /* our cached blocks may pin slabs the walk can free */
  if (s == MPK__NIL &&
      atomic_exchange_explicit(&r->freed, 0, memory_order_seq_cst) != 0) {
    atomic_fetch_add_explicit(&r->scavenges, 1, memory_order_relaxed);
    for (unsigned c = 0; c < MPK__NCLASS; c++)
      scavenge_class_locked(r, c);
    s = mpk__span_take_locked(r, n, dirty);
  }
  return s;
}

/* ---- allocation --------------------------------------------------------- */

/* The class list is empty: carve a fresh slab, return its first block and
   push the others with one CAS. A process killed between the commit and
   the push leaks this slab. */
__attribute__((noinline)) static void *slab_refill(struct mpk__shm_region *r,
                                                   unsigned c, int *err) {
  int rc = mpk__span_lock(r);
  if (rc != MPK_OK) {
    *err = -rc;
    return NULL;
  }
  bool dirty; /* slabs do not care: carving writes every link */
  uint32_t s = run_take_or_scavenge_locked(r, mpk__shm_slab_spans[c], &dirty);
  if (s != MPK__NIL)
    mpk__span_commit_slab_locked(r, s, c);
  mpk__span_unlock(r);
  if (s == MPK__NIL) /* the scavenge may have put blocks back on our list */
    return class_pop(&r->cls[c]);
  uint32_t first = ptr_unit(mpk__span_ptr(s)), step = class_units[c];
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
large_alloc(struct mpk__shm_region *r, size_t size, bool zero, int *err) {
  if (size > ((size_t)mpk__shm_g.n_spans << MPK__SPAN_SHIFT))
    return NULL;
  uint32_t n = (uint32_t)((size + MPK__SPAN - 1) >> MPK__SPAN_SHIFT);
  int rc = mpk__span_lock(r);
  if (rc != MPK_OK) {
    *err = -rc;
    return NULL;
  }
  bool dirty = false;
  uint32_t s = run_take_or_scavenge_locked(r, n, &dirty);
  if (s != MPK__NIL)
    mpk__span_commit_large_locked(r, s, n);
  mpk__span_unlock(r);
  if (s == MPK__NIL)
    return NULL;
  if (zero && dirty) /* dirty runs are shorter than MPK__TRIM_SPANS */
    memset(mpk__span_ptr(s), 0, (size_t)n << MPK__SPAN_SHIFT);
  stat_add(r, true, (uint64_t)n << MPK__SPAN_SHIFT);
  return mpk__span_ptr(s);
}

/* An allocation of size bytes failed with errno err: set errno, record
   why (mpk_errmsg) and return NULL. Off the fast path. */
__attribute__((noinline, cold)) static void *alloc_failed(size_t size,
                                                          int err) {
  if (size == 0)
    mpk__errf_(MPK_EINVAL, "mpk_shm_alloc: size is 0");
  else if (region() == NULL)
    mpk__errf_(g_init_rc, "%s", g_init_msg);
  else if (err == ENOMEM)
    mpk__errf_(MPK_ENOMEM,
               "shared heap full: no block of %zu bytes in its "
               "%zu bytes (MPK_SHM_SIZE sets its size)",
               size, mpk__shm_g.data_bytes);
  else
    mpk__errsys(err, MPK_ENOMEM, "mpk_shm_alloc(%zu): the heap's lock", size);
  errno = size == 0 ? EINVAL : err;
  return NULL;
}

static inline __attribute__((always_inline)) void *shm_alloc(size_t size,
                                                             bool zero) {
  if (size == 0)
    return alloc_failed(size, EINVAL);
  struct mpk__shm_region *r = region();
  if (__builtin_expect(r == NULL, 0))
    return alloc_failed(size, ENOMEM);
  int err = ENOMEM;
  void *p;
  if (size <= SMALL_MAX) {
    unsigned c = size_class(size);
    p = tc_pop(c);
    if (p == NULL)
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
  if (__builtin_expect(p == NULL, 0))
    return alloc_failed(size, err);
  return p;
}

void *mpk_shm_alloc(size_t size) {
  return shm_alloc(size, false);
}

void *mpk_shm_calloc(size_t n, size_t size) {
  if (n != 0 && size > SIZE_MAX / n) {
    mpk__errf_(MPK_ENOMEM, "mpk_shm_calloc: %zu x %zu bytes overflow size_t", n,
               size);
    errno = ENOMEM;
    return NULL;
  }
  return shm_alloc(n * size, true);
}

/* ---- free --------------------------------------------------------------- */

/* Free the large block at span s whose committed head entry is m. */
__attribute__((noinline)) static void large_free(struct mpk__shm_region *r,
                                                 uint32_t s, uint64_t m) {
  uint32_t n = MPK__META_LEN(m);
  int saved = errno;
  bool dirty = n < MPK__TRIM_SPANS;
  if (!dirty) /* still ours: no lock needed for this */
    mpk__span_zero(s, n);
  if (mpk__span_lock(r) != MPK_OK) {
    errno = saved;
    return;
  }
  bool live = mpk__meta_get(s) == m; /* else a racing double free won */
  if (live) {
    mpk__meta_set(
        s, mpk__meta_make(MPK__K_FREE, dirty, 0, n)); /* uncommit first */
    mpk__span_release_locked(r, s, n, dirty);
    atomic_fetch_sub_explicit(&r->committed, (uint64_t)n << MPK__SPAN_SHIFT,
                              memory_order_relaxed);
  }
  mpk__span_unlock(r);
  if (live)
    stat_add(r, false, (uint64_t)n << MPK__SPAN_SHIFT);
  errno = saved;
}

void mpk_shm_free(void *p) {
  struct mpk__shm_region *r =
      atomic_load_explicit(&g_ready, memory_order_acquire);
  if (r == NULL)
    return;
  size_t off = (size_t)((uintptr_t)p - (uintptr_t)mpk__shm_g.data);
  if (off >= mpk__shm_g.data_bytes || (off & ((1u << UNIT_SHIFT) - 1)) != 0)
    return; /* outside the data area (below it wraps), or misaligned */
  uint32_t s = (uint32_t)(off >> MPK__SPAN_SHIFT);
  uint64_t m = mpk__meta_get(s);
  if (__builtin_expect(MPK__META_KIND(m) == MPK__K_SMALL, 1)) {
    uint32_t u = (uint32_t)(off >> UNIT_SHIFT);
    if (!small_ok(s, m, u))
      return;
    unsigned c = MPK__META_CLASS(m);
    uint32_t unit = mpk__shm_g.first_unit + u;
    if (!tc_push(r, c, unit)) {
      class_push_chain(&r->cls[c], unit, unit);
      note_freed(r);
    }
    stat_add(r, false, class_bytes(c));
  } else if (MPK__META_KIND(m) == MPK__K_LARGE &&
             (off & (MPK__SPAN - 1)) == 0) {
    large_free(r, s, m);
  }
}

/* ---- queries ------------------------------------------------------------ */

int mpk_shm_contains(const void *p) {
  if (atomic_load_explicit(&g_ready, memory_order_acquire) == NULL)
    return 0;
  return (uintptr_t)p - (uintptr_t)mpk__shm_g.base < mpk__shm_g.size;
}

size_t mpk_shm_usable_size(const void *p) {
  if (atomic_load_explicit(&g_ready, memory_order_acquire) == NULL)
    return 0;
  size_t off = (size_t)((uintptr_t)p - (uintptr_t)mpk__shm_g.data);
  if (off >= mpk__shm_g.data_bytes || (off & ((1u << UNIT_SHIFT) - 1)) != 0)
    return 0;
  uint32_t s = (uint32_t)(off >> MPK__SPAN_SHIFT);
  uint64_t m = mpk__meta_get(s);
  if (MPK__META_KIND(m) == MPK__K_SMALL &&
      small_ok(s, m, (uint32_t)(off >> UNIT_SHIFT)))
    return class_bytes(MPK__META_CLASS(m));
  if (MPK__META_KIND(m) == MPK__K_LARGE && (off & (MPK__SPAN - 1)) == 0)
    return (size_t)MPK__META_LEN(m) << MPK__SPAN_SHIFT;
  return 0;
}

int mpk_shm_stats(mpk_shm_stats_t *st) {
  if (st == NULL)
    return mpk__err_null("st");
  memset(st, 0, sizeof *st);
  struct mpk__shm_region *r = region();
  if (r == NULL)
    return mpk__errf(g_init_rc, "%s", g_init_msg);
  uint64_t in = 0, out = 0, allocs = 0, frees = 0;
  for (int i = 0; i < MPK__NSLOTS; i++) {
    mpk__stat_slot *s = &r->slots[i];
    allocs += atomic_load_explicit(&s->allocs, memory_order_relaxed);
    frees += atomic_load_explicit(&s->frees, memory_order_relaxed);
    in += atomic_load_explicit(&s->bytes_in, memory_order_relaxed);
    out += atomic_load_explicit(&s->bytes_out, memory_order_relaxed);
  }
  st->reserved = mpk__shm_g.size;
  st->committed =
      (size_t)atomic_load_explicit(&r->committed, memory_order_relaxed);
  st->in_use = in > out ? (size_t)(in - out) : 0; /* slots read at once */
  st->allocs = (size_t)allocs;
  st->frees = (size_t)frees;
  return MPK_OK;
}

/* ---- test hooks (internal/shm.h) -------------------------------------- */

unsigned long mpk__shm_scavenges(void) {
  struct mpk__shm_region *r =
      atomic_load_explicit(&g_ready, memory_order_acquire);
  return r == NULL ? 0
                   : (unsigned long)atomic_load_explicit(&r->scavenges,
                                                         memory_order_relaxed);
}

unsigned long mpk__shm_recoveries(void) {
  struct mpk__shm_region *r =
      atomic_load_explicit(&g_ready, memory_order_acquire);
  return r == NULL ? 0
                   : (unsigned long)atomic_load_explicit(&r->recoveries,
                                                         memory_order_relaxed);
}

int mpk__shm_test_tear_and_hold(uint32_t spans) {
  struct mpk__shm_region *r = region();
  if (r == NULL)
    return MPK_ENOMEM;
  int rc = mpk__span_lock(r);
  if (rc != MPK_OK)
    return rc;
  if (spans > mpk__shm_g.n_spans - r->bump) {
    mpk__span_unlock(r);
    return MPK_EINVAL;
  }
  /* What a holder killed inside mpk__span_take_locked leaves behind: spans
     taken from the bump pointer but never committed, and a half-edited index.
   */
  r->bump += spans;
  for (int b = 0; b < MPK__NBINS; b++)
    r->bins[b] = MPK__NIL;
  r->binmap[0] = r->binmap[1] = 0;
  return MPK_OK;
}
