/* mpk-square: the seed's square map. `mpk-square 2 4 6 8 3 5 7 9` prints
 * [4, 16, 36, 64, 9, 25, 49, 81] (results in input order, computed by a
 * pool map); `mpk-square --n N` squares 0..N-1 in each mode for throughput,
 * with input and output in the shared heap (zero-copy), and verifies every
 * output.
 *
 * Exit status: 0 success, 1 a run failed or a result was wrong, 2 bad usage.
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
#include "mpk/shm.h"
#include "mpk/topo.h"

#define PROG "mpk-square"
#define MAX_N ((uint64_t)1 << 36)

static const char usage_text[] =
    "usage: mpk-square [options] VALUE...\n"
    "       mpk-square [options] --n N\n"
    "\n"
    "Square numbers in parallel. With VALUEs, print their squares in input\n"
    "order as a list, e.g. mpk-square 2 4 6 8 prints [4, 16, 36, 64]. With\n"
    "--n N, square 0..N-1 in each mode and report elements/s and GB/s\n"
    "(8-byte reads plus 8-byte writes per element); every output is checked.\n"
    "\n"
    "  -n, --n N          throughput run over N elements (e.g. 2^26, 1e8)\n"
    "  -T, --type T       long (default) or double\n"
    "  -m, --mode MODES   comma-separated serial, omp, pool, threads, hybrid\n"
    "                     or all (default: pool with VALUEs, all with --n;\n"
    "                     OpenMP runs before the pools)\n"
    "  -a, --api A        pool modes: range (mpk_pool_for over index ranges,\n"
    "                     the default with --n) or map (mpk_pool_map, one\n"
    "                     call per element, the default with VALUEs)\n"
    "  -w, --workers N    cores to use (default: the allowed physical cores);\n"
    "                     hybrid runs N / K processes of K threads\n"
    "  -t, --threads-per-worker K  OpenMP team per hybrid worker (default 2)\n"
    "  -s, --schedule S   pool schedule: static (default), cyclic, dynamic,\n"
    "                     guided\n"
    "  -c, --chunk C      pool chunk in elements (default: automatic)\n"
    "  -b, --bind B       pool binding: compact (default), scatter, none, or\n"
    "                     a cpuset LIST\n"
    "  -r, --repeat R     timed runs per mode, median reported (default 3)\n"
    "  -j, --json         print one JSON object\n"
    "  -h, --help         print this help\n"
    "\n"
    "Negative VALUEs go after \"--\": mpk-square -- -3 4.\n"
    "Exit status: 0 success, 1 a run failed or a result was wrong, 2 bad "
    "usage.\n";

typedef struct {
  app_opts app; /* --mode, --workers, ..., --repeat, --json */
  uint64_t n;   /* 0: values mode */
  app_sq_type type;
  app_sq_api api;
  int api_given;
} options;

static int parse_options(int argc, char **argv, options *o) {
  static const struct option longopts[] = {
      APP_OPTS_LONG,
      {"n", required_argument, NULL, 'n'},
      {"type", required_argument, NULL, 'T'},
      {"api", required_argument, NULL, 'a'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  opterr = 0;
  int c, st;
  /* Options may come before or after the VALUEs (getopt permutes them);
     negative VALUEs go after "--" (mpk-square -- -3 4). */
  while ((c = getopt_long(argc, argv, ":n:T:a:h" APP_OPTS_SHORT, longopts,
                          NULL)) != -1) {
    switch (c) {
    case 'n':
      if (app_parse_count(optarg, 1, MAX_N, &o->n) != 0)
        return app_usage(PROG, "bad --n '%s' (want 1..2^36, e.g. 2^26)",
                         optarg);
      break;
    case 'T':
      if (strcmp(optarg, "long") == 0)
        o->type = APP_SQ_LONG;
      else if (strcmp(optarg, "double") == 0)
        o->type = APP_SQ_DOUBLE;
      else
        return app_usage(PROG, "bad --type '%s' (want long or double)", optarg);
      break;
    case 'a':
      if (strcmp(optarg, "range") == 0)
        o->api = APP_SQ_RANGE;
      else if (strcmp(optarg, "map") == 0)
        o->api = APP_SQ_MAP;
      else
        return app_usage(PROG, "bad --api '%s' (want range or map)", optarg);
      o->api_given = 1;
      break;
    case 'h': fputs(usage_text, stdout); return 0;
    default:
      if ((st = app_opts_parse(PROG, c, argv, &o->app)) >= 0)
        return st;
    }
  }
  if (o->n > 0 && optind < argc)
    return app_usage(PROG, "give VALUEs or --n, not both ('%s')", argv[optind]);
  if (o->n == 0 && optind == argc)
    return app_usage(PROG, "nothing to square: give VALUEs or --n N");
  if (o->n > 0 && o->type == APP_SQ_LONG && o->n - 1 > APP_SQUARE_LONG_MAX)
    return app_usage(PROG, "--n %llu: (n-1)^2 overflows a long",
                     (unsigned long long)o->n);
  return -1;
}

/* The pool schedule of --schedule and --chunk (0: automatic). */
static mpk_sched pool_sched(const options *o) {
  return (mpk_sched){.kind = o->app.sched, .chunk = (size_t)o->app.chunk};
}

/* ------------------------------------------------------------------------ */
/* VALUE... : the seed                                                       */

static void print_value(const options *o, const void *buf, size_t i) {
  if (o->type == APP_SQ_LONG)
    printf("%ld", ((const long *)buf)[i]);
  else
    printf("%.17g", ((const double *)buf)[i]);
}

static void print_list(const options *o, const void *buf, size_t n) {
  putchar('[');
  for (size_t i = 0; i < n; i++) {
    if (i)
      fputs(", ", stdout);
    print_value(o, buf, i);
  }
  putchar(']');
}

static int run_values(const options *o, int nvals, char **vals) {
  size_t n = (size_t)nvals;
  void *in = mpk_shm_alloc(n * 8), *out = mpk_shm_alloc(n * 8);
  void *first = malloc(n * 8);
  int status = 0;
  if (in == NULL || out == NULL || first == NULL) {
    fprintf(stderr, PROG ": out of memory\n");
    status = 1;
    goto done;
  }
  for (size_t i = 0; i < n; i++) {
    if (o->type == APP_SQ_LONG) {
      long v;
      if (app_parse_long(vals[i], -APP_SQUARE_LONG_MAX, APP_SQUARE_LONG_MAX,
                         &v) != 0) {
        status = app_usage(PROG,
                           "bad VALUE '%s' (want an integer whose square "
                           "fits a long; --type double for reals)",
                           vals[i]);
        goto done;
      }
      ((long *)in)[i] = v;
    } else {
      double v;
      if (app_parse_double(vals[i], -1.3e154, 1.3e154, &v) != 0) {
        status =
            app_usage(PROG, "bad VALUE '%s' (want a finite number)", vals[i]);
        goto done;
      }
      ((double *)in)[i] = v;
    }
  }
  app_plan plan[APP_MODE_COUNT];
  int np = app_plan_modes(&o->app, plan);
  app_square_problem pb = {o->type, o->api, n, in, out, pool_sched(o)};
  for (int k = 0; k < np; k++) {
    app_exec ex;
    memset(out, 0, n * 8);
    char why[MPK_ERRMSG_MAX + 16];
    int rc = app_exec_open(&ex, plan[k].mode, plan[k].workers, plan[k].tpw,
                           o->app.bind, o->app.cpuset);
    if (rc == MPK_OK) {
      rc = app_square_run(&ex, &pb);
      if (rc != MPK_OK)
        app_why(why, sizeof why, rc); /* before close's own calls */
      app_exec_close(&ex);
    } else {
      app_why(why, sizeof why, rc);
    }
    if (rc != MPK_OK) {
      fprintf(stderr, PROG ": mode %s failed: %s\n",
              app_mode_get(plan[k].mode)->name, why);
      status = 1;
      goto done;
    }
    if (k == 0) {
      memcpy(first, out, n * 8);
    } else if (memcmp(first, out, n * 8) != 0) {
      fprintf(stderr, PROG ": mode %s disagrees with mode %s\n",
              app_mode_get(plan[k].mode)->name,
              app_mode_get(plan[0].mode)->name);
      status = 1;
      goto done;
    }
  }
  if (o->app.json) {
    printf("{\"type\": \"%s\", \"input\": ",
           o->type == APP_SQ_LONG ? "long" : "double");
    print_list(o, in, n);
    printf(", \"output\": ");
    print_list(o, first, n);
    printf("}\n");
  } else {
    print_list(o, first, n);
    putchar('\n');
  }
done:
  free(first);
  mpk_shm_free(in);
  mpk_shm_free(out);
  return status;
}

/* ------------------------------------------------------------------------ */
/* --n N : throughput                                                        */

typedef struct {
  app_plan p;
  int rc, verified, cores;
  size_t bad_index;
  app_stats st;
  char why[MPK_ERRMSG_MAX + 16]; /* rc != MPK_OK: app_why's text */
} row;

typedef struct {
  app_exec *ex;
  const app_square_problem *pb;
  int verified;
  size_t bad_index;
} run_arg;

/* Poison the output, run, and check every element (only the run is timed:
   app_time_runs times the whole call, so poison and check live outside). */
static int run_once(void *p) {
  run_arg *a = p;
  return app_square_run(a->ex, a->pb);
}

static void verify(const options *o, const app_square_problem *pb, run_arg *a) {
  size_t bad = o->type == APP_SQ_LONG ? app_square_check_long(pb->out, pb->n)
                                      : app_square_check_double(pb->out, pb->n);
  if (bad != pb->n && a->verified) {
    a->verified = 0;
    a->bad_index = bad;
  }
}

static void measure(row *r, const options *o, const app_square_problem *pb) {
  app_exec ex;
  r->verified = 1;
  r->rc = app_exec_open(&ex, r->p.mode, r->p.workers, r->p.tpw, o->app.bind,
                        o->app.cpuset);
  if (r->rc != MPK_OK) {
    app_why(r->why, sizeof r->why, r->rc);
    return;
  }
  r->cores = app_exec_cores(&ex);
  run_arg a = {&ex, pb, 1, 0};
  double times[APP_MAX_REPEAT];
  /* Warm-up at full size: workers fault the shared pages into their own page
     tables once; later runs measure the steady state. */
  r->rc = run_once(&a);
  for (int i = 0; r->rc == MPK_OK && i < o->app.repeat; i++) {
    memset(pb->out, 0xff, pb->n * 8); /* -1 / NaN: a skipped element shows */
    r->rc = app_time_runs(run_once, &a, 0, 1, &times[i]);
    if (r->rc == MPK_OK)
      verify(o, pb, &a);
  }
  if (r->rc != MPK_OK)
    app_why(r->why, sizeof r->why, r->rc);
  if (r->rc == MPK_OK && app_stats_compute(times, o->app.repeat, &r->st) != 0) {
    r->rc = MPK_ENOMEM;
    snprintf(r->why, sizeof r->why,
             "MPK_ENOMEM: no memory for the "
             "statistics");
  }
  r->verified = a.verified;
  r->bad_index = a.bad_index;
  app_exec_close(&ex);
}

static int find_mode(const row *rows, int n, app_mode m) {
  for (int i = 0; i < n; i++)
    if (rows[i].p.mode == m && rows[i].rc == MPK_OK)
      return i;
  return -1;
}

typedef struct {
  double eps, gbs, speedup, efficiency, vs_omp;
} derived;

static derived derive(const row *rows, int nrows, int i, uint64_t n) {
  derived d = {NAN, NAN, NAN, NAN, NAN};
  const row *r = &rows[i];
  if (r->rc != MPK_OK)
    return d;
  d.eps = (double)n / r->st.median;
  d.gbs = (double)n * 16.0 / r->st.median / 1e9;
  int s = find_mode(rows, nrows, APP_MODE_SERIAL);
  if (s >= 0) {
    d.speedup = app_speedup(rows[s].st.median, r->st.median);
    d.efficiency = app_efficiency(d.speedup, r->cores);
  }
  int b = find_mode(rows, nrows, APP_MODE_OMP);
  if (b >= 0)
    d.vs_omp = app_speedup(rows[b].st.median, r->st.median);
  return d;
}

static void print_results(const options *o, const row *rows, int nrows) {
  const char *type = o->type == APP_SQ_LONG ? "long" : "double";
  const char *api = o->api == APP_SQ_RANGE ? "range" : "map";
  if (o->app.json) {
    printf("{\"n\": %llu, \"type\": \"%s\", \"api\": \"%s\", "
           "\"bytes_per_element\": 16, \"repeat\": %d, \"results\": [",
           (unsigned long long)o->n, type, api, o->app.repeat);
    int first = 1;
    for (int i = 0; i < nrows; i++) {
      const row *r = &rows[i];
      if (r->rc != MPK_OK)
        continue;
      derived d = derive(rows, nrows, i, o->n);
      printf("%s{\"mode\": ", first ? "" : ", ");
      first = 0;
      app_json_str(stdout, app_mode_get(r->p.mode)->name);
      printf(", \"workers\": %d, \"threads_per_worker\": %d, \"seconds\": ",
             r->p.workers, r->p.tpw);
      app_json_num(stdout, r->st.median);
      app_json_field(stdout, "seconds_min", r->st.min);
      app_json_field(stdout, "seconds_max", r->st.max);
      app_json_field(stdout, "elements_per_second", d.eps);
      app_json_field(stdout, "gb_per_second", d.gbs);
      app_json_field(stdout, "speedup", d.speedup);
      app_json_field(stdout, "efficiency", d.efficiency);
      app_json_field(stdout, "vs_omp", d.vs_omp);
      printf(", \"verified\": %s}", r->verified ? "true" : "false");
    }
    printf("]}\n");
    return;
  }
  printf("mpk-square: %llu %ss (%.1f MiB in + out), api %s, schedule %s, "
         "median of %d\n",
         (unsigned long long)o->n, type, (double)o->n * 16 / 1048576.0, api,
         app_sched_name(o->app.sched), o->app.repeat);
  printf("%-8s %-8s %-10s %-12s %-8s %-8s %-10s %-8s %s\n", "mode", "workers",
         "time [s]", "elements/s", "GB/s", "speedup", "efficiency", "vs omp",
         "check");
  for (int i = 0; i < nrows; i++) {
    const row *r = &rows[i];
    char w[32];
    printf("%-8s %-8s ", app_mode_get(r->p.mode)->name,
           app_workers_label(w, sizeof w, r->p.workers, r->p.tpw));
    if (r->rc != MPK_OK) {
      printf("failed: %s\n", r->why);
      continue;
    }
    derived d = derive(rows, nrows, i, o->n);
    printf("%-10.4f %-12.3e %-8.2f ", r->st.median, d.eps, d.gbs);
    if (isfinite(d.speedup))
      printf("%-8.2f %-10.2f ", d.speedup, d.efficiency);
    else
      printf("%-8s %-10s ", "-", "-");
    if (isfinite(d.vs_omp))
      printf("%-8.2f ", d.vs_omp);
    else
      printf("%-8s ", "-");
    if (r->verified)
      printf("ok\n");
    else
      printf("WRONG at %zu\n", r->bad_index);
  }
}

static int run_throughput(const options *o) {
  size_t n = (size_t)o->n;
  void *in = mpk_shm_alloc(n * 8), *out = mpk_shm_alloc(n * 8);
  int status = 0;
  if (in == NULL || out == NULL) {
    fprintf(stderr,
            PROG ": cannot allocate 2 x %zu bytes in the shared heap (see "
                 "MPK_SHM_SIZE)\n",
            n * 8);
    mpk_shm_free(in);
    mpk_shm_free(out);
    return 1;
  }
  if (o->type == APP_SQ_LONG)
    for (size_t i = 0; i < n; i++)
      ((long *)in)[i] = (long)i;
  else
    for (size_t i = 0; i < n; i++)
      ((double *)in)[i] = (double)i;
  app_plan plan[APP_MODE_COUNT];
  int np = app_plan_modes(&o->app, plan);
  row rows[APP_MODE_COUNT];
  app_square_problem pb = {o->type, o->api, n, in, out, pool_sched(o)};
  for (int k = 0; k < np; k++) {
    memset(&rows[k], 0, sizeof rows[k]);
    rows[k].p = plan[k];
    measure(&rows[k], o, &pb);
    if (rows[k].rc != MPK_OK) {
      fprintf(stderr, PROG ": mode %s failed: %s\n",
              app_mode_get(plan[k].mode)->name, rows[k].why);
      status = 1;
    } else if (!rows[k].verified) {
      fprintf(stderr, PROG ": mode %s: wrong result at element %zu\n",
              app_mode_get(plan[k].mode)->name, rows[k].bad_index);
      status = 1;
    }
  }
  print_results(o, rows, np);
  mpk_shm_free(in);
  mpk_shm_free(out);
  return status;
}

int main(int argc, char **argv) {
  options o;
  memset(&o, 0, sizeof o);
  app_opts_init(&o.app, MAX_N);
  o.type = APP_SQ_LONG;
  int st = parse_options(argc, argv, &o);
  if (st >= 0)
    return st;
  if (!o.app.modes_given) {
    o.app.modes = o.n > 0 ? ~0u : 1u << APP_MODE_POOL;
    o.app.all = o.n > 0;
  }
  if (!o.api_given)
    o.api = o.n > 0 ? APP_SQ_RANGE : APP_SQ_MAP;
  st = o.n > 0 ? run_throughput(&o)
               : run_values(&o, argc - optind, argv + optind);
  if (fflush(stdout) != 0 || ferror(stdout))
    return 1;
  return st;
}
