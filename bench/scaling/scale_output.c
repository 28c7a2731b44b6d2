/* scale_output.c - mpk-scale's JSON and CSV files. See scale.h. */
#include <errno.h>
#include <gsl/gsl_version.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <time.h>

#include "app_cli.h"
#include "app_json.h"
#include "app_kernels.h"
#include "mpk/topo.h"
#include "scale.h"
#include "scale_buildinfo.h" /* generated at every build: git commit, dirty */
#include "scale_stats.h"

#ifndef MPK_VERSION_STRING
#define MPK_VERSION_STRING "unknown"
#endif
#ifndef MPK_SCALE_BUILD_TYPE
#define MPK_SCALE_BUILD_TYPE ""
#endif
#ifndef MPK_SCALE_C_FLAGS
#define MPK_SCALE_C_FLAGS ""
#endif

const char *const scale_kernel_names[K_COUNT] = {"pi", "square", "imbalanced"};
const char *const scale_scaling_names[S_COUNT] = {"strong", "weak"};

const char *scale_mode_name(app_mode m) {
  const app_mode_info *info = app_mode_get(m);
  return info != NULL ? info->name : m == APP_MODE_MPI ? "mpi" : "?";
}

const char *scale_rate_unit(scale_kernel k) {
  return k == K_PI ? "steps/s" : k == K_SQUARE ? "GB/s" : "elements/s";
}

const char *scale_fmt_time(char *buf, size_t cap, double s) {
  if (!isfinite(s))
    snprintf(buf, cap, "-");
  else if (s < 1e-6)
    snprintf(buf, cap, "%.4g ns", s * 1e9);
  else if (s < 1e-3)
    snprintf(buf, cap, "%.4g us", s * 1e6);
  else if (s < 1.0)
    snprintf(buf, cap, "%.4g ms", s * 1e3);
  else
    snprintf(buf, cap, "%.4g s", s);
  return buf;
}

/* "v [lo, hi]" (times mul, `digits` decimals, then suffix), "v" without
   an interval, "-" without v. */
static const char *fmt_ci(char *buf, size_t cap, double v, double lo, double hi,
                          double mul, int digits, const char *suffix) {
  if (!isfinite(v))
    snprintf(buf, cap, "-");
  else if (isfinite(lo) && isfinite(hi))
    snprintf(buf, cap, "%.*f%s [%.*f, %.*f]", digits, mul * v, suffix, digits,
             mul * lo, digits, mul * hi);
  else
    snprintf(buf, cap, "%.*f%s", digits, mul * v, suffix);
  return buf;
}

void scale_print_mpi(FILE *out, const scale_point *pts, int n) {
  int any = 0;
  for (int i = 0; i < n; i++)
    any |= pts[i].mode == APP_MODE_MPI;
  if (!any)
    return;
  fprintf(out, "%-7s %5s %10s %5s %7s %5s %10s  %-22s  %-22s  %-18s  %s\n",
          "scaling", "hosts", "ranks/host", "ranks", "workers", "cores",
          "median", "speedup [95%]", "efficiency [95%]", "value", "check");
  for (int i = 0; i < n; i++) {
    const scale_point *p = &pts[i];
    if (p->mode != APP_MODE_MPI)
      continue;
    char h[16] = "-", rph[16] = "-", t[32] = "-", sp[64] = "-", ef[64] = "-",
         v[32] = "-";
    if (p->hosts > 0) {
      snprintf(h, sizeof h, "%d", p->hosts);
      snprintf(rph, sizeof rph, "%d", p->ranks_per_host);
    }
    if (p->rc == 0) {
      scale_fmt_time(t, sizeof t, p->st.median);
      fmt_ci(sp, sizeof sp, p->speedup, p->speedup_lo, p->speedup_hi, 1, 2,
             "x");
      fmt_ci(ef, sizeof ef, p->efficiency, p->efficiency_lo, p->efficiency_hi,
             100, 0, "%");
      snprintf(v, sizeof v, "%.16g", p->value);
    }
    fprintf(out, "%-7s %5s %10s %5d %7d %5d %10s  %-22s  %-22s  %-18s  %s\n",
            p->scaling, h, rph, p->ranks, p->workers, p->cores, t, sp, ef, v,
            p->check);
  }
}

int scale_point_reserve(scale_point *p, int n) {
  if (n <= p->cap)
    return 0;
  double *t = realloc(p->times, (size_t)n * sizeof *t);
  if (t == NULL)
    return -1;
  p->times = t;
  int *r = realloc(p->round, (size_t)n * sizeof *r);
  if (r == NULL)
    return -1;
  p->round = r;
  p->cap = n;
  return 0;
}

void scale_point_free(scale_point *p) {
  free(p->times);
  free(p->round);
  p->times = NULL;
  p->round = NULL;
  p->cap = p->repeats = 0;
}

int scale_make_dirs(const char *dir) {
  char path[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof path) {
    errno = ENAMETOOLONG;
    return -1;
  }
  memcpy(path, dir, len + 1);
  for (char *p = path + 1; *p; p++) {
    if (*p != '/')
      continue;
    *p = '\0';
    if (mkdir(path, 0777) != 0 && errno != EEXIST)
      return -1;
    *p = '/';
  }
  if (mkdir(path, 0777) != 0 && errno != EEXIST)
    return -1;
  struct stat st;
  return stat(path, &st) == 0 && S_ISDIR(st.st_mode) ? 0 : -1;
}

/* The "model name" line of /proc/cpuinfo into buf ("unknown" if none). */
static void cpu_model(char *buf, size_t cap) {
  snprintf(buf, cap, "unknown");
  FILE *f = fopen("/proc/cpuinfo", "r");
  if (f == NULL)
    return;
  char line[512];
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, "model name", 10) != 0)
      continue;
    char *colon = strchr(line, ':');
    if (colon == NULL)
      break;
    colon++;
    while (*colon == ' ' || *colon == '\t')
      colon++;
    colon[strcspn(colon, "\n")] = '\0';
    snprintf(buf, cap, "%s", colon);
    break;
  }
  fclose(f);
}

/* The first line of a file into buf ("" if unreadable). */
static void first_line(const char *path, char *buf, size_t cap) {
  buf[0] = '\0';
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return;
  if (fgets(buf, (int)cap, f) == NULL)
    buf[0] = '\0';
  buf[strcspn(buf, "\n")] = '\0';
  fclose(f);
}

void scale_prov_here(scale_prov *p) {
  memset(p, 0, sizeof *p);
  struct utsname u;
  if (uname(&u) == 0) {
    snprintf(p->hostname, sizeof p->hostname, "%s", u.nodename);
    snprintf(p->kernel, sizeof p->kernel, "%s", u.release);
  }
  cpu_model(p->cpu_model, sizeof p->cpu_model);
  if (mpk_topo_allowed(p->allowed, sizeof p->allowed) != 0)
    p->allowed[0] = '\0';
  first_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor",
             p->governor, sizeof p->governor);
  p->cores = mpk_core_count();
  p->pus = mpk_pu_count();
  p->cpu_count = mpk_cpu_count();
  double load[3];
  int ok = getloadavg(load, 3) == 3;
  for (int i = 0; i < 3; i++) {
    p->load_start[i] = NAN;
    p->load_end[i] = ok ? load[i] : NAN;
  }
  snprintf(p->mpk, sizeof p->mpk, "%s", MPK_VERSION_STRING);
#if defined(__clang__)
  snprintf(p->compiler, sizeof p->compiler, "clang " __clang_version__);
#elif defined(__GNUC__)
  snprintf(p->compiler, sizeof p->compiler, "gcc " __VERSION__);
#endif
  snprintf(p->c_flags, sizeof p->c_flags, "%s", MPK_SCALE_C_FLAGS);
  snprintf(p->build_type, sizeof p->build_type, "%s", MPK_SCALE_BUILD_TYPE);
  snprintf(p->git_commit, sizeof p->git_commit, "%s", MPK_SCALE_GIT_COMMIT);
  p->git_dirty = MPK_SCALE_GIT_DIRTY;
#ifdef _OPENMP
  snprintf(p->openmp, sizeof p->openmp, "%d", _OPENMP);
#endif
  snprintf(p->gsl, sizeof p->gsl, "%s", GSL_VERSION);
  snprintf(p->hwloc, sizeof p->hwloc, "%s", mpk_topo_hwloc_version());
  snprintf(p->simd_isa, sizeof p->simd_isa, "%s", app_pi_simd_isa());
}

static void str_or_null(FILE *f, const char *key, const char *s) {
  fprintf(f, ", \"%s\": ", key);
  app_json_str(f, s[0] ? s : NULL);
}

static void int_or_null(FILE *f, const char *key, int v) {
  app_json_field(f, key, v >= 0 ? (double)v : NAN);
}

static void load_array(FILE *f, const char *key, const double *l) {
  fprintf(f, ", \"%s\": [", key);
  for (int i = 0; i < 3; i++) {
    fputs(i ? ", " : "", f);
    app_json_num(f, l[i]);
  }
  fputs("]", f);
}

static void write_prov(FILE *f, const scale_prov *p) {
  fprintf(f, "  \"machine\": {\"hostname\": ");
  app_json_str(f, p->hostname[0] ? p->hostname : NULL);
  str_or_null(f, "kernel", p->kernel);
  str_or_null(f, "cpu_model", p->cpu_model);
  fprintf(f, ", \"packages\": %d, \"numa_nodes\": %d", mpk_package_count(),
          mpk_numa_count());
  int_or_null(f, "cores", p->cores);
  int_or_null(f, "pus", p->pus);
  int_or_null(f, "cpu_count", p->cpu_count);
  str_or_null(f, "allowed", p->allowed);
  str_or_null(f, "governor", p->governor);
  load_array(f, "load_average_at_start", p->load_start);
  load_array(f, "load_average_at_end", p->load_end);
  fprintf(f, "},\n  \"build\": {\"mpk\": ");
  app_json_str(f, p->mpk[0] ? p->mpk : NULL);
  str_or_null(f, "compiler", p->compiler);
  str_or_null(f, "c_flags", p->c_flags);
  str_or_null(f, "build_type", p->build_type);
  str_or_null(f, "git_commit", p->git_commit);
  fprintf(f, ", \"git_dirty\": %s",
          p->git_dirty < 0 ? "null"
          : p->git_dirty   ? "true"
                           : "false");
  fprintf(f, ", \"openmp\": %s", p->openmp[0] ? p->openmp : "null");
  str_or_null(f, "gsl", p->gsl);
  str_or_null(f, "hwloc", p->hwloc);
  str_or_null(f, "simd_isa", p->simd_isa);
  fprintf(f, "},\n");
}

/* One provenance field compared: prints a line when both are known and
   differ; returns 1 then. */
static int diff_str(FILE *out, const char *tag, const char *what, const char *a,
                    const char *b) {
  if (!a[0] || !b[0] || strcmp(a, b) == 0)
    return 0;
  fprintf(out, "%s: %s: baseline '%s', candidate '%s'\n", tag, what, a, b);
  return 1;
}

static int diff_int(FILE *out, const char *what, int a, int b) {
  if (a < 0 || b < 0 || a == b)
    return 0;
  fprintf(out, "mismatch: %s: baseline %d, candidate %d\n", what, a, b);
  return 1;
}

int scale_prov_diff(const scale_prov *a, const scale_prov *b, FILE *out) {
  int n = 0;
  n += diff_str(out, "mismatch", "CPU model", a->cpu_model, b->cpu_model);
  n += diff_int(out, "physical cores", a->cores, b->cores);
  n += diff_int(out, "PUs", a->pus, b->pus);
  n += diff_int(out, "CPUs", a->cpu_count, b->cpu_count);
  n += diff_str(out, "mismatch", "allowed cpuset", a->allowed, b->allowed);
  n += diff_str(out, "mismatch", "compiler", a->compiler, b->compiler);
  n += diff_str(out, "mismatch", "compiler flags", a->c_flags, b->c_flags);
  n += diff_str(out, "mismatch", "build type", a->build_type, b->build_type);
  diff_str(out, "note", "host", a->hostname, b->hostname);
  diff_str(out, "note", "kernel", a->kernel, b->kernel);
  diff_str(out, "note", "governor", a->governor, b->governor);
  diff_str(out, "note", "mpk version", a->mpk, b->mpk);
  diff_str(out, "note", "git commit", a->git_commit, b->git_commit);
  if (a->git_dirty >= 0 && b->git_dirty >= 0 && a->git_dirty != b->git_dirty)
    fprintf(out, "note: git tree dirty: baseline %s, candidate %s\n",
            a->git_dirty ? "yes" : "no", b->git_dirty ? "yes" : "no");
  return n;
}

static void write_point_json(FILE *f, const scale_point *p) {
  fprintf(f, "    {\"kernel\": \"%s\", \"scaling\": \"%s\", \"mode\": ",
          scale_kernel_names[p->kernel], p->scaling);
  app_json_str(f, scale_mode_name(p->mode));
  fprintf(f, ", \"schedule\": \"%s\", \"chunk\": %zu, \"ranks\": %d",
          app_sched_name(p->sched), p->chunk, p->ranks);
  int_or_null(f, "hosts", p->hosts > 0 ? p->hosts : -1);
  int_or_null(f, "ranks_per_host", p->hosts > 0 ? p->ranks_per_host : -1);
  fprintf(f,
          ", \"workers\": %d, \"threads_per_worker\": %d, \"cores\": %d, "
          "\"size\": %zu, \"repeats\": %d, \"ok\": %s, \"check\": ",
          p->workers, p->tpw, p->cores, p->size, p->rc == 0 ? p->repeats : 0,
          p->rc == 0 ? "true" : "false");
  app_json_str(f, p->check);
  int ok = p->rc == 0;
  static const char *const names[] = {
      "median", "min",       "max",     "q25",        "q75",        "mean",
      "sd",     "rel_noise", "speedup", "efficiency", "karp_flatt", "rate"};
  double vals[] = {p->st.median, p->st.min,     p->st.max,     p->st.q25,
                   p->st.q75,    p->st.mean,    p->st.sd,      p->noise,
                   p->speedup,   p->efficiency, p->karp_flatt, p->rate};
  for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
    fprintf(f, ", \"%s\": ", names[i]);
    app_json_num(f, ok ? vals[i] : NAN);
  }
  app_json_field(f, "speedup_lo", ok ? p->speedup_lo : NAN);
  app_json_field(f, "speedup_hi", ok ? p->speedup_hi : NAN);
  app_json_field(f, "efficiency_lo", ok ? p->efficiency_lo : NAN);
  app_json_field(f, "efficiency_hi", ok ? p->efficiency_hi : NAN);
  fprintf(f,
          ", \"rate_unit\": \"%s\", \"value\": ", scale_rate_unit(p->kernel));
  app_json_num(f, ok ? p->value : NAN);
  fprintf(f, ", \"launch\": ");
  app_json_str(f, p->launch[0] ? p->launch : NULL);
  fprintf(f, ", \"rounds\": %d", ok ? p->rounds : 0);
  app_json_field(f, "noise_within", ok ? p->noise_within : NAN);
  app_json_field(f, "noise_between", ok ? p->noise_between : NAN);
  fprintf(f, ", \"round_medians\": [");
  double med[SCALE_MAX_ROUNDS];
  int nm = ok ? scale_round_medians(p->times, p->round, p->repeats, med,
                                    SCALE_MAX_ROUNDS)
              : 0;
  for (int i = 0; i < nm; i++) {
    fputs(i ? ", " : "", f);
    app_json_num(f, med[i]);
  }
  fprintf(f, "], \"times\": [");
  for (int i = 0; ok && i < p->repeats; i++) {
    fputs(i ? ", " : "", f);
    app_json_num(f, p->times[i]);
  }
  fprintf(f, "], \"time_rounds\": [");
  for (int i = 0; ok && i < p->repeats; i++)
    fprintf(f, "%s%d", i ? ", " : "", p->round[i]);
  fprintf(f, "]}");
}

static int write_json(const char *path, const scale_config *c,
                      const scale_prov *prov, const scale_point *pts, int n) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(f,
          "{\n  \"tool\": \"mpk-scale\",\n  \"format\": 2,\n  \"created\": ");
  app_json_str(f, date);
  fprintf(f, ",\n  \"command\": ");
  app_json_str(f, c->command);
  fprintf(f, ",\n");
  write_prov(f, prov);
  fprintf(f,
          "  \"config\": {\"repeat\": %d, \"rounds\": %d, \"seed\": %lu, "
          "\"process_per_round\": %s, \"max_time\": ",
          c->repeat, c->rounds, c->seed,
          c->process_per_round ? "true" : "false");
  app_json_num(f, c->max_time > 0 ? c->max_time : NAN);
  fprintf(f, ", \"against\": ");
  app_json_str(f, c->against);
  fprintf(f, ", \"side\": ");
  app_json_str(f, c->side);
  fprintf(f, ", \"kernels\": ");
  app_json_str(f, c->kernels);
  fprintf(f, ", \"modes\": ");
  app_json_str(f, c->modes);
  fprintf(f, ", \"workers\": ");
  app_json_str(f, c->workers);
  fprintf(f, ", \"scalings\": ");
  app_json_str(f, c->scalings);
  fprintf(f, ", \"schedules\": ");
  app_json_str(f, c->schedules);
  fprintf(f, ", \"ranks\": ");
  app_json_str(f, c->ranks);
  fprintf(f, ", \"rank_workers\": ");
  app_json_str(f, c->rank_workers);
  fprintf(f, ", \"hostfile\": ");
  app_json_str(f, c->hostfile);
  fprintf(f, ", \"hosts\": ");
  if (c->hostfile == NULL || c->hosts == NULL) {
    fputs("null", f);
  } else {
    for (int i = 0; i < c->hosts->n; i++) {
      fputs(i ? ", {\"name\": " : "[{\"name\": ", f);
      app_json_str(f, c->hosts->h[i].name);
      fprintf(f, ", \"slots\": %d}", c->hosts->h[i].slots);
    }
    fputs(c->hosts->n ? "]" : "[]", f);
  }
  fprintf(f, ", \"host_counts\": ");
  app_json_str(f, c->hostfile ? c->host_counts : NULL);
  fprintf(f, ", \"ranks_per_host\": ");
  app_json_str(f, c->hostfile ? c->ranks_per_host : NULL);
  fprintf(f,
          ", \"pi_steps\": %llu, \"square_n\": %llu, \"imbalanced_n\": %llu, "
          "\"imbalanced_chunk\": %llu, \"threads_per_worker\": %d, "
          "\"regression_rule\": {\"test\": \"yuen\", \"trim\": %g, "
          "\"threshold\": %g, \"alpha\": %g, \"min_rounds\": %d}},\n",
          (unsigned long long)c->pi_steps, (unsigned long long)c->square_n,
          (unsigned long long)c->imb_n, (unsigned long long)c->imb_chunk,
          c->tpw, SCALE_TRIM, c->threshold, c->alpha, SCALE_MIN_ROUNDS);
  fprintf(f, "  \"points\": [\n");
  for (int i = 0; i < n; i++) {
    write_point_json(f, &pts[i]);
    fputs(i + 1 < n ? ",\n" : "\n", f);
  }
  fprintf(f, "  ]\n}\n");
  int bad = ferror(f);
  return fclose(f) != 0 || bad ? -1 : 0;
}

static void csv_num(FILE *f, double v) {
  if (isfinite(v))
    fprintf(f, ",%.9g", v);
  else
    fputs(",", f);
}

static int write_csv(const char *path, const scale_point *pts, int n) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "kernel,scaling,mode,schedule,chunk,workers,threads_per_worker,"
             "cores,size,repeats,ok,median_s,min_s,max_s,q25_s,q75_s,"
             "rel_noise,speedup,efficiency,karp_flatt,rate,rate_unit,value,"
             "ranks,rounds,noise_within,noise_between,speedup_lo,speedup_hi,"
             "efficiency_lo,efficiency_hi,hosts,ranks_per_host\n");
  for (int i = 0; i < n; i++) {
    const scale_point *p = &pts[i];
    int ok = p->rc == 0;
    fprintf(f, "%s,%s,%s,%s,%zu,%d,%d,%d,%zu,%d,%d",
            scale_kernel_names[p->kernel], p->scaling, scale_mode_name(p->mode),
            app_sched_name(p->sched), p->chunk, p->workers, p->tpw, p->cores,
            p->size, ok ? p->repeats : 0, ok);
    double v[] = {p->st.median,  p->st.min, p->st.max,  p->st.q25,
                  p->st.q75,     p->noise,  p->speedup, p->efficiency,
                  p->karp_flatt, p->rate};
    for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
      csv_num(f, ok ? v[k] : NAN);
    fprintf(f, ",%s", scale_rate_unit(p->kernel));
    if (ok && isfinite(p->value))
      fprintf(f, ",%.17g", p->value);
    else
      fputs(",", f);
    fprintf(f, ",%d,%d", p->ranks, ok ? p->rounds : 0);
    csv_num(f, ok ? p->noise_within : NAN);
    double iv[] = {p->noise_between, p->speedup_lo, p->speedup_hi,
                   p->efficiency_lo, p->efficiency_hi};
    for (size_t k = 0; k < sizeof iv / sizeof iv[0]; k++)
      csv_num(f, ok ? iv[k] : NAN);
    if (p->hosts > 0)
      fprintf(f, ",%d,%d\n", p->hosts, p->ranks_per_host);
    else
      fputs(",,\n", f);
  }
  int bad = ferror(f);
  return fclose(f) != 0 || bad ? -1 : 0;
}

int scale_write(const char *dir, const char *name, const scale_config *cfg,
                const scale_prov *prov, const scale_point *pts, int n) {
  char json[4096], csv[4096];
  scale_prov here;
  if (prov == NULL) {
    scale_prov_here(&here);
    prov = &here;
  }
  if (scale_make_dirs(dir) != 0) {
    fprintf(stderr, "mpk-scale: cannot create directory %s: %s\n", dir,
            strerror(errno));
    return -1;
  }
  if (snprintf(json, sizeof json, "%s/%s.json", dir, name) >=
          (int)sizeof json ||
      snprintf(csv, sizeof csv, "%s/%s.csv", dir, name) >= (int)sizeof csv) {
    fprintf(stderr, "mpk-scale: output path too long\n");
    return -1;
  }
  if (write_json(json, cfg, prov, pts, n) != 0) {
    fprintf(stderr, "mpk-scale: cannot write %s: %s\n", json, strerror(errno));
    return -1;
  }
  if (write_csv(csv, pts, n) != 0) {
    fprintf(stderr, "mpk-scale: cannot write %s: %s\n", csv, strerror(errno));
    return -1;
  }
  return 0;
}
