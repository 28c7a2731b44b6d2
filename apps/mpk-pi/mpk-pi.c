/* mpk-pi: pi by the midpoint rule (the seed's calc_partial_pi) or by Monte
 * Carlo, serially, with OpenMP and with mpk pools, timed in one process; or,
 * with --mode mpi under mpirun, on one mpk pool per rank spanning
 * MPI_COMM_WORLD (rank 0 reports).
 *
 *   mpk-pi [--mode MODES] [--steps N] [--kernel naive|simd] [--workers N]
 *          [--threads-per-worker K] [--schedule S] [--chunk C] [--bind B]
 *          [--method midpoint|montecarlo] [--seed S] [--isa I]
 *          [--partition static|dynamic] [--mpi-init-timeout S]
 *          [--repeat R] [--json] [--help]
 *
 * Exit status: 0 success, 1 a run failed, 2 bad usage (or the mpi mode
 * cannot start).
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_json.h"
#include "app_kernels.h"
#include "app_modes.h"
#include "app_run.h"
#include "app_stats.h"
#include "mpk/error.h"
#include "mpk/topo.h"
#ifdef MPK_WITH_MPI
#include "app_mpi.h"
#endif

#define PROG "mpk-pi"
#define MAX_STEPS (((uint64_t)1 << 52) - 1)
#define MAX_ROWS (2 * APP_MODE_COUNT)
#define MPI_BIT (1u << APP_MODE_MPI)
#define OPT_INIT_TIMEOUT 256

static const char usage_text[] =
    "usage: mpk-pi [--mode MODES] [--steps N] [--kernel naive|simd]\n"
    "              [--workers N] [--threads-per-worker K] [--schedule S]\n"
    "              [--chunk C] [--bind compact|scatter|none|LIST]\n"
    "              [--method midpoint|montecarlo] [--seed S]\n"
    "              [--isa auto|avx2|avx512f|generic]\n"
    "              [--partition static|dynamic] [--mpi-init-timeout S]\n"
    "              [--repeat R] [--json]\n"
    "\n"
    "Compute pi = sum_i 4 / (1 + x_i^2) dx, x_i = (i + 0.5) dx, in each mode\n"
    "and print pi, its error, the median time of R runs, the speedup over the\n"
    "serial run of the same kernel and the parallel efficiency.\n"
    "\n"
    "  -m, --mode MODES   comma-separated list of serial, omp, pool, threads,\n"
    "                     hybrid, or all (default all). With all and the\n"
    "                     simd kernel, the naive serial and OpenMP loops run\n"
    "                     too, as baselines. OpenMP runs before the pools.\n"
    "                     mpi (alone, never part of all): under mpirun, one\n"
    "                     pool per rank spanning MPI_COMM_WORLD; rank 0\n"
    "                     reports; the time of a run is the slowest rank's,\n"
    "                     between barriers\n"
    "  -n, --steps N      intervals (or samples), e.g. 1e9 or 2^30\n"
    "                     (default 1e8; montecarlo 1e7)\n"
    "  -k, --kernel K     naive: the seed's scalar loop (divide-bound);\n"
    "                     simd (default): 8 independent lanes, vectorised\n"
    "                     without -ffast-math, deterministic\n"
    "  -w, --workers N    cores to use: OpenMP threads, pool workers "
    "(default:\n"
    "                     the allowed physical cores); hybrid runs N / K\n"
    "                     processes of K threads; mpi: workers per rank\n"
    "                     (default: the cores mpirun bound the rank to)\n"
    "  -t, --threads-per-worker K\n"
    "                     OpenMP team per hybrid worker (2..256, default 2)\n"
    "  -s, --schedule S   static (default), cyclic, dynamic, guided\n"
    "  -c, --chunk C      steps per chunk: the unit of the pool's reduction,\n"
    "                     so pi is bit-identical for any worker count at a\n"
    "                     fixed chunk (default ceil(N / 4096))\n"
    "  -b, --bind B       pool binding: compact (default), scatter, none, or\n"
    "                     a cpuset LIST (\"0-3\", \"0x0f\", \"core:0-1\")\n"
    "  -M, --method M     midpoint (default) or montecarlo: GSL mt19937\n"
    "                     streams, one per chunk, seeded from --seed and the\n"
    "                     chunk index (the same estimate for any workers)\n"
    "  -S, --seed S       Monte Carlo seed (default 1)\n"
    "  -P, --partition P  mpi: how chunks are shared out between ranks:\n"
    "                     static (default, one run per rank, in proportion\n"
    "                     to its workers) or dynamic (grabs from rank 0)\n"
    "  --mpi-init-timeout S  mpi: exit 2 if MPI_Init has not finished after\n"
    "                     S seconds (default 120; 0: wait)\n"
    "  -i, --isa I        pin the simd kernel's variant (default auto)\n"
    "  -r, --repeat R     timed runs per mode, median reported (default 3)\n"
    "  -j, --json         print one JSON object instead of the table\n"
    "  -h, --help         print this help\n"
    "\n"
    "OpenMP threads follow OMP_PROC_BIND / OMP_PLACES; pool workers are\n"
    "pinned by --bind (mpi: inside the cores mpirun bound the rank to, e.g.\n"
    "mpirun -np 2 --map-by slot:PE=2 --bind-to core mpk-pi --mode mpi).\n"
    "Exit status: 0 success, 1 a run failed, 2 bad usage or the mpi mode\n"
    "cannot start.\n";

typedef struct {
  app_opts app;   /* --mode, --workers, ..., --repeat, --json */
  uint64_t steps; /* 0: default */
  app_pi_kernel kernel;
  app_pi_method method;
  uint64_t seed;
  const char *isa;
  int partition;       /* mpi: -1 not given, else an mpk_mpi_partition */
  double init_timeout; /* mpi: MPI_Init watchdog, seconds (0: none) */
  int init_timeout_given;
} options;

typedef struct {
  app_mode mode;
  app_pi_kernel kernel;
  int workers, tpw, cores; /* mpi: workers of rank 0; cores of all ranks */
  int rc;                  /* MPK_OK or the failure */
  double pi;               /* last run's value */
  int same_bits;           /* every repeat gave the same pi */
  app_stats st;
  double times[APP_MAX_REPEAT]; /* each run's time (mpi: the slowest rank's) */
  int ranks;                    /* mpi: MPI_COMM_WORLD's size; 1 otherwise */
  int *rank_workers;            /* mpi: workers of each rank (malloc'd) */
  int nodes;                    /* mpi: the nodes the ranks run on */
  const char *counter; /* mpi: DYNAMIC's counter path, NULL if not chosen */
  char why[MPK_ERRMSG_MAX + 16]; /* rc != MPK_OK: app_why's text */
} row;

static int parse_options(int argc, char **argv, options *o) {
  static const struct option longopts[] = {
      APP_OPTS_LONG,
      {"steps", required_argument, NULL, 'n'},
      {"kernel", required_argument, NULL, 'k'},
      {"method", required_argument, NULL, 'M'},
      {"seed", required_argument, NULL, 'S'},
      {"isa", required_argument, NULL, 'i'},
      {"partition", required_argument, NULL, 'P'},
      {"mpi-init-timeout", required_argument, NULL, OPT_INIT_TIMEOUT},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  opterr = 0;
  int c, st;
  while ((c = getopt_long(argc, argv, ":n:k:M:S:i:P:h" APP_OPTS_SHORT, longopts,
                          NULL)) != -1) {
    switch (c) {
    case 'n':
      if (app_parse_count(optarg, 1, MAX_STEPS, &o->steps) != 0)
        return app_usage(PROG, "bad --steps '%s' (want 1..2^52-1, e.g. 1e9)",
                         optarg);
      break;
    case 'k':
      if (strcmp(optarg, "naive") == 0)
        o->kernel = APP_PI_NAIVE;
      else if (strcmp(optarg, "simd") == 0)
        o->kernel = APP_PI_SIMD;
      else
        return app_usage(PROG, "bad --kernel '%s' (want naive or simd)",
                         optarg);
      break;
    case 'M':
      if (strcmp(optarg, "midpoint") == 0)
        o->method = APP_METHOD_MIDPOINT;
      else if (strcmp(optarg, "montecarlo") == 0)
        o->method = APP_METHOD_MONTECARLO;
      else
        return app_usage(
            PROG, "bad --method '%s' (want midpoint or montecarlo)", optarg);
      break;
    case 'S':
      if (app_parse_count(optarg, 0, UINT64_MAX, &o->seed) != 0)
        return app_usage(PROG, "bad --seed '%s' (want an unsigned integer)",
                         optarg);
      break;
    case 'i':
      if (app_pi_simd_select(optarg) != 0)
        return app_usage(PROG,
                         "bad --isa '%s' (want auto, avx2, avx512f or generic "
                         "supported by this CPU)",
                         optarg);
      o->isa = optarg;
      break;
    case 'P':
      if (strcmp(optarg, "static") == 0)
        o->partition = 0;
      else if (strcmp(optarg, "dynamic") == 0)
        o->partition = 1;
      else
        return app_usage(PROG, "bad --partition '%s' (want static or dynamic)",
                         optarg);
      break;
    case OPT_INIT_TIMEOUT:
      if (app_parse_double(optarg, 0, 1e6, &o->init_timeout) != 0)
        return app_usage(
            PROG, "bad --mpi-init-timeout '%s' (want seconds, 0..1e6)", optarg);
      o->init_timeout_given = 1;
      break;
    case 'h':
      fputs(usage_text, stdout);
      printf("This build: %s\n", app_mode_mpi_built()
                                     ? "the mpi mode is available"
                                     : "without MPI (no mpi mode)");
      return 0;
    default:
      if ((st = app_opts_parse(PROG, c, argv, &o->app)) >= 0)
        return st;
    }
  }
  if (optind < argc)
    return app_usage(PROG, "unexpected argument '%s'", argv[optind]);
  if ((o->partition >= 0 || o->init_timeout_given) && !(o->app.modes & MPI_BIT))
    return app_usage(PROG, "--%s applies to --mode mpi only",
                     o->partition >= 0 ? "partition" : "mpi-init-timeout");
  if (o->app.chunk > 0 && o->steps > 0 && o->app.chunk > o->steps)
    return app_usage(PROG, "--chunk %llu is larger than --steps %llu",
                     (unsigned long long)o->app.chunk,
                     (unsigned long long)o->steps);
  return -1;
}

/* One timed run of the current row. */
typedef struct {
  app_exec *ex;
  const app_pi_problem *pb;
  double pi;
  int first, same_bits;
} run_arg;

static int run_once(void *p) {
  run_arg *a = p;
  double v = NAN;
  int rc = app_pi_run(a->ex, a->pb, &v);
  if (rc != MPK_OK)
    return rc;
  if (!a->first && memcmp(&v, &a->pi, sizeof v) != 0)
    a->same_bits = 0;
  a->first = 0;
  a->pi = v;
  return 0;
}

/* The mpi mode's layout and partition (collective); other modes: nothing. */
static int setup_mpi(row *r, app_exec *ex, const options *o) {
#ifdef MPK_WITH_MPI
  if (!ex->info->mpi)
    return MPK_OK;
  r->ranks = ex->ranks;
  r->rank_workers = malloc((size_t)ex->ranks * sizeof *r->rank_workers);
  int rc = MPK_OK;
  if (o->partition >= 0)
    rc = app_mpi_partition(ex, (mpk_mpi_partition)o->partition);
  /* Gather only when every rank has its buffer: the ranks agree first. */
  int have = r->rank_workers != NULL, all_have = 0;
  MPI_Allreduce(&have, &all_have, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (!all_have)
    return MPK_ENOMEM;
  app_mpi_workers(ex, r->rank_workers);
  r->nodes = app_mpi_nodes();
  return rc;
#else
  (void)r;
  (void)ex;
  (void)o;
  return MPK_OK;
#endif
}

static void measure(row *r, const options *o, const app_pi_problem *base) {
  app_pi_problem pb = *base;
  pb.kernel = r->kernel;
  app_exec ex;
  r->rc = app_exec_open(&ex, r->mode, r->workers, r->tpw, o->app.bind,
                        o->app.cpuset);
  if (r->rc != MPK_OK) {
    app_why(r->why, sizeof r->why, r->rc);
    return;
  }
  r->cores = app_exec_cores(&ex);
  r->workers = ex.workers;
  r->rc = setup_mpi(r, &ex, o);
  /* Warm-up: wake the team or pool and fault the code in, on a small
     problem (a mode's first call pays for page faults and thread starts). */
  app_pi_problem warm = pb;
  warm.steps = pb.steps < ((size_t)1 << 20) ? pb.steps : ((size_t)1 << 20);
  warm.chunk = app_pi_default_chunk(warm.steps);
  double scratch;
  if (r->rc == MPK_OK)
    r->rc = app_pi_run(&ex, &warm, &scratch);
  run_arg a = {&ex, &pb, NAN, 1, 1};
  if (r->rc == MPK_OK) {
#ifdef MPK_WITH_MPI
    if (ex.info->mpi)
      r->rc = app_mpi_time_runs(run_once, &a, 0, o->app.repeat, r->times);
    else
#endif
      r->rc = app_time_runs(run_once, &a, 0, o->app.repeat, r->times);
  }
  if (r->rc != MPK_OK)
    app_why(r->why, sizeof r->why, r->rc);
  if (r->rc == MPK_OK &&
      app_stats_compute(r->times, o->app.repeat, &r->st) != 0) {
    r->rc = MPK_ENOMEM;
    snprintf(r->why, sizeof r->why,
             "MPK_ENOMEM: no memory for the "
             "statistics");
  }
  r->pi = a.pi;
  r->same_bits = a.same_bits;
#ifdef MPK_WITH_MPI
  if (ex.info->mpi)
    r->counter = app_mpi_counter(&ex);
#endif
  app_exec_close(&ex);
}

static const char *kernel_name(const options *o, app_pi_kernel k) {
  if (o->method == APP_METHOD_MONTECARLO)
    return "mt19937";
  return k == APP_PI_NAIVE ? "naive" : "simd";
}

/* Index of the row of mode m with kernel k, or -1. */
static int find_row(const row *rows, int n, app_mode m, app_pi_kernel k) {
  for (int i = 0; i < n; i++)
    if (rows[i].mode == m && rows[i].kernel == k && rows[i].rc == MPK_OK)
      return i;
  return -1;
}

typedef struct {
  double speedup, efficiency, vs_omp, ns_step_core;
} derived;

static derived derive(const row *rows, int n, int i, const options *o,
                      uint64_t steps) {
  derived d = {NAN, NAN, NAN, NAN};
  const row *r = &rows[i];
  if (r->rc != MPK_OK)
    return d;
  d.ns_step_core = r->st.median * r->cores / (double)steps * 1e9;
  int s = find_row(rows, n, APP_MODE_SERIAL, r->kernel);
  if (s >= 0) {
    d.speedup = app_speedup(rows[s].st.median, r->st.median);
    d.efficiency = app_efficiency(d.speedup, r->cores);
  }
  int b =
      find_row(rows, n, APP_MODE_OMP,
               o->method == APP_METHOD_MONTECARLO ? r->kernel : APP_PI_NAIVE);
  if (b >= 0)
    d.vs_omp = app_speedup(rows[b].st.median, r->st.median);
  return d;
}

static void print_json(const row *rows, int n, const options *o, uint64_t steps,
                       uint64_t chunk) {
  printf("{\"steps\": %llu, \"method\": ", (unsigned long long)steps);
  app_json_str(stdout,
               o->method == APP_METHOD_MIDPOINT ? "midpoint" : "montecarlo");
  printf(", \"kernel\": ");
  app_json_str(stdout, kernel_name(o, o->kernel));
  printf(", \"isa\": ");
  app_json_str(stdout, app_pi_simd_isa());
  printf(", \"schedule\": ");
  app_json_str(stdout, app_sched_name(o->app.sched));
  printf(", \"chunk\": %llu, \"repeat\": %d, \"seed\": %llu, \"results\": [",
         (unsigned long long)chunk, o->app.repeat, (unsigned long long)o->seed);
  int first = 1;
  for (int i = 0; i < n; i++) {
    const row *r = &rows[i];
    if (r->rc != MPK_OK)
      continue;
    derived d = derive(rows, n, i, o, steps);
    printf("%s{\"mode\": ", first ? "" : ", ");
    first = 0;
    app_json_str(stdout, app_mode_get(r->mode)->name);
    printf(", \"kernel\": ");
    app_json_str(stdout, kernel_name(o, r->kernel));
    printf(", \"workers\": %d, \"threads_per_worker\": %d, \"ranks\": %d, "
           "\"total_workers\": %d",
           r->workers, r->tpw, r->ranks, r->cores / r->tpw);
    if (r->rank_workers != NULL) {
      printf(", \"workers_per_rank\": [");
      for (int k = 0; k < r->ranks; k++)
        printf("%s%d", k ? ", " : "", r->rank_workers[k]);
      printf("], \"nodes\": %d, \"partition\": \"%s\", "
             "\"dynamic_counter\": ",
             r->nodes, o->partition == 1 ? "dynamic" : "static");
      if (r->counter != NULL)
        app_json_str(stdout, r->counter);
      else
        fputs("null", stdout);
    }
    printf(", \"pi\": %.17g, \"abs_error\": ", r->pi);
    app_json_num(stdout, fabs(r->pi - M_PI));
    app_json_field(stdout, "seconds", r->st.median);
    app_json_field(stdout, "seconds_min", r->st.min);
    app_json_field(stdout, "seconds_max", r->st.max);
    app_json_field(stdout, "ns_per_step_core", d.ns_step_core);
    app_json_field(stdout, "speedup", d.speedup);
    app_json_field(stdout, "efficiency", d.efficiency);
    app_json_field(stdout, "vs_omp", d.vs_omp);
    printf(", \"times\": [");
    for (int k = 0; k < o->app.repeat; k++) {
      fputs(k ? ", " : "", stdout);
      app_json_num(stdout, r->times[k]);
    }
    printf("], \"repeatable\": %s}", r->same_bits ? "true" : "false");
  }
  printf("]}\n");
}

/* v with `prec` decimals left-aligned in `width` columns and a space, or
   "-" when it was not measured. */
static void print_num(double v, int prec, int width) {
  if (isfinite(v))
    printf("%-*.*f ", width, prec, v);
  else
    printf("%-*s ", width, "-");
}

static void print_table(const row *rows, int n, const options *o,
                        uint64_t steps, uint64_t chunk) {
  printf("mpk-pi: %s, %llu %s, schedule %s, chunk %llu, median of %d\n",
         o->method == APP_METHOD_MIDPOINT ? "midpoint rule" : "Monte Carlo",
         (unsigned long long)steps,
         o->method == APP_METHOD_MIDPOINT ? "steps" : "samples",
         app_sched_name(o->app.sched), (unsigned long long)chunk,
         o->app.repeat);
  printf("%-8s %-8s %-8s %-20s %-10s %-10s %-13s %-8s %-10s %s\n", "mode",
         "kernel", "workers", "pi", "abs error", "time [s]", "ns/step/core",
         "speedup", "efficiency", "vs omp");
  for (int i = 0; i < n; i++) {
    const row *r = &rows[i];
    char w[32];
    printf("%-8s %-8s %-8s ", app_mode_get(r->mode)->name,
           kernel_name(o, r->kernel),
           app_workers_label(w, sizeof w, r->workers, r->tpw));
    if (r->rc != MPK_OK) {
      printf("failed: %s\n", r->why);
      continue;
    }
    derived d = derive(rows, n, i, o, steps);
    printf("%-20.17g %-10.2e %-10.4f ", r->pi, fabs(r->pi - M_PI),
           r->st.median);
    print_num(d.ns_step_core, 3, 13);
    print_num(d.speedup, 2, 8);
    print_num(d.efficiency, 2, 10);
    print_num(d.vs_omp, 2, 0);
    putchar('\n');
  }
  printf(
      "columns:\n"
      "  kernel        naive: the plain loop; simd: the vectorised one "
      "(%s variant)\n"
      "  workers       processes or threads (hybrid: processes x threads)\n"
      "  abs error     |pi - M_PI|\n"
      "  time [s]      median wall time of the runs\n"
      "  ns/step/core  time x cores used / steps, in ns: what one step costs "
      "one core\n"
      "                (flat across modes: no overhead; the divider "
      "bounds it from below)\n"
      "  speedup       the serial row of the same kernel's time / this "
      "row's\n"
      "  efficiency    speedup / workers (1.00: every core fully used)\n"
      "  vs omp        the naive OpenMP loop's time (omp, naive) / this "
      "row's:\n"
      "                > 1 is faster than plain `#pragma omp parallel for`\n",
      o->method == APP_METHOD_MIDPOINT ? app_pi_simd_isa() : "-");
  for (int i = 0; i < n; i++) {
    const row *r = &rows[i];
    if (r->rc != MPK_OK || r->rank_workers == NULL)
      continue;
    printf("mpi: %d rank%s, workers per rank ", r->ranks,
           r->ranks == 1 ? "" : "s");
    for (int k = 0; k < r->ranks; k++)
      printf("%s%d", k ? "," : "", r->rank_workers[k]);
    printf(" (%d in all), %d node%s, partition %s", r->cores / r->tpw, r->nodes,
           r->nodes == 1 ? "" : "s", o->partition == 1 ? "dynamic" : "static");
    if (r->counter != NULL)
      printf(" (counter: %s)", r->counter);
    printf("; a run's time is the slowest rank's, between barriers\n");
  }
}

/* A row to measure: mode m with kernel k on w workers of t threads. */
static row new_row(app_mode m, app_pi_kernel k, int w, int t) {
  return (row){.mode = m,
               .kernel = k,
               .workers = w,
               .tpw = t,
               .cores = 1,
               .rc = 0,
               .pi = NAN,
               .same_bits = 1,
               .ranks = 1,
               .rank_workers = NULL,
               .nodes = 1,
               .counter = NULL};
}

int main(int argc, char **argv) {
  options o = {0};
  app_modes_enable_mpi(); /* mpk-pi is the one app with the mpi mode */
  app_opts_init(&o.app, MAX_STEPS);
  o.kernel = APP_PI_SIMD;
  o.method = APP_METHOD_MIDPOINT;
  o.seed = 1;
  o.partition = -1;
  o.init_timeout = 120;
  int st = parse_options(argc, argv, &o);
  if (st >= 0)
    return st;

  uint64_t steps =
      o.steps ? o.steps
              : (o.method == APP_METHOD_MIDPOINT ? 100000000u : 10000000u);
  uint64_t chunk = o.app.chunk ? o.app.chunk : app_pi_default_chunk(steps);
  if (chunk > steps)
    return app_usage(PROG, "--chunk %llu is larger than the %llu steps",
                     (unsigned long long)chunk, (unsigned long long)steps);
  app_plan plan[APP_MODE_COUNT];
  int np = app_plan_modes(&o.app, plan);
  row rows[MAX_ROWS];
  int n = 0;
  for (int k = 0; k < np; k++) {
    const app_plan *p = &plan[k];
    /* With all and the simd kernel, the naive serial and OpenMP loops are
       measured too: they are the baselines the simd kernel is judged by. */
    if (o.app.all && o.method == APP_METHOD_MIDPOINT &&
        o.kernel != APP_PI_NAIVE &&
        app_mode_get(p->mode)->kind != APP_KIND_POOL)
      rows[n++] = new_row(p->mode, APP_PI_NAIVE, p->workers, p->tpw);
    rows[n++] = new_row(p->mode, o.kernel, p->workers, p->tpw);
  }
  if (n == 0)
    return app_usage(PROG, "no mode to run");

  /* The mpi mode runs alone (parse_options): MPI starts only for it, once
     every argument is known good, so all ranks get here or none does. */
  const int mpi = (o.app.modes & MPI_BIT) != 0;
  int rank = 0;
#ifdef MPK_WITH_MPI
  if (mpi) {
    char err[256];
    if (app_mpi_init(&argc, &argv, o.init_timeout, err, sizeof err) != 0) {
      fprintf(stderr, PROG ": cannot start the mpi mode: %s\n", err);
      return 2;
    }
    rank = app_mpi_rank();
    /* What steers the collective calls must match, or ranks would wait on
       each other (a job started with different commands per rank). */
    struct {
      uint64_t steps, chunk, seed;
      int32_t method, kernel, sched, partition, repeat, pad;
    } ctl;
    memset(&ctl, 0, sizeof ctl);
    ctl.steps = steps;
    ctl.chunk = chunk;
    ctl.seed = o.seed;
    ctl.method = (int32_t)o.method;
    ctl.kernel = (int32_t)o.kernel;
    ctl.sched = (int32_t)o.app.sched;
    ctl.partition = o.partition;
    ctl.repeat = o.app.repeat;
    if (app_mpi_same(&ctl, sizeof ctl) != 1) {
      if (rank == 0)
        fprintf(stderr, PROG ": the ranks were started with different "
                             "options (steps, chunk, repeat, schedule, kernel, "
                             "method, seed or partition): give every rank the "
                             "same command\n");
      app_mpi_finalize();
      return 2;
    }
  }
#endif

  app_pi_problem pb = {o.method,    o.kernel,      (size_t)steps,
                       o.app.sched, (size_t)chunk, o.seed};
  int failed = 0;
  for (int i = 0; i < n; i++) {
    measure(&rows[i], &o, &pb);
    if (rows[i].rc != MPK_OK) {
      failed = 1; /* the mpi mode fails alike on every rank: rank 0 says */
      if (rank == 0)
        fprintf(stderr, "mpk-pi: mode %s failed: %s\n",
                app_mode_get(rows[i].mode)->name, rows[i].why);
    }
  }
  if (rank == 0) {
    if (o.app.json)
      print_json(rows, n, &o, steps, chunk);
    else
      print_table(rows, n, &o, steps, chunk);
    if (fflush(stdout) != 0 || ferror(stdout))
      failed = 1;
  }
  for (int i = 0; i < n; i++)
    free(rows[i].rank_workers);
#ifdef MPK_WITH_MPI
  if (mpi)
    app_mpi_finalize();
#else
  (void)mpi;
#endif
  return failed ? 1 : 0;
}
