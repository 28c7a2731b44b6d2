/* mpk/topo.h - the machine's topology (through hwloc) and worker binding.
 *
 * mpk loads the hwloc topology once per process, on first use, restricted to
 * the CPUs the process may run on at that moment (the union of its threads'
 * affinity masks, as set by taskset, numactl, mpirun or a batch system).
 * Every count and plan below describes that restricted machine, so a pool
 * started under `taskset -c 4-7` plans over PUs 4-7 only; binding one thread
 * later does not change it. Words used here:
 *
 *   PU       a hardware thread (what Linux calls a CPU; hyperthreads are PUs)
 *   core     a physical core, holding one or more PUs
 *   package  a socket; NUMA node: a memory domain with its local PUs
 *   cpuset   a set of PUs written as an hwloc list string of OS PU indexes,
 *            e.g. "0-3,8" (the format of taskset -c and numactl -C)
 *
 * Across fork: a child keeps the parent's loaded topology (it is read-only
 * after loading), so load it before forking workers (any call below does)
 * and they skip the ~ms load. A process that first uses mpk after being
 * bound sees only its binding. As with any pthread_once, a fork that happens
 * while another thread is inside the first load leaves the child unable to
 * load: call one of these functions before starting threads that fork.
 *
 * COMPACT / SCATTER / NONE are mpk's names for OpenMP's OMP_PROC_BIND
 * close / spread / false; SCATTER follows hwloc_distrib, which spreads over
 * the hierarchy (packages, then NUMA nodes, ...) rather than a flat list.
 * hwloc's own HWLOC_SYNTHETIC variable makes mpk plan for an imaginary
 * machine, e.g. "pack:2 numa:2 core:4 pu:2".
 *
 * The plan: worker i of n (mpk_topo_plan_ex)
 * -------------------------------------------
 * The domain is the process's allowed PUs, intersected with `cpuset_list`
 * when one is given (PUs of the list outside the allowed set are ignored).
 * Each worker needs k = per_worker cores (1 for mpk_topo_plan). With C the
 * cores and P the PUs of the domain:
 *
 *   n * k <= C      units are whole cores: worker i gets k cores, each with
 *                   all its PUs in the domain;
 *   C < n * k <= P  units are PUs: worker i gets k PUs;
 *   n * k > P       oversubscribed: units are PUs; m = P / k workers fit, and
 *                   worker i gets what worker (i mod m) gets in the plan for
 *                   m workers (wrap-around); when k > P every worker gets the
 *                   whole domain. *oversubscribed is set to 1.
 *
 * Which units worker i gets depends on the policy:
 *
 *   MPK_BIND_COMPACT  units in hwloc logical order (package 0 first, then
 *                     the next core of the same package): worker i gets units
 *                     i*k .. i*k+k-1. Hyperthreads of one core are adjacent,
 *                     so with PU units workers fill a core before the next.
 *   MPK_BIND_SCATTER  hwloc_distrib() shares the domain among the workers in
 *                     proportion to size, packages and NUMA nodes first;
 *                     worker i takes the first k units (logical order) of its
 *                     share, so a worker's cores stay together. If some share
 *                     holds fewer than k units, hwloc_distrib() spreads n * k
 *                     single units instead and worker i takes units
 *                     i*k .. i*k+k-1 of that spread.
 *   MPK_BIND_NONE     every worker gets the whole domain (no pinning beyond
 *                     the process's own mask or the list).
 *
 * With an explicit list the same rules apply to the list's PUs: a list of 4
 * cores and n = 2 under COMPACT gives 2 cores to each worker.
 *
 * Explicit list syntax (no spaces):
 *   "0-3,8"       hwloc list of OS PU indexes (as taskset -c); ranges lo-hi
 *                 with lo <= hi, indexes below 2^20
 *   "0x0f"        hexadecimal mask of OS PU indexes (as taskset), bit 0 = PU 0
 *   "core:0-3"    logical indexes of objects of the loaded (restricted)
 *                 topology: "pu:", "core:", "numa:" or "node:", "pack:",
 *                 "package:" or "socket:"; the union of their PUs. Every index
 *                 must exist (core:5 on a 4-core machine is MPK_EINVAL).
 */
#ifndef MPK_TOPO_H
#define MPK_TOPO_H

#include <stddef.h>

#include "mpk/common.h"

MPK_BEGIN_DECLS

/* Python's multiprocessing.cpu_count(), honouring the affinity mask: the
   number of PUs the calling thread may run on now (sched_getaffinity, read
   live at each call). Always >= 1 (falls back to the online CPU count, then
   1, if the mask cannot be read). MT-safe, MP-safe; not AS-safe. */
MPK_API int mpk_cpu_count(void);

/* Counts in the loaded topology (allowed PUs at first use): physical cores,
   PUs, NUMA nodes, packages. Each is >= 1 (a machine whose hwloc shows no
   cores or packages counts its PUs as cores and itself as one package), or a
   negative code when the topology cannot be loaded: MPK_ENOMEM, MPK_EIO
   (hwloc failed). MT-safe, MP-safe; the first call loads the topology. */
MPK_API int mpk_core_count(void);
MPK_API int mpk_pu_count(void);
MPK_API int mpk_numa_count(void);
MPK_API int mpk_package_count(void);

/* The loaded topology's PUs (the process's allowed set at first use: its
   CPU binding, or, when OpenMP binds threads (OMP_PROC_BIND), the union of
   OpenMP's places, since libgomp pins the main thread to the first place
   before main) as an hwloc list string into buf, e.g. "0-1".
   Errors: MPK_EINVAL buf NULL or cap 0; MPK_EMSGSIZE cap too small for the
   string and its NUL (buf unchanged); MPK_ENOMEM, MPK_EIO as the counts.
   MT-safe, MP-safe. */
MPK_API int mpk_topo_allowed(char *buf, size_t cap);

/* The hwloc version mpk was built with, e.g. "2.9.0". Never NULL.
   MT-safe, MP-safe, AS-safe. */
MPK_API const char *mpk_topo_hwloc_version(void);

typedef enum {
  MPK_BIND_NONE,
  MPK_BIND_COMPACT,
  MPK_BIND_SCATTER
} mpk_bind_policy;

/* The cpuset of worker `i` of `n` (one core per worker, see the plan above)
   as an hwloc list string into buf. cpuset_list NULL plans over the allowed
   set; otherwise over the list (syntax above). Same as mpk_topo_plan_ex with
   per_worker 1 and no oversubscribed flag. Errors as mpk_topo_plan_ex. */
MPK_API int mpk_topo_plan(int n, mpk_bind_policy p, const char *cpuset_list,
                          int i, char *buf, size_t cap);

/* The cpuset of worker `i` of `n` workers that each want `per_worker` cores
   (e.g. an OpenMP team of that many threads per worker), as an hwloc list
   string into buf. *oversubscribed (when not NULL) is set to 1 when
   n * per_worker exceeds the domain's PUs, else 0. The result depends only
   on the arguments and the loaded topology, so every process computes the
   same plan.
   Errors (buf and *oversubscribed are unchanged on any error):
     MPK_EINVAL    n < 1, i outside [0, n), per_worker < 1, p not a
                   mpk_bind_policy, cpuset_list unparsable or empty, a list
                   naming no allowed PU, a logical index that does not exist,
                   buf NULL or cap 0;
     MPK_EMSGSIZE  cap too small for the string and its NUL;
     MPK_ENOMEM    out of memory; MPK_EIO: hwloc failed to load or plan.
   MT-safe, MP-safe (the loaded topology is only read). */
MPK_API int mpk_topo_plan_ex(int n, int per_worker, mpk_bind_policy p,
                             const char *cpuset_list, int i, char *buf,
                             size_t cap, int *oversubscribed);

/* Bind the calling thread to the PUs of cpuset_list (syntax above; PUs
   outside the allowed set are ignored). NULL binds to the whole allowed set,
   undoing an earlier binding. Other threads are not moved; threads created
   afterwards by this one inherit the binding, and so does a forked child.
   Errors: MPK_EINVAL list unparsable, empty or naming no allowed PU;
   MPK_ENOSYS binding not supported here; MPK_EPERM not permitted; MPK_EIO,
   MPK_ENOMEM as the counts. On error the binding is unchanged.
   MT-safe, MP-safe. */
MPK_API int mpk_bind_self(const char *cpuset_list);

/* The OS index of the PU the calling thread runs on now (sched_getcpu()),
   >= 0; it may change right after the call unless the thread is bound to one
   PU. Negative code if the kernel cannot tell (MPK_ENOSYS). MT-safe, MP-safe,
   AS-safe. */
MPK_API int mpk_current_cpu(void);

MPK_END_DECLS

#endif
