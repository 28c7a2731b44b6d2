/* apps.kernels: the kernel library of mpk-pi, mpk-square and mpk-scale
 * (apps/common): the SIMD pi kernel's determinism across ISA variants, the
 * sub-block sum, Monte Carlo streams, square, the imbalanced ramp, GSL
 * statistics, option parsers (and the options the apps
 * share: app_opts, the mode plan), the JSON reader/writer, the mode table,
 * and the serial and OpenMP runners. Pool modes are in
 * apps.pool. */
#include <omp.h>
#include <stdint.h>

#include "app_cli.h"
#include "app_json.h"
#include "app_kernels.h"
#include "app_modes.h"
#include "app_run.h"
#include "app_stats.h"
#include "check.h"
#include "mpk/topo.h"

static int same_bits(double a, double b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

/* Every SIMD variant this CPU runs equals the scalar emulation of the
   8-lane order bit for bit, on ranges with and without tails, at offsets
   small and large. */
static void test_simd_variants_bit_identical(void) {
  static const size_t ranges[][2] = {
      {0, 0},
      {0, 1},
      {0, 7},
      {0, 8},
      {3, 100},
      {0, 65536},
      {12345, 99999},
      {1000000, 1065536},
      {(size_t)1 << 40, ((size_t)1 << 40) + 4099}};
  int tested = 0;
  for (int v = 0;; v++) {
    const char *name;
    app_pi_fn fn;
    int ok;
    if (app_pi_simd_variant(v, &name, &fn, &ok) != 0)
      break;
    if (!ok) {
      printf("  variant %s: not supported here, skipped\n", name);
      continue;
    }
    tested++;
    for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
      for (int d = 0; d < 3; d++) {
        double dx = d == 0 ? 1.0 / 1e6 : d == 1 ? 1.0 / 3.0 : 1e-13;
        double got = fn(ranges[r][0], ranges[r][1], dx);
        double want = app_pi_simd_emulated(ranges[r][0], ranges[r][1], dx);
        CHECK_MSG(same_bits(got, want),
                  "variant %s range [%zu, %zu) dx %g: %.17g != %.17g", name,
                  ranges[r][0], ranges[r][1], dx, got, want);
      }
    }
    printf("  variant %s: bit-identical to the emulation\n", name);
  }
  CHECK(tested >= 1);
  /* The dispatcher uses one of them, and selecting works. */
  CHECK_EQ(app_pi_simd_select("generic"), 0);
  CHECK_STR(app_pi_simd_isa(), "generic");
  CHECK_EQ(app_pi_simd_select("no-such-isa"), -1);
  CHECK_STR(app_pi_simd_isa(), "generic");
  CHECK_EQ(app_pi_simd_select("auto"), 0);
  CHECK_EQ(app_pi_simd_select(NULL), 0);
}

/* The terms are the naive loop's: simd and naive agree to rounding; both
   integrate to pi. */
static void test_pi_kernels_accuracy(void) {
  const size_t n = 1000000;
  const double dx = 1.0 / (double)n;
  double a = app_pi_naive(0, n, dx) * dx, b = app_pi_simd(0, n, dx) * dx;
  CHECK_NEAR(a, M_PI, 1e-12);
  CHECK_NEAR(b, M_PI, 1e-12);
  CHECK_NEAR(a, b, 1e-12); /* different summation orders */
  /* The seed's loop over 10 steps, written out. */
  double want = 0;
  for (int i = 0; i < 10; i++) {
    double x = (i + 0.5) * 0.1;
    want += 4.0 / (1.0 + x * x);
  }
  CHECK(same_bits(app_pi_naive(0, 10, 0.1), want));
  CHECK(same_bits(app_pi_naive(5, 5, 0.1), 0.0));
}

/* app_pi_range: the same bits for any OpenMP team size, and equal to the
   left-to-right sum of the APP_PI_BLOCK sub-blocks. */
static void test_pi_range_team_independent(void) {
  const size_t lo = 777, hi = 777 + 5 * APP_PI_BLOCK + 12345;
  const double dx = 1.0 / (double)hi;
  for (int k = 0; k < 2; k++) {
    app_pi_kernel kern = k ? APP_PI_SIMD : APP_PI_NAIVE;
    double seq = 0;
    for (size_t a = lo; a < hi; a += APP_PI_BLOCK) {
      size_t e = hi - a > APP_PI_BLOCK ? a + APP_PI_BLOCK : hi;
      seq +=
          kern == APP_PI_SIMD ? app_pi_simd(a, e, dx) : app_pi_naive(a, e, dx);
    }
    for (int team = 1; team <= 4; team++)
      CHECK_MSG(same_bits(app_pi_range(lo, hi, dx, kern, team), seq),
                "team %d kernel %d", team, k);
  }
  /* More sub-blocks than one OpenMP group of 64. */
  const size_t big = 150 * APP_PI_BLOCK + 3;
  double t1 = app_pi_range(0, big, 1.0 / big, APP_PI_SIMD, 1);
  double t3 = app_pi_range(0, big, 1.0 / big, APP_PI_SIMD, 3);
  CHECK(same_bits(t1, t3));
  CHECK(same_bits(app_pi_range(10, 10, 0.5, APP_PI_SIMD, 2), 0.0));
}

/* Monte Carlo: distinct chunk seeds, and the same count for any partition
   of [0, n) (ranges starting mid-chunk skip the stream forward). */
static void test_montecarlo_streams(void) {
  for (uint64_t c = 0; c < 1000; c++)
    for (uint64_t d = c + 1; d < 1000; d += 37)
      CHECK_NE(app_mc_stream_seed(42, c), app_mc_stream_seed(42, d));
  CHECK_NE(app_mc_stream_seed(1, 0), app_mc_stream_seed(2, 0));
  const size_t n = 20000, chunk = 1500;
  double whole = app_mc_hits(0, n, chunk, 7);
  CHECK(whole > 0.7 * n && whole < 0.85 * n); /* pi/4 = 0.785 */
  static const size_t cuts[][3] = {
      {1, 2, 3}, {1500, 3000, 4500}, {777, 9999, 15001}, {0, 0, 19999}};
  for (size_t k = 0; k < sizeof cuts / sizeof cuts[0]; k++) {
    double sum = app_mc_hits(0, cuts[k][0], chunk, 7) +
                 app_mc_hits(cuts[k][0], cuts[k][1], chunk, 7) +
                 app_mc_hits(cuts[k][1], cuts[k][2], chunk, 7) +
                 app_mc_hits(cuts[k][2], n, chunk, 7);
    CHECK_MSG(sum == whole, "partition %zu: %.0f != %.0f", k, sum, whole);
  }
  CHECK(app_mc_hits(0, n, chunk, 8) != whole);     /* another seed */
  CHECK(app_mc_hits(0, n, chunk + 1, 7) != whole); /* other streams */
  CHECK(app_mc_hits(5, 5, chunk, 7) == 0.0);
}

static void test_square_kernels(void) {
  long in[9] = {2, 4, 6, 8, 3, 5, 7, 9, -11}, out[9];
  app_square_long(in, out, 0, 9);
  long want[9] = {4, 16, 36, 64, 9, 25, 49, 81, 121};
  for (int i = 0; i < 9; i++)
    CHECK_EQ(out[i], want[i]);
  long big = APP_SQUARE_LONG_MAX, r;
  CHECK_EQ(app_square_long_elem(&big, &r, NULL), 0);
  CHECK_EQ(r, 9223372030926249001L);
  big++;
  CHECK_EQ(app_square_long_elem(&big, &r, NULL), 1); /* would overflow */
  double din = -1.5, dout;
  CHECK_EQ(app_square_double_elem(&din, &dout, NULL), 0);
  CHECK(dout == 2.25);
  long seq[100];
  double dseq[100], dsq[100];
  for (int i = 0; i < 100; i++) {
    seq[i] = (long)i * i;
    dseq[i] = i;
  }
  CHECK_EQ(app_square_check_long(seq, 100), 100);
  seq[37] = 5;
  CHECK_EQ(app_square_check_long(seq, 100), 37);
  app_square_double(dseq, dsq, 0, 100);
  CHECK_EQ(app_square_check_double(dsq, 100), 100);
  dsq[99] = NAN;
  CHECK_EQ(app_square_check_double(dsq, 100), 99);
}

static void test_imbalanced_ramp(void) {
  const size_t n = 6400;
  CHECK_EQ(app_imb_cost(0, n), 1);
  CHECK_EQ(app_imb_cost(n - 1, n), APP_IMB_RAMP - 1); /* 1 + 63*6399/6400 */
  CHECK_EQ(app_imb_cost(n / 2, n), 1 + (APP_IMB_RAMP - 1) / 2);
  for (size_t i = 1; i < n; i++)
    CHECK(app_imb_cost(i, n) >= app_imb_cost(i - 1, n));
  CHECK_EQ(app_imb_cost(SIZE_MAX - 1, SIZE_MAX), APP_IMB_RAMP - 1);
  CHECK_EQ(app_imb_cost(5, 0), 1);
  /* Static halves: the second holds far more work than the first. */
  unsigned long first = 0, second = 0;
  for (size_t i = 0; i < n; i++)
    *(i < n / 2 ? &first : &second) += app_imb_cost(i, n);
  CHECK(second > 2 * first);
  double s1 = app_imb_range(0, n, n, 1), s2 = app_imb_range(0, n, n, 3);
  CHECK_NEAR(s1, s2, 1e-12 * fabs(s1));
  CHECK(s1 > 0);
}

static void test_stats(void) {
  double v[5] = {5, 1, 4, 2, 3};
  app_stats s;
  CHECK_EQ(app_stats_compute(v, 5, &s), 0);
  CHECK(s.median == 3 && s.min == 1 && s.max == 5 && s.q25 == 2 && s.q75 == 4 &&
        s.mean == 3 && s.n == 5);
  CHECK_NEAR(s.sd, sqrt(2.5), 1e-15);
  CHECK(v[0] == 5); /* input untouched */
  CHECK_NEAR(app_rel_noise(&s), 2.0 / 3.0, 1e-15);
  double w[4] = {1, 2, 3, 4};
  CHECK_EQ(app_stats_compute(w, 4, &s), 0);
  CHECK(s.median == 2.5 && s.q25 == 1.75 && s.q75 == 3.25);
  CHECK_EQ(app_stats_compute(w, 1, &s), 0);
  CHECK(s.median == 1 && s.sd == 0 && app_rel_noise(&s) == 0);
  CHECK_EQ(app_stats_compute(w, 0, &s), -1);
  CHECK_EQ(app_stats_compute(NULL, 3, &s), -1);
  double bad[2] = {1, NAN};
  CHECK_EQ(app_stats_compute(bad, 2, &s), -1);
  /* speedup, efficiency, Karp-Flatt */
  CHECK(app_speedup(10, 5) == 2);
  CHECK(isnan(app_speedup(0, 5)) && isnan(app_speedup(1, 0)));
  CHECK(app_efficiency(3, 4) == 0.75);
  CHECK(isnan(app_karp_flatt(1.0, 1)));
  CHECK_NEAR(app_karp_flatt(4.0, 4), 0.0, 1e-15);       /* perfect */
  CHECK_NEAR(app_karp_flatt(1.0, 4), 1.0, 1e-15);       /* all serial */
  CHECK_NEAR(app_karp_flatt(2.0, 4), 1.0 / 3.0, 1e-15); /* Amdahl f = 1/3 */
}

static void test_cli_parsers(void) {
  uint64_t u;
  CHECK_EQ(app_parse_count("1e9", 1, UINT64_MAX, &u), 0);
  CHECK_EQ(u, 1000000000);
  CHECK_EQ(app_parse_count("2^26", 1, UINT64_MAX, &u), 0);
  CHECK_EQ(u, 67108864);
  CHECK_EQ(app_parse_count("2.5e3", 1, UINT64_MAX, &u), 0);
  CHECK_EQ(u, 2500);
  CHECK_EQ(app_parse_count("123", 1, UINT64_MAX, &u), 0);
  CHECK_EQ(u, 123);
  CHECK_EQ(app_parse_count("10^0", 1, 10, &u), 0);
  CHECK_EQ(u, 1);
  u = 77;
  static const char *const bad[] = {
      "",    "-1",   "+5",   "1.5",   "1e-3",
      "x",   "1e9x", "2^",   "^3",    "2^99",
      " 12", "12 ",  "0x10", "1e400", "99999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
    CHECK_MSG(app_parse_count(bad[i], 0, UINT64_MAX, &u) == -1, "'%s'", bad[i]);
  CHECK_EQ(app_parse_count("0", 1, 10, &u), -1); /* below lo */
  CHECK_EQ(app_parse_count("11", 1, 10, &u), -1);
  CHECK_EQ(u, 77); /* unchanged on error */
  long l;
  CHECK_EQ(app_parse_long("-3", -5, 5, &l), 0);
  CHECK_EQ(l, -3);
  CHECK_EQ(app_parse_long("6", -5, 5, &l), -1);
  CHECK_EQ(app_parse_long("3x", -5, 5, &l), -1);
  double d;
  CHECK_EQ(app_parse_double("0.25", 0, 1, &d), 0);
  CHECK(d == 0.25);
  CHECK_EQ(app_parse_double("nan", 0, 1, &d), -1);
  CHECK_EQ(app_parse_double("inf", 0, INFINITY, &d), -1);
  mpk_sched_kind k;
  CHECK_EQ(app_parse_sched("guided", &k), 0);
  CHECK_EQ(k, MPK_SCHED_GUIDED);
  CHECK_EQ(app_parse_sched("auto", &k), -1);
  CHECK_STR(app_sched_name(MPK_SCHED_CYCLIC), "cyclic");
  mpk_bind_policy p;
  const char *list = "x";
  CHECK_EQ(app_parse_bind("scatter", &p, &list), 0);
  CHECK(p == MPK_BIND_SCATTER && list == NULL);
  CHECK_EQ(app_parse_bind("0", &p, &list), 0);
  CHECK(p == MPK_BIND_COMPACT && list != NULL && strcmp(list, "0") == 0);
  CHECK_EQ(app_parse_bind("zz", &p, &list), -1);
  CHECK_EQ(app_parse_bind("", &p, &list), -1);
  static const char *const names[] = {"a", "bb", "ccc"};
  unsigned m;
  const char *which;
  CHECK_EQ(app_parse_names("bb,a", names, 3, &m, &which), 0);
  CHECK_EQ(m, 3);
  CHECK_EQ(app_parse_names("all", names, 3, &m, &which), 0);
  CHECK_EQ(m, 7);
  CHECK_EQ(app_parse_names("a,,bb", names, 3, &m, &which), -1);
  CHECK_EQ(app_parse_names("a,b", names, 3, &m, &which), -1);
  CHECK_STR(which, "b");
  CHECK_EQ(app_parse_names("", names, 3, &m, &which), -1);
  uint64_t ws[4];
  int nw;
  CHECK_EQ(app_parse_count_list("1,2,4", 1, 8, ws, 4, &nw), 0);
  CHECK(nw == 3 && ws[0] == 1 && ws[2] == 4);
  CHECK_EQ(app_parse_count_list("1,9", 1, 8, ws, 4, &nw), -1);
  CHECK_EQ(app_parse_count_list("1,2,3,4,5", 1, 8, ws, 4, &nw), -1);
  CHECK_EQ(app_parse_count_list("1,", 1, 8, ws, 4, &nw), -1);
}

/* Parse the space-separated words of args (after a program name) with the
   shared options only, as the apps do; *err gets what went to stderr.
   Returns -1 when every option was taken, else app_opts_parse's status. */
static int parse_shared(app_opts *o, const char *args, char *err, size_t cap) {
  static const struct option longopts[] = {APP_OPTS_LONG, {NULL, 0, NULL, 0}};
  char buf[256], *argv[32];
  int argc = 0;
  snprintf(buf, sizeof buf, "%s", args);
  argv[argc++] = (char *)"prog";
  for (char *w = strtok(buf, " "); w != NULL && argc < 31;
       w = strtok(NULL, " "))
    argv[argc++] = w;
  argv[argc] = NULL;
  fflush(stderr);
  FILE *t = tmpfile();
  int saved = dup(2);
  CHECK(t != NULL && saved >= 0);
  dup2(fileno(t), 2);
  optind = 0; /* glibc: start a new scan */
  opterr = 0;
  int c, st = -1;
  while ((c = getopt_long(argc, argv, ":" APP_OPTS_SHORT, longopts, NULL)) !=
         -1)
    if ((st = app_opts_parse("prog", c, argv, o)) >= 0)
      break;
  fflush(stderr);
  dup2(saved, 2);
  close(saved);
  rewind(t);
  size_t n = fread(err, 1, cap - 1, t);
  err[n] = '\0';
  fclose(t);
  return st;
}

static unsigned bit(app_mode m) {
  return 1u << m;
}

/* The shared options: defaults, every option, and each one's usage error
   (one line, status 2). Runs before test_mode_table enables the mpi row. */
static void test_app_opts(void) {
  app_opts o;
  char err[512];
  CHECK_EQ(app_modes_mpi_enabled(), 0);
  app_opts_init(&o, 1000);
  CHECK_EQ(o.modes, ~bit(APP_MODE_MPI));
  CHECK(o.all == 1 && o.modes_given == 0 && o.workers == 0 && o.tpw == 0);
  CHECK(o.sched == MPK_SCHED_STATIC && o.chunk == 0 && o.chunk_max == 1000);
  CHECK(o.bind == MPK_BIND_COMPACT && o.cpuset == NULL);
  CHECK(o.repeat == 3 && o.json == 0);

  CHECK_EQ(parse_shared(&o,
                        "--mode serial,pool -w 3 --threads-per-worker 4 "
                        "-s guided --chunk 2^5 --bind 0 -r 7 --json",
                        err, sizeof err),
           -1);
  CHECK_STR(err, "");
  CHECK_EQ(o.modes, bit(APP_MODE_SERIAL) | bit(APP_MODE_POOL));
  CHECK(o.modes_given == 1 && o.all == 0);
  CHECK(o.workers == 3 && o.tpw == 4 && o.sched == MPK_SCHED_GUIDED);
  CHECK(o.chunk == 32 && o.bind == MPK_BIND_COMPACT && o.cpuset != NULL &&
        strcmp(o.cpuset, "0") == 0);
  CHECK(o.repeat == 7 && o.json == 1);
  CHECK_EQ(parse_shared(&o, "-m all -b scatter", err, sizeof err), -1);
  CHECK(o.all == 1 && o.bind == MPK_BIND_SCATTER && o.cpuset == NULL);
  CHECK_EQ(o.modes & bit(APP_MODE_MPI), 0); /* "all" never means mpi */
  CHECK(o.modes & bit(APP_MODE_HYBRID));

  static const struct {
    const char *args, *msg;
  } bad[] = {
      {"--mode bogus",
       "prog: unknown mode 'bogus' in --mode (want serial, "
       "omp, pool, threads, hybrid or all) (see prog --help)\n"},
      {"--mode pool,mpi", "prog: unknown mode 'mpi' in --mode (want serial, "
                          "omp, pool, threads, hybrid or all) (see prog "
                          "--help)\n"},
      {"--workers 0",
       "prog: bad --workers '0' (want 1..1024) (see prog --help)\n"},
      {"-t 1", "prog: bad --threads-per-worker '1' (want 2..256) (see prog "
               "--help)\n"},
      {"--schedule auto", "prog: bad --schedule 'auto' (want static, cyclic, "
                          "dynamic or guided) (see prog --help)\n"},
      {"--chunk 1001", "prog: bad --chunk '1001' (want >= 1) (see prog "
                       "--help)\n"},
      {"--chunk 0", "prog: bad --chunk '0' (want >= 1) (see prog --help)\n"},
      {"--bind zz", "prog: bad --bind 'zz' (want compact, scatter, none or a "
                    "cpuset list of allowed PUs) (see prog --help)\n"},
      {"--repeat 1001",
       "prog: bad --repeat '1001' (want 1..1000) (see prog --help)\n"},
      {"--repeat", "prog: option '--repeat' needs a value (see prog "
                   "--help)\n"},
      {"--bogus", "prog: unknown option '--bogus' (see prog --help)\n"},
      {"-x", "prog: unknown option '-x' (see prog --help)\n"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    app_opts_init(&o, 1000);
    CHECK_MSG(parse_shared(&o, bad[i].args, err, sizeof err) == 2, "%s",
              bad[i].args);
    CHECK_STR(err, bad[i].msg);
  }

  char w[16];
  CHECK_STR(app_workers_label(w, sizeof w, 4, 1), "4");
  CHECK_STR(app_workers_label(w, sizeof w, 3, 2), "3x2");
}

/* app_plan_modes: table order, serial on 1 worker, hybrid as workers / tpw
   processes, and left out of "all" when there is no room for a team. */
static void test_plan_modes(void) {
  app_opts o;
  app_plan plan[APP_MODE_COUNT];
  char err[512];
  app_opts_init(&o, 1000);
  CHECK_EQ(parse_shared(&o, "--mode hybrid,serial,omp --workers 5 -t 2", err,
                        sizeof err),
           -1);
  CHECK_EQ(app_plan_modes(&o, plan), 3);
  CHECK(plan[0].mode == APP_MODE_SERIAL && plan[0].workers == 1 &&
        plan[0].tpw == 1);
  CHECK(plan[1].mode == APP_MODE_OMP && plan[1].workers == 5 &&
        plan[1].tpw == 1);
  CHECK(plan[2].mode == APP_MODE_HYBRID && plan[2].workers == 2 &&
        plan[2].tpw == 2);
  /* Asked for by name, hybrid runs even with fewer workers than a team. */
  CHECK_EQ(parse_shared(&o, "--mode hybrid --workers 1 -t 3", err, sizeof err),
           -1);
  CHECK_EQ(app_plan_modes(&o, plan), 1);
  CHECK(plan[0].workers == 1 && plan[0].tpw == 3);
  /* "all" leaves it out then; the defaults: the allowed cores. */
  app_opts_init(&o, 1000);
  o.workers = 1;
  CHECK_EQ(app_plan_modes(&o, plan), 4);
  CHECK(plan[3].mode == APP_MODE_THREADS);
  o.workers = 0;
  int cores = mpk_core_count() > 0 ? mpk_core_count() : mpk_cpu_count();
  int n = app_plan_modes(&o, plan);
  CHECK(n == (cores >= 2 ? 5 : 4));
  CHECK(plan[1].mode == APP_MODE_OMP && plan[1].workers == cores);
}

/* With the mpi row enabled (after test_mode_table): mpi runs alone, or says
   it is not built in. */
static void test_app_opts_mpi(void) {
  app_opts o;
  char err[512];
  CHECK_EQ(app_modes_mpi_enabled(), 1);
  app_opts_init(&o, 1000);
  CHECK_EQ(parse_shared(&o, "--mode all", err, sizeof err), -1);
  CHECK_EQ(o.modes & bit(APP_MODE_MPI), 0);
  if (app_mode_mpi_built()) {
    CHECK_EQ(parse_shared(&o, "--mode mpi", err, sizeof err), -1);
    CHECK_EQ(o.modes, bit(APP_MODE_MPI));
    app_plan plan[APP_MODE_COUNT];
    CHECK_EQ(app_plan_modes(&o, plan), 1);
    CHECK(plan[0].mode == APP_MODE_MPI && plan[0].workers == 0);
    CHECK_EQ(parse_shared(&o, "--mode pool,mpi", err, sizeof err), 2);
    CHECK_STR(err, "prog: --mode mpi runs alone (it spans the ranks of an "
                   "mpirun job): drop the other modes (see prog --help)\n");
  } else {
    CHECK_EQ(parse_shared(&o, "--mode mpi", err, sizeof err), 2);
    CHECK(strstr(err, "--mode mpi is not built in") != NULL);
  }
}

static void test_json(void) {
  const char *doc =
      " {\"a\": [1, -2.5e3, true, false, null, \"x\\u00e9\\ud83d\\ude00\\n\"],"
      " \"b\": {\"c\": 0.1}, \"a2\": 3.14159265358979312, \"a\": 7} ";
  app_json *v;
  char err[128];
  CHECK_EQ(app_json_parse(doc, strlen(doc), &v, err, sizeof err), 0);
  CHECK(v->type == APP_JSON_OBJECT && v->len == 4);
  CHECK(app_json_get_num(v, "a", 0) == 7); /* the last duplicate wins */
  const app_json *arr = &v->items[0];
  CHECK(arr->type == APP_JSON_ARRAY && arr->len == 6);
  CHECK(arr->items[1].number == -2500);
  CHECK(arr->items[2].type == APP_JSON_BOOL && arr->items[2].number == 1);
  CHECK(arr->items[4].type == APP_JSON_NULL);
  CHECK_STR(arr->items[5].string, "x\xc3\xa9\xf0\x9f\x98\x80\n");
  CHECK(app_json_get_num(app_json_get(v, "b"), "c", 0) == 0.1);
  CHECK(app_json_get_num(v, "a2", 0) == M_PI);
  CHECK(app_json_get(v, "nope") == NULL);
  CHECK_STR(app_json_get_str(v, "a", "dflt"), "dflt");
  app_json_free(v);
  static const char *const bad[] = {"",
                                    "{",
                                    "[1,]",
                                    "{\"a\" 1}",
                                    "{\"a\":1,}",
                                    "[1 2]",
                                    "01",
                                    "1.",
                                    "-",
                                    "tru",
                                    "\"\\x\"",
                                    "\"a",
                                    "\"\\ud800\"",
                                    "[1] x",
                                    "{1: 2}",
                                    "\"\\u0000\"",
                                    "\"\t\"",
                                    "1e",
                                    "nul"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    err[0] = '\0';
    CHECK_MSG(app_json_parse(bad[i], strlen(bad[i]), &v, err, sizeof err) == -1,
              "accepted '%s'", bad[i]);
    CHECK_MSG(strncmp(err, "offset ", 7) == 0, "message '%s'", err);
  }
  /* depth limit */
  char deep[200];
  memset(deep, '[', sizeof deep);
  CHECK_EQ(app_json_parse(deep, sizeof deep, &v, err, sizeof err), -1);
  CHECK(strstr(err, "deep") != NULL);
  /* writer: 17 digits round-trip, NaN is null, strings escaped */
  char *buf = NULL;
  size_t len = 0;
  FILE *f = open_memstream(&buf, &len);
  CHECK(f != NULL);
  fputc('[', f);
  app_json_num(f, 0.1 + 0.2);
  fputc(',', f);
  app_json_num(f, NAN);
  fputc(',', f);
  app_json_str(f, "q\"\\\x01\n");
  fputc(',', f);
  app_json_str(f, NULL);
  fputc(']', f);
  fclose(f);
  CHECK_EQ(app_json_parse(buf, len, &v, err, sizeof err), 0);
  CHECK(v->items[0].number == 0.1 + 0.2);
  CHECK(v->items[1].type == APP_JSON_NULL);
  CHECK_STR(v->items[2].string, "q\"\\\x01\n");
  CHECK(v->items[3].type == APP_JSON_NULL);
  app_json_free(v);
  free(buf);
  CHECK_EQ(app_json_parse_file("/nonexistent/x.json", &v, err, sizeof err), -1);
  CHECK(strstr(err, "No such file") != NULL);
}

static void test_mode_table(void) {
  int count;
  const char *const *names = app_mode_names(&count);
  CHECK_EQ(count, APP_MODE_COUNT);
  /* mpi: absent (and nameless) until app_modes_enable_mpi */
  static const char *const want[] = {"serial",  "omp",    "pool",
                                     "threads", "hybrid", ""};
  CHECK_EQ(sizeof want / sizeof want[0], APP_MODE_COUNT);
  for (int m = 0; m < APP_MODE_MPI; m++) {
    CHECK_STR(names[m], want[m]);
    CHECK(app_mode_get((app_mode)m) == app_mode_find(want[m]));
    CHECK_EQ(app_mode_get((app_mode)m)->mode, m);
    CHECK_EQ(app_mode_get((app_mode)m)->mpi, 0);
  }
  CHECK_STR(names[APP_MODE_MPI], "");
  CHECK(app_mode_get(APP_MODE_MPI) == NULL);
  CHECK(app_mode_find("mpi") == NULL);
  CHECK(app_mode_find("") == NULL);
  char list[128], tiny[12];
  CHECK_STR(app_mode_list(list, sizeof list),
            "serial, omp, pool, threads, hybrid");
  CHECK_STR(app_mode_list(tiny, sizeof tiny), "serial, omp");
  CHECK(app_mode_get(APP_MODE_COUNT) == NULL);
  CHECK(app_mode_get((app_mode)-1) == NULL);
  CHECK_EQ(app_mode_find("omp")->kind, APP_KIND_OMP);
  CHECK_EQ(app_mode_find("threads")->kind, APP_KIND_POOL);
  CHECK(app_mode_find("hybrid")->hybrid);
  app_exec ex;
  CHECK_RC(app_exec_open(&ex, APP_MODE_OMP, 0, 1, MPK_BIND_COMPACT, NULL),
           MPK_EINVAL);
  CHECK_RC(app_exec_open(&ex, APP_MODE_OMP, 2, 0, MPK_BIND_COMPACT, NULL),
           MPK_EINVAL);
  CHECK_RC(app_exec_open(&ex, APP_MODE_HYBRID, 1, 1, MPK_BIND_COMPACT, NULL),
           MPK_EINVAL);
  CHECK_RC(app_exec_open(NULL, APP_MODE_OMP, 1, 1, MPK_BIND_COMPACT, NULL),
           MPK_EINVAL);
  CHECK_RC(app_exec_open(&ex, APP_MODE_COUNT, 1, 1, MPK_BIND_COMPACT, NULL),
           MPK_EINVAL);
  CHECK_OK(app_exec_open(&ex, APP_MODE_SERIAL, 8, 4, MPK_BIND_COMPACT, NULL));
  CHECK(ex.workers == 1 && ex.threads_per_worker == 1 && ex.pool == NULL);
  CHECK_EQ(app_exec_cores(&ex), 1);
  app_exec_close(&ex);
  app_exec_close(&ex); /* idempotent */
  CHECK_OK(app_exec_open(&ex, APP_MODE_OMP, 3, 2, MPK_BIND_COMPACT, NULL));
  CHECK(ex.workers == 3 && ex.threads_per_worker == 1);
  CHECK(ex.ranks == 1 && ex.total_workers == 3);
  CHECK_EQ(app_exec_cores(&ex), 3);
  app_exec_close(&ex);
  CHECK_RC(app_exec_open(&ex, APP_MODE_MPI, 1, 1, MPK_BIND_COMPACT, NULL),
           MPK_EINVAL); /* absent */

  /* Enabled (mpk-pi does this first): the row appears when it is built. */
  app_modes_enable_mpi();
  names = app_mode_names(&count);
  if (app_mode_mpi_built()) {
    const app_mode_info *mpi = app_mode_find("mpi");
    CHECK(mpi != NULL && mpi == app_mode_get(APP_MODE_MPI));
    CHECK(mpi->mpi && mpi->kind == APP_KIND_POOL && !mpi->hybrid);
    CHECK_STR(names[APP_MODE_MPI], "mpi");
    CHECK_STR(app_mode_list(list, sizeof list),
              "serial, omp, pool, threads, hybrid, mpi");
    /* workers >= 0 (0: the rank's cores); without MPI_Init the pool
       refuses at once (runs under mpirun: tests/cmake/mpiapps.cmake) */
    CHECK_RC(app_exec_open(&ex, APP_MODE_MPI, 0, 1, MPK_BIND_COMPACT, NULL),
             MPK_ESTATE);
    CHECK(ex.pool == NULL);
    CHECK_RC(app_exec_open(&ex, APP_MODE_MPI, -1, 1, MPK_BIND_COMPACT, NULL),
             MPK_EINVAL);
    CHECK_RC(app_exec_open(&ex, APP_MODE_MPI, 1, 0, MPK_BIND_COMPACT, NULL),
             MPK_EINVAL);
  } else {
    CHECK(app_mode_find("mpi") == NULL && app_mode_get(APP_MODE_MPI) == NULL);
    CHECK_STR(names[APP_MODE_MPI], "");
  }
}

/* The serial and OpenMP runners (pool modes: apps.pool). */
static void test_runners_serial_omp(void) {
  app_exec ser, omp;
  CHECK_OK(app_exec_open(&ser, APP_MODE_SERIAL, 1, 1, MPK_BIND_COMPACT, NULL));
  CHECK_OK(app_exec_open(&omp, APP_MODE_OMP, 3, 1, MPK_BIND_COMPACT, NULL));
  static const mpk_sched_kind kinds[] = {MPK_SCHED_STATIC, MPK_SCHED_CYCLIC,
                                         MPK_SCHED_DYNAMIC, MPK_SCHED_GUIDED};
  for (int k = 0; k < 2; k++)
    for (size_t s = 0; s < 4; s++) {
      app_pi_problem pb = {APP_METHOD_MIDPOINT,
                           k ? APP_PI_SIMD : APP_PI_NAIVE,
                           200003,
                           kinds[s],
                           5000,
                           0};
      double a = 0, b = 0;
      CHECK_OK(app_pi_run(&ser, &pb, &a));
      CHECK_OK(app_pi_run(&omp, &pb, &b));
      CHECK_NEAR(a, M_PI, 1e-9);
      CHECK_NEAR(b, M_PI, 1e-9);
    }
  /* Monte Carlo: serial and OpenMP count the same samples. */
  app_pi_problem mc = {APP_METHOD_MONTECARLO, APP_PI_SIMD, 50000,
                       MPK_SCHED_DYNAMIC,     999,         5};
  double a = 0, b = 0;
  CHECK_OK(app_pi_run(&ser, &mc, &a));
  CHECK_OK(app_pi_run(&omp, &mc, &b));
  CHECK(same_bits(a, b));
  CHECK_NEAR(a, M_PI, 0.05);
  /* bad problems */
  app_pi_problem bad = mc;
  bad.chunk = 0;
  CHECK_RC(app_pi_run(&ser, &bad, &a), MPK_EINVAL);
  bad = mc;
  bad.steps = 0;
  CHECK_RC(app_pi_run(&ser, &bad, &a), MPK_EINVAL);
  bad = mc;
  bad.sched = MPK_SCHED_AUTO;
  CHECK_RC(app_pi_run(&omp, &bad, &a), MPK_EINVAL);
  CHECK_RC(app_pi_run(&ser, &mc, NULL), MPK_EINVAL);
  /* square, both types */
  enum { N = 10007 };
  static long lin[N], lout[N];
  static double din[N], dout[N];
  for (int i = 0; i < N; i++) {
    lin[i] = i;
    din[i] = i;
  }
  app_exec *ex[2] = {&ser, &omp};
  for (int e = 0; e < 2; e++) {
    memset(lout, 0, sizeof lout);
    memset(dout, 0, sizeof dout);
    app_square_problem sl = {APP_SQ_LONG, APP_SQ_RANGE, N,
                             lin,         lout,         {MPK_SCHED_STATIC, 0}};
    app_square_problem sd = {APP_SQ_DOUBLE, APP_SQ_MAP, N,
                             din,           dout,       {MPK_SCHED_STATIC, 0}};
    CHECK_OK(app_square_run(ex[e], &sl));
    CHECK_OK(app_square_run(ex[e], &sd));
    CHECK_EQ(app_square_check_long(lout, N), N);
    CHECK_EQ(app_square_check_double(dout, N), N);
  }
  app_square_problem sbad = {APP_SQ_LONG, APP_SQ_RANGE, 5,
                             NULL,        lout,         {MPK_SCHED_STATIC, 0}};
  CHECK_RC(app_square_run(&ser, &sbad), MPK_EINVAL);
  /* imbalanced: every schedule gives the serial sum to rounding */
  app_imb_problem ip = {20000, {MPK_SCHED_STATIC, 0}};
  double ref = 0, got = 0;
  CHECK_OK(app_imb_run(&ser, &ip, &ref));
  for (size_t s = 0; s < 4; s++) {
    ip.sched = (mpk_sched){kinds[s], 100};
    CHECK_OK(app_imb_run(&omp, &ip, &got));
    CHECK_NEAR(got, ref, 1e-12 * ref);
  }
  ip.n = 0;
  CHECK_RC(app_imb_run(&ser, &ip, &got), MPK_EINVAL);
  app_exec_close(&ser);
  app_exec_close(&omp);
}

static int twice(void *arg) {
  int *n = arg;
  return ++*n == 4 ? 9 : 0;
}

static void test_time_runs(void) {
  int calls = 0;
  double t[5];
  CHECK_EQ(app_time_runs(twice, &calls, 1, 2, t), 0);
  CHECK_EQ(calls, 3);
  CHECK(t[0] >= 0 && t[1] >= 0);
  CHECK_EQ(app_time_runs(twice, &calls, 0, 3, t), 9); /* 4th call fails */
  CHECK_EQ(calls, 4);
  CHECK(app_now() > 0);
}

int main(void) {
  check_watchdog(60);
  CHECK_RUN(test_simd_variants_bit_identical);
  CHECK_RUN(test_pi_kernels_accuracy);
  CHECK_RUN(test_pi_range_team_independent);
  CHECK_RUN(test_montecarlo_streams);
  CHECK_RUN(test_square_kernels);
  CHECK_RUN(test_imbalanced_ramp);
  CHECK_RUN(test_stats);
  CHECK_RUN(test_cli_parsers);
  CHECK_RUN(test_app_opts);
  CHECK_RUN(test_plan_modes);
  CHECK_RUN(test_json);
  CHECK_RUN(test_mode_table);
  CHECK_RUN(test_app_opts_mpi);
  CHECK_RUN(test_runners_serial_omp);
  CHECK_RUN(test_time_runs);
  return check_done();
}
