// bench_topo.cc - topology queries and plans against the raw syscalls.
//
//   cpu_count/mpk    mpk_cpu_count()        vs  cpu_count/raw sched_getaffinity
//   + CPU_COUNT current_cpu/mpk  mpk_current_cpu()      vs  current_cpu/raw
//   sched_getcpu() topo_plan/mpk_*  one worker's plan (the pool computes one
//   per worker)
#include <benchmark/benchmark.h>
#include <sched.h>

#include <climits>
#include <string>
#include <vector>

#include "internal/topo.h"
#include "mpk/error.h"
#include "mpk/topo.h"

static void BM_cpu_count_mpk(benchmark::State &state) {
  for (auto _ : state) {
    int n = mpk_cpu_count();
    if (n < 1) {
      state.SkipWithError("mpk_cpu_count < 1");
      break;
    }
    benchmark::DoNotOptimize(n);
  }
}
BENCHMARK(BM_cpu_count_mpk)->Name("cpu_count/mpk");

static void BM_cpu_count_raw(benchmark::State &state) {
  for (auto _ : state) {
    cpu_set_t s;
    if (sched_getaffinity(0, sizeof s, &s) != 0 || CPU_COUNT(&s) < 1) {
      state.SkipWithError("sched_getaffinity failed");
      break;
    }
    benchmark::DoNotOptimize(CPU_COUNT(&s));
  }
}
BENCHMARK(BM_cpu_count_raw)->Name("cpu_count/raw");

static void BM_current_cpu_mpk(benchmark::State &state) {
  for (auto _ : state) {
    int c = mpk_current_cpu();
    if (c < 0) {
      state.SkipWithError("mpk_current_cpu failed");
      break;
    }
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_current_cpu_mpk)->Name("current_cpu/mpk");

static void BM_current_cpu_raw(benchmark::State &state) {
  for (auto _ : state) {
    int c = sched_getcpu();
    if (c < 0) {
      state.SkipWithError("sched_getcpu failed");
      break;
    }
    benchmark::DoNotOptimize(c);
  }
}
BENCHMARK(BM_current_cpu_raw)->Name("current_cpu/raw");

// One plan per iteration; the result must be one of the allowed PUs' lists
// (checked against mpk_topo_allowed: non-empty and plan of 1 worker under
// NONE equals the allowed set).
static void BM_topo_plan(benchmark::State &state, mpk_bind_policy p,
                         const char *list) {
  char allowed[256], want[256], buf[256];
  if (mpk_topo_allowed(allowed, sizeof allowed) != MPK_OK ||
      mpk_topo_plan(1, MPK_BIND_NONE, nullptr, 0, want, sizeof want) !=
          MPK_OK ||
      std::string(allowed) != want) {
    state.SkipWithError("allowed set / NONE plan disagree");
    return;
  }
  int n = mpk_core_count();
  int i = 0;
  for (auto _ : state) {
    if (mpk_topo_plan(n, p, list, i, buf, sizeof buf) != MPK_OK ||
        buf[0] == '\0') {
      state.SkipWithError("mpk_topo_plan failed");
      break;
    }
    i = (i + 1) % n;
  }
}
BENCHMARK_CAPTURE(BM_topo_plan, compact, MPK_BIND_COMPACT, nullptr)
    ->Name("topo_plan/mpk_compact");
BENCHMARK_CAPTURE(BM_topo_plan, scatter, MPK_BIND_SCATTER, nullptr)
    ->Name("topo_plan/mpk_scatter");
BENCHMARK_CAPTURE(BM_topo_plan, list, MPK_BIND_SCATTER, "core:0")
    ->Name("topo_plan/mpk_list");

static void BM_topo_plan_raw(benchmark::State &state) {
  hwloc_topology_t t;
  if (mpk__topo_get(&t) != MPK_OK) {
    state.SkipWithError("no topology");
    return;
  }
  unsigned n = (unsigned)mpk_core_count();
  std::vector<hwloc_bitmap_t> sets(n);
  hwloc_obj_t root = hwloc_get_root_obj(t);
  char buf[256];
  unsigned i = 0;
  for (auto _ : state) {
    if (hwloc_distrib(t, &root, 1, sets.data(), n, INT_MAX, 0) != 0) {
      state.SkipWithError("hwloc_distrib failed");
      break;
    }
    hwloc_bitmap_singlify(sets[i]);
    int len = hwloc_bitmap_list_snprintf(buf, sizeof buf, sets[i]);
    for (unsigned j = 0; j < n; j++)
      hwloc_bitmap_free(sets[j]);
    if (len <= 0) {
      state.SkipWithError("empty set");
      break;
    }
    i = (i + 1) % n;
  }
}
BENCHMARK(BM_topo_plan_raw)->Name("topo_plan/raw");
