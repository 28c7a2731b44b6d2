// bench_peer.h - the fork-a-peer-process harness of the micro benchmarks
// that time traffic between processes (bench_pipe.cc, bench_queue.cc,
// bench_sync.cc).
//
//   fork_partner(fn)   forks a partner that runs fn() and _exits with its
//                      result; the partner dies with its parent
//                      (PR_SET_PDEATHSIG) so a failed benchmark never leaves
//                      it behind
//   reap_ok(pid)       waits for it (EINTR retried); true iff it exited 0
//   write_full / read_full  all n bytes to / from a file descriptor, EINTR
//                      retried; read_full is false at EOF or on error
#ifndef MPK_BENCH_MICRO_BENCH_PEER_H
#define MPK_BENCH_MICRO_BENCH_PEER_H

#include <cerrno>
#include <csignal>
#include <cstddef>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

namespace mpk_bench {

template <class F> pid_t fork_partner(F fn) {
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent)
      _exit(99);
    _exit(fn());
  }
  return pid;
}

inline bool reap_ok(pid_t pid) {
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
    if (errno != EINTR)
      return false;
  }
  return WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

inline bool write_full(int fd, const void *p, size_t n) {
  const char *c = static_cast<const char *>(p);
  while (n > 0) {
    ssize_t k = write(fd, c, n);
    if (k < 0) {
      if (errno == EINTR)
        continue;
      return false;
    }
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

// Reads exactly n bytes; false at EOF (before or within them) or on error.
inline bool read_full(int fd, void *p, size_t n) {
  char *c = static_cast<char *>(p);
  while (n > 0) {
    ssize_t k = read(fd, c, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0)
      return false;
    c += k;
    n -= static_cast<size_t>(k);
  }
  return true;
}

} // namespace mpk_bench

#endif
