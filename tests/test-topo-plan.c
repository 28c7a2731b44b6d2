/* topo.plan: the planner on hwloc synthetic topologies - exact cpusets for
 * compact / scatter / none, explicit lists, hex masks, logical "core:"-style
 * lists, per_worker > 1, oversubscription, and every error code.
 *
 * Machines (OS PU index = logical index in synthetic topologies):
 *   A "pack:2 numa:2 core:4 pu:2": core c = PUs 2c,2c+1; NUMA node j = cores
 *     4j..4j+3 = PUs 8j..8j+7; package p = PUs 16p..16p+15. 16 cores, 32 PUs.
 *   B "pack:1 core:2 pu:1": like this 2-core CI machine.
 *   C "pack:2 core:8 pu:2": package p = cores 8p..8p+7. 16 cores, 32 PUs.
 *   D "pu:1": a single PU and no Core objects at all.
 *   E "pack:1 core:1 pu:1": a single PU inside a core.
 * The scatter expectations follow hwloc_distrib (cross-checked by hand and
 * with `hwloc-distrib -i ... --single N`).
 */
#include <hwloc.h>

#include "check.h"
#include "internal/topo.h"

enum { A, B, C, D, E, NTOPO };
static const char *const synth_desc[NTOPO] = {
    "pack:2 numa:2 core:4 pu:2", "pack:1 core:2 pu:1", "pack:2 core:8 pu:2",
    "pu:1", "pack:1 core:1 pu:1"};
static hwloc_topology_t topo[NTOPO];

static hwloc_topology_t synth(const char *desc) {
  hwloc_topology_t t;
  CHECK_EQ(hwloc_topology_init(&t), 0);
  CHECK_EQ(hwloc_topology_set_synthetic(t, desc), 0);
  CHECK_EQ(hwloc_topology_load(t), 0);
  return t;
}

typedef struct {
  int topo;
  int n, k;
  mpk_bind_policy p;
  const char *list;
  int i;
  const char *want;
  int over;
} plan_case;

#define CO MPK_BIND_COMPACT
#define SC MPK_BIND_SCATTER
#define NO MPK_BIND_NONE

static const plan_case cases[] = {
    /* A, one core per worker (n <= 16 cores) */
    {A, 1, 1, CO, NULL, 0, "0-1", 0},
    {A, 4, 1, CO, NULL, 0, "0-1", 0},
    {A, 4, 1, CO, NULL, 3, "6-7", 0},
    {A, 16, 1, CO, NULL, 15, "30-31", 0},
    {A, 1, 1, SC, NULL, 0, "0-1", 0},
    {A, 2, 1, SC, NULL, 0, "0-1", 0},
    {A, 2, 1, SC, NULL, 1, "16-17", 0}, /* packages first */
    {A, 3, 1, SC, NULL, 0, "0-1", 0},
    {A, 3, 1, SC, NULL, 1, "8-9", 0}, /* other NUMA node of package 0 */
    {A, 3, 1, SC, NULL, 2, "16-17", 0},
    {A, 4, 1, SC, NULL, 0, "0-1", 0},
    {A, 4, 1, SC, NULL, 1, "8-9", 0},
    {A, 4, 1, SC, NULL, 2, "16-17", 0},
    {A, 4, 1, SC, NULL, 3, "24-25", 0},
    {A, 16, 1, SC, NULL, 5, "10-11", 0},
    /* A, one PU per worker (16 < n <= 32) */
    {A, 17, 1, CO, NULL, 16, "16", 0},
    {A, 17, 1, CO, NULL, 1, "1", 0}, /* hyperthread sibling of worker 0 */
    {A, 17, 1, SC, NULL, 0, "0", 0},
    {A, 17, 1, SC, NULL, 1, "1", 0},
    {A, 17, 1, SC, NULL, 2, "2", 0},
    {A, 17, 1, SC, NULL, 3, "4", 0},
    {A, 17, 1, SC, NULL, 9, "16", 0},
    {A, 17, 1, SC, NULL, 16, "30", 0},
    {A, 32, 1, CO, NULL, 31, "31", 0},
    {A, 32, 1, SC, NULL, 31, "31", 0},
    /* A, oversubscribed: wrap around the 32-worker plan */
    {A, 33, 1, CO, NULL, 32, "0", 1},
    {A, 33, 1, CO, NULL, 31, "31", 1},
    {A, 33, 1, SC, NULL, 32, "0", 1},
    {A, 100, 1, CO, NULL, 77, "13", 1},
    /* A, per_worker > 1 */
    {A, 2, 2, CO, NULL, 0, "0-3", 0},
    {A, 2, 2, CO, NULL, 1, "4-7", 0},
    {A, 2, 2, SC, NULL, 0, "0-3", 0},
    {A, 2, 2, SC, NULL, 1, "16-19", 0},
    {A, 4, 4, SC, NULL, 2, "16-23", 0}, /* one NUMA node each */
    {A, 4, 4, CO, NULL, 3, "24-31", 0},
    {A, 3, 4, SC, NULL, 1, "8-15", 0},
    {A, 3, 4, SC, NULL, 2, "16-23", 0},
    /* shares of 2 cores < k = 3: spread 15 single cores, group by 3 */
    {A, 5, 3, SC, NULL, 0, "0-5", 0},
    {A, 5, 3, SC, NULL, 2, "12-17", 0},
    {A, 5, 3, SC, NULL, 4, "24-29", 0},
    /* 20 > 16 cores: units are PUs */
    {A, 10, 2, CO, NULL, 9, "18-19", 0},
    {A, 10, 2, SC, NULL, 2, "4-5", 0},
    {A, 10, 2, SC, NULL, 3, "8-9", 0},
    {A, 10, 2, SC, NULL, 9, "28-29", 0},
    /* over: 48 > 32, 2 workers of 16 fit, worker 2 wraps to 0 */
    {A, 3, 16, CO, NULL, 2, "0-15", 1},
    {A, 3, 16, CO, NULL, 1, "16-31", 1},
    {A, 1, 40, CO, NULL, 0, "0-31", 1}, /* k > PUs: the whole domain */
    {A, 1, 40, SC, NULL, 0, "0-31", 1},
    /* A, none */
    {A, 3, 1, NO, NULL, 2, "0-31", 0},
    {A, 33, 1, NO, NULL, 0, "0-31", 1},
    {A, 3, 11, NO, NULL, 0, "0-31", 1},
    /* A, explicit lists */
    {A, 2, 1, CO, "0-3,8", 0, "0-1", 0},
    {A, 2, 1, CO, "0-3,8", 1, "2-3", 0},
    {A, 3, 1, CO, "0-3,8", 2, "8", 0}, /* core 4 only has PU 8 in the list */
    {A, 1, 1, NO, "0-3,8", 0, "0-3,8", 0},
    {A, 2, 1, CO, "0x0f", 1, "2-3", 0},
    {A, 4, 1, CO, "0x0f", 3, "3", 0},
    {A, 5, 1, CO, "0x0f", 4, "0", 1},
    {A, 1, 1, NO, "0X30", 0, "4-5", 0},
    {A, 2, 1, SC, "core:0-1,4-5", 0, "0-1", 0},
    {A, 2, 1, SC, "core:0-1,4-5", 1, "8-9", 0},
    {A, 2, 1, CO, "core:0-1,4-5", 1, "2-3", 0},
    {A, 2, 1, SC, "numa:1", 0, "8-9", 0},
    {A, 2, 1, SC, "numa:1", 1, "12-13", 0},
    {A, 1, 1, CO, "pack:1", 0, "16-17", 0},
    {A, 1, 1, NO, "pack:1", 0, "16-31", 0},
    {A, 1, 1, NO, "socket:0-1", 0, "0-31", 0},
    {A, 1, 1, NO, "package:0", 0, "0-15", 0},
    {A, 1, 1, NO, "node:3", 0, "24-31", 0},
    {A, 1, 1, NO, "pu:3,5", 0, "3,5", 0},
    {A, 2, 1, CO, "pu:3,5", 1, "5", 0},
    {A, 1, 1, CO, "core:15", 0, "30-31", 0},
    {A, 1, 1, CO, "Core:2", 0, "4-5", 0},
    {A, 1, 1, CO, "0-100", 0, "0-1", 0}, /* PUs outside are ignored */
    {A, 1, 1, NO, "0-100", 0, "0-31", 0},
    {A, 2, 2, SC, "numa:0,2", 1, "16-19", 0},
    /* B: 1 package, 2 cores, 1 PU each */
    {B, 1, 1, CO, NULL, 0, "0", 0},
    {B, 2, 1, CO, NULL, 1, "1", 0},
    {B, 2, 1, SC, NULL, 0, "0", 0},
    {B, 2, 1, SC, NULL, 1, "1", 0},
    {B, 3, 1, CO, NULL, 2, "0", 1},
    {B, 3, 1, SC, NULL, 2, "0", 1},
    {B, 1, 2, CO, NULL, 0, "0-1", 0},
    {B, 2, 2, SC, NULL, 1, "0-1", 1},
    {B, 1, 1, NO, NULL, 0, "0-1", 0},
    {B, 2, 1, CO, "1", 1, "1", 1},
    /* C: 2 packages of 8 cores, no NUMA split */
    {C, 2, 1, SC, NULL, 1, "16-17", 0},
    {C, 3, 1, SC, NULL, 0, "0-1", 0},
    {C, 3, 1, SC, NULL, 1, "8-9", 0},
    {C, 3, 1, SC, NULL, 2, "16-17", 0},
    {C, 3, 2, SC, NULL, 0, "0-3", 0},
    {C, 3, 2, SC, NULL, 1, "8-11", 0},
    {C, 3, 2, SC, NULL, 2, "16-19", 0},
    {C, 3, 2, CO, NULL, 2, "8-11", 0},
    {C, 8, 2, CO, NULL, 7, "28-31", 0},
    {C, 20, 1, CO, NULL, 19, "19", 0},
    {C, 20, 1, SC, NULL, 5, "8", 0},
    {C, 20, 1, SC, NULL, 6, "9", 0},
    {C, 20, 1, SC, NULL, 19, "30", 0},
    {C, 64, 1, SC, NULL, 63, "31", 1},
    /* D: one PU, no cores */
    {D, 1, 1, CO, NULL, 0, "0", 0},
    {D, 1, 1, SC, NULL, 0, "0", 0},
    {D, 2, 1, CO, NULL, 1, "0", 1},
    {D, 2, 1, SC, NULL, 1, "0", 1},
    {D, 1, 2, SC, NULL, 0, "0", 1},
    {D, 1, 1, NO, "pu:0", 0, "0", 0},
    {D, 1, 1, CO, "numa:0", 0, "0", 0},
    /* E: one PU in one core */
    {E, 1, 1, CO, NULL, 0, "0", 0},
    {E, 4, 1, SC, NULL, 3, "0", 1},
    {E, 1, 1, SC, "core:0", 0, "0", 0},
};

static void test_plan_table(void) {
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    const plan_case *pc = &cases[c];
    char buf[64] = "";
    int over = -1;
    int rc = mpk__topo_plan_on(topo[pc->topo], pc->n, pc->k, pc->p, pc->list,
                               pc->i, buf, sizeof buf, &over);
    CHECK_MSG(rc == MPK_OK && strcmp(buf, pc->want) == 0 && over == pc->over,
              "case %zu (%s, n=%d k=%d p=%d list=%s i=%d): rc %s, got \"%s\" "
              "over %d, want \"%s\" over %d",
              c, synth_desc[pc->topo], pc->n, pc->k, (int)pc->p,
              pc->list ? pc->list : "NULL", pc->i, mpk_err_name(rc), buf, over,
              pc->want, pc->over);
  }
}

/* Whole plans: every worker of a non-oversubscribed COMPACT / SCATTER plan
   gets whole cores, workers are disjoint, and under SCATTER the packages'
   worker counts differ by at most one. */
static void check_plan_props(hwloc_topology_t t, int n, int k,
                             mpk_bind_policy p) {
  hwloc_bitmap_t set = hwloc_bitmap_alloc(), seen = hwloc_bitmap_alloc();
  int npack = hwloc_get_nbobjs_by_type(t, HWLOC_OBJ_PACKAGE);
  int per_pack[8] = {0};
  CHECK(set && seen && npack >= 1 && npack <= 8);
  for (int i = 0; i < n; i++) {
    int over = -1;
    CHECK_OK(mpk__topo_plan_set(t, n, k, p, NULL, i, set, &over));
    CHECK_EQ(over, 0);
    CHECK_MSG(!hwloc_bitmap_intersects(set, seen), "n=%d k=%d: overlap at %d",
              n, k, i);
    hwloc_bitmap_or(seen, seen, set);
    CHECK_EQ(hwloc_get_nbobjs_inside_cpuset_by_type(t, set, HWLOC_OBJ_CORE), k);
    hwloc_obj_t core = NULL;
    while ((core = hwloc_get_next_obj_inside_cpuset_by_type(
                t, set, HWLOC_OBJ_CORE, core)) != NULL)
      CHECK(hwloc_bitmap_isincluded(core->cpuset, set));
    hwloc_obj_t pack = hwloc_get_ancestor_obj_by_type(
        t, HWLOC_OBJ_PACKAGE,
        hwloc_get_next_obj_inside_cpuset_by_type(t, set, HWLOC_OBJ_PU, NULL));
    CHECK(pack != NULL);
    per_pack[pack->logical_index]++;
  }
  if (p == MPK_BIND_SCATTER && k == 1)
    for (int a = 0; a < npack; a++)
      for (int b = 0; b < npack; b++)
        CHECK_MSG(per_pack[a] - per_pack[b] <= 1, "n=%d: packages %d/%d", n,
                  per_pack[a], per_pack[b]);
  hwloc_bitmap_free(set);
  hwloc_bitmap_free(seen);
}

static void test_plan_properties(void) {
  for (int n = 1; n <= 16; n++) {
    check_plan_props(topo[A], n, 1, MPK_BIND_COMPACT);
    check_plan_props(topo[A], n, 1, MPK_BIND_SCATTER);
    check_plan_props(topo[C], n, 1, MPK_BIND_SCATTER);
  }
  for (int k = 1; k <= 8; k++)
    for (int n = 1; n * k <= 16; n++) {
      check_plan_props(topo[A], n, k, MPK_BIND_COMPACT);
      check_plan_props(topo[A], n, k, MPK_BIND_SCATTER);
      check_plan_props(topo[C], n, k, MPK_BIND_SCATTER);
    }
}

/* Oversubscribed plans wrap: worker i gets what worker i mod m gets. */
static void test_plan_wraps(void) {
  char a[64], b[64];
  static const int ns[] = {33, 50, 64, 70};
  for (size_t q = 0; q < sizeof ns / sizeof ns[0]; q++)
    for (int n = ns[q], i = 0; i < n; i++) {
      int over = 0;
      CHECK_OK(mpk__topo_plan_on(topo[A], n, 1, MPK_BIND_SCATTER, NULL, i, a,
                                 sizeof a, &over));
      CHECK_EQ(over, 1);
      CHECK_OK(mpk__topo_plan_on(topo[A], 32, 1, MPK_BIND_SCATTER, NULL, i % 32,
                                 b, sizeof b, &over));
      CHECK_EQ(over, 0);
      CHECK_STR(a, b);
    }
}

static void test_parse(void) {
  static const struct {
    const char *list, *want;
  } ok[] = {
      {"0-3,8", "0-3,8"},
      {"5", "5"},
      {"0,0,1", "0-1"},
      {"40-41", "40-41"},
      {"0x100", "8"},
      {"0X3", "0-1"},
      {"0x00f0", "4-7"},
      {"0xF", "0-3"},
      {"core:0-1,4", "0-3,8-9"},
      {"CORE:0", "0-1"},
      {"pu:31", "31"},
      {"package:1", "16-31"},
      {"socket:0", "0-15"},
      {"node:0-1", "0-15"},
      {"numa:3", "24-31"},
      {"pack:0-1", "0-31"},
      {"1048575", "1048575"},
  };
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  char s[64];
  for (size_t j = 0; j < sizeof ok / sizeof ok[0]; j++) {
    CHECK_OK(mpk__topo_parse(topo[A], ok[j].list, b));
    CHECK_OK(mpk__topo_list_string(b, s, sizeof s));
    CHECK_MSG(strcmp(s, ok[j].want) == 0, "%s -> %s, want %s", ok[j].list, s,
              ok[j].want);
  }
  static const char *const bad[] = {
      "",        "abc",     "1-",          "-1",       "3-1",     "1,,2",
      ",1",      "1,",      " 1",          "1 ",       "1a",      "1-2-3",
      "0x",      "0xzz",    "0x1,0",       "0x 1",     "core:",   "core:-1",
      "core:16", "pu:32",   "numa:4",      "pack:2",   "bogus:1", ":1",
      "core",    "1048576", "99999999999", "core:1:2", "core:0 ", "0-1048576",
  };
  hwloc_bitmap_only(b, 3);
  for (size_t j = 0; j < sizeof bad / sizeof bad[0]; j++) {
    CHECK_MSG(mpk__topo_parse(topo[A], bad[j], b) == MPK_EINVAL,
              "\"%s\" accepted", bad[j]);
    CHECK_MSG(hwloc_bitmap_first(b) == 3 && hwloc_bitmap_weight(b) == 1,
              "\"%s\" changed the output", bad[j]);
  }
  CHECK_RC(mpk__topo_parse(topo[A], NULL, b), MPK_EINVAL);
  CHECK_RC(mpk__topo_parse(topo[D], "core:0", b), MPK_EINVAL); /* no cores */
  CHECK_RC(mpk__topo_parse(topo[D], "pack:0", b), MPK_EINVAL);
  hwloc_bitmap_free(b);
}

static void expect_einval(int t, int n, int k, mpk_bind_policy p,
                          const char *list, int i) {
  char buf[16] = "keep";
  int over = 42;
  int rc = mpk__topo_plan_on(topo[t], n, k, p, list, i, buf, sizeof buf, &over);
  CHECK_MSG(rc == MPK_EINVAL, "n=%d k=%d p=%d list=%s i=%d: %s", n, k, (int)p,
            list ? list : "NULL", i, mpk_err_name(rc));
  CHECK_STR(buf, "keep");
  CHECK_EQ(over, 42);
}

static void test_plan_errors(void) {
  expect_einval(A, 0, 1, CO, NULL, 0);
  expect_einval(A, -1, 1, CO, NULL, 0);
  expect_einval(A, 4, 1, CO, NULL, -1);
  expect_einval(A, 4, 1, CO, NULL, 4);
  expect_einval(A, 4, 1, NO, NULL, 4);
  expect_einval(A, 4, 0, CO, NULL, 0);
  expect_einval(A, 4, -2, SC, NULL, 0);
  expect_einval(A, 4, 1, (mpk_bind_policy)7, NULL, 0);
  expect_einval(A, 4, 1, (mpk_bind_policy)-1, NULL, 0);
  expect_einval(A, 1, 1, CO, "", 0);
  expect_einval(A, 1, 1, CO, "zero", 0);
  expect_einval(A, 1, 1, CO, "64-70", 0); /* names no PU of A */
  expect_einval(A, 1, 1, NO, "0x0", 0);   /* empty mask */
  expect_einval(A, 1, 1, SC, "core:16", 0);
  expect_einval(B, 1, 1, CO, "2", 0);
  expect_einval(D, 1, 1, CO, "core:0", 0);

  /* Buffer: NULL / 0 is MPK_EINVAL, too small is MPK_EMSGSIZE; the buffer
     and the flag are unchanged on either. "0-31" needs 5 bytes. */
  int over = 42;
  char buf[8] = "keep";
  CHECK_RC(mpk__topo_plan_on(topo[A], 1, 1, NO, NULL, 0, NULL, 8, &over),
           MPK_EINVAL);
  CHECK_RC(mpk__topo_plan_on(topo[A], 1, 1, NO, NULL, 0, buf, 0, &over),
           MPK_EINVAL);
  CHECK_RC(mpk__topo_plan_on(topo[A], 1, 1, NO, NULL, 0, buf, 4, &over),
           MPK_EMSGSIZE);
  CHECK_STR(buf, "keep");
  CHECK_EQ(over, 42);
  CHECK_OK(mpk__topo_plan_on(topo[A], 1, 1, NO, NULL, 0, buf, 5, &over));
  CHECK_STR(buf, "0-31");
  CHECK_EQ(over, 0);
  /* A NULL flag is fine. */
  CHECK_OK(
      mpk__topo_plan_on(topo[A], 1, 1, CO, NULL, 0, buf, sizeof buf, NULL));
  CHECK_STR(buf, "0-1");
  /* A NULL topology or output bitmap. */
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  CHECK_RC(mpk__topo_plan_set(NULL, 1, 1, CO, NULL, 0, b, NULL), MPK_EINVAL);
  CHECK_RC(mpk__topo_plan_set(topo[A], 1, 1, CO, NULL, 0, NULL, NULL),
           MPK_EINVAL);
  CHECK_RC(mpk__topo_list_string(b, NULL, 4), MPK_EINVAL);
  hwloc_bitmap_free(b);
}

/* Large n: the plan stays bounded (n * k beyond INT_MAX does not overflow). */
static void test_plan_huge(void) {
  char buf[64];
  int over = 0;
  CHECK_OK(mpk__topo_plan_on(topo[A], 2000000000, 2000000000, CO, NULL,
                             1999999999, buf, sizeof buf, &over));
  CHECK_STR(buf, "0-31");
  CHECK_EQ(over, 1);
  CHECK_OK(mpk__topo_plan_on(topo[A], 2000000000, 1, SC, NULL, 1999999999, buf,
                             sizeof buf, &over));
  CHECK_EQ(over, 1);
  /* 1999999999 mod 32 = 31 */
  CHECK_STR(buf, "31");
}

int main(void) {
  check_watchdog(60);
  for (int t = 0; t < NTOPO; t++)
    topo[t] = synth(synth_desc[t]);
  CHECK_RUN(test_plan_table);
  CHECK_RUN(test_plan_properties);
  CHECK_RUN(test_plan_wraps);
  CHECK_RUN(test_parse);
  CHECK_RUN(test_plan_errors);
  CHECK_RUN(test_plan_huge);
  for (int t = 0; t < NTOPO; t++)
    hwloc_topology_destroy(topo[t]);
  return check_done();
}
