/* chaos-trace.c - children, and victims traced by the leader (chaos.h):
 * forked stopped, single-stepped into a call and killed, or followed from
 * system call to system call to the instant a futex wait returns. */
#include "chaos.h"

#include <sched.h>
#include <sys/ptrace.h>
#include <linux/futex.h>
#include <sys/syscall.h>

#include "process-util.h"

/* ---- processes ------------------------------------------------------------
 */

typedef struct {
  int (*fn)(void *);
  void *arg;
  const char *role;
  int traced;
} child_start;

static int child_main(void *arg) {
  child_start *cs = arg;
  ch_role("%s", cs->role);
  if (cs->traced) {
    CHECK(ptrace(PTRACE_TRACEME, 0, NULL, NULL) == 0);
    raise(SIGSTOP);
  }
  return cs->fn(cs->arg);
}

pid_t ch_fork(int (*fn)(void *), void *arg, const char *who) {
  child_start cs = {fn, arg, who, 0};
  return check_fork(child_main, &cs);
}

/* One wait for pid's next change, up to timeout s (WNOHANG polling).
   1: *st filled; 0: nothing. */
static int wait_change(pid_t pid, double timeout, int *st) {
  double t0 = check_now(), end = t0 + timeout;
  for (;;) {
    pid_t r = waitpid(pid, st, __WALL | WNOHANG);
    if (r == pid)
      return 1;
    CHECK_MSG(r == 0, "waitpid(%d): %s", (int)pid, strerror(errno));
    double now = check_now();
    if (now >= end)
      return 0;
    if (now - t0 < 0.001) /* a step takes microseconds: do not sleep yet */
      sched_yield();
    else
      check_sleep(0.0001);
  }
}

pid_t ch_fork_traced(int (*fn)(void *), void *arg, const char *who) {
  child_start cs = {fn, arg, who, 1};
  pid_t pid = check_fork(child_main, &cs);
  int st = 0;
  CHECK_MSG(wait_change(pid, CH_HANG, &st) && WIFSTOPPED(st) &&
                WSTOPSIG(st) == SIGSTOP,
            "traced child %d did not stop at its start (status 0x%x)", (int)pid,
            st);
  CHECK(ptrace(PTRACE_SETOPTIONS, pid, NULL,
               (void *)(long)(PTRACE_O_EXITKILL | PTRACE_O_TRACESYSGOOD)) == 0);
  return pid;
}

void ch_stop_here(void) {
  raise(SIGSTOP);
}

void ch_trace_cont(pid_t pid) {
  CHECK(ptrace(PTRACE_CONT, pid, NULL, NULL) == 0);
}

void ch_trace_syscalls(pid_t pid) {
  CHECK(ptrace(PTRACE_SYSCALL, pid, NULL, NULL) == 0);
}

void ch_trace_detach(pid_t pid) {
  CHECK(ptrace(PTRACE_DETACH, pid, NULL, NULL) == 0);
}

/* The signal a stop delivers, to pass on when resuming (0 for our own
   stops: SIGSTOP of ch_stop_here, SIGTRAP of a step or a syscall stop). */
static long pass_on(int st) {
  int sig = WSTOPSIG(st);
  return sig == SIGSTOP || (sig & 0x7f) == SIGTRAP ? 0 : sig;
}

int ch_await_stop(pid_t pid, double timeout) {
  double end = check_now() + timeout;
  int st = 0;
  while (wait_change(pid, end - check_now(), &st)) {
    CHECK_MSG(WIFSTOPPED(st), "tracee %d ended (status 0x%x) before its stop",
              (int)pid, st);
    if (WSTOPSIG(st) == SIGSTOP)
      return 1;
    CHECK(ptrace(PTRACE_CONT, pid, NULL, (void *)pass_on(st)) == 0);
  }
  return 0;
}

unsigned ch_step_kill(pid_t pid, unsigned steps) {
  unsigned done = 0;
  long sig = 0;
  int ended = 0;
  ch_pause(1);
  while (done < steps) {
    CHECK(ptrace(PTRACE_SINGLESTEP, pid, NULL, (void *)sig) == 0);
    int st = 0;
    if (!wait_change(pid, 0.05, &st))
      break; /* inside a system call that blocks: kill it there */
    if (!WIFSTOPPED(st)) {
      ended = 1; /* it ended on its own (reaped) */
      break;
    }
    sig = pass_on(st);
    done++;
  }
  if (!ended)
    ch_kill_reap(pid);
  ch_pause(0);
  return done;
}

/* Each tracee's last syscall entry (for the number at its exit). */
static struct {
  pid_t pid;
  long nr;
} last_entry[16];

static long *entry_of(pid_t pid) {
  for (int i = 0; i < 16; i++)
    if (last_entry[i].pid == pid)
      return &last_entry[i].nr;
  for (int i = 0; i < 16; i++)
    if (last_entry[i].pid == 0) {
      last_entry[i].pid = pid;
      return &last_entry[i].nr;
    }
  CHECK_MSG(0, "more than 16 tracees");
  return NULL;
}

int ch_next_sysstop(const pid_t *pids, int n, double timeout, ch_sysstop *s,
                    int *status) {
  double end = check_now() + timeout;
  for (;;) {
    for (int i = 0; i < n; i++) {
      int st = 0;
      pid_t r = waitpid(pids[i], &st, __WALL | WNOHANG);
      if (r != pids[i])
        continue;
      s->pid = pids[i];
      if (!WIFSTOPPED(st)) {
        *entry_of(pids[i]) = -1;
        if (status)
          *status = st;
        return -1;
      }
      if (WSTOPSIG(st) != (SIGTRAP | 0x80)) { /* a signal: pass it on */
        CHECK(ptrace(PTRACE_SYSCALL, pids[i], NULL, (void *)pass_on(st)) == 0);
        continue;
      }
      struct __ptrace_syscall_info info;
      CHECK(ptrace(PTRACE_GET_SYSCALL_INFO, pids[i], (void *)sizeof info,
                   &info) > 0);
      long *nr = entry_of(pids[i]);
      s->exiting = info.op == PTRACE_SYSCALL_INFO_EXIT;
      if (!s->exiting) {
        *nr = (long)info.entry.nr;
        s->args[0] = (unsigned long)info.entry.args[0];
        s->args[1] = (unsigned long)info.entry.args[1];
      }
      s->nr = *nr;
      s->ret = s->exiting ? (long)info.exit.rval : 0;
      return 1;
    }
    if (check_now() >= end)
      return 0;
    check_sleep(0.0001);
  }
}

void ch_kill_reap(pid_t pid) {
  kill(pid, SIGKILL);
  int st = 0;
  do {
    CHECK_MSG(wait_change(pid, CH_HANG, &st), "%d survived SIGKILL", (int)pid);
  } while (WIFSTOPPED(st));
}

int ch_reap(pid_t pid, double timeout) {
  double end = check_now() + timeout;
  int st = 0;
  for (;;) {
    if (!wait_change(pid, end - check_now(), &st)) {
      ch_kill_reap(pid);
      CHECK_MSG(0, "child %d did not finish within %.1f s", (int)pid, timeout);
    }
    if (!WIFSTOPPED(st))
      return st;
    CHECK(ptrace(PTRACE_CONT, pid, NULL, (void *)pass_on(st)) == 0);
  }
}

/* ---- sleepers followed syscall by syscall ------------------------------- */

void ch_tracees_add(ch_tracees *t, pid_t pid) {
  CHECK(t->n < CH_MAX_TRACEES);
  int i = t->n++;
  t->pid[i] = pid;
  t->in_futex[i] = t->gone[i] = t->detached[i] = 0;
  ch_trace_syscalls(pid);
}

static int index_of(const ch_tracees *t, pid_t pid) {
  for (int i = 0; i < t->n; i++)
    if (t->pid[i] == pid)
      return i;
  CHECK_MSG(0, "pid %d is not a tracee", (int)pid);
  return -1;
}

/* The pids still traced and alive. */
static int traced(const ch_tracees *t, pid_t *pids) {
  int k = 0;
  for (int i = 0; i < t->n; i++)
    if (!t->gone[i] && !t->detached[i])
      pids[k++] = t->pid[i];
  return k;
}

/* Wait up to timeout for one stop of a traced tracee and account for it:
   1 with *s (the tracee stays stopped), 0 on timeout, -1 when one ended. */
static int next_stop(ch_tracees *t, double timeout, ch_sysstop *s) {
  pid_t pids[CH_MAX_TRACEES];
  int k = traced(t, pids), st = 0;
  if (k == 0) {
    check_sleep(timeout > 0.001 ? 0.001 : timeout);
    return 0;
  }
  int r = ch_next_sysstop(pids, k, timeout, s, &st);
  if (r == 0)
    return 0;
  int i = index_of(t, s->pid);
  if (r < 0) {
    t->gone[i] = 1;
    t->status[i] = st;
    return -1;
  }
  int wait_op = (int)(s->args[1] & 127);
  t->in_futex[i] = !s->exiting && s->nr == SYS_futex &&
                   (wait_op == FUTEX_WAIT || wait_op == FUTEX_WAIT_BITSET);
  return 1;
}

static int asleep(const ch_tracees *t, int i) {
  char st = 0;
  return t->in_futex[i] && pu_proc_stat(t->pid[i], &st, NULL, NULL) == 0 &&
         st == 'S';
}

void ch_tracees_asleep(ch_tracees *t, double timeout) {
  double end = check_now() + timeout;
  for (;;) {
    int all = 1;
    for (int i = 0; i < t->n; i++)
      all &= t->gone[i] || t->detached[i] || asleep(t, i);
    if (all)
      return;
    CHECK_MSG(check_now() < end, "the sleepers never all slept in a futex");
    ch_sysstop s;
    int r = next_stop(t, 0.001, &s);
    CHECK_MSG(r >= 0, "sleeper %d ended before sleeping (status 0x%x)",
              (int)s.pid, t->status[index_of(t, s.pid)]);
    if (r > 0)
      ch_trace_syscalls(s.pid);
  }
}

int ch_tracees_woken(ch_tracees *t, double timeout) {
  double end = check_now() + timeout;
  while (check_now() < end) {
    ch_sysstop s;
    int r = next_stop(t, end - check_now(), &s);
    CHECK_MSG(r >= 0, "sleeper %d ended (status 0x%x) while waiting",
              (int)s.pid, t->status[index_of(t, s.pid)]);
    if (r == 0)
      continue;
    if (s.exiting && s.nr == SYS_futex && s.ret == 0)
      return index_of(t, s.pid);
    ch_trace_syscalls(s.pid);
  }
  return -1;
}

void ch_tracees_kill(ch_tracees *t, int i) {
  ch_kill_reap(t->pid[i]);
  t->gone[i] = 1;
  t->status[i] = SIGKILL; /* as a wait status: killed by SIGKILL */
}

int ch_tracees_finish(ch_tracees *t, double deadline) {
  for (;;) {
    int running = 0;
    for (int i = 0; i < t->n; i++)
      running += !t->gone[i];
    if (running == 0)
      return 0;
    if (check_now() >= deadline) {
      int stuck = 0;
      for (int i = 0; i < t->n; i++)
        stuck += !t->gone[i] && !t->detached[i];
      return stuck;
    }
    ch_sysstop s;
    int r = next_stop(t, 0.002, &s);
    if (r > 0) {
      int i = index_of(t, s.pid);
      if (s.exiting && s.nr == SYS_futex) {
        ch_trace_detach(s.pid);
        t->detached[i] = 1;
      } else {
        ch_trace_syscalls(s.pid);
      }
    }
    for (int i = 0; i < t->n; i++) { /* detached ones end untraced */
      int st = 0;
      if (t->detached[i] && !t->gone[i] &&
          waitpid(t->pid[i], &st, __WALL | WNOHANG) == t->pid[i]) {
        t->gone[i] = 1;
        t->status[i] = st;
      }
    }
  }
}
