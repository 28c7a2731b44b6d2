/* scale_cli.c - mpk-scale's command line: --help and the option parser.
 * See scale_cli.h. */
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app_cli.h"
#include "app_modes.h"
#include "scale_cli.h"
#include "scale_stats.h"

#define MAX_SIZE (((uint64_t)1 << 40))
#define MAX_RANKS 4096

static const char usage_text[] =
    "usage: mpk-scale [--kernels LIST] [--modes LIST] [--workers LIST]\n"
    "                 [--scaling LIST] [--schedules LIST] [--repeat K]\n"
    "                 [--rounds R] [--seed S] [--max-time S]\n"
    "                 [--pi-steps N] [--square-n N] [--imbalanced-n N]\n"
    "                 [--imbalanced-chunk C] [--threads-per-worker K]\n"
    "                 [--out DIR] [--name NAME] [--quiet]\n"
    "                 [--baseline FILE.json | --against OTHER-MPK-SCALE]\n"
    "                 [--threshold T] [--alpha A] [--strict]\n"
    "                 [--allow-mismatch]\n"
    "                 [--ranks LIST | --hosts HOSTFILE [--host-counts LIST]\n"
    "                  [--ranks-per-host LIST]] [--rank-workers LIST]\n"
    "                 [--mpirun PATH] [--mpirun-args ARGS] [--mpk-pi PATH]\n"
    "                 [--mpi-timeout S]\n"
    "       mpk-scale --compare FILE.json --baseline FILE.json [check opts]\n"
    "       mpk-scale --compare-micro BASE.json CAND.json [check opts]\n"
    "\n"
    "Measure how pi (compute-bound), square (memory-bound) and imbalanced\n"
    "(element i costs 1 + 63 i / n units) scale with the worker count in\n"
    "each mode, against a serial run of the same kernel in the same process.\n"
    "Every point is measured in rounds: a round runs every point once, in a\n"
    "shuffled order, each point one warm-up and K timed runs; with R > 1\n"
    "each round is a process of its own, so drift between processes shows\n"
    "in the spread. The median, min, max and quartiles come from GSL;\n"
    "speedup, efficiency (speedup / cores) and the Karp-Flatt serial\n"
    "fraction are derived. Weak scaling grows the size with the cores\n"
    "(efficiency = serial time at the base size / time at cores x base).\n"
    "\n"
    "  --kernels LIST        pi, square, imbalanced, all (default all)\n"
    "  --modes LIST          omp, pool, threads, hybrid, all (default\n"
    "                        omp,pool,threads; serial always runs)\n"
    "  --workers LIST        cores to use, e.g. 1,2,4 (default 1..cores and\n"
    "                        2 x cores); hybrid runs N / K processes of K\n"
    "                        threads where K divides N\n"
    "  --scaling LIST        strong, weak, all (default all)\n"
    "  --schedules LIST      schedules of the imbalanced kernel: static,\n"
    "                        cyclic, dynamic, guided, all (default\n"
    "                        static,dynamic,guided); pi and square use static\n"
    "  --repeat K            timed runs per point per round, after one\n"
    "                        warm-up (default 5)\n"
    "  --rounds R            rounds (default 1; 10 with --baseline or\n"
    "                        --against); the regression check needs >= 3\n"
    "  --seed S              seed of the shuffled orders (default: time and\n"
    "                        pid; recorded in the JSON)\n"
    "  --max-time S          after the R rounds, add rounds to each point\n"
    "                        until its interval is narrow enough to decide\n"
    "                        (half-width threshold / 2) or S seconds of its\n"
    "                        measured time are spent\n"
    "  --pi-steps N          pi size (default 1e8; weak: per core)\n"
    "  --square-n N          square elements, doubles (default 2^24)\n"
    "  --imbalanced-n N      imbalanced elements (default 2^18)\n"
    "  --imbalanced-chunk C  chunk of its dynamic/guided/cyclic schedules\n"
    "                        (default N / 256)\n"
    "  --threads-per-worker K  hybrid team size (default 2)\n"
    "  --out DIR             where NAME.json and NAME.csv go (default\n"
    "                        ./mpk-scale-results; required when the current\n"
    "                        directory is inside an mpk source tree)\n"
    "  --name NAME           file name stem (default scaling)\n"
    "  --quiet               no progress line (it only appears on a\n"
    "                        terminal), no summary line and no table of\n"
    "                        the MPI points\n"
    "\n"
    "Regression check (docs/guide.md, \"A performance regression check\"):\n"
    "  --baseline FILE.json  after the sweep, compare with an earlier run\n"
    "  --compare FILE.json   with --baseline: compare this earlier run\n"
    "                        instead of sweeping\n"
    "  --against PATH        A/B: run the same sweep with this build and the\n"
    "                        mpk-scale at PATH in alternating rounds (ABBA)\n"
    "                        and compare them (PATH is the baseline);\n"
    "                        writes NAME.json and NAME-baseline.json\n"
    "  --compare-micro BASE.json CAND.json  compare two Google Benchmark\n"
    "                        files of mpk-bench-micro\n"
    "                        --benchmark_repetitions=N (each repetition is\n"
    "                        a round)\n"
    "  --threshold T         the smallest change that counts (default 0.05)\n"
    "  --alpha A             family-wise error rate of the sweep (default\n"
    "                        0.05)\n"
    "  --strict              exit 1 on inconclusive points too\n"
    "  --allow-mismatch      compare runs from different machines,\n"
    "                        compilers or build types\n"
    "  The comparison goes to stdout and to DIR/NAME-compare.json and .csv\n"
    "  (with --compare and --compare-micro only when --out is given).\n"
    "  --only-points LIST    internal (a round's child): measure only these\n"
    "                        indices of the sweep's plan\n"
    "\n"
    "Ranks x workers (the pool over MPI, pi only, one machine):\n"
    "  --ranks LIST          also measure pi on R ranks x W workers for each\n"
    "                        R in LIST and W in --rank-workers, each point\n"
    "                        one `mpirun -np R ... mpk-pi --mode mpi\n"
    "                        --workers W --json` (mode mpi in the output,\n"
    "                        cores = R x W, speedup vs the serial point).\n"
    "                        With R x W <= this machine's cores each rank\n"
    "                        gets W cores (Open MPI: --map-by slot:PE=W\n"
    "                        --bind-to core) and pins its workers there;\n"
    "                        beyond, --oversubscribe --bind-to none and\n"
    "                        unpinned workers\n"
    "  --rank-workers LIST   workers per rank (default: the --workers list),\n"
    "                        with --ranks and with --hosts\n"
    "  --mpirun PATH         the launcher (default " MPK_SCALE_MPIRUN ")\n"
    "  --mpirun-args ARGS    more launcher arguments, space-separated\n"
    "  --mpk-pi PATH         the mpk-pi to launch (default: the one beside\n"
    "                        this mpk-scale, else this build's)\n"
    "  --mpi-timeout S       seconds per launch before it is killed and the\n"
    "                        point fails (default 600)\n"
    "  The launcher environment is the caller's (as root with Open MPI:\n"
    "  OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1).\n"
    "\n"
    "Hosts x ranks x workers (the pool over MPI on several machines, pi):\n"
    "  --hosts HOSTFILE      an Open MPI hostfile, one 'NAME slots=N' line a\n"
    "                        host (N: its cores); measure pi on H hosts x R\n"
    "                        ranks per host x W workers for each H in\n"
    "                        --host-counts, R in --ranks-per-host and W in\n"
    "                        --rank-workers, each point one `mpirun -np H*R\n"
    "                        --host A:N,B:N.. --map-by ppr:R:node:PE=W\n"
    "                        --bind-to core ... mpk-pi --mode mpi --workers\n"
    "                        W --json` on the first H hosts of the file\n"
    "                        (R x W above a host's N: --map-by ppr:R:node\n"
    "                        --oversubscribe --bind-to none, workers\n"
    "                        unpinned). Points record hosts and\n"
    "                        ranks_per_host (ranks = H x R, cores = H x R x\n"
    "                        W); a point whose ranks ran on other than H\n"
    "                        nodes fails. Needs Open MPI's mpirun; excludes\n"
    "                        --ranks. A bad hostfile (missing, empty, a bad\n"
    "                        line, a host twice) is exit 2\n"
    "  --host-counts LIST    host counts H, each at most the file's hosts\n"
    "                        (default 1, 2, 4, .. below the file's hosts,\n"
    "                        then all of them)\n"
    "  --ranks-per-host LIST ranks per host R (default 1)\n"
    "  Hosts simulated on this machine (UTS namespaces, TCP over loopback,\n"
    "  the same cores): --mpirun tests/cluster/mpirun-cluster, the host\n"
    "  names of the file any but this machine's (docs/guide.md).\n"
    "  After a sweep with --ranks or --hosts its MPI points are printed as\n"
    "  a table on stdout (hosts, ranks per host, ranks, workers, cores,\n"
    "  median, speedup, efficiency, value, check).\n"
    "\n"
    "Regression rule: points are matched by kernel, scaling, mode,\n"
    "schedule, chunk, ranks, workers, size and hosts (a baseline with other\n"
    "host counts is noted; those points are not compared). The unit is\n"
    "the round: per point,\n"
    "Yuen's trimmed (20%) Welch t-test on the logs of the round medians\n"
    "gives the ratio candidate / baseline and its interval; a point\n"
    "regressed when it is slower by more than the threshold at level alpha\n"
    "after Holm's correction over the sweep's points, improved likewise,\n"
    "unchanged when the interval lies inside +-threshold, else inconclusive\n"
    "(with how many more rounds would decide it). Each regressed point gets\n"
    "a line that begins with REGRESSED.\n"
    "\n"
    "Exit status: 0 success; 1 a point failed or regressed (--strict: or is\n"
    "inconclusive); 2 bad usage, an unreadable result file, or runs that\n"
    "differ in machine, compiler or build type.\n";

const char *const scale_sched_names[] = {"static", "cyclic", "dynamic",
                                         "guided"};
const mpk_sched_kind scale_sched_kinds[] = {
    MPK_SCHED_STATIC, MPK_SCHED_CYCLIC, MPK_SCHED_DYNAMIC, MPK_SCHED_GUIDED};

enum {
  OPT_KERNELS = 256,
  OPT_MODES,
  OPT_WORKERS,
  OPT_SCALING,
  OPT_SCHEDULES,
  OPT_REPEAT,
  OPT_PI_STEPS,
  OPT_SQUARE_N,
  OPT_IMB_N,
  OPT_IMB_CHUNK,
  OPT_TPW,
  OPT_OUT,
  OPT_NAME,
  OPT_QUIET,
  OPT_BASELINE,
  OPT_COMPARE,
  OPT_AGAINST,
  OPT_MICRO,
  OPT_ROUNDS,
  OPT_SEED,
  OPT_MAX_TIME,
  OPT_THRESHOLD,
  OPT_ALPHA,
  OPT_STRICT,
  OPT_ALLOW_MISMATCH,
  OPT_ONLY,
  OPT_RANKS,
  OPT_RANK_WORKERS,
  OPT_MPIRUN,
  OPT_MPIRUN_ARGS,
  OPT_MPK_PI,
  OPT_MPI_TIMEOUT,
  OPT_HOSTS,
  OPT_HOST_COUNTS,
  OPT_RANKS_PER_HOST,
  OPT_HELP
};

/* 1 when the current directory is the baked-in source directory or below
   it, or below any directory that holds an mpk source tree (its
   bench/scaling/mpk-scale.c). */
static int in_source_tree(void) {
  char cwd[PATH_MAX], src[PATH_MAX], probe[PATH_MAX + 32];
  if (getcwd(cwd, sizeof cwd) == NULL)
    return 0;
  if (MPK_SCALE_SOURCE_DIR[0] && realpath(MPK_SCALE_SOURCE_DIR, src)) {
    size_t l = strlen(src);
    if (strncmp(cwd, src, l) == 0 && (cwd[l] == '\0' || cwd[l] == '/'))
      return 1;
  }
  for (;;) {
    snprintf(probe, sizeof probe, "%s/bench/scaling/mpk-scale.c", cwd);
    if (access(probe, F_OK) == 0)
      return 1;
    char *slash = strrchr(cwd, '/');
    if (slash == NULL || slash == cwd)
      return 0;
    *slash = '\0';
  }
}

/* The list of counts 1..MAX_RANKS of option opt (--ranks, --host-counts,
   --ranks-per-host) into v[0..*n): 0, or -1 after the usage message. */
static int count_list(const char *opt, const char *arg, uint64_t *v, int *n) {
  if (app_parse_count_list(arg, 1, MAX_RANKS, v, SCALE_MAX_WORKERS, n) == 0)
    return 0;
  app_usage(PROG, "bad %s '%s' (want a list like 1,2,4 of 1..%d)", opt, arg,
            MAX_RANKS);
  return -1;
}

/* --hosts: read and check the hostfile, then the host counts against it;
   fill in the defaults (host counts 1, 2, 4, .. and all hosts; 1 rank per
   host). -1 to go on, or 2 after the message. */
static int read_hosts(options *o) {
  char err[512];
  if (scale_hosts_read(o->hostfile, &o->hosts, err, sizeof err) != 0)
    return app_usage(PROG, "%s", err);
  const int n = o->hosts.n;
  for (int i = 0; i < o->nhost_counts; i++)
    if (o->host_counts[i] > (uint64_t)n) {
      app_usage(PROG, "--host-counts %llu: hostfile '%s' names %d host%s",
                (unsigned long long)o->host_counts[i], o->hostfile, n,
                n == 1 ? "" : "s");
      scale_hosts_free(&o->hosts);
      return 2;
    }
  if (o->nhost_counts == 0) {
    for (int h = 1; h < n && o->nhost_counts < SCALE_MAX_WORKERS - 1; h *= 2)
      o->host_counts[o->nhost_counts++] = (uint64_t)h;
    o->host_counts[o->nhost_counts++] = (uint64_t)n;
  }
  if (o->nranks_per_host == 0)
    o->ranks_per_host[o->nranks_per_host++] = 1;
  o->mpi.hosts = &o->hosts;
  return -1;
}

int scale_parse_options(int argc, char **argv, options *o) {
  static const struct option longopts[] = {
      {"kernels", required_argument, NULL, OPT_KERNELS},
      {"modes", required_argument, NULL, OPT_MODES},
      {"workers", required_argument, NULL, OPT_WORKERS},
      {"scaling", required_argument, NULL, OPT_SCALING},
      {"schedules", required_argument, NULL, OPT_SCHEDULES},
      {"repeat", required_argument, NULL, OPT_REPEAT},
      {"pi-steps", required_argument, NULL, OPT_PI_STEPS},
      {"square-n", required_argument, NULL, OPT_SQUARE_N},
      {"imbalanced-n", required_argument, NULL, OPT_IMB_N},
      {"imbalanced-chunk", required_argument, NULL, OPT_IMB_CHUNK},
      {"threads-per-worker", required_argument, NULL, OPT_TPW},
      {"out", required_argument, NULL, OPT_OUT},
      {"name", required_argument, NULL, OPT_NAME},
      {"quiet", no_argument, NULL, OPT_QUIET},
      {"baseline", required_argument, NULL, OPT_BASELINE},
      {"compare", required_argument, NULL, OPT_COMPARE},
      {"against", required_argument, NULL, OPT_AGAINST},
      {"compare-micro", required_argument, NULL, OPT_MICRO},
      {"rounds", required_argument, NULL, OPT_ROUNDS},
      {"seed", required_argument, NULL, OPT_SEED},
      {"max-time", required_argument, NULL, OPT_MAX_TIME},
      {"threshold", required_argument, NULL, OPT_THRESHOLD},
      {"alpha", required_argument, NULL, OPT_ALPHA},
      {"strict", no_argument, NULL, OPT_STRICT},
      {"allow-mismatch", no_argument, NULL, OPT_ALLOW_MISMATCH},
      {"only-points", required_argument, NULL, OPT_ONLY},
      {"ranks", required_argument, NULL, OPT_RANKS},
      {"rank-workers", required_argument, NULL, OPT_RANK_WORKERS},
      {"mpirun", required_argument, NULL, OPT_MPIRUN},
      {"mpirun-args", required_argument, NULL, OPT_MPIRUN_ARGS},
      {"mpk-pi", required_argument, NULL, OPT_MPK_PI},
      {"mpi-timeout", required_argument, NULL, OPT_MPI_TIMEOUT},
      {"hosts", required_argument, NULL, OPT_HOSTS},
      {"host-counts", required_argument, NULL, OPT_HOST_COUNTS},
      {"ranks-per-host", required_argument, NULL, OPT_RANKS_PER_HOST},
      {"help", no_argument, NULL, OPT_HELP},
      {NULL, 0, NULL, 0}};
  int count;
  const char *const *mode_names = app_mode_names(&count);
  const char *bad = NULL;
  char list[128];
  long v;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
    switch (c) {
    case OPT_KERNELS:
      if (app_parse_names(optarg, scale_kernel_names, K_COUNT, &o->kernels,
                          &bad) != 0)
        return app_usage(PROG,
                         "unknown kernel '%s' (want pi, square, "
                         "imbalanced or all)",
                         bad);
      o->kernels_s = optarg;
      break;
    case OPT_MODES:
      if (app_parse_names(optarg, mode_names, count, &o->modes, &bad) != 0) {
        if (strcmp(bad, "mpi") == 0)
          return app_usage(PROG, "mode mpi is measured with --ranks LIST "
                                 "(mpk-pi under mpirun), not --modes");
        return app_usage(PROG, "unknown mode '%s' (want %s or all)", bad,
                         app_mode_list(list, sizeof list));
      }
      o->modes_s = optarg;
      break;
    case OPT_WORKERS:
      if (app_parse_count_list(optarg, 1, MPK_POOL_MAX_WORKERS, o->workers,
                               SCALE_MAX_WORKERS, &o->nworkers) != 0)
        return app_usage(PROG,
                         "bad --workers '%s' (want a list like 1,2,4 "
                         "of 1..%d)",
                         optarg, MPK_POOL_MAX_WORKERS);
      o->workers_s = optarg;
      break;
    case OPT_SCALING:
      if (app_parse_names(optarg, scale_scaling_names, S_COUNT, &o->scalings,
                          &bad) != 0)
        return app_usage(PROG,
                         "unknown scaling '%s' (want strong, weak or "
                         "all)",
                         bad);
      o->scalings_s = optarg;
      break;
    case OPT_SCHEDULES:
      if (app_parse_names(optarg, scale_sched_names, N_SCHED, &o->scheds,
                          &bad) != 0)
        return app_usage(PROG,
                         "unknown schedule '%s' (want static, cyclic, "
                         "dynamic, guided or all)",
                         bad);
      o->scheds_s = optarg;
      break;
    case OPT_REPEAT:
      if (app_parse_long(optarg, 1, SCALE_MAX_REPEAT, &v) != 0)
        return app_usage(PROG, "bad --repeat '%s' (want 1..%d)", optarg,
                         SCALE_MAX_REPEAT);
      o->repeat = (int)v;
      break;
    case OPT_PI_STEPS:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->pi_steps) != 0)
        return app_usage(PROG, "bad --pi-steps '%s' (want 1..2^40)", optarg);
      break;
    case OPT_SQUARE_N:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->square_n) != 0)
        return app_usage(PROG, "bad --square-n '%s' (want 1..2^40)", optarg);
      break;
    case OPT_IMB_N:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->imb_n) != 0)
        return app_usage(PROG, "bad --imbalanced-n '%s' (want 1..2^40)",
                         optarg);
      break;
    case OPT_IMB_CHUNK:
      if (app_parse_count(optarg, 1, MAX_SIZE, &o->imb_chunk) != 0)
        return app_usage(PROG, "bad --imbalanced-chunk '%s' (want >= 1)",
                         optarg);
      break;
    case OPT_TPW:
      if (app_parse_long(optarg, 2, 256, &v) != 0)
        return app_usage(PROG, "bad --threads-per-worker '%s' (want 2..256)",
                         optarg);
      o->tpw = (int)v;
      break;
    case OPT_OUT:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --out");
      o->out = optarg;
      o->out_given = 1;
      break;
    case OPT_NAME:
      if (*optarg == '\0' || strchr(optarg, '/') != NULL)
        return app_usage(PROG, "bad --name '%s' (a file name stem, no '/')",
                         optarg);
      o->name = optarg;
      break;
    case OPT_QUIET: o->quiet = 1; break;
    case OPT_BASELINE: o->baseline = optarg; break;
    case OPT_COMPARE: o->compare = optarg; break;
    case OPT_AGAINST:
      if (access(optarg, X_OK) != 0)
        return app_usage(PROG, "--against '%s' is not an executable file",
                         optarg);
      o->against = optarg;
      break;
    case OPT_MICRO: o->micro = optarg; break;
    case OPT_ROUNDS:
      if (app_parse_long(optarg, 1, SCALE_MAX_ROUNDS, &v) != 0)
        return app_usage(PROG, "bad --rounds '%s' (want 1..%d)", optarg,
                         SCALE_MAX_ROUNDS);
      o->rounds = (int)v;
      break;
    case OPT_SEED: {
      uint64_t sd;
      if (app_parse_count(optarg, 0, UINT32_MAX, &sd) != 0)
        return app_usage(PROG, "bad --seed '%s' (want 0..2^32-1)", optarg);
      o->seed = (unsigned long)sd;
      o->seed_given = 1;
      break;
    }
    case OPT_MAX_TIME:
      if (app_parse_double(optarg, 0.001, 1e7, &o->max_time) != 0)
        return app_usage(PROG, "bad --max-time '%s' (want seconds > 0)",
                         optarg);
      break;
    case OPT_THRESHOLD:
      if (app_parse_double(optarg, 1e-4, 10, &o->cmp.threshold) != 0)
        return app_usage(PROG, "bad --threshold '%s' (want 0.0001..10)",
                         optarg);
      break;
    case OPT_ALPHA:
      if (app_parse_double(optarg, 1e-6, 0.25, &o->cmp.alpha) != 0)
        return app_usage(PROG, "bad --alpha '%s' (want 0.000001..0.25)",
                         optarg);
      break;
    case OPT_STRICT: o->cmp.strict = 1; break;
    case OPT_ALLOW_MISMATCH: o->cmp.allow_mismatch = 1; break;
    case OPT_ONLY: o->only = optarg; break;
    case OPT_RANKS:
      if (count_list("--ranks", optarg, o->ranks, &o->nranks) != 0)
        return 2;
      o->ranks_s = optarg;
      break;
    case OPT_RANK_WORKERS:
      if (app_parse_count_list(optarg, 1, MPK_POOL_MAX_WORKERS, o->rank_workers,
                               SCALE_MAX_WORKERS, &o->nrank_workers) != 0)
        return app_usage(PROG,
                         "bad --rank-workers '%s' (want a list like 1,2 "
                         "of 1..%d)",
                         optarg, MPK_POOL_MAX_WORKERS);
      o->rank_workers_s = optarg;
      break;
    case OPT_MPIRUN:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --mpirun");
      o->mpi.mpirun = optarg;
      break;
    case OPT_MPIRUN_ARGS: o->mpi.extra = optarg; break;
    case OPT_MPK_PI:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --mpk-pi");
      o->mpi.mpk_pi = optarg;
      break;
    case OPT_HOSTS:
      if (*optarg == '\0')
        return app_usage(PROG, "empty --hosts");
      o->hostfile = optarg;
      break;
    case OPT_HOST_COUNTS:
      if (count_list("--host-counts", optarg, o->host_counts,
                     &o->nhost_counts) != 0)
        return 2;
      break;
    case OPT_RANKS_PER_HOST:
      if (count_list("--ranks-per-host", optarg, o->ranks_per_host,
                     &o->nranks_per_host) != 0)
        return 2;
      break;
    case OPT_MPI_TIMEOUT:
      if (app_parse_double(optarg, 0.1, 1e6, &o->mpi.timeout) != 0)
        return app_usage(
            PROG, "bad --mpi-timeout '%s' (want seconds, 0.1..1e6)", optarg);
      break;
    case 'h':
    case OPT_HELP:
      fputs(usage_text, stdout);
      printf("This build: %s\n",
             app_mode_mpi_built()
                 ? "MPI points available (--ranks, --hosts), mpk-pi has "
                   "--mode mpi"
                 : "without MPI (--ranks and --hosts unavailable)");
      return 0;
    default: return app_usage_getopt(PROG, c, argv);
    }
  }
  if (o->micro != NULL) {
    if (optind + 1 != argc)
      return app_usage(PROG, "--compare-micro needs two files: BASE.json "
                             "CAND.json");
    o->compare = argv[optind++];
    if (o->baseline != NULL || o->against != NULL)
      return app_usage(PROG, "--compare-micro takes no --baseline or "
                             "--against");
  }
  if (optind < argc)
    return app_usage(PROG, "unexpected argument '%s'", argv[optind]);
  if (o->compare != NULL && o->baseline == NULL && o->micro == NULL)
    return app_usage(PROG, "--compare needs --baseline");
  if (o->against != NULL && o->baseline != NULL)
    return app_usage(PROG, "--against and --baseline exclude each other");
  if (o->against != NULL && o->compare != NULL)
    return app_usage(PROG, "--against measures: it takes no --compare");
  if (o->nranks > 0 && o->hostfile != NULL)
    return app_usage(PROG, "--ranks and --hosts exclude each other (with "
                           "--hosts, ranks per host are --ranks-per-host)");
  if (o->hostfile == NULL && (o->nhost_counts > 0 || o->nranks_per_host > 0))
    return app_usage(PROG, "--host-counts and --ranks-per-host need --hosts");
  if (o->nranks == 0 && o->hostfile == NULL &&
      (o->nrank_workers > 0 || o->mpi.extra != NULL))
    return app_usage(PROG, "--rank-workers and --mpirun-args need --ranks "
                           "or --hosts");
  if (o->compare == NULL && !o->out_given && in_source_tree())
    return app_usage(PROG, "the current directory is inside an mpk source "
                           "tree: give --out DIR (results never go into "
                           "the sources unless asked)");
  if ((o->nranks > 0 || o->hostfile != NULL) && o->compare == NULL) {
    const char *opt = o->nranks > 0 ? "--ranks" : "--hosts";
    if (!app_mode_mpi_built())
      return app_usage(PROG,
                       "%s: mpk was built without MPI (mpk-pi has no "
                       "mpi mode)",
                       opt);
    if (!(o->kernels & (1u << K_PI)))
      return app_usage(PROG,
                       "%s measures the pi kernel: add pi to "
                       "--kernels",
                       opt);
    if (o->mpi.mpk_pi == NULL || *o->mpi.mpk_pi == '\0')
      return app_usage(PROG,
                       "%s: no mpk-pi in this build: give --mpk-pi "
                       "PATH",
                       opt);
  }
  if (o->hostfile != NULL && o->compare == NULL)
    return read_hosts(o);
  return -1;
}
