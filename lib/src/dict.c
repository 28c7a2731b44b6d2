/* dict.c - the shared dictionary (see mpk/dict.h).
 *
 * Layout, all in the shared heap:
 *
 *   struct mpk_dict   magic, the robust mutex, the current table, counts
 *   dict_table        magic, capacity (a power of two), the slot array
 *   dict_entry        one block per key: header, key, NUL, value bytes
 *
 * A slot is NULL (never used), TOMB (deleted) or an entry pointer. Lookup
 * is linear probing from hash & (cap - 1) to the first NULL slot; the table
 * keeps used (live + tombstones) <= 3/4 cap, so a NULL slot always exists.
 *
 * Crash consistency (a holder SIGKILLed at any instruction): an entry is
 * written completely, outside the mutex, before its pointer is stored into
 * a slot with one release store; a replaced or deleted entry is freed only
 * after its slot no longer points to it; a new table is filled completely
 * before it is published with one release store of d->table, and the old
 * one is freed afterwards. So the slots always describe a valid table with
 * the dead caller's update wholly applied or not at all. The counts are
 * updated after the publishing store and may be stale after a crash:
 * repair_locked recounts them from the slots (MPK_EOWNERDEAD). A kill
 * between publishing and freeing leaks the unlinked block.
 */
#include "mpk/dict.h"

#include <stdalign.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "internal/dict.h"
#include "internal/error.h"
#include "internal/robust.h"
#include "internal/shm.h"
#include "mpk/error.h"
#include "mpk/shm.h"

#define DICT_MAGIC 0x54434944u  /* "DICT" */
#define TABLE_MAGIC 0x4c425444u /* "DTBL" */
#define ENTRY_MAGIC 0x544e4544u /* "DENT" */
#define DEAD_MAGIC 0x44414544u  /* "DEAD": a freed dict */

enum { MIN_CAP = 16 };

typedef struct dict_entry {
  uint32_t magic;
  uint32_t klen; /* key bytes, without the NUL */
  uint64_t hash;
  size_t vlen;
  char data[]; /* key, NUL, value */
} dict_entry;
_Static_assert(sizeof(dict_entry) == 24, "entry header layout");

/* A deleted slot: never a valid block address (blocks are 64-byte
   aligned). */
#define TOMB ((dict_entry *)(uintptr_t)1)

typedef struct {
  uint32_t magic;
  uint32_t unused; /* keeps cap 8-byte aligned */
  size_t cap;      /* slots; a power of two >= MIN_CAP; fixed per table */
  /* Written with release stores (the entry must be complete before its
     pointer is visible, even to a holder that takes over after we die);
     read with relaxed loads under the mutex, whose acquire orders them. */
  _Atomic(dict_entry *) slot[];
} dict_table;
_Static_assert(sizeof(dict_table) == 16, "table header layout");

/* One 128-byte block (two cache lines, 64-byte aligned like every shared
   heap block). Every field but magic is read and written only under the
   mutex, by one holder at a time, so there is no false sharing to avoid:
   the fields simply share the lines with the mutex they are guarded by. */
struct mpk_dict {
  uint32_t magic;  /* DICT_MAGIC while alive, DEAD_MAGIC once freed */
  uint32_t unused; /* aligns the pointer below */
  /* Replaced with one release store when the table is rebuilt (the new
     table is complete before it is published); relaxed loads under the
     mutex. */
  _Atomic(dict_table *) table;
  long count;       /* live entries; recounted on MPK_EOWNERDEAD */
  long used;        /* live entries + tombstones; recounted likewise */
  long repairs;     /* times a holder died and repair_locked ran */
  mpk__rmutex lock; /* robust, process-shared, errorcheck (40 bytes) */
  char pad[128 - 40 - sizeof(mpk__rmutex)];
};
_Static_assert(sizeof(mpk__rmutex) <= 128 - 40, "mutex fits the block");
_Static_assert(sizeof(struct mpk_dict) == 128, "dict header is 128 bytes");
_Static_assert(alignof(struct mpk_dict) <= 64,
               "the shared heap's 64-byte alignment is enough");

/* ---- helpers ----------------------------------------------------------- */

static uint64_t hash_key(const char *key, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull; /* FNV-1a, then a 64-bit finaliser */
  for (size_t i = 0; i < n; i++)
    h = (h ^ (unsigned char)key[i]) * 0x100000001b3ull;
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

/* Key length (1..MPK_DICT_KEY_MAX) or 0 for a bad key. */
static size_t key_len(const char *key) {
  if (key == NULL)
    return 0;
  size_t n = strnlen(key, MPK_DICT_KEY_MAX + 1);
  return n > MPK_DICT_KEY_MAX ? 0 : n;
}

static int dict_ok(const mpk_dict_t *d) {
  return MPK__SHM_LIVE(d, DICT_MAGIC);
}

/* The checks of a dict handle and a key (call fn): MPK_OK with *klen, or
   MPK_EINVAL recorded. */
static int key_check(const char *fn, const mpk_dict_t *d, const char *key,
                     size_t *klen) {
  *klen = key_len(key);
  if (!dict_ok(d))
    return mpk__err_handle(fn, d, "d", "mpk_dict_t");
  if (key == NULL)
    return mpk__errf(MPK_EINVAL, "%s: key is NULL", fn);
  if (*klen == 0)
    return mpk__errf(MPK_EINVAL, "%s: key '" MPK__QFMT "' is %s", fn,
                     MPK__Q(key),
                     *key == '\0' ? "empty"
                                  : "longer than "
                                    "MPK_DICT_KEY_MAX (255)");
  return MPK_OK;
}

static const char *entry_key(const dict_entry *e) {
  return e->data;
}
static const void *entry_val(const dict_entry *e) {
  return e->data + e->klen + 1;
}

static dict_table *table_new(size_t cap) {
  dict_table *t = mpk_shm_calloc(1, sizeof *t + cap * sizeof t->slot[0]);
  if (t == NULL)
    return NULL;
  t->cap = cap;
  t->magic = TABLE_MAGIC;
  return t;
}

/* Probe for key. Returns the slot index holding it, or SIZE_MAX; *free_at
   is the first TOMB or NULL slot on the way (where an insert goes). */
static size_t probe(const dict_table *t, const char *key, size_t klen,
                    uint64_t hash, size_t *free_at) {
  size_t mask = t->cap - 1, i = (size_t)hash & mask;
  *free_at = SIZE_MAX;
  for (size_t n = 0; n < t->cap; n++, i = (i + 1) & mask) {
    dict_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (e == NULL || e == TOMB) {
      if (*free_at == SIZE_MAX)
        *free_at = i;
      if (e == NULL)
        return SIZE_MAX;
      continue;
    }
    if (e->hash == hash && e->klen == klen && memcmp(e->data, key, klen) == 0)
      return i;
  }
  return SIZE_MAX;
}

/* ---- locking and repair ---------------------------------------------- */

/* After a holder died: recount from the slots, and drop (as tombstones)
   any slot that does not point to a valid entry. */
static void repair_locked(mpk_dict_t *d) {
  dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  long live = 0, tombs = 0;
  for (size_t i = 0; i < t->cap; i++) {
    dict_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (e == NULL)
      continue;
    if (e != TOMB && !MPK__SHM_LIVE(e, ENTRY_MAGIC)) {
      atomic_store_explicit(&t->slot[i], TOMB, memory_order_release);
      e = TOMB;
    }
    if (e == TOMB)
      tombs++;
    else
      live++;
  }
  d->count = live;
  d->used = live + tombs;
  d->repairs++;
}

static int dict_lock(mpk_dict_t *d) {
  int r = mpk__rmutex_lock_forever(&d->lock);
  if (r == MPK_EOWNERDEAD) {
    repair_locked(d);
    r = MPK_OK;
  }
  return r == MPK_OK ? MPK_OK : mpk__err(r);
}

/* The start of every call on d: a live dict (else MPK_EINVAL), then its lock
   (dict_lock's codes). */
static int dict_enter(const char *fn, mpk_dict_t *d) {
  if (!dict_ok(d))
    return mpk__err_handle(fn, d, "d", "mpk_dict_t");
  return dict_lock(d);
}

static void dict_unlock(mpk_dict_t *d) {
  mpk__rmutex_unlock(&d->lock);
}

/* ---- create / free ---------------------------------------------------- */

int mpk_dict_new(mpk_dict_t **out) {
  if (out == NULL)
    return mpk__err_null("d");
  mpk_dict_t *d = mpk_shm_calloc(1, sizeof *d);
  if (d == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_calloc */
  /* MPK_ENOSYS where robust lists are unusable (internal/robust.h). */
  int rc = mpk__rmutex_init(&d->lock);
  dict_table *t = rc == MPK_OK ? table_new(MIN_CAP) : NULL;
  if (t == NULL) {
    mpk_shm_free(d);
    return rc != MPK_OK ? mpk__errf(rc, "dict: robust locks are unusable "
                                        "here")
                        : MPK_ENOMEM; /* recorded by the shared heap */
  }
  atomic_init(&d->table, t);
  d->magic = DICT_MAGIC;
  *out = d;
  return MPK_OK;
}

void mpk_dict_free(mpk_dict_t *d) {
  if (!dict_ok(d))
    return;
  d->magic = DEAD_MAGIC;
  dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  for (size_t i = 0; i < t->cap; i++) {
    dict_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (e != NULL && e != TOMB)
      mpk_shm_free(e);
  }
  mpk_shm_free(t);
  mpk__rmutex_destroy(&d->lock);
  mpk_shm_free(d);
}

/* ---- set / del ---------------------------------------------------------- */

/* Rebuild into a table big enough for `live` entries at <= 1/2 load, with
   no tombstones; publish it with one store. The caller frees the old table
   (returned in *old) after unlocking. */
static int rehash_locked(mpk_dict_t *d, long live, dict_table **old) {
  dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  size_t cap = MIN_CAP;
  while ((size_t)live > cap / 2)
    cap *= 2;
  dict_table *n = table_new(cap);
  if (n == NULL)
    return MPK_ENOMEM; /* recorded by the shared heap */
  for (size_t i = 0; i < t->cap; i++) {
    dict_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (e == NULL || e == TOMB)
      continue;
    size_t j = (size_t)e->hash & (cap - 1);
    while (atomic_load_explicit(&n->slot[j], memory_order_relaxed) != NULL)
      j = (j + 1) & (cap - 1);
    atomic_store_explicit(&n->slot[j], e, memory_order_relaxed);
  }
  /* Release: every slot of the new table is written before it is seen. */
  atomic_store_explicit(&d->table, n, memory_order_release);
  d->used = d->count;
  *old = t;
  return MPK_OK;
}

int mpk_dict_set(mpk_dict_t *d, const char *key, const void *val, size_t len) {
  size_t klen;
  int rc = key_check(__func__, d, key, &klen);
  if (rc != MPK_OK)
    return rc;
  if (val == NULL && len > 0)
    return mpk__errf(MPK_EINVAL, "mpk_dict_set: val is NULL with len %zu", len);
  if (len > SIZE_MAX - sizeof(dict_entry) - klen - 1)
    return mpk__errf(MPK_ENOMEM,
                     "mpk_dict_set: a value of %zu bytes "
                     "overflows size_t",
                     len);
  /* The entry is complete before the lock is even taken. */
  dict_entry *e = mpk_shm_alloc(sizeof *e + klen + 1 + len);
  if (e == NULL)
    return MPK_ENOMEM; /* recorded by mpk_shm_alloc */
  e->magic = ENTRY_MAGIC;
  e->klen = (uint32_t)klen;
  e->hash = hash_key(key, klen);
  e->vlen = len;
  memcpy(e->data, key, klen + 1);
  if (len > 0)
    memcpy(e->data + klen + 1, val, len);

  int r = dict_lock(d);
  if (r != MPK_OK) {
    mpk_shm_free(e);
    return r;
  }
  dict_entry *garbage = NULL;
  dict_table *old_table = NULL;
  dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  size_t at, i = probe(t, key, klen, e->hash, &at);
  if (i != SIZE_MAX) { /* replace: one store swaps old for new */
    garbage = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    atomic_store_explicit(&t->slot[i], e, memory_order_release);
  } else {
    int fills_empty =
        atomic_load_explicit(&t->slot[at], memory_order_relaxed) == NULL;
    if (fills_empty && (size_t)(d->used + 1) * 4 > t->cap * 3) {
      r = rehash_locked(d, d->count + 1, &old_table);
      if (r != MPK_OK) {
        dict_unlock(d);
        mpk_shm_free(e);
        return r;
      }
      t = atomic_load_explicit(&d->table, memory_order_relaxed);
      probe(t, key, klen, e->hash, &at);
      fills_empty = 1;
    }
    atomic_store_explicit(&t->slot[at], e, memory_order_release);
    d->count++;
    d->used += fills_empty;
  }
  dict_unlock(d);
  /* Unlinked blocks are nobody's now: free them outside the lock. */
  mpk_shm_free(garbage);
  mpk_shm_free(old_table);
  return MPK_OK;
}

/* Check key, lock and look it up: MPK_OK with the lock held, *t the table
   and *i key's slot (SIZE_MAX: absent), or an error with the lock free. */
static int lookup_locked(const char *fn, mpk_dict_t *d, const char *key,
                         dict_table **t, size_t *i) {
  size_t klen;
  int rc = key_check(fn, d, key, &klen);
  if (rc != MPK_OK)
    return rc;
  uint64_t h = hash_key(key, klen);
  int r = dict_lock(d);
  if (r != MPK_OK)
    return r;
  *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  size_t at;
  *i = probe(*t, key, klen, h, &at);
  return MPK_OK;
}

int mpk_dict_del(mpk_dict_t *d, const char *key) {
  dict_table *t;
  size_t i;
  int r = lookup_locked(__func__, d, key, &t, &i);
  if (r != MPK_OK)
    return r;
  dict_entry *garbage = NULL;
  if (i == SIZE_MAX) {
    r = mpk__err(MPK_EEMPTY);
  } else {
    garbage = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    atomic_store_explicit(&t->slot[i], TOMB, memory_order_release);
    d->count--;
  }
  dict_unlock(d);
  mpk_shm_free(garbage);
  return r;
}

/* ---- reading ------------------------------------------------------------ */

/* Lock and find key: MPK_OK with *e set and the lock held, or an error
   with the lock released (MPK_EEMPTY for an absent key is not recorded:
   contains answers 0). */
static int find_locked(const char *fn, mpk_dict_t *d, const char *key,
                       dict_entry **e) {
  dict_table *t;
  size_t i;
  int r = lookup_locked(fn, d, key, &t, &i);
  if (r != MPK_OK)
    return r;
  if (i == SIZE_MAX) {
    dict_unlock(d);
    return MPK_EEMPTY;
  }
  *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
  return MPK_OK;
}

int mpk_dict_get(mpk_dict_t *d, const char *key, void *buf, size_t cap,
                 size_t *len) {
  if (len == NULL || (buf == NULL && cap > 0))
    return mpk__errf(MPK_EINVAL, "mpk_dict_get: %s",
                     len == NULL ? "len is NULL" : "buf is NULL with cap > 0");
  dict_entry *e;
  int r = find_locked(__func__, d, key, &e);
  if (r != MPK_OK)
    return r == MPK_EEMPTY ? mpk__err(r) : r;
  *len = e->vlen;
  if (e->vlen > cap)
    r = mpk__errf(MPK_EMSGSIZE,
                  "mpk_dict_get: value of %zu bytes > the "
                  "%zu-byte buffer",
                  e->vlen, cap);
  else if (e->vlen > 0)
    memcpy(buf, entry_val(e), e->vlen);
  dict_unlock(d);
  return r;
}

int mpk_dict_get_alloc(mpk_dict_t *d, const char *key, void **buf,
                       size_t *len) {
  if (buf == NULL || len == NULL)
    return mpk__err_null(buf == NULL ? "buf" : "len");
  dict_entry *e;
  int r = find_locked(__func__, d, key, &e);
  if (r != MPK_OK)
    return r == MPK_EEMPTY ? mpk__err(r) : r;
  void *p = malloc(e->vlen > 0 ? e->vlen : 1);
  if (p == NULL) {
    r = mpk__errf(MPK_ENOMEM, "mpk_dict_get_alloc: no memory for %zu bytes",
                  e->vlen);
  } else {
    if (e->vlen > 0)
      memcpy(p, entry_val(e), e->vlen);
    *buf = p;
    *len = e->vlen;
  }
  dict_unlock(d);
  return r;
}

int mpk_dict_contains(mpk_dict_t *d, const char *key) {
  dict_entry *e;
  int r = find_locked(__func__, d, key, &e);
  if (r == MPK_EEMPTY)
    return 0;
  if (r != MPK_OK)
    return r;
  dict_unlock(d);
  return 1;
}

long mpk_dict_len(mpk_dict_t *d) {
  int r = dict_enter(__func__, d);
  if (r != MPK_OK)
    return r;
  long n = d->count;
  dict_unlock(d);
  return n;
}

int mpk_dict_foreach(mpk_dict_t *d,
                     int (*fn)(const char *key, const void *val, size_t len,
                               void *arg),
                     void *arg) {
  if (!dict_ok(d) || fn == NULL)
    return dict_ok(d) ? mpk__err_null("fn")
                      : mpk__err_handle(__func__, d, "d", "mpk_dict_t");
  int r = dict_lock(d);
  if (r != MPK_OK)
    return r;
  dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  for (size_t i = 0; i < t->cap && r == 0; i++) {
    dict_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (e != NULL && e != TOMB)
      r = fn(entry_key(e), entry_val(e), e->vlen, arg);
  }
  dict_unlock(d);
  return r;
}

long mpk__dict_repairs(mpk_dict_t *d) {
  int r = dict_enter(__func__, d);
  if (r != MPK_OK)
    return r;
  long n = d->repairs;
  dict_unlock(d);
  return n;
}

int mpk__dict_check(mpk_dict_t *d) {
  int r = dict_enter(__func__, d);
  if (r != MPK_OK)
    return r;
  dict_table *t = atomic_load_explicit(&d->table, memory_order_relaxed);
  long live = 0, tombs = 0;
  int ok = t != NULL && t->magic == TABLE_MAGIC && t->cap >= MIN_CAP &&
           (t->cap & (t->cap - 1)) == 0;
  for (size_t i = 0; ok && i < t->cap; i++) {
    dict_entry *e = atomic_load_explicit(&t->slot[i], memory_order_relaxed);
    if (e == NULL)
      continue;
    if (e == TOMB) {
      tombs++;
      continue;
    }
    live++;
    size_t at;
    ok = MPK__SHM_LIVE(e, ENTRY_MAGIC) && e->klen == strlen(e->data) &&
         e->hash == hash_key(e->data, e->klen) &&
         probe(t, e->data, e->klen, e->hash, &at) == i;
  }
  ok = ok && live == d->count && live + tombs == d->used &&
       (size_t)d->used < t->cap;
  dict_unlock(d);
  return ok ? MPK_OK : mpk__errf(MPK_EIO, "dict: inconsistent table");
}
