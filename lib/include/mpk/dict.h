/* mpk/dict.h - a shared dictionary: Python's Manager().dict() without the
 * manager process.
 *
 *   mpk_dict_t *d;
 *   mpk_dict_new(&d);                       // before or after forking
 *   long v = 2 * i;
 *   mpk_dict_set(d, "3", &v, sizeof v);     // in any process
 *   size_t len;
 *   mpk_dict_get(d, "3", &v, sizeof v, &len);
 *
 * Keys are NUL-terminated strings of 1..MPK_DICT_KEY_MAX bytes; values are
 * byte strings of any length (0 included), copied in and out. Everything
 * lives in the shared heap (mpk/shm.h), so the handle is a plain pointer
 * that is valid in every process of the tree: children forked after
 * mpk_dict_new use it as is, and it may be sent to other processes (through
 * a pipe or a queue) as a pointer value. The table is a hash table with
 * open addressing that is rebuilt (rehashed) to fit as it grows.
 *
 * Every call takes the dict's robust process-shared mutex, so the dict is
 * safe from any number of processes and threads at once (MT-safe, MP-safe;
 * no call is AS-safe). Calls block until the mutex is free; there are no
 * timeouts.
 *
 * A process killed inside a call (SIGKILL, a crash) cannot wedge or corrupt
 * the dict. New entries and new tables are written completely before they
 * are published with a single store, so the update in flight is either
 * wholly applied or not at all; the next caller inherits the mutex
 * (MPK_EOWNERDEAD inside) and recounts the dict's size before going on, and
 * its call succeeds normally. What can be lost is at most the dead caller's
 * own update, and at most two blocks of the shared heap leak (the entry it
 * was writing, and the entry or table it was replacing).
 *
 * Across fork: the dict is shared, not copied; a child sees and changes
 * the same dict. Forking while another thread is inside a dict call is
 * harmless: that thread keeps the mutex and releases it as usual, and the
 * child waits for it like any other process.
 *
 * "d not a dict" below means a bad handle as mpk/shm.h defines it: NULL, a
 * pointer outside the shared heap or not at the start of a dict, another
 * kind of object, or a dict already freed whose memory was not reused.
 */
#ifndef MPK_DICT_H
#define MPK_DICT_H

#include <stddef.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

/* The longest key, in bytes (not counting the terminating NUL). */
#define MPK_DICT_KEY_MAX 255

typedef struct mpk_dict mpk_dict_t;

/* Create an empty dict in the shared heap.
   Errors: MPK_EINVAL (d NULL), MPK_ENOMEM (shared heap exhausted).
   MT-safe, MP-safe. */
MPK_API int mpk_dict_new(mpk_dict_t **d);

/* d[key] = the len bytes at val (a copy). Replaces an existing value.
   Errors: MPK_EINVAL (d not a dict, key NULL, empty or longer than
   MPK_DICT_KEY_MAX, val NULL with len > 0), MPK_ENOMEM (shared heap
   exhausted: the dict is unchanged), MPK_EDEADLK (called from inside an
   mpk_dict_foreach callback on the same dict). MT-safe, MP-safe. */
MPK_API int mpk_dict_set(mpk_dict_t *d, const char *key, const void *val,
                         size_t len);

/* Copy d[key] into buf (cap bytes) and set *len to its length.
   Errors: MPK_EINVAL (d not a dict, bad key as for set, len NULL, buf NULL
   with cap > 0), MPK_EEMPTY (no such key; *len untouched), MPK_EMSGSIZE
   (the value is longer than cap: *len is set to its length, nothing is
   copied; cap 0 asks for the size), MPK_EDEADLK (inside foreach).
   MT-safe, MP-safe. */
MPK_API int mpk_dict_get(mpk_dict_t *d, const char *key, void *buf, size_t cap,
                         size_t *len);

/* As mpk_dict_get, into a buffer malloc'd to fit (free() it; non-NULL also
   for a zero-length value). On error *buf and *len are untouched.
   Errors: as mpk_dict_get without MPK_EMSGSIZE, plus MPK_ENOMEM.
   MT-safe, MP-safe. */
MPK_API int mpk_dict_get_alloc(mpk_dict_t *d, const char *key, void **buf,
                               size_t *len);

/* 1 if key is in the dict, 0 if not (Python's `key in d`).
   Errors: MPK_EINVAL (d not a dict, bad key), MPK_EDEADLK (inside foreach).
   MT-safe, MP-safe. */
MPK_API int mpk_dict_contains(mpk_dict_t *d, const char *key);

/* del d[key]. Errors: MPK_EINVAL (d not a dict, bad key), MPK_EEMPTY (no
   such key), MPK_EDEADLK (inside foreach). MT-safe, MP-safe. */
MPK_API int mpk_dict_del(mpk_dict_t *d, const char *key);

/* Number of entries (>= 0), or MPK_EINVAL (d not a dict), MPK_EDEADLK
   (inside foreach). MT-safe, MP-safe. */
MPK_API long mpk_dict_len(mpk_dict_t *d);

/* Call fn(key, val, len, arg) for every entry, in no particular order, until
   fn returns non-zero; foreach then returns that value (MPK_OK when fn
   returned 0 for every entry). `key` and `val` point into the shared heap
   and are valid only during the callback: copy what you keep.
   The callback runs with the dict's mutex held: it must be short, and it
   must not call any mpk_dict_* function on the same dict (from the same
   thread such a call fails with MPK_EDEADLK; from another thread it waits
   until foreach returns). To change the dict while iterating, collect the
   keys in the callback and make the changes after foreach returns.
   Errors: MPK_EINVAL (d not a dict, fn NULL), MPK_EDEADLK (called from a
   callback of the same dict). MT-safe, MP-safe. */
MPK_API int mpk_dict_foreach(mpk_dict_t *d,
                             int (*fn)(const char *key, const void *val,
                                       size_t len, void *arg),
                             void *arg);

/* Free the dict and every entry. NULL, and a pointer that is not a dict,
   are no-ops. No process may use the dict during or after this call.
   Not MT-safe / MP-safe against other calls on the same dict. */
MPK_API void mpk_dict_free(mpk_dict_t *d);

MPK_END_DECLS

#endif
