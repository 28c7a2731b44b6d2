/* mpk/mpi.h - the pool over MPI: one pinned local pool per rank, and
 * for / reduce / map calls that cover [0, n) across every rank of a
 * communicator. Built only with MPK_WITH_MPI (on by default when CMake finds
 * MPI); Open MPI (or any MPI-3 library) carries all data between ranks.
 *
 * Model
 * -----
 * mpk_pool_create_mpi is collective over `comm`: every rank creates a local
 * pool from the same options (workers 0 = the cores of the binding mpirun
 * gave the rank) and the pool keeps a duplicate of `comm`. Ranks on one
 * node that were given the same PUs (mpirun --bind-to none, or a binding
 * wider than one rank) share them out instead of all pinning onto the same
 * cores: with L such ranks on C cores, the l-th (in rank order) plans over
 * the l-th of L compact, disjoint slices of max(1, C / L) cores and runs
 * one worker per core of it by default. An explicit opts.cpuset or
 * MPK_BIND_NONE turns this off. On such a pool
 * mpk_pool_for, mpk_pool_reduce_double, mpk_pool_reduce and mpk_pool_map are
 * COLLECTIVE: every rank calls them in the same order with the same n,
 * schedule, flags, element sizes and the same function and ctx contents.
 * Each rank runs its share on its local workers; kernels receive GLOBAL
 * indices (lo, hi in [0, n)), and map reads in[i] / writes out[i] at global
 * positions of full-length arrays that every rank passes.
 *
 * Partition across ranks
 * ----------------------
 * The range is cut into chunks exactly as one pool would cut it (the chunk
 * of the schedule; for reductions the automatic chunk depends on n only).
 * MPK_MPI_STATIC (default): rank r takes one contiguous run of chunks, in
 * proportion to its worker count. MPK_MPI_DYNAMIC: ranks take runs of
 * `grab` chunks at a time from a counter held by rank 0 (rank 0 computes
 * too), for imbalanced work. Inside a rank, the local schedule (static,
 * cyclic, dynamic, guided) spreads the rank's chunks over its workers as
 * usual.
 *
 * DYNAMIC on any transport
 * ------------------------
 * The first DYNAMIC call on a pool (collectively) picks how every rank
 * reaches the counter, once for the pool's life and the same on every
 * rank; mpk_mpi_info.counter reports it:
 *   MPK_MPI_COUNTER_SHM  every rank on one node: a shared-memory window
 *                        (MPI_Win_allocate_shared), MPI_Fetch_and_op;
 *   MPK_MPI_COUNTER_RMA  several nodes: an MPI_Win_allocate window and
 *                        MPI_Fetch_and_op, when the network has one-sided
 *                        atomics (InfiniBand / UCX);
 *   MPK_MPI_COUNTER_MSG  when no window works (TCP between nodes, as with
 *                        Open MPI's btl tcp, or no one-sided component):
 *                        two-sided messages to rank 0, which answers them
 *                        between its own runs of half a grab; the other
 *                        ranks ask for their next grab before running the
 *                        current one.
 * A window is used when MPI made it on every rank and a first fetch-and-op
 * through it worked on every rank (MPI errors are returned for that probe,
 * never fatal); otherwise MSG. Every path gives the same chunks-to-results
 * and so the same result bits as STATIC.
 *
 * Reproducibility
 * ---------------
 * Without MPK_REDUCE_FAST a reduction keeps one partial per chunk; every
 * rank receives all partials and combines them with the same fixed pairwise
 * tree (or Neumaier's sum in chunk order) as a single pool does. The result
 * is therefore bit-identical on every rank, for any number of ranks, any
 * worker counts, either partition and any local schedule, and equal to a
 * non-MPI pool's result at the same chunk. With MPK_REDUCE_FAST each rank
 * reduces its share with per-worker accumulators and the rank results are
 * folded in rank order: faster, not reproducible.
 *
 * Results
 * -------
 * Reductions: the result lands on every rank. map: every rank's `out` holds
 * all n results (default), or, with mpk_mpi_opts.root >= 0, only the root's
 * `out` is complete (other ranks hold their own share only).
 *
 * Errors are global
 * -----------------
 * Argument errors, mismatched arguments across ranks, task failures and
 * dead workers on any rank make the call return the same error on EVERY
 * rank; no rank is left waiting. Arguments are checked on each rank and the
 * verdicts are exchanged before any work starts (MPK_EINVAL everywhere if
 * one rank's arguments are bad or differ from rank 0's). When tasks fail on
 * several ranks, the failure with the lowest global index is reported, and
 * mpk_pool_last_error gives the same global index, task status and signal
 * on every rank. Exceptions, where a rank cannot take part in the
 * collective and returns alone while the others wait: a NULL pool
 * (MPK_EINVAL), a call from a forked child or a pool worker (MPK_ESTATE)
 * and a call from an async callback (MPK_EDEADLK) — calls that break
 * MPI's threading rules anyway. On an MPI pool, map's out_size and a
 * reduction's elem_size must fit an int (MPK_EINVAL otherwise: they become
 * MPI datatypes).
 * A rank that dies (killed, crashed, its node lost) is the MPI library's
 * business: Open MPI aborts the job (mpirun exits non-zero; every rank is
 * killed and, with it, its workers: they die with their parent).
 *
 * Error codes of the range calls on an MPI pool, beyond those of pool.h:
 * MPK_EIO when an MPI call failed or the ranks did not run every chunk
 * exactly once (checked at every call, so a broken partition is an error,
 * never a wrong result); for DYNAMIC, MPK_ENOMEM or MPK_EIO when the
 * counter could not be set up at the first DYNAMIC call (that call and
 * every later DYNAMIC call fail on every rank, STATIC still works).
 *
 * Known Open MPI issue (RMA path only): Open MPI 4.1's osc/rdma component
 * (used by MPI_Win_allocate) may back the windows of two communicators that
 * share a context id (the halves of one MPI_Comm_split, across nodes) with
 * one file when both are made at the same time (open-mpi/ompi#9492); the
 * two DYNAMIC pools then share one counter and their calls fail with
 * MPK_EIO (never a wrong result). Use the STATIC partition there.
 *
 * Threads, fork and MPI
 * ---------------------
 * MPI must be initialised with at least MPI_THREAD_FUNNELED (the pool runs
 * threads of its own that never call MPI) and calls on an MPI pool must come
 * from one thread of each rank (the main thread under FUNNELED). Workers are
 * forked processes that never call MPI; kernels must not call MPI either.
 * With Open MPI use the shared-memory and TCP transports (btl self,vader,tcp);
 * fork() is not supported with registered-memory transports (openib).
 * All other pool calls (apply, the async forms, imap, close, join, info)
 * act on the calling rank's local pool only. mpk_pool_free of an MPI pool
 * is collective (it frees the duplicated communicator and the window) and
 * must happen before MPI_Finalize.
 */
#ifndef MPK_MPI_H
#define MPK_MPI_H

#include <mpi.h>
#include <stddef.h>

#include "mpk/common.h"
#include "mpk/pool.h"

#ifdef __cplusplus
extern "C" {
#endif

/* How an MPI pool's chunks are shared out between ranks. */
typedef enum {
  MPK_MPI_STATIC = 0, /* one contiguous run of chunks per rank */
  MPK_MPI_DYNAMIC = 1 /* runs of `grab` chunks taken from rank 0 */
} mpk_mpi_partition;

typedef struct {
  mpk_mpi_partition partition; /* default MPK_MPI_STATIC */
  int root;    /* map results: -1 on every rank (default), else this rank */
  size_t grab; /* DYNAMIC: chunks per grab; 0 = automatic (the rank's
                  workers x max(1, chunks / (8 x all workers))) */
} mpk_mpi_opts;

/* How the ranks reach DYNAMIC's counter ("DYNAMIC on any transport"). */
typedef enum {
  MPK_MPI_COUNTER_NONE = 0, /* no DYNAMIC call yet: not chosen */
  MPK_MPI_COUNTER_SHM = 1,  /* one node: shared-memory window */
  MPK_MPI_COUNTER_RMA = 2,  /* several nodes: one-sided atomics */
  MPK_MPI_COUNTER_MSG = 3   /* two-sided messages served by rank 0 */
} mpk_mpi_counter;

/* Per-rank facts of an MPI pool. */
typedef struct {
  int rank, size;     /* in the pool's communicator */
  int workers;        /* this rank's local workers */
  long total_workers; /* the sum over all ranks */
  mpk_mpi_partition partition;
  int root;
  size_t grab;
  mpk_mpi_counter counter; /* the same on every rank */
} mpk_mpi_info;

/* Defaults: static partition, results on every rank, automatic grab.
   NULL is ignored. */
MPK_API void mpk_mpi_opts_init(mpk_mpi_opts *o);

/* Create a pool whose for / reduce / map cover [0, n) across all ranks of
   comm (collective over comm). o: the LOCAL pool's options (NULL: defaults),
   which every rank should pass alike. On success *p is set on every rank;
   on failure every rank returns the same error and *p is NULL.
   Errors: MPK_EINVAL (p NULL, comm MPI_COMM_NULL or an intercommunicator,
   bad options on any rank), MPK_ESTATE (MPI not initialised or finalised,
   thread level below MPI_THREAD_FUNNELED, called from a pool worker),
   MPK_EIO (an MPI call failed), and any error of mpk_pool_create on any
   rank. Process-safe; not MT-safe with other
   MPI calls of the same communicator (MPI's rules). */
MPK_API int mpk_pool_create_mpi(mpk_pool_t **p, MPI_Comm comm,
                                const mpk_pool_opts *o);

/* Set how later calls share out work (every rank must set the same values
   before its next call, which fails with MPK_EINVAL on all ranks
   otherwise). Local, not collective. MPK_EINVAL: p NULL or not an MPI pool,
   o NULL, bad partition, root < -1 or >= size. */
MPK_API int mpk_pool_mpi_configure(mpk_pool_t *p, const mpk_mpi_opts *o);

/* Describe an MPI pool. MPK_EINVAL: NULL arguments or not an MPI pool.
   Local. MT-safe. */
MPK_API int mpk_pool_mpi_info_get(const mpk_pool_t *p, mpk_mpi_info *info);

/* 1 when p was made by mpk_pool_create_mpi, else 0 (NULL included). */
MPK_API int mpk_pool_is_mpi(const mpk_pool_t *p);

#ifdef __cplusplus
}
#endif

#endif /* MPK_MPI_H */
