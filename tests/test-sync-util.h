/* tests/test-sync-util.h - helpers shared by the sync tests
 * (tests/test-sync-*.c and tests/fault/test-sync-*.c). */
#ifndef MPK_TEST_SYNC_UTIL_H
#define MPK_TEST_SYNC_UTIL_H

#include <stdatomic.h>
#include <sched.h>
#include <sys/syscall.h>

#include "check.h"
#include "mpk/shm.h"
#include "mpk/sync.h"

/* Zeroed memory in the shared heap (seen by every process forked later). */
static inline void *shared(size_t size) {
  void *p = mpk_shm_calloc(1, size);
  CHECK(p != NULL);
  return p;
}

/* 1 if thread `tid` of process `pid` is inside system call `nr` now
   (read from /proc/<pid>/task/<tid>/syscall). */
static inline int in_syscall(pid_t pid, pid_t tid, long nr) {
  char path[96], buf[64] = {0};
  snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return 0;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  char want[24];
  snprintf(want, sizeof want, "%ld ", nr);
  return strncmp(buf, want, strlen(want)) == 0;
}

/* 1 if the thread is inside the futex system call now. */
static inline int in_futex(pid_t pid, pid_t tid) {
  return in_syscall(pid, tid, SYS_futex);
}

/* Wait (up to 10 s, else the test fails) until the thread sleeps in a
   futex wait: a blocked mpk wait past its spin phase. */
static inline void await_futex_sleep(pid_t pid, pid_t tid) {
  double end = check_now() + 10;
  while (!in_futex(pid, tid)) {
    CHECK_MSG(check_now() < end, "thread %d of %d never went to sleep",
              (int)tid, (int)pid);
    check_sleep(0.0005);
  }
}

/* Kill and reap a child. */
static inline void kill_child(pid_t pid) {
  CHECK_EQ(kill(pid, SIGKILL), 0);
  int st = check_wait(pid, 10);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* A shared flag a parent and children spin on (tests only: the library
   under test is not used for the test's own hand-shakes). */
static inline void flag_wait(_Atomic int *f, int value) {
  double end = check_now() + 10;
  while (atomic_load(f) != value) {
    CHECK_MSG(check_now() < end, "flag never reached %d", value);
    check_sleep(0.0002);
  }
}

#endif
