/* tests/test-sync-util.h - helpers shared by the sync tests
 * (tests/test-sync-*.c and tests/fault/test-sync-*.c). */
#ifndef MPK_TEST_SYNC_UTIL_H
#define MPK_TEST_SYNC_UTIL_H

#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
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

/* The system call thread `tid` of process `pid` is inside now and its
   first argument (from /proc/<pid>/task/<tid>/syscall); -1 when it is in
   none (running) or gone. */
static inline long syscall_now(pid_t pid, pid_t tid, uintptr_t *arg0) {
  char path[96], buf[128] = {0};
  snprintf(path, sizeof path, "/proc/%d/task/%d/syscall", (int)pid, (int)tid);
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return -1;
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = '\0';
  long nr;
  unsigned long a0 = 0;
  int k = sscanf(buf, "%ld %lx", &nr, &a0);
  if (k < 1 || nr < 0)
    return -1;
  if (arg0)
    *arg0 = k == 2 ? (uintptr_t)a0 : 0;
  return nr;
}

/* 1 if thread `tid` of process `pid` is inside system call `nr` now. */
static inline int in_syscall(pid_t pid, pid_t tid, long nr) {
  return syscall_now(pid, tid, NULL) == nr;
}

/* 1 if the thread is inside the futex system call now. */
static inline int in_futex(pid_t pid, pid_t tid) {
  return in_syscall(pid, tid, SYS_futex);
}

/* 1 if the thread is inside a futex call on a word in [obj, obj + size):
   shared-heap objects have the same address in every process, so this
   tells a Condition's own futex word from its Lock's. */
static inline int in_futex_on(pid_t pid, pid_t tid, const void *obj,
                              size_t size) {
  uintptr_t a = 0, o = (uintptr_t)obj;
  return syscall_now(pid, tid, &a) == SYS_futex && a >= o && a - o < size;
}

/* A Condition's futex word lies in the 64 bytes its handle points at (one
   cache line, lib/src/sync/cond.c); its Lock is another object. */
#define COND_FUTEX_SPAN 64

/* Wait (up to CHECK_HANG_S, else the test fails) until the thread sleeps
   in a futex wait on a word in [obj, obj + size) (obj NULL: any): a
   blocked mpk wait past its spin phase. */
static inline void await_futex_sleep_on(pid_t pid, pid_t tid, const void *obj,
                                        size_t size) {
  double end = check_now() + CHECK_HANG_S;
  while (obj ? !in_futex_on(pid, tid, obj, size) : !in_futex(pid, tid)) {
    CHECK_MSG(check_now() < end, "thread %d of %d never went to sleep",
              (int)tid, (int)pid);
    check_sleep(0.0005);
  }
}

static inline void await_futex_sleep(pid_t pid, pid_t tid) {
  await_futex_sleep_on(pid, tid, NULL, 0);
}

/* Kill and reap a child. */
static inline void kill_child(pid_t pid) {
  CHECK_EQ(kill(pid, SIGKILL), 0);
  int st = check_wait(pid, CHECK_HANG_S);
  CHECK(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
}

/* A shared flag a parent and children spin on (tests only: the library
   under test is not used for the test's own hand-shakes). Fails the test
   when the flag has not reached value within CHECK_HANG_S. */
static inline void flag_wait(_Atomic int *f, int value) {
  double end = check_now() + CHECK_HANG_S;
  while (atomic_load(f) != value) {
    CHECK_MSG(check_now() < end, "flag never reached %d", value);
    check_sleep(0.0002);
  }
}

#endif
