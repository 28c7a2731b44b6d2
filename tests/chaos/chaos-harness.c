/* chaos-harness.c - the harness of mpk-chaos (chaos.h): randomness, the
 * shared page (notes, stalls, latencies, crumbs), traced victims and
 * hand-shakes, and the session scan. */
#include "chaos.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>

#include "process-util.h"

gsl_rng *ch_rng;
ch_page *ch_pg;
static char role[40] = "leader";

static const char **currents[32];
static int ncurrents;

void ch__register_current(const char **current) {
  if (ncurrents < 32)
    currents[ncurrents++] = current;
}

void ch_set_current(const char *name) {
  for (int i = 0; i < ncurrents; i++)
    *currents[i] = name;
}

/* ---- randomness ----------------------------------------------------------
 */

unsigned long ch_pick(unsigned long n) {
  return n <= 1 ? 0 : gsl_rng_uniform_int(ch_rng, n);
}

long ch_range(long lo, long hi) {
  return lo + (long)ch_pick((unsigned long)(hi - lo) + 1);
}

int ch_chance(double p) {
  return gsl_rng_uniform(ch_rng) < p;
}

int ch_one_of(const int *v, int n) {
  return v[ch_pick((unsigned long)n)];
}

void ch_jitter(double max_s) {
  double s = gsl_rng_uniform(ch_rng) * max_s;
  if (s > 0)
    check_sleep(s);
}

int64_t ch_now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- the shared page ----------------------------------------------------- */

void ch_note(const char *fmt, ...) {
  size_t used = strlen(ch_pg->note);
  if (used + 2 >= sizeof ch_pg->note)
    return;
  if (used > 0)
    ch_pg->note[used++] = ' ';
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(ch_pg->note + used, sizeof ch_pg->note - used, fmt, ap);
  va_end(ap);
}

void ch_stall(const char *fmt, ...) {
  char text[200];
  size_t r = (size_t)snprintf(text, sizeof text, "%s: ", role);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(text + r, sizeof text - r, fmt, ap);
  va_end(ap);
  int n = atomic_fetch_add(&ch_pg->stalls, 1);
  if (n < CH_STALL_TEXTS)
    memcpy(ch_pg->stall[n], text, sizeof text);
  printf("# stall: %s\n", text);
}

void ch_latency(double seconds) {
  int i = atomic_fetch_add(&ch_pg->nlat, 1);
  if (i < CH_MAX_LAT)
    ch_pg->lat[i] = seconds;
}

int ch_paused_since(double t0) {
  int64_t start = atomic_load(&ch_pg->pause_start);
  int64_t end = atomic_load(&ch_pg->pause_end);
  return start != 0 && (end == 0 || (double)end * 1e-9 >= t0);
}

void ch_pause(int on) {
  int64_t now = ch_now_ns();
  if (on) {
    atomic_store(&ch_pg->pause_end, 0);
    atomic_store(&ch_pg->pause_start, now);
  } else {
    atomic_store(&ch_pg->pause_end, now);
  }
}

void ch_role(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(role, sizeof role, fmt, ap);
  va_end(ap);
}

int ch_begin(const char *what, double limit) {
  for (int i = 0; i < CH_CRUMBS; i++) {
    ch_crumb *c = &ch_pg->crumbs[i];
    int free_slot = 0;
    if (!atomic_compare_exchange_strong(&c->used, &free_slot, 1))
      continue;
    atomic_store(&c->pid, (int)getpid());
    c->limit = limit;
    snprintf(c->what, sizeof c->what, "%s", what);
    snprintf(c->role, sizeof c->role, "%s", role);
    atomic_store(&c->start_ns, ch_now_ns());
    return i;
  }
  return -1; /* table full: this call is not watched */
}

void ch_end(int token) {
  if (token < 0)
    return;
  ch_crumb *c = &ch_pg->crumbs[token];
  atomic_store(&c->start_ns, 0);
  atomic_store(&c->used, 0);
}

/* ---- hand-shakes ----------------------------------------------------------
 */

void ch_tell(int fd, long v) {
  ssize_t w;
  do
    w = write(fd, &v, sizeof v);
  while (w == -1 && errno == EINTR);
  CHECK_MSG(w == (ssize_t)sizeof v, "ch_tell: %s", strerror(errno));
}

int ch_hear(int fd, long *v, double timeout) {
  double end = check_now() + timeout;
  for (;;) {
    double left = end - check_now();
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, left > 0 ? (int)(left * 1000) + 1 : 0);
    if (r == -1 && errno == EINTR)
      continue;
    CHECK(r >= 0);
    if (r == 0)
      return 0;
    ssize_t n = read(fd, v, sizeof *v);
    if (n == -1 && errno == EINTR)
      continue;
    CHECK_MSG(n == (ssize_t)sizeof *v, "ch_hear: read %zd", n);
    return 1;
  }
}

void ch_pipe(int fds[2]) {
  CHECK_MSG(pipe2(fds, O_CLOEXEC) == 0, "pipe2: %s", strerror(errno));
}

/* ---- sequence-numbered messages --------------------------------------- */

static uint32_t check_of(uint32_t who, uint32_t seq, uint32_t len) {
  return (who * 2654435761u) ^ (seq * 40503u) ^ (len << 7) ^ 0x5eed;
}

static unsigned char pattern(uint32_t who, uint32_t seq, size_t k) {
  return (unsigned char)(seq * 31 + who * 7 + k);
}

void ch_msg_make(unsigned char *buf, uint32_t who, uint32_t seq, size_t len) {
  ch_msg h = {who, seq, (uint32_t)len, check_of(who, seq, (uint32_t)len)};
  memcpy(buf, &h, sizeof h);
  for (size_t k = sizeof h; k < len; k++)
    buf[k] = pattern(who, seq, k);
}

ch_msg ch_msg_check(const unsigned char *buf, size_t len) {
  ch_msg h;
  CHECK_MSG(len >= sizeof h, "a %zu-byte message", len);
  memcpy(&h, buf, sizeof h);
  CHECK_MSG(h.len == len && h.check == check_of(h.who, h.seq, h.len),
            "torn or invented message (%zu bytes, head %u/%u/%u)", len, h.who,
            h.seq, h.len);
  for (size_t k = sizeof h; k < len; k++)
    CHECK_MSG(buf[k] == pattern(h.who, h.seq, k),
              "message %u/%u: byte %zu corrupt", h.who, h.seq, k);
  return h;
}

/* ---- the session -----------------------------------------------------------
 */

int ch_session_pids(pid_t sid, pid_t except, pid_t *pids, int max) {
  DIR *d = opendir("/proc");
  CHECK(d != NULL);
  int n = 0;
  struct dirent *e;
  while ((e = readdir(d)) != NULL && n < max) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    pid_t s = 0;
    if (*end != '\0' || pid <= 0 || pid == except)
      continue;
    if (pu_proc_stat((pid_t)pid, NULL, NULL, &s) == 0 && s == sid)
      pids[n++] = (pid_t)pid;
  }
  closedir(d);
  return n;
}

void ch_describe(pid_t pid, char *buf, size_t cap) {
  char path[64], comm[32] = "?";
  snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
  FILE *f = fopen(path, "r");
  if (f) {
    if (fgets(comm, sizeof comm, f))
      comm[strcspn(comm, "\n")] = '\0';
    fclose(f);
  }
  char st = '?';
  pid_t pp = 0;
  pu_proc_stat(pid, &st, &pp, NULL);
  snprintf(buf, cap, "%d (%s, state %c, parent %d)", (int)pid, comm, st,
           (int)pp);
}

void ch_reap_any(void) {
  int st;
  while (waitpid(-1, &st, __WALL | WNOHANG) > 0) {
  }
}
