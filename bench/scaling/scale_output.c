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

#ifndef MPK_VERSION_STRING
#define MPK_VERSION_STRING "unknown"
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

/* mkdir -p */
static int make_dirs(const char *dir) {
  char path[4096];
  size_t len = strlen(dir);
  if (len == 0 || len >= sizeof path)
    return -1;
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

static void write_machine(FILE *f) {
  char model[256], allowed[256] = "?";
  struct utsname u;
  cpu_model(model, sizeof model);
  if (mpk_topo_allowed(allowed, sizeof allowed) != 0)
    snprintf(allowed, sizeof allowed, "?");
  double load[3] = {NAN, NAN, NAN};
  if (getloadavg(load, 3) != 3)
    load[0] = load[1] = load[2] = NAN;
  fprintf(f, "  \"machine\": {\"hostname\": ");
  app_json_str(f, uname(&u) == 0 ? u.nodename : NULL);
  fprintf(f, ", \"kernel\": ");
  app_json_str(f, uname(&u) == 0 ? u.release : NULL);
  fprintf(f, ", \"cpu_model\": ");
  app_json_str(f, model);
  fprintf(f,
          ", \"packages\": %d, \"numa_nodes\": %d, \"cores\": %d, \"pus\": "
          "%d, \"cpu_count\": %d, \"allowed\": ",
          mpk_package_count(), mpk_numa_count(), mpk_core_count(),
          mpk_pu_count(), mpk_cpu_count());
  app_json_str(f, allowed);
  fprintf(f, ", \"load_average_at_end\": [");
  for (int i = 0; i < 3; i++) {
    fputs(i ? ", " : "", f);
    app_json_num(f, load[i]);
  }
  fprintf(f, "]},\n");
  fprintf(f, "  \"build\": {\"mpk\": ");
  app_json_str(f, MPK_VERSION_STRING);
  fprintf(f, ", \"compiler\": ");
#if defined(__clang__)
  app_json_str(f, "clang " __clang_version__);
#elif defined(__GNUC__)
  app_json_str(f, "gcc " __VERSION__);
#else
  app_json_str(f, "unknown");
#endif
#ifdef _OPENMP
  fprintf(f, ", \"openmp\": %d", _OPENMP);
#else
  fprintf(f, ", \"openmp\": null");
#endif
  fprintf(f, ", \"gsl\": ");
  app_json_str(f, GSL_VERSION);
  fprintf(f, ", \"hwloc\": ");
  app_json_str(f, mpk_topo_hwloc_version());
  fprintf(f, ", \"simd_isa\": ");
  app_json_str(f, app_pi_simd_isa());
  fprintf(f, "},\n");
}

static void write_point_json(FILE *f, const scale_point *p) {
  fprintf(f, "    {\"kernel\": \"%s\", \"scaling\": \"%s\", \"mode\": ",
          scale_kernel_names[p->kernel], p->scaling);
  app_json_str(f, scale_mode_name(p->mode));
  fprintf(f,
          ", \"schedule\": \"%s\", \"chunk\": %zu, \"ranks\": %d, "
          "\"workers\": %d, \"threads_per_worker\": %d, \"cores\": %d, "
          "\"size\": %zu, \"repeats\": %d, \"ok\": %s, \"check\": ",
          app_sched_name(p->sched), p->chunk, p->ranks, p->workers, p->tpw,
          p->cores, p->size, p->rc == 0 ? p->repeats : 0,
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
  fprintf(f,
          ", \"rate_unit\": \"%s\", \"value\": ", scale_rate_unit(p->kernel));
  app_json_num(f, ok ? p->value : NAN);
  fprintf(f, ", \"launch\": ");
  app_json_str(f, p->launch[0] ? p->launch : NULL);
  fprintf(f, ", \"times\": [");
  for (int i = 0; ok && i < p->repeats; i++) {
    fputs(i ? ", " : "", f);
    app_json_num(f, p->times[i]);
  }
  fprintf(f, "]}");
}

static int write_json(const char *path, const scale_config *c,
                      const scale_point *pts, int n) {
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  char date[64];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(f,
          "{\n  \"tool\": \"mpk-scale\",\n  \"format\": 1,\n  \"created\": ");
  app_json_str(f, date);
  fprintf(f, ",\n  \"command\": ");
  app_json_str(f, c->command);
  fprintf(f, ",\n");
  write_machine(f);
  fprintf(f, "  \"config\": {\"repeat\": %d, \"kernels\": ", c->repeat);
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
  fprintf(f,
          ", \"pi_steps\": %llu, \"square_n\": %llu, \"imbalanced_n\": %llu, "
          "\"imbalanced_chunk\": %llu, \"threads_per_worker\": %d, "
          "\"regression_rule\": {\"k\": %g, \"floor\": %g}},\n",
          (unsigned long long)c->pi_steps, (unsigned long long)c->square_n,
          (unsigned long long)c->imb_n, (unsigned long long)c->imb_chunk,
          c->tpw, c->rule.k, c->rule.floor);
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
             "ranks\n");
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
    fprintf(f, ",%d\n", p->ranks);
  }
  int bad = ferror(f);
  return fclose(f) != 0 || bad ? -1 : 0;
}

int scale_write(const char *dir, const char *name, const scale_config *cfg,
                const scale_point *pts, int n) {
  char json[4096], csv[4096];
  if (make_dirs(dir) != 0) {
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
  if (write_json(json, cfg, pts, n) != 0) {
    fprintf(stderr, "mpk-scale: cannot write %s: %s\n", json, strerror(errno));
    return -1;
  }
  if (write_csv(csv, pts, n) != 0) {
    fprintf(stderr, "mpk-scale: cannot write %s: %s\n", csv, strerror(errno));
    return -1;
  }
  return 0;
}
