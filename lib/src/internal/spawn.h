/* internal/spawn.h - the one fork layer under mpk_process and the pool's
 * process backend.
 *
 * Everything mpk forks goes through mpk__fork(), so every child gets the same
 * treatment: the shared heap is mapped before the fork, stdio is flushed, the
 * child dies with its parent (PR_SET_PDEATHSIG) and starts with a clean
 * per-process state (its own name, its own child numbering, an empty child
 * registry). Waiting for a child never polls in a loop: a pidfd (or, on
 * kernels without pidfd_open, an eventfd signalled by a watcher thread) is
 * poll()ed with a CLOCK_MONOTONIC deadline, then the child is reaped with
 * waitpid. Signals go through the pidfd when there is one, so they cannot
 * reach another process that reuses a reaped child's pid.
 *
 * The child registry remembers every child whose end must be settled when
 * this process exits: daemon children are terminated (SIGTERM, then SIGKILL
 * after MPK__DAEMON_GRACE seconds), the others are joined, as Python does at
 * interpreter exit. Children whose handle was freed while they still ran
 * ("orphans") are reaped by the next mpk process call or at exit, so they
 * never stay zombies.
 *
 * Per-process state after a fork: the registry lock is held across every
 * fork() (pthread_atfork), and the child of ANY fork (mpk's or the user's)
 * starts with an empty registry and closes the pidfds (and watcher
 * descriptors) it inherited, so a child never waits for, signals or reaps
 * its parent's children. Names and
 * numbering are reset only by mpk__fork (a raw fork() keeps the parent's
 * name, as os.fork() does in Python).
 *
 * The library's own descriptors. Every descriptor mpk keeps open beyond one
 * call (a pool's eventfd, lifeline pipe and fork-server socket, the pidfds
 * of its workers, a process's start report pipe, a worker's statm) is
 * registered with an owner, the object it belongs to, and created with the
 * descriptor table locked (mpk__fds_lock), which every fork() also holds:
 * no fork falls between creation and registration. The child of ANY fork
 * closes every registered descriptor except those of the owner its
 * mpk__fork was given as `keep` that are not MPK__FD_PRIVATE; a raw fork()
 * keeps none. So a process never holds another object's internals: a pool's
 * fork server, its workers and an mpk_process child hold no descriptor of
 * another pool (one holding pool A's socket would keep A's fork server from
 * ever seeing end-of-file, and mpk_pool_free(A) would wait forever). The
 * user's own descriptors are inherited as with fork(2).
 */
#ifndef MPK_INTERNAL_SPAWN_H
#define MPK_INTERNAL_SPAWN_H

#include <stdatomic.h>
#include <sys/types.h>

#include "internal/clock.h"

/* Seconds a daemon child gets between SIGTERM and SIGKILL at exit. */
#define MPK__DAEMON_GRACE 0.5

/* A test hook, for tests only: the grace of this process's later
   mpk__children_exit (MPK__DAEMON_GRACE until set). A test raises it so
   that a daemon's SIGTERM handler runs before the SIGKILL however late a
   loaded machine schedules it. Not MT-safe; no effect on the children's
   own exits. */
void mpk__set_daemon_grace(double seconds);

/* Fork a child. In the parent: mpk__shm_init() (so the shared heap is shared
   with the child), fflush(NULL), fork(). In the child, before returning 0:
   prctl(PR_SET_PDEATHSIG, SIGKILL); if the parent already died between
   fork() and prctl() (getppid() differs from the pid recorded before the
   fork) the child SIGKILLs itself at once, exactly as if the death signal had
   arrived; the current name becomes `child_name` and this child numbers its
   own children "<lineage>:1", "<lineage>:2", ... (`lineage` NULL: use
   `child_name`); the registry is empty; of the library's registered
   descriptors only the non-private ones owned by `keep` are open (none when
   `keep` is NULL). The strings are copied in the child
   (into static buffers: the child allocates nothing for names up to 127
   bytes), so they only need to live until the call returns.

   PR_SET_PDEATHSIG fires when the THREAD that forked exits, not the whole
   parent process: a thread that forks children and then ends takes them
   with it. Fork from a thread that lives as long as the children should.

   Returns 0 in the child, the child's pid (> 0) in the parent, or
   MPK_EINVAL (child_name NULL), MPK_ENOMEM (shared heap or fork out of
   memory), MPK_EAGAIN (process limit). (A name over 127 bytes is
   strdup()ed in the child and truncated to 127 bytes if that fails.) The child
   must end with mpk__child_exit(), never by returning into the caller's caller.
   MT-safe (the fork happens under the registry lock). Not AS-safe. */
pid_t mpk__fork(const char *child_name, const char *lineage, const void *keep);

/* End a child made by mpk__fork: settle its own children as at exit
   (mpk__children_exit), fflush(NULL), _exit(code & 0xff). Never returns. */
_Noreturn void mpk__child_exit(int code);

/* The current process's name: "MainProcess" in the original process, the
   child_name given to mpk__fork in a child. Never NULL. MT-safe. */
const char *mpk__process_name(void);

/* getpid() without a system call: cached, and refreshed in the child of
   every fork() (mpk's or the user's, through pthread_atfork; not after a
   raw clone() or vfork()). MT-safe, AS-safe once any mpk process call has
   run. */
pid_t mpk__self_pid(void);

/* Rename the current process (what mpk_current_process_name() returns);
   the lineage used for its children's names is unchanged.
   MPK_OK, MPK_EINVAL (NULL), MPK_ENOMEM. Not MT-safe against concurrent
   readers of the old name: call it before starting threads. */
int mpk__set_process_name(const char *name);

/* Take the next child number of this process and return its default name,
   "Process-N" in the original process and "<lineage>:N" in a child (Python's
   identity chain: Process-2's children are Process-2:1, Process-2:2, ...).
   Numbers count from 1 and are never reused. The string is malloc()ed (the
   caller frees it). NULL with errno = ENOMEM, in which case no number was
   used. MT-safe (atomic counter). */
char *mpk__next_child_name(void);

/* Open a descriptor that polls readable (POLLIN) once `pid` has exited.
   It is a pidfd (pidfd_open(2), close-on-exec); on kernels without
   pidfd_open (ENOSYS) it is a close-on-exec eventfd that a detached watcher
   thread increments when waitid(WEXITED | WNOWAIT) sees the exit
   (mpk__pidfd_open_watcher). Readiness never depends on other processes
   closing descriptors, so children forked later do not delay it, and the
   child of a fork closes the watcher's descriptor it inherited. Either way
   the child is NOT reaped.
   `pid` must be an unreaped child of this process (a real pidfd also works
   for other processes; the watcher refuses them with MPK_ECHILD). Returns
   the fd (>= 0) or MPK_EINVAL (pid <= 0), MPK_ECHILD (no such process),
   MPK_EAGAIN (out of file descriptors or threads), MPK_ENOMEM. Close it
   with close(2). MT-safe. */
int mpk__pidfd_open(pid_t pid);

/* The ENOSYS fallback of mpk__pidfd_open, always used; exposed so that it
   can be tested on kernels that do have pidfd_open. Same contract. */
int mpk__pidfd_open_watcher(pid_t pid);

/* Send `sig` to the child `pid`. With `pidfd` >= 0 (from mpk__pidfd_open)
   a real pidfd is used (pidfd_send_signal): the signal can never reach
   another process, even if the child was reaped and its pid reused. With
   pidfd < 0, or the watcher's descriptor (no pidfds on this kernel), it is
   kill(2): then the caller must know that `pid` is still an unreaped child
   of this process. MPK_OK (also when the child is already gone: ESRCH),
   MPK_EINVAL (pid <= 0, bad signal), MPK_EPERM. MT-safe, AS-safe. */
int mpk__signal_child(pid_t pid, int pidfd, int sig);

/* Wait until `fd` (from mpk__pidfd_open) polls readable, i.e. the child has
   exited, or the deadline passes. Does not reap. EINTR is retried with the
   same deadline. MPK_OK, MPK_ETIMEDOUT, MPK_EINVAL (fd < 0 or not pollable).
   MT-safe. */
int mpk__wait_exit(int fd, const mpk__deadline *d);

/* Reap `pid` if it has exited (waitpid WNOHANG, EINTR retried).
   MPK_OK with *wstatus set when reaped, MPK_EAGAIN while it still runs,
   MPK_ECHILD when it is not (or no longer) an unreaped child of ours.
   MT-safe, but two threads reaping the same pid race: one of them gets
   MPK_ECHILD. */
int mpk__reap(pid_t pid, int *wstatus);

/* Wait for `pid` to exit and reap it. `pidfd` is its descriptor from
   mpk__pidfd_open, or -1: then a FOREVER wait blocks in waitpid and a
   timed wait opens a temporary one. Returns MPK_OK with *wstatus set,
   MPK_ETIMEDOUT (still running, not reaped), MPK_ECHILD (not our unreaped
   child), or an error of mpk__pidfd_open. Never polls in a loop.
   MT-safe (see mpk__reap for two threads on one pid). */
int mpk__wait_child(pid_t pid, int pidfd, const mpk__deadline *d, int *wstatus);

/* Python's exitcode for a wait status: the exit code (0..255) for a normal
   exit, -signal for a child killed by a signal (SIGTERM gives -15).
   A status that is neither (stopped, continued) gives 0. AS-safe. */
int mpk__status_to_exitcode(int wstatus);

/* --- the library's descriptors (see the top of this file) ---------------
 * Create a descriptor between mpk__fds_lock and mpk__fds_unlock and
 * register it there at once, close it only with mpk__fd_close. */

enum {
  MPK__FD_SHARED = 0,  /* kept by the children forked for its owner */
  MPK__FD_PRIVATE = 1u /* kept by no child, not even its owner's */
};

/* Lock / unlock the descriptor table (held across every fork()). Not
   recursive; do not fork while holding it. MT-safe. */
void mpk__fds_lock(void);
void mpk__fds_unlock(void);

/* Register `fd`, the result of the call that just created it (so, < 0:
   that call failed and errno tells why), for `owner` (not NULL) with
   MPK__FD_* `flags`. Returns fd, or the creating call's error as an MPK
   code (MPK_EAGAIN for EMFILE / ENFILE), or MPK_ENOMEM / MPK_EINVAL (owner
   NULL): then fd has been closed. `what` names the creating call in the
   recorded message (mpk_errmsg: "eventfd: Too many open files (EMFILE)").
   Table lock held. */
int mpk__fd_own_locked(int fd, const char *what, const void *owner,
                       unsigned flags);

/* The same for a pair made by pipe2(2) or socketpair(2): `rc` is the
   call's return value, fds[0] gets flags0 and fds[1] flags1. MPK_OK, or an
   error as above with both closed and set to -1. Table lock held. */
int mpk__fd_own_pair_locked(int rc, const char *what, int fds[2],
                            const void *owner, unsigned flags0,
                            unsigned flags1);

/* mpk__pidfd_open(pid), registered as MPK__FD_PRIVATE for `owner`, under
   the table lock. Same returns as mpk__pidfd_open, and MPK_ENOMEM /
   MPK_EINVAL (owner NULL). MT-safe. */
int mpk__pidfd_open_owned(pid_t pid, const void *owner);

/* Change the flags of the registered `fd` (e.g. a fork server making the
   socket end it inherited private to itself). No-op for an unregistered
   fd. MT-safe. */
void mpk__fd_set_flags(int fd, unsigned flags);

/* Unregister and close `fd` (< 0: no-op) atomically with respect to
   fork(). Also closes a descriptor that was never registered. MT-safe. */
void mpk__fd_close(int fd);

/* --- the child registry --------------------------------------------------
 * A node per child whose end is settled at exit. The caller allocates the
 * node (it must stay valid while tracked) and fills pid, pidfd and flags
 * before mpk__child_track; tracking cannot fail, so it can be done after the
 * fork. All list links are guarded by the registry lock. */

enum {
  MPK__CHILD_DAEMON = 1u, /* terminate at exit instead of joining */
  MPK__CHILD_ORPHAN = 2u  /* set by mpk__child_orphan: registry owns it */
};

typedef struct mpk__child {
  struct mpk__child *next, *prev; /* registry lock */
  pid_t pid;                      /* the child; 0 in an unused node */
  int pidfd;                      /* from mpk__pidfd_open, or -1 */
  unsigned flags;                 /* MPK__CHILD_* */
  int tracked;                    /* 1 while linked (registry lock) */
  /* Set by the exit-time handling once it settled the child, so that a
     handle asked later (e.g. by a C++ static destructor or another atexit
     handler) neither waits for nor signals the pid again (it may have been
     reused) and still learns the status: MPK__REAPED_STATUS (reaped,
     wstatus valid) or MPK__REAPED_LOST (it had been reaped behind mpk's
     back). wstatus is written first, then reaped is stored with release
     order; readers load reaped with acquire order before reading wstatus.
     0 while not settled. */
  int wstatus;
  _Atomic int reaped;
} mpk__child;

enum { MPK__REAPED_STATUS = 1, MPK__REAPED_LOST = 2 };

/* Link `c` into the registry (no-op if already tracked). The caller still
   owns c and c->pidfd. MT-safe. */
void mpk__child_track(mpk__child *c);

/* Unlink `c` (no-op if not tracked), e.g. after the caller reaped it.
   MT-safe. */
void mpk__child_untrack(mpk__child *c);

/* Replace c->pidfd (e.g. a descriptor opened after tracking) under the
   registry lock, so that a concurrent fork's child closes the right one.
   The caller still owns the descriptor. MT-safe. */
void mpk__child_set_pidfd(mpk__child *c, int pidfd);

/* Hand a tracked, malloc()ed node to the registry: from now on the registry
   owns c and c->pidfd, reaps the child when it has exited (at the next
   mpk__reap_orphans or at exit), then closes the pidfd and free()s c.
   An untracked node is freed (and its pidfd closed) at once. MT-safe. */
void mpk__child_orphan(mpk__child *c);

/* Reap every orphan that has exited (non-blocking). Cheap (one atomic load)
   when there are none. Called by every mpk process call. MT-safe. */
void mpk__reap_orphans(void);

/* What happens to this process's children when it exits normally: every
   tracked daemon gets SIGTERM, then SIGKILL if still running after
   MPK__DAEMON_GRACE seconds, and is reaped; then every other tracked child
   is joined without limit. Runs from an atexit() handler (registered when
   the registry is first used) and from mpk__child_exit. Idempotent. Do not
   call mpk process functions from other threads while the process exits. */
void mpk__children_exit(void);

#endif
