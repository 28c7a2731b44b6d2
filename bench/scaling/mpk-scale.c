/* mpk-scale: the scaling driver. Sweeps worker counts, modes (OpenMP and
 * the mpk pool modes) and kernels (pi: compute-bound, square: memory-bound,
 * imbalanced: where dynamic and guided schedules beat static), in strong
 * and weak scaling, against a serial baseline measured in the same run;
 * with --ranks also ranks x workers of the pool over MPI (mpk-pi --mode mpi
 * launched under mpirun, one launch per point); repeats every point and
 * writes JSON and CSV. With --baseline it is a performance regression
 * check.
 *
 * Exit status: 0 success; 1 a point failed or (with --baseline) regressed;
 * 2 bad usage, or a result file that cannot be read.
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
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

static const char usage_text[] =
    "usage: mpk-scale [--kernels LIST] [--modes LIST] [--workers LIST]\n"
    "                 [--scaling LIST] [--schedules LIST] [--repeat R]\n"
    "                 [--pi-steps N] [--square-n N] [--imbalanced-n N]\n"
    "                 [--imbalanced-chunk C] [--threads-per-worker K]\n"
    "                 [--out DIR] [--name NAME] [--quiet]\n"
    "                 [--baseline FILE.json [--compare FILE.json]]\n"
    "                 [--noise-k K] [--noise-floor F]\n"
    "                 [--ranks LIST [--rank-workers LIST] [--mpirun PATH]\n"
    "                  [--mpirun-args ARGS] [--mpk-pi PATH] "
    "[--mpi-timeout S]]\n"
    "\n"
    "Measure how pi (compute-bound), square (memory-bound) and imbalanced\n"
    "(element i costs 1 + 63 i / n units) scale with the worker count in\n"
    "each mode, against a serial run of the same kernel in the same process.\n"
    "Every point is repeated; the median, min, max and quartiles come from\n"
    "GSL; speedup, efficiency (speedup / cores) and the Karp-Flatt serial\n"
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
    "  --repeat R            timed runs per point, after one warm-up\n"
    "                        (default 5)\n"
    "  --pi-steps N          pi size (default 1e8; weak: per core)\n"
    "  --square-n N          square elements, doubles (default 2^24)\n"
    "  --imbalanced-n N      imbalanced elements (default 2^18)\n"
    "  --imbalanced-chunk C  chunk of its dynamic/guided/cyclic schedules\n"
    "                        (default N / 256)\n"
    "  --threads-per-worker K  hybrid team size (default 2)\n"
    "  --out DIR             where NAME.json and NAME.csv go (default\n"
    "                        bench/results)\n"
    "  --name NAME           file name stem (default scaling)\n"
    "  --quiet               no progress line (it only appears on a terminal)\n"
    "  --baseline FILE.json  after the sweep, compare with an earlier run and\n"
    "                        exit 1 if a point regressed (see below)\n"
    "  --compare FILE.json   with --baseline: compare this earlier run\n"
    "                        instead of sweeping\n"
    "  --noise-k K           regression noise multiplier (default 3)\n"
    "  --noise-floor F       regression minimum tolerance (default 0.05)\n"
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
    "  --mpk-pi PATH         the mpk-pi to launch (default: this build's)\n"
    "  --mpi-timeout S       seconds per launch before it is killed and the\n"
    "                        point fails (default 600)\n"
    "  The launcher environment is the caller's (as root with Open MPI:\n"
    "  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).\n"
    "\n"
    "Regression rule: a point (same kernel, scaling, mode, schedule, chunk,\n"
    "workers and size) regressed when its median time exceeds the\n"
    "baseline's median by more than max(K x noise, F), where noise is the\n"
    "larger relative interquartile range (IQR / median) of the two runs'\n"
    "repeats. Faster points never fail.\n"
    "\n"
    "Exit status: 0 success; 1 a point failed or regressed; 2 bad usage or\n"
    "an unreadable result file.\n";

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
  uint64_t pi_steps, square_n, imb_n, imb_chunk;
  const char *out, *name, *baseline, *compare;
  app_regress_rule rule;
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
  OPT_NOISE_K,
  OPT_NOISE_FLOOR,
  OPT_RANKS,
  OPT_RANK_WORKERS,
  OPT_MPIRUN,
  OPT_MPIRUN_ARGS,
  OPT_MPK_PI,
  OPT_MPI_TIMEOUT,
  OPT_HELP
};

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
      {"noise-k", required_argument, NULL, OPT_NOISE_K},
      {"noise-floor", required_argument, NULL, OPT_NOISE_FLOOR},
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
    case OPT_NOISE_K:
      if (app_parse_double(optarg, 0, 1e6, &o->rule.k) != 0)
        return app_usage(PROG, "bad --noise-k '%s' (want a number >= 0)",
                         optarg);
      break;
    case OPT_NOISE_FLOOR:
      if (app_parse_double(optarg, 0, 1e6, &o->rule.floor) != 0)
        return app_usage(PROG, "bad --noise-floor '%s' (want a number >= 0)",
                         optarg);
      break;
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
  if (optind < argc)
    return app_usage(PROG, "unexpected argument '%s'", argv[optind]);
  if (o->compare != NULL && o->baseline == NULL)
    return app_usage(PROG, "--compare needs --baseline");
  if (o->nranks == 0 && (o->nrank_workers > 0 || o->mpi.extra != NULL))
    return app_usage(PROG, "--rank-workers and --mpirun-args need --ranks");
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

static void measure(sweep *s, app_exec *ex, scale_point *p) {
  run_arg a = {ex, p, s, NAN};
  snprintf(p->check, sizeof p->check, "ok");
  p->repeats = s->o->repeat;
  p->rc = run_point(&a); /* warm-up: wakes the team, faults pages in */
  for (int i = 0; p->rc == MPK_OK && i < p->repeats; i++) {
    if (p->kernel == K_SQUARE && i == p->repeats - 1)
      memset(s->sq_out, 0xff, p->size * sizeof(double)); /* NaN */
    p->rc = app_time_runs(run_point, &a, 0, 1, &p->times[i]);
  }
  char why[MPK_ERRMSG_MAX + 16];
  if (p->rc != MPK_OK)
    app_why(why, sizeof why, p->rc);
  if (p->rc == MPK_OK) {
    p->value = a.value;
    if (app_stats_compute(p->times, p->repeats, &p->st) != 0) {
      p->rc = MPK_ENOMEM;
      snprintf(why, sizeof why, "MPK_ENOMEM: no memory for the statistics");
    }
  }
  if (p->rc != MPK_OK) {
    snprintf(p->check, sizeof p->check, "failed: %.87s", why); /* check[96] */
  } else if (p->kernel == K_SQUARE) {
    size_t bad = app_square_check_double(s->sq_out, p->size);
    if (bad != p->size)
      snprintf(p->check, sizeof p->check, "wrong square at %zu", bad);
  } else {
    check_value(p);
  }
  if (p->rc == MPK_OK && strcmp(p->check, "ok") != 0)
    p->rc = MPK_ETASK; /* a wrong result fails the point */
  p->noise = p->rc == MPK_OK ? app_rel_noise(&p->st) : NAN;
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

/* Run the MPI points pts[first..n): one mpirun each, checked like the
   others (pi against M_PI and against the in-process points' value). */
static void run_mpi_points(sweep *s, scale_point *pts, int first, int n) {
  scale_mpi m = s->o->mpi;
  char why[256] = "";
  int probed = first < n ? scale_mpi_probe(&m, why, sizeof why) : 0;
  for (int i = first; i < n; i++) {
    scale_point *p = &pts[i];
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
    p->noise = p->rc == MPK_OK ? app_rel_noise(&p->st) : NAN;
    progress(s, p);
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

static int run_sweep(const options *o, int argc, char **argv) {
  exec_plan ep[APP_MODE_COUNT * SCALE_MAX_WORKERS + 1];
  int nexec = plan_execs(o, ep);
  int npts = plan_serial(o, NULL, 0);
  for (int e = 1; e < nexec; e++)
    npts = plan_exec(o, ep[e].mode, ep[e].workers, ep[e].tpw, ep[e].cores, NULL,
                     npts);
  const int nlocal = npts;
  npts = plan_mpi(o, NULL, npts);
  scale_point *pts = calloc((size_t)npts, sizeof *pts);
  if (pts == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    return 1;
  }
  sweep s = {o, NULL, NULL, 0, 0, npts, isatty(2) && !o->quiet};
  int status = 0;
  if (o->kernels & (1u << K_SQUARE)) {
    int maxc = 1;
    for (int e = 0; e < nexec; e++)
      maxc = ep[e].cores > maxc ? ep[e].cores : maxc;
    s.sq_cap = (size_t)o->square_n *
               ((o->scalings & (1u << S_WEAK)) ? (size_t)maxc : 1);
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
  int k = 0;
  for (int e = 0; e < nexec; e++) {
    int first = k;
    k = e == 0 ? plan_serial(o, pts, k)
               : plan_exec(o, ep[e].mode, ep[e].workers, ep[e].tpw, ep[e].cores,
                           pts, k);
    app_exec ex;
    int rc = app_exec_open(&ex, ep[e].mode, ep[e].workers, ep[e].tpw,
                           MPK_BIND_COMPACT, NULL);
    char why[MPK_ERRMSG_MAX + 16];
    if (rc != MPK_OK)
      app_why(why, sizeof why, rc);
    for (int i = first; i < k; i++) {
      if (rc != MPK_OK) {
        pts[i].rc = rc;
        snprintf(pts[i].check, sizeof pts[i].check, "failed: %.87s", why);
        progress(&s, &pts[i]);
      } else {
        measure(&s, &ex, &pts[i]);
      }
    }
    if (rc == MPK_OK)
      app_exec_close(&ex);
  }
  plan_mpi(o, pts, k);
  run_mpi_points(&s, pts, nlocal, npts);
  derive(pts, npts);
  for (int i = 0; i < npts; i++)
    if (pts[i].rc != MPK_OK) {
      fprintf(stderr, PROG ": %s %s %s workers %d%s: %s\n",
              scale_kernel_names[pts[i].kernel], pts[i].scaling,
              scale_mode_name(pts[i].mode), pts[i].cores,
              pts[i].mode == APP_MODE_MPI ? " (ranks x workers)" : "",
              pts[i].check);
      status = 1;
    }

  char *cmd = join_argv(argc, argv);
  char workers[512] = "";
  for (int i = 0; i < o->nworkers; i++) {
    size_t l = strlen(workers);
    snprintf(workers + l, sizeof workers - l, "%s%llu", i ? "," : "",
             (unsigned long long)o->workers[i]);
  }
  char rank_workers[512] = "";
  for (int i = 0; i < o->nrank_workers; i++) {
    size_t l = strlen(rank_workers);
    snprintf(rank_workers + l, sizeof rank_workers - l, "%s%llu", i ? "," : "",
             (unsigned long long)o->rank_workers[i]);
  }
  scale_config cfg = {.command = cmd ? cmd : "?",
                      .repeat = o->repeat,
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
                      .rule = o->rule};
  if (scale_write(o->out, o->name, &cfg, pts, npts) != 0)
    status = 1;
  else
    fprintf(stderr, PROG ": %d points in %s/%s.json and .csv\n", npts, o->out,
            o->name);
  free(cmd);
  if (o->baseline != NULL) {
    int c = scale_compare(o->baseline, NULL, pts, npts, &o->rule, stdout);
    if (c == 2)
      status = 2;
    else if (c == 1 && status == 0)
      status = 1;
  }
out:
  mpk_shm_free(s.sq_in);
  mpk_shm_free(s.sq_out);
  free(pts);
  return status;
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
  o.out = "bench/results";
  o.name = "scaling";
  o.rule = (app_regress_rule){APP_REGRESS_K, APP_REGRESS_FLOOR};
  o.mpi.mpirun = MPK_SCALE_MPIRUN;
  o.mpi.mpk_pi = MPK_SCALE_MPK_PI;
  o.mpi.timeout = 600;
  int st = parse_options(argc, argv, &o);
  if (st >= 0)
    return st;
  if (o.compare != NULL)
    return scale_compare(o.baseline, o.compare, NULL, 0, &o.rule, stdout);
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
