/* scale_rounds.c - rounds as child processes, A/B in ABBA order, adaptive
 * rounds under a time budget. See scale_rounds.h. */
#include "scale_rounds.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mpk/error.h"
#include "scale_stats.h"

#define CHILD_TIMEOUT (7.0 * 86400) /* a round is never killed for time */

static const char *const side_names[2] = {"candidate", "baseline"};

typedef struct {
  const scale_rounds_cfg *c;
  scale_point **pts;
  char (*keys)[208];
  int n, sides;
  char tmp[256];
  scale_prov *prov;
  int have_prov[2];
  int done, total; /* child runs, for the progress line */
} driver;

/* "i,j,k" of the selected points (NULL: all selected), malloc'd. */
static char *point_list(const unsigned char *sel, int n) {
  if (sel == NULL)
    return NULL;
  char *s = malloc((size_t)n * 12 + 1), *w = s;
  if (s == NULL)
    return NULL;
  *w = '\0';
  for (int i = 0; i < n; i++)
    if (sel[i])
      w += sprintf(w, "%s%d", w == s ? "" : ",", i);
  return s;
}

/* Fold one child's result file into side s, as round `round`. */
static void merge(driver *d, int s, int round, const scale_runfile *rf) {
  for (int j = 0; j < rf->n; j++) {
    const scale_entry *e = &rf->e[j];
    scale_point *p = NULL;
    for (int k = 0; k < d->n && p == NULL; k++)
      if (strcmp(d->keys[k], e->key) == 0)
        p = &d->pts[s][k];
    if (p == NULL)
      continue; /* a point this build does not plan */
    if (!e->ok) {
      if (p->rc == MPK_OK) {
        p->rc = MPK_ETASK;
        snprintf(p->check, sizeof p->check, "round %d: %.80s", round, e->check);
      }
      continue;
    }
    if (scale_point_reserve(p, p->repeats + e->n) != 0) {
      p->rc = MPK_ENOMEM;
      snprintf(p->check, sizeof p->check, "out of memory");
      continue;
    }
    for (int i = 0; i < e->n; i++) {
      p->times[p->repeats] = e->times[i];
      p->round[p->repeats++] = round;
    }
    p->rounds++;
    p->value = e->value;
    snprintf(p->launch, sizeof p->launch, "%s", e->launch);
  }
}

/* Run side s's round `round` over the selected points (NULL: all). */
static int child_round(driver *d, int s, int round, const unsigned char *sel) {
  const scale_rounds_cfg *c = d->c;
  int nsweep = 0;
  while (c->sweep[nsweep] != NULL)
    nsweep++;
  char **argv = calloc((size_t)nsweep + 16, sizeof *argv);
  char seed[32], name[64], json[512], csv[512];
  char *list = point_list(sel, d->n);
  if (argv == NULL || (sel != NULL && list == NULL)) {
    free(argv);
    free(list);
    return 1;
  }
  snprintf(seed, sizeof seed, "%lu", c->seed + (unsigned long)round);
  snprintf(name, sizeof name, "round-%d-%s", round, side_names[s]);
  int k = 0;
  argv[k++] = (char *)c->bin[s];
  for (int i = 0; i < nsweep; i++)
    argv[k++] = c->sweep[i];
  char *fixed[] = {"--rounds", "1",      "--seed", seed,     "--out",
                   d->tmp,     "--name", name,     "--quiet"};
  for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
    argv[k++] = fixed[i];
  if (list != NULL) {
    argv[k++] = "--only-points";
    argv[k++] = list;
  }
  argv[k] = NULL;
  if (c->tty) {
    fprintf(stderr, "\r\033[Kmpk-scale: round %d, %s (%d/%d runs)", round + 1,
            side_names[s], d->done + 1, d->total);
    fflush(stderr);
  }
  scale_child ch;
  scale_run_child(argv, CHILD_TIMEOUT, &ch);
  free(ch.out);
  free(argv);
  free(list);
  d->done++;
  if (ch.sys_errno != 0) {
    fprintf(stderr, "mpk-scale: cannot run %s: %s\n", c->bin[s],
            strerror(ch.sys_errno));
    return 2;
  }
  int st = WIFEXITED(ch.status) ? WEXITSTATUS(ch.status) : -1;
  if (st != 0 && st != 1) {
    if (c->tty)
      fputs("\r\033[K", stderr);
    fprintf(stderr, "mpk-scale: %s (%s, round %d) %s %d:\n%s", c->bin[s],
            side_names[s], round + 1,
            st < 0 ? "was killed by signal" : "exited",
            st < 0 ? WTERMSIG(ch.status) : st, ch.err);
    return 2;
  }
  snprintf(json, sizeof json, "%s/%s.json", d->tmp, name);
  snprintf(csv, sizeof csv, "%s/%s.csv", d->tmp, name);
  scale_runfile rf;
  int rc = scale_read_run(json, &rf);
  unlink(json);
  unlink(csv);
  if (rc != 0) {
    fprintf(stderr,
            "mpk-scale: %s wrote no usable round (is it an "
            "mpk-scale with --rounds?)\n",
            c->bin[s]);
    return 2;
  }
  merge(d, s, round, &rf);
  if (!d->have_prov[s]) {
    d->prov[s] = rf.prov;
    d->have_prov[s] = 1;
  }
  scale_runfile_free(&rf);
  return 0;
}

/* Round `round` of every side: ABBA, so side 1 (the baseline) goes first
   in even rounds and second in odd ones. */
static int one_round(driver *d, int round, const unsigned char *sel) {
  for (int i = 0; i < d->sides; i++) {
    int s = d->sides == 2 ? (round % 2 == 0 ? 1 - i : i) : 0;
    int rc = child_round(d, s, round, sel);
    if (rc != 0)
      return rc;
  }
  return 0;
}

/* The side summary of point p (its round medians); -1 if it has none. */
static int side_of_point(const scale_point *p, scale_side *s) {
  return p->rc == MPK_OK
             ? scale_side_of_times(p->times, p->round, p->repeats, s)
             : -1;
}

/* The rounds each point should get (>= c->rounds) under the budget. */
static void targets(driver *d, int *target) {
  const scale_rounds_cfg *c = d->c;
  int usable = 0;
  for (int i = 0; i < d->n; i++)
    usable += d->pts[0][i].rc == MPK_OK;
  double level = c->alpha / (usable > 0 ? usable : 1);
  for (int i = 0; i < d->n; i++) {
    target[i] = c->rounds;
    scale_side sc, sb;
    if (side_of_point(&d->pts[0][i], &sc) != 0)
      continue;
    int fixed = 0;
    if (d->sides == 2) {
      if (side_of_point(&d->pts[1][i], &sb) != 0)
        continue;
    } else if (c->baseline != NULL) {
      const scale_entry *e = NULL;
      for (int j = 0; j < c->baseline->n && e == NULL; j++)
        if (strcmp(c->baseline->e[j].key, d->keys[i]) == 0)
          e = &c->baseline->e[j];
      if (e == NULL || scale_side_of_times(e->times, e->round, e->n, &sb) != 0)
        continue;
      fixed = sb.n;
    } else {
      sb = sc; /* precision for a comparison with a run like this one */
    }
    int need = scale_rounds_for_width(sb.sw, sc.sw, fixed, c->threshold / 2,
                                      2 * level);
    double cost = 0; /* measured seconds per round, every side */
    for (int s = 0; s < d->sides; s++) {
      const scale_point *p = &d->pts[s][i];
      double sum = 0;
      for (int t = 0; t < p->repeats; t++)
        sum += p->times[t];
      cost +=
          p->rounds > 0 ? sum / p->rounds * (c->repeat + 1.0) / c->repeat : 0;
    }
    int budget = cost > 0 ? (int)floor(c->max_time / cost) : c->rounds;
    int t = need < 0 || need > budget ? budget : need;
    t = t < c->rounds ? c->rounds : t;
    target[i] = t > SCALE_MAX_ROUNDS ? SCALE_MAX_ROUNDS : t;
  }
}

static int adaptive(driver *d) {
  int *target = malloc((size_t)d->n * sizeof *target);
  unsigned char *sel = malloc((size_t)d->n);
  if (target == NULL || sel == NULL) {
    free(target);
    free(sel);
    return 1;
  }
  targets(d, target);
  int last = d->c->rounds;
  for (int i = 0; i < d->n; i++)
    last = target[i] > last ? target[i] : last;
  d->total = d->done + (last - d->c->rounds) * d->sides;
  int rc = 0;
  for (int r = d->c->rounds; rc == 0 && r < last; r++) {
    for (int i = 0; i < d->n; i++)
      sel[i] = target[i] > r;
    rc = one_round(d, r, sel);
  }
  free(target);
  free(sel);
  return rc;
}

int scale_rounds_run(const scale_rounds_cfg *c, scale_point *pts[2], int n,
                     scale_prov prov[2]) {
  driver d = {c,  pts,  NULL,   n, c->bin[1] != NULL ? 2 : 1,
              "", prov, {0, 0}, 0, 0};
  const char *base = getenv("TMPDIR");
  snprintf(d.tmp, sizeof d.tmp, "%s/mpk-scale-rounds-XXXXXX",
           base && *base ? base : "/tmp");
  if (mkdtemp(d.tmp) == NULL) {
    fprintf(stderr, "mpk-scale: cannot create a temporary directory: %s\n",
            strerror(errno));
    return 2;
  }
  d.keys = calloc(n > 0 ? (size_t)n : 1, sizeof *d.keys);
  if (d.keys == NULL) {
    rmdir(d.tmp);
    return 1;
  }
  char label[160];
  for (int i = 0; i < n; i++)
    scale_point_key(&pts[0][i], d.keys[i], sizeof d.keys[i], label,
                    sizeof label);
  d.total = c->rounds * d.sides;
  int rc = 0;
  for (int r = 0; rc == 0 && r < c->rounds; r++)
    rc = one_round(&d, r, NULL);
  if (rc == 0 && c->max_time > 0)
    rc = adaptive(&d);
  if (c->tty)
    fputs("\r\033[K", stderr);
  for (int s = 0; rc == 0 && s < d.sides; s++)
    for (int i = 0; i < n; i++)
      if (pts[s][i].rc == MPK_OK && pts[s][i].repeats == 0) {
        pts[s][i].rc = MPK_ETASK;
        snprintf(pts[s][i].check, sizeof pts[s][i].check, "not measured by %s",
                 c->bin[s]);
      } else if (pts[s][i].rc == MPK_OK) { /* every round checked it */
        snprintf(pts[s][i].check, sizeof pts[s][i].check, "ok");
      }
  free(d.keys);
  rmdir(d.tmp);
  return rc;
}
