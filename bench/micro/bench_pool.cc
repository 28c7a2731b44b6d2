// bench_pool.cc - the pool against serial code and OpenMP, same binary, same
// run (every mpk benchmark sits beside its baseline):
//
//   pi/serial, pi/omp, pi/mpk, pi/mpk_threads   midpoint-rule pi, args
//       {steps, workers}; OpenMP is `parallel for reduction(+:sum)
//       schedule(static)`. Steps: 10^9 normally, 10^7 when the binary runs
//       with a tiny --benchmark_min_time (the bench.micro-smoke test).
//   forkjoin/mpk vs forkjoin/omp      an empty mpk_pool_for of `workers`
//       chunks vs an empty `parallel for` on as many threads (EPCC style)
//   dynamic1/mpk vs dynamic1/omp      10^6 empty iterations, dynamic chunk 1
//   nbody128/mpk vs nbody128/omp      one N-body step over 128 bodies per
//       iteration: two `for` calls (accelerations, then positions)
//   nbody128_loaded/{mpk,omp}         the same with a CPU-bound process
//       spinning on every core (bounded spinning must not collapse)
//   map_1M_8B/mpk vs map_1M_8B/serial  map of 10^6 longs (shared in / out)
//   apply_roundtrip/mpk               one mpk_pool_apply of an empty task
//   reduce_det/mpk vs reduce_det/mpk_fast  pi 10^8 (10^6 in the smoke run):
//       deterministic per-chunk tree vs per-worker accumulation
//
// Pools are created once per (backend, workers) and kept for the whole run
// (freed at exit), so creation never lands in a timing loop.
#include <benchmark/benchmark.h>
#include <omp.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "mpk/error.h"
#include "mpk/pool.h"
#include "mpk/shm.h"
#include "mpk/topo.h"

namespace {

// ---- sizes: full run vs smoke run -------------------------------------

bool smoke_run() {
  static int smoke = -1;
  if (smoke >= 0)
    return smoke;
  smoke = 0;
  FILE *f = std::fopen("/proc/self/cmdline", "r");
  if (f == nullptr)
    return false;
  std::string all;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0)
    all.append(buf, n);
  std::fclose(f);
  for (size_t at = 0; at < all.size();
       at += std::strlen(all.c_str() + at) + 1) {
    const char *arg = all.c_str() + at;
    const char *flag = "--benchmark_min_time=";
    if (std::strncmp(arg, flag, std::strlen(flag)) == 0 &&
        std::atof(arg + std::strlen(flag)) < 0.05)
      smoke = 1;
  }
  return smoke;
}

int64_t pi_steps() {
  return smoke_run() ? 10000000 : 1000000000;
}
int64_t det_steps() {
  return smoke_run() ? 1000000 : 100000000;
}

// ---- pools kept for the run ---------------------------------------------

struct Pools {
  std::mutex mu;
  std::map<std::pair<int, int>, mpk_pool_t *> pools;
  ~Pools() {
    for (auto &kv : pools)
      mpk_pool_free(kv.second);
  }
};

Pools &pools() {
  static Pools p;
  return p;
}

mpk_pool_t *pool_for(mpk_backend b, int workers) {
  Pools &ps = pools();
  std::lock_guard<std::mutex> lock(ps.mu);
  auto key = std::make_pair((int)b, workers);
  auto it = ps.pools.find(key);
  if (it != ps.pools.end())
    return it->second;
  mpk_pool_opts o;
  mpk_pool_opts_init(&o);
  o.workers = workers;
  o.backend = b;
  mpk_pool_t *p = nullptr;
  if (mpk_pool_create(&p, &o) != MPK_OK)
    return nullptr;
  ps.pools[key] = p;
  return p;
}

// pool_for, or nullptr after marking the run failed.
mpk_pool_t *pool_or_skip(benchmark::State &state, mpk_backend b, int workers) {
  mpk_pool_t *p = pool_for(b, workers);
  if (p == nullptr)
    state.SkipWithError("mpk_pool_create failed");
  return p;
}

// ---- pi -------------------------------------------------------------------

struct PiCtx {
  double dx;
};

double pi_range(size_t lo, size_t hi, void *ctx) {
  double dx = static_cast<PiCtx *>(ctx)->dx, s = 0.0;
  for (size_t i = lo; i < hi; i++) {
    double x = (static_cast<double>(i) + 0.5) * dx;
    s += 4.0 / (1.0 + x * x);
  }
  return s * dx;
}

bool pi_ok(benchmark::State &state, double pi) {
  if (std::fabs(pi - M_PI) > 1e-9) {
    state.SkipWithError("pi is wrong");
    return false;
  }
  return true;
}

void BM_pi_serial(benchmark::State &state) {
  size_t n = static_cast<size_t>(state.range(0));
  PiCtx c{1.0 / static_cast<double>(n)};
  for (auto _ : state) {
    double pi = pi_range(0, n, &c);
    if (!pi_ok(state, pi))
      break;
    benchmark::DoNotOptimize(pi);
  }
}

void BM_pi_omp(benchmark::State &state) {
  long n = static_cast<long>(state.range(0));
  int threads = static_cast<int>(state.range(1));
  double dx = 1.0 / static_cast<double>(n);
  for (auto _ : state) {
    double sum = 0.0;
#pragma omp parallel for reduction(+ : sum) schedule(static) num_threads(threads)
    for (long i = 0; i < n; i++) {
      double x = (static_cast<double>(i) + 0.5) * dx;
      sum += 4.0 / (1.0 + x * x);
    }
    double pi = sum * dx;
    if (!pi_ok(state, pi))
      break;
    benchmark::DoNotOptimize(pi);
  }
}

// pi by mpk_pool_reduce_double over {steps, workers} (pi/mpk, pi/mpk_threads,
// reduce_det/*): Flags 0 is the deterministic per-chunk tree, MPK_REDUCE_FAST
// the per-worker accumulation.
template <mpk_backend B, int Flags> void BM_pi_reduce(benchmark::State &state) {
  size_t n = static_cast<size_t>(state.range(0));
  mpk_pool_t *p = pool_or_skip(state, B, static_cast<int>(state.range(1)));
  if (p == nullptr)
    return;
  PiCtx c{1.0 / static_cast<double>(n)};
  mpk_sched s{MPK_SCHED_STATIC, 0};
  for (auto _ : state) {
    double pi = 0;
    int rc = mpk_pool_reduce_double(p, n, pi_range, &c, sizeof c, MPK_SUM, s,
                                    Flags, &pi);
    if (rc != MPK_OK) {
      state.SkipWithError(mpk_strerror(rc));
      break;
    }
    if (!pi_ok(state, pi))
      break;
  }
}

// ---- fork-join and dynamic scheduling -------------------------------------

int empty_range(size_t lo, size_t hi, void *ctx) {
  (void)ctx;
  benchmark::DoNotOptimize(lo);
  benchmark::DoNotOptimize(hi);
  return 0;
}

void BM_forkjoin_mpk(benchmark::State &state) {
  int w = static_cast<int>(state.range(0));
  mpk_pool_t *p = pool_or_skip(state, MPK_PROCESS, w);
  if (p == nullptr)
    return;
  mpk_sched s{MPK_SCHED_STATIC, 0};
  for (auto _ : state) {
    int rc =
        mpk_pool_for(p, static_cast<size_t>(w), empty_range, nullptr, 0, s);
    if (rc != MPK_OK) {
      state.SkipWithError(mpk_strerror(rc));
      break;
    }
  }
}

void BM_forkjoin_omp(benchmark::State &state) {
  int t = static_cast<int>(state.range(0));
  for (auto _ : state) {
#pragma omp parallel for schedule(static) num_threads(t)
    for (int i = 0; i < t; i++)
      benchmark::DoNotOptimize(i);
  }
}

constexpr size_t kDynN = 1000000;

// Per-worker counters, one cache line each (like OpenMP's reduction), so
// the kernel adds no contention of its own; their sum checks the schedule.
struct alignas(64) Counter {
  long n;
};

int count_range(size_t lo, size_t hi, void *ctx) {
  Counter *c = *static_cast<Counter **>(ctx);
  c[mpk_worker_id()].n += static_cast<long>(hi - lo);
  return 0;
}

void BM_dynamic1_mpk(benchmark::State &state) {
  int w = static_cast<int>(state.range(0));
  mpk_pool_t *p = pool_for(MPK_PROCESS, w);
  Counter *count = static_cast<Counter *>(
      mpk_shm_calloc(static_cast<size_t>(w), sizeof(Counter)));
  if (p == nullptr || count == nullptr) {
    state.SkipWithError("setup failed");
    return;
  }
  void *ctx = count;
  mpk_sched s{MPK_SCHED_DYNAMIC, 1};
  for (auto _ : state) {
    for (int i = 0; i < w; i++)
      count[i].n = 0;
    int rc = mpk_pool_for(p, kDynN, count_range, &ctx, sizeof ctx, s);
    long total = 0;
    for (int i = 0; i < w; i++)
      total += count[i].n;
    if (rc != MPK_OK || total != static_cast<long>(kDynN)) {
      state.SkipWithError("wrong count");
      break;
    }
  }
  mpk_shm_free(count);
}

void BM_dynamic1_omp(benchmark::State &state) {
  int t = static_cast<int>(state.range(0));
  for (auto _ : state) {
    long count = 0;
#pragma omp parallel for schedule(dynamic, 1) num_threads(t) reduction(+ : count)
    for (long i = 0; i < static_cast<long>(kDynN); i++) {
      benchmark::DoNotOptimize(i);
      count++;
    }
    if (count != static_cast<long>(kDynN)) {
      state.SkipWithError("wrong count");
      break;
    }
  }
}

// ---- N-body: two short parallel loops per step ----------------------------

constexpr int kBodies = 128;

struct Bodies {
  double x[kBodies][3], v[kBodies][3], a[kBodies][3], m[kBodies];
};

struct NbodyCtx {
  Bodies *b;
  double dt;
};

void accel(Bodies *b, size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; i++) {
    double ax = 0, ay = 0, az = 0;
    for (int j = 0; j < kBodies; j++) {
      double dx = b->x[j][0] - b->x[i][0], dy = b->x[j][1] - b->x[i][1],
             dz = b->x[j][2] - b->x[i][2];
      double r2 = dx * dx + dy * dy + dz * dz + 1e-3;
      double inv = b->m[j] / (r2 * std::sqrt(r2));
      ax += dx * inv;
      ay += dy * inv;
      az += dz * inv;
    }
    b->a[i][0] = ax;
    b->a[i][1] = ay;
    b->a[i][2] = az;
  }
}

void move(Bodies *b, size_t lo, size_t hi, double dt) {
  for (size_t i = lo; i < hi; i++)
    for (int k = 0; k < 3; k++) {
      b->v[i][k] += b->a[i][k] * dt;
      b->x[i][k] += b->v[i][k] * dt;
    }
}

int accel_range(size_t lo, size_t hi, void *ctx) {
  accel(static_cast<NbodyCtx *>(ctx)->b, lo, hi);
  return 0;
}

int move_range(size_t lo, size_t hi, void *ctx) {
  NbodyCtx *c = static_cast<NbodyCtx *>(ctx);
  move(c->b, lo, hi, c->dt);
  return 0;
}

void init_bodies(Bodies *b) {
  for (int i = 0; i < kBodies; i++) {
    for (int k = 0; k < 3; k++) {
      b->x[i][k] = std::sin(i * 1.3 + k * 0.7) * 10;
      b->v[i][k] = 0;
    }
    b->m[i] = 1.0 + (i % 5) * 0.1;
  }
}

double momentum(const Bodies *b) {
  double p = 0;
  for (int i = 0; i < kBodies; i++)
    for (int k = 0; k < 3; k++)
      p += b->m[i] * b->v[i][k];
  return p;
}

// The bodies start at rest and only pull on each other: total momentum stays 0.
void check_momentum(benchmark::State &state, const Bodies *b) {
  double p = momentum(b);
  if (!std::isfinite(p) || std::fabs(p) > 1e-6)
    state.SkipWithError("momentum not conserved");
}

// CPU-bound processes on every PU, for the "loaded" variants.
struct Load {
  std::vector<pid_t> pids;
  explicit Load(bool on) {
    if (!on)
      return;
    int n = mpk_cpu_count();
    for (int i = 0; i < n; i++) {
      pid_t p = fork();
      if (p == 0) {
        alarm(600); // never outlive a crashed benchmark for long
        volatile unsigned long x = 0;
        for (;;)
          x = x + 1;
      }
      if (p > 0)
        pids.push_back(p);
    }
  }
  ~Load() {
    for (pid_t p : pids)
      kill(p, SIGKILL);
    for (pid_t p : pids)
      waitpid(p, nullptr, 0);
  }
};

// Loaded: with a CPU-bound process spinning on every PU (nbody128_loaded).
template <bool Loaded> void BM_nbody_mpk(benchmark::State &state) {
  int w = static_cast<int>(state.range(0));
  mpk_pool_t *p = pool_for(MPK_PROCESS, w);
  Bodies *b = static_cast<Bodies *>(mpk_shm_calloc(1, sizeof(Bodies)));
  if (p == nullptr || b == nullptr) {
    state.SkipWithError("setup failed");
    return;
  }
  init_bodies(b);
  NbodyCtx c{b, 1e-4};
  mpk_sched s{MPK_SCHED_STATIC, 0};
  Load load(Loaded);
  for (auto _ : state) {
    if (mpk_pool_for(p, kBodies, accel_range, &c, sizeof c, s) != MPK_OK ||
        mpk_pool_for(p, kBodies, move_range, &c, sizeof c, s) != MPK_OK) {
      state.SkipWithError("mpk_pool_for failed");
      break;
    }
  }
  check_momentum(state, b);
  mpk_shm_free(b);
}

template <bool Loaded> void BM_nbody_omp(benchmark::State &state) {
  int t = static_cast<int>(state.range(0));
  Bodies *b = new Bodies();
  init_bodies(b);
  Load load(Loaded);
  for (auto _ : state) {
#pragma omp parallel num_threads(t)
    {
#pragma omp for schedule(static)
      for (int i = 0; i < kBodies; i++)
        accel(b, static_cast<size_t>(i), static_cast<size_t>(i) + 1);
#pragma omp for schedule(static)
      for (int i = 0; i < kBodies; i++)
        move(b, static_cast<size_t>(i), static_cast<size_t>(i) + 1, 1e-4);
    }
  }
  check_momentum(state, b);
  delete b;
}

// ---- map, apply ----------------------------------------------------------

constexpr size_t kMapN = 1000000;

int twice(const void *in, void *out, void *ctx) {
  (void)ctx;
  *static_cast<long *>(out) = *static_cast<const long *>(in) * 2;
  return 0;
}

bool map_ok(const long *out) {
  for (size_t i = 0; i < kMapN; i += 4999)
    if (out[i] != static_cast<long>(i) * 2)
      return false;
  return out[kMapN - 1] == static_cast<long>(kMapN - 1) * 2;
}

void BM_map_mpk(benchmark::State &state) {
  mpk_pool_t *p = pool_for(MPK_PROCESS, static_cast<int>(state.range(0)));
  long *in = static_cast<long *>(mpk_shm_alloc(kMapN * sizeof(long)));
  long *out = static_cast<long *>(mpk_shm_alloc(kMapN * sizeof(long)));
  if (p == nullptr || in == nullptr || out == nullptr) {
    state.SkipWithError("setup failed");
    return;
  }
  for (size_t i = 0; i < kMapN; i++)
    in[i] = static_cast<long>(i);
  mpk_sched s{MPK_SCHED_AUTO, 0};
  for (auto _ : state) {
    if (mpk_pool_map(p, twice, in, sizeof(long), out, sizeof(long), kMapN,
                     nullptr, 0, s) != MPK_OK ||
        !map_ok(out)) {
      state.SkipWithError("map failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kMapN));
  mpk_shm_free(in);
  mpk_shm_free(out);
}

void BM_map_serial(benchmark::State &state) {
  std::vector<long> in(kMapN), out(kMapN);
  for (size_t i = 0; i < kMapN; i++)
    in[i] = static_cast<long>(i);
  for (auto _ : state) {
    for (size_t i = 0; i < kMapN; i++)
      twice(&in[i], &out[i], nullptr);
    benchmark::ClobberMemory();
    if (!map_ok(out.data())) {
      state.SkipWithError("map failed");
      break;
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kMapN));
}

int add_one(const void *arg, void *res, void *ctx) {
  (void)ctx;
  *static_cast<long *>(res) = *static_cast<const long *>(arg) + 1;
  return 0;
}

void BM_apply_mpk(benchmark::State &state) {
  mpk_pool_t *p =
      pool_or_skip(state, MPK_PROCESS, static_cast<int>(state.range(0)));
  if (p == nullptr)
    return;
  long x = 41;
  for (auto _ : state) {
    long r = 0;
    if (mpk_pool_apply(p, add_one, &x, sizeof x, &r, sizeof r) != MPK_OK ||
        r != 42) {
      state.SkipWithError("apply failed");
      break;
    }
  }
}

// ---- registration -----------------------------------------------------------

// One benchmark: its name, its function, and its time unit (none: the
// library's default). Every one is timed in real time.
struct Entry {
  const char *name;
  void (*fn)(benchmark::State &);
  std::optional<benchmark::TimeUnit> unit;
};

void add(const Entry &e, const std::vector<int64_t> &args) {
  benchmark::internal::Benchmark *b =
      benchmark::RegisterBenchmark(e.name, e.fn)->Args(args)->UseRealTime();
  if (e.unit)
    b->Unit(*e.unit);
}

int register_all() {
  constexpr benchmark::TimeUnit ms = benchmark::kMillisecond;
  constexpr benchmark::TimeUnit us = benchmark::kMicrosecond;
  int cpus = mpk_cpu_count();
  std::vector<int> ws{1};
  if (cpus >= 2)
    ws.push_back(2);
  int64_t n = pi_steps(), nd = det_steps();
  add({"pi/serial", BM_pi_serial, ms}, {n, 1}); // pairs with /1
  const Entry pi[] = {
      {"pi/omp", BM_pi_omp, ms},
      {"pi/mpk", BM_pi_reduce<MPK_PROCESS, 0>, ms},
      {"pi/mpk_threads", BM_pi_reduce<MPK_THREAD, 0>, ms},
  };
  for (int w : ws)
    for (const Entry &e : pi)
      add(e, {n, w});
  const Entry per_workers[] = {
      {"forkjoin/mpk", BM_forkjoin_mpk, std::nullopt},
      {"forkjoin/omp", BM_forkjoin_omp, std::nullopt},
      {"dynamic1/mpk", BM_dynamic1_mpk, ms},
      {"dynamic1/omp", BM_dynamic1_omp, ms},
      {"nbody128/mpk", BM_nbody_mpk<false>, us},
      {"nbody128/omp", BM_nbody_omp<false>, us},
      {"nbody128_loaded/mpk", BM_nbody_mpk<true>, us},
      {"nbody128_loaded/omp", BM_nbody_omp<true>, us},
  };
  for (int w : ws)
    for (const Entry &e : per_workers)
      add(e, {w});
  int wmax = ws.back();
  add({"map_1M_8B/mpk", BM_map_mpk, ms}, {wmax});
  add({"map_1M_8B/serial", BM_map_serial, ms}, {wmax});
  add({"apply_roundtrip/mpk", BM_apply_mpk, std::nullopt}, {wmax});
  add({"reduce_det/mpk", BM_pi_reduce<MPK_PROCESS, 0>, ms}, {nd, wmax});
  add({"reduce_det/mpk_fast", BM_pi_reduce<MPK_PROCESS, MPK_REDUCE_FAST>, ms},
      {nd, wmax});
  return 0;
}

const int registered = register_all();

} // namespace
