/* app_cli.h - option parsing helpers of the mpk apps (getopt_long is used by
 * each app; these turn one option value into a number or a name).
 *
 * Every parser returns 0 and writes *out, or -1 and leaves *out unchanged.
 * All are MT-safe except app_usage (writes stderr).
 *
 * The options common to mpk-pi and mpk-square (--mode, --workers,
 * --threads-per-worker, --schedule, --chunk, --bind, --repeat, --json) are
 * parsed here, once, into an app_opts (app_opts_parse; not MT-safe: it
 * reads getopt's optarg and optind).
 */
#ifndef APP_CLI_H
#define APP_CLI_H

#include <getopt.h>
#include <stddef.h>
#include <stdint.h>

#include "app_modes.h"
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

/* The usage error for what getopt_long returned for an option it could not
   take: c == ':' (opterr = 0 and a leading ':' in the option string) says
   "option 'X' needs a value", anything else "unknown option 'X'", X being
   argv[optind - 1]. Returns 2. */
int app_usage_getopt(const char *prog, int c, char **argv);

/* Why an mpk call just failed with rc, for a one-line message: "MPK_EINVAL:
   <mpk_errmsg()>" into buf (cut to cap). Call it right after the failure,
   before other mpk calls. Returns buf. */
const char *app_why(char *buf, size_t cap, int rc);

/* ------------------------------------------------------------------------ */
/* The options mpk-pi and mpk-square share                                   */

#define APP_MAX_REPEAT 1000

typedef struct {
  unsigned modes;       /* --mode: bit per app_mode (default every mode but
                           mpi) */
  int modes_given, all; /* --mode was given; the selection is "all" */
  int workers, tpw;     /* --workers, --threads-per-worker; 0: not given */
  mpk_sched_kind sched; /* --schedule (default static) */
  uint64_t chunk;       /* --chunk; 0: not given */
  uint64_t chunk_max;   /* the largest --chunk (app_opts_init) */
  mpk_bind_policy bind; /* --bind (default compact) */
  const char *cpuset;   /* its cpuset LIST, or NULL */
  int repeat, json;     /* --repeat (default 3), --json */
} app_opts;

/* Their getopt_long short letters (append to the app's ":..." string) and
   long options (the first entries of the app's table). */
#define APP_OPTS_SHORT "m:w:t:s:c:b:r:j"
#define APP_OPTS_LONG                                                          \
  {"mode", required_argument, NULL, 'm'},                                      \
      {"workers", required_argument, NULL, 'w'},                               \
      {"threads-per-worker", required_argument, NULL, 't'},                    \
      {"schedule", required_argument, NULL, 's'},                              \
      {"chunk", required_argument, NULL, 'c'},                                 \
      {"bind", required_argument, NULL, 'b'},                                  \
      {"repeat", required_argument, NULL, 'r'}, {                              \
    "json", no_argument, NULL, 'j'                                             \
  }

/* The defaults above, with --chunk limited to 1..chunk_max. */
void app_opts_init(app_opts *o, uint64_t chunk_max);

/* Take what getopt_long returned (c, with optarg) when it is not one of the
   app's own options: a shared option is stored in *o and gives -1 (go on
   parsing); a bad value, c == ':' or an unknown option prints the one-line
   usage error (app_usage) and gives 2. --mode takes app_mode_names(); "all"
   never selects mpi, and mpi must come alone (in programs that called
   app_modes_enable_mpi; "not built in" when this build has no mpi mode). */
int app_opts_parse(const char *prog, int c, char **argv, app_opts *o);

/* One mode to run: the mode and its worker layout. */
typedef struct {
  app_mode mode;
  int workers, tpw;
} app_plan;

/* The modes of o->modes present here (app_mode_get), in table order, into
   plan[0..APP_MODE_COUNT): serial runs 1 worker; the others o->workers
   (default: the allowed physical cores, else the allowed PUs), mpi
   o->workers as given (0: the cores of the rank); hybrid runs workers / tpw
   processes (at least 1) of tpw threads (default 2), and is left out of
   "all" when workers < tpw. Returns how many. */
int app_plan_modes(const app_opts *o, app_plan *plan);

/* "W" or, when tpw > 1, "WxT" into buf: the workers column of the tables.
   Returns buf. */
const char *app_workers_label(char *buf, size_t cap, int workers, int tpw);

#endif
