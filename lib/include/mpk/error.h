/* mpk/error.h - error codes.
 *
 * Every mpk call that can fail returns int: MPK_OK (0) or a negative code.
 * Codes that mirror an errno value are its negation (MPK_EINVAL == -EINVAL);
 * mpk's own codes are -1001 and below. A call that fails leaves its objects
 * unchanged and usable.
 */
#ifndef MPK_ERROR_H
#define MPK_ERROR_H

#include <errno.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

/* The one list of codes: X(name, value, message). It generates the enum,
   mpk_strerror() and mpk_err_name(). */
#define MPK_ERRNO_MAP(X)                                                       \
  X(OK, 0, "success")                                                          \
  X(EINVAL, -EINVAL, "invalid argument")                                       \
  X(ENOMEM, -ENOMEM, "out of memory")                                          \
  X(ETIMEDOUT, -ETIMEDOUT, "timed out")                                        \
  X(EPERM, -EPERM, "operation not permitted (not the owner)")                  \
  X(EMSGSIZE, -EMSGSIZE, "message too large for the buffer or channel")        \
  X(EOVERFLOW, -EOVERFLOW, "released more times than acquired")                \
  X(EOWNERDEAD, -EOWNERDEAD, "acquired; the previous owner died holding it")   \
  X(EAGAIN, -EAGAIN, "resource temporarily unavailable")                       \
  X(EDEADLK, -EDEADLK, "would deadlock: the caller already holds it")          \
  X(ENOSYS, -ENOSYS, "not supported by this system")                           \
  X(ECHILD, -ECHILD, "no such child process")                                  \
  X(EIO, -EIO, "input/output error")                                           \
  X(EEMPTY, -1001, "empty")                                                    \
  X(EFULL, -1002, "full")                                                      \
  X(EEOF, -1003, "end of file: the other end is closed")                       \
  X(ECLOSED, -1004, "closed")                                                  \
  X(EBROKEN, -1005, "barrier is broken")                                       \
  X(ETASK, -1006, "a task returned non-zero")                                  \
  X(EWORKER, -1007, "a worker died while running a task")                      \
  X(ESTATE, -1008, "call not valid in the object's current state")             \
  X(ENOTSUP, -1009, "not supported")

#define MPK__ERR_ENUM(name, value, msg) MPK_##name = (value),
enum mpk_errno { MPK_ERRNO_MAP(MPK__ERR_ENUM) };
#undef MPK__ERR_ENUM

/* Message for a code: never NULL, also for unknown codes ("unknown error").
   MT-safe, MP-safe, AS-safe (returns static strings). */
MPK_API const char *mpk_strerror(int code);

/* The code's symbolic name: "MPK_OK", "MPK_EINVAL", ...; "MPK_UNKNOWN" for
   an unknown code. Never NULL. MT-safe, MP-safe, AS-safe. */
MPK_API const char *mpk_err_name(int code);

MPK_END_DECLS

#endif
