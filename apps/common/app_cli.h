/* app_cli.h - option parsing helpers of the mpk apps (getopt_long is used by
 * each app; these turn one option value into a number or a name).
 *
 * Every parser returns 0 and writes *out, or -1 and leaves *out unchanged.
 * All are MT-safe except app_usage (writes stderr).
 */
#ifndef APP_CLI_H
#define APP_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "mpk/pool.h"
#include "mpk/topo.h"

/* A count in [lo, hi]: decimal "1000000", scientific "1e9" or "2.5e6" (the
   value must be a whole number below 2^53), or a power "2^26". No sign, no
   spaces, nothing after the number. */
int app_parse_count(const char *s, uint64_t lo, uint64_t hi, uint64_t *out);

/* A whole decimal number in [lo, hi]. */
int app_parse_long(const char *s, long lo, long hi, long *out);

/* A finite decimal floating-point number in [lo, hi]. */
int app_parse_double(const char *s, double lo, double hi, double *out);

/* "static", "cyclic", "dynamic" or "guided". */
int app_parse_sched(const char *s, mpk_sched_kind *out);
const char *app_sched_name(mpk_sched_kind k); /* "?" for others */

/* --bind: "compact", "scatter", "none", or an explicit cpuset LIST (as
   mpk-topo: "0-3,8", "0x0f", "core:0-1"), checked against this machine with
   mpk_topo_plan. A LIST gives *policy MPK_BIND_COMPACT and *list = s; the
   names give *list = NULL. */
int app_parse_bind(const char *s, mpk_bind_policy *policy, const char **list);

/* A comma-separated list of names, each one of names[0..count): sets bit i
   of *mask for names[i]; "all" sets every bit. Empty items, unknown names
   and an empty list are -1; *bad (when not NULL) then points at a static
   copy of the offending item (truncated to 63 bytes) for the message. */
int app_parse_names(const char *s, const char *const *names, int count,
                    unsigned *mask, const char **bad);

/* A comma-separated list of counts in [lo, hi], at most cap of them, into
   out; *n receives how many. */
int app_parse_count_list(const char *s, uint64_t lo, uint64_t hi, uint64_t *out,
                         int cap, int *n);

/* Print "prog: <message> (see prog --help)" as one line on stderr and
   return 2, the usage exit status. */
__attribute__((format(printf, 2, 3))) int app_usage(const char *prog,
                                                    const char *fmt, ...);

#endif
