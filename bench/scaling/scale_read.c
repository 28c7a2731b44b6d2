/* scale_read.c - reading result files back: mpk-scale JSON (the points with
 * every time and its round, and the provenance) and Google Benchmark JSON
 * (one round per repetition), for the regression check and for merging the
 * rounds the children measured. See scale.h. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_json.h"
#include "scale.h"

void scale_key(char *key, size_t kcap, char *label, size_t lcap,
               const char *kernel, const char *scaling, const char *mode,
               const char *sched, double chunk, double ranks, double workers,
               double tpw, double size, double hosts) {
  const int over_hosts = hosts > 0; /* NaN: no */
  int k = snprintf(key, kcap, "%s|%s|%s|%s|%.0f|%.0f|%.0f|%.0f|%.0f", kernel,
                   scaling, mode, sched, chunk, ranks, workers, tpw, size);
  if (over_hosts && k >= 0 && (size_t)k < kcap)
    snprintf(key + k, kcap - (size_t)k, "|hosts=%.0f", hosts);
  if (over_hosts) {
    snprintf(label, lcap,
             "%s %s %s %s hosts=%.0f ranks/host=%.0f workers=%.0f size=%.0f",
             kernel, scaling, mode, sched, hosts, ranks / hosts, workers, size);
    return;
  }
  char w[64];
  if (ranks > 1 && tpw > 1)
    snprintf(w, sizeof w, "%.0fx%.0fx%.0f", ranks, workers, tpw);
  else if (ranks > 1)
    snprintf(w, sizeof w, "%.0f ranks x %.0f", ranks, workers);
  else if (tpw > 1)
    snprintf(w, sizeof w, "%.0fx%.0f", workers, tpw);
  else
    snprintf(w, sizeof w, "%.0f", workers);
  snprintf(label, lcap, "%s %s %s %s workers=%s size=%.0f", kernel, scaling,
           mode, sched, w, size);
}

void scale_point_key(const scale_point *p, char *key, size_t kcap, char *label,
                     size_t lcap) {
  scale_key(key, kcap, label, lcap, scale_kernel_names[p->kernel], p->scaling,
            scale_mode_name(p->mode), app_sched_name(p->sched),
            (double)p->chunk, p->ranks, p->workers, p->tpw, (double)p->size,
            p->hosts);
}

static void get_str(const app_json *o, const char *k, char *buf, size_t cap) {
  const char *s = app_json_get_str(o, k, "");
  snprintf(buf, cap, "%s", s);
}

static int get_int(const app_json *o, const char *k) {
  double v = app_json_get_num(o, k, -1);
  return isfinite(v) && v >= 0 && v < 1e9 ? (int)v : -1;
}

static void get_load(const app_json *o, const char *k, double *out) {
  const app_json *a = app_json_get(o, k);
  for (int i = 0; i < 3; i++)
    out[i] = a && a->type == APP_JSON_ARRAY && (size_t)i < a->len &&
                     a->items[i].type == APP_JSON_NUMBER
                 ? a->items[i].number
                 : NAN;
}

static void prov_blank(scale_prov *p) {
  memset(p, 0, sizeof *p);
  p->cores = p->pus = p->cpu_count = p->git_dirty = -1;
  for (int i = 0; i < 3; i++)
    p->load_start[i] = p->load_end[i] = NAN;
}

static void prov_from_json(const app_json *doc, scale_prov *p) {
  prov_blank(p);
  const app_json *m = app_json_get(doc, "machine");
  const app_json *b = app_json_get(doc, "build");
  get_str(m, "hostname", p->hostname, sizeof p->hostname);
  get_str(m, "kernel", p->kernel, sizeof p->kernel);
  get_str(m, "cpu_model", p->cpu_model, sizeof p->cpu_model);
  get_str(m, "allowed", p->allowed, sizeof p->allowed);
  get_str(m, "governor", p->governor, sizeof p->governor);
  p->cores = get_int(m, "cores");
  p->pus = get_int(m, "pus");
  p->cpu_count = get_int(m, "cpu_count");
  get_load(m, "load_average_at_start", p->load_start);
  get_load(m, "load_average_at_end", p->load_end);
  get_str(b, "mpk", p->mpk, sizeof p->mpk);
  get_str(b, "compiler", p->compiler, sizeof p->compiler);
  get_str(b, "c_flags", p->c_flags, sizeof p->c_flags);
  get_str(b, "build_type", p->build_type, sizeof p->build_type);
  get_str(b, "git_commit", p->git_commit, sizeof p->git_commit);
  const app_json *d = app_json_get(b, "git_dirty");
  p->git_dirty = d && d->type == APP_JSON_BOOL ? (int)d->number : -1;
  double omp = app_json_get_num(b, "openmp", NAN);
  if (isfinite(omp))
    snprintf(p->openmp, sizeof p->openmp, "%.0f", omp);
  get_str(b, "gsl", p->gsl, sizeof p->gsl);
  get_str(b, "hwloc", p->hwloc, sizeof p->hwloc);
  get_str(b, "simd_isa", p->simd_isa, sizeof p->simd_isa);
}

void scale_runfile_free(scale_runfile *r) {
  for (int i = 0; r->e != NULL && i < r->n; i++) {
    free(r->e[i].times);
    free(r->e[i].round);
  }
  free(r->e);
  r->e = NULL;
  r->n = 0;
}

/* The times (and rounds, when given) of one mpk-scale point into e. */
static int entry_times(scale_entry *e, const app_json *t, const app_json *r) {
  e->n = 0;
  if (t == NULL || t->type != APP_JSON_ARRAY)
    return -1;
  if (r != NULL && (r->type != APP_JSON_ARRAY || r->len != t->len))
    return -1;
  e->times = malloc((t->len ? t->len : 1) * sizeof *e->times);
  e->round = malloc((t->len ? t->len : 1) * sizeof *e->round);
  if (e->times == NULL || e->round == NULL)
    return -1;
  for (size_t i = 0; i < t->len; i++) {
    const app_json *v = &t->items[i];
    double rr =
        r ? (r->items[i].type == APP_JSON_NUMBER ? r->items[i].number : -1) : 0;
    if (v->type != APP_JSON_NUMBER || !(v->number > 0) ||
        !isfinite(v->number) || !(rr >= 0 && rr < 1e6))
      return -1;
    e->times[i] = v->number;
    e->round[i] = (int)rr;
  }
  e->n = (int)t->len;
  return 0;
}

static int read_points(const app_json *doc, scale_runfile *r) {
  const app_json *pts = app_json_get(doc, "points");
  if (pts == NULL || pts->type != APP_JSON_ARRAY)
    return -1;
  r->e = calloc(pts->len ? pts->len : 1, sizeof *r->e);
  if (r->e == NULL)
    return -1;
  for (size_t i = 0; i < pts->len; i++) {
    const app_json *p = &pts->items[i];
    scale_entry *e = &r->e[r->n++];
    double hosts = app_json_get_num(p, "hosts", NAN); /* null, or absent */
    e->hosts = hosts >= 1 && hosts < 1e9 ? (int)hosts : 0;
    const char *kernel = app_json_get_str(p, "kernel", NULL);
    const char *scaling = app_json_get_str(p, "scaling", NULL);
    const char *mode = app_json_get_str(p, "mode", NULL);
    const char *sched = app_json_get_str(p, "schedule", NULL);
    const app_json *ok = app_json_get(p, "ok");
    if (kernel == NULL || scaling == NULL || mode == NULL || sched == NULL ||
        ok == NULL || ok->type != APP_JSON_BOOL)
      return -1;
    scale_key(e->key, sizeof e->key, e->label, sizeof e->label, kernel, scaling,
              mode, sched, app_json_get_num(p, "chunk", 0),
              app_json_get_num(p, "ranks", 1),
              app_json_get_num(p, "workers", 1),
              app_json_get_num(p, "threads_per_worker", 1),
              app_json_get_num(p, "size", 0), e->hosts);
    e->ok = ok->number != 0;
    get_str(p, "check", e->check, sizeof e->check);
    get_str(p, "launch", e->launch, sizeof e->launch);
    e->value = app_json_get_num(p, "value", NAN);
    if (entry_times(e, app_json_get(p, "times"),
                    app_json_get(p, "time_rounds")) != 0)
      return -1;
    if (e->ok && e->n == 0)
      return -1;
  }
  return 0;
}

/* The hostfile hosts of a --hosts run (config.hosts: [{"name", "slots"}])
   into r->hosts, "a,b". */
static void hosts_from_json(const app_json *doc, scale_runfile *r) {
  const app_json *h = app_json_get(app_json_get(doc, "config"), "hosts");
  size_t len = 0;
  r->hosts[0] = '\0';
  for (size_t i = 0; h && h->type == APP_JSON_ARRAY && i < h->len; i++) {
    int w = snprintf(r->hosts + len, sizeof r->hosts - len, "%s%s",
                     i ? "," : "", app_json_get_str(&h->items[i], "name", "?"));
    if (w < 0 || (len += (size_t)w) >= sizeof r->hosts)
      break;
  }
}

int scale_read_run(const char *path, scale_runfile *r) {
  char err[256];
  app_json *doc;
  memset(r, 0, sizeof *r);
  prov_blank(&r->prov);
  if (app_json_parse_file(path, &doc, err, sizeof err) != 0) {
    fprintf(stderr, "mpk-scale: cannot read %s: %s\n", path, err);
    return -1;
  }
  int rc = strcmp(app_json_get_str(doc, "tool", ""), "mpk-scale") == 0
               ? read_points(doc, r)
               : -1;
  if (rc == 0) {
    prov_from_json(doc, &r->prov);
    hosts_from_json(doc, r);
  }
  app_json_free(doc);
  if (rc != 0) {
    scale_runfile_free(r);
    fprintf(stderr, "mpk-scale: %s is not an mpk-scale result file\n", path);
  }
  return rc;
}

static double unit_seconds(const char *u) {
  return strcmp(u, "ns") == 0   ? 1e-9
         : strcmp(u, "us") == 0 ? 1e-6
         : strcmp(u, "ms") == 0 ? 1e-3
         : strcmp(u, "s") == 0  ? 1.0
                                : NAN;
}

/* Append time t of repetition rep to the entry called name. */
static int micro_add(scale_runfile *r, size_t cap, const char *name, double t,
                     int rep) {
  scale_entry *e = NULL;
  for (int i = 0; i < r->n && e == NULL; i++)
    if (strcmp(r->e[i].key, name) == 0)
      e = &r->e[i];
  if (e == NULL) {
    if ((size_t)r->n >= cap)
      return -1;
    e = &r->e[r->n++];
    snprintf(e->key, sizeof e->key, "%s", name);
    snprintf(e->label, sizeof e->label, "%s", name);
    snprintf(e->check, sizeof e->check, "ok");
    e->ok = 1;
    e->value = NAN;
  }
  double *nt = realloc(e->times, (size_t)(e->n + 1) * sizeof *nt);
  if (nt == NULL)
    return -1;
  e->times = nt;
  int *nr = realloc(e->round, (size_t)(e->n + 1) * sizeof *nr);
  if (nr == NULL)
    return -1;
  e->round = nr;
  e->times[e->n] = t;
  e->round[e->n++] = rep;
  return 0;
}

static int read_micro(const app_json *doc, scale_runfile *r, char *why,
                      size_t cap) {
  const app_json *bs = app_json_get(doc, "benchmarks");
  if (bs == NULL || bs->type != APP_JSON_ARRAY) {
    snprintf(why, cap, "has no \"benchmarks\" array");
    return -1;
  }
  r->e = calloc(bs->len ? bs->len : 1, sizeof *r->e);
  if (r->e == NULL)
    return -1;
  for (size_t i = 0; i < bs->len; i++) {
    const app_json *b = &bs->items[i];
    const app_json *bad = app_json_get(b, "error_occurred");
    if (strcmp(app_json_get_str(b, "run_type", "iteration"), "iteration") !=
            0 ||
        (bad && bad->type == APP_JSON_BOOL && bad->number != 0))
      continue;
    const char *name =
        app_json_get_str(b, "run_name", app_json_get_str(b, "name", NULL));
    double t = app_json_get_num(b, "real_time", NAN) *
               unit_seconds(app_json_get_str(b, "time_unit", "ns"));
    double rep = app_json_get_num(b, "repetition_index", 0);
    if (name == NULL || !(t > 0) || !isfinite(t) || !(rep >= 0)) {
      snprintf(why, cap, "benchmark %zu has no name or time", i);
      return -1;
    }
    if (micro_add(r, bs->len, name, t, (int)rep) != 0)
      return -1;
  }
  if (r->n == 0) {
    snprintf(why, cap,
             "has no per-repetition results (run mpk-bench-micro with "
             "--benchmark_repetitions=N and without "
             "--benchmark_report_aggregates_only)");
    return -1;
  }
  const app_json *c = app_json_get(doc, "context");
  get_str(c, "host_name", r->prov.hostname, sizeof r->prov.hostname);
  r->prov.cpu_count = get_int(c, "num_cpus");
  return 0;
}

int scale_read_micro(const char *path, scale_runfile *r) {
  char err[256], why[256] = "is not Google Benchmark JSON";
  app_json *doc;
  memset(r, 0, sizeof *r);
  prov_blank(&r->prov);
  r->micro = 1;
  if (app_json_parse_file(path, &doc, err, sizeof err) != 0) {
    fprintf(stderr, "mpk-scale: cannot read %s: %s\n", path, err);
    return -1;
  }
  int rc = read_micro(doc, r, why, sizeof why);
  app_json_free(doc);
  if (rc != 0) {
    scale_runfile_free(r);
    fprintf(stderr, "mpk-scale: %s %s\n", path, why);
  }
  return rc;
}
