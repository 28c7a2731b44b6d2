/* mpk-scale: the scaling driver. Sweeps worker counts, modes (OpenMP and
 * the mpk pool modes) and kernels (pi: compute-bound, square: memory-bound,
 * imbalanced: where dynamic and guided schedules beat static), in strong
 * and weak scaling, against a serial baseline measured in the same run;
 * with --ranks also ranks x workers of the pool over MPI (mpk-pi --mode mpi
 * launched under mpirun, one launch per point), with --hosts hosts x ranks
 * per host x workers over the hosts of a hostfile; measures every point in
 * rounds (each round its own process, the points in a shuffled order) and
 * writes JSON and CSV. With --baseline or --against it is a performance
 * regression check (scale_compare.c); the rounds of several processes and
 * of an A/B run are driven by scale_rounds.c, the options parsed by
 * scale_cli.c.
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
#include "scale_cli.h"
#include "scale_rounds.h"
#include "scale_stats.h"

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
  char why[MPK_ERRMSG_MAX + 16];
  p->repeats = 0;
  if (scale_point_reserve(p, s->o->repeat) != 0) {
    p->rc = MPK_ENOMEM;
    snprintf(why, sizeof why, "MPK_ENOMEM: no memory for the times");
  } else {
    p->rc = run_point(&a); /* warm-up: wakes the team, faults pages in */
    for (int i = 0; p->rc == MPK_OK && i < s->o->repeat; i++) {
      if (p->kernel == K_SQUARE && i == s->o->repeat - 1)
        memset(s->sq_out, 0xff, p->size * sizeof(double)); /* NaN */
      p->rc = app_time_runs(run_point, &a, 0, 1, &p->times[i]);
      p->round[i] = 0;
      p->repeats = i + 1;
    }
    if (p->rc != MPK_OK)
      app_why(why, sizeof why, p->rc);
  }
  p->rounds = 1;
  if (p->rc == MPK_OK)
    p->value = a.value;
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
  progress(s, p);
}

static size_t base_size(const options *o, scale_kernel k) {
  return (size_t)(k == K_PI       ? o->pi_steps
                  : k == K_SQUARE ? o->square_n
                                  : o->imb_n);
}

/* Point n of pts, cleared, with its kernel, scaling, mode and schedule. */
static scale_point *new_point(scale_point *pts, int n, scale_kernel k,
                              const char *scaling, app_mode m,
                              mpk_sched_kind sched) {
  scale_point *p = &pts[n];
  memset(p, 0, sizeof *p);
  p->kernel = k;
  p->scaling = scaling;
  p->mode = m;
  p->sched = sched;
  return p;
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
          scale_point *p =
              new_point(pts, n, (scale_kernel)k, scale_scaling_names[sc], m,
                        scale_sched_kinds[si]);
          p->chunk = k == K_IMB && scale_sched_kinds[si] != MPK_SCHED_STATIC
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
      scale_point *p = new_point(pts, n, (scale_kernel)k, "serial",
                                 APP_MODE_SERIAL, MPK_SCHED_STATIC);
      p->workers = p->tpw = p->cores = p->ranks = 1;
      p->size = base_size(o, (scale_kernel)k);
    }
    n++;
  }
  return n;
}

/* MPI points: pi for each ranks x workers and scaling, appended; with
   --hosts for each host count x ranks per host x workers (hosts 0: one
   pass over --ranks). */
static int plan_mpi(const options *o, scale_point *pts, int n) {
  const int over = o->hostfile != NULL;
  const int nh = over ? o->nhost_counts : 1;
  const uint64_t *per = over ? o->ranks_per_host : o->ranks;
  const int nper = over ? o->nranks_per_host : o->nranks;
  for (int h = 0; h < nh; h++)
    for (int r = 0; r < nper; r++)
      for (int w = 0; w < o->nrank_workers; w++)
        for (int sc = 0; sc < S_COUNT; sc++) {
          if (!(o->scalings & (1u << sc)))
            continue;
          if (pts != NULL) {
            scale_point *p = new_point(pts, n, K_PI, scale_scaling_names[sc],
                                       APP_MODE_MPI, MPK_SCHED_STATIC);
            p->hosts = over ? (int)o->host_counts[h] : 0;
            p->ranks_per_host = over ? (int)per[r] : 0;
            p->ranks = over ? p->hosts * p->ranks_per_host : (int)per[r];
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
      snprintf(p->check, sizeof p->check,
               "MPK_ENOMEM: no memory for the statistics");
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
    p->speedup_lo = p->speedup_hi = p->efficiency_lo = p->efficiency_hi = NAN;
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
    scale_side ss, sp;
    if (p == s || scale_side_of_times(s->times, s->round, s->repeats, &ss) ||
        scale_side_of_times(p->times, p->round, p->repeats, &sp))
      continue;
    double w = scale_log_halfwidth(&ss, &sp, 0.025); /* 95%, two-sided */
    p->speedup_lo = p->speedup * exp(-w);
    p->speedup_hi = p->speedup * exp(w);
    p->efficiency_lo = p->efficiency * exp(-w);
    p->efficiency_hi = p->efficiency * exp(w);
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
    k = plan_exec(o, ep[e].mode, ep[e].workers, ep[e].tpw, ep[e].cores, pts, k);
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
static int shuffled(gsl_rng *rng, const unsigned char *sel, int first, int last,
                    int *order) {
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
    int rc =
        app_exec_open(&ex, p->mode, p->workers, p->tpw, MPK_BIND_COMPACT, NULL);
    if (rc != MPK_OK) {
      char why[MPK_ERRMSG_MAX + 16];
      app_why(why, sizeof why, rc);
      p->rc = rc;
      snprintf(p->check, sizeof p->check, "failed: %.87s", why); /* [96] */
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
  char *argv[56];
  char num[12][32];
  char workers[512], rank_workers[512], host_counts[512], ranks_per_host[512];
} child_args;

static void sweep_args(const options *o, child_args *c) {
  int k = 0, m = 0;
  c->rank_workers[0] = c->host_counts[0] = c->ranks_per_host[0] = '\0';
#define ARG(name, val)                                                         \
  (c->argv[k++] = (char *)(name), c->argv[k++] = (char *)(val))
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
  if (o->hostfile != NULL) {
    join_counts(c->host_counts, sizeof c->host_counts, o->host_counts,
                o->nhost_counts);
    join_counts(c->ranks_per_host, sizeof c->ranks_per_host, o->ranks_per_host,
                o->nranks_per_host);
    ARG("--hosts", o->hostfile);
    ARG("--host-counts", c->host_counts);
    ARG("--ranks-per-host", c->ranks_per_host);
  }
  if (o->nranks > 0 || o->hostfile != NULL) {
    join_counts(c->rank_workers, sizeof c->rank_workers, o->rank_workers,
                o->nrank_workers);
    if (o->nranks > 0)
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
                                const child_args *ca, const char *side) {
  const int mpi = o->nranks > 0 || o->hostfile != NULL;
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
                        .workers = ca->workers,
                        .scalings = o->scalings_s,
                        .schedules = o->scheds_s,
                        .ranks = o->nranks ? o->ranks_s : NULL,
                        .rank_workers = mpi ? ca->rank_workers : NULL,
                        .hostfile = o->hostfile,
                        .hosts = &o->hosts,
                        .host_counts = ca->host_counts,
                        .ranks_per_host = ca->ranks_per_host,
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
      char over[64] = "";
      if (pts[i].hosts > 0)
        snprintf(over, sizeof over, " over %d hosts x %d ranks", pts[i].hosts,
                 pts[i].ranks_per_host);
      fprintf(stderr, PROG ": %s%s%s %s %s workers %d%s%s: %s\n",
              side ? side : "", side ? ": " : "",
              scale_kernel_names[pts[i].kernel], pts[i].scaling,
              scale_mode_name(pts[i].mode), pts[i].cores,
              pts[i].mode == APP_MODE_MPI ? " (ranks x workers)" : "", over,
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
    if (report_failures(pts[s], npts,
                        sides == 2 ? (s ? "baseline" : "candidate") : NULL))
      status = 1;
  }
  char *cmd = join_argv(argc, argv);
  char name[300];
  child_args ca; /* the resolved lists, for the config */
  sweep_args(o, &ca);
  for (int s = 0; s < sides; s++) {
    if (!o->quiet)
      scale_print_mpi(stdout, pts[s], npts);
    scale_config cfg = make_config(
        o, cmd, &ca, sides == 2 ? (s ? "baseline" : "candidate") : NULL);
    snprintf(name, sizeof name, "%s%s", o->name, s ? "-baseline" : "");
    if (scale_write(o->out, name, &cfg, &prov[s], pts[s], npts) != 0)
      status = 1;
    else if (!o->quiet)
      fprintf(stderr, PROG ": %d points in %s/%s.json and .csv\n", npts, o->out,
              name);
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
    int c = scale_compare_files(have_base ? o->baseline : other, cand, 0, &cmp,
                                stdout);
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
  int st = scale_parse_options(argc, argv, &o);
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
    return o.micro
               ? scale_compare_files(o.micro, o.compare, 1, &o.cmp, stdout)
               : scale_compare_files(o.baseline, o.compare, 0, &o.cmp, stdout);
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
  st = run_sweep(&o, argc, argv);
  scale_hosts_free(&o.hosts);
  return st;
}
