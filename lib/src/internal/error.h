/* internal/error.h - recording what went wrong behind a returned code
 * (mpk_errmsg in mpk/error.h).
 *
 * One record per thread: the message of the last failure, in a fixed
 * thread-local buffer. The setters return their code, so a failure site
 * reads
 *   return mpk__errf(MPK_EINVAL, "workers %d > MPK_POOL_MAX_WORKERS (%d)",
 *                    n, MPK_POOL_MAX_WORKERS);
 * Rules that keep mpk_errmsg's promise ("a call that succeeds leaves it
 * unchanged; one that fails sets it"):
 *   - record where a failure becomes the call's result, never in a helper
 *     whose failure the caller may absorb (a futex wait that times out
 *     inside a retry loop, a reap that finds the child still running);
 *   - a code passed up from a callee that recorded it is returned as is;
 *   - a caller that absorbs a recorded failure restores the record
 *     (mpk__err_save / mpk__err_restore).
 * None of these allocate; all are MT-safe (the record is per thread) and
 * AS-safe except mpk__errf / mpk__errsys (vsnprintf).
 */
#ifndef MPK_INTERNAL_ERROR_H
#define MPK_INTERNAL_ERROR_H

#include <stdarg.h>
#include <string.h>

#include "mpk/error.h"

#define MPK__PRINTF(f, a) __attribute__((format(printf, f, a)))

/* Record `code` with a formatted detail; returns code. (Macros and
   inline wrappers, so that the compiler sees the code returned: a caller's
   `if (rc != MPK_OK)` then knows what follows.) */
#define mpk__errf(code, ...) (mpk__errf_((code), __VA_ARGS__), (code))
void mpk__errf_(int code, const char *fmt, ...) MPK__PRINTF(2, 3);
void mpk__verrf(int code, const char *fmt, va_list ap) MPK__PRINTF(2, 0);

/* Record `code` with `text` (NULL: the code's mpk_strerror text) without
   formatting: two stores to the thread's record. AS-safe. */
void mpk__err_set(int code, const char *text);

/* Record `code` with its mpk_strerror text, formatting nothing (for the
   answers of hot paths: MPK_EEMPTY, MPK_EFULL, MPK_ETIMEDOUT...); returns
   code. */
static inline int mpk__err(int code) {
  mpk__err_set(code, NULL);
  return code;
}

/* rc < 0: record it with its mpk_strerror text (a code from a layer that
   records nothing, such as the robust mutex or the futex). Returns rc.
   AS-safe. */
static inline int mpk__err_if(int rc) {
  return rc < 0 ? mpk__err(rc) : rc;
}

/* For layers whose helpers record errors where they happen but pass the
   answers up bare: record rc with its text when it is an answer
   (MPK_EEMPTY, MPK_EFULL, MPK_ETIMEDOUT, MPK_EEOF, MPK_ECLOSED,
   MPK_EOWNERDEAD), leave the record alone otherwise; returns rc. AS-safe. */
int mpk__err_answer(int rc);

/* Record `code` with `text`, a string literal (or another string that
   lives forever), formatting nothing: AS-safe, for the calls documented as
   AS-safe. Returns code. */
static inline int mpk__err_lit(int code, const char *text) {
  mpk__err_set(code, text);
  return code;
}

/* A system call failed with errno `e`: record "<detail>: <strerror(e)>
   (<errno name>)" and return mpk__errno_code(e, dflt). */
int mpk__errsys(int e, int dflt, const char *fmt, ...) MPK__PRINTF(3, 4);

/* The MPK code for errno `e`: ENOMEM, EINVAL, EPERM (and EACCES), ENOSYS,
   ECHILD (and ESRCH), EAGAIN (and EMFILE, ENFILE), ETIMEDOUT, EIO map to
   themselves; anything else is `dflt`. Records nothing. */
int mpk__errno_code(int e, int dflt);

/* The calling thread's record, to restore after absorbing a failure. */
typedef struct {
  int code;
  const char *lit; /* static text, or NULL: the text is in buf */
  char buf[MPK_ERRMSG_MAX];
} mpk__errstate;

void mpk__err_save(mpk__errstate *s);
void mpk__err_restore(const mpk__errstate *s);

/* The common details, named after the public function they fail in:
   "mpk_queue_put: q is NULL", "mpk_pool_worker_cpuset: buffer of 4 bytes
   is too small for 6". */
#define mpk__err_null(what)                                                    \
  mpk__errf(MPK_EINVAL, "%s: %s is NULL", __func__, what)
#define mpk__err_small(cap, need)                                              \
  mpk__errf(MPK_EMSGSIZE, "%s: buffer of %zu bytes is too small for %zu",      \
            __func__, (size_t)(cap), (size_t)(need))

/* A handle argument of call `fn` that is NULL or not a live object of its
   type ("mpk_queue_put: q is not a live mpk_queue_t (freed, or not made by
   mpk)"); MPK_EINVAL. */
int mpk__err_handle(const char *fn, const void *h, const char *name,
                    const char *type);

/* Quote a user string in a message, cut to its first 40 bytes:
   mpk__errf(MPK_EINVAL, "cpuset '" MPK__QFMT "': ...", MPK__Q(s)).
   s must not be NULL. */
#define MPK__QMAX 40
#define MPK__QFMT "%.*s%s"
#define MPK__Q(s) MPK__QMAX, (s), (strlen(s) > MPK__QMAX ? "..." : "")

#endif
