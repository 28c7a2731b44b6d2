/* config.c - the one file that reads MPK_* environment variables. */
#include "internal/config.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static mpk__config config;
static pthread_once_t config_once = PTHREAD_ONCE_INIT;

int mpk__parse_size(const char *s, size_t *out) {
  if (s == NULL)
    return -1;
  while (isspace((unsigned char)*s))
    s++;
  if (!isdigit((unsigned char)*s))
    return -1;
  errno = 0;
  char *end;
  unsigned long long v = strtoull(s, &end, 10);
  if (errno != 0)
    return -1;
  unsigned shift = 0;
  switch (toupper((unsigned char)*end)) {
  case 'K':
    shift = 10;
    end++;
    break;
  case 'M':
    shift = 20;
    end++;
    break;
  case 'G':
    shift = 30;
    end++;
    break;
  case 'T':
    shift = 40;
    end++;
    break;
  default: break;
  }
  if (shift && (*end == 'B' || *end == 'b'))
    end++;
  if (*end == 'i' && (end[1] == 'B' || end[1] == 'b'))
    end += 2;
  while (isspace((unsigned char)*end))
    end++;
  if (*end != '\0')
    return -1;
  if (shift && v > (SIZE_MAX >> shift))
    return -1;
  *out = (size_t)(v << shift);
  return 0;
}

static void warn(const char *var, const char *val, const char *what) {
  fprintf(stderr, "mpk: ignoring %s=\"%s\": %s\n", var, val, what);
}

static void load(void) {
  config.spin_us = -1.0;
  const char *v = getenv("MPK_SHM_SIZE");
  if (v && *v) {
    size_t sz;
    if (mpk__parse_size(v, &sz) != 0 || sz == 0)
      warn("MPK_SHM_SIZE", v, "expected a size such as 4G or 512M");
    else
      config.shm_size = sz;
  }
  const char *wp = getenv("MPK_WAIT_POLICY");
  const char *wvar = "MPK_WAIT_POLICY";
  if (!wp || !*wp) {
    wp = getenv("OMP_WAIT_POLICY");
    wvar = "OMP_WAIT_POLICY";
  }
  if (wp && *wp) {
    if (strcasecmp(wp, "active") == 0)
      config.wait = MPK__WAIT_ACTIVE;
    else if (strcasecmp(wp, "passive") == 0)
      config.wait = MPK__WAIT_PASSIVE;
    else
      warn(wvar, wp, "expected active or passive");
  }
  v = getenv("MPK_SPIN_US");
  if (v && *v) {
    char *end;
    errno = 0;
    double us = strtod(v, &end);
    if (errno || end == v || *end != '\0' || !(us >= 0) || us > 1e9)
      warn("MPK_SPIN_US", v, "expected microseconds >= 0");
    else
      config.spin_us = us;
  }
}

const mpk__config *mpk__config_get(void) {
  pthread_once(&config_once, load);
  return &config;
}
