/* tests/process-util.h - child bodies the process tests share: return 0,
   return the int behind arg, or wait for a signal forever; and what
   /proc says of a process or thread (state, parent, session).
   File-static. */
#ifndef MPK_TESTS_PROCESS_UTIL_H
#define MPK_TESTS_PROCESS_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#include "check.h"

static inline int pu_ret_zero(void *arg) {
  (void)arg;
  return 0;
}

static inline int pu_ret_int(void *arg) {
  return *(int *)arg;
}

/* Never returns on its own: ends by a signal. */
static inline int pu_pause_forever(void *arg) {
  (void)arg;
  for (;;)
    pause();
  return 0;
}

/* Parse a /proc stat file: the state letter ('R', 'S', 'Z', ...), the
   parent and the session id (any output may be NULL). 0, or -1 when it
   cannot be read (no such process or thread). */
static inline int pu__stat_file(const char *path, char *state, pid_t *ppid,
                                pid_t *sid) {
  char buf[512];
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char *rp = strrchr(buf, ')'); /* the command may hold spaces and ')' */
  char st = 0;
  int pp = 0, pg = 0, ss = 0;
  if (rp == NULL || sscanf(rp + 1, " %c %d %d %d", &st, &pp, &pg, &ss) != 4)
    return -1;
  if (state)
    *state = st;
  if (ppid)
    *ppid = pp;
  if (sid)
    *sid = ss;
  return 0;
}

/* /proc/<pid>/stat (see pu__stat_file). */
static inline int pu_proc_stat(pid_t pid, char *state, pid_t *ppid,
                               pid_t *sid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
  return pu__stat_file(path, state, ppid, sid);
}

/* The state letter of thread tid of process pid, 0 when it is gone. */
static inline char pu_task_state(pid_t pid, pid_t tid) {
  char path[96], st = 0;
  snprintf(path, sizeof path, "/proc/%d/task/%d/stat", (int)pid, (int)tid);
  return pu__stat_file(path, &st, NULL, NULL) == 0 ? st : 0;
}

/* Wait until thread tid of process pid has ended for the kernel (its /proc
   entry is gone, or it is a zombie): pthread_join returns when the thread
   has cleared its tid, a little before that. Fails after CHECK_HANG_S. */
static inline void pu_await_task_gone(pid_t pid, pid_t tid) {
  double t0 = check_now();
  char st;
  while ((st = pu_task_state(pid, tid)) != 0 && st != 'Z' && st != 'X') {
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "thread %d still there",
              (int)tid);
    check_sleep(0.0005);
  }
}

/* 1 when pid is gone or a zombie (dead, not reaped yet by its parent). */
static inline int pu_pid_dead(pid_t pid) {
  char st = 0;
  if (kill(pid, 0) == -1 && errno == ESRCH)
    return 1;
  return pu_proc_stat(pid, &st, NULL, NULL) != 0 || st == 'Z';
}

/* Wait until pid is asleep ('S' in /proc/<pid>/stat), e.g. blocked in the
   futex wait of the call it entered after telling the caller so. A test
   that uses it stays correct (only weaker) if pid was asleep elsewhere; it
   fails when pid ends first or has not slept within CHECK_HANG_S. */
static inline void pu_await_sleeping(pid_t pid) {
  double t0 = check_now();
  char st = 0;
  while (pu_proc_stat(pid, &st, NULL, NULL) == 0 && st != 'S') {
    CHECK_MSG(st != 'Z', "process %d ended before it slept", (int)pid);
    CHECK_MSG(check_now() - t0 < CHECK_HANG_S, "process %d never slept",
              (int)pid);
    check_sleep(0.0005);
  }
  CHECK_MSG(st == 'S', "process %d is gone", (int)pid);
}

#endif
