/* mpk-scale: the scaling driver. Sweeps worker counts, modes (OpenMP and
 * the mpk pool modes) and kernels (pi: compute-bound, square: memory-bound,
 * imbalanced: where dynamic and guided schedules beat static), in strong
 * and weak scaling, against a serial baseline measured in the same run;
 * with --ranks also ranks x workers of the pool over MPI (mpk-pi --mode mpi
 * launched under mpirun, one launch per point); measures every point in
 * rounds (each round its own process, the points in a shuffled order) and
 * writes JSON and CSV. With --baseline or --against it is a performance
 * regression check (scale_compare.c); the rounds of several processes and
 * of an A/B run are driven by scale_rounds.c.
 *
 * Exit status: 0 success; 1 a point failed or regressed (with --strict also
 * an inconclusive point); 2 bad usage, a result file that cannot be read,
 * or runs that are not comparable.
 */
#include <getopt.h>
#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "app_cli.h"
#include "app_kernels.h"
#include "app_modes.h"
#include "app_run.h"
#include "app_stats.h"
#include "mpk/error.h"
#include "mpk/shm.h"
#include "mpk/topo.h"
#include "scale.h"
#include "scale_rounds.h"
#include "scale_stats.h"

#define PROG "mpk-scale"
#define MAX_SIZE (((uint64_t)1 << 40))
#define MAX_RANKS 4096

/* Baked in at configure time (bench/scaling/CMakeLists.txt). */
#ifndef MPK_SCALE_MPIRUN
#define MPK_SCALE_MPIRUN "mpirun"
#endif
#ifndef MPK_SCALE_MPK_PI
#define MPK_SCALE_MPK_PI ""
#endif
#ifndef MPK_SCALE_SOURCE_DIR
#define MPK_SCALE_SOURCE_DIR ""
#endif

static const char usage_text[] =
    "usage: mpk-scale [--kernels LIST] [--modes LIST] [--workers LIST]\n"
    "                 [--scaling LIST] [--schedules LIST] [--repeat K]\n"
    "                 [--rounds R] [--seed S] [--max-time S]\n"
    "                 [--pi-steps N] [--square-n N] [--imbalanced-n N]\n"
    "                 [--imbalanced-chunk C] [--threads-per-worker K]\n"
    "                 [--out DIR] [--name NAME] [--quiet]\n"
    "                 [--baseline FILE.json | --against OTHER-MPK-SCALE]\n"
    "                 [--threshold T] [--alpha A] [--strict]\n"
    "                 [--allow-mismatch]\n"
    "                 [--ranks LIST [--rank-workers LIST] [--mpirun PATH]\n"
    "                  [--mpirun-args ARGS] [--mpk-pi PATH] "
    "[--mpi-timeout S]]\n"
    "       mpk-scale --compare FILE.json --baseline FILE.json [check opts]\n"
    "       mpk-scale --compare-micro BASE.json CAND.json [check opts]\n"
    "\n"
    "Measure how pi (compute-bound), square (memory-bound) and imbalanced\n"
    "(element i costs 1 + 63 i / n units) scale with the worker count in\n"
    "each mode, against a serial run of the same kernel in the same process.\n"
    "Every point is measured in rounds: a round runs every point once, in a\n"
    "shuffled order, each point one warm-up and K timed runs; with R > 1\n"
    "each round is a process of its own, so drift between processes shows\n"
    "in the spread. The median, min, max and quartiles come from GSL;\n"
    "speedup, efficiency (speedup / cores) and the Karp-Flatt serial\n"
    "fraction are derived. Weak scaling grows the size with the cores\n"
    "(efficiency = serial time at the base size / time at cores x base).\n"
    "\n"
    "  --kernels LIST        pi, square, imbalanced, all (default all)\n"
    "  --modes LIST          omp, pool, threads, hybrid, all (default\n"
    "                        omp,pool,threads; serial always runs)\n"
    "  --workers LIST        cores to use, e.g. 1,2,4 (default 1..cores and\n"
    "                        2 x cores); hybrid runs N / K processes of K\n"
    "                        threads where K divides N\n"
    "  --scaling LIST        strong, weak, all (default all)\n"
    "  --schedules LIST      schedules of the imbalanced kernel: static,\n"
    "                        cyclic, dynamic, guided, all (default\n"
    "                        static,dynamic,guided); pi and square use static\n"
    "  --repeat K            timed runs per point per round, after one\n"
    "                        warm-up (default 5)\n"
    "  --rounds R            rounds (default 1; 10 with --baseline or\n"
    "                        --against); the regression check needs >= 3\n"
    "  --seed S              seed of the shuffled orders (default: time and\n"
    "                        pid; recorded in the JSON)\n"
    "  --max-time S          after the R rounds, add rounds to each point\n"
    "                        until its interval is narrow enough to decide\n"
    "                        (half-width threshold / 2) or S seconds of its\n"
    "                        measured time are spent\n"
    "  --pi-steps N          pi size (default 1e8; weak: per core)\n"
    "  --square-n N          square elements, doubles (default 2^24)\n"
    "  --imbalanced-n N      imbalanced elements (default 2^18)\n"
    "  --imbalanced-chunk C  chunk of its dynamic/guided/cyclic schedules\n"
    "                        (default N / 256)\n"
    "  --threads-per-worker K  hybrid team size (default 2)\n"
    "  --out DIR             where NAME.json and NAME.csv go (default\n"
    "                        ./mpk-scale-results; required when the current\n"
    "                        directory is inside an mpk source tree)\n"
    "  --name NAME           file name stem (default scaling)\n"
    "  --quiet               no progress line (it only appears on a\n"
    "                        terminal) and no summary line\n"
    "\n"
    "Regression check (docs/guide.md, \"A performance regression check\"):\n"
    "  --baseline FILE.json  after the sweep, compare with an earlier run\n"
    "  --compare FILE.json   with --baseline: compare this earlier run\n"
    "                        instead of sweeping\n"
    "  --against PATH        A/B: run the same sweep with this build and the\n"
    "                        mpk-scale at PATH in alternating rounds (ABBA)\n"
    "                        and compare them (PATH is the baseline);\n"
    "                        writes NAME.json and NAME-baseline.json\n"
    "  --compare-micro BASE.json CAND.json  compare two Google Benchmark\n"
    "                        files of mpk-bench-micro\n"
    "                        --benchmark_repetitions=N (each repetition is\n"
    "                        a round)\n"
    "  --threshold T         the smallest change that counts (default 0.05)\n"
    "  --alpha A             family-wise error rate of the sweep (default\n"
    "                        0.05)\n"
    "  --strict              exit 1 on inconclusive points too\n"
    "  --allow-mismatch      compare runs from different machines,\n"
    "                        compilers or build types\n"
    "  The comparison goes to stdout and to DIR/NAME-compare.json and .csv\n"
    "  (with --compare and --compare-micro only when --out is given).\n"
    "\n"
    "Ranks x workers (the pool over MPI, pi only, one machine):\n"
    "  --ranks LIST          also measure pi on R ranks x W workers for each\n"
    "                        R in LIST and W in --rank-workers, each point\n"
    "                        one `mpirun -np R ... mpk-pi --mode mpi\n"
    "                        --workers W --json` (mode mpi in the output,\n"
    "                        cores = R x W, speedup vs the serial point).\n"
    "                        With R x W <= this machine's cores each rank\n"
    "                        gets W cores (Open MPI: --map-by slot:PE=W\n"
    "                        --bind-to core) and pins its workers there;\n"
    "                        beyond, --oversubscribe --bind-to none and\n"
    "                        unpinned workers\n"
    "  --rank-workers LIST   workers per rank (default: the --workers list)\n"
    "  --mpirun PATH         the launcher (default " MPK_SCALE_MPIRUN ")\n"
    "  --mpirun-args ARGS    more launcher arguments, space-separated\n"
    "  --mpk-pi PATH         the mpk-pi to launch (default: the one beside\n"
    "                        this mpk-scale, else this build's)\n"
    "  --mpi-timeout S       seconds per launch before it is killed and the\n"
    "                        point fails (default 600)\n"
    "  The launcher environment is the caller's (as root with Open MPI:\n"
    "  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).\n"
    "\n"
    "Regression rule: points are matched by kernel, scaling, mode,\n"
    "schedule, chunk, workers and size. The unit is the round: per point,\n"
    "Yuen's trimmed (20%) Welch t-test on the logs of the round medians\n"
    "gives the ratio candidate / baseline and its interval; a point\n"
    "regressed when it is slower by more than the threshold at level alpha\n"
    "after Holm's correction over the sweep's points, improved likewise,\n"
    "unchanged when the interval lies inside +-threshold, else inconclusive\n"
    "(with how many more rounds would decide it). Each regressed point gets\n"
    "a line that begins with REGRESSED.\n"
    "\n"
    "Exit status: 0 success; 1 a point failed or regressed (--strict: or is\n"
    "inconclusive); 2 bad usage, an unreadable result file, or runs that\n"
    "differ in machine, compiler or build type.\n";

static const char *const sched_names[] = {"static", "cyclic", "dynamic",
                                          "guided"};
static const mpk_sched_kind sched_kinds[] = {
    MPK_SCHED_STATIC, MPK_SCHED_CYCLIC, MPK_SCHED_DYNAMIC, MPK_SCHED_GUIDED};
#define N_SCHED 4

typedef struct {
  unsigned kernels, modes, scalings, scheds;
  const char *kernels_s, *modes_s, *workers_s, *scalings_s, *scheds_s;
  uint64_t workers[SCALE_MAX_WORKERS];
  int nworkers;
  int repeat, tpw, quiet;
  int rounds; /* 0: the default (1, or 10 when the run is compared) */
  unsigned long seed;
  int seed_given;
  double max_time;
  uint64_t pi_steps, square_n, imb_n, imb_chunk;
  const char *out, *name, *baseline, *compare, *against, *micro;
  int out_given;
  scale_cmp_opts cmp;
  const char *only; /* internal --only-points */
  const char *self; /* this binary */
  uint64_t ranks[SCALE_MAX_WORKERS], rank_workers[SCALE_MAX_WORKERS];
  int nranks, nrank_workers;
  const char *ranks_s, *rank_workers_s;
  scale_mpi mpi;
} options;

enum {
  OPT_KERNELS = 256,
  OPT_MODES,
  OPT_WORKERS,
  OPT_SCALING,
  OPT_SCHEDULES,
  OPT_REPEAT,
  OPT_PI_STEPS,
  OPT_SQUARE_N,
  OPT_IMB_N,
  OPT_IMB_CHUNK,
  OPT_TPW,
  OPT_OUT,
  OPT_NAME,
  OPT_QUIET,
  OPT_BASELINE,
  OPT_COMPARE,
  OPT_AGAINST,
  OPT_MICRO,
  OPT_ROUNDS,
  OPT_SEED,
  OPT_MAX_TIME,
  OPT_THRESHOLD,
  OPT_ALPHA,
  OPT_STRICT,
  OPT_ALLOW_MISMATCH,
  OPT_ONLY,
  OPT_RANKS,
  OPT_RANK_WORKERS,
  OPT_MPIRUN,
  OPT_MPIRUN_ARGS,
  OPT_MPK_PI,
  OPT_MPI_TIMEOUT,
  OPT_HELP
};

/* 1 when the current directory is the baked-in source directory or below
   it, or below any directory that holds an mpk source tree (its
   bench/scaling/mpk-scale.c). */
static int in_source_tree(void) {
  char cwd[PATH_MAX], src[PATH_MAX], probe[PATH_MAX + 32];
  if (getcwd(cwd, sizeof cwd) == NULL)
    return 0;
  if (MPK_SCALE_SOURCE_DIR[0] && realpath(MPK_SCALE_SOURCE_DIR, src)) {
    size_t l = strlen(src);
    if (strncmp(cwd, src, l) == 0 && (cwd[l] == '\0' || cwd[l] == '/'))
      return 1;
  }
  for (;;) {
    snprintf(probe, sizeof probe, "%s/bench/scaling/mpk-scale.c", cwd);
    if (access(probe, F_OK) == 0)
      return 1;
    char *slash = strrchr(cwd, '/');
    if (slash == NULL || slash == cwd)
      return 0;
    *slash = '\0';
  }
}

static int parse_options(int argc, char **argv, options *o) {
  static const struct option longopts[] = {
      {"kernels", required_argument, NULL, OPT_KERNELS},
      {"modes", required_argument, NULL, OPT_MODES},
      {"workers", required_argument, NULL, OPT_WORKERS},
      {"scaling", required_argument, NULL, OPT_SCALING},
      {"schedules", required_argument, NULL, OPT_SCHEDULES},
      {"repeat", required_argument, NULL, OPT_REPEAT},
      {"pi-steps", required_argument, NULL, OPT_PI_STEPS},
      {"square-n", required_argument, NULL, OPT_SQUARE_N},
      {"imbalanced-n", required_argument, NULL, OPT_IMB_N},
      {"imbalanced-chunk", required_argument, NULL, OPT_IMB_CHUNK},
      {"threads-per-worker", required_argument, NULL, OPT_TPW},
      {"out", required_argument, NULL, OPT_OUT},
      {"name", required_argument, NULL, OPT_NAME},
      {"quiet", no_argument, NULL, OPT_QUIET},
      {"baseline", required_argument, NULL, OPT_BASELINE},
      {"compare", required_argument, NULL, OPT_COMPARE},
      {"against", required_argument, NULL, OPT_AGAINST},
      {"compare-micro", required_argument, NULL, OPT_MICRO},
      {"rounds", required_argument, NULL, OPT_ROUNDS},
      {"seed", required_argument, NULL, OPT_SEED},
      {"max-time", required_argument, NULL, OPT_MAX_TIME},
      {"threshold", required_argument, NULL, OPT_THRESHOLD},
      {"alpha", required_argument, NULL, OPT_ALPHA},
      {"strict", no_argument, NULL, OPT_STRICT},
      {"allow-mismatch", no_argument, NULL, OPT_ALLOW_MISMATCH},
      {"only-points", required_argument, NULL, OPT_ONLY},
      {"ranks", required_argument, NULL, OPT_RANKS},
      {"rank-workers", required_argument, NULL, OPT_RANK_WORKERS},
      {"mpirun", required_argument, NULL, OPT_MPIRUN},
      {"mpirun-args", required_argument, NULL, OPT_MPIRUN_ARGS},
      {"mpk-pi", required_argument, NULL, OPT_MPK_PI},
      {"mpi-timeout", required_argument, NULL, OPT_MPI_TIMEOUT},
      {"help", no_argument, NULL, OPT_HELP},
      {NULL, 0, NULL, 0}};
  int count;
  const char *const *mode_names = app_mode_names(&count);
  const char *bad = NULL;
  char list[128];
  long v;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_KERNELS:
      if (app_parse_names(optarg, scale_kernel_names, K_COUNT, &o->kernels,
                          &bad) != 0)
        return app_usage(PROG,
                         "unknown kernel '%s' (want pi, square, "
                         "imbalanced or all)",
                         bad);
      o->kernels_s = optarg;
      break;
    case OPT_MODES:
      if (app_parse_names(optarg, mode_names, count, &o->modes, &bad) != 0) {
        if (strcmp(bad, "mpi") == 0)
          return app_usage(PROG, "mode mpi is measured with --ranks LIST "
                                 "(mpk-pi under mpirun), not --modes");
        return app_usage(PROG, "unknown mode '%s' (want %s or all)", bad,
                         app_mode_list(list, sizeof list));
      }
      o->modes_s = optarg;
      break;
    case OPT_WORKERS:
      if (app_parse_count_list(optarg, 1, MPK_POOL_MAX_WORKERS, o->workers,
                               SCALE_MAX_WORKERS, &o->nworkers) != 0)
        return app_usage(PROG,
                         "bad --workers '%s' (want a list like 1,2,4 "
                         "of 1..%d)",
                         optarg, MPK_POOL_MAX_WORKERS);
      o->workers_s = optarg;
      break;
    case OPT_SCALING:
      if (app_parse_names(optarg, scale_scaling_names, S_COUNT, &o->scalings,
                          &bad) != 0)
        return app_usage(PROG,
                         "unknown scaling '%s' (want strong, weak or "
                         "all)",
                         bad);
      o->scalings_s = optarg;
      break;
    case OPT_SCHEDULES:
      if (app_parse_names(optarg, sched_names, N_SCHED, &o->scheds, &bad) != 0)
        return app_usage(PROG,
                         "unknown schedule '%s' (want static, cyclic, "
                         "dynamic, guided or all)",
                         bad);
      o->scheds_s = optarg;
      break;
    case OPT_REPEAT:
      if (app_parse_long(optarg, 1, SCALE_MAX_REPEAT, &v) != 0)
        return app_usage(PROG, "bad --repeat '%s' (want 1..%d)", optarg,
                         SCALE_MAX_REPEAT);
      o->repeat = (int)v;
      break;
    case OPT_PI_STEPS:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->pi_steps) != 0)
        return app_usage(PROG, "bad --pi-steps '%s' (want 1..2^40)", optarg);
      break;
    case OPT_SQUARE_N:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->square_n) != 0)
        return app_usage(PROG, "bad --square-n '%s' (want 1..2^40)", optarg);
      break;
    case OPT_IMB_N:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->imb_n) != 0)
        return app_usage(PROG, "bad --imbalanced-n '%s' (want 1..2^40)",
                         optarg);
      break;
    case OPT_IMB_CHUNK:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->imb_chunk) != 0)
        return app_usage(PROG, "bad --imbalanced-chunk '%s' (want >= 1)",
                         optarg);
      break;
    case OPT_TPW:
      if (app_parse_long(optarg, 2, 256, &v) != 0)
        return app_usage(PROG, "bad --threads-per-worker '%s' (want 2..256)",
                         optarg);
      o->tpw = (int)v;
      break;
    case OPT_OUT:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --out");
      o->out = optarg;
      o->out_given = 1;
      break;
    case OPT_NAME:
      if (*optarg == '\0' || strchr(optarg, '/') != NULL)
        return app_usage(PROG, "bad --name '%s' (a file name stem, no '/')",
                         optarg);
      o->name = optarg;
      break;
    case OPT_QUIET: o->quiet = 1; break;
    case OPT_BASELINE: o->baseline = optarg; break;
    case OPT_COMPARE: o->compare = optarg; break;
    case OPT_AGAINST:
      if (access(optarg, X_OK) != 0)
        return app_usage(PROG, "--against '%s' is not an executable file",
                         optarg);
      o->against = optarg;
      break;
    case OPT_MICRO: o->micro = optarg; break;
    case OPT_ROUNDS:
      if (app_parse_long(optarg, 1, SCALE_MAX_ROUNDS, &v) != 0)
        return app_usage(PROG, "bad --rounds '%s' (want 1..%d)", optarg,
                         SCALE_MAX_ROUNDS);
      o->rounds = (int)v;
      break;
    case OPT_SEED: {
      uint64_t sd;
      if (app_parse_count(optarg, 0, UINT32_MAX, &sd) != 0)
        return app_usage(PROG, "bad --seed '%s' (want 0..2^32-1)", optarg);
      o->seed = (unsigned long)sd;
      o->seed_given = 1;
      break;
    }
    case OPT_MAX_TIME:
      if (app_parse_double(optarg, 0.001, 1e7, &o->max_time) != 0)
        return app_usage(PROG, "bad --max-time '%s' (want seconds > 0)",
                         optarg);
      break;
    case OPT_THRESHOLD:
      if (app_parse_double(optarg, 1e-4, 10, &o->cmp.threshold) != 0)
        return app_usage(PROG, "bad --threshold '%s' (want 0.0001..10)",
                         optarg);
      break;
    case OPT_ALPHA:
      if (app_parse_double(optarg, 1e-6, 0.25, &o->cmp.alpha) != 0)
        return app_usage(PROG, "bad --alpha '%s' (want 0.000001..0.25)",
                         optarg);
      break;
    case OPT_STRICT: o->cmp.strict = 1; break;
    case OPT_ALLOW_MISMATCH: o->cmp.allow_mismatch = 1; break;
    case OPT_ONLY: o->only = optarg; break;
    case OPT_RANKS:
      if (app_parse_count_list(optarg, 1, MAX_RANKS, o->ranks,
                               SCALE_MAX_WORKERS, &o->nranks) != 0)
        return app_usage(PROG,
                         "bad --ranks '%s' (want a list like 1,2,4 of "
                         "1..4096)",
                         optarg);
      o->ranks_s = optarg;
      break;
    case OPT_RANK_WORKERS:
      if (app_parse_count_list(optarg, 1, MPK_POOL_MAX_WORKERS, o->rank_workers,
                               SCALE_MAX_WORKERS, &o->nrank_workers) != 0)
        return app_usage(PROG,
                         "bad --rank-workers '%s' (want a list like 1,2 "
                         "of 1..%d)",
                         optarg, MPK_POOL_MAX_WORKERS);
      o->rank_workers_s = optarg;
      break;
    case OPT_MPIRUN:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --mpirun");
      o->mpi.mpirun = optarg;
      break;
    case OPT_MPIRUN_ARGS: o->mpi.extra = optarg; break;
    case OPT_MPK_PI:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --mpk-pi");
      o->mpi.mpk_pi = optarg;
      break;
    case OPT_MPI_TIMEOUT:
      if (app_parse_double(optarg, 0.1, 1e6, &o->mpi.timeout) != 0)
        return app_usage(
            PROG, "bad --mpi-timeout '%s' (want seconds, 0.1..1e6)", optarg);
      break;
    case 'h':
    case OPT_HELP:
      fputs(usage_text, stdout);
      printf("This build: %s\n",
             app_mode_mpi_built()
                 ? "MPI points available (--ranks), mpk-pi has --mode mpi"
                 : "without MPI (--ranks unavailable)");
      return 0;
    default: return app_usage_getopt(PROG, c, argv);
    }
  }
  if (o->micro != NULL) {
    if (optind + 1 != argc)
      return app_usage(PROG, "--compare-micro needs two files: BASE.json "
                             "CAND.json");
    o->compare = argv[optind++];
    if (o->baseline != NULL || o->against != NULL)
      return app_usage(PROG, "--compare-micro takes no --baseline or "
                             "--against");
  }
  if (optind < argc)
    return app_usage(PROG, "unexpected argument '%s'", argv[optind]);
  if (o->compare != NULL && o->baseline == NULL && o->micro == NULL)
    return app_usage(PROG, "--compare needs --baseline");
  if (o->against != NULL && o->baseline != NULL)
    return app_usage(PROG, "--against and --baseline exclude each other");
  if (o->against != NULL && o->compare != NULL)
    return app_usage(PROG, "--against measures: it takes no --compare");
  if (o->nranks == 0 && (o->nrank_workers > 0 || o->mpi.extra != NULL))
    return app_usage(PROG, "--rank-workers and --mpirun-args need --ranks");
  if (o->compare == NULL && !o->out_given && in_source_tree())
    return app_usage(PROG, "the current directory is inside an mpk source "
                           "tree: give --out DIR (results never go into "
                           "the sources unless asked)");
  if (o->nranks > 0 && o->compare == NULL) {
    if (!app_mode_mpi_built())
      return app_usage(PROG, "--ranks: mpk was built without MPI (mpk-pi "
                             "has no mpi mode)");
    if (!(o->kernels & (1u << K_PI)))
      return app_usage(PROG, "--ranks measures the pi kernel: add pi to "
                             "--kernels");
    if (o->mpi.mpk_pi == NULL || *o->mpi.mpk_pi == '\0')
      return app_usage(PROG, "--ranks: no mpk-pi in this build: give "
                             "--mpk-pi PATH");
  }
  return -1;
}

/* ------------------------------------------------------------------------ */
/* the sweep                                                                 */

typedef struct {
  const options *o;
  double *sq_in, *sq_out; /* shared heap, max square size */
  size_t sq_cap;
  int done, total; /* progress */
  int tty;
} sweep;

static void progress(sweep *s, const scale_point *p) {
  s->done++;
  if (!s->tty)
    return;
  fprintf(stderr, "\r\033[K" PROG ": [%d/%d] %s %s %s %s workers %d", s->done,
          s->total, scale_kernel_names[p->kernel], p->scaling,
          scale_mode_name(p->mode), app_sched_name(p->sched), p->cores);
  if (s->done == s->total)
    fputs("\r\033[K", stderr);
  fflush(stderr);
}

typedef struct {
  app_exec *ex;
  scale_point *p;
  sweep *s;
  double value;
} run_arg;

static int run_point(void *vp) {
  run_arg *a = vp;
  const scale_point *p = a->p;
  switch (p->kernel) {
  case K_PI: {
    app_pi_problem pb = {APP_METHOD_MIDPOINT,
                         APP_PI_SIMD,
                         p->size,
                         MPK_SCHED_STATIC,
                         app_pi_default_chunk(p->size),
                         0};
    return app_pi_run(a->ex, &pb, &a->value);
  }
  case K_SQUARE: {
    app_square_problem pb = {APP_SQ_DOUBLE, APP_SQ_RANGE,
                             p->size,       a->s->sq_in,
                             a->s->sq_out,  {MPK_SCHED_STATIC, 0}};
    a->value = NAN;
    return app_square_run(a->ex, &pb);
  }
  case K_IMB:
  case K_COUNT: break;
  }
  app_imb_problem pb = {p->size, {p->sched, p->chunk}};
  return app_imb_run(a->ex, &pb, &a->value);
}

/* Reference values by (kernel, size): the first good point of each sets it;
   later points of the same kernel and size must agree. */
typedef struct {
  scale_kernel kernel;
  size_t size;
  double value;
} ref;

static ref refs[256];
static int nrefs;

static void check_value(scale_point *p) {
  if (p->kernel == K_SQUARE)
    return; /* checked element by element in measure() */
  if (p->kernel == K_PI &&
      !(fabs(p->value - M_PI) <=
        1.0 / ((double)p->size * (double)p->size) + 1e-12)) {
    snprintf(p->check, sizeof p->check, "pi off by %.3g", p->value - M_PI);
    return;
  }
  for (int i = 0; i < nrefs; i++) {
    if (refs[i].kernel != p->kernel || refs[i].size != p->size)
      continue;
    double tol = p->kernel == K_PI ? 1e-13 : 1e-12 * fabs(refs[i].value);
    if (!(fabs(p->value - refs[i].value) <= tol))
      snprintf(p->check, sizeof p->check, "value %.17g differs from %.17g",
               p->value, refs[i].value);
    return;
  }
  if (nrefs < (int)(sizeof refs / sizeof refs[0]))
    refs[nrefs++] = (ref){p->kernel, p->size, p->value};
}

/* One round of point p on executor ex: a warm-up, then the timed runs
   (round 0 of this process), checked. */
static void measure(sweep *s, app_exec *ex, scale_point *p) {
  run_arg a = {ex, p, s, NAN};
  snprintf(p->check, sizeof p->check, "ok");
  p->rc = scale_point_reserve(p, s->o->repeat) == 0 ? MPK_OK : MPK_ENOMEM;
  if (p->rc == MPK_OK)
    p->rc = run_point(&a); /* warm-up: wakes the team, faults pages in */
  p->repeats = 0;
  for (int i = 0; p->rc == MPK_OK && i < s->o->repeat; i++) {
    if (p->kernel == K_SQUARE && i == s->o->repeat - 1)
      memset(s->sq_out, 0xff, p->size * sizeof(double)); /* NaN */
    p->rc = app_time_runs(run_point, &a, 0, 1, &p->times[i]);
    p->round[i] = 0;
    p->repeats = i + 1;
  }
  p->rounds = 1;
  if (p->rc == MPK_OK)
    p->value = a.value;
  if (p->rc != MPK_OK) {
    snprintf(p->check, sizeof p->check, "failed: %s", mpk_strerror(p->rc));
  } else if (p->kernel == K_SQUARE) {
    size_t bad = app_square_check_double(s->sq_out, p->size);
    if (bad != p->size)
      snprintf(p->check, sizeof p->check, "wrong square at %zu", bad);
  } else {
    check_value(p);
  }
  if (p->rc == MPK_OK && strcmp(p->check, "ok") != 0)
    p->rc = MPK_ETASK; /* a wrong result fails the point */
  progress(s, p);
}

static size_t base_size(const options *o, scale_kernel k) {
  return (size_t)(k == K_PI       ? o->pi_steps
                  : k == K_SQUARE ? o->square_n
                                  : o->imb_n);
}

/* The points of one (mode, cores) executor, appended to pts; returns the
   new count. With pts NULL, only counts. */
static int plan_exec(const options *o, app_mode m, int workers, int tpw,
                     int cores, scale_point *pts, int n) {
  for (int k = 0; k < K_COUNT; k++) {
    if (!(o->kernels & (1u << k)))
      continue;
    for (int sc = 0; sc < S_COUNT; sc++) {
      if (!(o->scalings & (1u << sc)))
        continue;
      for (int si = 0; si < N_SCHED; si++) {
        if (k == K_IMB ? !(o->scheds & (1u << si)) : si != 0)
          continue;
        if (pts != NULL) {
          scale_point *p = &pts[n];
          memset(p, 0, sizeof *p);
          p->kernel = (scale_kernel)k;
          p->scaling = scale_scaling_names[sc];
          p->mode = m;
          p->sched = sched_kinds[si];
          p->chunk = k == K_IMB && sched_kinds[si] != MPK_SCHED_STATIC
                         ? (size_t)o->imb_chunk
                         : 0;
          p->workers = workers;
          p->tpw = tpw;
          p->cores = cores;
          p->ranks = 1;
          p->size = base_size(o, (scale_kernel)k) *
                    (sc == S_WEAK ? (size_t)cores : 1);
        }
        n++;
      }
    }
  }
  return n;
}

/* The executors of the sweep in order: serial, then each mode x workers. */
typedef struct {
  app_mode mode;
  int workers, tpw, cores;
} exec_plan;

static int plan_execs(const options *o, exec_plan *ep) {
  int n = 0;
  ep[n++] = (exec_plan){APP_MODE_SERIAL, 1, 1, 1};
  for (int m = 0; m < APP_MODE_COUNT; m++) {
    const app_mode_info *info = app_mode_get((app_mode)m);
    if (info == NULL || info->kind == APP_KIND_SERIAL ||
        !(o->modes & (1u << m)))
      continue;
    for (int i = 0; i < o->nworkers; i++) {
      int c = (int)o->workers[i];
      if (info->hybrid) {
        if (c < o->tpw || c % o->tpw != 0)
          continue;
        ep[n++] = (exec_plan){(app_mode)m, c / o->tpw, o->tpw, c};
      } else {
        ep[n++] = (exec_plan){(app_mode)m, c, 1, c};
      }
    }
  }
  return n;
}

/* Serial points are planned once per kernel (size = base), strong only. */
static int plan_serial(const options *o, scale_point *pts, int n) {
  for (int k = 0; k < K_COUNT; k++) {
    if (!(o->kernels & (1u << k)))
      continue;
    if (pts != NULL) {
      scale_point *p = &pts[n];
      memset(p, 0, sizeof *p);
      p->kernel = (scale_kernel)k;
      p->scaling = "serial";
      p->mode = APP_MODE_SERIAL;
      p->sched = MPK_SCHED_STATIC;
      p->workers = p->tpw = p->cores = p->ranks = 1;
      p->size = base_size(o, (scale_kernel)k);
    }
    n++;
  }
  return n;
}

/* MPI points: pi for each ranks x workers and scaling, appended. */
static int plan_mpi(const options *o, scale_point *pts, int n) {
  for (int r = 0; r < o->nranks; r++)
    for (int w = 0; w < o->nrank_workers; w++)
      for (int sc = 0; sc < S_COUNT; sc++) {
        if (!(o->scalings & (1u << sc)))
          continue;
        if (pts != NULL) {
          scale_point *p = &pts[n];
          memset(p, 0, sizeof *p);
          p->kernel = K_PI;
          p->scaling = scale_scaling_names[sc];
          p->mode = APP_MODE_MPI;
          p->sched = MPK_SCHED_STATIC;
          p->ranks = (int)o->ranks[r];
          p->workers = (int)o->rank_workers[w];
          p->tpw = 1;
          p->cores = p->ranks * p->workers;
          p->size = (size_t)o->pi_steps *
                    (sc == S_WEAK ? (size_t)p->cores : (size_t)1);
        }
        n++;
      }
  return n;
}

/* Run the MPI points order[0..n) of pts: one mpirun each, checked like
   the others (pi against M_PI and against the in-process points' value). */
static void run_mpi_points(sweep *s, scale_point *pts, const int *order,
                           int n) {
  scale_mpi m = s->o->mpi;
  char why[256] = "";
  int probed = n > 0 ? scale_mpi_probe(&m, why, sizeof why) : 0;
  for (int i = 0; i < n; i++) {
    scale_point *p = &pts[order[i]];
    if (probed != 0) {
      p->rc = MPK_ECHILD;
      snprintf(p->check, sizeof p->check, "%.95s", why);
    } else {
      scale_mpi_measure(&m, p, s->o->repeat);
      if (p->rc == MPK_OK) {
        check_value(p);
        if (strcmp(p->check, "ok") != 0)
          p->rc = MPK_ETASK;
      }
    }
    progress(s, p);
  }
}

/* The statistics of every point over all its times and rounds. */
static void summarise(scale_point *pts, int n) {
  for (int i = 0; i < n; i++) {
    scale_point *p = &pts[i];
    p->noise = p->noise_within = p->noise_between = NAN;
    if (p->rc != MPK_OK)
      continue;
    if (app_stats_compute(p->times, p->repeats, &p->st) != 0) {
      p->rc = MPK_ENOMEM;
      snprintf(p->check, sizeof p->check, "statistics failed");
      continue;
    }
    p->noise = app_rel_noise(&p->st);
    scale_noise(p->times, p->round, p->repeats, &p->noise_within,
                &p->noise_between);
  }
}

static void derive(scale_point *pts, int n) {
  for (int i = 0; i < n; i++) {
    scale_point *p = &pts[i];
    p->speedup = p->efficiency = p->karp_flatt = p->rate = NAN;
    if (p->rc != MPK_OK)
      continue;
    double t = p->st.median;
    p->rate = p->kernel == K_SQUARE ? (double)p->size * 16.0 / t / 1e9
                                    : (double)p->size / t;
    const scale_point *s = NULL;
    for (int j = 0; j < n && s == NULL; j++)
      if (pts[j].kernel == p->kernel && strcmp(pts[j].scaling, "serial") == 0 &&
          pts[j].rc == MPK_OK)
        s = &pts[j];
    if (s == NULL)
      continue;
    if (strcmp(p->scaling, "weak") == 0) {
      p->efficiency = s->st.median / t;
      p->speedup = p->efficiency * p->cores;
    } else {
      p->speedup = app_speedup(s->st.median, t);
      p->efficiency = app_efficiency(p->speedup, p->cores);
      p->karp_flatt = app_karp_flatt(p->speedup, p->cores);
    }
  }
}

/* Every point of the sweep in plan order: serial, each executor's, then
   MPI. *nlocal receives how many are measured in this process. */
static scale_point *plan_all(const options *o, int *n, int *nlocal) {
  exec_plan ep[APP_MODE_COUNT * SCALE_MAX_WORKERS + 1];
  int nexec = plan_execs(o, ep);
  int k = plan_serial(o, NULL, 0);
  for (int e = 1; e < nexec; e++)
    k = plan_exec(o, ep[e].mode, ep[e].workers, ep[e].tpw, ep[e].cores, NULL,
                  k);
  *nlocal = k;
  *n = plan_mpi(o, NULL, k);
  scale_point *pts = calloc((size_t)*n, sizeof *pts);
  if (pts == NULL)
    return NULL;
  k = plan_serial(o, pts, 0);
  for (int e = 1; e < nexec; e++)
    k = plan_exec(o, ep[e].mode, ep[e].workers, ep[e].tpw, ep[e].cores, pts,
                  k);
  plan_mpi(o, pts, k);
  return pts;
}

static void free_points(scale_point *pts, int n) {
  for (int i = 0; pts != NULL && i < n; i++)
    scale_point_free(&pts[i]);
  free(pts);
}

/* --only-points: which of the n planned points this round measures. */
static int select_points(const char *list, unsigned char *sel, int n) {
  memset(sel, list == NULL, (size_t)n);
  for (const char *p = list; p != NULL && *p;) {
    char *end;
    long v = strtol(p, &end, 10);
    if (end == p || v < 0 || v >= n || (*end != ',' && *end != '\0'))
      return -1;
    sel[v] = 1;
    p = *end == ',' ? end + 1 : end;
  }
  return 0;
}

/* A shuffled order of the selected points among [first, last). */
static int shuffled(gsl_rng *rng, const unsigned char *sel, int first,
                    int last, int *order) {
  int k = 0;
  for (int i = first; i < last; i++)
    if (sel[i])
      order[k++] = i;
  if (k > 1)
    gsl_ran_shuffle(rng, order, (size_t)k, sizeof *order);
  return k;
}

/* One round in this process: the selected points in a shuffled order, each
   on an executor of its own (opened before its warm-up, closed after). */
static int round_here(const options *o, scale_point *pts, int n, int nlocal,
                      const unsigned char *sel) {
  int *order = malloc((size_t)(n > 0 ? n : 1) * sizeof *order);
  gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
  sweep s = {o, NULL, NULL, 0, 0, 0, isatty(2) && !o->quiet};
  int status = 0;
  if (order == NULL || rng == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    status = 1;
    goto out;
  }
  gsl_rng_set(rng, o->seed);
  for (int i = 0; i < n; i++)
    s.total += sel[i];
  for (int i = 0; i < nlocal; i++)
    if (sel[i] && pts[i].kernel == K_SQUARE && pts[i].size > s.sq_cap)
      s.sq_cap = pts[i].size;
  if (s.sq_cap > 0) {
    s.sq_in = mpk_shm_alloc(s.sq_cap * sizeof(double));
    s.sq_out = mpk_shm_alloc(s.sq_cap * sizeof(double));
    if (s.sq_in == NULL || s.sq_out == NULL) {
      fprintf(stderr,
              PROG ": cannot allocate 2 x %zu bytes in the shared heap for "
                   "square (lower --square-n or raise MPK_SHM_SIZE)\n",
              s.sq_cap * sizeof(double));
      status = 1;
      goto out;
    }
    for (size_t i = 0; i < s.sq_cap; i++)
      s.sq_in[i] = (double)i;
  }
  int k = shuffled(rng, sel, 0, nlocal, order);
  for (int i = 0; i < k; i++) {
    scale_point *p = &pts[order[i]];
    app_exec ex;
    int rc = app_exec_open(&ex, p->mode, p->workers, p->tpw, MPK_BIND_COMPACT,
                           NULL);
    if (rc != MPK_OK) {
      p->rc = rc;
      snprintf(p->check, sizeof p->check, "failed: %s", mpk_strerror(rc));
      progress(&s, p);
      continue;
    }
    measure(&s, &ex, p);
    app_exec_close(&ex);
  }
  k = shuffled(rng, sel, nlocal, n, order);
  run_mpi_points(&s, pts, order, k);
out:
  mpk_shm_free(s.sq_in);
  mpk_shm_free(s.sq_out);
  gsl_rng_free(rng);
  free(order);
  return status;
}

static char *join_argv(int argc, char **argv) {
  size_t len = 1;
  for (int i = 0; i < argc; i++)
    len += strlen(argv[i]) * 4 + 3;
  char *s = malloc(len), *w = s;
  if (s == NULL)
    return NULL;
  for (int i = 0; i < argc; i++) {
    const char *a = argv[i];
    int quote = *a == '\0' || strpbrk(a, " \t\n'\"$`\\*?[]{}()<>|&;#~") != NULL;
    if (i)
      *w++ = ' ';
    if (quote)
      *w++ = '\'';
    for (; *a; a++) {
      if (*a == '\'' && quote) {
        memcpy(w, "'\\''", 4);
        w += 4;
      } else {
        *w++ = *a;
      }
    }
    if (quote)
      *w++ = '\'';
  }
  *w = '\0';
  return s;
}

static void join_counts(char *buf, size_t cap, const uint64_t *v, int n) {
  buf[0] = '\0';
  for (int i = 0; i < n; i++) {
    size_t l = strlen(buf);
    snprintf(buf + l, cap - l, "%s%llu", i ? "," : "",
             (unsigned long long)v[i]);
  }
}

/* The sweep options a round's child gets (resolved values, so both builds
   of an A/B run measure the same points), NULL-terminated, in store. */
typedef struct {
  char *argv[48];
  char num[12][32];
  char workers[512], rank_workers[512];
} child_args;

static void sweep_args(const options *o, child_args *c) {
  int k = 0, m = 0;
#define ARG(name, val) (c->argv[k++] = (char *)(name), c->argv[k++] = (char *)(val))
#define NUM(name, fmt, val)                                                    \
  (snprintf(c->num[m], sizeof c->num[m], fmt, val), ARG(name, c->num[m++]))
  join_counts(c->workers, sizeof c->workers, o->workers, o->nworkers);
  ARG("--kernels", o->kernels_s);
  ARG("--modes", o->modes_s);
  ARG("--workers", c->workers);
  ARG("--scaling", o->scalings_s);
  ARG("--schedules", o->scheds_s);
  NUM("--repeat", "%d", o->repeat);
  NUM("--pi-steps", "%llu", (unsigned long long)o->pi_steps);
  NUM("--square-n", "%llu", (unsigned long long)o->square_n);
  NUM("--imbalanced-n", "%llu", (unsigned long long)o->imb_n);
  NUM("--imbalanced-chunk", "%llu", (unsigned long long)o->imb_chunk);
  NUM("--threads-per-worker", "%d", o->tpw);
  if (o->nranks > 0) {
    join_counts(c->rank_workers, sizeof c->rank_workers, o->rank_workers,
                o->nrank_workers);
    ARG("--ranks", o->ranks_s);
    ARG("--rank-workers", c->rank_workers);
    ARG("--mpirun", o->mpi.mpirun);
    if (o->mpi.extra != NULL)
      ARG("--mpirun-args", o->mpi.extra);
    NUM("--mpi-timeout", "%.17g", o->mpi.timeout);
  }
#undef NUM
#undef ARG
  c->argv[k] = NULL;
}

static scale_config make_config(const options *o, const char *cmd,
                                const char *workers, const char *rank_workers,
                                const char *side) {
  return (scale_config){.command = cmd ? cmd : "?",
                        .repeat = o->repeat,
                        .rounds = o->rounds,
                        .seed = o->seed,
                        .process_per_round = o->rounds > 1 ||
                                             o->against != NULL ||
                                             o->max_time > 0,
                        .max_time = o->max_time,
                        .against = o->against,
                        .side = side,
                        .kernels = o->kernels_s,
                        .modes = o->modes_s,
                        .workers = workers,
                        .scalings = o->scalings_s,
                        .schedules = o->scheds_s,
                        .ranks = o->nranks ? o->ranks_s : NULL,
                        .rank_workers = o->nranks ? rank_workers : NULL,
                        .pi_steps = o->pi_steps,
                        .square_n = o->square_n,
                        .imb_n = o->imb_n,
                        .imb_chunk = o->imb_chunk,
                        .tpw = o->tpw,
                        .threshold = o->cmp.threshold,
                        .alpha = o->cmp.alpha};
}

/* Report the failed points of a side on stderr; 1 if any. */
static int report_failures(const scale_point *pts, int n, const char *side) {
  int bad = 0;
  for (int i = 0; i < n; i++)
    if (pts[i].rc != MPK_OK) {
      fprintf(stderr, PROG ": %s%s%s %s %s workers %d%s: %s\n",
              side ? side : "", side ? ": " : "",
              scale_kernel_names[pts[i].kernel], pts[i].scaling,
              scale_mode_name(pts[i].mode), pts[i].cores,
              pts[i].mode == APP_MODE_MPI ? " (ranks x workers)" : "",
              pts[i].check);
      bad = 1;
    }
  return bad;
}

/* Keep only the selected points (a child round with --only-points). */
static int compact(scale_point *pts, int n, const unsigned char *sel) {
  int k = 0;
  for (int i = 0; i < n; i++) {
    if (sel[i])
      pts[k++] = pts[i];
    else
      scale_point_free(&pts[i]);
  }
  return k;
}

static int run_sweep(options *o, int argc, char **argv) {
  int npts, nlocal;
  scale_point *pts[2] = {plan_all(o, &npts, &nlocal), NULL};
  int sides = o->against != NULL ? 2 : 1;
  if (sides == 2)
    pts[1] = plan_all(o, &npts, &nlocal);
  unsigned char *sel = malloc((size_t)(npts > 0 ? npts : 1));
  scale_prov prov[2];
  scale_prov_here(&prov[0]);
  prov[1] = prov[0];
  double load_start[3];
  for (int i = 0; i < 3; i++)
    load_start[i] = prov[0].load_end[i];
  scale_runfile base;
  memset(&base, 0, sizeof base);
  int status = 0, have_base = 0;
  if (pts[0] == NULL || (sides == 2 && pts[1] == NULL) || sel == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    status = 1;
    goto out;
  }
  if (select_points(o->only, sel, npts) != 0) {
    status = app_usage(PROG, "bad --only-points '%s'", o->only);
    goto out;
  }
  if (o->baseline != NULL) { /* read it first: a bad file costs no sweep */
    if (scale_read_run(o->baseline, &base) != 0) {
      status = 2;
      goto out;
    }
    have_base = 1;
  }
  if (o->rounds == 1 && sides == 1 && o->max_time == 0) {
    status = round_here(o, pts[0], npts, nlocal, sel);
    if (o->only != NULL)
      npts = compact(pts[0], npts, sel);
  } else {
    child_args ca;
    sweep_args(o, &ca);
    scale_rounds_cfg rc = {{o->self, o->against},
                           ca.argv,
                           o->rounds,
                           o->repeat,
                           o->max_time,
                           o->seed,
                           o->cmp.threshold,
                           o->cmp.alpha,
                           have_base ? &base : NULL,
                           isatty(2) && !o->quiet};
    status = scale_rounds_run(&rc, pts, npts, prov);
    if (status != 0)
      goto out;
  }
  for (int s = 0; s < sides; s++) {
    for (int i = 0; i < 3; i++) {
      prov[s].load_start[i] = load_start[i];
      prov[s].load_end[i] = NAN;
    }
    double load[3];
    if (getloadavg(load, 3) == 3)
      memcpy(prov[s].load_end, load, sizeof load);
    summarise(pts[s], npts);
    derive(pts[s], npts);
    if (report_failures(pts[s], npts, sides == 2 ? (s ? "baseline" : "candidate") : NULL))
      status = 1;
  }
  char *cmd = join_argv(argc, argv);
  char workers[512], rank_workers[512], name[300];
  join_counts(workers, sizeof workers, o->workers, o->nworkers);
  join_counts(rank_workers, sizeof rank_workers, o->rank_workers,
              o->nrank_workers);
  for (int s = 0; s < sides; s++) {
    scale_config cfg = make_config(o, cmd, workers, rank_workers,
                                   sides == 2 ? (s ? "baseline" : "candidate")
                                              : NULL);
    snprintf(name, sizeof name, "%s%s", o->name, s ? "-baseline" : "");
    if (scale_write(o->out, name, &cfg, &prov[s], pts[s], npts) != 0)
      status = 1;
    else if (!o->quiet)
      fprintf(stderr, PROG ": %d points in %s/%s.json and .csv\n", npts,
              o->out, name);
  }
  free(cmd);
  if (status == 1 && (have_base || sides == 2))
    fprintf(stderr, PROG ": points failed; comparing the others\n");
  if (have_base || sides == 2) {
    char cand[4096], other[4096], stem[4096];
    snprintf(cand, sizeof cand, "%s/%s.json", o->out, o->name);
    snprintf(other, sizeof other, "%s/%s-baseline.json", o->out, o->name);
    snprintf(stem, sizeof stem, "%s/%s-compare", o->out, o->name);
    scale_cmp_opts cmp = o->cmp;
    cmp.out_stem = stem;
    int c = scale_compare_files(have_base ? o->baseline : other, cand, 0,
                                &cmp, stdout);
    status = c == 2 ? 2 : c == 1 && status == 0 ? 1 : status;
  }
out:
  if (have_base)
    scale_runfile_free(&base);
  free(sel);
  free_points(pts[0], npts);
  free_points(pts[1], npts);
  return status;
}

/* This binary's path (for the children of the rounds). */
static const char *self_path(const char *argv0) {
  static char buf[PATH_MAX];
  ssize_t r = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (r <= 0)
    return argv0;
  buf[r] = '\0';
  return buf;
}

/* The mpk-pi beside this binary (an installed mpk-scale), else the build's. */
static const char *default_mpk_pi(const char *self) {
  static char buf[PATH_MAX + 8];
  const char *slash = strrchr(self, '/');
  if (slash != NULL) {
    snprintf(buf, sizeof buf, "%.*s/mpk-pi", (int)(slash - self), self);
    if (access(buf, X_OK) == 0)
      return buf;
  }
  return MPK_SCALE_MPK_PI;
}

int main(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  o.kernels = (1u << K_COUNT) - 1;
  o.kernels_s = "all";
  o.modes =
      (1u << APP_MODE_OMP) | (1u << APP_MODE_POOL) | (1u << APP_MODE_THREADS);
  o.modes_s = "omp,pool,threads";
  o.scalings = (1u << S_COUNT) - 1;
  o.scalings_s = "all";
  o.scheds = (1u << 0) | (1u << 2) | (1u << 3);
  o.scheds_s = "static,dynamic,guided";
  o.repeat = 5;
  o.tpw = 2;
  o.pi_steps = 100000000;
  o.square_n = (uint64_t)1 << 24;
  o.imb_n = (uint64_t)1 << 18;
  o.out = "mpk-scale-results";
  o.name = "scaling";
  o.cmp = (scale_cmp_opts){SCALE_THRESHOLD, SCALE_ALPHA, 0, 0, NULL};
  o.self = self_path(argv[0]);
  o.mpi.mpirun = MPK_SCALE_MPIRUN;
  o.mpi.mpk_pi = default_mpk_pi(o.self);
  o.mpi.timeout = 600;
  int st = parse_options(argc, argv, &o);
  if (st >= 0)
    return st;
  if (o.compare != NULL) {
    char stem[4096];
    snprintf(stem, sizeof stem, "%s/%s-compare", o.out, o.name);
    if (o.out_given && scale_make_dirs(o.out) != 0) {
      fprintf(stderr, PROG ": cannot create directory %s\n", o.out);
      return 2;
    }
    o.cmp.out_stem = o.out_given ? stem : NULL;
    return o.micro ? scale_compare_files(o.micro, o.compare, 1, &o.cmp, stdout)
                   : scale_compare_files(o.baseline, o.compare, 0, &o.cmp,
                                         stdout);
  }
  if (o.rounds == 0)
    o.rounds = o.baseline != NULL || o.against != NULL ? 10 : 1;
  if (!o.seed_given)
    o.seed = ((unsigned long)time(NULL) ^ ((unsigned long)getpid() << 16)) &
             0xffffffffUL;
  if (o.nworkers == 0) { /* 1..cores, then 2 x cores */
    int cores = mpk_core_count();
    if (cores < 1)
      cores = mpk_cpu_count();
    for (int c = 1; c <= cores && o.nworkers < SCALE_MAX_WORKERS - 1; c++)
      o.workers[o.nworkers++] = (uint64_t)c;
    o.workers[o.nworkers++] = 2 * (uint64_t)cores;
  }
  if (o.nrank_workers == 0) {
    memcpy(o.rank_workers, o.workers, sizeof o.workers);
    o.nrank_workers = o.nworkers;
  }
  {
    int cores = mpk_core_count();
    o.mpi.machine_cores = cores >= 1 ? cores : mpk_cpu_count();
  }
  if (o.imb_chunk == 0)
    o.imb_chunk = o.imb_n / 256 > 0 ? o.imb_n / 256 : 1;
  o.modes &= ~(1u << APP_MODE_SERIAL); /* serial always runs, once */
  return run_sweep(&o, argc, argv);
}
