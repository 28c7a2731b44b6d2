/* scale_compare.c - mpk-scale's regression check (--baseline): which points
 * of a run are slower than an earlier run beyond the noise both measured.
 * The rule is app_regressed (app_stats.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app_cli.h"
#include "app_json.h"
#include "scale.h"

/* One comparable point: its identity and its timing. */
typedef struct {
  char key[208]; /* kernel scaling mode schedule chunk ranks workers tpw size */
  char label[160]; /* for people */
  double median, noise;
} entry;

static void make_key(entry *e, const char *kernel, const char *scaling,
                     const char *mode, const char *sched, double chunk,
                     double ranks, double workers, double tpw, double size) {
  snprintf(e->key, sizeof e->key, "%s|%s|%s|%s|%.0f|%.0f|%.0f|%.0f|%.0f",
           kernel, scaling, mode, sched, chunk, ranks, workers, tpw, size);
  char w[64];
  if (ranks > 1 && tpw > 1)
    snprintf(w, sizeof w, "%.0fx%.0fx%.0f", ranks, workers, tpw);
  else if (ranks > 1)
    snprintf(w, sizeof w, "%.0f ranks x %.0f", ranks, workers);
  else if (tpw > 1)
    snprintf(w, sizeof w, "%.0fx%.0f", workers, tpw);
  else
    snprintf(w, sizeof w, "%.0f", workers);
  snprintf(e->label, sizeof e->label, "%s %s %s %s workers=%s size=%.0f",
           kernel, scaling, mode, sched, w, size);
}

/* Entries of a parsed mpk-scale JSON file; -1 when it is not one. */
static int entries_from_json(const app_json *doc, entry **out, int *n) {
  const app_json *pts = app_json_get(doc, "points");
  if (pts == NULL || pts->type != APP_JSON_ARRAY)
    return -1;
  entry *e = calloc(pts->len ? pts->len : 1, sizeof *e);
  if (e == NULL)
    return -1;
  int k = 0;
  for (size_t i = 0; i < pts->len; i++) {
    const app_json *p = &pts->items[i];
    const app_json *ok = app_json_get(p, "ok");
    if (ok == NULL || ok->type != APP_JSON_BOOL || ok->number == 0)
      continue; /* a failed point has no timing to compare */
    const char *kernel = app_json_get_str(p, "kernel", NULL);
    const char *scaling = app_json_get_str(p, "scaling", NULL);
    const char *mode = app_json_get_str(p, "mode", NULL);
    const char *sched = app_json_get_str(p, "schedule", NULL);
    double median = app_json_get_num(p, "median", NAN);
    if (kernel == NULL || scaling == NULL || mode == NULL || sched == NULL ||
        !isfinite(median)) {
      free(e);
      return -1;
    }
    make_key(&e[k], kernel, scaling, mode, sched,
             app_json_get_num(p, "chunk", 0), app_json_get_num(p, "ranks", 1),
             app_json_get_num(p, "workers", 1),
             app_json_get_num(p, "threads_per_worker", 1),
             app_json_get_num(p, "size", 0));
    e[k].median = median;
    e[k].noise = app_json_get_num(p, "rel_noise", 0.0);
    k++;
  }
  *out = e;
  *n = k;
  return 0;
}

static int entries_from_file(const char *path, entry **out, int *n) {
  char err[256];
  app_json *doc;
  if (app_json_parse_file(path, &doc, err, sizeof err) != 0) {
    fprintf(stderr, "mpk-scale: cannot read %s: %s\n", path, err);
    return -1;
  }
  int rc = entries_from_json(doc, out, n);
  app_json_free(doc);
  if (rc != 0)
    fprintf(stderr, "mpk-scale: %s is not an mpk-scale result file\n", path);
  return rc;
}

static int entries_from_points(const scale_point *pts, int n, entry **out,
                               int *nout) {
  entry *e = calloc(n > 0 ? (size_t)n : 1, sizeof *e);
  if (e == NULL)
    return -1;
  int k = 0;
  for (int i = 0; i < n; i++) {
    const scale_point *p = &pts[i];
    if (p->rc != 0)
      continue;
    make_key(&e[k], scale_kernel_names[p->kernel], p->scaling,
             scale_mode_name(p->mode), app_sched_name(p->sched),
             (double)p->chunk, p->ranks, p->workers, p->tpw, (double)p->size);
    e[k].median = p->st.median;
    e[k].noise = p->noise;
    k++;
  }
  *out = e;
  *nout = k;
  return 0;
}

int scale_compare(const char *baseline, const char *current,
                  const scale_point *pts, int n, const app_regress_rule *rule,
                  FILE *out) {
  entry *base = NULL, *cur = NULL;
  int nb = 0, nc = 0;
  if (entries_from_file(baseline, &base, &nb) != 0)
    return 2;
  int rc = current ? entries_from_file(current, &cur, &nc)
                   : entries_from_points(pts, n, &cur, &nc);
  if (rc != 0) {
    if (!current)
      fprintf(stderr, "mpk-scale: out of memory\n");
    free(base);
    return 2;
  }
  int compared = 0, regressed = 0, missing = 0;
  for (int i = 0; i < nc; i++) {
    const entry *b = NULL;
    for (int j = 0; j < nb && b == NULL; j++)
      if (strcmp(base[j].key, cur[i].key) == 0)
        b = &base[j];
    if (b == NULL) {
      missing++;
      continue;
    }
    compared++;
    double tol;
    if (app_regressed(rule, b->median, b->noise, cur[i].median, cur[i].noise,
                      &tol)) {
      regressed++;
      fprintf(out,
              "REGRESSED %s: median %.6g s vs baseline %.6g s (%+.1f%%, "
              "tolerance %.1f%%, noise %.1f%% / baseline %.1f%%)\n",
              cur[i].label, cur[i].median, b->median,
              100.0 * (cur[i].median / b->median - 1.0), 100.0 * tol,
              100.0 * cur[i].noise, 100.0 * b->noise);
    }
  }
  free(base);
  free(cur);
  if (compared == 0) {
    fprintf(stderr,
            "mpk-scale: no point of the run matches a point of %s (different "
            "kernels, modes, workers or sizes?)\n",
            baseline);
    return 2;
  }
  fprintf(out,
          "regression check against %s (k = %g, floor = %g%%): %d points "
          "compared, %d regressed, %d without a baseline point\n",
          baseline, rule->k, 100.0 * rule->floor, compared, regressed, missing);
  return regressed ? 1 : 0;
}
