/* shm_span.c - the shared heap's span allocator: the span table, the
 * size-binned lists of free runs, the bump pointer, and their repair after
 * a holder of the span lock died. Everything here runs under the span
 * lock. The model (what the table means, when pages go back to the kernel)
 * is described at the top of shm.c; the layout is in internal/shm_span.h.
 */
#include "internal/shm_span.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#include "mpk/error.h"

static inline unsigned bin_of(uint32_t len) {
  return len < 64 ? len : 64 + (31u - (unsigned)__builtin_clz(len)) - 6;
}

/* Index the free run [s, s+len). `dirty`: its pages may hold old data
   (kept in the head entry's class byte). */
static void bin_insert_locked(struct mpk__shm_region *r, uint32_t s,
                              uint32_t len, bool dirty) {
  mpk__meta_set(s, mpk__meta_make(MPK__K_FREE, dirty, 0, len));
  if (len > 1)
    mpk__meta_set(s + len - 1, mpk__meta_make(MPK__K_FREE_TAIL, 0, 0, len));
  unsigned b = bin_of(len);
  mpk__shm_g.tab[s].prev = MPK__NIL;
  mpk__shm_g.tab[s].next = r->bins[b];
  if (r->bins[b] != MPK__NIL)
    mpk__shm_g.tab[r->bins[b]].prev = s;
  r->bins[b] = s;
  r->binmap[b >> 6] |= 1ull << (b & 63);
}

static void bin_remove_locked(struct mpk__shm_region *r, uint32_t s,
                              uint32_t len) {
  unsigned b = bin_of(len);
  uint32_t p = mpk__shm_g.tab[s].prev, n = mpk__shm_g.tab[s].next;
  if (p != MPK__NIL)
    mpk__shm_g.tab[p].next = n;
  else
    r->bins[b] = n;
  if (n != MPK__NIL)
    mpk__shm_g.tab[n].prev = p;
  if (r->bins[b] == MPK__NIL)
    r->binmap[b >> 6] &= ~(1ull << (b & 63));
}

/* First non-empty bin >= b, or MPK__NBINS. */
static unsigned bin_next(const struct mpk__shm_region *r, unsigned b) {
  for (unsigned w = b >> 6; w < 2; w++) {
    uint64_t bits = r->binmap[w];
    if (w == b >> 6)
      bits &= ~0ull << (b & 63);
    if (bits)
      return w * 64 + (unsigned)__builtin_ctzll(bits);
  }
  return MPK__NBINS;
}

/* Zero a run's pages by giving them back to the kernel. */
void mpk__span_zero(uint32_t s, uint32_t n) {
  size_t len = (size_t)n << MPK__SPAN_SHIFT;
  int saved = errno;
  if (madvise(mpk__span_ptr(s), len, MADV_REMOVE) != 0)
    memset(mpk__span_ptr(s), 0, len);
  errno = saved;
}

/* Take a run of n spans: the best-fitting free run (split), else fresh
   spans from the bump pointer. MPK__NIL when nothing fits; *dirty tells whether
   its pages may hold old data. The run's entries are not written: the
   caller commits them. */
uint32_t mpk__span_take_locked(struct mpk__shm_region *r, uint32_t n,
                               bool *dirty) {
  unsigned b = bin_of(n);
  uint32_t s = MPK__NIL;
  if (b >= 64) { /* a log-sized bin: first fit inside it */
    for (uint32_t x = r->bins[b]; x != MPK__NIL; x = mpk__shm_g.tab[x].next)
      if (MPK__META_LEN(mpk__meta_get(x)) >= n) {
        s = x;
        break;
      }
  } else if (r->bins[b] != MPK__NIL) {
    s = r->bins[b]; /* exact length */
  }
  if (s == MPK__NIL) { /* any run of a larger bin fits */
    unsigned b2 = bin_next(r, b + 1);
    if (b2 < MPK__NBINS)
      s = r->bins[b2];
  }
  if (s != MPK__NIL) {
    uint64_t m = mpk__meta_get(s);
    uint32_t len = MPK__META_LEN(m);
    *dirty = MPK__META_CLASS(m) != 0;
    bin_remove_locked(r, s, len);
    if (len > n)
      bin_insert_locked(r, s + n, len - n, *dirty);
    return s;
  }
  if (n <= mpk__shm_g.n_spans - r->bump) {
    *dirty = false;
    s = r->bump;
    r->bump += n;
    return s;
  }
  return MPK__NIL;
}

/* A free run that is in no list yet: lower the bump pointer onto it if it
   ends there, else index it. Either way, dirty pages of a run of
   MPK__TRIM_SPANS or more (or below the bump pointer) go back to the kernel. */
static void free_run_locked(struct mpk__shm_region *r, uint32_t s, uint32_t len,
                            bool dirty) {
  bool at_bump = s + len == r->bump;
  if (dirty && (at_bump || len >= MPK__TRIM_SPANS)) {
    mpk__span_zero(s, len);
    dirty = false;
  }
  if (at_bump)
    r->bump = s;
  else
    bin_insert_locked(r, s, len, dirty);
}

/* Give back the run [s, s+n) whose head is already uncommitted: merge it
   with its free neighbours and index the result. */
void mpk__span_release_locked(struct mpk__shm_region *r, uint32_t s, uint32_t n,
                              bool dirty) {
  uint32_t start = s, len = n;
  if (s > 0) {
    uint64_t lm = mpk__meta_get(s - 1);
    uint32_t l = MPK__META_LEN(lm);
    if ((MPK__META_KIND(lm) == MPK__K_FREE_TAIL ||
         (MPK__META_KIND(lm) == MPK__K_FREE && l == 1)) &&
        l <= s) {
      uint64_t hm = mpk__meta_get(s - l);
      if (MPK__META_KIND(hm) == MPK__K_FREE && MPK__META_LEN(hm) == l) {
        bin_remove_locked(r, s - l, l);
        dirty |= MPK__META_CLASS(hm) != 0;
        start = s - l;
        len += l;
      }
    }
  }
  uint32_t e = s + n;
  if (e < r->bump) {
    uint64_t rm = mpk__meta_get(e);
    if (MPK__META_KIND(rm) == MPK__K_FREE) {
      bin_remove_locked(r, e, MPK__META_LEN(rm));
      dirty |= MPK__META_CLASS(rm) != 0;
      len += MPK__META_LEN(rm);
    }
  }
  free_run_locked(r, start, len, dirty);
}

/* After a holder died: rebuild the free index from the committed heads.
   Whether a free span is clean is not recorded in the truth, so every
   rebuilt run counts as dirty. */
static void rebuild_locked(struct mpk__shm_region *r) {
  for (int b = 0; b < MPK__NBINS; b++)
    r->bins[b] = MPK__NIL;
  r->binmap[0] = r->binmap[1] = 0;
  if (r->bump > mpk__shm_g.n_spans)
    r->bump = mpk__shm_g.n_spans;
  uint32_t bump = r->bump, s = 0, run = MPK__NIL;
  uint64_t used = 0;
  while (s < bump) {
    uint64_t m = mpk__meta_get(s);
    uint32_t len = 0;
    if (MPK__META_KIND(m) == MPK__K_LARGE)
      len = MPK__META_LEN(m);
    else if (MPK__META_KIND(m) == MPK__K_SMALL && MPK__META_DELTA(m) == 0 &&
             MPK__META_CLASS(m) < MPK__NCLASS)
      len = mpk__shm_slab_spans[MPK__META_CLASS(m)];
    if (len == 0 || len > bump - s) {
      if (run == MPK__NIL)
        run = s;
      s++;
      continue;
    }
    if (run != MPK__NIL)
      free_run_locked(r, run, s - run, true);
    run = MPK__NIL;
    used += len;
    s += len;
  }
  if (run != MPK__NIL)
    free_run_locked(r, run, bump - run, true); /* lowers the bump */
  atomic_store_explicit(&r->committed, used << MPK__SPAN_SHIFT,
                        memory_order_relaxed);
  /* The dead holder may have been scavenging: let the next one run. */
  atomic_store_explicit(&r->freed, 1, memory_order_seq_cst);
  atomic_fetch_add_explicit(&r->recoveries, 1, memory_order_relaxed);
}

/* MPK_OK with the span lock held, or a negative code: MPK_EDEADLK when
   the calling thread holds it already (mpk_shm_* called from a signal
   handler that interrupted it). A dead holder's torn index is rebuilt. */
int mpk__span_lock(struct mpk__shm_region *r) {
  int rc = mpk__rmutex_lock_forever(&r->span_lock);
  if (rc == MPK_EOWNERDEAD) {
    rebuild_locked(r);
    rc = MPK_OK;
  }
  return rc;
}

void mpk__span_unlock(struct mpk__shm_region *r) {
  mpk__rmutex_unlock(&r->span_lock);
}

void mpk__span_commit_large_locked(struct mpk__shm_region *r, uint32_t s,
                                   uint32_t n) {
  for (uint32_t i = 1; i < n; i++)
    mpk__meta_set(s + i, mpk__meta_make(MPK__K_BODY, 0, 0, 0));
  mpk__meta_set(s, mpk__meta_make(MPK__K_LARGE, 0, 0, n));
  atomic_fetch_add_explicit(&r->committed, (uint64_t)n << MPK__SPAN_SHIFT,
                            memory_order_relaxed);
}

void mpk__span_commit_slab_locked(struct mpk__shm_region *r, uint32_t s,
                                  unsigned c) {
  for (uint32_t d = 1; d < mpk__shm_slab_spans[c]; d++)
    mpk__meta_set(s + d, mpk__meta_make(MPK__K_SMALL, c, d, 0));
  mpk__meta_set(s, mpk__meta_make(MPK__K_SMALL, c, 0, 0));
  atomic_fetch_add_explicit(&r->committed,
                            (uint64_t)mpk__shm_slab_spans[c] << MPK__SPAN_SHIFT,
                            memory_order_relaxed);
}
