/* mpk/process.h - processes: Python's multiprocessing.Process for C.
 *
 *   static int square(void *arg) { int x = *(int *)arg; printf("%d\n", x * x);
 *                                  return 0; }
 *   int x = 5;
 *   mpk_process_t *p;
 *   mpk_process_new(&p, square, &x, sizeof x, NULL);  // arg is copied
 *   mpk_process_start(p);                              // fork
 *   mpk_process_join(p, MPK_FOREVER);
 *   int code; mpk_process_exitcode(p, &code);          // 0
 *   mpk_process_free(p);
 *
 * A child is a fork() of the caller (Python's "fork" start method): it sees
 * a copy of the parent's memory and, through the shared heap (mpk/shm.h),
 * the same shared bytes. Its run function's return value is its exit code
 * (only the low 8 bits reach the parent, as with exit(3)); after it returns
 * the child settles its own children (see "Exit" below), flushes stdio and
 * calls _exit(), so the parent's atexit handlers never run in the child.
 *
 * Names follow Python: "Process-N", N counting mpk_process_new() calls of
 * this process from 1 (custom names count too); inside a child, that child's
 * own children are "Process-2:1", "Process-2:2", ... (Python's identity
 * chain; the chain follows the default name even when a custom name was
 * given). mpk_current_process_name() is "MainProcess" in the original
 * process and the child's name in a child.
 *
 * Parent death: every child gets PR_SET_PDEATHSIG(SIGKILL), so no child
 * outlives a parent that is killed or crashes. Linux delivers it when the
 * THREAD that called mpk_process_start() exits, not only the whole process:
 * start processes from a thread that lives as long as they should. (If that
 * thread ends within the microseconds before the child has armed the signal,
 * the child is handed to another thread of the process and dies when that
 * one ends.) A child whose parent process died before the signal was armed
 * kills itself at once.
 *
 * Exit: when a process exits normally (exit() or return from main, and
 * every mpk child when its run function returns), its daemon children get
 * SIGTERM, then SIGKILL after a short grace (0.5 s) if still running, and
 * are reaped; its other children still running are joined without limit,
 * as Python does at interpreter exit. Freed handles (mpk_process_free) are
 * included. _exit() and abnormal deaths skip this; PDEATHSIG then ends the
 * children.
 *
 * Handles belong to the process that created them (as in Python). A forked
 * child inherits copies of its parent's handles but cannot start, join,
 * poll or signal through them (those processes are its siblings): such
 * calls return MPK_ECHILD, even when a thread of the parent was using the
 * handle at the moment of the fork. It may free its copies.
 *
 * Handles are malloc'd objects, not shared-heap objects: NULL gets the
 * answer each call lists (MPK_EINVAL, 0, NULL, a no-op), and any other
 * pointer that is not a live handle from mpk_process_new (one already
 * freed, another object, garbage) is undefined behaviour, as for FILE *.
 */
#ifndef MPK_PROCESS_H
#define MPK_PROCESS_H

#include <sys/types.h>

#include "mpk/common.h"
#include "mpk/error.h"
#include "mpk/topo.h" /* mpk_cpu_count(), cpuset lists */

MPK_BEGIN_DECLS

typedef struct mpk_process mpk_process_t;

/* The child's body; its return value is the child's exit code (& 0xff). */
typedef int (*mpk_process_fn)(void *arg);

typedef struct {
  const char *name;   /* NULL: "Process-N"; copied at mpk_process_new */
  int daemon;         /* 0 / 1: terminated (not joined) when the parent exits
                         normally */
  const char *cpuset; /* NULL: inherit the parent's affinity; else a hwloc
                         list ("0", "0-3,8") the child is bound to before
                         `run` starts; copied at mpk_process_new */
} mpk_process_opts;

/* Create a process object (not started). `arg_size` bytes at `arg` are
   copied now (Python pickles the args at start; a copy at creation makes a
   caller's stack buffer safe to reuse at once); the child's run function
   gets a pointer to that copy, or NULL when arg_size is 0. `opts` may be
   NULL. Each call uses up one number of "Process-N", also with a custom
   name; a failing call uses none.
   Errors: MPK_EINVAL (p or run NULL, arg NULL with arg_size > 0, daemon not
   0 / 1), MPK_ENOMEM. A bad cpuset is reported by mpk_process_start.
   MT-safe. */
MPK_API int mpk_process_new(mpk_process_t **p, mpk_process_fn run,
                            const void *arg, size_t arg_size,
                            const mpk_process_opts *opts);

/* Fork the child and return once it exists. With a cpuset, the cpuset is
   checked before forking and start returns only after the child has bound
   itself, so a binding failure is this call's error and no `run` happens.
   Errors: MPK_EINVAL (p NULL; cpuset malformed, empty or outside the CPUs
   this process may use), MPK_ESTATE (already started, also by another
   thread right now), MPK_ECHILD (p was created by another process: a copy
   inherited across fork), MPK_ENOMEM, MPK_EAGAIN (process or descriptor
   limit). A failing start leaves p unstarted (it may be started again) and
   `run` never ran. Once the child exists, start succeeds: if the child was
   reaped behind mpk's back before start could watch it (SIGCHLD set to
   SIG_IGN, a waitpid(-1) elsewhere), join and exitcode then report
   MPK_ECHILD (status lost) and is_alive 0.
   MT-safe. Call it from a thread that outlives the child (PDEATHSIG). */
MPK_API int mpk_process_start(mpk_process_t *p);

/* Wait up to `timeout` seconds (MPK_FOREVER: no limit, 0: poll) for the
   child to end, and reap it. Sleeps in poll() on a pidfd: no busy loop.
   MPK_OK once it ended (also on later calls), MPK_ETIMEDOUT while it still
   runs, MPK_ESTATE (not started), MPK_EINVAL (p NULL, timeout NaN),
   MPK_ECHILD (not a child of the calling process, or it was reaped behind
   mpk's back, by waitpid(-1) or with SIGCHLD set to SIG_IGN: its exit
   status is lost), MPK_EAGAIN / MPK_ENOMEM (only when start could not get
   a pidfd and none can be had now either: out of descriptors; nothing
   changed, try again).
   MT-safe (several threads may join one process). */
MPK_API int mpk_process_join(mpk_process_t *p, double timeout);

/* 1 while the child runs, 0 before start and once it ended (an ended
   child is reaped here). MPK_EINVAL (p NULL), MPK_ECHILD (p was created by
   another process). MT-safe. */
MPK_API int mpk_process_is_alive(mpk_process_t *p);

/* Send SIGTERM (terminate) or SIGKILL (kill) to the child. MPK_OK, also
   when it has already ended (no-op, as in Python; an ended child is reaped
   here); MPK_ESTATE (not started), MPK_EINVAL (p NULL), MPK_ECHILD (p was
   created by another process). The signal can never hit a recycled pid:
   it is sent through the child's pidfd, and never after the child was
   reaped (by mpk_process_* under the same lock, or by the exit-time
   handling, e.g. when called from a later atexit handler). It does not
   wait: join afterwards. MT-safe. */
MPK_API int mpk_process_terminate(mpk_process_t *p);
MPK_API int mpk_process_kill(mpk_process_t *p);

/* The child's exit code, as Python's exitcode: its run function's return
   value (0..255) after a normal exit, -signal when a signal ended it
   (terminate gives -15, kill -9). Reaps the child if it has just ended.
   MPK_ESTATE (not started, or still running), MPK_EINVAL (p or code NULL),
   MPK_ECHILD (exit status lost or not our child). MT-safe. */
MPK_API int mpk_process_exitcode(const mpk_process_t *p, int *code);

/* The child's pid: 0 before start (and for p NULL), kept after it ended.
   MT-safe, AS-safe. */
MPK_API pid_t mpk_process_pid(const mpk_process_t *p);

/* The process object's name ("Process-N" or the custom name); NULL for p
   NULL. Valid until mpk_process_free. MT-safe, AS-safe. */
MPK_API const char *mpk_process_name(const mpk_process_t *p);

/* The calling process's own name: "MainProcess" in the original process,
   the child's name ("Process-3", "Process-2:1", a custom name) in a child
   started by mpk. Never NULL; valid for the life of the process. A raw
   fork() keeps its parent's name. MT-safe, AS-safe. */
MPK_API const char *mpk_current_process_name(void);

/* Free the object. It kills nothing: a child still running goes on, is
   reaped when it ends (by the next mpk process call or at exit) so it never
   stays a zombie, and still counts as a daemon / non-daemon child at exit.
   NULL is a no-op. In a forked child, freeing an inherited copy releases
   only the copy's memory. Not MT-safe against other calls on the same p. */
MPK_API void mpk_process_free(mpk_process_t *p);

MPK_END_DECLS

#endif
