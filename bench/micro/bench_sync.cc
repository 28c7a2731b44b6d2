// bench_sync.cc - mpk Lock and Barrier against pthread / OpenMP, same run.
//
//   lock_uncontended/mpk      mpk_lock_acquire + mpk_lock_release, one
//                             thread, never contended (robust, error-checking,
//                             process-shared mutex plus owner bookkeeping)
//   lock_uncontended/pthread  pthread_mutex_lock + unlock of a plain default
//                             mutex
//   lock_pingpong/mpk         two processes take turns incrementing a
//                             counter under an mpk Lock; one iteration =
//                             one round trip (two hand-offs of the lock)
//   lock_pingpong/pthread     the same under a process-shared (non-robust)
//                             pthread mutex
//   barrier_2proc/mpk         a 2-party mpk Barrier between two processes;
//                             one iteration = one round
//   barrier_2proc/omp         `#pragma omp barrier` in a 2-thread team; one
//                             iteration = one round
//
// Partners are forked (or the OpenMP team started) outside the timed loop
// and reaped after it; every partner reports what it saw and the run fails
// (SkipWithError) when a count or return code is wrong.
//
// lock_uncontended runs both variants in a process that has started a
// thread: until a process creates its first thread, glibc takes and drops a
// default (process-private) mutex without the LOCK prefix, a shortcut that
// is only valid in a single-threaded process and never seen by a program
// that uses threads or a pool (nor possible for a lock shared between
// processes). Without it the pthread baseline runs at about half the time.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <omp.h>
#include <pthread.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench_peer.h"
#include "mpk/error.h"
#include "mpk/shm.h"
#include "mpk/sync.h"

namespace {

using mpk_bench::fork_partner;
using mpk_bench::reap_ok;

// ---- lock_uncontended ------------------------------------------------------

void *nothing(void *) {
  return nullptr;
}

// Make the process multi-threaded once (see the top of the file).
bool start_a_thread() {
  static bool done = [] {
    pthread_t t;
    return pthread_create(&t, nullptr, nothing, nullptr) == 0 &&
           pthread_join(t, nullptr) == 0;
  }();
  return done;
}

void BM_lock_uncontended_mpk(benchmark::State &state) {
  mpk_lock_t *l;
  if (!start_a_thread() || mpk_lock_new(&l) != MPK_OK) {
    state.SkipWithError("mpk_lock_new failed");
    return;
  }
  long bad = 0;
  for (auto _ : state) {
    bad += mpk_lock_acquire(l, MPK_FOREVER) != MPK_OK;
    bad += mpk_lock_release(l) != MPK_OK;
  }
  if (bad != 0 || mpk_lock_locked(l) != 0)
    state.SkipWithError("acquire/release failed");
  mpk_lock_free(l);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_lock_uncontended_mpk)->Name("lock_uncontended/mpk");

void BM_lock_uncontended_pthread(benchmark::State &state) {
  pthread_mutex_t m = PTHREAD_MUTEX_INITIALIZER;
  if (!start_a_thread()) {
    state.SkipWithError("pthread_create failed");
    return;
  }
  long bad = 0;
  for (auto _ : state) {
    bad += pthread_mutex_lock(&m) != 0;
    bad += pthread_mutex_unlock(&m) != 0;
  }
  if (bad != 0)
    state.SkipWithError("lock/unlock failed");
  pthread_mutex_destroy(&m);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_lock_uncontended_pthread)->Name("lock_uncontended/pthread");

// ---- lock_pingpong ---------------------------------------------------------

// Strict alternation: a player waits for its turn (an atomic, polled outside
// the lock), then takes the lock, bumps the plain counter it guards, drops
// the lock and hands the turn over. Every acquire therefore takes a lock
// last released by the other process: the cross-process hand-off of the
// lock's cache line and state, with the same protocol for both variants.
//
// Each of lock, counter and turn has a cache line of its own in both
// variants (an mpk Lock is a separate one-line object; the pthread mutex is
// given its own line here), so both move the same three lines per hand-off.
struct PingPong {
  mpk_lock_t *mpk;
  alignas(64) pthread_mutex_t pt;    // process-shared, non-robust
  alignas(64) long counter;          // guarded by the lock under test
  alignas(64) std::atomic<int> turn; // 0: the benchmark process, 1: partner
  std::atomic<int> stop;
  std::atomic<long> partner_moves;
};

struct MpkOps {
  static bool lock(PingPong *p) {
    return mpk_lock_acquire(p->mpk, MPK_FOREVER) == MPK_OK;
  }
  static bool unlock(PingPong *p) {
    return mpk_lock_release(p->mpk) == MPK_OK;
  }
};
struct PthreadOps {
  static bool lock(PingPong *p) {
    return pthread_mutex_lock(&p->pt) == 0;
  }
  static bool unlock(PingPong *p) {
    return pthread_mutex_unlock(&p->pt) == 0;
  }
};

inline void relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// Wait for `me`'s turn, take it, pass it on. false on an error or (for the
// partner) when told to stop.
template <class Ops> bool take_turn(PingPong *p, int me) {
  for (unsigned spins = 1; p->turn.load(std::memory_order_acquire) != me;
       spins++) {
    if (me == 1 && p->stop.load(std::memory_order_acquire))
      return false;
    relax();
    if (spins % 4096 == 0) // let a preempted partner run on a busy machine
      sched_yield();
  }
  if (!Ops::lock(p))
    return false;
  p->counter++;
  if (!Ops::unlock(p))
    return false;
  p->turn.store(1 - me, std::memory_order_release);
  return true;
}

template <class Ops> void pingpong(benchmark::State &state, PingPong *p) {
  pid_t partner = fork_partner([p] {
    long moves = 0;
    while (take_turn<Ops>(p, 1))
      moves++;
    p->partner_moves.store(moves);
    return 0;
  });
  long bad = 0;
  for (auto _ : state)
    bad += !take_turn<Ops>(p, 0); // waits for the turn to come back
  while (p->turn.load(std::memory_order_acquire) != 0) // partner's last move
    relax();
  p->stop.store(1, std::memory_order_release);
  long n = static_cast<long>(state.iterations());
  if (!reap_ok(partner) || bad != 0 || p->partner_moves.load() != n ||
      p->counter != 2 * n)
    state.SkipWithError("ping-pong lost a turn or failed");
  state.SetItemsProcessed(state.iterations());
}

PingPong *new_pingpong() {
  auto *p = static_cast<PingPong *>(mpk_shm_calloc(1, sizeof(PingPong)));
  if (p == nullptr)
    return nullptr;
  new (&p->turn) std::atomic<int>(0);
  new (&p->stop) std::atomic<int>(0);
  new (&p->partner_moves) std::atomic<long>(0);
  return p;
}

void BM_lock_pingpong_mpk(benchmark::State &state) {
  PingPong *p = new_pingpong();
  if (p == nullptr || mpk_lock_new(&p->mpk) != MPK_OK) {
    state.SkipWithError("setup failed");
    return;
  }
  pingpong<MpkOps>(state, p);
  mpk_lock_free(p->mpk);
  mpk_shm_free(p);
}
BENCHMARK(BM_lock_pingpong_mpk)->Name("lock_pingpong/mpk")->UseRealTime();

void BM_lock_pingpong_pthread(benchmark::State &state) {
  PingPong *p = new_pingpong();
  pthread_mutexattr_t a;
  pthread_mutexattr_init(&a);
  pthread_mutexattr_setpshared(&a, PTHREAD_PROCESS_SHARED);
  if (p == nullptr || pthread_mutex_init(&p->pt, &a) != 0) {
    state.SkipWithError("setup failed");
    return;
  }
  pthread_mutexattr_destroy(&a);
  pingpong<PthreadOps>(state, p);
  pthread_mutex_destroy(&p->pt);
  mpk_shm_free(p);
}
BENCHMARK(BM_lock_pingpong_pthread)
    ->Name("lock_pingpong/pthread")
    ->UseRealTime();

// ---- barrier_2proc ---------------------------------------------------------

struct BarrierRun {
  mpk_barrier_t *b;
  std::atomic<long> partner_bad;
};

void BM_barrier_2proc_mpk(benchmark::State &state) {
  auto *r = static_cast<BarrierRun *>(mpk_shm_calloc(1, sizeof(BarrierRun)));
  if (r == nullptr || mpk_barrier_new(&r->b, 2) != MPK_OK) {
    state.SkipWithError("setup failed");
    return;
  }
  new (&r->partner_bad) std::atomic<long>(0);
  // The loop below runs exactly max_iterations times; the partner matches
  // it, plus one untimed round to start together.
  const long rounds = static_cast<long>(state.max_iterations) + 1;
  pid_t partner = fork_partner([r, rounds] {
    long bad = 0;
    for (long i = 0; i < rounds; i++) {
      int idx = mpk_barrier_wait(r->b, 30);
      bad += idx < 0 || idx > 1;
    }
    r->partner_bad.store(bad);
    return 0;
  });
  long bad = mpk_barrier_wait(r->b, 30) < 0;
  for (auto _ : state) {
    int idx = mpk_barrier_wait(r->b, 30);
    bad += idx < 0 || idx > 1;
  }
  if (!reap_ok(partner) || bad != 0 || r->partner_bad.load() != 0)
    state.SkipWithError("a barrier wait failed");
  mpk_barrier_free(r->b);
  mpk_shm_free(r);
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_barrier_2proc_mpk)->Name("barrier_2proc/mpk")->UseRealTime();

void BM_barrier_2proc_omp(benchmark::State &state) {
  const long rounds = static_cast<long>(state.max_iterations);
  long team = 0, done[2] = {0, 0};
  // Thread 0 runs the timed loop, thread 1 the same number of barriers.
#pragma omp parallel num_threads(2)
  {
    int me = omp_get_thread_num();
#pragma omp single
    team = omp_get_num_threads();
    if (team == 2) {
      if (me == 0) {
        for (auto _ : state) {
#pragma omp barrier
          done[0]++;
        }
      } else {
        for (long i = 0; i < rounds; i++) {
#pragma omp barrier
          done[1]++;
        }
      }
    }
  }
  if (team != 2 || done[0] != rounds || done[1] != rounds) {
    state.SkipWithError("OpenMP team of 2 not available");
    return;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_barrier_2proc_omp)->Name("barrier_2proc/omp")->UseRealTime();

} // namespace
