/* tests/chaos/chaos.h - the harness of mpk-chaos, the seeded fault suite.
 *
 * The runner (mpk-chaos.c) forks one "leader" process per iteration. The
 * leader calls setsid(), so every process of the iteration (helpers it
 * forks, pool workers, fork servers, their children) lives in one session
 * that the runner checks empty afterwards; it is also a child subreaper, so
 * orphans of a dying process come back to it. The leader draws every random
 * choice from ch_rng (gsl_rng_mt19937 seeded with the iteration's seed), so
 * `mpk-chaos --seed S --iterations 1` replays an iteration.
 *
 * Checks are check.h's CHECK macros: a failed one prints file:line and
 * exits 1 (in a helper too; the leader waits for its helpers with
 * check_wait_ok, so the failure reaches the runner). What is not a failure
 * but is reported: stalls (a call that returned, but later than its
 * documented bound) and kill-to-return latencies of pool calls, written to
 * a page the runner shares with every process of the iteration.
 *
 * Hangs: every call that may block is wrapped in CH_DO / CH_RUN with a
 * limit in seconds. The wrapper leaves a crumb (call text, role of the
 * process, start time) on the shared page; the runner kills the iteration
 * when a live process has been inside one call longer than its limit and
 * names that call, its role and the seed.
 *
 * Kill points are reached by hand-shakes, not by timing: a victim tells its
 * killer through a pipe that it reached a point (ch_tell / ch_hear), or,
 * forked with ch_fork_traced, stops itself (ch_stop_here) so that the
 * leader, its ptrace tracer, can single-step it a random number of
 * instructions into the next call before killing it, or let it run to the
 * exit of a futex wait (the instant between wake and take).
 */
#ifndef MPK_TESTS_CHAOS_H
#define MPK_TESTS_CHAOS_H

#include <gsl/gsl_rng.h>
#include <stdatomic.h>
#include <stdint.h>

#include "check.h"

/* ---- the scenarios -------------------------------------------------------
 */

typedef struct {
  const char *name;
  const char *what; /* one line for --list */
  void (*run)(void);
} ch_scenario;

void ch_pool_map(void);
void ch_pool_apply(void);
void ch_pool_async(void);
void ch_pool_imap(void);
void ch_pool_imap_unordered(void);
void ch_pool_imap_close(void);
void ch_pool_for(void);
void ch_pool_reduce(void);
void ch_lock_kill(void);
void ch_lock_waketake(void);
void ch_sem_kill(void);
void ch_cond_kill(void);
void ch_queue_kill(void);
void ch_pipe_kill(void);
void ch_dict_kill(void);
void ch_parent_death(void);
void ch_bad_args(void);

/* check.h's failure lines name the running test (check__current, one copy
   per file): every file of mpk-chaos registers its copy at start-up, and
   ch_set_current points them all at the scenario's name. */
void ch__register_current(const char **current);
__attribute__((constructor)) static void ch__current_init(void) {
  ch__register_current(&check__current);
}
void ch_set_current(const char *name);

/* ---- randomness (the leader's; a forked helper gets a copy) ------------- */

extern gsl_rng *ch_rng;

/* Uniform in [0, n) (n >= 1). */
unsigned long ch_pick(unsigned long n);
/* Uniform in [lo, hi]. */
long ch_range(long lo, long hi);
/* 1 with probability p. */
int ch_chance(double p);
/* One of the n values (an int array). */
int ch_one_of(const int *v, int n);
#define CH_ONE_OF(...)                                                         \
  ch_one_of((const int[]){__VA_ARGS__},                                        \
            (int)(sizeof((int[]){__VA_ARGS__}) / sizeof(int)))

/* ---- the shared page ----------------------------------------------------- */

enum { CH_CRUMBS = 128, CH_MAX_LAT = 256, CH_STALL_TEXTS = 4 };

typedef struct {
  _Atomic int used;
  _Atomic int pid;
  _Atomic int64_t start_ns; /* CLOCK_MONOTONIC; 0 while being filled */
  double limit;             /* seconds */
  char what[96];
  char role[40];
} ch_crumb;

typedef struct {
  _Atomic int stalls;
  char stall[CH_STALL_TEXTS][200];
  _Atomic int nlat;
  double lat[CH_MAX_LAT]; /* kill-to-return, seconds */
  char note[512];         /* the iteration's random choices */
  /* The last time the leader held a victim stopped (single-stepping it):
     CLOCK_MONOTONIC ns of its start and end (end 0 while it lasts). Others
     waiting on the victim meanwhile waited for the harness, not for mpk. */
  _Atomic int64_t pause_start, pause_end;
  ch_crumb crumbs[CH_CRUMBS];
} ch_page;

extern ch_page *ch_pg;

/* Append to the iteration's note ("W=2 fork map n=300 ..."), printed with
   a failure, a stall or a hang. */
void ch_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A call that returned later than its documented bound. */
void ch_stall(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* A pool call's time from the SIGKILL of a worker to the call's return. */
void ch_latency(double seconds);
/* 1 when a call that started at t0 (check_now()) overlapped a pause of the
   leader's (ch_step_kill): its time says nothing of mpk's bound. */
int ch_paused_since(double t0);
/* Mark such a pause (on = 1: it starts; 0: it ends). */
void ch_pause(int on);
/* This process's role in crumbs ("leader", "waiter 2", ...). */
void ch_role(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* CLOCK_MONOTONIC in nanoseconds (the clock of check_now()). */
int64_t ch_now_ns(void);

/* Crumbs: ch_begin(text, limit) -> token; ch_end(token). */
int ch_begin(const char *what, double limit);
void ch_end(int token);
#define CH_DO(rc, limit, call)                                                 \
  do {                                                                         \
    int ch__t = ch_begin(#call, (limit));                                      \
    rc = (call);                                                               \
    ch_end(ch__t);                                                             \
  } while (0)
#define CH_RUN(limit, call)                                                    \
  do {                                                                         \
    int ch__t = ch_begin(#call, (limit));                                      \
    call;                                                                      \
    ch_end(ch__t);                                                             \
  } while (0)

/* The longest any single blocking call may take before it counts as hung,
   when the call has no bound of its own: check.h's hang bound, so that no
   stall of a loaded machine is taken for a hang. A call that must succeed
   within a timeout gets CH_HANG as that timeout. */
#define CH_HANG CHECK_HANG_S
/* The crumb limit of a call with its own timeout t (>= 0): it returns by
   then, and CH_HANG more covers a loaded machine. */
#define CH_LIMIT(t) ((t) + CH_HANG)

/* ---- processes ---------------------------------------------------------- */

/* check_fork with a role for the child's crumbs. */
pid_t ch_fork(int (*fn)(void *), void *arg, const char *role);

/* Fork a child traced by the caller (PTRACE_TRACEME, PTRACE_O_EXITKILL:
   it dies with its tracer). Returns once the child is stopped before
   running fn; resume it with ch_trace_cont or ch_trace_syscalls. Signals
   sent to it are passed on by the ch_trace_* calls. */
pid_t ch_fork_traced(int (*fn)(void *), void *arg, const char *role);

/* In a traced child: stop until the tracer decides (ch_await_stop, then
   ch_step_kill or ch_trace_cont). */
void ch_stop_here(void);

/* Resume a stopped tracee without further stops (signals still stop it). */
void ch_trace_cont(pid_t pid);
/* Resume it, stopping at every system call entry and exit. */
void ch_trace_syscalls(pid_t pid);

/* Wait up to timeout s for the tracee's next stop at ch_stop_here. 1:
   stopped there; 0: still running. Fails the test if it ended. */
int ch_await_stop(pid_t pid, double timeout);

/* The tracee is stopped (at ch_stop_here): single-step it `steps`
   instructions (a step into a system call that blocks ends the stepping),
   then SIGKILL and reap it. Returns the steps made. */
unsigned ch_step_kill(pid_t pid, unsigned steps);

typedef struct {
  pid_t pid;
  int exiting;           /* 0: syscall entry, 1: exit */
  long nr;               /* syscall number (at an exit: of its entry) */
  unsigned long args[2]; /* at an entry: the first two arguments */
  long ret;              /* at an exit: the return value (-errno) */
} ch_sysstop;

/* Wait up to timeout s for a syscall stop of one of the n tracees (resumed
   with ch_trace_syscalls). 1: *s filled, the tracee stays stopped;
   0: nothing within the timeout; -1: the tracee s->pid ended (reaped, its
   wait status in *status). */
int ch_next_sysstop(const pid_t *pids, int n, double timeout, ch_sysstop *s,
                    int *status);

/* Detach a stopped tracee: it runs on untraced. */
void ch_trace_detach(pid_t pid);

/* Sleepers followed syscall by syscall (forked with ch_fork_traced and
   resumed with ch_trace_syscalls): to kill one in the instant between the
   wake-up of its futex wait and its taking of what it waited for. */
enum { CH_MAX_TRACEES = 8 };
typedef struct {
  int n;
  pid_t pid[CH_MAX_TRACEES];
  int in_futex[CH_MAX_TRACEES]; /* resumed from a futex wait's entry */
  int gone[CH_MAX_TRACEES];     /* ended (reaped; status below) or killed */
  int detached[CH_MAX_TRACEES];
  int status[CH_MAX_TRACEES];
} ch_tracees;

/* Add a sleeper (forked stopped by ch_fork_traced) and resume it. */
void ch_tracees_add(ch_tracees *t, pid_t pid);
/* Resume stops until every live tracee sleeps inside a futex wait; fails
   the test after timeout s. */
void ch_tracees_asleep(ch_tracees *t, double timeout);
/* Resume stops until a tracee returns 0 from a futex wait (it was woken):
   its index, left stopped there; -1 when none did within timeout s. */
int ch_tracees_woken(ch_tracees *t, double timeout);
/* Kill tracee i (stopped or not) and reap it. */
void ch_tracees_kill(ch_tracees *t, int i);
/* Let the others go: each is detached at its next futex exit; waits until
   every one has ended or the deadline (CLOCK_MONOTONIC, check_now()) has
   passed. Returns how many are still running (still traced). */
int ch_tracees_finish(ch_tracees *t, double deadline);

/* SIGKILL a child (traced or not) and reap it. */
void ch_kill_reap(pid_t pid);

/* Reap a child within timeout s (fails the test when it does not end);
   returns the wait status. Tolerates ptrace stops: a tracee that stops is
   resumed. */
int ch_reap(pid_t pid, double timeout);

/* ---- hand-shakes --------------------------------------------------------- */

/* Write one long to fd (a pipe the victim and its killer share). */
void ch_tell(int fd, long v);
/* Read one long from fd within timeout s: 1 read, 0 timed out. */
int ch_hear(int fd, long *v, double timeout);
/* A pipe with close-on-exec ends; fails the test on error. */
void ch_pipe(int fds[2]);

/* Sleep a random time in [0, max_s] (variety only; no check may depend on
   it). */
void ch_jitter(double max_s);

/* ---- sequence-numbered messages (queue, pipe, dict values) ------------ */

/* The head of a message: who sent it, its number, its length, and a check
   word over the three; a pattern derived from them fills the rest. */
typedef struct {
  uint32_t who, seq, len, check;
} ch_msg;

/* Build message (who, seq) of len >= sizeof(ch_msg) bytes in buf. */
void ch_msg_make(unsigned char *buf, uint32_t who, uint32_t seq, size_t len);
/* The head of the whole, untorn message in buf[0, len); fails the test
   for anything else (torn, corrupt, invented). */
ch_msg ch_msg_check(const unsigned char *buf, size_t len);

/* ---- the session ----------------------------------------------------------
 */

/* Pids of the processes in session sid other than `except` (up to max).
   Returns how many were found. */
int ch_session_pids(pid_t sid, pid_t except, pid_t *pids, int max);

/* Describe pid for a report: "1234 (mpk-chaos, state Z, parent 99)". */
void ch_describe(pid_t pid, char *buf, size_t cap);

/* Reap every exited child of the caller (subreaper) without waiting. */
void ch_reap_any(void);

#endif
