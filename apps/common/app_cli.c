/* app_cli.c - option value parsers. See app_cli.h. */
#include "app_cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "app_modes.h"
#include "mpk/error.h"

/* A plain unsigned decimal: digits only. */
static int parse_digits(const char *s, const char *end, uint64_t *out) {
  if (s == end)
    return -1;
  uint64_t v = 0;
  for (const char *p = s; p < end; p++) {
    if (!isdigit((unsigned char)*p))
      return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10)
      return -1;
    v = v * 10 + d;
  }
  *out = v;
  return 0;
}

int app_parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out) {
  if (s == NULL || *s == '\0' || !isdigit((unsigned char)*s))
    return -1;
  uint64_t v;
  const char *caret = strchr(s, '^');
  if (caret != NULL) { /* B^E */
    uint64_t b, e;
    if (parse_digits(s, caret, &b) != 0 ||
        parse_digits(caret + 1, caret + strlen(caret), &e) != 0)
      return -1;
    v = 1;
    for (uint64_t i = 0; i < e; i++) {
      if (b != 0 && v > UINT64_MAX / b)
        return -1;
      v *= b;
    }
  } else if (strpbrk(s, ".eE") != NULL) { /* scientific: a whole value */
    char *end;
    errno = 0;
    double d = strtod(s, &end);
    if (errno != 0 || *end != '\0' || !isfinite(d) || d < 0 ||
        d > 9007199254740992.0 || d != floor(d))
      return -1;
    v = (uint64_t)d;
  } else if (parse_digits(s, s + strlen(s), &v) != 0) {
    return -1;
  }
  if (v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int app_parse_long(const char *s, long lo, long hi, long *out) {
  if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
    return -1;
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

int app_parse_double(const char *s, double lo, double hi, double *out) {
  if (s == NULL || *s == '\0' || isspace((unsigned char)*s))
    return -1;
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v) || v < lo || v > hi)
    return -1;
  *out = v;
  return 0;
}

static const struct {
  const char *name;
  mpk_sched_kind kind;
} scheds[] = {{"static", MPK_SCHED_STATIC},
              {"cyclic", MPK_SCHED_CYCLIC},
              {"dynamic", MPK_SCHED_DYNAMIC},
              {"guided", MPK_SCHED_GUIDED}};

int app_parse_sched(const char *s, mpk_sched_kind *out) {
  for (size_t i = 0; s != NULL && i < sizeof scheds / sizeof scheds[0]; i++)
    if (strcmp(s, scheds[i].name) == 0) {
      *out = scheds[i].kind;
      return 0;
    }
  return -1;
}

const char *app_sched_name(mpk_sched_kind k) {
  for (size_t i = 0; i < sizeof scheds / sizeof scheds[0]; i++)
    if (scheds[i].kind == k)
      return scheds[i].name;
  return k == MPK_SCHED_AUTO ? "auto" : "?";
}

int app_parse_bind(const char *s, mpk_bind_policy *policy, const char **list) {
  if (s == NULL || *s == '\0')
    return -1;
  if (strcmp(s, "compact") == 0 || strcmp(s, "scatter") == 0 ||
      strcmp(s, "none") == 0) {
    *policy = s[0] == 'c'   ? MPK_BIND_COMPACT
              : s[0] == 's' ? MPK_BIND_SCATTER
                            : MPK_BIND_NONE;
    *list = NULL;
    return 0;
  }
  char probe[16];
  int rc = mpk_topo_plan(1, MPK_BIND_NONE, s, 0, probe, sizeof probe);
  if (rc != MPK_OK && rc != MPK_EMSGSIZE)
    return -1;
  *policy = MPK_BIND_COMPACT;
  *list = s;
  return 0;
}

int app_parse_names(const char *s, const char *const *names, int count,
                    unsigned *mask, const char **bad) {
  static _Thread_local char item[64];
  if (s == NULL || *s == '\0') {
    if (bad)
      *bad = "";
    return -1;
  }
  unsigned m = 0;
  const char *p = s;
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    size_t keep = len < sizeof item - 1 ? len : sizeof item - 1;
    memcpy(item, p, keep);
    item[keep] = '\0';
    int found = 0;
    if (len > 0 && len == keep && strcmp(item, "all") == 0) {
      m = count >= 32 ? ~0u : (1u << count) - 1;
      found = 1;
    }
    for (int i = 0; !found && len > 0 && i < count; i++)
      if (strlen(names[i]) == len && strncmp(p, names[i], len) == 0) {
        m |= 1u << i;
        found = 1;
      }
    if (!found) {
      if (bad)
        *bad = item;
      return -1;
    }
    if (comma == NULL)
      break;
    p = comma + 1;
  }
  *mask = m;
  return 0;
}

int app_parse_count_list(const char *s, uint64_t lo, uint64_t hi, uint64_t *out,
                         int cap, int *n) {
  if (s == NULL || *s == '\0')
    return -1;
  char buf[64];
  int k = 0;
  const char *p = s;
  uint64_t tmp[256];
  for (;;) {
    const char *comma = strchr(p, ',');
    size_t len = comma ? (size_t)(comma - p) : strlen(p);
    if (len == 0 || len >= sizeof buf || k >= cap || k >= 256)
      return -1;
    memcpy(buf, p, len);
    buf[len] = '\0';
    if (app_parse_count(buf, lo, hi, &tmp[k]) != 0)
      return -1;
    k++;
    if (comma == NULL)
      break;
    p = comma + 1;
  }
  memcpy(out, tmp, (size_t)k * sizeof *out);
  *n = k;
  return 0;
}

int app_usage(const char *prog, const char *fmt, ...) {
  char msg[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(msg, sizeof msg, fmt, ap);
  va_end(ap);
  for (char *c = msg; *c; c++) /* user text must not break the one line */
    if ((unsigned char)*c < 0x20)
      *c = '?';
  fprintf(stderr, "%s: %s (see %s --help)\n", prog, msg, prog);
  return 2;
}

const char *app_why(char *buf, size_t cap, int rc) {
  snprintf(buf, cap, "%s: %s", mpk_err_name(rc), mpk_errmsg());
  for (char *c = buf; *c; c++) /* library text quoting user input */
    if ((unsigned char)*c < 0x20)
      *c = '?';
  return buf;
}

int app_usage_getopt(const char *prog, int c, char **argv) {
  if (c == ':')
    return app_usage(prog, "option '%s' needs a value", argv[optind - 1]);
  return app_usage(prog, "unknown option '%s'", argv[optind - 1]);
}

#define MPI_BIT (1u << APP_MODE_MPI)

void app_opts_init(app_opts *o, uint64_t chunk_max) {
  memset(o, 0, sizeof *o);
  o->modes = ~MPI_BIT; /* "all" never means mpi */
  o->all = 1;
  o->sched = MPK_SCHED_STATIC;
  o->chunk_max = chunk_max;
  o->bind = MPK_BIND_COMPACT;
  o->repeat = 3;
}

/* 1 when the comma-separated list s has the item `item`. */
static int has_item(const char *s, const char *item) {
  const size_t len = strlen(item);
  for (;;) {
    size_t n = strcspn(s, ",");
    if (n == len && strncmp(s, item, len) == 0)
      return 1;
    if (s[n] == '\0')
      return 0;
    s += n + 1;
  }
}

static int parse_modes(const char *prog, const char *s, app_opts *o) {
  int count;
  const char *const *names = app_mode_names(&count);
  const char *bad = NULL;
  char list[128];
  if (app_parse_names(s, names, count, &o->modes, &bad) != 0) {
    if (strcmp(bad, "mpi") == 0 && app_modes_mpi_enabled() &&
        !app_mode_mpi_built())
      return app_usage(prog, "--mode mpi is not built in: mpk was "
                             "configured without MPI (MPK_WITH_MPI=OFF "
                             "or no MPI library found)");
    return app_usage(prog, "unknown mode '%s' in --mode (want %s or all)", bad,
                     app_mode_list(list, sizeof list));
  }
  o->modes_given = 1;
  o->all = strcmp(s, "all") == 0;
  if (!has_item(s, "mpi"))
    o->modes &= ~MPI_BIT; /* "all" never means mpi */
  else if (o->modes & ~MPI_BIT)
    return app_usage(prog, "--mode mpi runs alone (it spans the ranks "
                           "of an mpirun job): drop the other modes");
  return -1;
}

int app_opts_parse(const char *prog, int c, char **argv, app_opts *o) {
  long v;
  switch (c) {
  case 'm': return parse_modes(prog, optarg, o);
  case 'w':
    if (app_parse_long(optarg, 1, MPK_POOL_MAX_WORKERS, &v) != 0)
      return app_usage(prog, "bad --workers '%s' (want 1..%d)", optarg,
                       MPK_POOL_MAX_WORKERS);
    o->workers = (int)v;
    return -1;
  case 't':
    if (app_parse_long(optarg, 2, 256, &v) != 0)
      return app_usage(prog, "bad --threads-per-worker '%s' (want 2..256)",
                       optarg);
    o->tpw = (int)v;
    return -1;
  case 's':
    if (app_parse_sched(optarg, &o->sched) != 0)
      return app_usage(prog,
                       "bad --schedule '%s' (want static, cyclic, dynamic "
                       "or guided)",
                       optarg);
    return -1;
  case 'c':
    if (app_parse_count(optarg, 1, o->chunk_max, &o->chunk) != 0)
      return app_usage(prog, "bad --chunk '%s' (want >= 1)", optarg);
    return -1;
  case 'b':
    if (app_parse_bind(optarg, &o->bind, &o->cpuset) != 0) {
      /* a list (digits, or "type:"): the library says what is wrong */
      if (strpbrk(optarg, "0123456789:") != NULL)
        return app_usage(prog, "bad --bind: %s", mpk_errmsg());
      return app_usage(prog,
                       "bad --bind '%s' (want compact, scatter, none or a "
                       "cpuset list of allowed PUs)",
                       optarg);
    }
    return -1;
  case 'r':
    if (app_parse_long(optarg, 1, APP_MAX_REPEAT, &v) != 0)
      return app_usage(prog, "bad --repeat '%s' (want 1..%d)", optarg,
                       APP_MAX_REPEAT);
    o->repeat = (int)v;
    return -1;
  case 'j': o->json = 1; return -1;
  default: return app_usage_getopt(prog, c, argv);
  }
}

int app_plan_modes(const app_opts *o, app_plan *plan) {
  int cores = mpk_core_count();
  if (cores < 1)
    cores = mpk_cpu_count();
  int workers = o->workers ? o->workers : cores;
  int tpw = o->tpw ? o->tpw : 2, k = 0;
  for (int m = 0; m < APP_MODE_COUNT; m++) {
    const app_mode_info *info = app_mode_get((app_mode)m);
    if (info == NULL || !(o->modes & (1u << m)))
      continue;
    int w = info->kind == APP_KIND_SERIAL ? 1
            : info->mpi                   ? o->workers /* 0: the rank's cores */
                                          : workers,
        t = 1;
    if (info->hybrid) {
      if (o->all && workers < tpw)
        continue; /* no room for a team here: all skips hybrid */
      t = tpw;
      w = workers / tpw > 0 ? workers / tpw : 1;
    }
    plan[k++] = (app_plan){(app_mode)m, w, t};
  }
  return k;
}

const char *app_workers_label(char *buf, size_t cap, int workers, int tpw) {
  if (tpw > 1)
    snprintf(buf, cap, "%dx%d", workers, tpw);
  else
    snprintf(buf, cap, "%d", workers);
  return buf;
}
