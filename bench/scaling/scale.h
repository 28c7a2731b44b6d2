/* scale.h - mpk-scale, the scaling driver: shared types of its three parts,
 * the sweep (mpk-scale.c), the writers (scale_output.c) and the regression
 * check (scale_compare.c).
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
   "serial", workers 1 and cores 1. */
typedef struct {
  scale_kernel kernel;
  const char *scaling; /* "serial", "strong", "weak" */
  app_mode mode;
  mpk_sched_kind sched;
  size_t chunk; /* the schedule's chunk (0: automatic) */
  int workers, tpw, cores;
  size_t size; /* steps or elements */
  int rc;      /* MPK_OK or the failure */
  char check[96];
  double value; /* pi, or the imbalanced sum; NaN for square */
  int repeats;
  double times[SCALE_MAX_REPEAT];
  app_stats st;
  double noise; /* app_rel_noise */
  double speedup, efficiency, karp_flatt;
  double rate; /* steps/s, GB/s, elements/s */
} scale_point;

/* Everything the output files record besides the points. */
typedef struct {
  const char *command; /* argv joined */
  int repeat;
  const char *kernels, *modes, *workers, *scalings, *schedules; /* as given */
  uint64_t pi_steps, square_n, imb_n, imb_chunk;
  int tpw;
  app_regress_rule rule; /* used by --baseline */
} scale_config;

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
