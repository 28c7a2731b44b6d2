/* scale_rounds.h - mpk-scale's rounds driver: every round of a sweep is one
 * child process (this mpk-scale, or the other build's for an A/B run) that
 * measures the points once in a shuffled order and writes JSON to a
 * temporary directory; the driver merges the children's times into the
 * points with their round index. A/B runs alternate the builds in ABBA
 * order with the same shuffled order for both builds of a round. With a
 * time budget (--max-time) it adds rounds to the points whose interval is
 * still too wide, as in Kalibera and Jones (2013): the number of rounds is
 * chosen from the measured variance only, never from the verdict.
 *
 * Not MT-safe (forks, writes stderr).
 */
#ifndef MPK_SCALE_ROUNDS_H
#define MPK_SCALE_ROUNDS_H

#include "scale.h"

typedef struct {
  const char *bin[2]; /* [0] this build, [1] the --against build or NULL */
  char *const *sweep; /* the sweep options of a child, NULL-terminated */
  int rounds;         /* rounds of every point */
  int repeat;         /* timed runs per point per round */
  double max_time;    /* 0, or each point's budget of measured seconds */
  unsigned long seed; /* round r shuffles with seed + r */
  double threshold, alpha;
  const scale_runfile *baseline; /* the --baseline run, or NULL */
  int tty;                       /* print a progress line */
} scale_rounds_cfg;

/* Measure pts[s][0..n) for each side s (1 only with bin[1]), planned
   alike: each point gets times and round indices, or rc != 0 with the
   child's check message when it failed in a round; prov[s] receives the
   provenance the side's children recorded. Returns 0; 2 when a child could
   not run or was refused (its message printed); 1 on no memory. */
int scale_rounds_run(const scale_rounds_cfg *c, scale_point *pts[2], int n,
                     scale_prov prov[2]);

#endif
