/* internal/shm_span.h - the shared heap's region layout and its span
 * allocator, shared by shm.c (size classes, lock-free free lists, the
 * public calls) and shm_span.c (the span table, free runs, the bump
 * pointer, repair after a dead holder). Private to those two files and
 * their tests; the model is described at the top of shm.c.
 *
 * Every function named *_locked must be called with the span lock held
 * (mpk__span_lock). The span table and the layout are only valid once the
 * region exists (mpk__shm_init() returned MPK_OK).
 */
#ifndef MPK_INTERNAL_SHM_SPAN_H
#define MPK_INTERNAL_SHM_SPAN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "internal/robust.h"

#define MPK__SPAN_SHIFT 16
#define MPK__SPAN ((size_t)1 << MPK__SPAN_SHIFT)
#define MPK__NCLASS 32        /* small size classes, 64 B .. 32 KiB */
#define MPK__SLAB_MAX_SPANS 8 /* a slab is 1 .. 8 spans */
#define MPK__NBINS 96         /* free-run lists by length */
#define MPK__NSLOTS 256       /* statistics slots */
/* Free runs of this many spans (1 MiB) or more go back to the kernel. */
#define MPK__TRIM_SPANS 16
#define MPK__NIL UINT32_MAX /* "no span" */

/* ---- layouts in the region ------------------------------------------- */

/* Span table entry kinds (low byte of mpk__span_ent.meta). */
enum {
  MPK__K_NONE = 0,      /* never used (zero pages) */
  MPK__K_FREE = 1,      /* head of a free run; len = run length, class
                           byte = 1 when its pages may hold old data */
  MPK__K_FREE_TAIL = 2, /* last span of a free run of len > 1 */
  MPK__K_LARGE = 3,     /* head of a large block: committed; len = spans */
  MPK__K_BODY = 4,      /* any other span of a large block */
  MPK__K_SMALL = 5      /* a slab span: class, delta = span - slab head */
};

/* meta = kind | class << 8 | delta << 16 | len << 32 */
static inline uint64_t mpk__meta_make(unsigned kind, unsigned cls,
                                      unsigned delta, uint32_t len) {
  return (uint64_t)kind | (uint64_t)cls << 8 | (uint64_t)delta << 16 |
         (uint64_t)len << 32;
}
#define MPK__META_KIND(m) ((unsigned)((m)&0xff))
#define MPK__META_CLASS(m) ((unsigned)((m) >> 8 & 0xff))
#define MPK__META_DELTA(m) ((unsigned)((m) >> 16 & 0xff))
#define MPK__META_LEN(m) ((uint32_t)((m) >> 32))

typedef struct {
  /* Stored under the span lock (release, so that a lock-free reader that
     sees a committed head also sees the body entries written before it);
     loaded without the lock (relaxed) by free / usable_size, which only
     trust entries that cannot change while the block is live. */
  _Atomic uint64_t meta;
  /* Span lock only. Head of a free run: its bin list links. Head of a slab:
     a block counter and a queue link while scavenge_class_locked runs. */
  uint32_t prev, next;
} mpk__span_ent;
_Static_assert(sizeof(mpk__span_ent) == 16, "span table entries are 16 bytes");

/* The free-list top of one size class: {block index (low 32 bits), ABA tag
   (high 32)}. Every alloc and free of the class CASes it, so each sits
   alone on a cache line: classes never false-share. The tag grows by one
   on every successful CAS, so a CAS made from a stale read fails (unless
   exactly a multiple of 2^32 CASes happened in between). */
typedef struct {
  _Alignas(64) _Atomic uint64_t top;
} mpk__class_head;
_Static_assert(sizeof(mpk__class_head) == 64, "one class top per cache line");

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
} mpk__stat_slot;
_Static_assert(sizeof(mpk__stat_slot) == 64, "one statistics slot per line");

struct mpk__shm_region {
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
  mpk__class_head cls[MPK__NCLASS];
  /* 1 when a small block was freed since the last scavenge of the class
     lists: read by every small free, written by the first free after a
     scavenge and cleared by the scavenge. Alone on its line so that the
     frees' reads stay cache hits while nobody writes it (the class tops
     beside it change on every alloc and free). Sequentially consistent:
     see the top of shm.c. */
  _Alignas(64) _Atomic uint32_t freed;
  /* The span allocator, guarded by span_lock. It starts a new line so that
     lock traffic does not disturb the class tops; the state it guards
     shares the lock's lines because only the holder touches it. */
  _Alignas(64) mpk__rmutex span_lock;
  uint32_t bump;             /* first never-used span (all spans >= are zero) */
  uint32_t bins[MPK__NBINS]; /* free run lists by length (MPK__NIL = empty) */
  uint64_t binmap[2];        /* bit b set <=> bins[b] != MPK__NIL */
  /* Bytes in slabs and live large runs. Changed under the span lock,
     read without it by mpk_shm_stats: relaxed atomics, a snapshot. */
  _Atomic uint64_t committed;
  /* Times the free index was rebuilt after a holder died, and times the
     class lists were scavenged (under the span lock; relaxed, read by
     tests). */
  _Atomic uint64_t recoveries;
  _Atomic uint64_t scavenges;
  mpk__stat_slot slots[MPK__NSLOTS];
};
_Static_assert(sizeof(struct mpk__shm_region) <= MPK__SPAN,
               "the header fits in a span");
_Static_assert(offsetof(struct mpk__shm_region, cls) == 64,
               "class tops on line 1");
_Static_assert(offsetof(struct mpk__shm_region, freed) % 64 == 0,
               "the freed flag has its own line");
_Static_assert(offsetof(struct mpk__shm_region, span_lock) % 64 == 0,
               "the span lock starts a line");
_Static_assert(_Alignof(struct mpk__shm_region) == 64,
               "the header is line-aligned");
_Static_assert(MPK__NBINS <= 128, "binmap has 128 bits");

/* ---- process-local state (copied into every forked child) ------------- */

/* The layout as seen by this process: written once by shm.c's init_once
   before the region is published (release); read after an acquire load of
   the published region pointer (every caller got the region that way). */
typedef struct {
  char *base;
  size_t size;
  mpk__span_ent *tab;
  char *data;
  size_t data_bytes; /* n_spans << MPK__SPAN_SHIFT */
  uint32_t n_spans;
  uint32_t first_unit, end_unit; /* block indices of the data area */
} mpk__shm_layout;
extern mpk__shm_layout mpk__shm_g;

/* Spans per slab of each class (waste <= 1/8): written once with the
   layout, read-only afterwards. */
extern uint32_t mpk__shm_slab_spans[MPK__NCLASS];

static inline char *mpk__span_ptr(uint32_t s) {
  return mpk__shm_g.data + ((size_t)s << MPK__SPAN_SHIFT);
}
static inline uint64_t mpk__meta_get(uint32_t s) {
  return atomic_load_explicit(&mpk__shm_g.tab[s].meta, memory_order_relaxed);
}
static inline void mpk__meta_set(uint32_t s, uint64_t m) {
  atomic_store_explicit(&mpk__shm_g.tab[s].meta, m, memory_order_release);
}

/* ---- the span allocator (shm_span.c) ------------------------------------ */

/* MPK_OK with the span lock held, or a negative code: MPK_EDEADLK when
   the calling thread holds it already (mpk_shm_* called from a signal
   handler that interrupted it). A dead holder's torn index is rebuilt
   (and the classes are marked for a scavenge). */
int mpk__span_lock(struct mpk__shm_region *r);
void mpk__span_unlock(struct mpk__shm_region *r);

/* Take a run of n spans: the best-fitting free run (split), else fresh
   spans from the bump pointer. MPK__NIL when nothing fits; *dirty tells
   whether its pages may hold old data. The run's entries are not written:
   the caller commits them. */
uint32_t mpk__span_take_locked(struct mpk__shm_region *r, uint32_t n,
                               bool *dirty);

/* Give back the run [s, s+n) whose head is already uncommitted: merge it
   with its free neighbours and index the result. */
void mpk__span_release_locked(struct mpk__shm_region *r, uint32_t s, uint32_t n,
                              bool dirty);

/* Commit [s, s+n) as a large block / a slab of class c (head entry last). */
void mpk__span_commit_large_locked(struct mpk__shm_region *r, uint32_t s,
                                   uint32_t n);
void mpk__span_commit_slab_locked(struct mpk__shm_region *r, uint32_t s,
                                  unsigned c);

/* Zero a run's pages by giving them back to the kernel (no lock needed for
   a run the caller owns). */
void mpk__span_zero(uint32_t s, uint32_t n);

/* ---- for the tests only ---- */

/* How many times the size classes' free lists were scavenged (heap-wide).
   0 before the heap exists. */
unsigned long mpk__shm_scavenges(void);

#endif
