/* mpk/error.h - error codes.
 *
 * Every mpk call that can fail returns int: MPK_OK (0) or a negative code.
 * Codes that mirror an errno value are its negation (MPK_EINVAL == -EINVAL);
 * mpk's own codes are -1001 and below. A call that fails leaves its objects
 * unchanged and usable.
 *
 * The code says what kind of failure it was; mpk_errmsg() says what was
 * wrong ("cpuset '7-3': range end before start", "workers 2000 >
 * MPK_POOL_MAX_WORKERS (1024)", "fork: Resource temporarily unavailable
 * (EAGAIN)", "worker 1 (pid 1234) killed by signal 9 (SIGKILL)").
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

/* Size of the buffer behind mpk_errmsg(), its NUL included: a message is at
   most MPK_ERRMSG_MAX - 1 bytes. */
#define MPK_ERRMSG_MAX 256

/* What was wrong in the calling thread's most recent failed mpk call.

   Every mpk call that returns a negative code (or NULL for a failure, as
   mpk_shm_alloc) sets it before it returns: a
   detail where the library knows more than the code says (the bad argument and
   why, the system call and its errno text, which worker died and how, the MPI
   error), else the code's mpk_strerror() text. Codes that answer rather than
   fail (MPK_EEMPTY, MPK_EFULL, MPK_ETIMEDOUT of a wait, MPK_EEOF, MPK_ECLOSED,
   MPK_EOWNERDEAD) set it too, to their mpk_strerror() text, without formatting
   anything.

   A call that succeeds leaves it unchanged: the text stays that of the last
   failed call in this thread until the next mpk call in this thread fails.
   Before any failure in a thread it is "" (the empty string).

   Never NULL. The string lives in a fixed per-thread buffer (no allocation
   when a call fails, so it also works after out-of-memory); a longer
   message is cut at MPK_ERRMSG_MAX - 1 bytes and ends with "...", and a
   user string quoted in it (a cpuset, a name) is cut to its first 40 bytes.
   The pointer stays valid, and its text unchanged, until the next failed mpk
   call in the same thread; copy it to keep it longer.

   MT-safe: each thread has its own message, and a failure in one thread
   never changes another's. MP-safe (it is process-local). AS-safe (reads
   only the thread's own buffer). Across fork() the child starts with the
   forking thread's message, as with any thread-local variable; a worker's
   or a child's own failures never reach the parent's message, except as the
   details the parent derives from them (a worker's death, a task's return
   value, an initializer that failed). */
MPK_API const char *mpk_errmsg(void);

MPK_END_DECLS

#endif
