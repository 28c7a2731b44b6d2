// bench_process.cc - creating and reaping a process: mpk against raw fork.
//
//   process_start_join/mpk        mpk_process_new + start + join + exitcode
//                                 + free of a child whose run returns 0
//   process_start_join/raw        fork + _exit(0) + waitpid
//
// Every iteration checks that the child exited with code 0, so a broken
// start or join fails the run (SkipWithError). Nothing outlives an
// iteration: each child is reaped before the next one is forked.
#include <benchmark/benchmark.h>

#include <cerrno>
#include <sys/wait.h>
#include <unistd.h>

#include "mpk/error.h"
#include "mpk/process.h"

namespace {

int trivial(void *) {
  return 0;
}

void start_join_mpk(benchmark::State &state) {
  for (auto _ : state) {
    mpk_process_t *p = nullptr;
    int code = -1;
    if (mpk_process_new(&p, trivial, nullptr, 0, nullptr) != MPK_OK) {
      state.SkipWithError("mpk_process_new failed");
      break;
    }
    bool ok = mpk_process_start(p) == MPK_OK &&
              mpk_process_join(p, MPK_FOREVER) == MPK_OK &&
              mpk_process_exitcode(p, &code) == MPK_OK && code == 0;
    mpk_process_free(p);
    if (!ok) {
      state.SkipWithError("start/join/exitcode failed");
      break;
    }
  }
}

void start_join_raw(benchmark::State &state) {
  for (auto _ : state) {
    pid_t pid = fork();
    if (pid == 0)
      _exit(0);
    int st = -1;
    pid_t r;
    do
      r = waitpid(pid, &st, 0);
    while (r < 0 && errno == EINTR);
    if (pid < 0 || r != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      state.SkipWithError("fork/waitpid failed");
      break;
    }
  }
}

} // namespace

BENCHMARK(start_join_mpk)->Name("process_start_join/mpk")->UseRealTime();
BENCHMARK(start_join_raw)->Name("process_start_join/raw")->UseRealTime();
