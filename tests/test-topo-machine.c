/* topo.machine: the public topology calls on the real machine - counts,
 * affinity (taskset-style restriction before the first topology load,
 * live cpu_count after it), plans, binding and the current CPU.
 *
 * The first tests fork children BEFORE this process ever loads the topology:
 * a child that restricts its affinity and then loads must see only its PUs.
 */
#include <dirent.h>
#include <pthread.h>
#include <sched.h>

#include "check.h"
#include "internal/topo.h"
#include "mpk/topo.h"

/* The calling thread's affinity as a cpu_set_t (machines here have < 1024
   CPUs; checked). */
static cpu_set_t my_affinity(void) {
  cpu_set_t s;
  CHECK_EQ(sched_getaffinity(0, sizeof s, &s), 0);
  return s;
}

static int last_cpu(const cpu_set_t *s) {
  int last = -1;
  for (int c = 0; c < CPU_SETSIZE; c++)
    if (CPU_ISSET(c, s))
      last = c;
  CHECK(last >= 0);
  return last;
}

static void pin_to(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  CHECK_EQ(sched_setaffinity(0, sizeof s, &s), 0);
}

/* Pin every thread of this process (as `taskset -a`): hwloc's process
   binding is the union of all threads' masks, and a sanitizer runtime may
   run a helper thread of its own. */
static void pin_process_to(int cpu) {
  cpu_set_t s;
  CPU_ZERO(&s);
  CPU_SET(cpu, &s);
  DIR *d = opendir("/proc/self/task");
  CHECK(d != NULL);
  struct dirent *e;
  int n = 0;
  while ((e = readdir(d)) != NULL) {
    if (e->d_name[0] == '.')
      continue;
    CHECK_EQ(sched_setaffinity((pid_t)atoi(e->d_name), sizeof s, &s), 0);
    n++;
  }
  closedir(d);
  CHECK(n >= 1);
}

/* A child pinned to one CPU before its first topology use (like a program
   started under `taskset -c X`). */
static int child_bound_before_load(void *arg) {
  (void)arg;
  cpu_set_t all = my_affinity();
  int x = last_cpu(&all);
  pin_process_to(x);
  char want[16], buf[64];
  snprintf(want, sizeof want, "%d", x);
  CHECK_EQ(mpk_cpu_count(), 1);
  CHECK_EQ(mpk_pu_count(), 1);
  CHECK_EQ(mpk_core_count(), 1);
  CHECK(mpk_numa_count() >= 1);
  CHECK_OK(mpk_topo_allowed(buf, sizeof buf));
  CHECK_STR(buf, want);
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_COMPACT, NULL, 0, buf, sizeof buf));
  CHECK_STR(buf, want);
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_SCATTER, NULL, 0, buf, sizeof buf));
  CHECK_STR(buf, want);
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, NULL, 0, buf, sizeof buf));
  CHECK_STR(buf, want);
  int over = 0;
  CHECK_OK(mpk_topo_plan_ex(2, 1, MPK_BIND_COMPACT, NULL, 1, buf, sizeof buf,
                            &over));
  CHECK_STR(buf, want);
  CHECK_EQ(over, 1);
  /* Logical indexes are in the restricted topology: core:0 is CPU x. */
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_COMPACT, "core:0", 0, buf, sizeof buf));
  CHECK_STR(buf, want);
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, "core:1", 0, buf, sizeof buf),
           MPK_EINVAL);
  /* The full machine's other CPUs are not in this process's topology. */
  if (CPU_COUNT(&all) > 1) {
    char other[16];
    snprintf(other, sizeof other, "%d", x == 0 ? 1 : 0);
    if (CPU_ISSET(x == 0 ? 1 : 0, &all)) {
      CHECK_RC(mpk_topo_plan(1, MPK_BIND_NONE, other, 0, buf, sizeof buf),
               MPK_EINVAL);
      CHECK_RC(mpk_bind_self(other), MPK_EINVAL);
    }
  }
  CHECK_OK(mpk_bind_self(NULL));
  CHECK_EQ(mpk_current_cpu(), x);
  return 0;
}

static void test_bound_before_load(void) {
  check_wait_ok(check_fork(child_bound_before_load, NULL), 20);
}

/* First use from several threads at once: one load, the same answers. */
#define NTHREADS 4
static void *first_use_thread(void *arg) {
  int *out = arg;
  char buf[64];
  out[0] = mpk_pu_count();
  out[1] = mpk_topo_plan(1, MPK_BIND_NONE, NULL, 0, buf, sizeof buf);
  hwloc_topology_t t = NULL;
  out[2] = mpk__topo_get(&t);
  out[3] = (int)((uintptr_t)t & 0x7fffffff);
  return NULL;
}

static int child_first_use_threads(void *arg) {
  (void)arg;
  pthread_t th[NTHREADS];
  int res[NTHREADS][4];
  for (int i = 0; i < NTHREADS; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, first_use_thread, res[i]), 0);
  for (int i = 0; i < NTHREADS; i++)
    CHECK_EQ(pthread_join(th[i], NULL), 0);
  cpu_set_t s = my_affinity();
  for (int i = 0; i < NTHREADS; i++) {
    CHECK_EQ(res[i][0], CPU_COUNT(&s));
    CHECK_EQ(res[i][1], MPK_OK);
    CHECK_EQ(res[i][2], MPK_OK);
    CHECK_EQ(res[i][3], res[0][3]); /* one topology */
  }
  return 0;
}

static void test_first_use_threads(void) {
  check_wait_ok(check_fork(child_first_use_threads, NULL), 20);
}

/* After the topology is loaded, cpu_count follows the live mask while the
   topology (and so the counts and plans) keeps the mask of the first use. */
static int child_live_cpu_count(void *arg) {
  int pus = *(int *)arg;
  cpu_set_t all = my_affinity();
  pin_to(last_cpu(&all));
  CHECK_EQ(mpk_cpu_count(), 1);
  CHECK_EQ(mpk_pu_count(), pus);
  return 0;
}

static void test_cpu_count_live(void) {
  int pus = mpk_pu_count();
  CHECK(pus >= 1);
  check_wait_ok(check_fork(child_live_cpu_count, &pus), 20);
  cpu_set_t s = my_affinity();
  CHECK_EQ(mpk_cpu_count(), CPU_COUNT(&s)); /* the parent is unaffected */
}

static void test_counts(void) {
  cpu_set_t s = my_affinity();
  int cpus = mpk_cpu_count();
  CHECK(cpus >= 1);
  CHECK_EQ(cpus, CPU_COUNT(&s));
  int pus = mpk_pu_count(), cores = mpk_core_count();
  CHECK_EQ(pus, cpus); /* loaded with this same mask */
  CHECK(cores >= 1 && cores <= pus);
  CHECK(mpk_numa_count() >= 1 && mpk_numa_count() <= pus);
  CHECK(mpk_package_count() >= 1 && mpk_package_count() <= cores);
  char buf[256];
  CHECK_OK(mpk_topo_allowed(buf, sizeof buf));
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  CHECK_EQ(hwloc_bitmap_list_sscanf(b, buf), 0);
  CHECK_EQ(hwloc_bitmap_weight(b), pus);
  for (int c = 0; c < CPU_SETSIZE; c++)
    CHECK_EQ(hwloc_bitmap_isset(b, (unsigned)c), CPU_ISSET(c, &s) ? 1 : 0);
  hwloc_bitmap_free(b);
  CHECK_RC(mpk_topo_allowed(NULL, 8), MPK_EINVAL);
  CHECK_RC(mpk_topo_allowed(buf, 0), MPK_EINVAL);
  CHECK_RC(mpk_topo_allowed(buf, 1), MPK_EMSGSIZE);
  const char *v = mpk_topo_hwloc_version();
  CHECK(v != NULL && v[0] >= '2' && v[0] <= '9');
  CHECK_STR(v, HWLOC_VERSION);
}

/* The public plan is the internal planner on the process topology, and a
   one-core-per-worker plan covers whole cores of the allowed set. */
static void test_public_plan(void) {
  hwloc_topology_t t;
  CHECK_OK(mpk__topo_get(&t));
  int cores = mpk_core_count(), pus = mpk_pu_count();
  static const mpk_bind_policy pols[] = {MPK_BIND_NONE, MPK_BIND_COMPACT,
                                         MPK_BIND_SCATTER};
  char a[256], b[256], allowed[256];
  CHECK_OK(mpk_topo_allowed(allowed, sizeof allowed));
  int nmax = pus + 2 < 18 ? pus + 2 : 18; /* bounded on big machines */
  for (int n = 1; n <= nmax; n++)
    for (int k = 1; k <= 2; k++)
      for (size_t p = 0; p < 3; p++)
        for (int i = 0; i < n; i++) {
          int oa = -1, ob = -1;
          CHECK_OK(mpk_topo_plan_ex(n, k, pols[p], NULL, i, a, sizeof a, &oa));
          CHECK_OK(
              mpk__topo_plan_on(t, n, k, pols[p], NULL, i, b, sizeof b, &ob));
          CHECK_STR(a, b);
          CHECK_EQ(oa, ob);
          CHECK_EQ(oa, (long long)n * k > pus);
          if (k == 1) {
            CHECK_OK(mpk_topo_plan(n, pols[p], NULL, i, b, sizeof b));
            CHECK_STR(a, b);
          }
        }
  for (int i = 0; i < cores; i++) {
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    CHECK_OK(mpk_topo_plan(cores, MPK_BIND_COMPACT, NULL, i, a, sizeof a));
    CHECK_EQ(hwloc_bitmap_list_sscanf(set, a), 0);
    hwloc_obj_t core = hwloc_get_obj_by_type(t, HWLOC_OBJ_CORE, (unsigned)i);
    if (core != NULL)
      CHECK(hwloc_bitmap_isequal(set, core->cpuset));
    hwloc_bitmap_free(set);
  }
  int over = 0;
  CHECK_OK(mpk_topo_plan_ex(pus + 1, 1, MPK_BIND_SCATTER, NULL, pus, a,
                            sizeof a, &over));
  CHECK_EQ(over, 1);
  CHECK_OK(mpk_topo_plan_ex(pus, 1, MPK_BIND_SCATTER, NULL, pus - 1, a,
                            sizeof a, &over));
  CHECK_EQ(over, 0);
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, NULL, 0, a, sizeof a));
  CHECK_STR(a, allowed);
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, allowed, 0, a, sizeof a));
  CHECK_STR(a, allowed);
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, "pu:0", 0, a, sizeof a));
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, "0-1048575", 0, b, sizeof b));
  CHECK_STR(b, allowed);
  /* errors */
  CHECK_RC(mpk_topo_plan(0, MPK_BIND_COMPACT, NULL, 0, a, sizeof a),
           MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(2, MPK_BIND_COMPACT, NULL, 2, a, sizeof a),
           MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(2, MPK_BIND_COMPACT, NULL, -1, a, sizeof a),
           MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(1, (mpk_bind_policy)3, NULL, 0, a, sizeof a),
           MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, "", 0, a, sizeof a), MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, "x", 0, a, sizeof a), MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, "1048575", 0, a, sizeof a),
           MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, NULL, 0, NULL, 8), MPK_EINVAL);
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, NULL, 0, a, 0), MPK_EINVAL);
  strcpy(a, "keep");
  CHECK_RC(mpk_topo_plan(1, MPK_BIND_COMPACT, NULL, 0, a, 1), MPK_EMSGSIZE);
  CHECK_STR(a, "keep");
  CHECK_RC(mpk_topo_plan_ex(1, 0, MPK_BIND_COMPACT, NULL, 0, a, sizeof a, NULL),
           MPK_EINVAL);
}

static int in_string_set(const char *list, int cpu) {
  hwloc_bitmap_t b = hwloc_bitmap_alloc();
  CHECK_EQ(hwloc_bitmap_list_sscanf(b, list), 0);
  int r = hwloc_bitmap_isset(b, (unsigned)cpu);
  hwloc_bitmap_free(b);
  return r;
}

/* bind_self on each allowed PU, then current_cpu is that PU and the thread's
   mask is exactly it; NULL unbinds; errors leave the binding alone. Runs in a
   child so the test process keeps its mask. */
static int child_bind_self(void *arg) {
  (void)arg;
  cpu_set_t all = my_affinity();
  for (int c = 0; c < CPU_SETSIZE; c++) {
    if (!CPU_ISSET(c, &all))
      continue;
    char list[16];
    snprintf(list, sizeof list, "%d", c);
    CHECK_OK(mpk_bind_self(list));
    CHECK_EQ(mpk_current_cpu(), c);
    cpu_set_t now = my_affinity();
    CHECK_EQ(CPU_COUNT(&now), 1);
    CHECK(CPU_ISSET(c, &now));
    /* errors: the binding stays */
    CHECK_RC(mpk_bind_self(""), MPK_EINVAL);
    CHECK_RC(mpk_bind_self("zz"), MPK_EINVAL);
    CHECK_RC(mpk_bind_self("0x0"), MPK_EINVAL);
    CHECK_RC(mpk_bind_self("1048575"), MPK_EINVAL); /* not an allowed PU */
    CHECK_RC(mpk_bind_self("core:100000"), MPK_EINVAL);
    now = my_affinity();
    CHECK_EQ(CPU_COUNT(&now), 1);
    CHECK(CPU_ISSET(c, &now));
  }
  /* a plan, then bind to it: the thread runs inside it */
  char buf[256];
  int cores = mpk_core_count();
  for (int i = 0; i < cores; i++) {
    CHECK_OK(mpk_topo_plan(cores, MPK_BIND_SCATTER, NULL, i, buf, sizeof buf));
    CHECK_OK(mpk_bind_self(buf));
    CHECK(in_string_set(buf, mpk_current_cpu()));
  }
  CHECK_OK(mpk_bind_self("core:0"));
  CHECK_OK(mpk_topo_plan(1, MPK_BIND_NONE, "core:0", 0, buf, sizeof buf));
  CHECK(in_string_set(buf, mpk_current_cpu()));
  CHECK_OK(mpk_bind_self(NULL));
  cpu_set_t now = my_affinity();
  CHECK(CPU_EQUAL(&now, &all));
  return 0;
}

static void test_bind_self(void) {
  check_wait_ok(check_fork(child_bind_self, NULL), 20);
}

/* Binding is per thread: a thread binds itself, the main thread's mask stays,
   and a thread created by the bound thread inherits its mask. */
typedef struct {
  int cpu;
  int rc, cur;
  cpu_set_t inherited;
} bind_arg;

static void *inherit_thread(void *arg) {
  bind_arg *a = arg;
  CHECK_EQ(sched_getaffinity(0, sizeof a->inherited, &a->inherited), 0);
  return NULL;
}

static void *bind_thread(void *arg) {
  bind_arg *a = arg;
  char list[16];
  snprintf(list, sizeof list, "%d", a->cpu);
  a->rc = mpk_bind_self(list);
  a->cur = mpk_current_cpu();
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, inherit_thread, a), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  return NULL;
}

static void test_bind_is_per_thread(void) {
  cpu_set_t before = my_affinity();
  bind_arg a = {.cpu = last_cpu(&before), .rc = -1, .cur = -1};
  pthread_t t;
  CHECK_EQ(pthread_create(&t, NULL, bind_thread, &a), 0);
  CHECK_EQ(pthread_join(t, NULL), 0);
  CHECK_OK(a.rc);
  CHECK_EQ(a.cur, a.cpu);
  CHECK_EQ(CPU_COUNT(&a.inherited), 1);
  CHECK(CPU_ISSET(a.cpu, &a.inherited));
  cpu_set_t after = my_affinity();
  CHECK(CPU_EQUAL(&before, &after));
}

static void test_current_cpu(void) {
  cpu_set_t s = my_affinity();
  for (int j = 0; j < 100; j++) {
    int c = mpk_current_cpu();
    CHECK(c >= 0 && c < CPU_SETSIZE);
    CHECK(CPU_ISSET(c, &s));
  }
}

/* Plans from several threads at once (the topology is only read; lists make
   private restricted copies). */
typedef struct {
  const char *list;
  mpk_bind_policy p;
  char want[64];
  int bad;
} conc_arg;

static void *conc_thread(void *arg) {
  conc_arg *a = arg;
  char buf[64];
  int n = mpk_core_count();
  for (int r = 0; r < 200; r++) {
    int over = -1;
    if (mpk_topo_plan_ex(n, 1, a->p, a->list, n - 1, buf, sizeof buf, &over) !=
            MPK_OK ||
        strcmp(buf, a->want) != 0)
      a->bad++;
  }
  return NULL;
}

static void test_concurrent_plans(void) {
  conc_arg args[NTHREADS] = {{"core:0", MPK_BIND_SCATTER, "", 0},
                             {NULL, MPK_BIND_SCATTER, "", 0},
                             {"pu:0", MPK_BIND_COMPACT, "", 0},
                             {NULL, MPK_BIND_COMPACT, "", 0}};
  int n = mpk_core_count();
  for (int i = 0; i < NTHREADS; i++)
    CHECK_OK(mpk_topo_plan(n, args[i].p, args[i].list, n - 1, args[i].want,
                           sizeof args[i].want));
  pthread_t th[NTHREADS];
  for (int i = 0; i < NTHREADS; i++)
    CHECK_EQ(pthread_create(&th[i], NULL, conc_thread, &args[i]), 0);
  for (int i = 0; i < NTHREADS; i++) {
    CHECK_EQ(pthread_join(th[i], NULL), 0);
    CHECK_EQ(args[i].bad, 0);
  }
}

int main(void) {
  check_watchdog(60);
  /* These two must run before this process loads the topology. */
  CHECK_RUN(test_bound_before_load);
  CHECK_RUN(test_first_use_threads);
  CHECK_RUN(test_cpu_count_live);
  CHECK_RUN(test_counts);
  CHECK_RUN(test_public_plan);
  CHECK_RUN(test_bind_self);
  CHECK_RUN(test_bind_is_per_thread);
  CHECK_RUN(test_current_cpu);
  CHECK_RUN(test_concurrent_plans);
  return check_done();
}
