/* mpk-topo: print the machine as mpk sees it (through hwloc, restricted to
 * this process's allowed CPUs) and the binding plan for N workers.
 *
 *   mpk-topo [--workers N] [--bind compact|scatter|none|LIST]
 *            [--cpuset LIST] [--threads-per-worker K] [--json] [--help]
 *
 * Exit status: 0 success, 1 a topology call failed, 2 bad usage.
 * Uses only mpk's public API.
 */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mpk/error.h"
#include "mpk/topo.h"

#define MAX_WORKERS 65536
#define MAX_THREADS 4096

static const char usage_text[] =
    "usage: mpk-topo [--workers N] [--bind compact|scatter|none|LIST]\n"
    "                [--cpuset LIST] [--threads-per-worker K] [--json] "
    "[--help]\n"
    "\n"
    "Print the machine (hwloc version, packages, NUMA nodes, cores, PUs, the\n"
    "allowed cpuset) and the cpuset each of N workers is bound to.\n"
    "\n"
    "  -w, --workers N             workers to plan (1..65536; default: the\n"
    "                              allowed cores / K, at least 1)\n"
    "  -b, --bind POLICY           compact (default): fill cores in order;\n"
    "                              scatter: spread over packages and NUMA\n"
    "                              nodes first; none: every worker gets the\n"
    "                              whole allowed set; anything else is a LIST\n"
    "                              planned compactly\n"
    "  -c, --cpuset LIST           plan over LIST only, with the --bind "
    "policy\n"
    "  -t, --threads-per-worker K  cores per worker (1..4096), e.g. an\n"
    "                              OpenMP team per worker\n"
    "  -j, --json                  print one JSON object\n"
    "  -h, --help                  print this help\n"
    "\n"
    "LIST: OS PU indexes \"0-3,8\", a hex mask \"0x0f\", or logical indexes\n"
    "\"core:0-3\" (also pu:, numa:, node:, pack:, package:, socket:).\n"
    "Preview another machine with hwloc's own variable, e.g.\n"
    "  HWLOC_SYNTHETIC=\"pack:2 numa:2 core:4 pu:2\" mpk-topo --bind "
    "scatter\n"
    "Exit status: 0 success, 1 a topology call failed, 2 bad usage.\n";

/* One line on stderr; returns the usage exit status 2. */
__attribute__((format(printf, 1, 2))) static int die_usage(const char *fmt,
                                                           ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs("mpk-topo: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputs(" (see mpk-topo --help)\n", stderr);
  va_end(ap);
  return 2;
}

/* A whole decimal int in [lo, hi], or -1. */
static long parse_int(const char *s, long lo, long hi) {
  char *end;
  if (s == NULL || *s == '\0')
    return -1;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno != 0 || *end != '\0' || v < lo || v > hi)
    return -1;
  return v;
}

/* A string that fill() writes into a buffer of cap bytes (MPK_EMSGSIZE:
   too small), as a malloc'd string grown until it fits; NULL with *rc set
   when fill fails otherwise or memory runs out. */
static char *grown_string(int (*fill)(char *buf, size_t cap, void *arg),
                          void *arg, int *rc) {
  for (size_t cap = 64; cap <= ((size_t)1 << 24); cap *= 2) {
    char *buf = malloc(cap);
    if (buf == NULL) {
      *rc = MPK_ENOMEM;
      return NULL;
    }
    *rc = fill(buf, cap, arg);
    if (*rc == MPK_OK)
      return buf;
    free(buf);
    if (*rc != MPK_EMSGSIZE)
      return NULL;
  }
  return NULL;
}

typedef struct {
  int n, k, i;
  mpk_bind_policy p;
  const char *list;
  int *over;
} plan_args;

static int fill_plan(char *buf, size_t cap, void *arg) {
  const plan_args *a = arg;
  return mpk_topo_plan_ex(a->n, a->k, a->p, a->list, a->i, buf, cap, a->over);
}

static int fill_allowed(char *buf, size_t cap, void *arg) {
  (void)arg;
  return mpk_topo_allowed(buf, cap);
}

/* Worker i's plan as a malloc'd string, or NULL with *rc set. */
static char *plan_string(int n, int k, mpk_bind_policy p, const char *list,
                         int i, int *over, int *rc) {
  plan_args a = {n, k, i, p, list, over};
  return grown_string(fill_plan, &a, rc);
}

static char *allowed_string(int *rc) {
  return grown_string(fill_allowed, NULL, rc);
}

static void json_string(const char *s) {
  if (s == NULL) {
    fputs("null", stdout);
    return;
  }
  putchar('"');
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\')
      printf("\\%c", c);
    else if (c < 0x20)
      printf("\\u%04x", c);
    else
      putchar(c);
  }
  putchar('"');
}

static const char *plural(int n, const char *one, const char *many) {
  return n == 1 ? one : many;
}

typedef struct {
  int workers, threads, json;
  mpk_bind_policy policy;
  const char *bind_name; /* "compact", "scatter", "none" */
  const char *list;      /* explicit cpuset list or NULL */
} options;

static int parse_options(int argc, char **argv, options *o) {
  static const struct option longopts[] = {
      {"workers", required_argument, NULL, 'w'},
      {"bind", required_argument, NULL, 'b'},
      {"cpuset", required_argument, NULL, 'c'},
      {"threads-per-worker", required_argument, NULL, 't'},
      {"json", no_argument, NULL, 'j'},
      {"help", no_argument, NULL, 'h'},
      {NULL, 0, NULL, 0}};
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":w:b:c:t:jh", longopts, NULL)) != -1) {
    long v;
    switch (c) {
    case 'w':
      if ((v = parse_int(optarg, 1, MAX_WORKERS)) < 0)
        return die_usage("bad --workers value '%s' (want 1..65536)", optarg);
      o->workers = (int)v;
      break;
    case 't':
      if ((v = parse_int(optarg, 1, MAX_THREADS)) < 0)
        return die_usage("bad --threads-per-worker value '%s' (want 1..4096)",
                         optarg);
      o->threads = (int)v;
      break;
    case 'b':
      if (strcmp(optarg, "compact") == 0) {
        o->policy = MPK_BIND_COMPACT;
      } else if (strcmp(optarg, "scatter") == 0) {
        o->policy = MPK_BIND_SCATTER;
      } else if (strcmp(optarg, "none") == 0) {
        o->policy = MPK_BIND_NONE;
      } else {
        o->policy = MPK_BIND_COMPACT;
        o->list = optarg;
      }
      o->bind_name = o->policy == MPK_BIND_SCATTER ? "scatter"
                     : o->policy == MPK_BIND_NONE  ? "none"
                                                   : "compact";
      break;
    case 'c': o->list = optarg; break;
    case 'j': o->json = 1; break;
    case 'h': fputs(usage_text, stdout); return 0;
    case ':': return die_usage("option '%s' needs a value", argv[optind - 1]);
    default: return die_usage("unknown option '%s'", argv[optind - 1]);
    }
  }
  if (optind < argc)
    return die_usage("unexpected argument '%s'", argv[optind]);
  if (o->list != NULL) {
    char probe[8];
    int rc = mpk_topo_plan(1, MPK_BIND_NONE, o->list, 0, probe, sizeof probe);
    if (rc == MPK_EINVAL) /* mpk_errmsg() says what is wrong with it */
      return die_usage("bad cpuset list: %s", mpk_errmsg());
  }
  return -1; /* go on */
}

int main(int argc, char **argv) {
  options o = {0, 1, 0, MPK_BIND_COMPACT, "compact", NULL};
  int st = parse_options(argc, argv, &o);
  if (st >= 0)
    return st;

  int packages = mpk_package_count(), numa = mpk_numa_count();
  int cores = mpk_core_count(), pus = mpk_pu_count();
  int cpus = mpk_cpu_count();
  int rc = MPK_OK;
  char *allowed = allowed_string(&rc);
  if (packages < 0 || numa < 0 || cores < 0 || pus < 0 || allowed == NULL) {
    int e = packages < 0 ? packages : cores < 0 ? cores : rc;
    fprintf(stderr, "mpk-topo: cannot read the topology: %s: %s\n",
            mpk_err_name(e), mpk_errmsg());
    free(allowed);
    return 1;
  }
  if (o.workers == 0) /* one worker per o.threads allowed cores */
    o.workers = cores / o.threads > 0 ? cores / o.threads : 1;

  int n = o.workers, over = 0;
  char **plan = calloc((size_t)n, sizeof *plan);
  if (plan == NULL) {
    fprintf(stderr, "mpk-topo: out of memory\n");
    free(allowed);
    return 1;
  }
  for (int i = 0; i < n; i++) {
    plan[i] = plan_string(n, o.threads, o.policy, o.list, i, &over, &rc);
    if (plan[i] == NULL) {
      fprintf(stderr, "mpk-topo: plan for worker %d failed: %s: %s\n", i,
              mpk_err_name(rc), mpk_errmsg());
      for (int j = 0; j < i; j++)
        free(plan[j]);
      free(plan);
      free(allowed);
      return rc == MPK_EINVAL ? 2 : 1;
    }
  }

  if (o.json) {
    printf("{\"hwloc\":");
    json_string(mpk_topo_hwloc_version());
    printf(",\"packages\":%d,\"numa_nodes\":%d,\"cores\":%d,\"pus\":%d,"
           "\"cpu_count\":%d,\"allowed\":",
           packages, numa, cores, pus, cpus);
    json_string(allowed);
    printf(",\"workers\":%d,\"threads_per_worker\":%d,\"bind\":", n, o.threads);
    json_string(o.bind_name);
    printf(",\"cpuset\":");
    json_string(o.list);
    printf(",\"oversubscribed\":%s,\"plan\":[", over ? "true" : "false");
    for (int i = 0; i < n; i++) {
      printf("%s{\"worker\":%d,\"cpuset\":", i ? "," : "", i);
      json_string(plan[i]);
      putchar('}');
    }
    printf("]}\n");
  } else {
    printf("mpk-topo: hwloc %s\n", mpk_topo_hwloc_version());
    printf("machine:  %d %s, %d NUMA %s, %d %s, %d %s\n", packages,
           plural(packages, "package", "packages"), numa,
           plural(numa, "node", "nodes"), cores, plural(cores, "core", "cores"),
           pus, plural(pus, "PU", "PUs"));
    printf("allowed:  %s (cpu_count %d)\n", allowed, cpus);
    printf("plan:     %d %s x %d %s, bind %s%s%s\n", n,
           plural(n, "worker", "workers"), o.threads,
           plural(o.threads, "thread", "threads"), o.bind_name,
           o.list ? " over " : "", o.list ? o.list : "");
    for (int i = 0; i < n; i++)
      printf("  worker %d -> %s\n", i, plan[i]);
    if (over)
      printf("note: oversubscribed: %d %s x %d %s need %lld PUs, %d allowed; "
             "workers share PUs (wrap-around)\n",
             n, plural(n, "worker", "workers"), o.threads,
             plural(o.threads, "thread", "threads"), (long long)n * o.threads,
             pus);
  }
  int out_rc = fflush(stdout) == 0 && !ferror(stdout) ? 0 : 1;
  for (int i = 0; i < n; i++)
    free(plan[i]);
  free(plan);
  free(allowed);
  return out_rc;
}
