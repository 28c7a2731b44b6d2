/* scale_hosts.c - the hostfile of mpk-scale's points over hosts (--hosts):
 * Open MPI's `NAME slots=N` lines, read and checked before anything runs.
 * See scale.h. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scale.h"

#define MAX_SLOTS 1000000

/* N of "key=N" (1..MAX_SLOTS) into *v: 0, or -1. */
static int slot_count(const char *word, const char *key, long *v) {
  size_t k = strlen(key);
  if (strncmp(word, key, k) != 0 || word[k] != '=')
    return -1;
  char *end;
  errno = 0;
  long n = strtol(word + k + 1, &end, 10);
  if (end == word + k + 1 || *end != '\0' || errno != 0 || n < 1 ||
      n > MAX_SLOTS)
    return -1;
  *v = n;
  return 0;
}

static int good_name(const char *s) {
  if (*s == '\0' || strlen(s) >= sizeof(((scale_host *)0)->name))
    return 0;
  for (; *s; s++)
    if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
          (*s >= '0' && *s <= '9') || *s == '.' || *s == '-'))
      return 0;
  return 1;
}

/* One line (comment cut, not empty) into host; 0, or -1 with the reason. */
static int parse_line(char *line, scale_host *host, char *why, size_t cap) {
  char *words[4];
  int n = 0;
  char *save = NULL;
  for (char *t = strtok_r(line, " \t\r\n", &save); t != NULL;
       t = strtok_r(NULL, " \t\r\n", &save)) {
    if (n == 3) {
      snprintf(why, cap, "more than NAME slots=N max_slots=M");
      return -1;
    }
    words[n++] = t;
  }
  if (!good_name(words[0])) {
    snprintf(why, cap, "bad host name '%.60s' (letters, digits, '.', '-')",
             words[0]);
    return -1;
  }
  long slots = 0, max = 0;
  if (n < 2 || slot_count(words[1], "slots", &slots) != 0) {
    snprintf(why, cap,
             "want 'NAME slots=N' with N >= 1 (mpk-scale places ranks by "
             "each host's slots)");
    return -1;
  }
  if (n == 3 && (slot_count(words[2], "max_slots", &max) != 0 || max < slots)) {
    snprintf(why, cap, "bad '%.40s' (want max_slots=M, M >= slots)", words[2]);
    return -1;
  }
  snprintf(host->name, sizeof host->name, "%s", words[0]);
  host->slots = (int)slots;
  return 0;
}

int scale_hosts_read(const char *path, scale_hosts *h, char *err, size_t cap) {
  h->h = NULL;
  h->n = 0;
  FILE *f = fopen(path, "r");
  if (f == NULL) {
    snprintf(err, cap, "cannot read hostfile '%s': %s", path, strerror(errno));
    return -1;
  }
  char line[1024], why[160];
  int lineno = 0, room = 0, rc = 0;
  while (rc == 0 && fgets(line, sizeof line, f) != NULL) {
    lineno++;
    size_t len = strlen(line);
    if (len == sizeof line - 1 && line[len - 1] != '\n') {
      snprintf(err, cap, "hostfile '%s' line %d: longer than %zu bytes", path,
               lineno, sizeof line - 2);
      rc = -1;
      break;
    }
    line[strcspn(line, "#")] = '\0';
    if (line[strspn(line, " \t\r\n")] == '\0')
      continue; /* blank or a comment */
    if (h->n == room) {
      room = room ? 2 * room : 8;
      scale_host *nh = realloc(h->h, (size_t)room * sizeof *nh);
      if (nh == NULL) {
        snprintf(err, cap, "out of memory");
        rc = -1;
        break;
      }
      h->h = nh;
    }
    scale_host *host = &h->h[h->n];
    if (parse_line(line, host, why, sizeof why) != 0) {
      snprintf(err, cap, "hostfile '%s' line %d: %s", path, lineno, why);
      rc = -1;
      break;
    }
    for (int i = 0; i < h->n; i++)
      if (strcmp(h->h[i].name, host->name) == 0) {
        snprintf(err, cap, "hostfile '%s' line %d: host '%s' again", path,
                 lineno, host->name);
        rc = -1;
      }
    h->n += rc == 0;
  }
  if (rc == 0 && ferror(f)) {
    snprintf(err, cap, "cannot read hostfile '%s': %s", path, strerror(errno));
    rc = -1;
  }
  fclose(f);
  if (rc == 0 && h->n == 0) {
    snprintf(err, cap,
             "hostfile '%s' names no host (want 'NAME slots=N' lines)", path);
    rc = -1;
  }
  if (rc != 0)
    scale_hosts_free(h);
  return rc;
}

void scale_hosts_free(scale_hosts *h) {
  free(h->h);
  h->h = NULL;
  h->n = 0;
}
