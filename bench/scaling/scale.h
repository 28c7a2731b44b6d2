/* scale.h - mpk-scale, the scaling driver: shared types of its four parts,
 * the sweep (mpk-scale.c), the writers (scale_output.c), the regression
 * check (scale_compare.c) and the ranks x workers points run under mpirun
 * (scale_mpi.c).
 */
#ifndef MPK_SCALE_H
#define MPK_SCALE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "app_modes.h"
#include "app_stats.h"
#include "mpk/pool.h"

#define SCALE_MAX_REPEAT 100
#define SCALE_MAX_WORKERS 64 /* entries of --workers */

typedef enum { K_PI, K_SQUARE, K_IMB, K_COUNT } scale_kernel;
typedef enum { S_STRONG, S_WEAK, S_COUNT } scale_scaling;

extern const char *const scale_kernel_names[K_COUNT];
extern const char *const scale_scaling_names[S_COUNT];

/* One measured point. Serial points (the speedup baselines) have scaling
   "serial", workers 1 and cores 1. MPI points (--ranks) have mode
   APP_MODE_MPI, `ranks` ranks of `workers` workers each, cores = ranks x
   workers, and the mpirun command that measured them in `launch`. */
typedef struct {
  scale_kernel kernel;
  const char *scaling; /* "serial", "strong", "weak" */
  app_mode mode;
  mpk_sched_kind sched;
  size_t chunk;            /* the schedule's chunk (0: automatic) */
  int workers, tpw, cores; /* MPI points: workers per rank */
  int ranks;               /* MPI points: ranks; 1 for the others */
  size_t size;             /* steps or elements */
  int rc;                  /* MPK_OK or the failure */
  char check[96];
  double value; /* pi, or the imbalanced sum; NaN for square */
  int repeats;
  double times[SCALE_MAX_REPEAT];
  app_stats st;
  double noise; /* app_rel_noise */
  double speedup, efficiency, karp_flatt;
  double rate;      /* steps/s, GB/s, elements/s */
  char launch[384]; /* MPI points: the command line; else "" */
} scale_point;

/* Everything the output files record besides the points. */
typedef struct {
  const char *command; /* argv joined */
  int repeat;
  const char *kernels, *modes, *workers, *scalings, *schedules; /* as given */
  const char *ranks, *rank_workers; /* MPI points, or NULL */
  uint64_t pi_steps, square_n, imb_n, imb_chunk;
  int tpw;
  app_regress_rule rule; /* used by --baseline */
} scale_config;

/* A point's mode name: the mode table's, and "mpi" for MPI points (mpk-scale
   never makes the mpi row of the table present: it runs no MPI itself). */
const char *scale_mode_name(app_mode m);

/* How MPI points are launched: `mpirun -np R [placement] [extra] mpk_pi
   --mode mpi --workers W --steps N --repeat R --bind B --json`. */
typedef struct {
  const char *mpirun; /* a path, or a name looked up in PATH */
  const char *extra;  /* more mpirun arguments, space-separated, or NULL */
  const char *mpk_pi; /* the mpk-pi binary */
  double timeout;     /* seconds per launch; then the run is killed */
  int openmpi;        /* mpirun is Open MPI's: placement flags are added */
  int machine_cores;  /* R x W above this: oversubscribed, unpinned */
} scale_mpi;

/* Run `m->mpirun --version` (30 s at most): 0 and m->openmpi set, or -1
   with the reason in err. */
int scale_mpi_probe(scale_mpi *m, char *err, size_t cap);

/* Measure MPI point p (kernel pi, ranks, workers, cores and size set) with
   one launch: mpk-pi's warm-up, then `repeat` timed runs whose times (the
   slowest rank's, between barriers) become p->times. Sets p->rc, p->check,
   p->value, p->st and p->launch; a launch that fails, exits non-zero, prints
   no usable report or outlives m->timeout (its process group is then
   killed) is a failed point. Returns at most ~7 s after the timeout. */
void scale_mpi_measure(const scale_mpi *m, scale_point *p, int repeat);

/* The unit of scale_point.rate for a kernel: "steps/s", "GB/s",
   "elements/s". */
const char *scale_rate_unit(scale_kernel k);

/* Write DIR/NAME.json and DIR/NAME.csv (DIR is created, with parents).
   Returns 0, or -1 after printing the reason on stderr. */
int scale_write(const char *dir, const char *name, const scale_config *cfg,
                const scale_point *pts, int n);

/* Compare the points of the JSON run `current` (a file) or of pts (when
   current is NULL) with the JSON file `baseline` under the rule; print one
   line per regressed point and a summary on `out`. Returns 0 (no
   regression), 1 (at least one), 2 (a file cannot be read or parsed, or no
   point in common: printed on stderr). */
int scale_compare(const char *baseline, const char *current,
                  const scale_point *pts, int n, const app_regress_rule *rule,
                  FILE *out);

#endif
