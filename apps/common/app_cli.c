/* app_cli.c - option value parsers. See app_cli.h. */
#include "app_cli.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
