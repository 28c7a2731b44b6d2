/* internal/topo.h - the topology module's internals, for the pool and tests.
 *
 * The planner works on any loaded hwloc topology, so tests run it on
 * synthetic machines (hwloc_topology_set_synthetic) and the public calls run
 * it on the process's topology from mpk__topo_get(). There is one planner:
 * the public mpk_topo_plan / mpk_topo_plan_ex are thin wrappers over
 * mpk__topo_plan_on(mpk__topo_get(), ...). The rules are in mpk/topo.h.
 */
#ifndef MPK_INTERNAL_TOPO_H
#define MPK_INTERNAL_TOPO_H

#include <hwloc.h>
#include <stddef.h>

#include "mpk/topo.h"

/* Largest OS PU index accepted in a list or mask (bounds the bitmap a
   hostile "0-2000000000" would allocate). */
#define MPK__TOPO_MAX_INDEX ((1u << 20) - 1)

MPK_BEGIN_DECLS

/* The process's topology, loaded once (pthread_once) with
   HWLOC_TOPOLOGY_FLAG_IS_THISSYSTEM | RESTRICT_TO_CPUBINDING |
   DONT_CHANGE_BINDING. *out stays valid until exit and must only be read
   (never restricted or destroyed by callers). Returns MPK_OK, or the load's
   error every time: MPK_ENOMEM, MPK_EIO. MT-safe; a forked child keeps the
   parent's topology. */
int mpk__topo_get(hwloc_topology_t *out);

/* Parse a cpuset list (syntax in mpk/topo.h) against topology t into `out`
   (an allocated bitmap, overwritten; unchanged on error). The result may name
   PUs outside t. MPK_EINVAL for NULL, "", bad syntax, indexes over
   MPK__TOPO_MAX_INDEX or logical indexes that do not exist in t;
   MPK_ENOMEM. MT-safe on a loaded topology. */
int mpk__topo_parse(hwloc_topology_t t, const char *list, hwloc_bitmap_t out);

/* The plan of mpk_topo_plan_ex on topology t, as a bitmap: worker i of n,
   per_worker cores each, policy p, optional list. `out` is an allocated
   bitmap (overwritten; unchanged on error); *oversubscribed (may be NULL) is
   set on success. Errors as mpk_topo_plan_ex except the buffer ones.
   MT-safe on a loaded topology (works on private copies). */
int mpk__topo_plan_set(hwloc_topology_t t, int n, int per_worker,
                       mpk_bind_policy p, const char *list, int i,
                       hwloc_bitmap_t out, int *oversubscribed);

/* mpk__topo_plan_set, then the hwloc list string into buf (MPK_EINVAL for
   buf NULL / cap 0, MPK_EMSGSIZE when it does not fit with its NUL; buf and
   *oversubscribed unchanged on any error). */
int mpk__topo_plan_on(hwloc_topology_t t, int n, int per_worker,
                      mpk_bind_policy p, const char *list, int i, char *buf,
                      size_t cap, int *oversubscribed);

/* Write bitmap `set` as an hwloc list string into buf: MPK_OK, MPK_EINVAL
   (buf NULL, cap 0), MPK_EMSGSIZE (too small; buf unchanged), MPK_ENOMEM. */
int mpk__topo_list_string(hwloc_const_bitmap_t set, char *buf, size_t cap);

MPK_END_DECLS

#endif
