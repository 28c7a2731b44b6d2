/* topo.c - the process's hwloc topology, counts, worker plans and binding.
 *
 * Layers: the process topology (loaded once) -> list parsing -> the planner
 * (pure: a topology and arguments in, a bitmap out; tested on synthetic
 * topologies) -> the public calls. The plan's rules are in mpk/topo.h.
 */
#include "internal/topo.h"

#include <errno.h>
#include <limits.h>
#include <omp.h>
#include <stdbool.h>
#include <pthread.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "mpk/error.h"

/* ------------------------------------------------------------------------ */
/* The process's topology                                                    */

static pthread_once_t topo_once = PTHREAD_ONCE_INIT;
/* Written once inside pthread_once, read-only afterwards: pthread_once
   orders the writes before every return from it, so no atomics are needed. */
static hwloc_topology_t topo_proc;
static int topo_rc = MPK_EIO;

static int errno_code(int e) {
  switch (e) {
  case ENOMEM: return MPK_ENOMEM;
  case EINVAL: return MPK_EINVAL;
  case EPERM: return MPK_EPERM;
  case ENOSYS:
  case EXDEV: /* hwloc: this binding cannot be enforced here */
    return MPK_ENOSYS;
  default: return MPK_EIO;
  }
}

/* The set the process's plans cover: its CPU binding (the union of its
   threads' bindings), widened to OpenMP's places when OpenMP binds threads
   (OMP_PROC_BIND / OMP_PLACES). GNU libgomp then pins the initial thread to
   its first place before main() runs, which would otherwise shrink every
   plan to that one place (a hybrid worker's whole team on one PU); the
   places were computed from the affinity the process had before, so their
   union is what the process was given. false when the binding cannot be
   read (then the topology is left whole). */
static bool domain_of(hwloc_topology_t t, hwloc_bitmap_t dom) {
  if (hwloc_get_cpubind(t, dom, HWLOC_CPUBIND_PROCESS) != 0)
    return false;
  if (omp_get_proc_bind() == omp_proc_bind_false)
    return true;
  int places = omp_get_num_places();
  for (int p = 0; p < places; p++) {
    int n = omp_get_place_num_procs(p);
    int *ids = n > 0 ? malloc((size_t)n * sizeof *ids) : NULL;
    if (ids == NULL)
      continue;
    omp_get_place_proc_ids(p, ids);
    for (int i = 0; i < n; i++)
      if (ids[i] >= 0)
        hwloc_bitmap_set(dom, (unsigned)ids[i]);
    free(ids);
  }
  return true;
}

static void topo_load(void) {
  hwloc_topology_t t;
  unsigned long flags = HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM;
#if HWLOC_API_VERSION >= 0x00020500
  /* Never rebind this thread while discovering (a worker may be pinned). */
  flags |= HWLOC_TOPOLOGY_FLAG_DONT_CHANGE_BINDING;
#endif
  if (hwloc_topology_init(&t) != 0) {
    topo_rc = errno == ENOMEM ? MPK_ENOMEM : MPK_EIO;
    return;
  }
  if (hwloc_topology_set_flags(t, flags) != 0 || hwloc_topology_load(t) != 0) {
    int e = errno;
    hwloc_topology_destroy(t);
    topo_rc = e == ENOMEM ? MPK_ENOMEM : MPK_EIO;
    return;
  }
  hwloc_bitmap_t dom = hwloc_bitmap_alloc();
  if (dom == NULL) {
    hwloc_topology_destroy(t);
    topo_rc = MPK_ENOMEM;
    return;
  }
  if (domain_of(t, dom) &&
      hwloc_bitmap_and(dom, dom, hwloc_topology_get_topology_cpuset(t)) == 0 &&
      !hwloc_bitmap_iszero(dom) &&
      !hwloc_bitmap_isequal(dom, hwloc_topology_get_topology_cpuset(t)) &&
      hwloc_topology_restrict(t, dom, HWLOC_RESTRICT_FLAG_REMOVE_CPULESS) !=
          0) {
    int e = errno;
    hwloc_bitmap_free(dom);
    hwloc_topology_destroy(t);
    topo_rc = e == ENOMEM ? MPK_ENOMEM : MPK_EIO;
    return;
  }
  hwloc_bitmap_free(dom);
  topo_proc = t;
  topo_rc = MPK_OK;
}

int mpk__topo_get(hwloc_topology_t *out) {
  if (out == NULL)
    return MPK_EINVAL;
  if (pthread_once(&topo_once, topo_load) != 0)
    return MPK_EIO;
  if (topo_rc == MPK_OK)
    *out = topo_proc;
  return topo_rc;
}

/* The PUs a plan may use on t: its PUs that the OS allows. Returns MPK_OK
   or MPK_ENOMEM. */
static int allowed_set(hwloc_topology_t t, hwloc_bitmap_t out) {
  if (hwloc_bitmap_and(out, hwloc_topology_get_topology_cpuset(t),
                       hwloc_topology_get_allowed_cpuset(t)) != 0)
    return MPK_ENOMEM;
  return MPK_OK;
}

/* ------------------------------------------------------------------------ */
/* List parsing                                                              */

/* One decimal number <= max at *s; advances *s. 0 on success. */
static int parse_num(const char **s, unsigned max, unsigned *out) {
  const char *p = *s;
  unsigned long v = 0;
  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (unsigned long)(*p - '0');
    if (v > max)
      return -1;
    p++;
  }
  *s = p;
  *out = (unsigned)v;
  return 0;
}

/* Strict grammar check before hwloc parses (hwloc's parser accepts "1a",
   "3-1" and overflowing numbers): item(,item)*, item = N or N-M, N <= M <=
   max, nothing else. */
static int list_ok(const char *s, unsigned max) {
  for (;;) {
    unsigned lo, hi;
    if (parse_num(&s, max, &lo) != 0)
      return 0;
    if (*s == '-') {
      s++;
      if (parse_num(&s, max, &hi) != 0 || hi < lo)
        return 0;
    }
    if (*s == '\0')
      return 1;
    if (*s != ',')
      return 0;
    s++;
  }
}

static int hex_ok(const char *s) {
  size_t n = 0;
  for (; *s; s++, n++)
    if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f') ||
          (*s >= 'A' && *s <= 'F')))
      return 0;
  return n > 0 && n <= (MPK__TOPO_MAX_INDEX + 1) / 4;
}

static const struct {
  const char *name;
  hwloc_obj_type_t type;
} prefixes[] = {
    {"pu", HWLOC_OBJ_PU},          {"core", HWLOC_OBJ_CORE},
    {"numa", HWLOC_OBJ_NUMANODE},  {"node", HWLOC_OBJ_NUMANODE},
    {"pack", HWLOC_OBJ_PACKAGE},   {"package", HWLOC_OBJ_PACKAGE},
    {"socket", HWLOC_OBJ_PACKAGE},
};

/* "type:list" of logical indexes: the union of those objects' PUs. */
static int parse_logical(hwloc_topology_t t, hwloc_obj_type_t type,
                         const char *list, hwloc_bitmap_t out) {
  int count = hwloc_get_nbobjs_by_type(t, type);
  if (count < 1 || !list_ok(list, (unsigned)count - 1))
    return MPK_EINVAL;
  hwloc_bitmap_t idx = hwloc_bitmap_alloc();
  hwloc_bitmap_t acc = hwloc_bitmap_alloc();
  int rc = MPK_ENOMEM;
  unsigned i;
  if (idx == NULL || acc == NULL || hwloc_bitmap_list_sscanf(idx, list) != 0)
    goto out;
  hwloc_bitmap_foreach_begin(i, idx) {
    hwloc_obj_t o = hwloc_get_obj_by_type(t, type, i);
    if (o == NULL || o->cpuset == NULL) {
      rc = MPK_EINVAL;
      goto out;
    }
    if (hwloc_bitmap_or(acc, acc, o->cpuset) != 0)
      goto out;
  }
  hwloc_bitmap_foreach_end();
  rc = hwloc_bitmap_copy(out, acc) == 0 ? MPK_OK : MPK_ENOMEM;
out:
  hwloc_bitmap_free(idx);
  hwloc_bitmap_free(acc);
  return rc;
}

int mpk__topo_parse(hwloc_topology_t t, const char *list, hwloc_bitmap_t out) {
  if (t == NULL || list == NULL || out == NULL || *list == '\0')
    return MPK_EINVAL;
  if (list[0] == '0' && (list[1] == 'x' || list[1] == 'X')) {
    if (!hex_ok(list + 2))
      return MPK_EINVAL;
    hwloc_bitmap_t tmp = hwloc_bitmap_alloc();
    if (tmp == NULL)
      return MPK_ENOMEM;
    int rc = hwloc_bitmap_taskset_sscanf(tmp, list) == 0 &&
                     hwloc_bitmap_copy(out, tmp) == 0
                 ? MPK_OK
                 : MPK_ENOMEM;
    hwloc_bitmap_free(tmp);
    return rc;
  }
  const char *colon = strchr(list, ':');
  if (colon != NULL) {
    size_t len = (size_t)(colon - list);
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
      if (strlen(prefixes[k].name) == len &&
          strncasecmp(list, prefixes[k].name, len) == 0)
        return parse_logical(t, prefixes[k].type, colon + 1, out);
    return MPK_EINVAL;
  }
  if (!list_ok(list, MPK__TOPO_MAX_INDEX))
    return MPK_EINVAL;
  return hwloc_bitmap_list_sscanf(out, list) == 0 ? MPK_OK : MPK_ENOMEM;
}

/* The plan's domain: t's allowed PUs, within `list` when it is not NULL.
   MPK_EINVAL when that leaves no PU. */
static int domain_set(hwloc_topology_t t, const char *list,
                      hwloc_bitmap_t out) {
  int rc = allowed_set(t, out);
  if (rc == MPK_OK && list != NULL) {
    hwloc_bitmap_t l = hwloc_bitmap_alloc();
    if (l == NULL)
      return MPK_ENOMEM;
    rc = mpk__topo_parse(t, list, l);
    if (rc == MPK_OK && hwloc_bitmap_and(out, out, l) != 0)
      rc = MPK_ENOMEM;
    hwloc_bitmap_free(l);
  }
  if (rc == MPK_OK && hwloc_bitmap_iszero(out))
    rc = MPK_EINVAL;
  return rc;
}

/* ------------------------------------------------------------------------ */
/* The planner                                                               */

/* t itself when `set` is all of t's PUs, else a copy of t restricted to set
   (*copied = 1: the caller destroys it). */
static int restricted(hwloc_topology_t t, hwloc_const_bitmap_t set,
                      hwloc_topology_t *out, int *copied) {
  *copied = 0;
  if (hwloc_bitmap_isequal(set, hwloc_topology_get_topology_cpuset(t))) {
    *out = t;
    return MPK_OK;
  }
  hwloc_topology_t c;
  if (hwloc_topology_dup(&c, t) != 0)
    return errno == ENOMEM ? MPK_ENOMEM : MPK_EIO;
  if (hwloc_topology_restrict(c, set, HWLOC_RESTRICT_FLAG_REMOVE_CPULESS) !=
      0) {
    int e = errno;
    hwloc_topology_destroy(c);
    return e == ENOMEM ? MPK_ENOMEM : MPK_EIO;
  }
  *out = c;
  *copied = 1;
  return MPK_OK;
}

/* A plan in progress: the domain topology and its units (cores or PUs). */
typedef struct {
  hwloc_topology_t dom; /* t, or t restricted to the domain */
  hwloc_topology_t one; /* dom with one PU per unit (for hwloc_distrib) */
  int dom_copied, one_copied;
  hwloc_obj_type_t unit; /* HWLOC_OBJ_CORE or HWLOC_OBJ_PU */
  int nunits;
} plan_t;

/* Add the unit holding PU `pu` of p->one (same OS index in p->dom). */
static int add_unit(const plan_t *p, hwloc_obj_t pu, hwloc_bitmap_t out) {
  hwloc_obj_t o = hwloc_get_pu_obj_by_os_index(p->dom, pu->os_index);
  if (o != NULL && p->unit != HWLOC_OBJ_PU)
    o = hwloc_get_ancestor_obj_by_type(p->dom, p->unit, o);
  if (o == NULL)
    return MPK_EIO;
  return hwloc_bitmap_or(out, out, o->cpuset) == 0 ? MPK_OK : MPK_ENOMEM;
}

/* Add the first k units (hwloc logical order) inside `share`. */
static int add_first_units(const plan_t *p, hwloc_const_bitmap_t share, int k,
                           hwloc_bitmap_t out) {
  hwloc_obj_t pu = NULL;
  for (int j = 0; j < k; j++) {
    pu = hwloc_get_next_obj_inside_cpuset_by_type(p->one, share, HWLOC_OBJ_PU,
                                                  pu);
    if (pu == NULL)
      return MPK_EIO;
    int rc = add_unit(p, pu, out);
    if (rc != MPK_OK)
      return rc;
  }
  return MPK_OK;
}

static void free_sets(hwloc_bitmap_t *sets, unsigned n) {
  if (sets == NULL)
    return;
  for (unsigned j = 0; j < n; j++)
    hwloc_bitmap_free(sets[j]);
  free(sets);
}

/* hwloc_distrib of n items over p->one; NULL when out of memory. */
static hwloc_bitmap_t *distrib(const plan_t *p, unsigned n) {
  hwloc_bitmap_t *sets = calloc(n, sizeof *sets);
  if (sets == NULL)
    return NULL;
  hwloc_obj_t root = hwloc_get_root_obj(p->one);
  if (hwloc_distrib(p->one, &root, 1, sets, n, INT_MAX, 0) != 0)
    goto fail;
  for (unsigned j = 0; j < n; j++)
    if (sets[j] == NULL)
      goto fail;
  return sets;
fail:
  free_sets(sets, n);
  return NULL;
}

/* SCATTER: worker i of m, k units each (m * k <= p->nunits). */
static int scatter(const plan_t *p, int m, int k, int i, hwloc_bitmap_t out) {
  hwloc_bitmap_t *sets = distrib(p, (unsigned)m);
  if (sets == NULL)
    return MPK_ENOMEM;
  int fits = 1;
  for (int j = 0; j < m && fits; j++)
    fits = hwloc_bitmap_weight(sets[j]) >= k;
  int rc;
  if (fits) {
    rc = add_first_units(p, sets[i], k, out);
    free_sets(sets, (unsigned)m);
    return rc;
  }
  /* Some share is too small for k units: spread m * k single units. */
  free_sets(sets, (unsigned)m);
  unsigned total = (unsigned)m * (unsigned)k;
  sets = distrib(p, total);
  if (sets == NULL)
    return MPK_ENOMEM;
  rc = MPK_OK;
  for (unsigned s = (unsigned)i * (unsigned)k;
       rc == MPK_OK && s < (unsigned)(i + 1) * (unsigned)k; s++)
    rc = add_first_units(p, sets[s], 1, out);
  free_sets(sets, total);
  return rc;
}

/* COMPACT: units i*k .. i*k+k-1 in logical order. */
static int compact(const plan_t *p, int k, int i, hwloc_bitmap_t out) {
  for (int j = 0; j < k; j++) {
    hwloc_obj_t o =
        hwloc_get_obj_by_type(p->dom, p->unit, (unsigned)(i * k + j));
    if (o == NULL)
      return MPK_EIO;
    if (hwloc_bitmap_or(out, out, o->cpuset) != 0)
      return MPK_ENOMEM;
  }
  return MPK_OK;
}

/* p->one: dom with only the first PU of each unit, so hwloc_distrib weighs
   units, not PUs. */
static int one_per_unit(plan_t *p) {
  if (p->unit == HWLOC_OBJ_PU ||
      p->nunits == hwloc_get_nbobjs_by_type(p->dom, HWLOC_OBJ_PU)) {
    p->one = p->dom;
    return MPK_OK;
  }
  hwloc_bitmap_t firsts = hwloc_bitmap_alloc();
  if (firsts == NULL)
    return MPK_ENOMEM;
  int rc = MPK_OK;
  for (int u = 0; u < p->nunits && rc == MPK_OK; u++) {
    hwloc_obj_t o = hwloc_get_obj_by_type(p->dom, p->unit, (unsigned)u);
    if (o == NULL)
      rc = MPK_EIO;
    else if (hwloc_bitmap_set(firsts, (unsigned)hwloc_bitmap_first(o->cpuset)))
      rc = MPK_ENOMEM;
  }
  if (rc == MPK_OK)
    rc = restricted(p->dom, firsts, &p->one, &p->one_copied);
  hwloc_bitmap_free(firsts);
  return rc;
}

/* Worker i of n, k units each, on the domain `dom` (see mpk/topo.h). */
static int plan_units(hwloc_topology_t t, hwloc_const_bitmap_t dom_set, int n,
                      int k, mpk_bind_policy pol, int i, hwloc_bitmap_t out,
                      int *over) {
  plan_t p = {0};
  int rc = restricted(t, dom_set, &p.dom, &p.dom_copied);
  if (rc != MPK_OK)
    return rc;
  int pus = hwloc_get_nbobjs_by_type(p.dom, HWLOC_OBJ_PU);
  int cores = hwloc_get_nbobjs_by_type(p.dom, HWLOC_OBJ_CORE);
  long long total = (long long)n * k;
  *over = 0;
  if (cores > 0 && total <= cores) {
    p.unit = HWLOC_OBJ_CORE;
    p.nunits = cores;
  } else {
    p.unit = HWLOC_OBJ_PU;
    p.nunits = pus;
    if (total > pus) {
      *over = 1;
      n = pus / k; /* workers that fit; wrap around them */
      if (n == 0) {
        rc = hwloc_bitmap_copy(out, dom_set) == 0 ? MPK_OK : MPK_ENOMEM;
        goto done;
      }
      i %= n;
    }
  }
  if (pol == MPK_BIND_COMPACT) {
    rc = compact(&p, k, i, out);
  } else {
    rc = one_per_unit(&p);
    if (rc == MPK_OK)
      rc = scatter(&p, n, k, i, out);
  }
done:
  if (p.one_copied)
    hwloc_topology_destroy(p.one);
  if (p.dom_copied)
    hwloc_topology_destroy(p.dom);
  return rc;
}

int mpk__topo_plan_set(hwloc_topology_t t, int n, int per_worker,
                       mpk_bind_policy p, const char *list, int i,
                       hwloc_bitmap_t out, int *oversubscribed) {
  if (t == NULL || out == NULL || n < 1 || i < 0 || i >= n || per_worker < 1 ||
      (p != MPK_BIND_NONE && p != MPK_BIND_COMPACT && p != MPK_BIND_SCATTER))
    return MPK_EINVAL;
  hwloc_bitmap_t dom = hwloc_bitmap_alloc();
  hwloc_bitmap_t res = hwloc_bitmap_alloc();
  int over = 0, rc = MPK_ENOMEM;
  if (dom == NULL || res == NULL)
    goto out;
  rc = domain_set(t, list, dom);
  if (rc != MPK_OK)
    goto out;
  if (p == MPK_BIND_NONE) {
    over = (long long)n * per_worker > hwloc_bitmap_weight(dom);
    rc = hwloc_bitmap_copy(res, dom) == 0 ? MPK_OK : MPK_ENOMEM;
  } else {
    rc = plan_units(t, dom, n, per_worker, p, i, res, &over);
  }
  if (rc == MPK_OK && hwloc_bitmap_iszero(res))
    rc = MPK_EIO; /* a broken invariant of the planner, never user input */
  if (rc == MPK_OK)
    rc = hwloc_bitmap_copy(out, res) == 0 ? MPK_OK : MPK_ENOMEM;
  if (rc == MPK_OK && oversubscribed != NULL)
    *oversubscribed = over;
out:
  hwloc_bitmap_free(dom);
  hwloc_bitmap_free(res);
  return rc;
}

int mpk__topo_list_string(hwloc_const_bitmap_t set, char *buf, size_t cap) {
  if (set == NULL || buf == NULL || cap == 0)
    return MPK_EINVAL;
  int len = hwloc_bitmap_list_snprintf(NULL, 0, set);
  if (len < 0)
    return MPK_ENOMEM;
  if ((size_t)len >= cap)
    return MPK_EMSGSIZE;
  hwloc_bitmap_list_snprintf(buf, cap, set);
  return MPK_OK;
}

int mpk__topo_plan_on(hwloc_topology_t t, int n, int per_worker,
                      mpk_bind_policy p, const char *list, int i, char *buf,
                      size_t cap, int *oversubscribed) {
  if (buf == NULL || cap == 0)
    return MPK_EINVAL;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (set == NULL)
    return MPK_ENOMEM;
  int over = 0;
  int rc = mpk__topo_plan_set(t, n, per_worker, p, list, i, set, &over);
  if (rc == MPK_OK)
    rc = mpk__topo_list_string(set, buf, cap);
  if (rc == MPK_OK && oversubscribed != NULL)
    *oversubscribed = over;
  hwloc_bitmap_free(set);
  return rc;
}

/* ------------------------------------------------------------------------ */
/* Public calls                                                              */

int mpk_cpu_count(void) {
  cpu_set_t one;
  if (sched_getaffinity(0, sizeof one, &one) == 0) {
    int c = CPU_COUNT(&one);
    if (c >= 1)
      return c;
  } else if (errno == EINVAL) {
    /* More CPUs than a cpu_set_t holds: grow until the kernel's mask fits. */
    for (int ncpu = 2 * CPU_SETSIZE; ncpu <= (1 << 22); ncpu *= 2) {
      cpu_set_t *s = CPU_ALLOC(ncpu);
      if (s == NULL)
        break;
      size_t sz = CPU_ALLOC_SIZE(ncpu);
      int ok = sched_getaffinity(0, sz, s) == 0;
      int e = errno;
      int c = ok ? CPU_COUNT_S(sz, s) : 0;
      CPU_FREE(s);
      if (ok && c >= 1)
        return c;
      if (ok || e != EINVAL)
        break;
    }
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n < 1 ? 1 : n > INT_MAX ? INT_MAX : (int)n;
}

static int count_of(hwloc_obj_type_t type) {
  hwloc_topology_t t;
  int rc = mpk__topo_get(&t);
  if (rc != MPK_OK)
    return rc;
  return hwloc_get_nbobjs_by_type(t, type);
}

int mpk_pu_count(void) {
  int n = count_of(HWLOC_OBJ_PU);
  return n == 0 ? 1 : n;
}

int mpk_core_count(void) {
  int n = count_of(HWLOC_OBJ_CORE);
  return n == 0 ? mpk_pu_count() : n;
}

int mpk_numa_count(void) {
  int n = count_of(HWLOC_OBJ_NUMANODE);
  return n == 0 ? 1 : n;
}

int mpk_package_count(void) {
  int n = count_of(HWLOC_OBJ_PACKAGE);
  return n == 0 ? 1 : n;
}

int mpk_topo_allowed(char *buf, size_t cap) {
  if (buf == NULL || cap == 0)
    return MPK_EINVAL;
  hwloc_topology_t t;
  int rc = mpk__topo_get(&t);
  if (rc != MPK_OK)
    return rc;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (set == NULL)
    return MPK_ENOMEM;
  rc = allowed_set(t, set);
  if (rc == MPK_OK)
    rc = mpk__topo_list_string(set, buf, cap);
  hwloc_bitmap_free(set);
  return rc;
}

const char *mpk_topo_hwloc_version(void) {
  return HWLOC_VERSION;
}

int mpk_topo_plan(int n, mpk_bind_policy p, const char *cpuset_list, int i,
                  char *buf, size_t cap) {
  return mpk_topo_plan_ex(n, 1, p, cpuset_list, i, buf, cap, NULL);
}

int mpk_topo_plan_ex(int n, int per_worker, mpk_bind_policy p,
                     const char *cpuset_list, int i, char *buf, size_t cap,
                     int *oversubscribed) {
  hwloc_topology_t t;
  int rc = mpk__topo_get(&t);
  if (rc != MPK_OK)
    return rc;
  return mpk__topo_plan_on(t, n, per_worker, p, cpuset_list, i, buf, cap,
                           oversubscribed);
}

int mpk_bind_self(const char *cpuset_list) {
  hwloc_topology_t t;
  int rc = mpk__topo_get(&t);
  if (rc != MPK_OK)
    return rc;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (set == NULL)
    return MPK_ENOMEM;
  rc = domain_set(t, cpuset_list, set);
  if (rc == MPK_OK && hwloc_set_cpubind(t, set, HWLOC_CPUBIND_THREAD) != 0)
    rc = errno_code(errno);
  hwloc_bitmap_free(set);
  return rc;
}

int mpk_current_cpu(void) {
  int c = sched_getcpu();
  return c >= 0 ? c : MPK_ENOSYS;
}
