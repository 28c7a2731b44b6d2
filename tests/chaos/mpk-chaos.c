/* mpk-chaos: seeded, randomized fault scenarios against mpk (issue 9).
 *
 *   mpk-chaos [--seed S] [--iterations N] [--scenario NAME[,NAME...]]
 *             [--timeout S] [--json] [--verbose] [--list] [--help]
 *
 * Iteration i (0-based) uses seed S + i: the runner seeds gsl_rng_mt19937
 * with it, draws the scenario (uniformly among the enabled ones), then
 * forks the iteration's leader (see chaos.h), which makes every other
 * random choice from the same generator. So
 * `mpk-chaos --seed S+i --iterations 1 --scenario NAME` replays it.
 *
 * An iteration fails when a check fails (exact results, documented codes),
 * when the leader dies of a signal, when a live process stays inside one
 * call longer than that call's limit (a hang: the call, the role of the
 * process and the seed are named, and the session is killed), or when any
 * process of its session is left when it ends (zombie or orphan). Stalls
 * (calls that returned later than their documented bound) and the
 * kill-to-return latencies of pool calls are counted, not failed.
 * Exit status: 0 when no iteration failed, 1 otherwise, 2 for bad options.
 */
#include <getopt.h>
#include <gsl/gsl_sort.h>
#include <gsl/gsl_statistics_double.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>

#include "chaos.h"
#include "process-util.h"

static const ch_scenario scenarios[] = {
    {"pool-map", "map, workers SIGKILLed in / after a kernel or idle",
     ch_pool_map},
    {"pool-apply", "apply with SIGKILLed workers", ch_pool_apply},
    {"pool-async",
     "map_async / apply_async in flight, one call's worker "
     "killed",
     ch_pool_async},
    {"pool-imap", "ordered imap with SIGKILLed workers", ch_pool_imap},
    {"pool-imap-unordered",
     "unordered imap with SIGKILLed workers and a slow chunk",
     ch_pool_imap_unordered},
    {"pool-imap-close", "imap, then close (and join) while results are left",
     ch_pool_imap_close},
    {"pool-for", "for under every schedule with SIGKILLed workers",
     ch_pool_for},
    {"pool-reduce", "reduce_double and reduce with SIGKILLed workers",
     ch_pool_reduce},
    {"lock-kill",
     "Lock / RLock / Array lock users killed holding, asleep or stepped "
     "into a call",
     ch_lock_kill},
    {"lock-waketake", "Lock / Array lock waiter killed between wake and take",
     ch_lock_waketake},
    {"sem-kill", "Semaphore sleepers killed asleep, stepped or woken",
     ch_sem_kill},
    {"cond-kill",
     "Condition waiters killed asleep or woken; lock holder killed",
     ch_cond_kill},
    {"queue-kill", "Queue producers / consumers killed mid-put / mid-get",
     ch_queue_kill},
    {"pipe-kill", "Pipe senders / receivers killed mid-message", ch_pipe_kill},
    {"dict-kill", "dict writers killed mid-call", ch_dict_kill},
    {"parent-death", "the pool owner dies: every descendant must go",
     ch_parent_death},
    {"bad-args", "invalid arguments and wild handles", ch_bad_args},
};
enum { NSCEN = sizeof scenarios / sizeof scenarios[0] };

typedef struct {
  long iters, fails, hangs, stalls;
  double seconds;
  double *lat;
  size_t nlat, cap;
} scen_stats;

typedef struct {
  unsigned long seed;
  int scenario;
  char what[400];
} failure;

static struct {
  unsigned long seed;
  long iterations;
  double timeout;
  int json, verbose;
  int enabled[NSCEN], nenabled;
} opt = {0, 100, 120.0, 0, 0, {0}, 0};

static scen_stats stats[NSCEN];
static failure *fails;
static size_t nfails, capfails;
static long total_stalls;

static void usage(FILE *f) {
  fprintf(f,
          "usage: mpk-chaos [--seed S] [--iterations N] [--scenario LIST]\n"
          "                 [--timeout S] [--json] [--verbose] [--list]\n"
          "Seeded fault scenarios against mpk. Iteration i uses seed S+i;\n"
          "replay one with --seed S+i --iterations 1 --scenario NAME.\n"
          "  --seed S         first seed (default: from the clock, printed)\n"
          "  --iterations N   iterations (default 100)\n"
          "  --scenario LIST  comma-separated names; NAME* matches a prefix\n"
          "  --timeout S      kill an iteration after S s (default 120)\n"
          "  --json           print the summary as one JSON object\n"
          "  --verbose        print every iteration's output\n"
          "  --list           list the scenarios and exit\n");
}

static void bad(const char *msg, const char *arg) {
  fprintf(stderr, "mpk-chaos: %s: '%s' (see --help)\n", msg, arg);
  exit(2);
}

static int enable(const char *name, size_t len) {
  int hit = 0;
  int prefix = len > 0 && name[len - 1] == '*';
  for (int i = 0; i < NSCEN; i++) {
    const char *s = scenarios[i].name;
    int match = prefix ? strncmp(s, name, len - 1) == 0
                       : strlen(s) == len && strncmp(s, name, len) == 0;
    if (match && !opt.enabled[i]) {
      opt.enabled[i] = 1;
      opt.nenabled++;
    }
    hit |= match;
  }
  return hit;
}

static void parse(int argc, char **argv) {
  static const struct option longs[] = {
      {"seed", required_argument, 0, 's'},
      {"iterations", required_argument, 0, 'n'},
      {"scenario", required_argument, 0, 'c'},
      {"timeout", required_argument, 0, 't'},
      {"json", no_argument, 0, 'j'},
      {"verbose", no_argument, 0, 'v'},
      {"list", no_argument, 0, 'l'},
      {"help", no_argument, 0, 'h'},
      {0, 0, 0, 0}};
  int seeded = 0, c;
  opterr = 0; /* one line of our own for a bad option */
  char *end;
  while ((c = getopt_long(argc, argv, "", longs, NULL)) != -1) {
    switch (c) {
    case 's':
      errno = 0;
      opt.seed = strtoul(optarg, &end, 0);
      if (*optarg == '\0' || *optarg == '-' || *end || errno)
        bad("bad seed", optarg);
      seeded = 1;
      break;
    case 'n':
      opt.iterations = strtol(optarg, &end, 10);
      if (*optarg == '\0' || *end || opt.iterations < 1 ||
          opt.iterations > 100000000)
        bad("bad iteration count", optarg);
      break;
    case 'c':
      for (const char *s = optarg; *s;) {
        size_t len = strcspn(s, ",");
        if (len == 0 || !enable(s, len))
          bad("unknown scenario", optarg);
        s += len + (s[len] == ',');
      }
      break;
    case 't':
      opt.timeout = strtod(optarg, &end);
      if (*optarg == '\0' || *end || !(opt.timeout >= 1) || opt.timeout > 3600)
        bad("bad timeout", optarg);
      break;
    case 'j': opt.json = 1; break;
    case 'v': opt.verbose = 1; break;
    case 'l':
      for (int i = 0; i < NSCEN; i++)
        printf("%-20s %s\n", scenarios[i].name, scenarios[i].what);
      exit(0);
    case 'h': usage(stdout); exit(0);
    default: fprintf(stderr, "mpk-chaos: bad option (see --help)\n"); exit(2);
    }
  }
  if (optind < argc)
    bad("unexpected argument", argv[optind]);
  if (!seeded)
    opt.seed = (unsigned long)time(NULL) % 1000000000ul;
  if (opt.nenabled == 0)
    for (int i = 0; i < NSCEN; i++, opt.nenabled++)
      opt.enabled[i] = 1;
}

/* ---- one iteration ------------------------------------------------------- */

typedef struct {
  int failed, hung;
  char what[400];
} outcome;

/* Leader: run the scenario in a fresh session, then require that nothing
   of it is left. */
static void leader(int s, int out_fd, pid_t runner) {
  setsid();
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != runner)
    _exit(99);
  prctl(PR_SET_CHILD_SUBREAPER, 1);
  dup2(out_fd, 1);
  dup2(out_fd, 2);
  close(out_fd);
  setvbuf(stdout, NULL, _IONBF, 0);
  ch_set_current(scenarios[s].name);
  scenarios[s].run();
  pid_t left[16];
  int n = ch_session_pids(getpid(), getpid(), left, 16);
  if (n > 0) {
    char list[300] = "", one[80];
    for (int i = 0; i < n && i < 3; i++) {
      ch_describe(left[i], one, sizeof one);
      snprintf(list + strlen(list), sizeof list - strlen(list), "%s%s",
               i ? ", " : "", one);
    }
    CHECK_MSG(0, "%d process(es) of the iteration left behind: %s", n, list);
  }
  fflush(NULL);
  _exit(0);
}

/* A crumb of a live process of session sid that is past its limit. */
static const ch_crumb *hung_crumb(pid_t sid, double *age) {
  int64_t now = ch_now_ns();
  for (int i = 0; i < CH_CRUMBS; i++) {
    const ch_crumb *c = &ch_pg->crumbs[i];
    int64_t t0 = atomic_load(&c->start_ns);
    if (!atomic_load(&c->used) || t0 == 0)
      continue;
    *age = (double)(now - t0) * 1e-9;
    pid_t s = 0;
    pid_t pid = atomic_load(&c->pid);
    if (*age > c->limit && !pu_pid_dead(pid) &&
        pu_proc_stat(pid, NULL, NULL, &s) == 0 && s == sid)
      return c;
  }
  return NULL;
}

/* The leader's call in progress, if any (to name what crashed). */
static const ch_crumb *crumb_of(pid_t pid) {
  for (int i = 0; i < CH_CRUMBS; i++) {
    const ch_crumb *c = &ch_pg->crumbs[i];
    if (atomic_load(&c->used) && atomic_load(&c->start_ns) != 0 &&
        atomic_load(&c->pid) == pid)
      return c;
  }
  return NULL;
}

/* Kill every process of session sid and reap what comes back to us. */
static void kill_session(pid_t sid) {
  double end = check_now() + CH_HANG;
  pid_t left[64];
  int n;
  while ((n = ch_session_pids(sid, 0, left, 64)) > 0 && check_now() < end) {
    for (int i = 0; i < n; i++)
      kill(left[i], SIGKILL);
    ch_reap_any();
    check_sleep(0.001);
  }
  if (n > 0)
    fprintf(stderr, "mpk-chaos: %d process(es) of session %d would not die\n",
            n, (int)sid);
}

/* The first line of the output that is not a '#' comment. */
static void first_complaint(const char *text, char *buf, size_t cap) {
  for (const char *l = text; *l;) {
    size_t len = strcspn(l, "\n");
    if (len > 0 && *l != '#') {
      snprintf(buf, cap, "%.*s", (int)(len < cap ? len : cap - 1), l);
      return;
    }
    l += len + (l[len] == '\n');
  }
  snprintf(buf, cap, "exit status 1 without a message");
}

static char *read_all(int fd) {
  off_t size = lseek(fd, 0, SEEK_END);
  size_t keep = size > (1 << 20) ? (1 << 20) : (size_t)size;
  char *text = malloc(keep + 1);
  CHECK(text != NULL);
  ssize_t n = pread(fd, text, keep, size - (off_t)keep);
  text[n > 0 ? n : 0] = '\0';
  return text;
}

static void watch(pid_t pid, outcome *o, int *status) {
  double t0 = check_now();
  for (;;) {
    if (waitpid(pid, status, WNOHANG) == pid)
      return;
    double age = 0;
    const ch_crumb *c = hung_crumb(pid, &age);
    if (c || check_now() - t0 > opt.timeout) {
      o->failed = o->hung = 1;
      if (c)
        snprintf(o->what, sizeof o->what,
                 "hang: %s (%s, pid %d) still inside after %.1f s "
                 "(limit %.1f s)",
                 c->what, c->role, atomic_load(&c->pid), age, c->limit);
      else
        snprintf(o->what, sizeof o->what, "hang: the iteration ran over %.0f s",
                 opt.timeout);
      kill_session(pid);
      waitpid(pid, status, 0);
      return;
    }
    check_sleep(0.002);
  }
}

static void run_one(int s, unsigned long seed, outcome *o) {
  memset(ch_pg, 0, sizeof *ch_pg);
  memset(o, 0, sizeof *o);
  int out = memfd_create("mpk-chaos-out", MFD_CLOEXEC);
  CHECK(out >= 0);
  fflush(NULL);
  pid_t runner = getpid(), pid = fork();
  CHECK(pid >= 0);
  if (pid == 0)
    leader(s, out, runner);
  int st = 0;
  watch(pid, o, &st);
  if (!o->hung) {
    pid_t left[16];
    int n = ch_session_pids(pid, 0, left, 16);
    if (WIFSIGNALED(st)) {
      const ch_crumb *c = crumb_of(pid);
      o->failed = 1;
      snprintf(o->what, sizeof o->what, "the leader died of %s%s%s",
               strsignal(WTERMSIG(st)), c ? " in " : "", c ? c->what : "");
    } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
      char *text = read_all(out);
      o->failed = 1;
      first_complaint(text, o->what, sizeof o->what);
      free(text);
    } else if (n > 0) {
      char one[80];
      ch_describe(left[0], one, sizeof one);
      o->failed = 1;
      snprintf(o->what, sizeof o->what,
               "%d process(es) outlived the iteration, e.g. %s", n, one);
    }
  }
  kill_session(pid);
  ch_reap_any();
  if (o->failed || opt.verbose) {
    char *text = read_all(out);
    fprintf(stderr, "%s %s seed %lu: %s\n", o->failed ? "FAIL" : "ok",
            scenarios[s].name, seed, o->failed ? o->what : "");
    fprintf(stderr, "  choices: %s\n", ch_pg->note);
    if (o->failed)
      fprintf(stderr,
              "  replay: mpk-chaos --seed %lu --iterations 1 --scenario %s\n",
              seed, scenarios[s].name);
    for (char *l = text; *l;) {
      size_t len = strcspn(l, "\n");
      fprintf(stderr, "  | %.*s\n", (int)len, l);
      l += len + (l[len] == '\n');
    }
    free(text);
  }
  close(out);
}

/* ---- bookkeeping and the summary ---------------------------------------- */

static void record(int s, unsigned long seed, const outcome *o, double secs) {
  scen_stats *st = &stats[s];
  st->iters++;
  st->seconds += secs;
  int ns = atomic_load(&ch_pg->stalls);
  st->stalls += ns;
  total_stalls += ns;
  for (int i = 0; i < ns && i < CH_STALL_TEXTS; i++)
    fprintf(stderr, "STALL %s seed %lu: %s\n", scenarios[s].name, seed,
            ch_pg->stall[i]);
  int nl = atomic_load(&ch_pg->nlat);
  for (int i = 0; i < nl && i < CH_MAX_LAT; i++) {
    if (st->nlat == st->cap) {
      st->cap = st->cap ? 2 * st->cap : 64;
      st->lat = realloc(st->lat, st->cap * sizeof *st->lat);
      CHECK(st->lat != NULL);
    }
    st->lat[st->nlat++] = ch_pg->lat[i];
  }
  if (!o->failed)
    return;
  st->fails++;
  st->hangs += o->hung;
  if (nfails == capfails) {
    capfails = capfails ? 2 * capfails : 16;
    fails = realloc(fails, capfails * sizeof *fails);
    CHECK(fails != NULL);
  }
  fails[nfails].seed = seed;
  fails[nfails].scenario = s;
  snprintf(fails[nfails].what, sizeof fails[nfails].what, "%s", o->what);
  nfails++;
}

typedef struct {
  size_t n;
  double p50, p99, max; /* milliseconds */
} lat_summary;

/* Sorts the samples. */
static lat_summary summarize(double *v, size_t n) {
  lat_summary l = {n, 0, 0, 0};
  if (n == 0)
    return l;
  gsl_sort(v, 1, n);
  l.p50 = 1e3 * gsl_stats_quantile_from_sorted_data(v, 1, n, 0.50);
  l.p99 = 1e3 * gsl_stats_quantile_from_sorted_data(v, 1, n, 0.99);
  l.max = 1e3 * gsl_stats_max(v, 1, n);
  return l;
}

static lat_summary all_latencies(void) {
  size_t n = 0;
  for (int s = 0; s < NSCEN; s++)
    n += stats[s].nlat;
  double *v = malloc((n ? n : 1) * sizeof *v);
  CHECK(v != NULL);
  size_t k = 0;
  for (int s = 0; s < NSCEN; s++)
    for (size_t i = 0; i < stats[s].nlat; i++)
      v[k++] = stats[s].lat[i];
  lat_summary l = summarize(v, n);
  free(v);
  return l;
}

static void json_string(const char *s) {
  putchar('"');
  for (; *s; s++) {
    if (*s == '"' || *s == '\\')
      printf("\\%c", *s);
    else if ((unsigned char)*s < 0x20)
      printf("\\u%04x", *s);
    else
      putchar(*s);
  }
  putchar('"');
}

static void print_json(long done, long nfailed, double secs) {
  lat_summary all = all_latencies();
  printf("{\"seed\": %lu, \"iterations\": %ld, \"failures\": %ld, "
         "\"stalls\": %ld, \"seconds\": %.3f,\n",
         opt.seed, done, nfailed, total_stalls, secs);
  printf(" \"kill_to_return_ms\": {\"samples\": %zu, \"p50\": %.3f, "
         "\"p99\": %.3f, \"max\": %.3f},\n",
         all.n, all.p50, all.p99, all.max);
  printf(" \"scenarios\": [");
  int first = 1;
  for (int s = 0; s < NSCEN; s++) {
    if (!opt.enabled[s])
      continue;
    scen_stats *st = &stats[s];
    lat_summary l = summarize(st->lat, st->nlat);
    printf("%s\n  {\"name\": \"%s\", \"iterations\": %ld, \"failures\": %ld, "
           "\"hangs\": %ld, \"stalls\": %ld, \"seconds\": %.3f, "
           "\"kill_to_return_ms\": {\"samples\": %zu, \"p50\": %.3f, "
           "\"p99\": %.3f, \"max\": %.3f}}",
           first ? "" : ",", scenarios[s].name, st->iters, st->fails, st->hangs,
           st->stalls, st->seconds, l.n, l.p50, l.p99, l.max);
    first = 0;
  }
  printf("],\n \"failed\": [");
  for (size_t i = 0; i < nfails; i++) {
    printf("%s\n  {\"seed\": %lu, \"scenario\": \"%s\", \"what\": ",
           i ? "," : "", fails[i].seed, scenarios[fails[i].scenario].name);
    json_string(fails[i].what);
    printf("}");
  }
  printf("]}\n");
}

static void print_text(long done, long nfailed, double secs) {
  long hangs = 0;
  for (int s = 0; s < NSCEN; s++)
    hangs += stats[s].hangs;
  printf("mpk-chaos: seeds %lu..%lu: %ld iterations, %ld failed (%ld hung), "
         "%ld stalls, %.1f s\n",
         opt.seed, opt.seed + (unsigned long)done - 1, done, nfailed, hangs,
         total_stalls, secs);
  printf("%-20s %6s %6s %6s %6s %8s %9s %9s\n", "scenario", "iters", "fail",
         "hang", "stall", "s/iter", "k2r p50", "k2r p99");
  for (int s = 0; s < NSCEN; s++) {
    scen_stats *st = &stats[s];
    if (!opt.enabled[s])
      continue;
    lat_summary l = summarize(st->lat, st->nlat);
    printf("%-20s %6ld %6ld %6ld %6ld %8.2f", scenarios[s].name, st->iters,
           st->fails, st->hangs, st->stalls,
           st->iters ? st->seconds / (double)st->iters : 0.0);
    if (l.n)
      printf(" %7.2fms %7.2fms\n", l.p50, l.p99);
    else
      printf(" %9s %9s\n", "-", "-");
  }
  lat_summary all = all_latencies();
  printf("kill-to-return (pool calls): %zu samples, p50 %.2f ms, p99 %.2f ms, "
         "max %.2f ms\n",
         all.n, all.p50, all.p99, all.max);
  for (size_t i = 0; i < nfails; i++)
    printf("failed: %s seed %lu: %s\n", scenarios[fails[i].scenario].name,
           fails[i].seed, fails[i].what);
}

int main(int argc, char **argv) {
  parse(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  CHECK(prctl(PR_SET_CHILD_SUBREAPER, 1) == 0);
  ch_pg = mmap(NULL, sizeof *ch_pg, PROT_READ | PROT_WRITE,
               MAP_SHARED | MAP_ANONYMOUS, -1, 0);
  CHECK(ch_pg != MAP_FAILED);
  ch_rng = gsl_rng_alloc(gsl_rng_mt19937);
  CHECK(ch_rng != NULL);
  int on[NSCEN], non = 0;
  for (int s = 0; s < NSCEN; s++)
    if (opt.enabled[s])
      on[non++] = s;
  if (!opt.json)
    printf("mpk-chaos: seed %lu, %ld iterations, %d scenario(s)\n", opt.seed,
           opt.iterations, non);
  fflush(stdout);
  double t0 = check_now();
  long nfailed = 0;
  for (long i = 0; i < opt.iterations; i++) {
    unsigned long seed = opt.seed + (unsigned long)i;
    gsl_rng_set(ch_rng, seed);
    int s = on[gsl_rng_uniform_int(ch_rng, 1ul << 20) % (unsigned long)non];
    outcome o;
    double t = check_now();
    run_one(s, seed, &o);
    record(s, seed, &o, check_now() - t);
    nfailed += o.failed;
  }
  double secs = check_now() - t0;
  if (opt.json)
    print_json(opt.iterations, nfailed, secs);
  else
    print_text(opt.iterations, nfailed, secs);
  for (int s = 0; s < NSCEN; s++)
    free(stats[s].lat);
  free(fails);
  gsl_rng_free(ch_rng);
  return nfailed ? 1 : 0;
}
