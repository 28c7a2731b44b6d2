/* scale.h - mpk-scale, the scaling driver: shared types of its parts, the
 * sweep and its rounds (mpk-scale.c), the writers and the provenance
 * (scale_output.c), the result-file readers (scale_read.c), the regression
 * check (scale_compare.c, on the statistics of scale_stats.h), the ranks
 * x workers points run under mpirun (scale_mpi.c, which also runs the
 * children of the rounds) and the hostfile of the points over hosts
 * (scale_hosts.c).
 *
 * Safety: the readers (the hostfile's too), the key and the statistics are
 * MT-safe (no shared state); the writers, scale_compare_* and scale_prov_*
 * print on stdio streams; scale_run_child forks (call it from one thread).
 */
#ifndef MPK_SCALE_H
#define MPK_SCALE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "app_modes.h"
#include "app_stats.h"
#include "mpk/pool.h"

#define SCALE_MAX_REPEAT 100 /* --repeat: timed runs per point per round */
#define SCALE_MAX_WORKERS 64 /* entries of --workers */

typedef enum { K_PI, K_SQUARE, K_IMB, K_COUNT } scale_kernel;
typedef enum { S_STRONG, S_WEAK, S_COUNT } scale_scaling;

extern const char *const scale_kernel_names[K_COUNT];
extern const char *const scale_scaling_names[S_COUNT];

/* One measured point. Serial points (the speedup baselines) have scaling
   "serial", workers 1 and cores 1. MPI points (--ranks, --hosts) have mode
   APP_MODE_MPI, `ranks` ranks of `workers` workers each, cores = ranks x
   workers, and the mpirun command that measured them in `launch`; points
   over hosts (--hosts) also have `hosts` (the first that many of the
   hostfile) and ranks = hosts x ranks_per_host. */
typedef struct {
  scale_kernel kernel;
  const char *scaling; /* "serial", "strong", "weak" */
  app_mode mode;
  mpk_sched_kind sched;
  size_t chunk;              /* the schedule's chunk (0: automatic) */
  int workers, tpw, cores;   /* MPI points: workers per rank */
  int ranks;                 /* MPI points: ranks; 1 for the others */
  int hosts, ranks_per_host; /* --hosts points; 0 for the others */
  size_t size;               /* steps or elements */
  int rc;                    /* MPK_OK or the failure */
  char check[96];
  double value;  /* pi, or the imbalanced sum; NaN for square */
  int repeats;   /* times held (every round's) */
  double *times; /* every timed repeat, seconds (scale_point_reserve) */
  int *round;    /* the round each time was measured in */
  int cap;       /* of times and round */
  int rounds;    /* rounds that measured the point */
  app_stats st;  /* over every time */
  double noise;  /* app_rel_noise */
  double noise_within, noise_between; /* scale_noise (scale_stats.h) */
  double speedup, efficiency, karp_flatt;
  /* 95% intervals of speedup and efficiency: the estimate times
     exp(-+w), w from Yuen's test of this point's round medians against
     the serial point's (scale_log_halfwidth); NaN with fewer than
     SCALE_MIN_ROUNDS rounds and for the serial point itself. */
  double speedup_lo, speedup_hi, efficiency_lo, efficiency_hi;
  double rate;      /* steps/s, GB/s, elements/s */
  char launch[384]; /* MPI points: the command line; else "" */
} scale_point;

/* Room for n times in p (times[0..n), round[0..n)). 0, or -1 on no
   memory. */
int scale_point_reserve(scale_point *p, int n);
void scale_point_free(scale_point *p); /* the arrays; p stays valid */

/* The key points are matched by across runs (kernel, scaling, mode,
   schedule, chunk, ranks, workers, threads per worker, size and, for a
   point over hosts, its hosts) and a label for people, from the point's
   fields as a JSON file holds them. hosts <= 0 or NaN: not a point over
   hosts (its key is the one files without a hosts field give). */
void scale_key(char *key, size_t kcap, char *label, size_t lcap,
               const char *kernel, const char *scaling, const char *mode,
               const char *sched, double chunk, double ranks, double workers,
               double tpw, double size, double hosts);
void scale_point_key(const scale_point *p, char *key, size_t kcap, char *label,
                     size_t lcap);

/* Where a run came from: the machine and the build. Strings are "" and
   numbers -1 when not known (older files, unreadable /sys entries). */
typedef struct {
  char hostname[128], kernel[128], cpu_model[256], allowed[256];
  char governor[64];
  int cores, pus, cpu_count;
  double load_start[3], load_end[3]; /* NaN: unknown */
  char mpk[32], compiler[160], c_flags[512], build_type[32];
  char git_commit[48];
  int git_dirty; /* 1, 0, -1 unknown */
  char openmp[16], gsl[16], hwloc[32], simd_isa[32];
} scale_prov;

/* This process: the machine now (load_end is the load average now,
   load_start NaN) and this binary's build (baked in at build time). */
void scale_prov_here(scale_prov *p);

/* The differences between two runs' provenance that make them not
   comparable (CPU model, cores, PUs, allowed cpuset, compiler, compiler
   flags, build type), one line each on out prefixed "mismatch: ", then the
   ones that are only reported (host, kernel, governor, mpk version, git
   commit and dirty flag) prefixed "note: ". A field unknown on either side
   is not compared. Returns the number of mismatches. */
int scale_prov_diff(const scale_prov *base, const scale_prov *cand, FILE *out);

/* One point of a result file, as the comparison and the merging of rounds
   read it. */
typedef struct {
  char key[208], label[160];
  int ok;
  char check[96];
  double value;
  char launch[384];
  int hosts;     /* a point over hosts: its hosts; else 0 */
  int n;         /* times */
  double *times; /* seconds */
  int *round;    /* the round of each time */
} scale_entry;

/* A result file: an mpk-scale JSON file or a Google Benchmark JSON file. */
typedef struct {
  scale_entry *e;
  int n;
  scale_prov prov;
  int micro;       /* Google Benchmark: each repetition is a round */
  char hosts[512]; /* the hostfile's hosts of a --hosts run, "a,b"; or "" */
} scale_runfile;

/* Read an mpk-scale result file (format 1 files without round indices are
   one round). Returns 0, or -1 after printing the reason on stderr. */
int scale_read_run(const char *path, scale_runfile *r);

/* Read Google Benchmark JSON (--benchmark_out, with
   --benchmark_repetitions=N and without
   --benchmark_report_aggregates_only): one entry per benchmark, one time
   (real time per iteration, seconds) per repetition. Returns 0, or -1 after
   printing the reason on stderr. */
int scale_read_micro(const char *path, scale_runfile *r);

void scale_runfile_free(scale_runfile *r);

/* Options of the regression check. */
typedef struct {
  double threshold;     /* minimum effect, relative (default 0.05) */
  double alpha;         /* family-wise level (default 0.05) */
  int strict;           /* inconclusive fails too */
  int allow_mismatch;   /* compare runs whose provenance differs */
  const char *out_stem; /* write STEM.json and STEM.csv, or NULL */
} scale_cmp_opts;

#define SCALE_THRESHOLD 0.05
#define SCALE_ALPHA 0.05

/* Compare run `cand` with run `base` (names for the output): the
   provenance check (exit 2 on a mismatch unless allowed), a "note: " line
   when the runs' host counts (of points over hosts) or hostfile hosts
   differ (a point of a host count only one run has is not compared), one
   table row per common point, a line beginning "REGRESSED " per regressed
   point, a summary line, and the STEM files. Returns 0 (nothing regressed, and
   with strict nothing inconclusive), 1 (a regression; with strict also an
   inconclusive point), 2 (no point in common, provenance mismatch, a file
   not written: printed on stderr). */
int scale_compare_runs(const scale_runfile *base, const char *base_name,
                       const scale_runfile *cand, const char *cand_name,
                       const scale_cmp_opts *o, FILE *out);

/* The same on two files: mpk-scale files, or with micro Google Benchmark
   files. Unreadable input is 2. */
int scale_compare_files(const char *base, const char *cand, int micro,
                        const scale_cmp_opts *o, FILE *out);

/* The hosts of a hostfile (--hosts), in its order. */
typedef struct {
  char name[256];
  int slots; /* its cores: R ranks x W workers above them oversubscribe */
} scale_host;
typedef struct {
  scale_host *h; /* malloc'd (scale_hosts_free) */
  int n;
} scale_hosts;

/* Read an Open MPI hostfile: one `NAME slots=N [max_slots=M]` line per
   host (N >= 1, M >= N), '#' comments and blank lines; NAME a host name
   (letters, digits, '.', '-'), each at most once. 0, or -1 with a
   one-line reason in err (no file, no host, a bad line and its number);
   h is then empty. */
int scale_hosts_read(const char *path, scale_hosts *h, char *err, size_t cap);
void scale_hosts_free(scale_hosts *h);

/* Everything the output files record besides the points. */
typedef struct {
  const char *command; /* argv joined */
  int repeat;
  int rounds;            /* rounds asked for (--rounds) */
  unsigned long seed;    /* of the shuffled orders */
  int process_per_round; /* each round ran in its own process */
  double max_time;       /* --max-time, 0 if not given */
  const char *against;   /* the other mpk-scale of an A/B run, or NULL */
  const char *side;      /* "candidate" or "baseline" of an A/B run, or NULL */
  const char *kernels, *modes, *workers, *scalings, *schedules; /* as given */
  const char *ranks, *rank_workers;         /* MPI points, or NULL */
  const char *hostfile;                     /* --hosts, or NULL */
  const scale_hosts *hosts;                 /* its hosts (with hostfile) */
  const char *host_counts, *ranks_per_host; /* --hosts, as resolved */
  uint64_t pi_steps, square_n, imb_n, imb_chunk;
  int tpw;
  double threshold, alpha; /* of the regression check */
} scale_config;

/* A point's mode name: the mode table's, and "mpi" for MPI points (mpk-scale
   never makes the mpi row of the table present: it runs no MPI itself). */
const char *scale_mode_name(app_mode m);

/* How MPI points are launched: `mpirun -np R [placement] [extra] mpk_pi
   --mode mpi --workers W --steps N --repeat R --bind B --json`. A point
   over H hosts adds `--host a:S,b:S` (the first H hosts and their slots)
   and places R / H ranks on each (`--map-by ppr:R/H:node`). */
typedef struct {
  const char *mpirun; /* a path, or a name looked up in PATH */
  const char *extra;  /* more mpirun arguments, space-separated, or NULL */
  const char *mpk_pi; /* the mpk-pi binary */
  double timeout;     /* seconds per launch; then the run is killed */
  int openmpi;        /* mpirun is Open MPI's: placement flags are added */
  int machine_cores;  /* R x W above this: oversubscribed, unpinned */
  const scale_hosts *hosts; /* --hosts, or NULL */
} scale_mpi;

/* Run `m->mpirun --version` (30 s at most): 0 and m->openmpi set, or -1
   with the reason in err. */
int scale_mpi_probe(scale_mpi *m, char *err, size_t cap);

/* Measure MPI point p (kernel pi, ranks, workers, cores and size set; for
   a point over hosts, hosts and ranks_per_host, and m->hosts) with one
   launch: mpk-pi's warm-up, then `repeat` timed runs whose times (the
   slowest rank's, between barriers) become p->times. Sets p->rc, p->check,
   p->value, p->st and p->launch; a launch that fails, exits non-zero, prints
   no usable report (or, over hosts, reports other than p->hosts nodes:
   the hosts were not separate machines to MPI), or outlives m->timeout (its
   process group is then killed) is a failed point; so is a point over
   hosts when mpirun is not Open MPI's. Returns at most ~7 s after the
   timeout. */
void scale_mpi_measure(const scale_mpi *m, scale_point *p, int repeat);

/* The unit of scale_point.rate for a kernel: "steps/s", "GB/s",
   "elements/s". */
const char *scale_rate_unit(scale_kernel k);

/* A time for people ("12.3 ms", "-" when not finite) into buf. */
const char *scale_fmt_time(char *buf, size_t cap, double s);

/* The MPI points of pts as a table on out (hosts, ranks per host, ranks,
   workers, cores, median, speedup and efficiency with their intervals, the
   value, the check), after the sweep; nothing without MPI points. */
void scale_print_mpi(FILE *out, const scale_point *pts, int n);

/* mkdir -p dir. 0, or -1 with errno set. */
int scale_make_dirs(const char *dir);

/* Write DIR/NAME.json and DIR/NAME.csv (DIR is created, with parents), with
   provenance prov (NULL: scale_prov_here). Returns 0, or -1 after printing
   the reason on stderr. */
int scale_write(const char *dir, const char *name, const scale_config *cfg,
                const scale_prov *prov, const scale_point *pts, int n);

/* Run argv (argv[0] a path or a name looked up in PATH) in its own process
   group, stdin /dev/null, stdout and the tail of stderr captured; at
   timeout seconds the group gets SIGTERM, 5 s later SIGKILL. */
#define SCALE_ERR_KEEP 4096
typedef struct {
  char *out; /* stdout, NUL-terminated (malloc'd; free it) */
  size_t out_len;
  char err[SCALE_ERR_KEEP]; /* the last bytes of stderr */
  size_t err_len;
  int status;    /* waitpid status */
  int timed_out; /* killed at the deadline */
  int sys_errno; /* a pipe / fork / pidfd failure (nothing ran) */
} scale_child;
void scale_run_child(char *const argv[], double timeout, scale_child *c);

#endif
