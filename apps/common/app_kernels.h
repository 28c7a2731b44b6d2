/* app_kernels.h - the numeric kernels of mpk-pi, mpk-square and mpk-scale.
 *
 * These are "the user's part" of a parallel program: plain C functions over
 * an index range [lo, hi). The apps run them serially, under OpenMP and in
 * mpk pools; the scaling driver and the tests call the same functions, so a
 * number in RESULTS.md always comes from the code the apps ship.
 *
 * Determinism
 * -----------
 * Every kernel here is a pure function of its arguments: the same range gives
 * the same bits on every run, every thread and every process. The library is
 * compiled in ISO C mode with -ffp-contract=off (no fused multiply-add is
 * formed behind our back) and without -ffast-math, so the SIMD pi kernel's
 * ISA variants (AVX-512, AVX2, generic SSE2) give bit-identical results; the
 * tests check each variant against a scalar emulation of its summation order.
 *
 * Thread-safety: every function is MT-safe and MP-safe (no shared state
 * except the SIMD variant chosen once, atomically, at first use).
 */
#ifndef APP_KERNELS_H
#define APP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

/* ------------------------------------------------------------------------ */
/* pi by the midpoint rule: pi = dx * sum_i 4 / (1 + x_i^2), x_i = (i + .5)dx */

typedef enum { APP_PI_NAIVE, APP_PI_SIMD } app_pi_kernel;

/* Sub-block length of app_pi_range: a range is cut into blocks of this many
   steps (from lo) whose sums are added left to right. The block is the
   OpenMP team's (hybrid mode) fixed unit of work, so the result never
   depends on the team size. 2^12 steps: small enough that a pool chunk (by
   default N / 4096 steps, 49k at N = 2e8) holds blocks for every thread of
   a team (with 2^16 a chunk below two blocks ran on one thread: hybrid 1x2
   measured 0.99x serial at 2e8 steps), large enough that adding one partial
   per block costs nothing measurable. */
#define APP_PI_BLOCK ((size_t)1 << 12)

/* The seed's loop: sum over i in [lo, hi) of 4 / (1 + x_i^2) with
   x_i = (i + 0.5) * dx, one scalar accumulator, in index order. It is bound
   by the latency and throughput of one scalar divide per step. Not
   multiplied by dx. Requires hi < 2^52 (x_i exact). */
double app_pi_naive(size_t lo, size_t hi, double dx);

/* The same sum over [lo, hi) (hi - lo < 2^32, hi < 2^52), written to
   vectorise without -ffast-math: eight independent lanes (lane k sums steps
   lo + k, lo + k + 8, ...), each lane's terms bit-identical to the naive
   loop's, then the lanes are added as ((l0+l1)+(l2+l3))+((l4+l5)+(l6+l7))
   and the tail (the last (hi - lo) % 8 steps, in order) is added last. The
   eight lanes are fixed whatever the vector width, so every ISA variant
   returns the same bits. Dispatches to the preferred variant this CPU runs
   (see app_pi_simd_isa). */
double app_pi_simd(size_t lo, size_t hi, double dx);

/* The name of the variant app_pi_simd uses: "avx512f", "avx2" or "generic". */
const char *app_pi_simd_isa(void);

/* Pin app_pi_simd to a variant by name ("avx512f", "avx2", "generic") or
   back to the automatic choice ("auto" or NULL). Returns 0, -1 for an
   unknown name, -2 when this CPU cannot run that variant. MT-safe (an atomic
   pointer); meant to be called at startup. */
int app_pi_simd_select(const char *isa);

typedef double (*app_pi_fn)(size_t lo, size_t hi, double dx);

/* Variant i (0, 1, ...) of the SIMD kernel, for tests: its name and
   function, and whether the CPU runs it. Returns 0, -1 past the last. */
int app_pi_simd_variant(int i, const char **name, app_pi_fn *fn,
                        int *supported);

/* The SIMD kernel's summation order emulated with scalar code (for tests):
   must equal app_pi_simd bit for bit. */
double app_pi_simd_emulated(size_t lo, size_t hi, double dx);

/* The sum over [lo, hi) with `kernel`, cut into APP_PI_BLOCK sub-blocks from
   lo, added left to right. team > 1 computes the sub-blocks with an OpenMP
   team of that many threads (hybrid workers) and still adds them left to
   right, so the bits do not depend on team. This is what every pool mode
   runs per chunk. */
double app_pi_range(size_t lo, size_t hi, double dx, app_pi_kernel kernel,
                    int team);

/* ------------------------------------------------------------------------ */
/* pi by Monte Carlo with GSL random-number streams                          */

/* The 32-bit seed of the stream of chunk `chunk_index` for run seed `seed`:
   a bijective mix of the low 32 bits of a mix of seed, plus the chunk index,
   so distinct chunks (fewer than 2^32) get distinct seeds. */
uint32_t app_mc_stream_seed(uint64_t seed, uint64_t chunk_index);

/* Count the samples of [lo, hi) that fall in the quarter disc. Sample j of
   the run belongs to chunk j / chunk, and each chunk draws from its own
   gsl_rng_mt19937 stream seeded with app_mc_stream_seed(seed, j / chunk):
   sample j takes the (2 * (j mod chunk))-th and next uniforms of that
   stream as x and y. A range that starts inside a chunk skips the stream
   forward, so any partition of [0, n) counts the same samples: the estimate
   4 * hits / n does not depend on workers, schedule or mode. Returns the
   count as a double (exact below 2^53), or -1 when GSL cannot allocate a
   generator. chunk must be >= 1. */
double app_mc_hits(size_t lo, size_t hi, size_t chunk, uint64_t seed);

/* ------------------------------------------------------------------------ */
/* square: out[i] = in[i] * in[i]                                            */

/* Square in[lo, hi) into out[lo, hi). The long form requires every |in[i]|
   <= APP_SQUARE_LONG_MAX (no overflow). Vectorises. */
#define APP_SQUARE_LONG_MAX 3037000499L
void app_square_long(const long *in, long *out, size_t lo, size_t hi);
void app_square_double(const double *in, double *out, size_t lo, size_t hi);

/* mpk_map_fn-shaped element functions: *out = *in squared; 0, or 1 when a
   long would overflow (the map then fails with MPK_ETASK). */
int app_square_long_elem(const void *in, void *out, void *ctx);
int app_square_double_elem(const void *in, void *out, void *ctx);

/* Check out[i] == i * i for i in [0, n) (the --n workload, whose input is
   0..n-1). Returns n when all match, else the first wrong index. */
size_t app_square_check_long(const long *out, size_t n);
size_t app_square_check_double(const double *out, size_t n);

/* ------------------------------------------------------------------------ */
/* imbalanced: element i of n costs 1 + (APP_IMB_RAMP - 1) * i / n units     */

/* The last element costs APP_IMB_RAMP times the first: one contiguous block
   per worker (static) leaves the first workers idle while the last one
   works, which dynamic and guided schedules fix. */
#define APP_IMB_RAMP 64

/* Units of work of element i of n. */
unsigned app_imb_cost(size_t i, size_t n);

/* The value of element i of n: a dependent chain of app_imb_cost(i, n)
   multiply-adds (about 8 cycles each, latency-bound, not vectorisable). */
double app_imb_elem(size_t i, size_t n);

/* Sum of app_imb_elem over [lo, hi), in index order; team > 1 uses an
   OpenMP team (dynamic schedule) and the sum order then varies (compare
   with a tolerance). */
double app_imb_range(size_t lo, size_t hi, size_t n, int team);

#endif
