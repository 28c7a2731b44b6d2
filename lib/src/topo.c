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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "internal/error.h"

/* ------------------------------------------------------------------------ */
/* The process's topology                                                    */

static pthread_once_t topo_once = PTHREAD_ONCE_INIT;
/* Written once inside pthread_once, read-only afterwards: pthread_once
   orders the writes before every return from it, so no atomics are needed. */
static hwloc_topology_t topo_proc;
static int topo_rc = MPK_EIO;

/* A broken internal invariant of the planner (never user input). */
static int plan_broken(const char *what) {
  return mpk__errf(MPK_EIO, "plan: internal error (%s)", what);
}

static int topo_nomem(void) {
  return mpk__errf(MPK_ENOMEM, "hwloc: out of memory");
}

/* hwloc call `what` failed with errno e (EXDEV: this binding cannot be
   enforced here); recorded. */
static int hwloc_failed(int e, const char *what) {
  return mpk__errsys(e, e == EXDEV ? MPK_ENOSYS : MPK_EIO, "%s", what);
}

/* Why the topology could not be loaded (read after topo_once). */
static char topo_msg[MPK_ERRMSG_MAX];

static void load_failed(int e, const char *what) {
  topo_rc = hwloc_failed(e, what);
  snprintf(topo_msg, sizeof topo_msg, "%s", mpk_errmsg());
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
  /* The records made here belong to the first caller's thread; topo_msg
     keeps the text for every later caller (mpk__topo_get). */
  mpk__errstate saved;
  mpk__err_save(&saved);
  if (hwloc_topology_init(&t) != 0) {
    load_failed(errno, "hwloc_topology_init");
    mpk__err_restore(&saved);
    return;
  }
  if (hwloc_topology_set_flags(t, flags) != 0 || hwloc_topology_load(t) != 0) {
    int e = errno;
    hwloc_topology_destroy(t);
    load_failed(e, "hwloc_topology_load");
    mpk__err_restore(&saved);
    return;
  }
  hwloc_bitmap_t dom = hwloc_bitmap_alloc();
  if (dom == NULL) {
    hwloc_topology_destroy(t);
    load_failed(ENOMEM, "hwloc_bitmap_alloc");
    mpk__err_restore(&saved);
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
    load_failed(e, "hwloc_topology_restrict (to the process's binding)");
    mpk__err_restore(&saved);
    return;
  }
  hwloc_bitmap_free(dom);
  topo_proc = t;
  topo_rc = MPK_OK;
}

int mpk__topo_get(hwloc_topology_t *out) {
  if (out == NULL) {
    mpk__errf_(MPK_EINVAL, "topology: out is NULL");
    return MPK_EINVAL;
  }
  if (pthread_once(&topo_once, topo_load) != 0) {
    mpk__errf_(MPK_EIO, "topology: pthread_once failed");
    return MPK_EIO;
  }
  int rc = topo_rc;
  if (rc == MPK_OK) {
    *out = topo_proc;
    return MPK_OK;
  }
  mpk__errf_(rc, "the topology could not be loaded: %s", topo_msg);
  return rc; /* (not errf's value: the compiler then knows it is not 0) */
}

/* The PUs a plan may use on t: its PUs that the OS allows. Returns MPK_OK
   or MPK_ENOMEM. */
static int allowed_set(hwloc_topology_t t, hwloc_bitmap_t out) {
  if (hwloc_bitmap_and(out, hwloc_topology_get_topology_cpuset(t),
                       hwloc_topology_get_allowed_cpuset(t)) != 0)
    return topo_nomem();
  return MPK_OK;
}

/* ------------------------------------------------------------------------ */
/* List parsing                                                              */

/* One decimal number <= max at *s; advances *s. 0 on success, -1 when
   there is no digit, -2 when the number is above max (*out is then the
   number, UINT_MAX if it is larger). */
static int parse_num(const char **s, unsigned max, unsigned *out) {
  const char *p = *s;
  unsigned long long v = 0;
  if (*p < '0' || *p > '9')
    return -1;
  while (*p >= '0' && *p <= '9') {
    if (v <= UINT_MAX)
      v = v * 10 + (unsigned long long)(*p - '0');
    p++;
  }
  *out = v > UINT_MAX ? UINT_MAX : (unsigned)v;
  if (v > max)
    return -2;
  *s = p;
  return 0;
}

/* Record why the list `whole` is bad at `at`; MPK_EINVAL. */
static int list_bad(const char *whole, const char *at, const char *why) {
  unsigned char c = (unsigned char)*at;
  if (c == '\0')
    return mpk__errf(MPK_EINVAL, "cpuset '" MPK__QFMT "': %s at its end",
                     MPK__Q(whole), why);
  if (c >= 0x20 && c < 0x7f)
    return mpk__errf(MPK_EINVAL,
                     "cpuset '" MPK__QFMT "': %s at offset %td ('%c')",
                     MPK__Q(whole), why, at - whole, c);
  return mpk__errf(MPK_EINVAL,
                   "cpuset '" MPK__QFMT "': %s at offset %td "
                   "(byte 0x%02x)",
                   MPK__Q(whole), why, at - whole, c);
}

/* Record the number v above max in `whole`; `unit` names what it counts
   ("PU": an OS index; else a logical index of max + 1 objects). */
static int list_big(const char *whole, unsigned v, unsigned max,
                    const char *unit) {
  if (strcmp(unit, "PU") == 0)
    return mpk__errf(MPK_EINVAL,
                     "cpuset '" MPK__QFMT "': PU %u > %u (the "
                     "largest OS index)",
                     MPK__Q(whole), v, max);
  return mpk__errf(MPK_EINVAL,
                   "cpuset '" MPK__QFMT "': %s %u does not exist "
                   "(there are %u: 0-%u)",
                   MPK__Q(whole), unit, v, max + 1, max);
}

/* Strict grammar check before hwloc parses (hwloc's parser accepts "1a",
   "3-1" and overflowing numbers): item(,item)*, item = N or N-M, N <= M <=
   max, nothing else. `s` is the list inside the user's string `whole`.
   MPK_OK, or MPK_EINVAL recorded with what is wrong and where. */
static int list_check(const char *whole, const char *s, unsigned max,
                      const char *unit) {
  for (;;) {
    unsigned lo, hi;
    const char *at = s;
    int r = parse_num(&s, max, &lo);
    if (r != 0)
      return r == -2 ? list_big(whole, lo, max, unit)
                     : list_bad(whole, at, "expected a number");
    if (*s == '-') {
      s++;
      at = s;
      r = parse_num(&s, max, &hi);
      if (r != 0)
        return r == -2 ? list_big(whole, hi, max, unit)
                       : list_bad(whole, at, "expected the end of a range");
      if (hi < lo)
        return mpk__errf(MPK_EINVAL,
                         "cpuset '" MPK__QFMT "': range end "
                         "before start (%u-%u)",
                         MPK__Q(whole), lo, hi);
    }
    if (*s == '\0')
      return MPK_OK;
    if (*s != ',')
      return list_bad(whole, s, "expected ',' or '-'");
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
                         const char *name, const char *whole, const char *list,
                         hwloc_bitmap_t out) {
  int count = hwloc_get_nbobjs_by_type(t, type);
  if (count < 1)
    return mpk__errf(MPK_EINVAL,
                     "cpuset '" MPK__QFMT "': this machine has "
                     "no %s objects",
                     MPK__Q(whole), name);
  int rc = list_check(whole, list, (unsigned)count - 1, name);
  if (rc != MPK_OK)
    return rc;
  hwloc_bitmap_t idx = hwloc_bitmap_alloc();
  hwloc_bitmap_t acc = hwloc_bitmap_alloc();
  rc = mpk__errf(MPK_ENOMEM, "cpuset: no memory for a bitmap");
  unsigned i;
  if (idx == NULL || acc == NULL || hwloc_bitmap_list_sscanf(idx, list) != 0)
    goto out;
  hwloc_bitmap_foreach_begin(i, idx) {
    hwloc_obj_t o = hwloc_get_obj_by_type(t, type, i);
    if (o == NULL || o->cpuset == NULL) {
      rc = mpk__errf(MPK_EINVAL,
                     "cpuset '" MPK__QFMT "': %s %u does not "
                     "exist",
                     MPK__Q(whole), name, i);
      goto out;
    }
    if (hwloc_bitmap_or(acc, acc, o->cpuset) != 0)
      goto out;
  }
  hwloc_bitmap_foreach_end();
  rc = hwloc_bitmap_copy(out, acc) == 0 ? MPK_OK : topo_nomem();
out:
  hwloc_bitmap_free(idx);
  hwloc_bitmap_free(acc);
  return rc;
}

int mpk__topo_parse(hwloc_topology_t t, const char *list, hwloc_bitmap_t out) {
  if (t == NULL || list == NULL || out == NULL)
    return mpk__errf(MPK_EINVAL, "cpuset: %s is NULL",
                     t == NULL      ? "topology"
                     : list == NULL ? "list"
                                    : "out");
  if (*list == '\0')
    return mpk__errf(MPK_EINVAL, "cpuset '': empty");
  if (list[0] == '0' && (list[1] == 'x' || list[1] == 'X')) {
    if (!hex_ok(list + 2))
      return mpk__errf(MPK_EINVAL,
                       "cpuset '" MPK__QFMT "': a mask needs 1 "
                       "to %u hex digits after 0x and nothing else",
                       MPK__Q(list), (MPK__TOPO_MAX_INDEX + 1) / 4);
    hwloc_bitmap_t tmp = hwloc_bitmap_alloc();
    if (tmp == NULL)
      return topo_nomem();
    int rc = hwloc_bitmap_taskset_sscanf(tmp, list) == 0 &&
                     hwloc_bitmap_copy(out, tmp) == 0
                 ? MPK_OK
                 : topo_nomem();
    hwloc_bitmap_free(tmp);
    return rc;
  }
  const char *colon = strchr(list, ':');
  if (colon != NULL) {
    size_t len = (size_t)(colon - list);
    for (size_t k = 0; k < sizeof prefixes / sizeof prefixes[0]; k++)
      if (strlen(prefixes[k].name) == len &&
          strncasecmp(list, prefixes[k].name, len) == 0)
        return parse_logical(t, prefixes[k].type, prefixes[k].name, list,
                             colon + 1, out);
    return mpk__errf(MPK_EINVAL,
                     "cpuset '" MPK__QFMT "': unknown object type "
                     "before ':' (pu, core, numa, node, pack, package, "
                     "socket)",
                     MPK__Q(list));
  }
  int rc = list_check(list, list, MPK__TOPO_MAX_INDEX, "PU");
  if (rc != MPK_OK)
    return rc;
  return hwloc_bitmap_list_sscanf(out, list) == 0 ? MPK_OK : topo_nomem();
}

/* The plan's domain: t's allowed PUs, within `list` when it is not NULL.
   MPK_EINVAL when that leaves no PU. */
static int domain_set(hwloc_topology_t t, const char *list,
                      hwloc_bitmap_t out) {
  int rc = allowed_set(t, out);
  if (rc == MPK_OK && list != NULL) {
    char allowed[64] = "?";
    hwloc_bitmap_list_snprintf(allowed, sizeof allowed, out);
    hwloc_bitmap_t l = hwloc_bitmap_alloc();
    if (l == NULL)
      return topo_nomem();
    rc = mpk__topo_parse(t, list, l);
    if (rc == MPK_OK && hwloc_bitmap_and(out, out, l) != 0)
      rc = topo_nomem();
    hwloc_bitmap_free(l);
    if (rc == MPK_OK && hwloc_bitmap_iszero(out))
      return mpk__errf(MPK_EINVAL,
                       "cpuset '" MPK__QFMT "' names no PU this "
                       "process may use (allowed: %s)",
                       MPK__Q(list), allowed);
  }
  if (rc == MPK_OK && hwloc_bitmap_iszero(out))
    rc = mpk__errf(MPK_EINVAL, "this process may use no PU");
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
    return hwloc_failed(errno, "hwloc_topology_dup");
  if (hwloc_topology_restrict(c, set, HWLOC_RESTRICT_FLAG_REMOVE_CPULESS) !=
      0) {
    int e = errno;
    hwloc_topology_destroy(c);
    return hwloc_failed(e, "hwloc_topology_restrict");
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
    return plan_broken("no unit holds a PU");
  return hwloc_bitmap_or(out, out, o->cpuset) == 0 ? MPK_OK : topo_nomem();
}

/* Add the first k units (hwloc logical order) inside `share`. */
static int add_first_units(const plan_t *p, hwloc_const_bitmap_t share, int k,
                           hwloc_bitmap_t out) {
  hwloc_obj_t pu = NULL;
  for (int j = 0; j < k; j++) {
    pu = hwloc_get_next_obj_inside_cpuset_by_type(p->one, share, HWLOC_OBJ_PU,
                                                  pu);
    if (pu == NULL)
      return plan_broken("a share has too few units");
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
    return topo_nomem();
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
    return topo_nomem();
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
      return plan_broken("a unit index is past the domain");
    if (hwloc_bitmap_or(out, out, o->cpuset) != 0)
      return topo_nomem();
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
    return topo_nomem();
  int rc = MPK_OK;
  for (int u = 0; u < p->nunits && rc == MPK_OK; u++) {
    hwloc_obj_t o = hwloc_get_obj_by_type(p->dom, p->unit, (unsigned)u);
    if (o == NULL)
      rc = plan_broken("a unit index is past the domain");
    else if (hwloc_bitmap_set(firsts, (unsigned)hwloc_bitmap_first(o->cpuset)))
      rc = topo_nomem();
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
        rc = hwloc_bitmap_copy(out, dom_set) == 0 ? MPK_OK : topo_nomem();
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
  if (t == NULL || out == NULL)
    return mpk__errf(MPK_EINVAL, "plan: %s is NULL",
                     t == NULL ? "topology" : "out");
  if (n < 1)
    return mpk__errf(MPK_EINVAL, "plan: n = %d workers < 1", n);
  if (i < 0 || i >= n)
    return mpk__errf(MPK_EINVAL, "plan: worker %d outside [0, %d)", i, n);
  if (per_worker < 1)
    return mpk__errf(MPK_EINVAL, "plan: per_worker %d < 1", per_worker);
  if (p != MPK_BIND_NONE && p != MPK_BIND_COMPACT && p != MPK_BIND_SCATTER)
    return mpk__errf(MPK_EINVAL,
                     "plan: bind policy %d is not an "
                     "mpk_bind_policy",
                     (int)p);
  hwloc_bitmap_t dom = hwloc_bitmap_alloc();
  hwloc_bitmap_t res = hwloc_bitmap_alloc();
  int over = 0, rc = MPK_ENOMEM;
  if (dom == NULL || res == NULL) {
    rc = topo_nomem();
    goto out;
  }
  rc = domain_set(t, list, dom);
  if (rc != MPK_OK)
    goto out;
  if (p == MPK_BIND_NONE) {
    over = (long long)n * per_worker > hwloc_bitmap_weight(dom);
    rc = hwloc_bitmap_copy(res, dom) == 0 ? MPK_OK : topo_nomem();
  } else {
    rc = plan_units(t, dom, n, per_worker, p, i, res, &over);
  }
  if (rc == MPK_OK && hwloc_bitmap_iszero(res))
    rc = plan_broken("an empty plan"); /* never user input */
  if (rc == MPK_OK)
    rc = hwloc_bitmap_copy(out, res) == 0 ? MPK_OK : topo_nomem();
  if (rc == MPK_OK && oversubscribed != NULL)
    *oversubscribed = over;
out:
  hwloc_bitmap_free(dom);
  hwloc_bitmap_free(res);
  return rc;
}

int mpk__topo_list_string(hwloc_const_bitmap_t set, char *buf, size_t cap) {
  if (set == NULL || buf == NULL || cap == 0)
    return mpk__errf(MPK_EINVAL, "%s",
                     set == NULL   ? "the set is NULL"
                     : buf == NULL ? "buf is NULL"
                                   : "cap is 0");
  int len = hwloc_bitmap_list_snprintf(NULL, 0, set);
  if (len < 0)
    return topo_nomem();
  if ((size_t)len >= cap)
    return mpk__errf(MPK_EMSGSIZE,
                     "buffer of %zu bytes is too small for a "
                     "cpuset list of %d bytes and its NUL",
                     cap, len);
  hwloc_bitmap_list_snprintf(buf, cap, set);
  return MPK_OK;
}

int mpk__topo_plan_on(hwloc_topology_t t, int n, int per_worker,
                      mpk_bind_policy p, const char *list, int i, char *buf,
                      size_t cap, int *oversubscribed) {
  if (buf == NULL || cap == 0)
    return mpk__errf(MPK_EINVAL, "plan: %s",
                     buf == NULL ? "buf is NULL" : "cap is 0");
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (set == NULL)
    return topo_nomem();
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
    return mpk__errf(MPK_EINVAL, "mpk_topo_allowed: %s",
                     buf == NULL ? "buf is NULL" : "cap is 0");
  hwloc_topology_t t;
  int rc = mpk__topo_get(&t);
  if (rc != MPK_OK)
    return rc;
  hwloc_bitmap_t set = hwloc_bitmap_alloc();
  if (set == NULL)
    return topo_nomem();
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
    return topo_nomem();
  rc = domain_set(t, cpuset_list, set);
  if (rc == MPK_OK && hwloc_set_cpubind(t, set, HWLOC_CPUBIND_THREAD) != 0)
    rc = hwloc_failed(errno, "hwloc_set_cpubind");
  hwloc_bitmap_free(set);
  return rc;
}

int mpk_current_cpu(void) {
  int c = sched_getcpu();
  return c >= 0 ? c : mpk__err(MPK_ENOSYS); /* AS-safe: no formatting */
}
