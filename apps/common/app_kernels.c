/* app_kernels.c - numeric kernels shared by the apps, mpk-scale and tests.
 * See app_kernels.h for the contracts. */
#include "app_kernels.h"

#include <gsl/gsl_rng.h>
#include <stdatomic.h>
#include <string.h>

#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#endif

/* ------------------------------------------------------------------------ */
/* pi, naive                                                                 */

double app_pi_naive(size_t lo, size_t hi, double dx) {
  double sum = 0.0;
  for (size_t i = lo; i < hi; i++) {
    double x = ((double)i + 0.5) * dx;
    sum += 4.0 / (1.0 + x * x);
  }
  return sum;
}

/* ------------------------------------------------------------------------ */
/* pi, SIMD: eight fixed logical lanes through GCC/Clang vector extensions.  */

/* Each ISA variant holds the eight lanes in 8 / W native vectors of W
   doubles (W = 2 SSE2, 4 AVX2, 8 AVX-512): lane k is element k % W of
   vector k / W. A single 64-byte vector type is lowered badly by GCC on
   narrower ISAs (spills every iteration), so each variant uses its own
   width; the per-lane arithmetic and the final lane order are the same. */
typedef double v2d __attribute__((vector_size(16)));
typedef double v4d __attribute__((vector_size(32)));
typedef double v8d __attribute__((vector_size(64)));

/* The tail: the last (hi - lo) % 8 steps, in order, one accumulator. */
static double pi_tail(size_t lo, size_t hi, double dx) {
  return app_pi_naive(lo, hi, dx);
}

/* Lane sum in the fixed order, then the tail. */
static double pi_lanes(const double lane[8], size_t lo, size_t hi, double dx) {
  double s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
             ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  return s + pi_tail(lo, hi, dx);
}

/* One body per vector type VT of W doubles. x of lane k at iteration j is
   ((double)(lo + k + 8j) + 0.5) * dx, the same bits as the naive loop: the
   lane's index is carried as an exact double (an integer + 0.5 below 2^52)
   and stepped by 8.0, which is exact. The loop counter is 32-bit, which the
   vectoriser likes and the caller guarantees (hi - lo < 2^32). */
#define PI_SIMD_DEFINE(NAME, ATTR, VT, W)                                      \
  ATTR static double NAME(size_t lo, size_t hi, double dx) {                   \
    enum { G = 8 / (W) };                                                      \
    const uint32_t iters = (uint32_t)((hi - lo) / 8);                          \
    const double b = (double)lo + 0.5;                                         \
    double init[8];                                                            \
    for (int k = 0; k < 8; k++)                                                \
      init[k] = b + (double)k;                                                 \
    VT xi[G], acc[G];                                                          \
    const VT zero = {0};                                                       \
    const VT vdx = zero + dx, one = zero + 1.0, four = zero + 4.0;             \
    const VT eight = zero + 8.0;                                               \
    for (int g = 0; g < G; g++) {                                              \
      memcpy(&xi[g], init + g * (W), sizeof(VT));                              \
      acc[g] = zero;                                                           \
    }                                                                          \
    for (uint32_t j = 0; j < iters; j++) {                                     \
      _Pragma("GCC unroll 4") for (int g = 0; g < G; g++) {                    \
        VT x = xi[g] * vdx;                                                    \
        acc[g] += four / (one + x * x);                                        \
        xi[g] += eight;                                                        \
      }                                                                        \
    }                                                                          \
    double lane[8];                                                            \
    for (int g = 0; g < G; g++)                                                \
      memcpy(lane + g * (W), &acc[g], sizeof(VT));                             \
    return pi_lanes(lane, lo + (size_t)iters * 8, hi, dx);                     \
  }

PI_SIMD_DEFINE(pi_simd_generic, , v2d, 2)

#if defined(__x86_64__) || defined(__i386__)
#define HAVE_X86_VARIANTS 1
PI_SIMD_DEFINE(pi_simd_avx2, __attribute__((target("avx2"))), v4d, 4)
PI_SIMD_DEFINE(pi_simd_avx512f, __attribute__((target("avx512f"))), v8d, 8)
static int cpu_has_avx2(void) {
  return __builtin_cpu_supports("avx2");
}
static int cpu_has_avx512f(void) {
  return __builtin_cpu_supports("avx512f");
}
#endif

static int always(void) {
  return 1;
}

typedef struct {
  const char *name;
  app_pi_fn fn;
  int (*supported)(void);
} pi_variant;

/* Preference order of the automatic choice: the first supported one. The
   loop is bound by the divider, whose per-element throughput does not grow
   with the vector width on the Xeon we measured (the three variants were
   within noise of each other there), so AVX-512, which may lower the clock,
   is not preferred; select it with app_pi_simd_select. */
static const pi_variant variants[] = {
#ifdef HAVE_X86_VARIANTS
    {"avx2", pi_simd_avx2, cpu_has_avx2},
    {"avx512f", pi_simd_avx512f, cpu_has_avx512f},
#endif
    {"generic", pi_simd_generic, always},
};
#define N_VARIANTS ((int)(sizeof variants / sizeof variants[0]))

/* The chosen variant's index + 1; 0 = not chosen yet. Relaxed atomics: the
   index is the only datum and every thread would choose the same one. */
static _Atomic int chosen;

static int auto_choice(void) {
  for (int i = 0; i < N_VARIANTS; i++)
    if (variants[i].supported())
      return i;
  return N_VARIANTS - 1;
}

static int current_variant(void) {
  int c = atomic_load_explicit(&chosen, memory_order_relaxed);
  if (c == 0) {
    c = auto_choice() + 1;
    atomic_store_explicit(&chosen, c, memory_order_relaxed);
  }
  return c - 1;
}

double app_pi_simd(size_t lo, size_t hi, double dx) {
  return variants[current_variant()].fn(lo, hi, dx);
}

const char *app_pi_simd_isa(void) {
  return variants[current_variant()].name;
}

int app_pi_simd_select(const char *isa) {
  if (isa == NULL || strcmp(isa, "auto") == 0) {
    atomic_store_explicit(&chosen, auto_choice() + 1, memory_order_relaxed);
    return 0;
  }
  for (int i = 0; i < N_VARIANTS; i++) {
    if (strcmp(variants[i].name, isa) != 0)
      continue;
    if (!variants[i].supported())
      return -2;
    atomic_store_explicit(&chosen, i + 1, memory_order_relaxed);
    return 0;
  }
  return -1;
}

int app_pi_simd_variant(int i, const char **name, app_pi_fn *fn,
                        int *supported) {
  if (i < 0 || i >= N_VARIANTS)
    return -1;
  if (name)
    *name = variants[i].name;
  if (fn)
    *fn = variants[i].fn;
  if (supported)
    *supported = variants[i].supported();
  return 0;
}

double app_pi_simd_emulated(size_t lo, size_t hi, double dx) {
  size_t iters = (hi - lo) / 8;
  double lane[8];
  for (int k = 0; k < 8; k++) {
    double acc = 0.0;
    for (size_t j = 0; j < iters; j++) {
      double x = ((double)(lo + 8 * j + (size_t)k) + 0.5) * dx;
      acc += 4.0 / (1.0 + x * x);
    }
    lane[k] = acc;
  }
  double s = ((lane[0] + lane[1]) + (lane[2] + lane[3])) +
             ((lane[4] + lane[5]) + (lane[6] + lane[7]));
  return s + app_pi_naive(lo + iters * 8, hi, dx);
}

static double pi_block(size_t lo, size_t hi, double dx, app_pi_kernel k) {
  return k == APP_PI_SIMD ? app_pi_simd(lo, hi, dx) : app_pi_naive(lo, hi, dx);
}

/* Sub-blocks are computed by the team GROUP at a time into a stack array,
   then added in order: the same additions as the sequential loop. */
#define GROUP 64

double app_pi_range(size_t lo, size_t hi, double dx, app_pi_kernel kernel,
                    int team) {
  if (hi <= lo)
    return 0.0;
  size_t nblocks = (hi - lo + APP_PI_BLOCK - 1) / APP_PI_BLOCK;
  double sum = 0.0;
  if (team <= 1 || nblocks < 2) {
    for (size_t b = 0; b < nblocks; b++) {
      size_t a = lo + b * APP_PI_BLOCK;
      size_t e = hi - a > APP_PI_BLOCK ? a + APP_PI_BLOCK : hi;
      sum += pi_block(a, e, dx, kernel);
    }
    return sum;
  }
  double part[GROUP];
  for (size_t g = 0; g < nblocks; g += GROUP) {
    int m = nblocks - g > GROUP ? GROUP : (int)(nblocks - g);
#pragma omp parallel for num_threads(team) schedule(static)
    for (int j = 0; j < m; j++) {
      size_t a = lo + (g + (size_t)j) * APP_PI_BLOCK;
      size_t e = hi - a > APP_PI_BLOCK ? a + APP_PI_BLOCK : hi;
      part[j] = pi_block(a, e, dx, kernel);
    }
    for (int j = 0; j < m; j++)
      sum += part[j];
  }
  return sum;
}

/* ------------------------------------------------------------------------ */
/* Monte Carlo                                                               */

/* splitmix64's finaliser and murmur3's fmix32: both are bijections. */
static uint64_t mix64(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

static uint32_t fmix32(uint32_t h) {
  h ^= h >> 16;
  h *= 0x85ebca6bU;
  h ^= h >> 13;
  h *= 0xc2b2ae35U;
  h ^= h >> 16;
  return h;
}

uint32_t app_mc_stream_seed(uint64_t seed, uint64_t chunk_index) {
  uint32_t base = (uint32_t)mix64(seed);
  return fmix32(base + (uint32_t)chunk_index);
}

double app_mc_hits(size_t lo, size_t hi, size_t chunk, uint64_t seed) {
  if (hi <= lo)
    return 0.0;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (r == NULL)
    return -1.0;
  double hits = 0.0;
  size_t j = lo;
  while (j < hi) {
    size_t c = j / chunk, start = c * chunk;
    size_t end = hi - start > chunk ? start + chunk : hi;
    gsl_rng_set(r, app_mc_stream_seed(seed, c));
    for (size_t s = start; s < j; s++) { /* skip to j within the chunk */
      (void)gsl_rng_get(r);
      (void)gsl_rng_get(r);
    }
    unsigned long in = 0;
    for (; j < end; j++) {
      double x = gsl_rng_uniform(r), y = gsl_rng_uniform(r);
      in += x * x + y * y <= 1.0;
    }
    hits += (double)in;
  }
  gsl_rng_free(r);
  return hits;
}

/* ------------------------------------------------------------------------ */
/* square                                                                    */

void app_square_long(const long *in, long *out, size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; i++)
    out[i] = in[i] * in[i];
}

void app_square_double(const double *in, double *out, size_t lo, size_t hi) {
  for (size_t i = lo; i < hi; i++)
    out[i] = in[i] * in[i];
}

int app_square_long_elem(const void *in, void *out, void *ctx) {
  (void)ctx;
  long v;
  memcpy(&v, in, sizeof v);
  if (v > APP_SQUARE_LONG_MAX || v < -APP_SQUARE_LONG_MAX)
    return 1;
  v *= v;
  memcpy(out, &v, sizeof v);
  return 0;
}

int app_square_double_elem(const void *in, void *out, void *ctx) {
  (void)ctx;
  double v;
  memcpy(&v, in, sizeof v);
  v *= v;
  memcpy(out, &v, sizeof v);
  return 0;
}

size_t app_square_check_long(const long *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (out[i] != (long)i * (long)i)
      return i;
  return n;
}

size_t app_square_check_double(const double *out, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (out[i] != (double)i * (double)i)
      return i;
  return n;
}

/* ------------------------------------------------------------------------ */
/* imbalanced                                                                */

unsigned app_imb_cost(size_t i, size_t n) {
  if (n == 0 || i >= n)
    return 1;
  const size_t r = APP_IMB_RAMP - 1;
  if (i <= SIZE_MAX / r)
    return 1 + (unsigned)(i * r / n);
  return 1 + (unsigned)(i / (n / r + 1)); /* huge n only: near enough */
}

double app_imb_elem(size_t i, size_t n) {
  unsigned c = app_imb_cost(i, n);
  double x = 1.0 / (double)(1 + i % 97);
  for (unsigned k = 0; k < c; k++)
    x = x * 0.9990234375 + 0.0009765625;
  return x;
}

double app_imb_range(size_t lo, size_t hi, size_t n, int team) {
  double sum = 0.0;
  if (team <= 1) {
    for (size_t i = lo; i < hi; i++)
      sum += app_imb_elem(i, n);
    return sum;
  }
#pragma omp parallel for num_threads(team) schedule(dynamic, 16) reduction(+ : sum)
  for (size_t i = lo; i < hi; i++)
    sum += app_imb_elem(i, n);
  return sum;
}
