// bench_shm.cc - the shared heap against malloc, Array atomics against a
// plain atomic on ordinary memory, in the same run.
//
//   shm_alloc_free/mpk/<bytes>          alloc + touch + free of one block
//   shm_alloc_free/malloc/<bytes>       the same with malloc / free
//   shm_alloc_free_batch64/mpk/<bytes>  64 allocs, then 64 frees
//   shm_alloc_free_batch64/malloc/<bytes>
//   shm_alloc_free_2t/mpk/<bytes>       two threads on one size class
//   shm_alloc_free_2t/malloc/<bytes>    (malloc: per-thread caches)
//   array_fetch_add/mpk                 mpk_array_fetch_add on a Value
//   array_fetch_add/raw                 __atomic_fetch_add (seq_cst) on a
//                                       long in ordinary memory
//
// Sizes: 64 B, 1 KiB, 16 KiB (all small size classes of the heap). Every
// benchmark checks its blocks / final counts and fails with SkipWithError
// on a wrong result.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>

#include "mpk/shm.h"

namespace {

void *mpk_alloc(size_t n) {
  return mpk_shm_alloc(n);
}
void mpk_free(void *p) {
  mpk_shm_free(p);
}
void *libc_alloc(size_t n) {
  return std::malloc(n);
}
void libc_free(void *p) {
  std::free(p);
}

template <void *(*Alloc)(size_t), void (*Free)(void *)>
void alloc_free(benchmark::State &state) {
  const size_t n = static_cast<size_t>(state.range(0));
  for (auto _ : state) {
    auto *p = static_cast<unsigned char *>(Alloc(n));
    if (p == nullptr) {
      state.SkipWithError("allocation failed");
      break;
    }
    p[0] = 1; // touch it, as a user would
    benchmark::DoNotOptimize(p);
    Free(p);
  }
  state.SetItemsProcessed(state.iterations());
}

template <void *(*Alloc)(size_t), void (*Free)(void *)>
void alloc_free_batch(benchmark::State &state) {
  constexpr int kBatch = 64;
  const size_t n = static_cast<size_t>(state.range(0));
  void *p[kBatch];
  for (auto _ : state) {
    for (int i = 0; i < kBatch; i++) {
      p[i] = Alloc(n);
      if (p[i] == nullptr) {
        state.SkipWithError("allocation failed");
        return;
      }
      static_cast<unsigned char *>(p[i])[0] = static_cast<unsigned char>(i);
    }
    for (int i = 0; i < kBatch; i++) {
      if (static_cast<unsigned char *>(p[i])[0] != i) {
        state.SkipWithError("block contents lost");
        return;
      }
      Free(p[i]);
    }
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void array_fetch_add_mpk(benchmark::State &state) {
  mpk_array_t *a = nullptr;
  if (mpk_array_new(&a, MPK_LONG, 1, 0) != 0) {
    state.SkipWithError("mpk_array_new failed");
    return;
  }
  for (auto _ : state)
    benchmark::DoNotOptimize(mpk_array_fetch_add(a, 0, 1));
  if (mpk_array_load(a, 0) != static_cast<long>(state.iterations()))
    state.SkipWithError("lost increments");
  mpk_array_free(a);
  state.SetItemsProcessed(state.iterations());
}

void array_fetch_add_raw(benchmark::State &state) {
  long *v = new long(0);
  for (auto _ : state)
    benchmark::DoNotOptimize(__atomic_fetch_add(v, 1, __ATOMIC_SEQ_CST));
  if (__atomic_load_n(v, __ATOMIC_SEQ_CST) !=
      static_cast<long>(state.iterations()))
    state.SkipWithError("lost increments");
  delete v;
  state.SetItemsProcessed(state.iterations());
}

} // namespace

#define SHM_SIZES Arg(64)->Arg(1024)->Arg(16384)

BENCHMARK(alloc_free<mpk_alloc, mpk_free>)
    ->Name("shm_alloc_free/mpk")
    ->SHM_SIZES;
BENCHMARK(alloc_free<libc_alloc, libc_free>)
    ->Name("shm_alloc_free/malloc")
    ->SHM_SIZES;
BENCHMARK(alloc_free_batch<mpk_alloc, mpk_free>)
    ->Name("shm_alloc_free_batch64/mpk")
    ->SHM_SIZES;
BENCHMARK(alloc_free_batch<libc_alloc, libc_free>)
    ->Name("shm_alloc_free_batch64/malloc")
    ->SHM_SIZES;
BENCHMARK(alloc_free<mpk_alloc, mpk_free>)
    ->Name("shm_alloc_free_2t/mpk")
    ->SHM_SIZES->Threads(2)
    ->UseRealTime();
BENCHMARK(alloc_free<libc_alloc, libc_free>)
    ->Name("shm_alloc_free_2t/malloc")
    ->SHM_SIZES->Threads(2)
    ->UseRealTime();
BENCHMARK(array_fetch_add_mpk)->Name("array_fetch_add/mpk");
BENCHMARK(array_fetch_add_raw)->Name("array_fetch_add/raw");
