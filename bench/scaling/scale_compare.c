/* scale_compare.c - mpk-scale's regression check: the provenance check,
 * then per common point Yuen's test on the round medians of both runs,
 * Holm over the sweep (scale_stats.h), a table, REGRESSED lines, a summary
 * line, and the comparison as JSON and CSV. See scale.h. */
#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "app_json.h"
#include "scale.h"
#include "scale_stats.h"

/* One compared point. */
typedef struct {
  const scale_entry *b, *c;
  scale_side sb, sc;
  scale_test t;
} row;

static const char *fmt_pct(char *buf, size_t cap, double ratio) {
  if (!isfinite(ratio))
    snprintf(buf, cap, "-");
  else
    snprintf(buf, cap, "%+.1f%%", 100.0 * (ratio - 1.0));
  return buf;
}

static const char *verdict_cell(char *buf, size_t cap, const scale_test *t) {
  if (t->verdict != SCALE_INCONCLUSIVE)
    snprintf(buf, cap, "%s", scale_verdict_name(t->verdict));
  else if (!t->decidable)
    snprintf(buf, cap, "inconclusive (needs >= %d rounds a side)",
             SCALE_MIN_ROUNDS);
  else if (t->more_rounds > 0)
    snprintf(buf, cap, "inconclusive (~%d more rounds)", t->more_rounds);
  else
    snprintf(buf, cap, "inconclusive (over %d more rounds)", SCALE_MAX_ROUNDS);
  return buf;
}

static void print_table(const row *r, int n, const scale_cmp_opts *o,
                        FILE *out) {
  int w = 5;
  for (int i = 0; i < n; i++) {
    int l = (int)strlen(r[i].c->label);
    w = l > w ? l : w;
  }
  char ivl[32];
  snprintf(ivl, sizeof ivl, "%.3g%% interval", 100.0 * (1.0 - 2.0 * o->alpha));
  fprintf(out, "%-*s  %10s  %10s  %8s  %-20s  %9s  %6s  %s\n", w, "point",
          "baseline", "candidate", "change", ivl, "p(slower)", "rounds",
          "verdict");
  for (int i = 0; i < n; i++) {
    const row *x = &r[i];
    char tb[32], tc[32], ch[32], lo[32], hi[32], v[64], iv[80], p[16];
    if (x->t.decidable)
      snprintf(iv, sizeof iv, "[%s, %s]", fmt_pct(lo, sizeof lo, x->t.lo),
               fmt_pct(hi, sizeof hi, x->t.hi));
    else
      snprintf(iv, sizeof iv, "-");
    if (x->t.decidable)
      snprintf(p, sizeof p, "%.2g", x->t.p_slower_adj);
    else
      snprintf(p, sizeof p, "-");
    char rounds[24];
    snprintf(rounds, sizeof rounds, "%d/%d", x->sb.n, x->sc.n);
    fprintf(out, "%-*s  %10s  %10s  %8s  %-20s  %9s  %6s  %s\n", w, x->c->label,
            scale_fmt_time(tb, sizeof tb, exp(x->sb.center)),
            scale_fmt_time(tc, sizeof tc, exp(x->sc.center)),
            fmt_pct(ch, sizeof ch, x->t.ratio), iv, p, rounds,
            verdict_cell(v, sizeof v, &x->t));
  }
}

static void json_row(FILE *f, const row *x) {
  fprintf(f, "    {\"point\": ");
  app_json_str(f, x->c->label);
  fprintf(f, ", \"key\": ");
  app_json_str(f, x->c->key);
  app_json_field(f, "baseline_s", exp(x->sb.center));
  app_json_field(f, "candidate_s", exp(x->sc.center));
  app_json_field(f, "ratio", x->t.ratio);
  app_json_field(f, "lo", x->t.lo);
  app_json_field(f, "hi", x->t.hi);
  app_json_field(f, "p_slower", x->t.p_slower);
  app_json_field(f, "p_slower_holm", x->t.p_slower_adj);
  app_json_field(f, "p_faster", x->t.p_faster);
  app_json_field(f, "p_faster_holm", x->t.p_faster_adj);
  app_json_field(f, "p_equivalent", x->t.p_equiv);
  app_json_field(f, "noise_between_baseline", x->sb.sw);
  app_json_field(f, "noise_between_candidate", x->sc.sw);
  fprintf(f, ", \"rounds_baseline\": %d, \"rounds_candidate\": %d", x->sb.n,
          x->sc.n);
  fprintf(f, ", \"verdict\": \"%s\", \"more_rounds\": %d}",
          scale_verdict_name(x->t.verdict), x->t.more_rounds);
}

static int write_files(const char *stem, const char *bn, const char *cn,
                       const row *r, int n, const scale_cmp_opts *o,
                       const int *count, const char *prov_lines) {
  char path[4096];
  snprintf(path, sizeof path, "%s.json", stem);
  FILE *f = fopen(path, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "{\n  \"tool\": \"mpk-scale\",\n  \"kind\": \"comparison\",\n"
             "  \"baseline\": ");
  app_json_str(f, bn);
  fprintf(f, ",\n  \"candidate\": ");
  app_json_str(f, cn);
  fprintf(f, ",\n  \"method\": {\"test\": \"yuen\"");
  app_json_field(f, "trim", SCALE_TRIM);
  app_json_field(f, "threshold", o->threshold);
  app_json_field(f, "alpha", o->alpha);
  fprintf(f, ", \"min_rounds\": %d, \"correction\": \"holm\"},\n",
          SCALE_MIN_ROUNDS);
  fprintf(f, "  \"provenance\": ");
  app_json_str(f, prov_lines);
  fprintf(f,
          ",\n  \"summary\": {\"regressed\": %d, \"improved\": %d, "
          "\"unchanged\": %d, \"inconclusive\": %d},\n  \"points\": [\n",
          count[SCALE_REGRESSED], count[SCALE_IMPROVED], count[SCALE_UNCHANGED],
          count[SCALE_INCONCLUSIVE]);
  for (int i = 0; i < n; i++) {
    json_row(f, &r[i]);
    fputs(i + 1 < n ? ",\n" : "\n", f);
  }
  fprintf(f, "  ]\n}\n");
  int bad = ferror(f);
  if (fclose(f) != 0 || bad)
    return -1;
  snprintf(path, sizeof path, "%s.csv", stem);
  f = fopen(path, "w");
  if (f == NULL)
    return -1;
  fprintf(f, "point,baseline_s,candidate_s,ratio,lo,hi,p_slower_holm,"
             "p_faster_holm,p_equivalent,rounds_baseline,rounds_candidate,"
             "verdict,more_rounds\n");
  for (int i = 0; i < n; i++) {
    const row *x = &r[i];
    fprintf(f, "\"%s\",%.9g,%.9g,%.9g,%.9g,%.9g,%.6g,%.6g,%.6g,%d,%d,%s,%d\n",
            x->c->label, exp(x->sb.center), exp(x->sc.center), x->t.ratio,
            x->t.lo, x->t.hi, x->t.p_slower_adj, x->t.p_faster_adj,
            x->t.p_equiv, x->sb.n, x->sc.n, scale_verdict_name(x->t.verdict),
            x->t.more_rounds);
  }
  bad = ferror(f);
  return fclose(f) != 0 || bad ? -1 : 0;
}

/* The host counts of r's points over hosts, "1,2" ("none"), into buf. */
static void host_counts(const scale_runfile *r, char *buf, size_t cap) {
  int prev = 0;
  size_t len = 0;
  buf[0] = '\0';
  for (;;) { /* the next larger count, so the list is sorted and unique */
    int next = 0;
    for (int i = 0; i < r->n; i++)
      if (r->e[i].hosts > prev && (next == 0 || r->e[i].hosts < next))
        next = r->e[i].hosts;
    if (next == 0 || len >= cap)
      break;
    int w = snprintf(buf + len, cap - len, "%s%d", len ? "," : "", next);
    if (w < 0)
      break;
    len += (size_t)w;
    prev = next;
  }
  if (len == 0)
    snprintf(buf, cap, "none");
}

/* Notes on the runs' hosts: other host counts (their points are not
   compared: a point's key has its hosts), other hostfile hosts. */
static void diff_hosts(const scale_runfile *base, const scale_runfile *cand,
                       FILE *out) {
  char hb[256], hc[256];
  host_counts(base, hb, sizeof hb);
  host_counts(cand, hc, sizeof hc);
  if (strcmp(hb, hc) != 0)
    fprintf(out,
            "note: host counts of the points over hosts: baseline %s, "
            "candidate %s (a point of a host count only one run has is not "
            "compared)\n",
            hb, hc);
  if (base->hosts[0] && cand->hosts[0] && strcmp(base->hosts, cand->hosts))
    fprintf(out, "note: hosts: baseline '%s', candidate '%s'\n", base->hosts,
            cand->hosts);
}

/* The provenance check: 0 to go on, 2 to stop (printed). */
static int check_prov(const scale_runfile *base, const scale_runfile *cand,
                      const scale_cmp_opts *o, FILE *out, char **lines) {
  size_t len = 0;
  FILE *m = open_memstream(lines, &len);
  if (m == NULL)
    return 2;
  int mismatches = scale_prov_diff(&base->prov, &cand->prov, m);
  diff_hosts(base, cand, m);
  fclose(m);
  if (mismatches > 0 && !o->allow_mismatch) {
    fprintf(stderr,
            "mpk-scale: the runs are not comparable (%d difference%s; "
            "--allow-mismatch compares them anyway):\n%s",
            mismatches, mismatches == 1 ? "" : "s", *lines);
    return 2;
  }
  fputs(*lines, out);
  return 0;
}

int scale_compare_runs(const scale_runfile *base, const char *base_name,
                       const scale_runfile *cand, const char *cand_name,
                       const scale_cmp_opts *o, FILE *out) {
  char *prov_lines = NULL;
  if (check_prov(base, cand, o, out, &prov_lines) != 0) {
    free(prov_lines);
    return 2;
  }
  row *r = calloc(cand->n ? (size_t)cand->n : 1, sizeof *r);
  scale_side *sb = calloc(cand->n ? (size_t)cand->n : 1, sizeof *sb);
  scale_side *sc = calloc(cand->n ? (size_t)cand->n : 1, sizeof *sc);
  scale_test *t = calloc(cand->n ? (size_t)cand->n : 1, sizeof *t);
  int n = 0, missing = 0, failed = 0, status = 0;
  if (r == NULL || sb == NULL || sc == NULL || t == NULL) {
    fprintf(stderr, "mpk-scale: out of memory\n");
    status = 2;
    goto out;
  }
  for (int i = 0; i < cand->n; i++) {
    const scale_entry *c = &cand->e[i], *b = NULL;
    for (int j = 0; j < base->n && b == NULL; j++)
      if (strcmp(base->e[j].key, c->key) == 0)
        b = &base->e[j];
    if (b == NULL) {
      missing++;
      continue;
    }
    if (!b->ok || !c->ok ||
        scale_side_of_times(b->times, b->round, b->n, &sb[n]) != 0 ||
        scale_side_of_times(c->times, c->round, c->n, &sc[n]) != 0) {
      failed++;
      continue;
    }
    r[n].b = b;
    r[n].c = c;
    if (scale_test_pair(&sb[n], &sc[n], o->threshold, o->alpha, &t[n]) != 0) {
      fprintf(stderr, "mpk-scale: bad --threshold or --alpha\n");
      status = 2;
      goto out;
    }
    n++;
  }
  if (n == 0) {
    fprintf(stderr,
            "mpk-scale: no point of %s matches a measured point of %s "
            "(different kernels, modes, workers, sizes or hosts?)\n",
            cand_name, base_name);
    status = 2;
    goto out;
  }
  if (scale_decide(t, sb, sc, (size_t)n, o->threshold, o->alpha) != 0) {
    fprintf(stderr, "mpk-scale: out of memory\n");
    status = 2;
    goto out;
  }
  int count[4] = {0, 0, 0, 0}, undecidable = 0;
  for (int i = 0; i < n; i++) {
    r[i].sb = sb[i];
    r[i].sc = sc[i];
    r[i].t = t[i];
    count[t[i].verdict]++;
    undecidable += !t[i].decidable;
  }
  print_table(r, n, o, out);
  for (int i = 0; i < n; i++)
    if (t[i].verdict == SCALE_REGRESSED) {
      char lo[32], hi[32], ch[32], tb[32], tc[32];
      fprintf(out,
              "REGRESSED %s: %s [%s, %s] (%s vs baseline %s, Holm p = %.2g, "
              "threshold %g%%)\n",
              r[i].c->label, fmt_pct(ch, sizeof ch, t[i].ratio),
              fmt_pct(lo, sizeof lo, t[i].lo), fmt_pct(hi, sizeof hi, t[i].hi),
              scale_fmt_time(tc, sizeof tc, exp(sc[i].center)),
              scale_fmt_time(tb, sizeof tb, exp(sb[i].center)),
              t[i].p_slower_adj, 100.0 * o->threshold);
    }
  fprintf(out,
          "mpk-scale: %d points compared, %d regressed, %d improved, %d "
          "unchanged, %d inconclusive (threshold %g%%, alpha %g, Holm over "
          "%d points); %d without a counterpart, %d failed\n",
          n, count[SCALE_REGRESSED], count[SCALE_IMPROVED],
          count[SCALE_UNCHANGED], count[SCALE_INCONCLUSIVE],
          100.0 * o->threshold, o->alpha, n - undecidable, missing, failed);
  double *nb = malloc((size_t)n * sizeof *nb),
         *nc = malloc((size_t)n * sizeof *nc);
  int k = 0;
  for (int i = 0; nb != NULL && nc != NULL && i < n; i++)
    if (isfinite(sb[i].sw) && isfinite(sc[i].sw)) {
      nb[k] = sb[i].sw;
      nc[k++] = sc[i].sw;
    }
  if (k > 0) /* gsl_stats_median sorts its argument */
    fprintf(out,
            "mpk-scale: spread between rounds (median over points): "
            "baseline %.1f%%, candidate %.1f%%\n",
            100.0 * gsl_stats_median(nb, 1, (size_t)k),
            100.0 * gsl_stats_median(nc, 1, (size_t)k));
  free(nb);
  free(nc);
  if (undecidable > 0)
    fprintf(out,
            "mpk-scale: %d points have fewer than %d rounds on a side and "
            "cannot be decided: measure with --rounds 10 (or more)\n",
            undecidable, SCALE_MIN_ROUNDS);
  if (o->out_stem != NULL && write_files(o->out_stem, base_name, cand_name, r,
                                         n, o, count, prov_lines) != 0) {
    fprintf(stderr, "mpk-scale: cannot write %s.json / .csv\n", o->out_stem);
    status = 2;
    goto out;
  }
  status =
      count[SCALE_REGRESSED] > 0 || (o->strict && count[SCALE_INCONCLUSIVE] > 0)
          ? 1
          : 0;
out:
  free(prov_lines);
  free(r);
  free(sb);
  free(sc);
  free(t);
  return status;
}

int scale_compare_files(const char *base, const char *cand, int micro,
                        const scale_cmp_opts *o, FILE *out) {
  scale_runfile b, c;
  int (*rd)(const char *, scale_runfile *) =
      micro ? scale_read_micro : scale_read_run;
  if (rd(base, &b) != 0)
    return 2;
  if (rd(cand, &c) != 0) {
    scale_runfile_free(&b);
    return 2;
  }
  int rc = scale_compare_runs(&b, base, &c, cand, o, out);
  scale_runfile_free(&b);
  scale_runfile_free(&c);
  return rc;
}
