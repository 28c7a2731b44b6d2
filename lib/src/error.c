/* error.c - the code table of mpk/error.h rendered as strings, and the
 * per-thread record behind mpk_errmsg (internal/error.h). */
#include "internal/error.h"

#include <errno.h>
#include <stdio.h>

const char *mpk_strerror(int code) {
  switch (code) {
#define X(name, value, msg)                                                    \
  case (value): return msg;
    MPK_ERRNO_MAP(X)
#undef X
  default: return "unknown error";
  }
}

const char *mpk_err_name(int code) {
  switch (code) {
#define X(name, value, msg)                                                    \
  case (value): return "MPK_" #name;
    MPK_ERRNO_MAP(X)
#undef X
  default: return "MPK_UNKNOWN";
  }
}

/* The thread's record. Zero-initialised: lit NULL and buf "" until the
   first failure. A fork() child gets a copy of the forking thread's. */
static _Thread_local mpk__errstate t_err;

const char *mpk_errmsg(void) {
  if (t_err.lit != NULL)
    return t_err.lit;
  return t_err.code != 0 && t_err.buf[0] == '\0' ? mpk_strerror(t_err.code)
                                                 : t_err.buf;
}

void mpk__err_set(int code, const char *text) {
  t_err.code = code;
  t_err.lit = text != NULL ? text : mpk_strerror(code);
}

int mpk__err_answer(int rc) {
  switch (rc) {
  case MPK_EEMPTY:
  case MPK_EFULL:
  case MPK_ETIMEDOUT:
  case MPK_EEOF:
  case MPK_ECLOSED:
  case MPK_EOWNERDEAD: return mpk__err(rc);
  default: return rc;
  }
}

/* Mark a cut message: its last three bytes become "...". */
static void mark_cut(char *buf, size_t len) {
  if (len >= MPK_ERRMSG_MAX)
    memcpy(buf + MPK_ERRMSG_MAX - 4, "...", 4);
}

void mpk__verrf(int code, const char *fmt, va_list ap) {
  /* Formatted aside first: an argument may be the current message
     ("%s", mpk_errmsg()). */
  char tmp[MPK_ERRMSG_MAX];
  int n = vsnprintf(tmp, sizeof tmp, fmt, ap);
  if (n < 0) { /* an encoding error: keep the plain text */
    mpk__err_set(code, NULL);
    return;
  }
  mark_cut(tmp, (size_t)n);
  memcpy(t_err.buf, tmp, sizeof tmp);
  t_err.code = code;
  t_err.lit = NULL;
}

void mpk__errf_(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  mpk__verrf(code, fmt, ap);
  va_end(ap);
}

int mpk__errno_code(int e, int dflt) {
  switch (e) {
  case ENOMEM: return MPK_ENOMEM;
  case EINVAL: return MPK_EINVAL;
  case EPERM:
  case EACCES: return MPK_EPERM;
  case ENOSYS: return MPK_ENOSYS;
  case ESRCH:
  case ECHILD: return MPK_ECHILD;
  case EAGAIN:
  case EMFILE:
  case ENFILE: return MPK_EAGAIN;
  case ETIMEDOUT: return MPK_ETIMEDOUT;
  case EIO: return MPK_EIO;
  default: return dflt;
  }
}

int mpk__errsys(int e, int dflt, const char *fmt, ...) {
  int code = mpk__errno_code(e, dflt);
  char what[MPK_ERRMSG_MAX];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  if (n < 0)
    what[0] = '\0';
  const char *name = strerrorname_np(e);
  char text[128];
  /* GNU strerror_r: MT-safe, returns its own string or text */
  const char *s = strerror_r(e, text, sizeof text);
  mpk__errf_(code, "%s: %s (%s)", what, s, name ? name : "?");
  return code;
}

int mpk__err_handle(const char *fn, const void *h, const char *name,
                    const char *type) {
  if (h == NULL)
    return mpk__errf(MPK_EINVAL, "%s: %s is NULL", fn, name);
  return mpk__errf(MPK_EINVAL,
                   "%s: %s is not a live %s (freed, or not made "
                   "by mpk)",
                   fn, name, type);
}

void mpk__err_save(mpk__errstate *s) {
  *s = t_err;
}

void mpk__err_restore(const mpk__errstate *s) {
  t_err = *s;
}
