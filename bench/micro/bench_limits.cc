// bench_limits.cc - the machine's physical limits, measured in the same run
// as the kernels they bound (RESULTS.md reads each headline row as a
// percentage of its limit). No mpk code is timed here, so bench/micro/ratios
// pairs nothing with them; scripts/render-results reads them by name:
//
//   limit/copy/T     STREAM copy b[i] = a[i] on T OpenMP threads (T = 1 and
//                    the physical cores), 2^23 doubles per array (64 MiB,
//                    far beyond any cache); bytes counted as STREAM does,
//                    16 per element (the pattern of square's out = in^2)
//   limit/triad/T    STREAM triad a[i] = b[i] + s c[i], 24 bytes per element
//   limit/divide_ISA one thread, 8 independent chains of dependent divides
//                    x = 1 / x in vectors of the pi kernel's ISA ("avx512f"
//                    8 doubles, "avx2" 4, "generic" 1); items are double
//                    divides, so 1 / items_per_second is the divider's time
//                    per step of pi (one divide per step) on one core
//
// The arrays are allocated and first touched once, on all physical cores,
// outside every timing loop.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstddef>
#include <cstdlib>
#include <vector>

#include "mpk/topo.h"

namespace {

constexpr size_t kStreamN = size_t(1) << 23;

struct Arrays {
  double *a, *b, *c;
};

// The arrays, first touched by as many threads as the physical cores (the
// most that stream them) on first use.
Arrays &arrays() {
  static Arrays arr = [] {
    int threads = mpk_core_count() > 1 ? mpk_core_count() : 1;
    Arrays r{};
    r.a = static_cast<double *>(std::aligned_alloc(64, kStreamN * 8));
    r.b = static_cast<double *>(std::aligned_alloc(64, kStreamN * 8));
    r.c = static_cast<double *>(std::aligned_alloc(64, kStreamN * 8));
    if (r.a != nullptr && r.b != nullptr && r.c != nullptr) {
#pragma omp parallel for schedule(static) num_threads(threads)
      for (size_t i = 0; i < kStreamN; i++) {
        r.a[i] = 1.0;
        r.b[i] = 2.0;
        r.c[i] = 0.5;
      }
    }
    return r;
  }();
  return arr;
}

// The arrays, or nullptr after marking the benchmark skipped.
const Arrays *arrays_or_skip(benchmark::State &state) {
  const Arrays &r = arrays();
  if (r.a == nullptr || r.b == nullptr || r.c == nullptr) {
    state.SkipWithError("no memory for the arrays");
    return nullptr;
  }
  return &r;
}

void BM_copy(benchmark::State &state) {
  int t = static_cast<int>(state.range(0));
  const Arrays *r = arrays_or_skip(state);
  if (r == nullptr)
    return;
  for (auto _ : state) {
    double *a = r->a, *b = r->b;
#pragma omp parallel for schedule(static) num_threads(t)
    for (size_t i = 0; i < kStreamN; i++)
      b[i] = a[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(16 * kStreamN));
}

void BM_triad(benchmark::State &state) {
  int t = static_cast<int>(state.range(0));
  const Arrays *r = arrays_or_skip(state);
  if (r == nullptr)
    return;
  const double s = 3.0;
  for (auto _ : state) {
    double *a = r->a, *b = r->b, *c = r->c;
#pragma omp parallel for schedule(static) num_threads(t)
    for (size_t i = 0; i < kStreamN; i++)
      a[i] = b[i] + s * c[i];
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() *
                          static_cast<int64_t>(24 * kStreamN));
}

// ---- the divider -------------------------------------------------------

constexpr long kDivSteps = 1 << 16; // per chain per iteration
constexpr int kChains = 8;

// x = 1 / x alternates between x0 and 1 / x0: finite, never denormal, and
// (without -ffast-math) never folded away.
template <typename V> double chains(long n) {
  V x[kChains];
  for (int k = 0; k < kChains; k++)
    x[k] = V{} + (1.5 + 0.1 * k);
  const V one = V{} + 1.0;
  for (long i = 0; i < n; i++)
    for (int k = 0; k < kChains; k++)
      x[k] = one / x[k];
  double s = 0.0;
  for (int k = 0; k < kChains; k++)
    for (size_t j = 0; j < sizeof(V) / sizeof(double); j++)
      s += reinterpret_cast<const double *>(&x[k])[j];
  return s;
}

typedef double v8d __attribute__((vector_size(64)));
typedef double v4d __attribute__((vector_size(32)));
typedef double v1d __attribute__((vector_size(8)));

__attribute__((noipa, target("avx512f"))) double div_avx512f(long n) {
  return chains<v8d>(n);
}
__attribute__((noipa, target("avx2"))) double div_avx2(long n) {
  return chains<v4d>(n);
}
__attribute__((noipa)) double div_generic(long n) {
  return chains<v1d>(n);
}

template <double (*F)(long), int W> void BM_divide(benchmark::State &state) {
  // noipa: the compiler may not see F as const and hoist it out of the loop
  long n = kDivSteps;
  for (auto _ : state) {
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(F(n));
  }
  state.SetItemsProcessed(state.iterations() * kDivSteps * kChains * W);
}

int register_limits() {
  int cores = mpk_core_count();
  std::vector<int64_t> ts{1};
  if (cores > 1)
    ts.push_back(cores);
  for (int64_t t : ts) {
    benchmark::RegisterBenchmark("limit/copy", BM_copy)->Arg(t)->UseRealTime();
    benchmark::RegisterBenchmark("limit/triad", BM_triad)
        ->Arg(t)
        ->UseRealTime();
  }
  __builtin_cpu_init();
  if (__builtin_cpu_supports("avx512f"))
    benchmark::RegisterBenchmark("limit/divide_avx512f",
                                 BM_divide<div_avx512f, 8>)
        ->UseRealTime();
  if (__builtin_cpu_supports("avx2"))
    benchmark::RegisterBenchmark("limit/divide_avx2", BM_divide<div_avx2, 4>)
        ->UseRealTime();
  benchmark::RegisterBenchmark("limit/divide_generic",
                               BM_divide<div_generic, 1>)
      ->UseRealTime();
  return 0;
}

const int registered = register_limits();

} // namespace
