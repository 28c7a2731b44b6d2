/* scale_cli.h - mpk-scale's options: the parsed command line (options),
 * its parser with the --help text (scale_cli.c), and the schedule names
 * the sweep plans with. Not MT-safe (getopt). */
#ifndef MPK_SCALE_CLI_H
#define MPK_SCALE_CLI_H

#include <stdint.h>

#include "scale.h"

#define PROG "mpk-scale"

/* Baked in at configure time (bench/scaling/CMakeLists.txt). */
#ifndef MPK_SCALE_MPIRUN
#define MPK_SCALE_MPIRUN "mpirun"
#endif
#ifndef MPK_SCALE_MPK_PI
#define MPK_SCALE_MPK_PI ""
#endif
#ifndef MPK_SCALE_SOURCE_DIR
#define MPK_SCALE_SOURCE_DIR ""
#endif

extern const char *const scale_sched_names[];
extern const mpk_sched_kind scale_sched_kinds[];
#define N_SCHED 4

typedef struct {
  unsigned kernels, modes, scalings, scheds;
  const char *kernels_s, *modes_s, *workers_s, *scalings_s, *scheds_s;
  uint64_t workers[SCALE_MAX_WORKERS];
  int nworkers;
  int repeat, tpw, quiet;
  int rounds; /* 0: the default (1, or 10 when the run is compared) */
  unsigned long seed;
  int seed_given;
  double max_time;
  uint64_t pi_steps, square_n, imb_n, imb_chunk;
  const char *out, *name, *baseline, *compare, *against, *micro;
  int out_given;
  scale_cmp_opts cmp;
  const char *only; /* internal --only-points */
  const char *self; /* this binary */
  uint64_t ranks[SCALE_MAX_WORKERS], rank_workers[SCALE_MAX_WORKERS];
  int nranks, nrank_workers;
  const char *ranks_s, *rank_workers_s;
  /* --hosts: the hostfile, its hosts, the host counts and ranks per host
     (resolved: defaults filled in by scale_parse_options) */
  const char *hostfile;
  scale_hosts hosts;
  uint64_t host_counts[SCALE_MAX_WORKERS], ranks_per_host[SCALE_MAX_WORKERS];
  int nhost_counts, nranks_per_host;
  scale_mpi mpi;
} options;

/* Parse argv into o (defaults already set): -1 to go on, or the exit
   status (0 after --help, 2 after a one-line usage message). With --hosts
   (and no --compare) the hostfile is read and checked here: o->hosts then
   holds its hosts (the caller frees them with scale_hosts_free). */
int scale_parse_options(int argc, char **argv, options *o);

#endif
